#include "persistence/store_files.hpp"

#include <gtest/gtest.h>

#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

using namespace std::chrono;

// 2024-01-31 23:59:59 UTC
const system_clock::time_point kWhen = system_clock::time_point(seconds(1706745599));

TEST(MoveAside, RenamesTheDatabaseAndItsCompanionsWithAUtcTimeStamp) {
  TempDir dir;
  write_file(dir / "tern.db", "db");
  write_file(dir / "tern.db-wal", "wal");
  const auto moved = move_aside(dir / "tern.db", kWhen);
  EXPECT_EQ(moved, dir / "tern.db.corrupt-20240131-235959");
  EXPECT_EQ(read_file(moved), "db");
  EXPECT_EQ(read_file(dir / "tern.db.corrupt-20240131-235959-wal"), "wal");
  EXPECT_FALSE(path_exists(dir / "tern.db"));
  EXPECT_FALSE(path_exists(dir / "tern.db-wal"));
  EXPECT_FALSE(path_exists(dir / "tern.db.corrupt-20240131-235959-shm"));
}

TEST(MoveAside, ACollisionGetsANumberedSuffix) {
  TempDir dir;
  for (const char* content : {"first", "second", "third"}) {
    write_file(dir / "tern.db", content);
    move_aside(dir / "tern.db", kWhen);
  }
  EXPECT_EQ(read_file(dir / "tern.db.corrupt-20240131-235959"), "first");
  EXPECT_EQ(read_file(dir / "tern.db.corrupt-20240131-235959.1"), "second");
  EXPECT_EQ(read_file(dir / "tern.db.corrupt-20240131-235959.2"), "third");
}

TEST(MoveAside, AMissingDatabaseMovesOnlyWhatExists) {
  TempDir dir;
  EXPECT_EQ(move_aside(dir / "tern.db", kWhen), fs::path());
  write_file(dir / "tern.db-shm", "shm");
  EXPECT_EQ(move_aside(dir / "tern.db", kWhen), dir / "tern.db.corrupt-20240131-235959-shm");
}

TEST(FsyncDirectory, WorksOnADirectoryAndFailsOnAMissingOne) {
  TempDir dir;
  EXPECT_NO_THROW(fsync_directory(dir.path()));
  EXPECT_THROW(fsync_directory(dir / "missing"), FileError);
}

TEST(EnsureDirectory, CreatesParentsAndAcceptsAnExistingDirectory) {
  TempDir dir;
  EXPECT_NO_THROW(ensure_directory(dir / "a" / "b"));
  EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  EXPECT_NO_THROW(ensure_directory(dir / "a" / "b"));
}

}  // namespace
}  // namespace tern::persistence::test
