// decode(): one packet from the front of a byte buffer, for MQTT 3.1, 3.1.1 and 5.0, in both directions.
//
// The fixed header is checked first (type, flags, remaining length, max_packet_size), then the body is decoded by
// a function per packet type working on a Reader limited to the remaining length, so a field running past the
// packet is malformed_packet and never reads the next packet's bytes.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/codec_internal.hpp"

namespace tern::protocol {
namespace {

using detail::PropertyContext;
using detail::Reader;

constexpr ReasonCode ok = ReasonCode::success;
constexpr ReasonCode malformed = ReasonCode::malformed_packet;

// The reason codes each 5.0 packet may carry (spec 5.0 sections 3.2.2.2, 3.4.2.1, ...). A value outside its
// packet's set is malformed_packet.
class ReasonSet {
 public:
  constexpr ReasonSet(std::initializer_list<std::uint8_t> codes) {
    for (std::uint8_t c : codes) bits_[c / 64] |= std::uint64_t{1} << (c % 64);
  }
  constexpr bool contains(std::uint8_t c) const { return (bits_[c / 64] >> (c % 64)) & 1u; }

 private:
  std::array<std::uint64_t, 4> bits_{};
};

constexpr ReasonSet connack_reasons{0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                    0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
constexpr ReasonSet puback_reasons{0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};  // PUBACK, PUBREC
constexpr ReasonSet pubrel_reasons{0x00, 0x92};                                            // PUBREL, PUBCOMP
constexpr ReasonSet suback_reasons{0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
constexpr ReasonSet unsuback_reasons{0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
constexpr ReasonSet disconnect_reasons{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                       0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                       0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
constexpr ReasonSet auth_reasons{0x00, 0x18, 0x19};
constexpr ReasonSet suback_311_codes{0x00, 0x01, 0x02, 0x80};

bool read_reason(Reader& r, const ReasonSet& allowed, ReasonCode& out) {
  std::uint8_t b = 0;
  if (!r.read_u8(b) || !allowed.contains(b)) return false;
  out = static_cast<ReasonCode>(b);
  return true;
}

bool valid_qos(std::uint8_t q) { return q <= 2; }

ReasonCode decode_connect(Reader& r, Connect& c) {
  std::string_view name;
  std::uint8_t level = 0;
  if (!r.read_binary(name) || !r.read_u8(level)) return malformed;
  // mosquitto's bridges announce themselves with the top bit of the level set ("try_private", on by default), for
  // 3.1 and 3.1.1; mosquitto accepts it, and so does Tern.
  if ((level == 0x83 && name == "MQIsdp") || (level == 0x84 && name == "MQTT")) {
    c.bridge = true;
    level &= 0x7F;
  }
  if (name == "MQTT" && (level == 4 || level == 5)) {
    c.version = static_cast<Version>(level);
  } else if (name == "MQIsdp" && level == 3) {
    c.version = Version::v31;
  } else {
    return ReasonCode::unsupported_protocol_version;
  }
  const bool v5 = c.version == Version::v5;

  std::uint8_t flags = 0;
  if (!r.read_u8(flags) || !r.read_u16(c.keep_alive)) return malformed;
  if (flags & 0x01) return malformed;  // [MQTT-3.1.2-3]
  c.clean_start = (flags & 0x02) != 0;
  const bool will = (flags & 0x04) != 0;
  const std::uint8_t will_qos = (flags >> 3) & 0x03;
  const bool will_retain = (flags & 0x20) != 0;
  const bool has_password = (flags & 0x40) != 0;
  const bool has_username = (flags & 0x80) != 0;
  // No will: Will QoS and Will Retain 0 (3.1.1 [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]; 5.0 [MQTT-3.1.2-11],
  // [MQTT-3.1.2-13]).
  if (!will && (will_qos != 0 || will_retain)) return malformed;
  if (!valid_qos(will_qos)) return malformed;                  // 3.1.1 [MQTT-3.1.2-14], 5.0 [MQTT-3.1.2-12]
  if (!v5 && has_password && !has_username) return malformed;  // 3.1.1 [MQTT-3.1.2-22]

  if (v5) {
    if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::connect, c.properties); rc != ok) return rc;
  }
  std::string_view s;
  if (!r.read_utf8(s)) return malformed;
  c.client_id.assign(s);
  if (will) {
    Will& w = c.will.emplace();
    w.qos = static_cast<QoS>(will_qos);
    w.retain = will_retain;
    if (v5) {
      if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::will, w.properties); rc != ok) return rc;
    }
    std::string_view payload;
    if (!r.read_utf8(s) || !r.read_binary(payload)) return malformed;
    w.topic.assign(s);
    w.payload.assign(payload);
  }
  if (has_username) {
    if (!r.read_utf8(s)) return malformed;
    c.username.emplace(s);
  }
  if (has_password) {
    if (!r.read_binary(s)) return malformed;
    c.password.emplace(s);
  }
  return r.empty() ? ok : malformed;
}

ReasonCode decode_connack(Reader& r, Version version, Connack& c) {
  std::uint8_t flags = 0, code = 0;
  if (!r.read_u8(flags) || !r.read_u8(code)) return malformed;
  if (version == Version::v31) {
    // 3.1: the first byte is reserved and unused; there is no session-present flag.
    if (code > 5) return malformed;
    c.reason_code = static_cast<ReasonCode>(code);
    return r.empty() ? ok : malformed;
  }
  if (flags & 0xFE) return malformed;  // reserved bits (5.0 [MQTT-3.2.2-1]; 3.1.1 section 3.2.2.1)
  c.session_present = (flags & 0x01) != 0;
  if (version == Version::v311) {
    if (code > 5) return malformed;  // 6..255 are reserved return codes
    c.reason_code = static_cast<ReasonCode>(code);
    return r.empty() ? ok : malformed;
  }
  if (!connack_reasons.contains(code)) return malformed;
  c.reason_code = static_cast<ReasonCode>(code);
  if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::connack, c.properties); rc != ok) return rc;
  return r.empty() ? ok : malformed;
}

