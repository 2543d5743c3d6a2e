// Golden database files (STYLE.md rule 12): each file in golden/ is opened as DIR/tern.db.
//
//   v1.db          known_batches() written by schema version 1: opens and loads known_snapshot()
//   garbage.db     4 KiB of pseudo-random bytes: not a SQLite file
//   truncated.db   the first half of v1.db
//   schema99.db    v1.db claiming schema version 99
//   foreign.db     a SQLite database with someone else's table and no schema_version
// Each unusable one is moved aside, byte for byte, and the store starts empty.
//
// The files are made by GoldenFiles.DISABLED_Generate below (run it only when adding a file; never regenerate v1.db
// after schema version 2 exists, since v1.db must stay a version 1 file):
//   build-store/tests/tern_persistence_tests --gtest_also_run_disabled_tests
//       --gtest_filter=GoldenFiles.DISABLED_Generate
#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "known_content.hpp"
#include "persistence/sqlite_schema.hpp"
#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

const fs::path kGolden = fs::path(TERN_SOURCE_DIR) / "tests/unit/persistence/golden";

// Copies golden/`name` to a fresh directory as tern.db.
fs::path install(const TempDir& dir, const std::string& name) {
  const auto db = dir / "tern.db";
  fs::copy_file(kGolden / name, db);
  return db;
}

TEST(GoldenFiles, Version1LoadsItsKnownContent) {
  TempDir dir;
  const auto db = install(dir, "v1.db");
  {
    SqliteStore store({.directory = dir.path()});
    EXPECT_FALSE(store.moved_aside());
    expect_snapshot_eq(store.load(), known_snapshot());
  }
  EXPECT_EQ(sql(db, "SELECT version FROM schema_version"), std::to_string(latest_schema_version()));
}

class UnusableGoldenFile : public ::testing::TestWithParam<std::string> {};

TEST_P(UnusableGoldenFile, IsMovedAsideByteForByteAndTheStoreStartsEmpty) {
  TempDir dir;
  const auto original = read_file(kGolden / GetParam());
  ASSERT_FALSE(original.empty());
  install(dir, GetParam());

  SqliteStore store({.directory = dir.path()});
  ASSERT_TRUE(store.moved_aside());
  EXPECT_TRUE(
      std::regex_match(store.moved_aside()->filename().string(), std::regex(R"(tern\.db\.corrupt-\d{8}-\d{6})")))
      << *store.moved_aside();
  EXPECT_EQ(read_file(*store.moved_aside()), original);

  const auto snap = store.load();
  EXPECT_TRUE(snap.sessions.empty());
  EXPECT_TRUE(snap.messages.empty());
  EXPECT_EQ(snap.next_message_id, 1u);
  store.submit(batch(op::PutSession{session("new")}), {});  // and the new store works
  EXPECT_EQ(store.load().sessions, std::vector{session("new")});
}

INSTANTIATE_TEST_SUITE_P(Golden, UnusableGoldenFile,
                         ::testing::Values("garbage.db", "truncated.db", "schema99.db", "foreign.db"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

TEST(GoldenFiles, AnEmptyFileIsANewStore) {
  TempDir dir;
  write_file(dir / "tern.db", "");
  SqliteStore store({.directory = dir.path()});
  EXPECT_FALSE(store.moved_aside());
  EXPECT_TRUE(store.load().sessions.empty());
}

TEST(GoldenFiles, AMovedAsideFileTakesItsWalAlongAndTwoNeverCollide) {
  TempDir dir;
  std::vector<fs::path> moved;
  for (int i = 0; i < 2; ++i) {  // usually within one second: the second gets a ".1" suffix
    install(dir, "garbage.db");
    write_file(dir / "tern.db-wal", "stale wal");
    {
      SqliteStore store({.directory = dir.path()});
      ASSERT_TRUE(store.moved_aside());
      moved.push_back(*store.moved_aside());
    }
    EXPECT_EQ(read_file(moved.back().string() + "-wal"), "stale wal");
    EXPECT_EQ(read_file(moved.back()), read_file(kGolden / "garbage.db"));
    fs::remove(dir / "tern.db");
  }
  EXPECT_NE(moved[0], moved[1]);
}

void shrink(const fs::path& db) {
  // Smaller pages keep the golden files small; the store reads any page size.
  sql_script(db, "PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024; VACUUM; PRAGMA journal_mode = WAL;");
}

TEST(GoldenFiles, DISABLED_Generate) {
  fs::create_directories(kGolden);
  TempDir dir;
  {
    SqliteStore store({.directory = dir.path()});
    for (auto& b : known_batches()) store.submit(std::move(b), {});
  }
  const auto v1 = dir / "tern.db";
  shrink(v1);
  const auto v1_bytes = read_file(v1);
  write_file(kGolden / "v1.db", v1_bytes);
  write_file(kGolden / "truncated.db", v1_bytes.substr(0, v1_bytes.size() / 2));

  std::mt19937 rng(20240601);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng() & 0xff);
  write_file(kGolden / "garbage.db", garbage);

  const auto v99 = dir / "schema99.db";
  write_file(v99, v1_bytes);
  sql_script(v99, "PRAGMA journal_mode = DELETE; UPDATE schema_version SET version = 99; PRAGMA journal_mode = WAL;");
  write_file(kGolden / "schema99.db", read_file(v99));

  const auto foreign = dir / "foreign.db";
  sql_script(foreign,
             "PRAGMA page_size = 1024; CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT);"
             "INSERT INTO notes(text) VALUES ('someone else''s database');");
  write_file(kGolden / "foreign.db", read_file(foreign));
}

}  // namespace
}  // namespace tern::persistence::test
