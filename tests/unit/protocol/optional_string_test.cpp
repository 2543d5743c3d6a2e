// OptionalString behaves as std::optional<std::string> where Properties' users rely on it.
#include "broker/protocol/optional_string.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>

namespace tern::protocol {
namespace {

TEST(OptionalString, EmptyUntilAssignedAndEmptyAgainAfterReset) {
  OptionalString s;
  EXPECT_FALSE(s);
  EXPECT_FALSE(s.has_value());
  EXPECT_EQ(s, std::nullopt);
  EXPECT_EQ(s.value_or("fallback"), "fallback");
  EXPECT_THROW(s.value(), std::bad_optional_access);
  s = "text";
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "text");
  EXPECT_EQ(s->size(), 4u);
  EXPECT_EQ(s, "text");
  EXPECT_NE(s, "other");
  EXPECT_EQ(s.value_or("fallback"), "text");
  s = std::string(100, 'x');  // an assignment to a present value replaces it
  EXPECT_EQ(s->size(), 100u);
  s.reset();
  EXPECT_FALSE(s);
  s.emplace("abc", 2);
  EXPECT_EQ(s, "ab");
  s = std::nullopt;
  EXPECT_EQ(s, std::nullopt);
}

TEST(OptionalString, CopiesAreDeepAndMovesLeaveTheSourceEmpty) {
  OptionalString a = std::string("binary\0data", 11);
  OptionalString b = a;
  ASSERT_TRUE(b);
  *b += "!";
  EXPECT_EQ(a->size(), 11u);  // the copy has its own string
  EXPECT_NE(a, b);
  OptionalString c = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): a moved-from OptionalString is empty, as documented
  EXPECT_EQ(c->size(), 11u);
  b = c;
  EXPECT_EQ(b, c);
  b = OptionalString{};
  EXPECT_FALSE(b);
  EXPECT_EQ(OptionalString{}, OptionalString{});
  EXPECT_NE(OptionalString{""}, OptionalString{});  // present but empty is not absent
}

TEST(OptionalString, ComparesWithStdOptional) {
  const std::optional<std::string> some = "v", none;
  OptionalString s = some;
  EXPECT_EQ(s, some);
  EXPECT_NE(s, none);
  EXPECT_EQ(s.to_optional(), some);
  EXPECT_EQ(OptionalString(none), none);
  EXPECT_EQ(OptionalString(none).to_optional(), none);
}

}  // namespace
}  // namespace tern::protocol
