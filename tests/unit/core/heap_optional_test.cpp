// HeapOptional: std::optional's value semantics, with the value on the heap.
#include "broker/core/heap_optional.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace tern::core {
namespace {

TEST(HeapOptional, EmptyUntilSet) {
  HeapOptional<std::string> a;
  EXPECT_FALSE(a);
  EXPECT_FALSE(a.has_value());
  a = std::string("will");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, "will");
  EXPECT_EQ(a->size(), 4u);
  a.reset();
  EXPECT_FALSE(a);
  a.emplace() = "again";
  EXPECT_EQ(*a, "again");
  a = std::nullopt;
  EXPECT_FALSE(a);
}

TEST(HeapOptional, CopiesAreDeepAndCompareByValue) {
  HeapOptional<std::string> a(std::string("x"));
  HeapOptional<std::string> b = a;
  EXPECT_EQ(a, b);
  *b += "y";
  EXPECT_EQ(*a, "x");  // not shared
  EXPECT_FALSE(a == b);
  b = a;
  EXPECT_EQ(*b, "x");
  EXPECT_NE(&*a, &*b);
  EXPECT_FALSE(a == HeapOptional<std::string>());
  EXPECT_EQ(HeapOptional<std::string>(), HeapOptional<std::string>());
}

TEST(HeapOptional, AMovedFromOneIsEmpty) {
  HeapOptional<std::string> a(std::string("x"));
  const std::string* value = &*a;
  HeapOptional<std::string> b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
  EXPECT_EQ(&*b, value);  // the value itself moved, not a copy
}

}  // namespace
}  // namespace tern::core
