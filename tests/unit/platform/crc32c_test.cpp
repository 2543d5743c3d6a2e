// CRC-32C: published check values, chaining, and the hardware path agreeing with the tables. Where this machine (or
// emulator) has no CRC instructions, crc32c() is the tables too and the comparison still checks the dispatch.
#include "platform/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace tern::platform {
namespace {

std::vector<std::byte> filled(std::size_t n, std::byte value) { return std::vector<std::byte>(n, value); }

std::vector<std::byte> random_bytes(std::size_t n, std::mt19937& rng) {
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
  return out;
}

TEST(Crc32c, KnownVectors) {
  std::vector<std::byte> ascending(32);
  for (std::size_t i = 0; i < ascending.size(); ++i) ascending[i] = static_cast<std::byte>(i);

  struct Case {
    const char* name;
    std::span<const std::byte> data;
    std::uint32_t crc;
  };
  const std::string_view check = "123456789";
  const auto zeros = filled(32, std::byte{0x00});
  const auto ones = filled(32, std::byte{0xFF});
  const Case cases[] = {
      {"empty", {}, 0x00000000},
      {"123456789", std::as_bytes(std::span{check.data(), check.size()}), 0xE3069283},
      {"32 x 0x00 (RFC 3720 B.4)", zeros, 0x8A9136AA},
      {"32 x 0xFF (RFC 3720 B.4)", ones, 0x62A8AB43},
      {"0..31 (RFC 3720 B.4)", ascending, 0x46DD794E},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(crc32c(c.data), c.crc);
    EXPECT_EQ(crc32c_portable(c.data), c.crc);
  }
  EXPECT_EQ(crc32c(check), 0xE3069283u);  // the string_view overload
  EXPECT_EQ(crc32c(std::string_view{}), 0u);
}

TEST(Crc32c, ChainsAtEverySplit) {
  std::mt19937 rng{42};
  const auto data = random_bytes(100, rng);
  const std::span<const std::byte> all{data};
  const std::uint32_t whole = crc32c(all);
  ASSERT_EQ(whole, crc32c_portable(all));
  for (std::size_t split = 0; split <= all.size(); ++split) {
    SCOPED_TRACE(split);
    const auto a = all.first(split);
    const auto b = all.subspan(split);
    EXPECT_EQ(crc32c(b, crc32c(a)), whole);
    EXPECT_EQ(crc32c_portable(b, crc32c_portable(a)), whole);
    EXPECT_EQ(crc32c_portable(b, crc32c(a)), whole);  // the paths can be mixed mid-stream
  }
  // Three pieces, and the string_view overload chaining the same way.
  EXPECT_EQ(crc32c(all.subspan(57), crc32c(all.subspan(13, 44), crc32c(all.first(13)))), whole);
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xE3069283u);
}

TEST(Crc32c, HardwareMatchesPortable) {
  RecordProperty("crc32c_hardware", crc32c_hardware() ? "yes" : "no");
  std::mt19937 rng{7};
  // Room for the largest length at every offset; offsets 0..15 start the data off any 8- or 16-byte boundary.
  constexpr std::size_t kMaxOffset = 15;
  const auto buffer = random_bytes((1u << 20) + 13 + kMaxOffset, rng);
  const std::span<const std::byte> all{buffer};

  for (std::size_t length = 0; length <= 300; ++length) {
    for (std::size_t offset = 0; offset <= kMaxOffset; ++offset) {
      const auto piece = all.subspan(offset, length);
      ASSERT_EQ(crc32c(piece), crc32c_portable(piece)) << "length " << length << " offset " << offset;
      // A nonzero starting value exercises the chaining input of both paths too.
      const std::uint32_t seed = static_cast<std::uint32_t>(rng());
      ASSERT_EQ(crc32c(piece, seed), crc32c_portable(piece, seed)) << "length " << length << " offset " << offset;
    }
  }
  const std::size_t large_lengths[] = {4096, 4099, 65536 + 7, (1u << 20) + 13};
  const std::size_t large_offsets[] = {0, 1, 3, kMaxOffset};
  for (const std::size_t length : large_lengths) {
    for (const std::size_t offset : large_offsets) {
      const auto piece = all.subspan(offset, length);
      EXPECT_EQ(crc32c(piece), crc32c_portable(piece)) << "length " << length << " offset " << offset;
    }
  }
}

}  // namespace
}  // namespace tern::platform
