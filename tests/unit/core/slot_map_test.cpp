// SlotMap: the broker's index of clients and of sessions by id.
#include "broker/core/slot_map.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

namespace tern::core {
namespace {

struct Thing {
  std::uint64_t id = 0;
  int value = 0;
};

TEST(SlotMap, AnErasedIdFindsNothingEvenWhenItsSlotIsTakenAgain) {
  SlotMap<std::unique_ptr<Thing>> map;
  const auto a = map.add(std::make_unique<Thing>(Thing{0, 1}));
  const auto b = map.add(std::make_unique<Thing>(Thing{0, 2}));
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  ASSERT_NE(map.find(a), nullptr);
  EXPECT_EQ(map.find(a)->id, a) << "add() names the object";
  EXPECT_EQ(map.find(b)->value, 2);
  map.erase(a);
  EXPECT_EQ(map.find(a), nullptr);
  EXPECT_EQ(map.size(), 1u);
  const auto c = map.add(std::make_unique<Thing>(Thing{0, 3}));
  EXPECT_EQ(static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(a)) << "the freed slot is reused";
  EXPECT_NE(c, a);
  EXPECT_EQ(map.find(a), nullptr) << "the old id does not find the slot's new object";
  EXPECT_EQ(map.find(c)->value, 3);
  map.erase(a);  // a stale id erases nothing
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.find(0), nullptr);
  EXPECT_EQ(map.find(c + 1000), nullptr) << "a slot past the end";
}

TEST(SlotMap, IdsAreNeverAlikeAndIterationSkipsEmptySlots) {
  std::vector<Thing> things(100);
  SlotMap<Thing*> map;
  std::set<std::uint64_t> seen;
  std::vector<std::uint64_t> ids;
  for (int round = 0; round < 50; ++round) {
    for (auto& t : things) ids.push_back(map.add(&t));
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_TRUE(seen.insert(ids[i]).second) << "id given twice";
      if (i % 3 != 0) map.erase(ids[i]);
    }
    int visited = 0;
    for (Thing* t : map) {
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(map.find(t->id), t);
      ++visited;
    }
    EXPECT_EQ(static_cast<std::size_t>(visited), map.size());
    for (std::size_t i = 0; i < ids.size(); i += 3) map.erase(ids[i]);
    EXPECT_EQ(map.size(), 0u);
    ids.clear();
  }
}

}  // namespace
}  // namespace tern::core
