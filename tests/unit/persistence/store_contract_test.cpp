// The Store contract (persistence/store.hpp), run against every backend: the memory store, the SQLite store as
// configured by default, and the SQLite store with synchronous=NORMAL, a commit delay and tiny groups (so batches
// are split across transactions and gathered by the delay).
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "known_content.hpp"
#include "persistence/memory_store.hpp"
#include "persistence/sqlite_store.hpp"
#include "persistence/store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

struct Backend {
  std::string name;
  std::function<std::unique_ptr<Store>(const fs::path&)> make;
};

std::unique_ptr<Store> make_memory(const fs::path&) { return std::make_unique<MemoryStore>(); }

std::unique_ptr<Store> make_sqlite(const fs::path& dir) {
  return std::make_unique<SqliteStore>(SqliteOptions{.directory = dir});
}

std::unique_ptr<Store> make_sqlite_small_groups(const fs::path& dir) {
  return std::make_unique<SqliteStore>(SqliteOptions{
      .directory = dir, .sync = SyncMode::normal, .commit_delay = std::chrono::microseconds(300), .max_group_ops = 7});
}

class StoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void put(std::vector<StoreOp> ops) { store_->submit(std::move(ops), {}); }
  core::StoreSnapshot load() { return store_->load(); }

  TempDir dir_;
  std::unique_ptr<Store> store_ = GetParam().make(dir_.path());
};

TEST_P(StoreContract, EmptyStoreLoadsNothing) {
  const auto snap = load();
  EXPECT_TRUE(snap.sessions.empty());
  EXPECT_TRUE(snap.subscriptions.empty());
  EXPECT_TRUE(snap.messages.empty());
  EXPECT_TRUE(snap.queue.empty());
  EXPECT_TRUE(snap.incoming.empty());
  EXPECT_TRUE(snap.retained.empty());
  EXPECT_EQ(snap.next_message_id, 1u);
}

TEST_P(StoreContract, EveryOpKindAndFieldRoundTrips) {
  for (auto& b : known_batches()) put(std::move(b));
  expect_snapshot_eq(load(), known_snapshot());
}

TEST_P(StoreContract, PutSessionReplacesByClientId) {
  auto s = session("c", 10);
  s.will = message(1, "w", "bye");
  put(batch(op::PutSession{s}));
  s.expiry_interval = std::nullopt;
  s.will.reset();
  s.disconnected_at = 42;
  put(batch(op::PutSession{s}));
  EXPECT_EQ(load().sessions, std::vector{s});
}

TEST_P(StoreContract, DeleteSessionRemovesItsSubscriptionsQueueAndIncoming) {
  put(batch(op::PutSession{session("a")}, op::PutSession{session("b")}, op::PutSubscription{subscription("a", "x")},
            op::PutSubscription{subscription("b", "x")}, op::PutMessage{message(1, "x")},
            op::PutMessage{message(2, "x")}, op::PutQueueEntry{entry("a", 1, 1)}, op::PutQueueEntry{entry("a", 2, 2)},
            op::PutQueueEntry{entry("b", 1, 2)}, op::PutIncoming{{"a", 5}}, op::PutIncoming{{"b", 5}}));
  put(batch(op::DeleteSession{"a"}));
  const auto snap = load();
  EXPECT_EQ(snap.sessions, std::vector{session("b")});
  EXPECT_EQ(snap.subscriptions, std::vector{subscription("b", "x")});
  EXPECT_EQ(snap.queue, std::vector{entry("b", 1, 2)});
  EXPECT_EQ(snap.incoming, (std::vector<core::StoredIncoming>{{"b", 5}}));
  EXPECT_EQ(message_ids(snap), std::vector<std::uint64_t>{2});  // 1 was only a's
}

TEST_P(StoreContract, DeleteSessionOfAClientIdThatPrefixesAnotherKeepsTheOther) {
  put(batch(op::PutSession{session("a")}, op::PutSession{session("ab")}, op::PutMessage{message(1, "x")},
            op::PutQueueEntry{entry("a", 1, 1)}, op::PutQueueEntry{entry("ab", 1, 1)},
            op::PutSubscription{subscription("ab", "x")}, op::PutIncoming{{"ab", 1}}));
  put(batch(op::DeleteSession{"a"}));
  const auto snap = load();
  EXPECT_EQ(snap.sessions, std::vector{session("ab")});
  EXPECT_EQ(snap.queue, std::vector{entry("ab", 1, 1)});
  EXPECT_EQ(snap.subscriptions.size(), 1u);
  EXPECT_EQ(snap.incoming.size(), 1u);
}

