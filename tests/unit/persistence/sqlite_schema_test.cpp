// The schema version and the migration framework: an empty database is version 0 and migrates to the latest; a
// current one is left alone; foreign, ambiguous or newer ones are refused (the store then moves them aside).
#include "persistence/sqlite_schema.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

class SchemaTest : public ::testing::Test {
 protected:
  Database open() { return Database(dir_ / "tern.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); }
  TempDir dir_;
};

TEST_F(SchemaTest, AnEmptyDatabaseIsVersion0AndMigratesToTheLatest) {
  auto db = open();
  EXPECT_EQ(schema_version(db), 0);
  EXPECT_EQ(migrate(db), 0);
  EXPECT_EQ(schema_version(db), latest_schema_version());
  EXPECT_EQ(db.query_int("SELECT value FROM meta WHERE key = 'next_message_id'"), 1);
  EXPECT_EQ(migrate(db), latest_schema_version());  // nothing left to do
  EXPECT_EQ(db.query_int("SELECT count(*) FROM schema_version"), 1);
}

TEST_F(SchemaTest, ThisBuildWritesVersion3) { EXPECT_EQ(latest_schema_version(), 3); }

TEST_F(SchemaTest, ADatabaseWithOtherTablesAndNoSchemaVersionIsNotOurs) {
  auto db = open();
  db.exec("CREATE TABLE t(x)");
  EXPECT_THROW(schema_version(db), SchemaError);
  EXPECT_THROW(migrate(db), SchemaError);
}

TEST_F(SchemaTest, ANewerVersionIsRefusedAndLeftUntouched) {
  auto db = open();
  migrate(db);
  db.exec("UPDATE schema_version SET version = 99");
  EXPECT_THROW(migrate(db), SchemaError);
  EXPECT_EQ(db.query_int("SELECT version FROM schema_version"), 99);
}

TEST_F(SchemaTest, ZeroOrSeveralVersionRowsAreRefused) {
  auto db = open();
  migrate(db);
  db.exec("INSERT INTO schema_version(version) VALUES (1)");
  EXPECT_THROW(schema_version(db), SchemaError);
  db.exec("DELETE FROM schema_version");
  EXPECT_THROW(schema_version(db), SchemaError);
}

TEST_F(SchemaTest, AFailedStepLeavesTheDatabaseAtItsVersion) {
  auto db = open();
  db.exec("PRAGMA query_only = 1");  // every write of the 0 -> 1 step fails
  EXPECT_THROW(migrate(db), SqliteError);
  db.exec("PRAGMA query_only = 0");
  EXPECT_EQ(schema_version(db), 0);  // still empty: the step was rolled back as a whole
  EXPECT_EQ(migrate(db), 0);
  EXPECT_EQ(schema_version(db), latest_schema_version());
}

}  // namespace
}  // namespace tern::persistence::test
