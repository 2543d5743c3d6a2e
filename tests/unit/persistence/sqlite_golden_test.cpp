// Golden database files (STYLE.md rule 12): each file in golden/ is opened as DIR/tern.db.
//
//   v1.db          known_batches() written by schema version 1: migrates to the latest and loads known_snapshot()
//   v2.db          known_batches() written by schema version 2, journal compacted: loads known_snapshot()
//   v2-journal.db  the same, left with its journal (journal record format 1) uncompacted, as after a crash: opening
//                  applies the journal, then it loads known_snapshot()
//   v3.db          known_batches() written by schema version 3, journal compacted: loads known_snapshot()
//   v3-journal.db  the same, left uncompacted; its journal is in v3-journal.db-commitlog (commit_log.hpp, record
//                  "TCL1"), installed beside it as tern.db-commitlog
//   garbage.db     4 KiB of pseudo-random bytes: not a SQLite file
//   truncated.db   the first half of v1.db
//   schema99.db    v1.db claiming schema version 99
//   foreign.db     a SQLite database with someone else's table and no schema_version
// Each unusable one is moved aside, byte for byte, and the store starts empty.
//
// The files are made by the GoldenFiles.DISABLED_Generate* tests below (run one only when adding a file of its
// kind; never regenerate a file of an older schema version: it must stay what that version wrote), e.g.:
//   build/tests/tern_persistence_tests --gtest_also_run_disabled_tests
//       --gtest_filter=GoldenFiles.DISABLED_GenerateVersion2
// v1.db was written by the generator of schema version 1 (commit 6c5a2df); the unusable files derive from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <regex>

#include "known_content.hpp"
#include "persistence/sqlite_schema.hpp"
#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

const fs::path kGolden = fs::path(TERN_SOURCE_DIR) / "tests/unit/persistence/golden";

// Copies golden/`name` to a fresh directory as tern.db, and golden/`name`-commitlog, if there is one, beside it.
fs::path install(const TempDir& dir, const std::string& name) {
  const auto db = dir / "tern.db";
  fs::copy_file(kGolden / name, db);
  if (const auto log = kGolden / (name + kCommitLogSuffix); fs::exists(log)) {
    fs::copy_file(log, db.string() + kCommitLogSuffix);
  }
  return db;
}

class LoadableGoldenFile : public ::testing::TestWithParam<std::string> {};

TEST_P(LoadableGoldenFile, MigratesAndLoadsItsKnownContent) {
  TempDir dir;
  const auto db = install(dir, GetParam());
  {
    SqliteStore store({.directory = dir.path()});
    EXPECT_FALSE(store.moved_aside());
    expect_snapshot_eq(store.load(), known_snapshot());
    store.submit(batch(op::PutSession{session("new")}), {});  // and the migrated store works
  }
  EXPECT_EQ(sql(db, "SELECT version FROM schema_version"), std::to_string(latest_schema_version()));
  EXPECT_EQ(sql(db, "SELECT count(*) FROM journal"), "0");
  EXPECT_EQ(journal_count(db), "0");
  EXPECT_EQ(sql(db, "SELECT count(*) FROM sessions"), "3");
}

INSTANTIATE_TEST_SUITE_P(Golden, LoadableGoldenFile,
                         ::testing::Values("v1.db", "v2.db", "v2-journal.db", "v3.db", "v3-journal.db"),
                         [](const auto& info) {
                           auto name = info.param.substr(0, info.param.find('.'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(GoldenFiles, TheJournalFilesReallyHoldAnUncompactedJournal) {
  TempDir dir;
  const auto v2 = install(dir, "v2-journal.db");
  EXPECT_NE(sql(v2, "SELECT count(*) FROM journal"), "0");
  EXPECT_EQ(sql(v2, "SELECT count(*) FROM sessions"), "0");
  TempDir dir3;
  const auto v3 = install(dir3, "v3-journal.db");
  EXPECT_EQ(sql(v3, "SELECT count(*) FROM journal"), "0");
  EXPECT_EQ(journal_count(v3), std::to_string(known_batches().size()));  // a record per batch, in the log
  EXPECT_EQ(sql(v3, "SELECT count(*) FROM sessions"), "0");
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

// Writes known_batches() with the current schema to golden/`name`; `compact`: false leaves the journal as a crash
// would.
void generate(const std::string& name, bool compact) {
  TempDir dir;
  {
    SqliteStore store({.directory = dir.path(), .compact_on_close = compact});
    for (auto& b : known_batches()) {
      store.submit(std::move(b), {});
      store.flush();  // a journal row per batch
    }
  }
  const auto rows = journal_rows(dir / "tern.db");
  shrink(dir / "tern.db");
  write_file(kGolden / name, read_file(dir / "tern.db"));
  if (!rows.empty()) {  // the log's records only, without the zeros ahead of them
    const auto log = read_file(dir / (std::string("tern.db") + kCommitLogSuffix));
    write_file(kGolden / (name + kCommitLogSuffix), log.substr(0, rows.back().end));
  }
}

TEST(GoldenFiles, DISABLED_GenerateVersion3) {
  ASSERT_EQ(latest_schema_version(), 3);
  generate("v3.db", true);
  generate("v3-journal.db", false);
}

// The unusable files, from v1.db.
TEST(GoldenFiles, DISABLED_GenerateUnusable) {
  TempDir dir;
  const auto v1_bytes = read_file(kGolden / "v1.db");
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