TEST_P(StoreContract, SubscriptionsReplaceByClientAndFilterAndSortByThem) {
  put(batch(op::PutSubscription{subscription("b", "t")}, op::PutSubscription{subscription("a", "z")},
            op::PutSubscription{subscription("a", "t")}));
  auto replaced = subscription("a", "z", QoS::exactly_once);
  replaced.options.subscription_id = 9;
  put(batch(op::PutSubscription{replaced}));
  put(batch(op::DeleteSubscription{"b", "t"}, op::DeleteSubscription{"b", "never-there"}));
  EXPECT_EQ(load().subscriptions, (std::vector{subscription("a", "t"), replaced}));
}

TEST_P(StoreContract, QueueEntriesComeBackInClientAndSeqOrder) {
  put(batch(op::PutMessage{message(1, "x")}, op::PutQueueEntry{entry("b", 2, 1)}, op::PutQueueEntry{entry("a", 10, 1)},
            op::PutQueueEntry{entry("b", 1, 1)}, op::PutQueueEntry{entry("a", 9, 1)},
            op::PutQueueEntry{entry("a", 1ull << 40, 1)}));
  EXPECT_EQ(load().queue, (std::vector{entry("a", 9, 1), entry("a", 10, 1), entry("a", 1ull << 40, 1), entry("b", 1, 1),
                                       entry("b", 2, 1)}));
}

TEST_P(StoreContract, LoadQueueReadsOneClientsEntriesAfterASeqInPages) {
  put(batch(op::PutMessage{message(1, "x", "one")}, op::PutMessage{message(2, "y", "two")},
            op::PutQueueEntry{entry("ab", 1, 1)}, op::PutQueueEntry{entry("a", 3, 2)},
            op::PutQueueEntry{entry("a", 1, 1)}, op::PutQueueEntry{entry("a", 2, 1)},
            op::PutQueueEntry{entry("a", 7, 2)}, op::PutQueueEntry{entry("b", 1, 1)}));
  // No flush: load_queue sees every batch submitted before it.
  auto page = store_->load_queue("a", 0, 3);
  EXPECT_EQ(page.entries, (std::vector{entry("a", 1, 1), entry("a", 2, 1), entry("a", 3, 2)}));
  EXPECT_EQ(page.messages, (std::vector{message(1, "x", "one"), message(2, "y", "two")}));  // each once

  page = store_->load_queue("a", 3, 3);
  EXPECT_EQ(page.entries, std::vector{entry("a", 7, 2)});
  EXPECT_EQ(page.messages, std::vector{message(2, "y", "two")});

  EXPECT_TRUE(store_->load_queue("a", 7, 3).entries.empty());
  EXPECT_EQ(store_->load_queue("a", 1, 0).entries.size(), 3u);  // 0: no limit
  EXPECT_EQ(store_->load_queue("ab", 0, 0).entries, std::vector{entry("ab", 1, 1)});
  EXPECT_TRUE(store_->load_queue("nobody", 0, 0).entries.empty());
}

// A page holds each of its messages once, whatever order their ids come in, and leaves out an entry whose message
// the store does not have.
TEST_P(StoreContract, LoadQueueReadsEachMessageOnceAndSkipsEntriesWithoutOne) {
  put(batch(op::PutMessage{message(2, "y", "two")}, op::PutMessage{message(1, "x", "one")},
            op::PutMessage{message(3, "z", "three")}, op::PutQueueEntry{entry("a", 1, 2)},
            op::PutQueueEntry{entry("a", 2, 1)}, op::PutQueueEntry{entry("a", 3, 2)},
            op::PutQueueEntry{entry("a", 4, 9)}, op::PutQueueEntry{entry("a", 5, 1)},
            op::PutQueueEntry{entry("a", 6, 3)}));
  const auto page = store_->load_queue("a", 0, 0);
  EXPECT_EQ(page.entries,
            (std::vector{entry("a", 1, 2), entry("a", 2, 1), entry("a", 3, 2), entry("a", 5, 1), entry("a", 6, 3)}));
  EXPECT_EQ(page.messages, (std::vector{message(2, "y", "two"), message(1, "x", "one"), message(3, "z", "three")}));
}

