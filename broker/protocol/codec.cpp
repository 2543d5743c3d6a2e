// Primitives shared by the decoder and the encoders: variable byte integers and UTF-8 validation.
// The packet codecs live in codec_decode.cpp, codec_encode.cpp, codec_publish.cpp and properties.cpp.
#include "broker/protocol/codec.hpp"

#include <cstdint>
#include <cstring>

namespace tern::protocol {

void encode_varint(std::uint32_t value, std::string& out) {
  char buf[5];
  std::size_t n = 0;
  do {
    auto b = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value != 0) b |= 0x80;
    buf[n++] = static_cast<char>(b);
  } while (value != 0);
  out.append(buf, n);
}

std::size_t varint_size(std::uint32_t value) noexcept {
  if (value < 128) return 1;
  if (value < 16'384) return 2;
  if (value < 2'097'152) return 3;
  if (value < 268'435'456) return 4;
  return 5;
}

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  while (p != end) {
    // Fast path: eight ASCII bytes at a time, none of them NUL.
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      constexpr std::uint64_t high = 0x8080808080808080ULL;
      constexpr std::uint64_t ones = 0x0101010101010101ULL;
      if ((w & high) == 0 && ((w - ones) & ~w & high) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == 0) return false;  // [MQTT-1.5.4-2]
      ++p;
      continue;
    }
    // Well-formed sequences per Unicode table 3-7: no overlong forms, no surrogates (ED A0..BF), nothing above
    // U+10FFFF.
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < len) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += len;
  }
  return true;
}

}  // namespace tern::protocol
