// The commit log's file format (commit_log.hpp): records read back in order; the end is the first record that is
// not whole, not the next seq, not this journal's or not chained to the one before; damage in the middle, missing
// records and another database's records are errors; space is preallocated and reused after a rewind.
#include "persistence/commit_log.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

constexpr std::uint64_t kId = 0x1234'5678'9abc;
constexpr std::size_t kHeader = 32;

class CommitLogTest : public ::testing::Test {
 protected:
  fs::path path() const { return dir_ / "log"; }
  platform::File file() const { return platform::File::open_or_create(path()); }
  CommitLogScan scan(std::uint64_t offset = 0, std::uint64_t first_seq = 1, std::uint64_t id = kId) const {
    return scan_commit_log(file(), id, offset, first_seq);
  }
  // A log continuing after what scan(offset, first_seq) finds.
  std::unique_ptr<CommitLog> open(std::uint64_t offset = 0, std::uint64_t first_seq = 1,
                                  CommitLog::Options options = {.sync = false, .grow_bytes = 4096}) const {
    const auto found = scan(offset, first_seq);
    return std::make_unique<CommitLog>(file(), kId, found, options);
  }
  static std::vector<std::string> bodies(const CommitLogScan& s) {
    std::vector<std::string> out;
    for (const auto& r : s.records) out.push_back(r.body);
    return out;
  }
  void flip(std::uint64_t offset) const {
    auto bytes = read_file(path());
    bytes[offset] ^= 0x01;
    write_file(path(), bytes);
  }
  TempDir dir_;
};

TEST_F(CommitLogTest, RecordsAreReadBackInOrderAndTheLogGoesOnAfterThem) {
  auto log = open();
  EXPECT_EQ(log->append("one"), 1u);
  EXPECT_EQ(log->append(""), 2u);
  EXPECT_EQ(log->append("three"), 3u);
  EXPECT_EQ(log->head(), 3 * kHeader + 8);
  const auto s = scan();
  EXPECT_EQ(bodies(s), (std::vector<std::string>{"one", "", "three"}));
  EXPECT_EQ(s.records[0].seq, 1u);
  EXPECT_EQ(s.records[2].end, log->head());
  EXPECT_EQ(s.head, log->head());
  EXPECT_EQ(s.next_seq, 4u);

  log = open();  // continues after them
  EXPECT_EQ(log->append("four"), 4u);
  EXPECT_EQ(bodies(scan()).back(), "four");
  // From the middle, as after a compaction that applied the first two.
  EXPECT_EQ(bodies(scan(s.records[1].end, 3)), (std::vector<std::string>{"three", "four"}));
}

TEST_F(CommitLogTest, AnEmptyOrZeroedFileHasNoRecords) {
  EXPECT_TRUE(scan().records.empty());
  write_file(path(), std::string(1000, '\0'));
  const auto s = scan();
  EXPECT_TRUE(s.records.empty());
  EXPECT_EQ(s.head, 0u);
  EXPECT_EQ(s.next_seq, 1u);
}

TEST_F(CommitLogTest, SpaceIsWrittenAheadInWholeSteps) {
  auto log = open();
  log->append(std::string(100, 'a'));
  EXPECT_EQ(fs::file_size(path()), 4096u);
  log->append(std::string(5000, 'b'));
  EXPECT_EQ(fs::file_size(path()), 8192u);
  EXPECT_EQ(bodies(scan()).size(), 2u);
}

TEST_F(CommitLogTest, ATornLastRecordIsTheEnd) {
  auto log = open();
  log->append("one");
  log->append("two");
  const auto second = kHeader + 3;
  for (const std::uint64_t at : {second + 2, second + 10, second + kHeader + 1}) {  // magic, seq, body
    flip(at);
    EXPECT_EQ(bodies(scan()), std::vector<std::string>{"one"}) << at;
    flip(at);
  }
  fs::resize_file(path(), second + kHeader + 1);  // cut short
  EXPECT_EQ(bodies(scan()), std::vector<std::string>{"one"});
}

