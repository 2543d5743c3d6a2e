// The power-cut rebuild (tests/powercut/rebuild.hpp) on logs written by hand: what a sync makes durable stays in
// every state; what came after it is kept, dropped or torn at sector boundaries depending on the choice; directory
// entries changed after the last directory sync come back as a prefix. And the log reader's handling of a tail
// cut short by SIGKILL.
#include "tests/powercut/rebuild.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tern::powercut {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tern-powercut-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::optional<std::string> content(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

LogOp open_op(const std::string& name, std::uint64_t ino, bool created) {
  return LogOp{OpKind::open, ino, 0, 0, created ? kOpCreated : 0, name, {}, {}};
}
LogOp write_op(std::uint64_t ino, std::uint64_t offset, const std::string& data) {
  return LogOp{OpKind::write, ino, offset, data.size(), 0, {}, {}, data};
}
LogOp sync_op(std::uint64_t ino) { return LogOp{OpKind::sync, ino, 0, 0, 0, {}, {}, {}}; }
LogOp dirsync_op() { return LogOp{OpKind::dirsync, 0, 0, 0, 0, {}, {}, {}}; }
LogOp rename_op(const std::string& from, const std::string& to) {
  return LogOp{OpKind::rename, 0, 0, 0, 0, from, to, {}};
}
LogOp unlink_op(const std::string& name) { return LogOp{OpKind::unlink, 0, 0, 0, 0, name, {}, {}}; }

class RebuildTest : public ::testing::Test {
 protected:
  fs::path snapshot() const { return dir_.path() / "snapshot"; }
  // Rebuilds into a fresh directory and returns its path.
  fs::path cut(const std::vector<LogOp>& ops, Choice choice, RebuildStats* stats = nullptr) {
    const fs::path out = dir_.path() / ("out" + std::to_string(outs_++));
    const RebuildStats s = rebuild(snapshot(), ops, out, choice);
    if (stats != nullptr) *stats = s;
    return out;
  }
  void SetUp() override { fs::create_directory(snapshot()); }

  TempDir dir_;
  int outs_ = 0;
};

const std::string kSynced(1024, 'S');
const std::string kLater(1024, 'L');  // two sectors

// A file created and synced, its directory synced, then written again without a sync.
std::vector<LogOp> synced_then_written() {
  return {open_op("log", 7, true), write_op(7, 0, kSynced), sync_op(7), dirsync_op(), write_op(7, 1024, kLater)};
}

TEST_F(RebuildTest, WhatASyncCoveredSurvivesEveryChoice) {
  const auto ops = synced_then_written();
  for (const Choice choice : {Choice::nothing(), Choice::everything(), Choice::random(1), Choice::random(2)}) {
    const auto got = content(cut(ops, choice) / "log");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->substr(0, 1024), kSynced);
  }
}

TEST_F(RebuildTest, AWriteAfterTheLastSyncIsDroppedOrKept) {
  const auto ops = synced_then_written();
  EXPECT_EQ(content(cut(ops, Choice::nothing()) / "log"), kSynced);
  EXPECT_EQ(content(cut(ops, Choice::everything()) / "log"), kSynced + kLater);
}

TEST_F(RebuildTest, RandomChoicesTearAWriteAtSectorBoundariesAndAreReproducible) {
  const auto ops = synced_then_written();
  std::set<std::string> seen;
  bool torn = false;
  for (std::uint64_t seed = 0; seed < 64; ++seed) {
    RebuildStats stats;
    const auto got = *content(cut(ops, Choice::random(seed), &stats) / "log");
    EXPECT_EQ(got, *content(cut(ops, Choice::random(seed)) / "log")) << "seed " << seed;
    EXPECT_EQ(stats.unsynced_sectors, 2u);
    torn = torn || stats.torn_writes == 1;
    seen.insert(got);
  }
  EXPECT_TRUE(torn);
  // Nothing, all, the first sector only, the second only (zeros before it), and the size kept with zeros where a
  // sector was lost: each a state a disk can leave.
  EXPECT_TRUE(seen.count(kSynced));
  EXPECT_TRUE(seen.count(kSynced + kLater));
  EXPECT_TRUE(seen.count(kSynced + std::string(512, 'L')));
  EXPECT_TRUE(seen.count(kSynced + std::string(512, '\0') + std::string(512, 'L')));
  EXPECT_TRUE(seen.count(kSynced + std::string(1024, '\0')));
  EXPECT_TRUE(seen.count(kSynced + std::string(512, 'L') + std::string(512, '\0')));
  EXPECT_EQ(seen.size(), 6u);
}

TEST_F(RebuildTest, AWriteNotAlignedToSectorsIsCutAtTheirBoundaries) {
  const std::vector<LogOp> ops{open_op("f", 1, true), dirsync_op(), write_op(1, 500, std::string(20, 'x'))};
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 64; ++seed) seen.insert(*content(cut(ops, Choice::random(seed)) / "f"));
  // Bytes 500..512 and 512..520 are two sectors.
  EXPECT_TRUE(seen.count(std::string(500, '\0') + std::string(12, 'x')));
  EXPECT_TRUE(seen.count(std::string(512, '\0') + std::string(8, 'x')));
}

TEST_F(RebuildTest, AFileCreatedWithoutADirectorySyncMayVanish) {
  const std::vector<LogOp> ops{open_op("new", 3, true), write_op(3, 0, "data"), sync_op(3)};
  EXPECT_FALSE(fs::exists(cut(ops, Choice::nothing()) / "new"));
  EXPECT_EQ(content(cut(ops, Choice::everything()) / "new"), "data");
  auto with_dirsync = ops;
  with_dirsync.push_back(dirsync_op());
  EXPECT_EQ(content(cut(with_dirsync, Choice::nothing()) / "new"), "data");
}

