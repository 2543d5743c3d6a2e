// A WebSocket client's frames (RFC 6455 section 5.2), written for the tests independently of the broker's
// decoder, so that a mistake made the same way in both fails the tests. Header only.
#pragma once

#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::testsupport {

// A frame as a client sends it: masked unless told otherwise. `rsv`: the RSV bits (0x40 is RSV1, compression).
inline std::string websocket_frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool masked = true,
                                   std::uint8_t rsv = 0) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | rsv | opcode));
  const std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size()));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>(static_cast<std::uint64_t>(payload.size()) >> shift));
    }
  }
  const char mask[4] = {0x37, static_cast<char>(0xFA), 0x21, 0x3D};
  if (masked) out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    out.push_back(masked ? static_cast<char>(payload[i] ^ mask[i % 4]) : payload[i]);
  }
  return out;
}

// A close frame's payload code as a server sends it (unmasked): 88 02 HI LO.
inline std::string websocket_close_frame(std::uint16_t code) {
  return std::string{static_cast<char>(0x88), 2, static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
}

// What a browser does with permessage-deflate (RFC 7692): a raw deflate of the message with a sync flush, the
// 00 00 FF FF tail left off the wire.
inline std::string websocket_deflate(std::string_view message, int window_bits = 15) {
  namespace zlib = boost::beast::zlib;
  zlib::deflate_stream d;
  d.reset(6, window_bits, 8, zlib::Strategy::normal);
  std::string out(d.upper_bound(message.size()) + 64, '\0');
  zlib::z_params z;
  z.next_in = message.data();
  z.avail_in = message.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  boost::beast::error_code error;
  d.write(z, zlib::Flush::sync, error);
  out.resize(out.size() - z.avail_out);
  if (out.size() >= 4 && out.ends_with(std::string_view("\x00\x00\xFF\xFF", 4))) out.resize(out.size() - 4);
  return out;
}

// A compressed message's payload inflated (the tail put back), up to 1 MiB.
inline std::string websocket_inflate(std::string_view compressed) {
  namespace zlib = boost::beast::zlib;
  zlib::inflate_stream i;
  std::string in(compressed);
  in.append("\x00\x00\xFF\xFF", 4);
  std::string out(1 << 20, '\0');
  zlib::z_params z;
  z.next_in = in.data();
  z.avail_in = in.size();
  z.next_out = out.data();
  z.avail_out = out.size();
  boost::beast::error_code error;
  i.write(z, zlib::Flush::sync, error);
  out.resize(out.size() - z.avail_out);
  return out;
}

}  // namespace tern::testsupport