ReasonCode decode_publish(Reader& r, std::uint8_t flags, Version version, Publish& p) {
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<QoS>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  std::string_view topic;
  if (!r.read_utf8(topic)) return malformed;
  p.topic.assign(topic);
  if (p.qos != QoS::at_most_once) {
    if (!r.read_u16(p.packet_id)) return malformed;
    if (p.packet_id == 0) return ReasonCode::protocol_error;  // [MQTT-2.3.1-1]
  }
  if (version == Version::v5) {
    if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::publish, p.properties); rc != ok) return rc;
  }
  p.payload.assign(r.take_rest());
  return ok;
}

// PUBACK, PUBREC, PUBREL, PUBCOMP. 5.0: remaining length 2 = success without properties, 3 = reason code only,
// 4 or more = reason code and properties.
template <typename Ack>
ReasonCode decode_ack(Reader& r, Version version, const ReasonSet& reasons, Ack& a) {
  if (!r.read_u16(a.packet_id)) return malformed;
  if (version != Version::v5 || r.empty()) return r.empty() ? ok : malformed;
  if (!read_reason(r, reasons, a.reason_code)) return malformed;
  if (r.empty()) return ok;
  if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::ack, a.properties); rc != ok) return rc;
  return r.empty() ? ok : malformed;
}

// Subscription options byte. 3.1/3.1.1: requested QoS only, upper six bits reserved. 5.0: QoS, no local,
// retain as published, retain handling, bits 6-7 reserved.
ReasonCode decode_options(std::uint8_t b, Version version, Subscription& s) {
  if (!valid_qos(b & 0x03)) return malformed;
  s.max_qos = static_cast<QoS>(b & 0x03);
  if (version != Version::v5) return (b & 0xFC) ? malformed : ok;  // [MQTT-3-8.3-4] (3.1.1)
  if (b & 0xC0) return malformed;                                  // [MQTT-3.8.3-5]
  s.no_local = (b & 0x04) != 0;
  s.retain_as_published = (b & 0x08) != 0;
  s.retain_handling = (b >> 4) & 0x03;
  return s.retain_handling == 3 ? ReasonCode::protocol_error : ok;
}

ReasonCode decode_subscribe(Reader& r, Version version, Subscribe& s) {
  if (!r.read_u16(s.packet_id)) return malformed;
  if (s.packet_id == 0) return ReasonCode::protocol_error;  // [MQTT-2.3.1-1]
  if (version == Version::v5) {
    if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::subscribe, s.properties); rc != ok) {
      return rc;
    }
  }
  if (r.empty()) return ReasonCode::protocol_error;  // 3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]
  while (!r.empty()) {
    std::string_view filter;
    std::uint8_t options = 0;
    if (!r.read_utf8(filter) || !r.read_u8(options)) return malformed;
    Subscription& sub = s.subscriptions.emplace_back();
    sub.filter.assign(filter);
    if (const ReasonCode rc = decode_options(options, version, sub); rc != ok) return rc;
  }
  return ok;
}

