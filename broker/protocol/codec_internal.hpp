// Helpers shared by the codec's source files (codec*.cpp, properties.cpp). Not part of the public API.
//
// Reading: a Reader walks a byte range and every read either succeeds or leaves the caller to report
// malformed_packet (a field running past its end is the only way a read fails, apart from invalid UTF-8).
// Writing: the encoders compute every size first, reserve the output once, then append with put_*.
//
// Thread safety: stateless functions; a Reader is a plain cursor owned by one decode() call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/protocol/codec.hpp"

namespace tern::protocol::detail {

// Which packet (or part of a CONNECT) a property block belongs to: decides which properties it may carry
// (5.0 spec table 2-4). PUBACK, PUBREC, PUBREL and PUBCOMP allow the same set and share `ack`.
enum class PropertyContext : std::uint8_t {
  connect,
  will,
  connack,
  publish,
  ack,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

class Reader {
 public:
  Reader(const char* data, std::size_t size) noexcept
      : p_(reinterpret_cast<const unsigned char*>(data)), end_(p_ + size) {}

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  bool empty() const noexcept { return p_ == end_; }

  bool read_u8(std::uint8_t& v) noexcept {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  bool read_u16(std::uint16_t& v) noexcept {
    if (remaining() < 2) return false;
    v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  bool read_u32(std::uint32_t& v) noexcept {
    if (remaining() < 4) return false;
    v = (std::uint32_t{p_[0]} << 24) | (std::uint32_t{p_[1]} << 16) | (std::uint32_t{p_[2]} << 8) | p_[3];
    p_ += 4;
    return true;
  }
  // Variable byte integer (at most 4 bytes).
  bool read_varint(std::uint32_t& v) noexcept {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      if (p_ == end_) return false;
      const std::uint8_t b = *p_++;
      value |= std::uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80u) == 0) {
        v = value;
        return true;
      }
    }
    return false;
  }
  // Two-byte length followed by that many bytes.
  bool read_binary(std::string_view& v) noexcept {
    std::uint16_t len = 0;
    if (!read_u16(len) || remaining() < len) return false;
    v = take(len);
    return true;
  }
  // As read_binary, and the bytes must be valid UTF-8 (valid_utf8()).
  bool read_utf8(std::string_view& v) noexcept { return read_binary(v) && valid_utf8(v); }

  // Callers check remaining() first.
  std::string_view take(std::size_t n) noexcept {
    std::string_view v(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return v;
  }
  std::string_view take_rest() noexcept { return take(remaining()); }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
};

inline void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, std::uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)};
  out.append(b, 2);
}
inline void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xFF),
                     static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
  out.append(b, 4);
}
// Two-byte length prefix and the bytes. Callers keep strings under 65,536 bytes (the protocol's limit).
inline void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}
inline std::size_t string_size(std::string_view s) noexcept { return 2 + s.size(); }

// Fixed header: first byte and remaining length.
inline void put_fixed_header(std::string& out, std::uint8_t first, std::size_t remaining_length) {
  put_u8(out, first);
  encode_varint(static_cast<std::uint32_t>(remaining_length), out);
}
inline std::size_t packet_size(std::size_t remaining_length) noexcept {
  return 1 + varint_size(static_cast<std::uint32_t>(remaining_length)) + remaining_length;
}

// Properties (properties.cpp).
// Reads a property block (length prefix and contents) into `out` and checks it against `context`:
// unknown or not-allowed property -> malformed_packet, repeated or out-of-range value -> protocol_error.
ReasonCode decode_properties(Reader& reader, PropertyContext context, Properties& out);
// Size of encode_properties() output (without the length prefix).
std::size_t properties_size(const Properties& properties) noexcept;
// Length prefix plus contents.
inline std::size_t property_block_size(const Properties& properties) noexcept {
  const std::size_t n = properties_size(properties);
  return varint_size(static_cast<std::uint32_t>(n)) + n;
}
inline void put_property_block(std::string& out, const Properties& properties) {
  encode_varint(static_cast<std::uint32_t>(properties_size(properties)), out);
  encode_properties(properties, out);
}

// The one PUBLISH writer (codec_publish.cpp). `extra`, when given, is written (encode_properties form) after
// view.encoded_properties; encode(Publish) passes its properties this way so no temporary buffer is needed.
std::size_t publish_size(const PublishView& view, const Properties* extra, Version version) noexcept;
void encode_publish(const PublishView& view, const Properties* extra, Version version, std::string& out);

}  // namespace tern::protocol::detail
