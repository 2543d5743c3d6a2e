// An MQTT decoder for the test side: it reads the packets a server sends (3.1.1 and 5.0) and shares no code with
// broker/protocol, so that a mistake made the same way in Tern's encoder and decoder cannot pass the end-to-end
// tests. Written from the OASIS specifications (MQTT 3.1.1 section 2-3, MQTT 5.0 sections 1.5, 2 and 3; the
// property table is 5.0 section 2.2.2.2, Table 2-4), like conformance/mqtt_raw.py.
//
// It is strict where the specifications bind the server, so a badly formed reply fails the test that reads it:
//   - fixed header: the reserved flags of each packet type, a Remaining Length of at most four bytes, no packet type
//     a server never sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, 0; AUTH and DISCONNECT in 3.1.1);
//   - PUBLISH: QoS 3, DUP on QoS 0 and packet identifier 0 are refused;
//   - strings are well-formed UTF-8 without U+0000 (5.0 section 1.5.4, 3.1.1 section 1.5.3);
//   - properties: a known identifier, on a packet that may carry it, once unless it may repeat (User Property,
//     Subscription Identifier), ending exactly at the Property Length;
//   - no bytes after the last field.
// Reason codes are returned as read; which one is right is the test's question.
//
// Properties are kept generically, identifier -> value, in the order they came:
//
//   bytes 0x20 0x09 0x00 0x00 0x06 0x22 0x00 0x0A 0x21 0x00 0x14     (CONNACK, 5.0)
//   -> type 2, session_present false, reason 0,
//      properties {0x22 (Topic Alias Maximum): 10, 0x21 (Receive Maximum): 20}
//
// Thread safety: pure functions and plain value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tern::testsupport::wire {

// The protocol level byte of CONNECT.
inline constexpr std::uint8_t level_311 = 4;
inline constexpr std::uint8_t level_5 = 5;

// Control packet types (the high nibble of the first byte).
enum : std::uint8_t {
  CONNECT = 1,
  CONNACK,
  PUBLISH,
  PUBACK,
  PUBREC,
  PUBREL,
  PUBCOMP,
  SUBSCRIBE,
  SUBACK,
  UNSUBSCRIBE,
  UNSUBACK,
  PINGREQ,
  PINGRESP,
  DISCONNECT,
  AUTH,
};

// Property identifiers (5.0 Table 2-4).
namespace prop {
inline constexpr std::uint8_t payload_format_indicator = 0x01;           // byte
inline constexpr std::uint8_t message_expiry_interval = 0x02;            // four-byte integer
inline constexpr std::uint8_t content_type = 0x03;                       // UTF-8 string
inline constexpr std::uint8_t response_topic = 0x08;                     // UTF-8 string
inline constexpr std::uint8_t correlation_data = 0x09;                   // binary data
inline constexpr std::uint8_t subscription_identifier = 0x0B;            // variable byte integer, repeatable
inline constexpr std::uint8_t session_expiry_interval = 0x11;            // four-byte integer
inline constexpr std::uint8_t assigned_client_identifier = 0x12;         // UTF-8 string
inline constexpr std::uint8_t server_keep_alive = 0x13;                  // two-byte integer
inline constexpr std::uint8_t authentication_method = 0x15;              // UTF-8 string
inline constexpr std::uint8_t authentication_data = 0x16;                // binary data
inline constexpr std::uint8_t request_problem_information = 0x17;        // byte (client only)
inline constexpr std::uint8_t will_delay_interval = 0x18;                // four-byte integer (will only)
inline constexpr std::uint8_t request_response_information = 0x19;       // byte (client only)
inline constexpr std::uint8_t response_information = 0x1A;               // UTF-8 string
inline constexpr std::uint8_t server_reference = 0x1C;                   // UTF-8 string
inline constexpr std::uint8_t reason_string = 0x1F;                      // UTF-8 string
inline constexpr std::uint8_t receive_maximum = 0x21;                    // two-byte integer
inline constexpr std::uint8_t topic_alias_maximum = 0x22;                // two-byte integer
inline constexpr std::uint8_t topic_alias = 0x23;                        // two-byte integer
inline constexpr std::uint8_t maximum_qos = 0x24;                        // byte
inline constexpr std::uint8_t retain_available = 0x25;                   // byte
inline constexpr std::uint8_t user_property = 0x26;                      // UTF-8 string pair, repeatable
inline constexpr std::uint8_t maximum_packet_size = 0x27;                // four-byte integer
inline constexpr std::uint8_t wildcard_subscription_available = 0x28;    // byte
inline constexpr std::uint8_t subscription_identifier_available = 0x29;  // byte
inline constexpr std::uint8_t shared_subscription_available = 0x2A;      // byte
}  // namespace prop

// Integers (byte, two, four, variable byte) are widened to uint32; strings and binary data are bytes; a User
// Property is a pair.
using PropertyValue = std::variant<std::uint32_t, std::string, std::pair<std::string, std::string>>;

struct Property {
  std::uint8_t id = 0;
  PropertyValue value;
  bool operator==(const Property&) const = default;
};

struct PropertyList {
  std::vector<Property> items;  // in wire order

  bool has(std::uint8_t id) const;
  std::optional<std::uint32_t> integer(std::uint8_t id) const;     // the first one with this id
  std::optional<std::string> text(std::uint8_t id) const;          // string or binary
  std::vector<std::uint32_t> integers(std::uint8_t id) const;      // every one (Subscription Identifier)
  std::vector<std::pair<std::string, std::string>> pairs() const;  // every User Property, in order
  bool operator==(const PropertyList&) const = default;
};

// One server packet; the fields its type does not have keep their defaults.
struct Packet {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;  // low nibble of the first byte
  // CONNACK
  bool session_present = false;
  // CONNACK return code (3.1.1) or Reason Code (5.0); PUBACK..PUBCOMP, DISCONNECT, AUTH: 0 when omitted.
  std::uint8_t reason = 0;
  // PUBLISH
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string topic;
  std::string payload;
  // PUBLISH (QoS > 0), PUBACK..PUBCOMP, SUBACK, UNSUBACK
  std::uint16_t packet_id = 0;
  // SUBACK, UNSUBACK (5.0): one per filter
  std::vector<std::uint8_t> reasons;
  PropertyList properties;  // 5.0
  bool operator==(const Packet&) const = default;
};

struct DecodeResult {
  enum class Status { incomplete, packet, error } status = Status::incomplete;
  Packet packet;
  std::size_t consumed = 0;  // bytes of the packet, when status == packet
  std::string error;         // why, when status == error
};

// Decodes the first packet in `bytes`, sent by a server speaking `level` (level_311 or level_5).
DecodeResult decode(std::string_view bytes, std::uint8_t level);

const char* packet_name(std::uint8_t type);

}  // namespace tern::testsupport::wire
