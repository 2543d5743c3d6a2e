// What the SQLite store adds to the Store contract: it survives closing and reopening, group-commits, runs
// callbacks only once a batch is visible to other readers, reports failed commits, and keeps a second broker out.
#include "persistence/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "known_content.hpp"
#include "persistence/op_codec.hpp"
#include "persistence/sqlite_db.hpp"
#include "platform/log.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

// Blocks the writer thread (inside a callback) until open() is called: batches submitted meanwhile queue up.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_until_entered() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

class SqliteStoreTest : public ::testing::TestWithParam<SyncMode> {
 protected:
  SqliteOptions options() const { return {.directory = dir_.path(), .sync = GetParam()}; }
  TempDir dir_;
};

TEST_P(SqliteStoreTest, ReopeningKeepsEverything) {
  {
    SqliteStore store(options());
    for (auto& b : known_batches()) store.submit(std::move(b), {});
  }  // the destructor flushes
  {
    SqliteStore store(options());
    EXPECT_FALSE(store.moved_aside());
    expect_snapshot_eq(store.load(), known_snapshot());
    store.submit(batch(op::DeleteSession{"alpha"}, op::DeleteSession{"beta"}, op::ClearRetained{"status/gateway"}), {});
  }
  SqliteStore store(options());
  const auto snap = store.load();
  EXPECT_TRUE(snap.sessions.empty());
  EXPECT_TRUE(snap.messages.empty());
  EXPECT_TRUE(snap.queue.empty());
  EXPECT_EQ(snap.next_message_id, known_snapshot().next_message_id);  // ids are not reused after a restart
}

TEST_P(SqliteStoreTest, CreatesItsDirectoryAndTernDb) {
  auto opts = options();
  opts.directory = dir_ / "a" / "b";
  SqliteStore store(opts);
  EXPECT_EQ(store.path(), dir_ / "a" / "b" / "tern.db");
  EXPECT_TRUE(fs::exists(store.path()));
}

TEST_P(SqliteStoreTest, BatchesQueuedDuringACommitShareTheNextTransaction) {
  SqliteStore store(options());
  Gate gate;
  store.submit(batch(op::PutIncoming{{"c", 0}}), [&](bool) { gate.wait(); });
  gate.wait_until_entered();  // the writer is inside the first batch's callback: everything below queues up
  constexpr int kBatches = 1000;
  for (int i = 1; i <= kBatches; ++i) {
    store.submit(batch(op::PutMessage{message(static_cast<std::uint64_t>(i), "t")},
                       op::PutQueueEntry{entry("c", static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i))}),
                 {});
  }
  gate.open();
  store.flush();
  EXPECT_EQ(store.transactions(), 2u);  // 2000 ops < max_group_ops (4096): one group
  EXPECT_EQ(store.load().queue.size(), static_cast<std::size_t>(kBatches));
}

TEST_P(SqliteStoreTest, GroupsAreBoundedByMaxGroupOps) {
  auto opts = options();
  opts.max_group_ops = 10;
  SqliteStore store(opts);
  Gate gate;
  store.submit(batch(op::PutIncoming{{"c", 0}}), [&](bool) { gate.wait(); });
  gate.wait_until_entered();
  constexpr int kBatches = 100;  // 3 ops each: 3 batches per transaction
  for (int i = 1; i <= kBatches; ++i) {
    store.submit(batch(op::PutIncoming{{"c", static_cast<std::uint16_t>(i)}},
                       op::PutSubscription{subscription("c", std::to_string(i))}, op::DeleteIncoming{"c", 9999}),
                 {});
  }
  gate.open();
  store.flush();
  EXPECT_EQ(store.transactions(), 1u + (kBatches + 2) / 3);
}

// Holds the writer inside a callback while `batches` are submitted, so that they all share one transaction; then
// lets it go and waits for them.
void commit_together(SqliteStore& store, std::vector<std::vector<StoreOp>> batches) {
  Gate gate;
  store.submit(core::StoreBatch{}, [&](bool) { gate.wait(); });
  gate.wait_until_entered();
  const auto before = store.transactions();
  for (auto& b : batches) store.submit(std::move(b), {});
  gate.open();
  store.flush();
  EXPECT_EQ(store.transactions(), before + 1);  // all of them in one transaction
}

op::PutQueueEntry fresh_put(std::string client_id, std::uint64_t seq, std::uint64_t message_id,
                            std::uint16_t packet_id = 0) {
  return op::PutQueueEntry{entry(std::move(client_id), seq, message_id, packet_id), true};
}