ReasonCode decode_suback(Reader& r, Version version, Suback& s) {
  if (!r.read_u16(s.packet_id)) return malformed;
  const bool v5 = version == Version::v5;
  if (v5) {
    if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::suback, s.properties); rc != ok) return rc;
  }
  if (r.empty()) return ReasonCode::protocol_error;  // one code per topic filter, and a SUBSCRIBE has at least one
  s.reason_codes.reserve(r.remaining());
  while (!r.empty()) {
    if (!read_reason(r, v5 ? suback_reasons : suback_311_codes, s.reason_codes.emplace_back())) return malformed;
  }
  return ok;
}

ReasonCode decode_unsubscribe(Reader& r, Version version, Unsubscribe& u) {
  if (!r.read_u16(u.packet_id)) return malformed;
  if (u.packet_id == 0) return ReasonCode::protocol_error;  // [MQTT-2.3.1-1]
  if (version == Version::v5) {
    if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::unsubscribe, u.properties); rc != ok) {
      return rc;
    }
  }
  if (r.empty()) return ReasonCode::protocol_error;  // [MQTT-3.10.3-2]
  while (!r.empty()) {
    std::string_view filter;
    if (!r.read_utf8(filter)) return malformed;
    u.filters.emplace_back(filter);
  }
  return ok;
}

ReasonCode decode_unsuback(Reader& r, Version version, Unsuback& u) {
  if (!r.read_u16(u.packet_id)) return malformed;
  if (version != Version::v5) return r.empty() ? ok : malformed;
  if (const ReasonCode rc = detail::decode_properties(r, PropertyContext::unsuback, u.properties); rc != ok) return rc;
  if (r.empty()) return ReasonCode::protocol_error;  // one code per topic filter
  u.reason_codes.reserve(r.remaining());
  while (!r.empty()) {
    if (!read_reason(r, unsuback_reasons, u.reason_codes.emplace_back())) return malformed;
  }
  return ok;
}

// DISCONNECT and AUTH (5.0): remaining length 0 = success, 1 = reason code only, more = reason code + properties.
template <typename T>
ReasonCode decode_reason_and_properties(Reader& r, const ReasonSet& reasons, PropertyContext context, T& t) {
  if (r.empty()) return ok;
  if (!read_reason(r, reasons, t.reason_code)) return malformed;
  if (r.empty()) return ok;
  if (const ReasonCode rc = detail::decode_properties(r, context, t.properties); rc != ok) return rc;
  return r.empty() ? ok : malformed;
}

// Required fixed-header flag bits per packet type (3.1.1 [MQTT-2.2.2-1], [MQTT-2.2.2-2]; 5.0 [MQTT-2.1.3-1]);
// PUBLISH is checked apart.
constexpr std::array<std::uint8_t, 16> required_flags = {0, 0, 0, 0, 0, 0, 0b0010, 0, 0b0010, 0, 0b0010, 0, 0, 0, 0, 0};

// Sentinel for "need more bytes" inside decode_into(); never a wire reason code here.
constexpr ReasonCode need_more = ReasonCode::success;

template <typename T, typename F>
ReasonCode decode_body(DecodeResult& result, F&& f) {
  T& packet = result.packet.emplace<T>();
  if (const ReasonCode rc = f(packet); rc != ok) return rc;
  result.status = DecodeResult::Status::packet;
  return ok;
}

