#include "persistence/snapshot_check.hpp"

#include <gtest/gtest.h>

#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

TEST(DropDangling, DropsReferencesToMissingMessagesAndMessagesNobodyReferences) {
  core::StoreSnapshot snap;
  snap.messages = {message(7, "t"), message(8, "u")};
  snap.queue = {entry("s", 1, 7), entry("s", 2, 9)};
  snap.retained = {{"t", 7}, {"v", 10}};
  snap.next_message_id = 11;
  EXPECT_EQ(drop_dangling(snap), 3u);
  EXPECT_EQ(message_ids(snap), std::vector<std::uint64_t>{7});
  EXPECT_EQ(snap.queue, std::vector{entry("s", 1, 7)});
  EXPECT_EQ(snap.retained, (std::vector<core::StoredRetained>{{"t", 7}}));
  EXPECT_EQ(snap.next_message_id, 11u);
}

TEST(DropDangling, LeavesAConsistentSnapshotAlone) {
  core::StoreSnapshot snap;
  snap.messages = {message(1, "t"), message(2, "u")};
  snap.queue = {entry("s", 1, 1)};
  snap.retained = {{"u", 2}};
  const auto before = snap.queue;
  EXPECT_EQ(drop_dangling(snap), 0u);
  EXPECT_EQ(snap.queue, before);
  EXPECT_EQ(snap.messages.size(), 2u);
}

}  // namespace
}  // namespace tern::persistence::test