// request_queue_page() answers in submission order: the page holds every batch submitted before the request and
// none submitted after it, and comes before the commit callbacks of those later batches.
TEST_P(StoreContract, RequestQueuePageSeesTheBatchesSubmittedBeforeIt) {
  std::mutex mutex;
  std::vector<std::string> events;
  std::vector<core::QueuePage> pages;
  put(batch(op::PutMessage{message(1, "x")}, op::PutQueueEntry{entry("a", 1, 1)}, op::PutQueueEntry{entry("a", 2, 1)}));
  store_->request_queue_page("a", 0, 0, [&](core::QueuePage page) {
    std::lock_guard lock(mutex);
    events.push_back("page");
    pages.push_back(std::move(page));
  });
  store_->submit(batch(op::PutQueueEntry{entry("a", 3, 1)}, op::DeleteQueueEntry{"a", 1}), [&](bool durable) {
    std::lock_guard lock(mutex);
    events.push_back(durable ? "committed" : "failed");
  });
  store_->request_queue_page("a", 1, 5, [&](core::QueuePage page) {
    std::lock_guard lock(mutex);
    events.push_back("page");
    pages.push_back(std::move(page));
  });
  store_->flush();  // waits for the requests too
  std::lock_guard lock(mutex);
  EXPECT_EQ(events, (std::vector<std::string>{"page", "committed", "page"}));
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].entries, (std::vector{entry("a", 1, 1), entry("a", 2, 1)}));
  EXPECT_EQ(pages[0].messages, std::vector{message(1, "x")});
  EXPECT_EQ(pages[1].entries, (std::vector{entry("a", 2, 1), entry("a", 3, 1)}));
}

TEST_P(StoreContract, PutQueueEntryReplacesByClientAndSeq) {
  put(batch(op::PutMessage{message(1, "x")}, op::PutQueueEntry{entry("s", 1, 1)}));
  auto in_flight = entry("s", 1, 1, 3);
  in_flight.qos = QoS::exactly_once;
  in_flight.released = true;
  in_flight.subscription_ids = {4, 5};
  put(batch(op::PutQueueEntry{in_flight}));
  EXPECT_EQ(load().queue, std::vector{in_flight});
  put(batch(op::DeleteQueueEntry{"s", 1}, op::DeleteQueueEntry{"s", 99}));
  EXPECT_TRUE(load().queue.empty());
}

TEST_P(StoreContract, IncomingIdsArePutOnceAndDeleted) {
  put(batch(op::PutIncoming{{"c", 2}}, op::PutIncoming{{"c", 1}}, op::PutIncoming{{"c", 2}}));
  EXPECT_EQ(load().incoming, (std::vector<core::StoredIncoming>{{"c", 1}, {"c", 2}}));
  put(batch(op::DeleteIncoming{"c", 1}));
  EXPECT_EQ(load().incoming, (std::vector<core::StoredIncoming>{{"c", 2}}));
}

TEST_P(StoreContract, RetainedReplacesByTopicAndClears) {
  put(batch(op::PutMessage{message(1, "t")}, op::SetRetained{{"t", 1}}, op::PutMessage{message(2, "u")},
            op::SetRetained{{"u", 2}}));
  put(batch(op::PutMessage{message(3, "t")}, op::SetRetained{{"t", 3}}));
  auto snap = load();
  EXPECT_EQ(snap.retained, (std::vector<core::StoredRetained>{{"t", 3}, {"u", 2}}));
  EXPECT_EQ(message_ids(snap), (std::vector<std::uint64_t>{2, 3}));  // 1 replaced: unreferenced
  put(batch(op::ClearRetained{"u"}, op::ClearRetained{"never-there"}));
  snap = load();
  EXPECT_EQ(snap.retained, (std::vector<core::StoredRetained>{{"t", 3}}));
  EXPECT_EQ(message_ids(snap), std::vector<std::uint64_t>{3});
}

