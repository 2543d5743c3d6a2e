// Opening what a power cut left while the database was first created (found by the power-cut test,
// tests/integration/31_power_cut_test.cpp, PowerCutAtStart with seed 11): SQLite switches a new database to WAL
// through a rollback journal, and a cut after the journal was synced but before the database's first page was can
// leave the file at its new size with zeros in it. SQLite's journal restores it; Tern must not call it corrupt first.
#include <gtest/gtest.h>

#include <random>

#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

// The journal that cut left, as SQLite wrote it for a database of 0 pages (its header; the rest of the 512-byte
// sector is zeros).
std::string creation_journal() {
  const unsigned char header[] = {
      0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7,  // magic
      0x00, 0x00, 0x00, 0x00,                          // page records that follow: 0
      0x1d, 0x74, 0x0a, 0x69,                          // checksum nonce
      0x00, 0x00, 0x00, 0x00,                          // pages in the database before the transaction: 0
      0x00, 0x00, 0x02, 0x00,                          // sector size: 512
      0x00, 0x00, 0x10, 0x00,                          // page size: 4096
  };
  std::string journal(reinterpret_cast<const char*>(header), sizeof header);
  journal.resize(512, '\0');
  return journal;
}

TEST(SqliteOpenAfterPowerCut, ADatabaseWhoseCreationWasCutIsRestoredByItsJournalNotMovedAside) {
  TempDir dir;
  write_file(dir / "tern.db", std::string(4096, '\0'));
  write_file(dir / "tern.db-journal", creation_journal());
  {
    SqliteStore store({.directory = dir.path()});
    EXPECT_FALSE(store.moved_aside());
    store.submit(batch(op::PutSession{session("after")}), {});
    EXPECT_EQ(store.load().sessions.size(), 1u);
  }
  // Played back by SQLite: kept (journal_mode PERSIST), but no longer a journal to play back (its header zeroed).
  const auto journal = read_file(dir / "tern.db-journal");
  EXPECT_TRUE(journal.size() < 8 || journal.substr(0, 8) == std::string(8, '\0'));
}

TEST(SqliteOpenAfterPowerCut, AFileOfOtherBytesBesideAJournalIsStillMovedAside) {
  TempDir dir;
  std::mt19937 rng(26);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng() & 0xff);
  write_file(dir / "tern.db", garbage);
  write_file(dir / "tern.db-journal", creation_journal());
  SqliteStore store({.directory = dir.path()});
  ASSERT_TRUE(store.moved_aside());
  EXPECT_EQ(read_file(*store.moved_aside()), garbage);
}

TEST(SqliteOpenAfterPowerCut, ZerosWithoutAJournalAreStillMovedAside) {
  TempDir dir;
  write_file(dir / "tern.db", std::string(4096, '\0'));
  SqliteStore store({.directory = dir.path()});
  EXPECT_TRUE(store.moved_aside());
}

}  // namespace
}  // namespace tern::persistence::test
