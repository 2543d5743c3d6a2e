// The SQLite store's journal: groups are journalled and survive a reopen that did not compact them (as after a
// crash); compaction (when full, before load() / load_queue(), at open) applies them; a journal row that cannot be
// decoded makes the database unusable (moved aside), never half-applied.
#include "persistence/sqlite_journal.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "broker/core/store_codec.hpp"
#include "known_content.hpp"
#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

class SqliteJournalTest : public ::testing::Test {
 protected:
  // No compaction on close: the store leaves its journal as a crash would. Not exclusive, so the test can look.
  SqliteOptions uncompacted() const {
    return {.directory = dir_.path(), .exclusive_lock = false, .compact_on_close = false};
  }
  fs::path db() const { return dir_ / "tern.db"; }
  // Writes known_batches(), a group (and a journal row) each, leaves them uncompacted and returns the rows.
  std::deque<JournalRow> journal_known_batches() {
    {
      SqliteStore store(uncompacted());
      for (auto& b : known_batches()) {
        store.submit(std::move(b), {});
        store.flush();
      }
    }
    return journal_rows(db());
  }
  void flip_log_byte(std::uint64_t offset) const {
    const fs::path log = db().string() + kCommitLogSuffix;
    auto bytes = read_file(log);
    bytes[offset] ^= 0x01;
    write_file(log, bytes);
  }
  std::string count(const std::string& table) const {
    return table == "journal" ? journal_count(db()) : sql(db(), "SELECT count(*) FROM " + table);
  }
  TempDir dir_;
};

TEST_F(SqliteJournalTest, ACommittedGroupIsOneJournalRowAndTheTablesAreUntouched) {
  SqliteStore store(uncompacted());
  store.submit(batch(op::PutSession{session("a")}, op::PutIncoming{{"a", 1}}), {});
  store.flush();
  EXPECT_EQ(count("journal"), "1");
  EXPECT_EQ(count("sessions"), "0");
  EXPECT_EQ(count("incoming"), "0");
}

TEST_F(SqliteJournalTest, AJournalLeftByAnUncleanShutdownIsAppliedAtOpen) {
  {
    SqliteStore store(uncompacted());
    for (auto& b : known_batches()) store.submit(std::move(b), {});
  }
  EXPECT_NE(count("journal"), "0");
  EXPECT_EQ(count("sessions"), "0");
  {
    SqliteStore store(uncompacted());
    EXPECT_FALSE(store.moved_aside());
    EXPECT_GT(store.recovered_journal_ops(), 0u);
    EXPECT_EQ(count("journal"), "0");
    EXPECT_EQ(count("sessions"), "2");  // in the tables before anything reads them
    expect_snapshot_eq(store.load(), known_snapshot());
  }
  SqliteStore store(uncompacted());
  EXPECT_EQ(store.recovered_journal_ops(), 0u);
  expect_snapshot_eq(store.load(), known_snapshot());
}

TEST_F(SqliteJournalTest, LoadAppliesTheJournalFirst) {
  SqliteStore store(uncompacted());
  for (auto& b : known_batches()) {
    store.submit(std::move(b), {});
    store.flush();  // one group, one row each
  }
  EXPECT_EQ(count("journal"), std::to_string(known_batches().size()));
  expect_snapshot_eq(store.load(), known_snapshot());
  EXPECT_EQ(count("journal"), "0");
  EXPECT_EQ(count("queue"), "4");
}

TEST_F(SqliteJournalTest, LoadQueueAppliesTheJournalFirst) {
  SqliteStore store(uncompacted());
  store.submit(batch(op::PutMessage{message(1, "a")}, op::PutQueueEntry{entry("s", 1, 1), true}), {});
  store.flush();
  store.submit(batch(op::PutMessage{message(2, "b")}, op::PutQueueEntry{entry("s", 2, 2), true}), {});
  store.flush();
  store.submit(batch(op::DeleteQueueEntry{"s", 1}), {});
  store.flush();
  EXPECT_EQ(count("journal"), "3");
  const auto page = store.load_queue("s", 0, 0);
  EXPECT_EQ(page.entries, std::vector{entry("s", 2, 2)});
  EXPECT_EQ(page.messages, std::vector{message(2, "b")});
  EXPECT_EQ(count("journal"), "0");
  EXPECT_EQ(count("messages"), "1");  // message 1 was put and dropped within the compaction: never written
}