TEST_P(StoreContract, AMessageLivesWhileAQueueEntryOrARetainedTopicNamesIt) {
  put(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("a", 1, 1)}, op::PutQueueEntry{entry("b", 1, 1)},
            op::SetRetained{{"t", 1}}));
  put(batch(op::DeleteQueueEntry{"a", 1}));
  EXPECT_EQ(message_ids(load()), std::vector<std::uint64_t>{1});
  put(batch(op::ClearRetained{"t"}));
  EXPECT_EQ(message_ids(load()), std::vector<std::uint64_t>{1});
  put(batch(op::DeleteQueueEntry{"b", 1}));
  EXPECT_TRUE(load().messages.empty());
}

// A session draining its queue deletes runs of consecutive seqs, and their messages have consecutive ids: the SQLite
// store deletes such runs with one statement each (sqlite_tables.hpp). Only the rows named go: not the entry after a
// run, not another client's (one whose id the first one prefixes) whose seq would continue the run, not a message
// still referenced inside a run of candidates.
TEST_P(StoreContract, RunsOfDeletedEntriesTakeExactlyTheirRowsAndTheirUnreferencedMessages) {
  std::vector<StoreOp> fill;
  for (std::uint64_t id = 1; id <= 10; ++id) fill.push_back(op::PutMessage{message(id, "t")});
  for (std::uint64_t seq = 1; seq <= 7; ++seq) fill.push_back(op::PutQueueEntry{entry("a", seq, seq)});
  for (std::uint64_t seq = 4; seq <= 6; ++seq) fill.push_back(op::PutQueueEntry{entry("ab", seq, seq + 4)});
  fill.push_back(op::PutQueueEntry{entry("b", 1, 3)});  // message 3 is a/3's too
  fill.push_back(op::SetRetained{{"r", 4}});            // message 4 is a/4's too
  put(std::move(fill));
  ASSERT_EQ(load().queue.size(), 11u);  // (the SQLite store: in its tables, so that the deletes below find rows)

  // a/2..a/4; ab/5 follows a/4's seq but is another client; a/5 and a/6 stay; a/7.
  put(batch(op::DeleteQueueEntry{"a", 2}, op::DeleteQueueEntry{"a", 3}, op::DeleteQueueEntry{"a", 4},
            op::DeleteQueueEntry{"ab", 5}, op::DeleteQueueEntry{"a", 7}));
  const core::StoreSnapshot snap = load();
  EXPECT_EQ(snap.queue, (std::vector{entry("a", 1, 1), entry("a", 5, 5), entry("a", 6, 6), entry("ab", 4, 8),
                                     entry("ab", 6, 10), entry("b", 1, 3)}));
  EXPECT_EQ(message_ids(snap), (std::vector<std::uint64_t>{1, 3, 4, 5, 6, 8, 10}));
}

TEST_P(StoreContract, AMessageNobodyReferencesAtTheEndOfItsBatchIsDropped) {
  put(batch(op::PutMessage{message(1, "alone")}));
  put(batch(op::PutMessage{message(2, "t")}, op::PutQueueEntry{entry("a", 1, 2)}, op::DeleteQueueEntry{"a", 1}));
  EXPECT_TRUE(load().messages.empty());
}

TEST_P(StoreContract, ReplacingAQueueEntrysMessageDropsTheOldMessage) {
  put(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("a", 1, 1)}));
  put(batch(op::PutMessage{message(2, "t")}, op::PutQueueEntry{entry("a", 1, 2)}));
  EXPECT_EQ(message_ids(load()), std::vector<std::uint64_t>{2});
}

TEST_P(StoreContract, NextMessageIdNeverGoesBackEvenAfterDeletes) {
  put(batch(op::PutMessage{message(5, "t")}, op::PutQueueEntry{entry("a", 1, 5)}));
  EXPECT_EQ(load().next_message_id, 6u);
  put(batch(op::DeleteQueueEntry{"a", 1}));
  EXPECT_EQ(load().next_message_id, 6u);
  put(batch(op::PutMessage{message(3, "t")}, op::PutQueueEntry{entry("a", 2, 3)}));
  EXPECT_EQ(load().next_message_id, 6u);
  put(batch(op::PutMessage{message(9, "alone")}));  // dropped at once, but its id is used up
  EXPECT_EQ(load().next_message_id, 10u);
}

