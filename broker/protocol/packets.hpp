// One struct per MQTT control packet, and `Packet`, the variant of all of them.
//
// These are the decoded forms used by both protocol versions: fields that exist only in MQTT 5.0 (reason codes on
// acknowledgements, properties, subscription options beyond QoS) are ignored when encoding for 3.1.1 and left at
// their defaults when decoding 3.1.1. Strings hold raw bytes (payloads, passwords and correlation data are binary).
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "broker/protocol/properties.hpp"
#include "broker/protocol/reason_codes.hpp"

namespace tern::protocol {

// The protocol level byte of CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.
enum class Version : std::uint8_t { v31 = 3, v311 = 4, v5 = 5 };

enum class QoS : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

enum class PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

struct Will {
  std::string topic;
  std::string payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  Properties properties;  // 5.0 will properties (will delay, message expiry, content type, ...)

  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::v311;  // the protocol name ("MQTT" or "MQIsdp") follows from it
  // A mosquitto bridge's "try_private": the protocol level with its top bit set (0x83, 0x84) says the client is a
  // bridge (see Broker: its own messages are not sent back to it, retain flags reach it as published).
  bool bridge = false;
  // Not on the wire: the broker's own client (a bridge's local half, a service such as the history query), which
  // has no socket to go quiet; max_keepalive imposes no keep alive on it.
  bool local = false;
  bool clean_start = true;       // "clean session" in 3.1.1
  std::uint16_t keep_alive = 0;  // seconds
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  Properties properties;

  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  // 5.0 reason code; for 3.1.1 it is mapped with to_connack_311() when encoding, and decoded 3.1.1 return codes are
  // stored as their numeric value (0..5) cast to ReasonCode.
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;

  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;  // may be empty in 5.0 when a topic alias is used
  std::string payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // 0 (absent) for QoS 0
  Properties properties;

  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. In 5.0 the reason code and properties are omitted on the wire
// when the reason is success and there are no properties.
struct Puback {
  std::uint16_t packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
  bool operator==(const Puback&) const = default;
};
struct Pubrec {
  std::uint16_t packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
  bool operator==(const Pubrec&) const = default;
};
struct Pubrel {
  std::uint16_t packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
  bool operator==(const Pubrel&) const = default;
};
struct Pubcomp {
  std::uint16_t packet_id = 0;
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
  bool operator==(const Pubcomp&) const = default;
};

// Retain handling (5.0 subscription option): 0 send retained on subscribe, 1 only if the subscription is new,
// 2 never.
struct Subscription {
  std::string filter;
  QoS max_qos = QoS::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;

  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;
  Properties properties;  // subscription identifier, user properties
  bool operator==(const Subscribe&) const = default;
};

// Reason codes per subscription. For 3.1.1 the return codes are 0x00, 0x01, 0x02 and 0x80, which are also valid
// 5.0 reason codes; any other error is encoded as 0x80 for 3.1.1.
struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<ReasonCode> reason_codes;
  Properties properties;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  Properties properties;
  bool operator==(const Unsubscribe&) const = default;
};

// 3.1.1 UNSUBACK has no payload; reason_codes are ignored when encoding for 3.1.1 and empty when decoding it.
struct Unsuback {
  std::uint16_t packet_id = 0;
  std::vector<ReasonCode> reason_codes;
  Properties properties;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;  // session expiry interval, reason string, server reference, user properties
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  ReasonCode reason_code = ReasonCode::success;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packet_type(const Packet& packet) noexcept;
const char* packet_type_name(PacketType type) noexcept;

// Readable one-line dumps for test failures, e.g. "PUBLISH(topic=a/b qos=1 id=7 len=5)". Defined in packet_print.cpp,
// which only the tests link (tern_protocol_print): the executable has no streams.
std::ostream& operator<<(std::ostream& os, const Packet& packet);

}  // namespace tern::protocol