TEST_F(CommitLogTest, ADamagedRecordFollowedByOneThatChainsToItIsAnError) {
  auto log = open();
  log->append("one");
  log->append("two");
  log->append("three");
  flip(kHeader + 3 + kHeader);  // the second record's body
  EXPECT_THROW(scan(), CommitLogError);
}

// Without an fdatasync per record (persistence_sync normal) a power cut can tear a record and keep a later one
// whole (found by the power-cut simulator, tests/powercut): the end, said, not an error that costs the whole store.
TEST_F(CommitLogTest, WrittenWithoutSyncsADamagedRecordFollowedByWholeOnesIsTheEnd) {
  auto log = open();
  log->append("one");
  log->append("two");
  log->append("three");
  flip(kHeader + 3 + kHeader);  // the second record's body
  const auto s = scan_commit_log(file(), kId, 0, 1, LogSync::none);
  EXPECT_EQ(bodies(s), std::vector<std::string>{"one"});
  EXPECT_TRUE(s.torn_before_whole);
  EXPECT_EQ(s.head, kHeader + 3);
  EXPECT_EQ(s.next_seq, 2u);
  flip(kHeader + 3 + kHeader);
  EXPECT_FALSE(scan_commit_log(file(), kId, 0, 1, LogSync::none).torn_before_whole);  // a plain end is not torn
}

TEST_F(CommitLogTest, AfterARewindTheOlderRecordsBeyondTheHeadAreStale) {
  auto log = open();
  for (const char* body : {"one", "two", "three"}) log->append(body);
  log->rewind(0);
  EXPECT_EQ(log->append("four"), 4u);  // seqs go on
  // The database now says: applied up to 3, the log starts at 0.
  EXPECT_EQ(bodies(scan(0, 4)), std::vector<std::string>{"four"});  // "two" after it is seq 2: stale
}

TEST_F(CommitLogTest, ARecordRewrittenInPlaceDoesNotChainToTheOldNextOne) {
  {
    auto log = open();
    for (const char* body : {"one", "two", "six"}) log->append(body);
  }
  // As if "two" had been torn by a crash (and "six" written anyway, as without fdatasync): the next process goes on
  // after "one" and writes seq 2 again, the same size, in the same place. The old seq 3 follows it, with the right
  // seq, but it chained to the old seq 2.
  const auto bytes = read_file(path());
  std::uint32_t first_crc = 0;  // bytes 4..7 of the first record, little-endian
  for (int i = 3; i >= 0; --i) first_crc = (first_crc << 8) | static_cast<unsigned char>(bytes[4 + i]);
  const CommitLogScan after_one{.head = scan().records[0].end, .next_seq = 2, .last_crc = first_crc};
  CommitLog log(file(), kId, after_one, {.sync = false});
  log.append("TWO");
  EXPECT_EQ(bodies(scan()), (std::vector<std::string>{"one", "TWO"}));
}

TEST_F(CommitLogTest, RecordsOfAnotherJournalAtTheStartAreForeign) {
  open()->append("one");
  EXPECT_THROW(scan(0, 1, kId + 1), CommitLogForeign);
}

TEST_F(CommitLogTest, ALaterSeqAtTheStartMeansRecordsAreMissing) {
  open()->append("one");
  EXPECT_THROW(scan(0, 0), CommitLogError);  // the database expected seq 0 first: seq 1 is not its successor
  EXPECT_TRUE(scan(0, 2).records.empty());   // an earlier seq is a stale record: the end
}

TEST_F(CommitLogTest, ARewindCutsBackAFileThatGrewBeyondWhatItKeeps) {
  auto log = open();
  log->append(std::string(20000, 'x'));
  EXPECT_EQ(fs::file_size(path()), 20480u);
  log->rewind(8192);
  EXPECT_EQ(fs::file_size(path()), 8192u);
  log->append("small");
  EXPECT_EQ(fs::file_size(path()), 8192u);
  EXPECT_EQ(bodies(scan(0, 2)), std::vector<std::string>{"small"});
}

}  // namespace
}  // namespace tern::persistence::test