TEST_F(RebuildTest, ARenameWithoutADirectorySyncMayBeUndone) {
  put(snapshot() / "a", "old a");
  const std::vector<LogOp> ops{rename_op("a", "b")};
  const auto nothing = cut(ops, Choice::nothing());
  EXPECT_EQ(content(nothing / "a"), "old a");
  EXPECT_FALSE(fs::exists(nothing / "b"));
  const auto all = cut(ops, Choice::everything());
  EXPECT_FALSE(fs::exists(all / "a"));
  EXPECT_EQ(content(all / "b"), "old a");
  auto synced = ops;
  synced.push_back(dirsync_op());
  EXPECT_EQ(content(cut(synced, Choice::nothing()) / "b"), "old a");
}

TEST_F(RebuildTest, AnUnlinkWithoutADirectorySyncMayBeUndone) {
  put(snapshot() / "wal", "frames");
  const std::vector<LogOp> ops{unlink_op("wal")};
  EXPECT_EQ(content(cut(ops, Choice::nothing()) / "wal"), "frames");
  EXPECT_FALSE(fs::exists(cut(ops, Choice::everything()) / "wal"));
}

TEST_F(RebuildTest, EntryChangesSurviveInOrder) {
  put(snapshot() / "a", "A");
  put(snapshot() / "c", "C");
  const std::vector<LogOp> ops{rename_op("a", "b"), unlink_op("c")};
  for (std::uint64_t seed = 0; seed < 32; ++seed) {
    const auto out = cut(ops, Choice::random(seed));
    EXPECT_FALSE(!fs::exists(out / "c") && fs::exists(out / "a")) << "the unlink without the rename before it";
  }
}

TEST_F(RebuildTest, UnorderedEntryChangesSurviveInAnySubset) {
  put(snapshot() / "a", "A");
  put(snapshot() / "c", "C");
  const std::vector<LogOp> ops{rename_op("a", "b"), unlink_op("c")};
  bool unlink_without_rename = false;
  for (std::uint64_t seed = 0; seed < 32; ++seed) {
    const auto out = cut(ops, Choice::random_unordered(seed));
    unlink_without_rename = unlink_without_rename || (!fs::exists(out / "c") && fs::exists(out / "a"));
  }
  EXPECT_TRUE(unlink_without_rename);
}

TEST_F(RebuildTest, ASnapshotFileOpenedAgainTakesItsWrites) {
  put(snapshot() / "db", std::string(1024, 'o'));
  const std::vector<LogOp> ops{open_op("db", 42, false), write_op(42, 512, std::string(512, 'n')), sync_op(42),
                               write_op(42, 0, std::string(512, 'u'))};
  EXPECT_EQ(content(cut(ops, Choice::nothing()) / "db"), std::string(512, 'o') + std::string(512, 'n'));
}

TEST_F(RebuildTest, ATruncationAfterTheLastSyncMayBeLost) {
  put(snapshot() / "log", std::string(2048, 'r'));
  const std::vector<LogOp> ops{open_op("log", 9, false), LogOp{OpKind::truncate, 9, 512, 0, 0, {}, {}, {}}};
  EXPECT_EQ(content(cut(ops, Choice::nothing()) / "log")->size(), 2048u);
  EXPECT_EQ(content(cut(ops, Choice::everything()) / "log")->size(), 512u);
}

TEST_F(RebuildTest, ZeroWritesNeedNoData) {
  LogOp zeros = write_op(5, 0, "");
  zeros.length = 4096;
  zeros.flags = kOpZeros;
  const std::vector<LogOp> ops{open_op("z", 5, true), zeros, sync_op(5), dirsync_op()};
  EXPECT_EQ(content(cut(ops, Choice::nothing()) / "z"), std::string(4096, '\0'));
}

TEST_F(RebuildTest, WhatTheModelDoesNotCoverIsRefused) {
  const std::vector<LogOp> mapped{open_op("tern.db", 1, true), LogOp{OpKind::mmap, 1, 0, 4096, 0, {}, {}, {}}};
  EXPECT_THROW(cut(mapped, Choice::nothing()), RebuildError);
  const std::vector<LogOp> shm{open_op("tern.db-shm", 1, true), LogOp{OpKind::mmap, 1, 0, 4096, 0, {}, {}, {}}};
  RebuildStats stats;
  cut(shm, Choice::nothing(), &stats);
  EXPECT_EQ(stats.shared_mappings, std::vector<std::string>{"tern.db-shm"});
  EXPECT_THROW(cut({open_op("never-made", 1, false)}, Choice::nothing()), RebuildError);
  EXPECT_THROW(cut({LogOp{OpKind::foreign, 0, 0, 0, 0, "x", {}, {}}}, Choice::nothing()), RebuildError);
}

TEST_F(RebuildTest, TheLogReaderDropsATailCutShortAndRefusesGarbage) {
  const fs::path log = dir_.path() / "ops.log";
  const auto ops = synced_then_written();
  std::string bytes;
  for (const auto& op : ops) bytes += encode_op(op);
  put(log, bytes.substr(0, bytes.size() - 100));
  const auto read = read_op_log(log);
  ASSERT_EQ(read.size(), ops.size() - 1);
  EXPECT_EQ(read[1].data, kSynced);
  EXPECT_EQ(read[2].kind, OpKind::sync);
  EXPECT_EQ(read[0].name, "log");
  EXPECT_EQ(read[0].flags, kOpCreated);
  put(log, "garbage that is longer than one record header, so it is read as one");
  EXPECT_THROW(read_op_log(log), RebuildError);
}

}  // namespace
}  // namespace tern::powercut