// Fills `result` with a packet (status packet) or leaves it at need_more; returns the error otherwise. Kept apart
// from decode() so that decode() returns one named object and the packet is built in place, never moved.
ReasonCode decode_into(std::string_view data, Version version, std::uint32_t max_packet_size, DecodeResult& result) {
  if (data.empty()) return need_more;
  const auto first = static_cast<std::uint8_t>(data[0]);
  const auto type = static_cast<std::uint8_t>(first >> 4);
  const auto flags = static_cast<std::uint8_t>(first & 0x0F);
  if (type == 0) return malformed;
  if (type == static_cast<std::uint8_t>(PacketType::auth) && version != Version::v5) return malformed;
  if (type == static_cast<std::uint8_t>(PacketType::publish)) {
    const std::uint8_t qos = (flags >> 1) & 0x03;
    if (qos == 3) return malformed;                         // [MQTT-3.3.1-4]
    if (qos == 0 && (flags & 0x08) != 0) return malformed;  // [MQTT-3.3.1-2]
  } else if (flags != required_flags[type]) {
    // MQTT 3.1 (protocol level 3) sets DUP when it resends PUBREL, SUBSCRIBE or UNSUBSCRIBE, as 3.1 defines; 3.1.1
    // and 5.0 fix those flags (3.1.1 [MQTT-2.2.2-1], [MQTT-2.2.2-2]), so the leniency is for 3.1 alone.
    const bool v31_dup = version == Version::v31 && flags == (required_flags[type] | 0x08) &&
                         (type == static_cast<std::uint8_t>(PacketType::pubrel) ||
                          type == static_cast<std::uint8_t>(PacketType::subscribe) ||
                          type == static_cast<std::uint8_t>(PacketType::unsubscribe));
    if (!v31_dup) return malformed;
  }

  // Remaining length: a variable byte integer of at most 4 bytes.
  std::uint32_t remaining = 0;
  std::size_t header = 1;
  for (;;) {
    if (header == data.size()) return need_more;
    const auto b = static_cast<std::uint8_t>(data[header]);
    remaining |= std::uint32_t{b & 0x7Fu} << (7 * (header - 1));
    ++header;
    if ((b & 0x80) == 0) break;
    if (header == 5) return malformed;
  }
  const std::size_t total = header + remaining;
  if (max_packet_size != 0 && total > max_packet_size) return ReasonCode::packet_too_large;
  if (data.size() < total) return need_more;

  Reader r(data.data() + header, remaining);
  result.consumed = total;
  switch (static_cast<PacketType>(type)) {
    case PacketType::connect:
      return decode_body<Connect>(result, [&](Connect& p) { return decode_connect(r, p); });
    case PacketType::connack:
      return decode_body<Connack>(result, [&](Connack& p) { return decode_connack(r, version, p); });
    case PacketType::publish:
      return decode_body<Publish>(result, [&](Publish& p) { return decode_publish(r, flags, version, p); });
    case PacketType::puback:
      return decode_body<Puback>(result, [&](Puback& p) { return decode_ack(r, version, puback_reasons, p); });
    case PacketType::pubrec:
      return decode_body<Pubrec>(result, [&](Pubrec& p) { return decode_ack(r, version, puback_reasons, p); });
    case PacketType::pubrel:
      return decode_body<Pubrel>(result, [&](Pubrel& p) { return decode_ack(r, version, pubrel_reasons, p); });
    case PacketType::pubcomp:
      return decode_body<Pubcomp>(result, [&](Pubcomp& p) { return decode_ack(r, version, pubrel_reasons, p); });
    case PacketType::subscribe:
      return decode_body<Subscribe>(result, [&](Subscribe& p) { return decode_subscribe(r, version, p); });
    case PacketType::suback:
      return decode_body<Suback>(result, [&](Suback& p) { return decode_suback(r, version, p); });
    case PacketType::unsubscribe:
      return decode_body<Unsubscribe>(result, [&](Unsubscribe& p) { return decode_unsubscribe(r, version, p); });
    case PacketType::unsuback:
      return decode_body<Unsuback>(result, [&](Unsuback& p) { return decode_unsuback(r, version, p); });
    case PacketType::pingreq:
      return decode_body<Pingreq>(result, [&](Pingreq&) { return r.empty() ? ok : malformed; });
    case PacketType::pingresp:
      return decode_body<Pingresp>(result, [&](Pingresp&) { return r.empty() ? ok : malformed; });
    case PacketType::disconnect:
      return decode_body<Disconnect>(result, [&](Disconnect& p) {
        if (version != Version::v5) return r.empty() ? ok : malformed;
        return decode_reason_and_properties(r, disconnect_reasons, PropertyContext::disconnect, p);
      });
    case PacketType::auth:
      return decode_body<Auth>(
          result, [&](Auth& p) { return decode_reason_and_properties(r, auth_reasons, PropertyContext::auth, p); });
  }
  return malformed;
}

}  // namespace

DecodeResult decode(std::string_view data, Version version, std::uint32_t max_packet_size) {
  DecodeResult result;
  if (const ReasonCode rc = decode_into(data, version, max_packet_size, result); rc != ok) {
    result.status = DecodeResult::Status::error;
    result.error = rc;
    result.consumed = 0;
    result.packet = Packet{};
  }
  return result;
}

}  // namespace tern::protocol