TEST_P(SqliteStoreTest, ADeliveryAcknowledgedWithinOneTransactionLeavesNothingButItsIdUsedUp) {
  SqliteStore store(options());
  commit_together(
      store, {batch(op::PutMessage{message(1, "a")}, fresh_put("s", 1, 1, 1)),
              batch(op::PutMessage{message(2, "b")}, fresh_put("s", 2, 2, 2)), batch(op::DeleteQueueEntry{"s", 1})});
  const auto snap = store.load();
  EXPECT_EQ(snap.queue, std::vector<core::StoredQueueEntry>{entry("s", 2, 2, 2)});
  EXPECT_EQ(message_ids(snap), std::vector<std::uint64_t>{2});
  EXPECT_EQ(snap.next_message_id, 3u);
}

TEST_P(SqliteStoreTest, AStoredEntryUpdatedAndDeletedInOneTransactionIsGone) {
  SqliteStore store(options());
  store.submit(batch(op::PutMessage{message(1, "a")}, fresh_put("s", 1, 1)), {});
  store.flush();
  commit_together(store, {batch(op::PutQueueEntry{entry("s", 1, 1, 4)}), batch(op::DeleteQueueEntry{"s", 1})});
  const auto snap = store.load();
  EXPECT_TRUE(snap.queue.empty());
  EXPECT_TRUE(snap.messages.empty());
}

TEST_P(SqliteStoreTest, AMessageWhoseFirstEntryIsReplacedByALaterBatchOfTheSameTransactionIsKept) {
  // The fresh put is skipped (the later put of the same entry replaces it); the message put with it must still be
  // there at the end, when the later put references it.
  SqliteStore store(options());
  commit_together(store, {batch(op::PutMessage{message(1, "a")}, fresh_put("s", 1, 1)),
                          batch(op::PutQueueEntry{entry("s", 1, 1, 9)})});
  const auto snap = store.load();
  EXPECT_EQ(snap.queue, std::vector<core::StoredQueueEntry>{entry("s", 1, 1, 9)});
  EXPECT_EQ(message_ids(snap), std::vector<std::uint64_t>{1});
}

TEST_P(SqliteStoreTest, AnIncomingIdPutAndReleasedInOneTransactionIsGoneAndAStoredOneIsDeleted) {
  SqliteStore store(options());
  store.submit(batch(op::PutIncoming{{"s", 1}}), {});
  store.flush();
  commit_together(store, {batch(op::PutIncoming{{"s", 2}}), batch(op::DeleteIncoming{"s", 1}),
                          batch(op::PutIncoming{{"s", 3}}), batch(op::DeleteIncoming{"s", 2})});
  const std::vector<core::StoredIncoming> expected{{"s", 3}};
  EXPECT_EQ(store.load().incoming, expected);
}

TEST_P(SqliteStoreTest, UnderLoadFromSeveralThreadsThereAreFewerTransactionsThanBatches) {
  SqliteStore store(options());
  constexpr int kThreads = 4;
  constexpr int kBatches = 500;
  std::atomic<int> durable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string client = "t" + std::to_string(t);
      for (int i = 0; i < kBatches; ++i) {
        const auto id = static_cast<std::uint64_t>(t * kBatches + i + 1);
        store.submit(batch(op::PutMessage{message(id, "t")},
                           op::PutQueueEntry{entry(client, static_cast<std::uint64_t>(i), id)}),
                     [&](bool ok) { durable += ok ? 1 : 0; });
      }
    });
  }
  for (auto& th : threads) th.join();
  store.flush();
  EXPECT_EQ(durable.load(), kThreads * kBatches);
  EXPECT_LT(store.transactions(), static_cast<std::uint64_t>(kThreads * kBatches));
  RecordProperty("transactions", static_cast<int>(store.transactions()));
  EXPECT_EQ(store.load().queue.size(), static_cast<std::size_t>(kThreads * kBatches));
}

// Whether another connection to `db` sees incoming id ("c", packet_id): in the incoming table or in a journal row.
bool incoming_visible(const fs::path& db, std::uint16_t packet_id) {
  Database c(db, SQLITE_OPEN_READONLY);
  if (c.query_int(("SELECT count(*) FROM incoming WHERE packet_id = " + std::to_string(packet_id)).c_str()) > 0) {
    return true;
  }
  bool found = false;
  for (const auto& row : journal_rows(db)) {
    std::vector<core::StoreOp> ops;
    decode_record(row.record, ops);
    for (const auto& o : ops) {
      const auto* put = std::get_if<op::PutIncoming>(&o);
      found = found || (put != nullptr && put->incoming == core::StoredIncoming{"c", packet_id});
    }
  }
  return found;
}

