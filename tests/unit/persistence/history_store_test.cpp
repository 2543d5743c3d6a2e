// The history store (persistence/history_store.hpp): records written in batches by its thread, queried by filter,
// time range, rule and count, kept per rule by age and count (the wall clock an argument), and still there after
// the process that wrote them was killed.
#include "persistence/history_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <iterator>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace tern::persistence::test {
namespace {

HistoryRecord record(std::string rule, std::int64_t time_ms, std::string topic, std::string payload = "p") {
  return {
      .rule = std::move(rule), .time_ms = time_ms, .topic = std::move(topic), .payload = std::move(payload), .qos = 1};
}

HistoryResult ask(HistoryStore& store, HistoryQuery q) {
  std::promise<HistoryResult> answer;
  auto result = answer.get_future();
  store.query(std::move(q), [&answer](HistoryResult r) { answer.set_value(std::move(r)); });
  return result.get();
}

std::vector<std::string> payloads(const HistoryResult& r) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) out.push_back(row.payload);
  return out;
}

class HistoryStoreTest : public ::testing::Test {
 protected:
  testsupport::TempDir dir{"tern-history"};
  std::filesystem::path file() const { return dir.path() / "tern-history.db"; }
};

TEST_F(HistoryStoreTest, QueriesByFilterTimeRuleAndCount) {
  HistoryStore store(file(), {});
  for (int i = 0; i < 10; ++i) {
    store.add(
        record("temps", 1000 + i, "sensors/" + std::string(i % 2 ? "kitchen" : "hall") + "/temp", std::to_string(i)));
  }
  store.add(record("alarms", 1005, "alarms/kitchen", "fire"));
  // A query sees what was added before it, without a flush.
  EXPECT_EQ(payloads(ask(store, {.filter = "sensors/kitchen/#"})), (std::vector<std::string>{"1", "3", "5", "7", "9"}));
  EXPECT_EQ(payloads(ask(store, {.filter = "sensors/+/temp", .from_ms = 1002, .to_ms = 1004})),
            (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_EQ(payloads(ask(store, {.filter = "#", .rule = "alarms"})), (std::vector<std::string>{"fire"}));
  const HistoryResult limited = ask(store, {.filter = "#", .limit = 3, .newest_first = true});
  EXPECT_EQ(payloads(limited), (std::vector<std::string>{"9", "8", "7"}));
  EXPECT_TRUE(limited.truncated);
  const HistoryResult all = ask(store, {.filter = "#", .limit = 100});
  EXPECT_EQ(all.rows.size(), 11u);
  EXPECT_FALSE(all.truncated);
  EXPECT_EQ(all.rows[0], record("temps", 1000, "sensors/hall/temp", "0"));
  EXPECT_EQ(store.stats().written, 11u);
}

TEST_F(HistoryStoreTest, RetentionByAgeAndCountPerRule) {
  std::atomic<std::int64_t> now{100'000};
  HistoryStore store(file(), {.now_ms = [&now] { return now.load(); }});
  store.set_retention({{"short", {.max_age = std::chrono::seconds(10)}}, {"few", {.max_rows = 3}}});
  for (int i = 0; i < 20; ++i) {
    store.add(record("short", 100'000 + i * 1000, "s", std::to_string(i)));
    store.add(record("few", 100'000 + i, "f", std::to_string(i)));
    store.add(record("kept", 100'000 + i, "k", std::to_string(i)));
  }
  now = 100'000 + 25'000;  // "short" keeps what is younger than 10 s: 15..19
  store.apply_retention();
  EXPECT_EQ(payloads(ask(store, {.rule = "short"})), (std::vector<std::string>{"15", "16", "17", "18", "19"}));
  EXPECT_EQ(payloads(ask(store, {.rule = "few"})), (std::vector<std::string>{"17", "18", "19"}));
  EXPECT_EQ(ask(store, {.rule = "kept"}).rows.size(), 20u);
  EXPECT_EQ(store.stats().expired, 15u + 17u);
}

// Retention frees the pages of what it removes without writing them again only to zero them (secure_delete FAST:
// Debian's SQLite zeroes them by default, a write per page for nothing). So a removed record's large payload, in
// overflow pages that are freed whole, is still in the file after it closed (until SQLite reuses those pages).
TEST_F(HistoryStoreTest, RetentionFreesPagesWithoutWritingThemAgain) {
  const std::string marker = "tern-history-freed-page-marker";
  std::string payload;
  while (payload.size() < 64 * 1024) payload += marker;
  {
    std::atomic<std::int64_t> now{1'000'000};
    HistoryStore store(file(), {.now_ms = [&now] { return now.load(); }});
    store.set_retention({{"big", {.max_age = std::chrono::seconds(1)}}});
    store.add(record("big", 1'000'000, "t", payload));
    store.flush();
    now = 1'000'000 + 10'000;
    store.apply_retention();
    ASSERT_EQ(store.stats().expired, 1u);
    EXPECT_TRUE(ask(store, {.rule = "big"}).rows.empty());
  }  // closing checkpoints the WAL into the file
  std::ifstream in(file(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t copies = 0;
  for (auto at = bytes.find(marker); at != std::string::npos; at = bytes.find(marker, at + marker.size())) ++copies;
  EXPECT_GT(copies, payload.size() / marker.size() / 2);
}

TEST_F(HistoryStoreTest, PendingRecordsAreBoundedAndCounted) {
  HistoryStore store(file(), {.max_pending = 5, .batch_interval = std::chrono::hours(1)});
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += store.add(record("r", i, "t"));
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(store.stats().dropped, 15u);
  store.flush();
  EXPECT_EQ(store.stats().written, 5u);
}

TEST_F(HistoryStoreTest, ReopenedAfterTheWriterWasKilled) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    HistoryStore store(file(), {});
    for (int i = 0; i < 1000; ++i) store.add(record("r", i, "t/" + std::to_string(i % 7), std::to_string(i)));
    store.flush();
    ::raise(SIGKILL);  // no destructor, no final write: what flush() saw written must be in the file
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  HistoryStore store(file(), {});
  const HistoryResult r = ask(store, {.limit = 2000});
  ASSERT_EQ(r.rows.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(r.rows[i].payload, std::to_string(i));
}

TEST_F(HistoryStoreTest, LimitIsCappedByMaxLimit) {
  HistoryStore store(file(), {.max_limit = 4});
  for (int i = 0; i < 10; ++i) store.add(record("r", i, "t"));
  const HistoryResult r = ask(store, {.limit = 1000});
  EXPECT_EQ(r.rows.size(), 4u);
  EXPECT_TRUE(r.truncated);
}

}  // namespace
}  // namespace tern::persistence::test
