// RFC 3339 UTC times (broker/core/utc_time.hpp): written with milliseconds, read back with or without fractions, and
// nothing else accepted.
#include "broker/core/utc_time.hpp"

#include <gtest/gtest.h>

namespace tern::core {
namespace {

TEST(UtcTime, WrittenWithMilliseconds) {
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_utc(1796515200123), "2026-12-06T00:00:00.123Z");
}

TEST(UtcTime, ReadBack) {
  EXPECT_EQ(parse_rfc3339_utc("2026-12-06T00:00:00Z"), 1796515200000);
  EXPECT_EQ(parse_rfc3339_utc("2026-12-06T00:00:00.5Z"), 1796515200500);
  EXPECT_EQ(parse_rfc3339_utc(rfc3339_utc(1796515200123)), 1796515200123);
  EXPECT_FALSE(parse_rfc3339_utc("2026-12-06T00:00:00+01:00"));
  EXPECT_FALSE(parse_rfc3339_utc("2026-12-06T00:00:00.1234Z"));
  EXPECT_FALSE(parse_rfc3339_utc("yesterday"));
}

}  // namespace
}  // namespace tern::core