TEST_P(SqliteStoreTest, ACallbackRunsOnlyOnceItsBatchIsVisibleToAnotherConnection) {
  auto opts = options();
  opts.exclusive_lock = false;  // so the callback can look from outside
  SqliteStore store(opts);
  constexpr int kBatches = 20;
  std::vector<int> seen(kBatches);
  for (int i = 0; i < kBatches; ++i) {
    store.submit(batch(op::PutIncoming{{"c", static_cast<std::uint16_t>(i)}}),
                 [&, i](bool) { seen[i] = incoming_visible(store.path(), static_cast<std::uint16_t>(i)) ? 1 : 0; });
  }
  store.flush();
  for (int i = 0; i < kBatches; ++i) EXPECT_EQ(seen[i], 1) << "batch " << i;
}

TEST_P(SqliteStoreTest, AFailedCommitIsReportedAndLaterBatchesStillCommit) {
  auto opts = options();
  opts.max_database_bytes = 256 * 1024;
  SqliteStore store(opts);
  std::vector<int> results;  // written by the writer thread only
  const auto record = [&](bool durable) { results.push_back(durable ? 1 : 0); };
  store.submit(batch(op::PutMessage{message(1, "small")}, op::PutQueueEntry{entry("c", 1, 1)}), record);
  store.flush();
  store.submit(
      batch(op::PutMessage{message(2, "big", std::string(1024 * 1024, 'x'))}, op::PutQueueEntry{entry("c", 2, 2)}),
      record);
  store.flush();
  store.submit(batch(op::PutMessage{message(3, "small")}, op::PutQueueEntry{entry("c", 3, 3)}), record);
  store.flush();
  EXPECT_EQ(results, (std::vector<int>{1, 0, 1}));
  const auto snap = store.load();
  EXPECT_EQ(snap.queue, (std::vector{entry("c", 1, 1), entry("c", 3, 3)}));
  EXPECT_EQ(message_ids(snap), (std::vector<std::uint64_t>{1, 3}));
}

TEST_P(SqliteStoreTest, AtTheSizeLimitGroupsThatOnlyDeleteAreStillTaken) {
  {
    SqliteStore store(options());
    store.submit(
        batch(op::PutMessage{message(1, "big", std::string(200 * 1024, 'x'))}, op::PutQueueEntry{entry("c", 1, 1)}),
        {});
  }  // compacted on close: the database holds ~200 KiB
  auto opts = options();
  opts.max_database_bytes = 128 * 1024;  // already passed
  SqliteStore store(opts);
  std::vector<int> results;  // written by the writer thread only
  const auto record = [&](bool durable) { results.push_back(durable ? 1 : 0); };
  store.submit(batch(op::PutMessage{message(2, "small")}, op::PutQueueEntry{entry("c", 2, 2)}), record);
  store.flush();
  store.submit(batch(op::DeleteQueueEntry{"c", 1}), record);  // an acknowledgement still goes in
  store.flush();
  EXPECT_EQ(results, (std::vector<int>{0, 1}));
  EXPECT_TRUE(store.load().queue.empty());
}

TEST_P(SqliteStoreTest, CommittedBatchesComeBackWholeAndTheJournalKeepsItsOwnCopy) {
  SqliteStore store(options());
  const auto m = message(1, "a/b");
  const std::vector<StoreOp> ops{op::PutMessage{m}, op::PutQueueEntry{entry("s", 1, 1)}};
  store.submit(ops, {});
  store.flush();

  std::vector<core::StoreBatch> spent;
  store.take_spent(spent);
  ASSERT_EQ(spent.size(), 1u);
  std::vector<StoreOp> decoded;
  core::decode_store_ops(spent[0].bytes(), decoded);
  ASSERT_EQ(decoded.size(), 2u);  // intact, as submitted
  EXPECT_EQ(std::get<op::PutMessage>(decoded[0]).message, m);
  EXPECT_EQ(std::get<op::PutQueueEntry>(decoded[1]).entry, entry("s", 1, 1));
  // The broker reuses the buffer for its next batch: the journal must not be looking at it.
  spent[0].clear();
  for (int i = 0; i < 100; ++i) spent[0].clear_retained(std::string(64, 'x'));

  store.take_spent(spent);
  EXPECT_EQ(spent.size(), 1u);     // each batch comes back once
  const auto snap = store.load();  // compacts the journal's copy into the tables
  ASSERT_EQ(snap.messages.size(), 1u);
  EXPECT_EQ(snap.messages[0], m);
  EXPECT_EQ(snap.queue, (std::vector<core::StoredQueueEntry>{entry("s", 1, 1)}));
}