TEST_P(StoreContract, BatchesApplyInSubmissionOrder) {
  put(batch(op::PutMessage{message(1, "t")}));
  constexpr int kBatches = 300;
  for (int i = 0; i < kBatches; ++i) {  // each replaces the last; delete / put alternate
    if (i % 3 == 2) {
      put(batch(op::DeleteQueueEntry{"s", 1}));
    } else {
      put(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("s", 1, 1, static_cast<std::uint16_t>(i))}));
    }
  }
  // 299 % 3 == 2: deleted; 298 was the last put.
  EXPECT_TRUE(load().queue.empty());
  put(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("s", 1, 1, 7)}));
  put(batch(op::PutQueueEntry{entry("s", 1, 1, 8)}));
  EXPECT_EQ(load().queue, std::vector{entry("s", 1, 1, 8)});
}

TEST_P(StoreContract, CallbacksRunInOrderEachAfterItsBatchWithDurableTrue) {
  constexpr int kBatches = 200;
  std::mutex mutex;
  std::vector<int> order;
  std::atomic<int> not_durable{0};
  put(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("s", 0, 1)}));
  for (int i = 0; i < kBatches; ++i) {
    store_->submit(batch(op::PutQueueEntry{entry("s", static_cast<std::uint64_t>(i + 1), 1)}), [&, i](bool durable) {
      if (!durable) ++not_durable;
      std::lock_guard lock(mutex);
      order.push_back(i);
    });
  }
  store_->flush();
  std::vector<int> expected(kBatches);
  for (int i = 0; i < kBatches; ++i) expected[i] = i;
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(not_durable.load(), 0);
}

TEST_P(StoreContract, AnEmptyBatchIsCommittedToo) {
  bool called = false;
  store_->submit(core::StoreBatch{}, [&](bool durable) { called = durable; });
  store_->flush();
  EXPECT_TRUE(called);
}

TEST_P(StoreContract, FlushReturnsAfterEveryCallbackSubmittedBeforeIt) {
  std::atomic<int> done{0};
  constexpr int kBatches = 100;
  for (int i = 0; i < kBatches; ++i) {
    store_->submit(batch(op::PutIncoming{{"c", static_cast<std::uint16_t>(i)}}), [&](bool) { ++done; });
  }
  store_->flush();
  EXPECT_EQ(done.load(), kBatches);
  store_->flush();  // nothing pending: returns at once
  EXPECT_EQ(load().incoming.size(), static_cast<std::size_t>(kBatches));
}

TEST_P(StoreContract, ACallbackMaySubmitAnotherBatch) {
  std::atomic<bool> inner_done{false};
  store_->submit(batch(op::PutIncoming{{"c", 1}}), [&](bool) {
    store_->submit(batch(op::PutIncoming{{"c", 2}}), [&](bool) { inner_done = true; });
  });
  store_->flush();
  EXPECT_EQ(load().incoming.size(), 2u);  // load() flushes the batch the callback submitted
  EXPECT_TRUE(inner_done.load());
}

TEST_P(StoreContract, SubmitsFromSeveralThreadsKeepEachThreadsOrder) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 100;
  put(batch(op::PutMessage{message(1, "t")}, op::PutSession{session("keep")}, op::PutQueueEntry{entry("keep", 0, 1)}));
  std::vector<std::vector<int>> seen(kThreads);  // each thread's callbacks only touch their own vector
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string client = "t" + std::to_string(t);
      for (int i = 0; i < kBatches; ++i) {
        store_->submit(batch(op::PutQueueEntry{entry(client, static_cast<std::uint64_t>(i), 1)},
                             op::PutIncoming{{client, static_cast<std::uint16_t>(i)}}),
                       [&seen, t, i](bool) { seen[t].push_back(i); });
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto snap = load();
  EXPECT_EQ(snap.queue.size(), 1u + kThreads * kBatches);
  EXPECT_EQ(snap.incoming.size(), static_cast<std::size_t>(kThreads * kBatches));
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(kBatches));
    for (int i = 0; i < kBatches; ++i) EXPECT_EQ(seen[t][i], i);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Backend{"memory", make_memory}, Backend{"sqlite", make_sqlite},
                                           Backend{"sqlite_small_groups", make_sqlite_small_groups}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tern::persistence::test