// A session draining its backlog: the journal holds its deliveries and acknowledgements of entries before the page,
// nothing after it. The page is read from the tables as they are; the journal stays (no transaction per page).
TEST_F(SqliteJournalTest, APageTheJournalDoesNotTouchIsReadWithoutCompacting) {
  SqliteStore store(uncompacted());
  for (std::uint64_t i = 1; i <= 6; ++i) {
    store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("s", i, i), true}), {});
  }
  EXPECT_EQ(store.load_queue("s", 0, 2).entries, (std::vector{entry("s", 1, 1), entry("s", 2, 2)}));
  EXPECT_EQ(count("journal"), "0");  // compacted: the journal held s/1..6
  auto in_flight = entry("s", 1, 1);
  in_flight.packet_id = 7;
  store.submit(batch(op::PutQueueEntry{in_flight, false}), {});
  store.submit(batch(op::DeleteQueueEntry{"s", 1}, op::DeleteQueueEntry{"s", 2}), {});
  store.submit(batch(op::PutMessage{message(9, "u")}, op::PutQueueEntry{entry("other", 1, 9), true}), {});
  auto page = store.load_queue("s", 2, 2);
  EXPECT_EQ(page.entries, (std::vector{entry("s", 3, 3), entry("s", 4, 4)}));
  EXPECT_EQ(page.messages, (std::vector{message(3, "t"), message(4, "t")}));
  EXPECT_NE(count("journal"), "0");  // not compacted
  EXPECT_EQ(count("queue"), "6");
  // What the journal holds still counts everywhere else.
  EXPECT_EQ(store.load_queue("other", 0, 0).entries, std::vector{entry("other", 1, 9)});
  EXPECT_EQ(count("journal"), "0");
  EXPECT_EQ(count("queue"), "5");  // s/1 and s/2 gone, other/1 there
  EXPECT_EQ(store.load().queue.size(), 5u);
}

// Whatever the journal holds of the queue after the page's start makes the read compact first: a later entry put, an
// entry of the page deleted, the session deleted; also when the journal was left by a crash (read at open).
TEST_F(SqliteJournalTest, APageTheJournalTouchesIsReadAfterCompacting) {
  {
    SqliteStore store(uncompacted());
    for (std::uint64_t i = 1; i <= 4; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("s", i, i), true}), {});
    }
    store.load_queue("s", 0, 1);  // compacts
    store.submit(batch(op::DeleteQueueEntry{"s", 3}), {});
    EXPECT_EQ(store.load_queue("s", 1, 0).entries, (std::vector{entry("s", 2, 2), entry("s", 4, 4)}));
    store.submit(batch(op::PutMessage{message(5, "t")}, op::PutQueueEntry{entry("s", 5, 5), true}), {});
    EXPECT_EQ(store.load_queue("s", 4, 0).entries, std::vector{entry("s", 5, 5)});
    store.submit(batch(op::DeleteQueueEntry{"s", 1}), {});  // before the page: no compaction needed
    store.submit(batch(op::DeleteSession{"s"}), {});        // but this is
    EXPECT_TRUE(store.load_queue("s", 1, 0).entries.empty());
    store.submit(batch(op::PutMessage{message(6, "t")}, op::PutQueueEntry{entry("s", 1, 6), true}), {});
    store.flush();
  }  // no compaction on close: the journal stays, as after a crash
  EXPECT_NE(count("journal"), "0");
  SqliteStore store(uncompacted());
  EXPECT_EQ(store.load_queue("s", 0, 0).entries, std::vector{entry("s", 1, 6)});
}

TEST_F(SqliteJournalTest, TheWriterCompactsAFullJournalLeavingItsNewestHalf) {
  auto options = uncompacted();
  options.journal_compact_ops = 10;  // at 10 ops, apply the oldest groups that leave at least 5
  options.journal_keep_ops = 5;
  {
    SqliteStore store(options);
    for (std::uint64_t i = 1; i <= 12; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("c", i, i), true}), {});
      store.flush();
    }
  }  // joins the writer: its compactions are done
  // Groups of 2 ops: at groups 5, 7, 9 and 11 the journal holds 10 ops and its 2 oldest groups go.
  EXPECT_EQ(count("journal"), "4");
  EXPECT_EQ(count("queue"), "8");
  SqliteStore store(options);
  EXPECT_EQ(store.load().queue.size(), 12u);
}