TEST_P(SqliteStoreTest, SpentBatchesNobodyTakesAreBounded) {
  SqliteStore store(options());
  const std::size_t batches = 200;  // of ~100 KB each: far more than the store keeps
  for (std::size_t b = 0; b < batches; ++b) {
    core::StoreBatch batch;
    for (int i = 0; i < 100; ++i) batch.clear_retained(std::string(1000, 't'));
    store.submit(std::move(batch), {});
  }
  store.flush();
  std::vector<core::StoreBatch> spent;
  store.take_spent(spent);
  std::size_t bytes = 0;
  for (const auto& batch : spent) bytes += batch.capacity();
  EXPECT_GT(bytes, 0u);
  EXPECT_LE(bytes, 512u << 10);  // SqliteStore::kMaxSpentBytes: the writer freed the rest
  EXPECT_LT(spent.size(), batches);
}

// Batches that only record deliveries' progress (a QoS 1 entry handed a packet id, entries acknowledged) wait for a
// batch that acknowledges something, and go in its group. The delay is an hour here: without the publish (or a
// flush) they would not be committed within the test.
class SqliteStoreLingerTest : public SqliteStoreTest {
 protected:
  SqliteOptions lingering() const {
    auto o = options();
    o.progress_commit_delay = std::chrono::hours(1);
    return o;
  }
  static core::StoredQueueEntry in_flight(std::uint64_t seq, std::uint16_t packet_id) {
    auto e = entry("s", seq, seq);
    e.packet_id = packet_id;
    return e;
  }
  // s/1..n queued (fresh), committed, in the tables.
  static void queue(SqliteStore& store, std::uint64_t n) {
    for (std::uint64_t i = 1; i <= n; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("s", i, i), true}), {});
    }
    store.load_queue("s", 0, 1);
  }
  struct Calls {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> order;
    void add(std::string what) {
      std::lock_guard lock(mutex);
      order.push_back(std::move(what));
      cv.notify_all();
    }
    void wait_for(std::size_t n) {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return order.size() >= n; });
    }
    std::vector<std::string> get() {
      std::lock_guard lock(mutex);
      return order;
    }
  };
};

TEST_P(SqliteStoreLingerTest, ProgressWaitsForAPublishAndGoesInItsGroup) {
  SqliteStore store(lingering());
  queue(store, 3);
  const auto before = store.transactions();
  Calls calls;
  store.submit(batch(op::PutQueueEntry{in_flight(1, 1), false}), [&](bool) { calls.add("delivered"); });
  store.submit(batch(op::DeleteQueueEntry{"s", 1}), [&](bool) { calls.add("acknowledged"); });
  // The writer takes them and waits (bounded here: a writer that commits them instead never waits).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!store.lingering() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(store.lingering());
  EXPECT_TRUE(calls.get().empty());  // nothing to commit them for yet
  store.submit(batch(op::PutMessage{message(9, "t")}, op::PutQueueEntry{entry("s", 4, 9), true}),
               [&](bool durable) { calls.add(durable ? "published" : "failed"); });
  calls.wait_for(3);
  EXPECT_EQ(calls.get(), (std::vector<std::string>{"delivered", "acknowledged", "published"}));
  EXPECT_EQ(store.transactions(), before + 1);  // one group, one record, one sync
  const auto page = store.load_queue("s", 0, 0);
  EXPECT_EQ(page.entries.size(), 3u);  // s/2, s/3, s/4
}

TEST_P(SqliteStoreLingerTest, AFlushCommitsWhatWaits) {
  SqliteStore store(lingering());
  queue(store, 2);
  bool done = false;
  store.submit(batch(op::DeleteQueueEntry{"s", 1}), [&](bool durable) { done = durable; });
  store.flush();
  EXPECT_TRUE(done);
}

