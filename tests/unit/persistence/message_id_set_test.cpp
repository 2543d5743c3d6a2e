// MessageIdSet: the writer's open-addressing set of message ids.
#include "persistence/message_id_set.hpp"

#include <gtest/gtest.h>

namespace tern::persistence {
namespace {

TEST(MessageIdSet, HoldsWhatWasInsertedOnceAcrossGrowth) {
  MessageIdSet ids;
  EXPECT_TRUE(ids.empty());
  EXPECT_FALSE(ids.contains(1));
  for (std::uint64_t id = 1; id <= 5000; ++id) ids.insert(id * 3);
  for (std::uint64_t id = 1; id <= 5000; ++id) ids.insert(id * 3);  // again: no change
  EXPECT_EQ(ids.size(), 5000u);
  for (std::uint64_t id = 1; id <= 15000; ++id) EXPECT_EQ(ids.contains(id), id % 3 == 0) << id;
  EXPECT_FALSE(ids.contains(0));  // 0 is never an id
}

TEST(MessageIdSet, IdsThatCollideAreAllKept) {
  MessageIdSet ids;
  // Far-apart ids, whose hashes share low bits with those of others.
  for (std::uint64_t k = 1; k <= 64; ++k) ids.insert(k << 40);
  for (std::uint64_t k = 1; k <= 64; ++k) EXPECT_TRUE(ids.contains(k << 40));
  EXPECT_FALSE(ids.contains(65ULL << 40));
  EXPECT_EQ(ids.size(), 64u);
}

}  // namespace
}  // namespace tern::persistence
