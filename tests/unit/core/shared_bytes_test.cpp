// SharedBytes: owned bytes from a string, or bytes shared with (and kept alive by) their owner.
#include "broker/core/shared_bytes.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tern::core {
namespace {

TEST(SharedBytes, FromAStringOwnsACopy) {
  std::string source = "a payload longer than the small-string buffer";
  const SharedBytes bytes(source);
  source.assign(source.size(), 'x');
  EXPECT_EQ(bytes.view(), "a payload longer than the small-string buffer");
  const SharedBytes short_one("ab");
  EXPECT_EQ(short_one.size(), 2u);
  EXPECT_EQ(short_one, std::string_view("ab"));
}

TEST(SharedBytes, SharedBytesKeepTheirOwnerAliveWithoutACopy) {
  auto owner = std::make_shared<const std::string>("the broker's message payload");
  const SharedBytes shared(owner, *owner);
  EXPECT_EQ(shared.data(), owner->data());  // the same bytes, not a copy
  const std::weak_ptr<const std::string> watch = owner;
  owner.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(shared.view(), "the broker's message payload");
  {
    const SharedBytes copy = shared;  // NOLINT(performance-unnecessary-copy-initialization): shares, too
    EXPECT_EQ(copy.data(), shared.data());
  }
  EXPECT_FALSE(watch.expired());
}

TEST(SharedBytes, EqualityComparesTheBytesNotTheirOwners) {
  auto owner = std::make_shared<const std::string>("same");
  EXPECT_EQ(SharedBytes(owner, *owner), SharedBytes("same"));
  EXPECT_NE(SharedBytes("same"), SharedBytes("other"));
  EXPECT_EQ(SharedBytes(), SharedBytes(std::string()));
  EXPECT_TRUE(SharedBytes(std::string()).empty());
}

}  // namespace
}  // namespace tern::core