// A page request behind waiting batches that leave its range alone is answered at once, before they are committed;
// one whose range they change waits for their commit and sees it.
TEST_P(SqliteStoreLingerTest, APageIsServedAheadOfProgressThatLeavesItAlone) {
  SqliteStore store(lingering());
  queue(store, 4);
  Calls calls;
  store.submit(batch(op::PutQueueEntry{in_flight(1, 1), false}, op::DeleteQueueEntry{"s", 2}),
               [&](bool) { calls.add("progress"); });
  std::vector<core::StoredQueueEntry> got;
  store.request_queue_page("s", 2, 0, [&](core::QueuePage page) {
    got = page.entries;
    calls.add("page");
  });
  calls.wait_for(1);
  EXPECT_EQ(calls.get(), std::vector<std::string>{"page"});
  EXPECT_EQ(got, (std::vector{entry("s", 3, 3), entry("s", 4, 4)}));

  store.submit(batch(op::DeleteQueueEntry{"s", 3}), [&](bool) { calls.add("acknowledged 3"); });
  store.request_queue_page("s", 2, 0, [&](core::QueuePage page) {
    got = page.entries;
    calls.add("page after 3");
  });
  calls.wait_for(4);
  EXPECT_EQ(calls.get(), (std::vector<std::string>{"page", "progress", "acknowledged 3", "page after 3"}));
  EXPECT_EQ(got, std::vector{entry("s", 4, 4)});
  store.flush();
  EXPECT_EQ(store.load().queue, (std::vector{in_flight(1, 1), entry("s", 4, 4)}));
}

// A QoS 2 delivery's record, and anything else, is committed at once.
TEST_P(SqliteStoreLingerTest, WhatIsHeldForItsCommitDoesNotWait) {
  SqliteStore store(lingering());
  queue(store, 1);
  auto e = in_flight(1, 1);
  e.qos = protocol::QoS::exactly_once;
  Calls calls;
  store.submit(batch(op::PutQueueEntry{e, false}), [&](bool) { calls.add("qos 2 delivery"); });
  calls.wait_for(1);
  store.submit(batch(op::DeleteQueueEntry{"s", 1}, op::PutIncoming{{"s", 5}}), [&](bool) { calls.add("incoming"); });
  calls.wait_for(2);
  EXPECT_EQ(calls.get(), (std::vector<std::string>{"qos 2 delivery", "incoming"}));
}

// A long compaction serves the page requests made while it runs, between its statements, when neither the journal
// nor the batches before them change their range; one whose range the journal changes waits for it to end.
class SqliteStoreCompactionPagesTest : public SqliteStoreLingerTest {
 protected:
  // A store that compacts once a group brings the journal to 4,000 ops, all of them, with a step every 1,024 rows
  // it changes; at the first step, it is asked for the page of "s" after seq 2. s/1..4 queued and in the tables.
  void SetUp() override {
    auto o = options();
    o.progress_commit_delay = std::chrono::microseconds(0);
    o.journal_compact_ops = 4000;
    o.journal_keep_ops = 0;
    o.compaction_step = [this] {
      if (steps.fetch_add(1) != 0) return;
      store->request_queue_page("s", 2, 0, [this](core::QueuePage page) {
        got = page.entries;
        served_at_step = steps.load();
      });
    };
    store = std::make_unique<SqliteStore>(o);
    queue(*store, 4);
  }
  // Submits 3,000 messages queued for "x" in one group (6,000 ops, about 6 steps of compaction), then `last`, and
  // waits for the group, its compaction and the page asked for during it.
  void submit_long_group(std::vector<core::StoreOp> last = {}) {
    core::StoreBatch b;
    for (std::uint64_t i = 100; i < 3100; ++i) {
      b.put_message(i, "x", "p", protocol::QoS::at_least_once, false, {}, std::nullopt);
      b.put_queue_entry("x", i, i, protocol::QoS::at_least_once, false, {}, 0, false, true);
    }
    for (const auto& o : last) b.add(o);
    store->submit(std::move(b), {});
    store->flush();  // the group and its compaction
    store->flush();  // and the page asked for during it
  }
  std::atomic<int> steps{0};
  std::atomic<int> served_at_step{-1};
  std::vector<core::StoredQueueEntry> got;
  std::unique_ptr<SqliteStore> store;
};

TEST_P(SqliteStoreCompactionPagesTest, APageIsServedWhileACompactionRuns) {
  submit_long_group();
  ASSERT_GE(steps.load(), 3);
  EXPECT_EQ(served_at_step.load(), 1);  // at the first step, with steps to go: not after the compaction
  EXPECT_EQ(got, (std::vector{entry("s", 3, 3), entry("s", 4, 4)}));
  EXPECT_EQ(store->load_queue("x", 0, 0).entries.size(), 3000u);
}