TEST_F(SqliteJournalTest, TheLogStartsAgainFromTheFrontOnceItIsFullAndLosesNothing) {
  auto options = uncompacted();
  options.commit_log_bytes = 2048;  // a record is ~60 bytes: a rewind every ~35 groups
  options.commit_log_grow_bytes = 1024;
  constexpr std::uint64_t kGroups = 200;
  {
    SqliteStore store(options);
    EXPECT_EQ(store.pragma("synchronous"), 2);    // FULL: a rollback journal needs it (sqlite_open.cpp)
    EXPECT_EQ(store.pragma("secure_delete"), 2);  // FAST: freed pages are not written again to be zeroed
    std::uint64_t max_head = 0;
    for (std::uint64_t i = 1; i <= kGroups; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("c", i, i), true}), {});
      store.flush();
      max_head = std::max(max_head, store.commit_log_bytes());
    }
    EXPECT_LT(max_head, 2048u + 200u);          // rewound each time it passed the bound
    EXPECT_GT(count("queue"), "0");             // rewinding applied the journal
    EXPECT_EQ(store.pragma("synchronous"), 2);  // and stays
  }                                             // no compaction on close: the last records stay, as after a crash
  EXPECT_LE(fs::file_size(dir_ / "tern.db-commitlog"), 3072u);  // the space was reused
  EXPECT_NE(count("journal"), "0");
  SqliteStore store(options);
  EXPECT_EQ(store.pragma("secure_delete"), 2);  // set at every open: it is not kept in the file
  EXPECT_GT(store.recovered_journal_ops(), 0u);
  EXPECT_EQ(store.load().queue.size(), kGroups);
}

TEST_F(SqliteJournalTest, AnAcknowledgementInTheNewerHalfCancelsADeliveryInTheOlderHalf) {
  auto options = uncompacted();
  options.journal_compact_ops = 10;
  options.journal_keep_ops = 5;
  {
    SqliteStore store(options);
    for (std::uint64_t i = 1; i <= 4; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("c", i, i, 1), true}), {});
      store.flush();
    }
    store.submit(batch(op::DeleteQueueEntry{"c", 1}, op::DeleteQueueEntry{"c", 2}, op::DeleteQueueEntry{"c", 3},
                       op::DeleteQueueEntry{"c", 4}),
                 {});
    store.flush();
    // 12 ops: groups 1-3 went (6 ops stay), and wrote nothing: their entries are acknowledged in group 5. Not even
    // a transaction: meta still points before them, so the journal read from the file has them all.
    EXPECT_EQ(count("journal"), "5");
    EXPECT_EQ(count("queue"), "0");
    EXPECT_EQ(count("messages"), "0");
  }  // as after a crash: the rows that stay are all there is of it
  SqliteStore store(options);
  const auto snap = store.load();
  EXPECT_TRUE(snap.queue.empty());
  EXPECT_EQ(snap.next_message_id, 5u);
  EXPECT_EQ(count("messages"), "0");
}

// Compactions with nothing to apply run no transaction; whatever point a crash comes at, the store reopens with what
// the groups left, and message ids are never handed out again.
TEST_F(SqliteJournalTest, CompactionsWithoutATransactionLoseNothingAtACrash) {
  auto options = uncompacted();
  options.journal_compact_ops = 6;
  options.journal_keep_ops = 3;
  for (std::uint64_t crash_after = 1; crash_after <= 24; ++crash_after) {
    TempDir dir;
    options.directory = dir.path();
    std::vector<core::StoredQueueEntry> expected;
    std::uint64_t id = 0;
    {
      SqliteStore store(options);
      for (std::uint64_t i = 1; i <= crash_after; ++i) {
        ++id;
        store.submit(batch(op::PutMessage{message(id, "t")}, op::PutQueueEntry{entry("c", i, id), true}), {});
        store.flush();
        if (i % 4 != 0) {  // acknowledged at once; every fourth stays
          store.submit(batch(op::DeleteQueueEntry{"c", i}), {});
        } else {
          expected.push_back(entry("c", i, id));
        }
        store.flush();
      }
    }  // no compaction on close: the log stays as a crash leaves it
    SqliteStore store(options);
    const auto snap = store.load();
    EXPECT_EQ(snap.queue, expected) << "crash after " << crash_after;
    EXPECT_EQ(snap.next_message_id, id + 1) << "crash after " << crash_after;
  }
}

