// Bytes <-> packets for MQTT 3.1, 3.1.1 and 5.0. No clocks, no I/O, no allocation beyond the packet itself.
//
// decode() looks at the front of a byte buffer and returns one of: need more bytes, one packet (and how many bytes
// it took), or an error that is exactly the reason code the broker puts in its DISCONNECT/CONNACK:
//   malformed_packet   bad remaining length, a field running past the end, invalid UTF-8 or U+0000 in a string,
//                      reserved flag bits set, QoS 3, a property not allowed in this packet, ...
//   protocol_error     a property repeated that may appear once, a packet type not valid from a client, ...
//   packet_too_large   the total packet size exceeds max_packet_size (reported as soon as the fixed header is
//                      complete, before the body arrives).
//   unsupported_protocol_version  CONNECT with an unknown protocol name/level (the broker answers with CONNACK).
//
// Worked example (3.1.1 PINGREQ):  decode("\xC0\x00", v311, 0) -> {packet, consumed=2, Pingreq{}}
//                                  decode("\xC0", v311, 0)     -> {need_more}
//
// Thread safety: stateless functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "broker/protocol/packets.hpp"

namespace tern::protocol {

// Largest value a variable byte integer can hold (268,435,455): the protocol's maximum remaining length.
inline constexpr std::uint32_t max_remaining_length = 268'435'455;

struct DecodeResult {
  enum class Status : std::uint8_t { need_more, packet, error };
  Status status = Status::need_more;
  std::size_t consumed = 0;                          // bytes used by the packet (status == packet)
  Packet packet;                                     // status == packet
  ReasonCode error = ReasonCode::success;            // status == error
};

// Decodes one packet from the front of `data`.
// `version` is the connection's protocol version; a CONNECT carries its own and is decoded by it.
// `max_packet_size`: largest total packet size (fixed header included) accepted; 0 means the protocol maximum.
DecodeResult decode(std::string_view data, Version version, std::uint32_t max_packet_size);

// Appends the wire form of `packet` for `version` to `out`.
void encode(const Packet& packet, Version version, std::string& out);
std::string encode(const Packet& packet, Version version);

// Property block contents (no length prefix), present properties in ascending id order, user properties last.
void encode_properties(const Properties& properties, std::string& out);

// The broker's PUBLISH fast path: writes a PUBLISH from parts, so a message stored once can be sent to many
// subscribers without building a Publish (and copying its payload) per delivery.
struct PublishView {
  std::string_view topic;  // empty when only a topic alias is sent (5.0)
  std::string_view payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  // 5.0 only. Property bytes forwarded verbatim (already encoded with encode_properties), followed by the
  // per-delivery ones below.
  std::string_view encoded_properties;
  std::optional<std::uint32_t> message_expiry_interval;
  std::optional<std::uint16_t> topic_alias;
  std::span<const std::uint32_t> subscription_identifiers;
};

// Total bytes encode_publish() will write (to compare with a client's Maximum Packet Size).
std::size_t publish_size(const PublishView& publish, Version version);
void encode_publish(const PublishView& publish, Version version, std::string& out);

// A relay's fast path (the bridge passing on what the broker sent its local client): the PUBLISH at the front of
// `data`, read in place into `view` (encoded_properties: the property block's contents, without its length).
// Returns the bytes it takes, or 0 when the front is not one whole PUBLISH of that kind: incomplete, malformed,
// another packet, or one whose properties carry a topic alias or subscription identifiers (values of one
// connection, which a relay must not pass on); decode() it then. Strings are not checked for UTF-8: the bytes are
// the broker's own encoding.
std::size_t read_publish_view(std::string_view data, Version version, PublishView& view) noexcept;

// Variable byte integer helpers (spec 1.5.5), exposed for tests and the load generator.
void encode_varint(std::uint32_t value, std::string& out);
std::size_t varint_size(std::uint32_t value) noexcept;

// True if `s` is well-formed UTF-8 without U+0000 and without surrogates ([MQTT-1.5.4-1], [MQTT-1.5.4-2]).
bool valid_utf8(std::string_view s) noexcept;

}  // namespace tern::protocol