TEST_P(SqliteStoreCompactionPagesTest, APageTheJournalChangesWaitsForTheCompaction) {
  // The group's last op queues s/5: a page read before the compaction applied it would miss it.
  submit_long_group({op::PutMessage{message(5, "t")}, op::PutQueueEntry{entry("s", 5, 5), true}});
  ASSERT_GE(steps.load(), 3);
  EXPECT_EQ(served_at_step.load(), steps.load());  // no step after it: served once the compaction ended
  EXPECT_EQ(got, (std::vector{entry("s", 3, 3), entry("s", 4, 4), entry("s", 5, 5)}));
}

INSTANTIATE_TEST_SUITE_P(Sync, SqliteStoreCompactionPagesTest, ::testing::Values(SyncMode::full, SyncMode::normal),
                         [](const auto& info) { return info.param == SyncMode::full ? "full" : "normal"; });

INSTANTIATE_TEST_SUITE_P(Sync, SqliteStoreLingerTest, ::testing::Values(SyncMode::full, SyncMode::normal),
                         [](const auto& info) { return info.param == SyncMode::full ? "full" : "normal"; });

INSTANTIATE_TEST_SUITE_P(Sync, SqliteStoreTest, ::testing::Values(SyncMode::full, SyncMode::normal),
                         [](const auto& info) { return info.param == SyncMode::full ? "full" : "normal"; });

TEST(SqliteStoreOpen, ASecondStoreOnTheSameDirectoryFailsAndLeavesTheFirstAlone) {
  TempDir dir;
  { SqliteStore first({.directory = dir.path()}); }  // exists and is current: reopening writes nothing
  SqliteStore first({.directory = dir.path()});
  first.submit(batch(op::PutSession{session("kept")}), {});
  first.flush();
  EXPECT_THROW(SqliteStore second({.directory = dir.path()}), StoreError);  // after the 1 s busy timeout
  EXPECT_EQ(first.load().sessions, std::vector{session("kept")});
  for (const auto& f : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(f.path().filename().string().find("corrupt"), std::string::npos) << f.path();
  }
}

// A load at start-up says how far it got while it reads (at most once a second; here at every check, once per 4,096
// rows), with counts that only grow.
TEST(SqliteStoreLoad, LogsItsProgress) {
  TempDir dir;
  {
    SqliteStore store({.directory = dir.path()});
    core::StoreBatch batch;
    batch.add(op::PutSession{session("s")});
    batch.put_message(1, "t", "p", protocol::QoS::at_least_once, false, {}, std::nullopt);
    for (std::uint64_t seq = 1; seq <= 10000; ++seq) {
      batch.put_queue_entry("s", seq, 1, protocol::QoS::at_least_once, false, {}, 0, false, true);
    }
    store.submit(std::move(batch), {});
    store.flush();
  }
  const auto log = dir / "load.log";
  platform::LogSettings settings;
  settings.dests = platform::LogSettings::Dest::file;
  settings.file = log.string();
  settings.timestamp = false;
  std::string error;
  ASSERT_TRUE(platform::configure_log(settings, error)) << error;
  std::size_t entries = 0;
  {
    SqliteStore store({.directory = dir.path(), .load_progress_interval = std::chrono::milliseconds(0)});
    entries = store.load().queue.size();
  }
  ASSERT_TRUE(platform::configure_log(platform::LogSettings{}, error));
  EXPECT_EQ(entries, 10000u);
  std::ifstream in(log);
  std::vector<std::uint64_t> counts;
  for (std::string line; std::getline(in, line);) {
    const std::string prefix = "persistence: restoring, read so far: 1 session(s), 0 subscription(s), 1 message(s), ";
    if (line.rfind(prefix, 0) != 0) continue;
    counts.push_back(std::stoull(line.substr(prefix.size())));
  }
  ASSERT_GE(counts.size(), 2u);  // 10,002 rows: a line at rows 4,096 and 8,192
  EXPECT_TRUE(std::is_sorted(counts.begin(), counts.end()));
  EXPECT_LT(counts.back(), 10000u);
}

TEST(SqliteStoreOpen, ADirectoryThatCannotBeCreatedIsAStoreError) {
  TempDir dir;
  write_file(dir / "file", "not a directory");
  EXPECT_THROW(SqliteStore store({.directory = dir / "file" / "sub"}), StoreError);
}

}  // namespace
}  // namespace tern::persistence::test