// Message 1 goes to "a", which acknowledges it in the next group, where it also goes to "b" (as a shared
// subscription hands a message on). Each group is padded to 5 ops with incoming ids, and is its own journal row.
class SqliteJournalHandOnTest : public SqliteJournalTest {
 protected:
  void submit(std::vector<StoreOp> ops, std::uint16_t padding) {
    for (std::uint16_t i = 0; i < padding; ++i) ops.emplace_back(op::PutIncoming{{"f", ++incoming_}});
    store_->submit(std::move(ops), {});
    store_->flush();
  }
  void put_and_hand_on() {
    submit(batch(op::PutMessage{message(1, "t")}, op::PutQueueEntry{entry("a", 1, 1, 1), true}), 3);
    submit(batch(op::DeleteQueueEntry{"a", 1}, op::PutQueueEntry{entry("b", 1, 1, 1), true}), 3);
  }
  SqliteOptions options_ = [this] {
    auto o = uncompacted();
    o.journal_compact_ops = 10;
    o.journal_keep_ops = 5;
    return o;
  }();
  std::unique_ptr<SqliteStore> store_ = std::make_unique<SqliteStore>(options_);
  std::uint16_t incoming_ = 0;
};

TEST_F(SqliteJournalHandOnTest, AMessageReferencedOnlyByTheNewerHalfIsWritten) {
  put_and_hand_on();
  // 10 ops: the first group went; "b"'s entry stays in the journal, so its message had to go to the tables.
  EXPECT_EQ(count("journal"), "1");
  EXPECT_EQ(count("queue"), "0");
  EXPECT_EQ(count("messages"), "1");
  store_.reset();
  SqliteStore store(options_);  // as after a crash: the row that stays is replayed
  const auto snap = store.load();
  EXPECT_EQ(snap.queue, std::vector{entry("b", 1, 1, 1)});
  EXPECT_EQ(snap.messages, std::vector{message(1, "t")});
}

TEST_F(SqliteJournalHandOnTest, AndCollectedOnceThatReferenceIsAcknowledged) {
  put_and_hand_on();
  submit(batch(op::DeleteQueueEntry{"b", 1}), 0);
  submit(batch(op::PutSession{session("z")}), 3);
  // 11 ops (one carried): the hand-on group went, leaving 5; "b"/1 is acknowledged in a group that stays.
  EXPECT_EQ(count("journal"), "2");
  EXPECT_EQ(count("queue"), "0");
  EXPECT_EQ(count("messages"), "0");
  store_.reset();
  SqliteStore store(options_);
  EXPECT_TRUE(store.load().queue.empty());
  EXPECT_EQ(count("messages"), "0");
}

TEST_F(SqliteJournalHandOnTest, AndCollectedAfterACrashThatLostTheDeferredCandidate) {
  put_and_hand_on();
  submit(batch(op::DeleteQueueEntry{"b", 1}), 0);
  store_.reset();  // before the next compaction: the tables hold message 1, which only the journal's "b"/1 needed
  EXPECT_EQ(count("messages"), "1");
  SqliteStore store(options_);  // replays "b"/1's put and delete: they cancel, and nothing names message 1 again
  EXPECT_TRUE(store.load().queue.empty());
  EXPECT_EQ(count("messages"), "0");
}

TEST_F(SqliteJournalTest, IdsOfMessagesThatWereNeverWrittenStayUsedUpInTheJournal) {
  {
    SqliteStore store(uncompacted());
    // Put and acknowledged within one group: no op runs, but id 7 must never be handed out again.
    store.submit(
        batch(op::PutMessage{message(7, "a")}, op::PutQueueEntry{entry("s", 1, 7), true}, op::DeleteQueueEntry{"s", 1}),
        {});
  }
  EXPECT_EQ(count("journal"), "1");
  SqliteStore store(uncompacted());
  const auto snap = store.load();
  EXPECT_TRUE(snap.messages.empty());
  EXPECT_EQ(snap.next_message_id, 8u);
}

// Appends `body` as the next record of the commit log of the database at `db`, as the store would have.
void append_record(const fs::path& db, std::string_view body) {
  Database c(db, SQLITE_OPEN_READONLY);
  auto file = platform::File::open_or_create(db.string() + kCommitLogSuffix);
  const auto found = read_journal(c, file);
  CommitLog log(std::move(file), found.id, found.scan, {});
  log.append(body);
}

