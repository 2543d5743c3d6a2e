// The SQLite store's journal: groups are journalled and survive a reopen that did not compact them (as after a
// crash); compaction (when full, before load() / load_queue(), at open) applies them; a journal row that cannot be
// decoded makes the database unusable (moved aside), never half-applied.
#include "persistence/sqlite_journal.hpp"

#include <gtest/gtest.h>

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
  std::string count(const std::string& table) const { return sql(db(), "SELECT count(*) FROM " + table); }
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

TEST_F(SqliteJournalTest, TheWriterCompactsAFullJournal) {
  auto options = uncompacted();
  options.journal_compact_ops = 10;  // every 5th group of 2 ops
  {
    SqliteStore store(options);
    for (std::uint64_t i = 1; i <= 12; ++i) {
      store.submit(batch(op::PutMessage{message(i, "t")}, op::PutQueueEntry{entry("c", i, i), true}), {});
      store.flush();
    }
  }  // joins the writer: its compactions are done
  EXPECT_EQ(count("journal"), "2");
  EXPECT_EQ(count("queue"), "10");
  SqliteStore store(options);
  EXPECT_EQ(store.load().queue.size(), 12u);
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

TEST_F(SqliteJournalTest, AJournalRowThatCannotBeDecodedMovesTheDatabaseAside) {
  {
    SqliteStore store(uncompacted());
    store.submit(batch(op::PutSession{session("a")}), {});
    store.flush();
    store.submit(batch(op::PutSession{session("b")}), {});
  }
  sql(db(), "UPDATE journal SET ops = x'01000105' WHERE seq = (SELECT min(seq) FROM journal)");  // a cut PutMessage
  SqliteStore store({.directory = dir_.path()});
  ASSERT_TRUE(store.moved_aside());
  EXPECT_TRUE(store.load().sessions.empty());
  EXPECT_EQ(sql(*store.moved_aside(), "SELECT count(*) FROM journal"), "2");  // kept for a person to recover
}

}  // namespace
}  // namespace tern::persistence::test
