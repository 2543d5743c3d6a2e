// Helpers for the codec tests: byte strings from integer lists, and the two-way check every wire example goes
// through (decode(bytes) == packet consuming exactly the packet, encode(packet) == bytes, every strict prefix is
// need_more).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::protocol::test {

inline std::string bytes(std::initializer_list<int> values) {
  std::string s;
  s.reserve(values.size());
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

inline std::string hex(std::string_view s) {
  std::ostringstream os;
  static const char* digits = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    os << digits[c >> 4] << digits[c & 0xF] << ' ';
  }
  return os.str();
}

// With TERN_FUZZ_SEEDS naming a folder (scripts/fuzz.sh sets it), every wire example checked below is also written
// there, as a seed for tests/fuzz/fuzz_codec.cpp: that target's first byte (the version), then the bytes.
inline void save_fuzz_seed(const std::string& wire, Version version) {
  const char* dir = std::getenv("TERN_FUZZ_SEEDS");
  if (dir == nullptr || *dir == '\0') return;
  const char first = version == Version::v31 ? 0 : version == Version::v311 ? 1 : 2;
  const std::string seed = first + wire;
  std::ofstream(std::string(dir) + "/codec-" + std::to_string(std::hash<std::string>{}(seed)), std::ios::binary)
      << seed;
}

// decode(wire) == packet with consumed == wire.size(), also with another packet's bytes behind it; every strict
// prefix of wire is need_more; encode(packet) == wire.
inline void expect_round_trip(const std::string& wire, const Packet& packet, Version version) {
  save_fuzz_seed(wire, version);
  const DecodeResult r = decode(wire, version, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet) << "error " << static_cast<int>(r.error);
  EXPECT_EQ(r.consumed, wire.size());
  EXPECT_EQ(r.packet, packet);

  const DecodeResult followed = decode(wire + bytes({0xC0, 0x00}), version, 0);
  ASSERT_EQ(followed.status, DecodeResult::Status::packet);
  EXPECT_EQ(followed.consumed, wire.size());
  EXPECT_EQ(followed.packet, packet);

  const DecodeResult exact_limit = decode(wire, version, static_cast<std::uint32_t>(wire.size()));
  EXPECT_EQ(exact_limit.status, DecodeResult::Status::packet);

  for (std::size_t n = 0; n < wire.size(); ++n) {
    const DecodeResult partial = decode(std::string_view(wire).substr(0, n), version, 0);
    EXPECT_EQ(partial.status, DecodeResult::Status::need_more) << "prefix of " << n << " bytes";
  }

  EXPECT_EQ(hex(encode(packet, version)), hex(wire));
  std::string appended = "xy";
  encode(packet, version, appended);
  EXPECT_EQ(appended, "xy" + wire);
}

// Decoding `wire` fails with exactly `expected`.
inline void expect_error(const std::string& wire, Version version, ReasonCode expected) {
  save_fuzz_seed(wire, version);
  const DecodeResult r = decode(wire, version, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::error) << hex(wire);
  EXPECT_EQ(static_cast<int>(r.error), static_cast<int>(expected))
      << reason_code_name(r.error) << " instead of " << reason_code_name(expected) << " for " << hex(wire);
}

}  // namespace tern::protocol::test