TEST_F(SqliteJournalTest, ARecordThatCannotBeDecodedMovesTheDatabaseAsideWithItsLog) {
  {
    SqliteStore store(uncompacted());
    store.submit(batch(op::PutSession{session("a")}), {});
    store.flush();
  }
  append_record(db(), std::string("\x01\x00\x01\x05", 4));  // whole, but a cut PutMessage
  SqliteStore store({.directory = dir_.path()});
  ASSERT_TRUE(store.moved_aside());
  EXPECT_TRUE(store.load().sessions.empty());
  EXPECT_TRUE(fs::exists(store.moved_aside()->string() + kCommitLogSuffix));  // kept for a person to recover
  EXPECT_THROW(journal_rows(*store.moved_aside()), core::StoreCodecError);
}

TEST_F(SqliteJournalTest, ADamagedRecordBeforeWholeOnesMovesTheDatabaseAside) {
  const auto rows = journal_known_batches();
  ASSERT_GE(rows.size(), 3u);
  flip_log_byte(rows[0].end + 40);  // in the second record's body: bit rot, not a torn tail
  SqliteStore store({.directory = dir_.path()});
  EXPECT_TRUE(store.moved_aside());
  EXPECT_TRUE(store.load().sessions.empty());
}

// With persistence_sync normal the same damage is what a power cut leaves (records are not synced, so a later one
// can reach the disk whole and an earlier one torn): the log ends there and the groups before it are kept, rather
// than the whole store moved aside (found by the power-cut simulator, tests/powercut).
TEST_F(SqliteJournalTest, WithSyncNormalATornRecordBeforeWholeOnesIsTheEndNotTheLossOfTheStore) {
  const auto rows = journal_known_batches();
  ASSERT_GE(rows.size(), 3u);
  flip_log_byte(rows[0].end + 40);
  SqliteStore store({.directory = dir_.path(), .sync = SyncMode::normal});
  EXPECT_FALSE(store.moved_aside());
  EXPECT_EQ(store.recovered_journal_ops(), rows[0].op_count);
}

TEST_F(SqliteJournalTest, ATornLastRecordIsTheEndOfTheLog) {
  const auto rows = journal_known_batches();
  ASSERT_GE(rows.size(), 2u);
  flip_log_byte(rows.back().end - 1);  // the last record, as a crash during its write leaves it
  SqliteStore store({.directory = dir_.path()});
  EXPECT_FALSE(store.moved_aside());
  EXPECT_EQ(store.recovered_journal_ops(), [&] {
    std::size_t ops = 0;
    for (std::size_t i = 0; i + 1 < rows.size(); ++i) ops += rows[i].op_count;
    return ops;
  }());
}

TEST_F(SqliteJournalTest, ALogOfAnotherDatabaseIsMovedAsideAloneAndNeverApplied) {
  TempDir other;
  {
    SqliteStore store({.directory = other.path(), .compact_on_close = false});
    store.submit(batch(op::PutSession{session("other")}), {});
    store.flush();
  }
  { SqliteStore store(uncompacted()); }  // this database, its log empty
  fs::copy_file(other / "tern.db-commitlog", dir_ / "tern.db-commitlog", fs::copy_options::overwrite_existing);
  SqliteStore store(uncompacted());
  EXPECT_FALSE(store.moved_aside());
  EXPECT_TRUE(store.load().sessions.empty());
  std::size_t foreign = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    foreign += entry.path().filename().string().starts_with("tern.db-commitlog.foreign-") ? 1 : 0;
  }
  EXPECT_EQ(foreign, 1u);
  store.submit(batch(op::PutSession{session("a")}), {});  // and the new log works
  EXPECT_EQ(store.load().sessions, std::vector{session("a")});
}

TEST_F(SqliteJournalTest, ALogWithoutItsDatabaseIsMovedAside) {
  TempDir other;
  {
    SqliteStore store({.directory = other.path(), .compact_on_close = false});
    store.submit(batch(op::PutSession{session("other")}), {});
    store.flush();
  }
  fs::copy_file(other / "tern.db-commitlog", dir_ / "tern.db-commitlog");
  SqliteStore store(uncompacted());
  EXPECT_TRUE(store.load().sessions.empty());
  std::size_t moved = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    moved +=
        std::regex_match(entry.path().filename().string(), std::regex(R"(tern\.db\.corrupt-\d{8}-\d{6}-commitlog)"));
  }
  EXPECT_EQ(moved, 1u);
}

}  // namespace
}  // namespace tern::persistence::test
