// The test-only switches (persistence/test_switches.hpp): read from the environment, each exactly as documented, and
// nothing changed without them.
#include "persistence/test_switches.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

namespace tern::persistence {
namespace {

class TestSwitchesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("TERN_TEST_SKIP_FDATASYNC");
    ::unsetenv("TERN_TEST_COMPACT_OPS");
  }
};

TEST_F(TestSwitchesTest, WithoutThemNothingChanges) {
  SqliteOptions options;
  apply_test_switches(options);
  const SqliteOptions defaults;
  EXPECT_FALSE(options.skip_commit_log_sync);
  EXPECT_EQ(options.journal_compact_ops, defaults.journal_compact_ops);
  EXPECT_EQ(options.commit_log_bytes, defaults.commit_log_bytes);
}

TEST_F(TestSwitchesTest, SkipFdatasyncNamesTheCommitLog) {
  ::setenv("TERN_TEST_SKIP_FDATASYNC", "wal", 1);
  SqliteOptions other;
  apply_test_switches(other);
  EXPECT_FALSE(other.skip_commit_log_sync);
  ::setenv("TERN_TEST_SKIP_FDATASYNC", "commit-log", 1);
  SqliteOptions options;
  apply_test_switches(options);
  EXPECT_TRUE(options.skip_commit_log_sync);
}

TEST_F(TestSwitchesTest, CompactOpsScaleTheJournalAndTheLog) {
  ::setenv("TERN_TEST_COMPACT_OPS", "200", 1);
  SqliteOptions options;
  apply_test_switches(options);
  EXPECT_EQ(options.journal_compact_ops, 200u);
  EXPECT_EQ(options.journal_keep_ops, 50u);
  EXPECT_EQ(options.commit_log_bytes, 200u * 64);
  EXPECT_EQ(options.commit_log_grow_bytes, 4096u);
  ::setenv("TERN_TEST_COMPACT_OPS", "3", 1);  // out of range: ignored
  SqliteOptions small;
  apply_test_switches(small);
  EXPECT_EQ(small.journal_compact_ops, SqliteOptions{}.journal_compact_ops);
}

}  // namespace
}  // namespace tern::persistence
