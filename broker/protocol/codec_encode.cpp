// encode(): every packet type for MQTT 3.1, 3.1.1 and 5.0. Each writer computes the remaining length first, reserves
// the output once, then appends. PUBLISH goes through the one PUBLISH writer in codec_publish.cpp.
#include <cstdint>
#include <string>
#include <variant>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/codec_internal.hpp"

namespace tern::protocol {
namespace {

using detail::packet_size;
using detail::property_block_size;
using detail::put_fixed_header;
using detail::put_property_block;
using detail::put_string;
using detail::put_u16;
using detail::put_u8;
using detail::string_size;

constexpr std::uint8_t first_byte(PacketType type, std::uint8_t flags = 0) {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) | flags);
}

void begin(std::string& out, std::uint8_t first, std::size_t remaining_length) {
  out.reserve(out.size() + packet_size(remaining_length));
  put_fixed_header(out, first, remaining_length);
}

void encode_one(const Connect& c, Version, std::string& out) {
  // The version written is the CONNECT's own, as decode() takes it from the CONNECT.
  const bool v5 = c.version == Version::v5;
  const std::string_view name = c.version == Version::v31 ? "MQIsdp" : "MQTT";
  std::size_t rl = string_size(name) + 1 + 1 + 2 + string_size(c.client_id);
  if (v5) rl += property_block_size(c.properties);
  if (c.will) {
    rl += string_size(c.will->topic) + string_size(c.will->payload);
    if (v5) rl += property_block_size(c.will->properties);
  }
  if (c.username) rl += string_size(*c.username);
  if (c.password) rl += string_size(*c.password);

  std::uint8_t flags = 0;
  if (c.clean_start) flags |= 0x02;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<std::uint8_t>(static_cast<std::uint8_t>(c.will->qos) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;

  begin(out, first_byte(PacketType::connect), rl);
  put_string(out, name);
  put_u8(out, static_cast<std::uint8_t>(static_cast<std::uint8_t>(c.version) | (c.bridge && !v5 ? 0x80 : 0)));
  put_u8(out, flags);
  put_u16(out, c.keep_alive);
  if (v5) put_property_block(out, c.properties);
  put_string(out, c.client_id);
  if (c.will) {
    if (v5) put_property_block(out, c.will->properties);
    put_string(out, c.will->topic);
    put_string(out, c.will->payload);
  }
  if (c.username) put_string(out, *c.username);
  if (c.password) put_string(out, *c.password);
}

void encode_one(const Connack& c, Version version, std::string& out) {
  if (version != Version::v5) {
    begin(out, first_byte(PacketType::connack), 2);
    put_u8(out, version == Version::v311 && c.session_present ? 1 : 0);  // 3.1 has no session-present flag
    put_u8(out, static_cast<std::uint8_t>(to_connack_311(c.reason_code)));
    return;
  }
  begin(out, first_byte(PacketType::connack), 2 + property_block_size(c.properties));
  put_u8(out, c.session_present ? 1 : 0);
  put_u8(out, static_cast<std::uint8_t>(c.reason_code));
  put_property_block(out, c.properties);
}

void encode_one(const Publish& p, Version version, std::string& out) {
  PublishView view;
  view.topic = p.topic;
  view.payload = p.payload;
  view.qos = p.qos;
  view.retain = p.retain;
  view.dup = p.dup;
  view.packet_id = p.packet_id;
  detail::encode_publish(view, &p.properties, version, out);
}

// PUBACK, PUBREC, PUBREL, PUBCOMP. 5.0 omits the reason code and properties when the reason is success and there
// are no properties, and the properties alone when there are none.
template <typename Ack>
void encode_ack(const Ack& a, PacketType type, std::uint8_t flags, Version version, std::string& out) {
  const std::size_t props = version == Version::v5 ? detail::properties_size(a.properties) : 0;
  const bool with_reason = version == Version::v5 && (a.reason_code != ReasonCode::success || props != 0);
  const std::size_t rl =
      2 + (with_reason ? 1 : 0) + (props != 0 ? varint_size(static_cast<std::uint32_t>(props)) + props : 0);
  begin(out, first_byte(type, flags), rl);
  put_u16(out, a.packet_id);
  if (with_reason) put_u8(out, static_cast<std::uint8_t>(a.reason_code));
  if (props != 0) put_property_block(out, a.properties);
}

void encode_one(const Puback& a, Version v, std::string& out) { encode_ack(a, PacketType::puback, 0, v, out); }
void encode_one(const Pubrec& a, Version v, std::string& out) { encode_ack(a, PacketType::pubrec, 0, v, out); }
void encode_one(const Pubrel& a, Version v, std::string& out) { encode_ack(a, PacketType::pubrel, 0b0010, v, out); }
void encode_one(const Pubcomp& a, Version v, std::string& out) { encode_ack(a, PacketType::pubcomp, 0, v, out); }

void encode_one(const Subscribe& s, Version version, std::string& out) {
  const bool v5 = version == Version::v5;
  std::size_t rl = 2 + (v5 ? property_block_size(s.properties) : 0);
  for (const Subscription& sub : s.subscriptions) rl += string_size(sub.filter) + 1;
  begin(out, first_byte(PacketType::subscribe, 0b0010), rl);
  put_u16(out, s.packet_id);
  if (v5) put_property_block(out, s.properties);
  for (const Subscription& sub : s.subscriptions) {
    put_string(out, sub.filter);
    auto options = static_cast<std::uint8_t>(sub.max_qos);
    if (v5) {
      if (sub.no_local) options |= 0x04;
      if (sub.retain_as_published) options |= 0x08;
      options |= static_cast<std::uint8_t>((sub.retain_handling & 0x03) << 4);
    }
    put_u8(out, options);
  }
}

void encode_one(const Suback& s, Version version, std::string& out) {
  const bool v5 = version == Version::v5;
  begin(out, first_byte(PacketType::suback), 2 + (v5 ? property_block_size(s.properties) : 0) + s.reason_codes.size());
  put_u16(out, s.packet_id);
  if (v5) put_property_block(out, s.properties);
  for (ReasonCode rc : s.reason_codes) {
    auto b = static_cast<std::uint8_t>(rc);
    if (!v5 && b > 0x02) b = 0x80;  // 3.1.1 knows 0, 1, 2 and failure
    put_u8(out, b);
  }
}

void encode_one(const Unsubscribe& u, Version version, std::string& out) {
  const bool v5 = version == Version::v5;
  std::size_t rl = 2 + (v5 ? property_block_size(u.properties) : 0);
  for (const std::string& f : u.filters) rl += string_size(f);
  begin(out, first_byte(PacketType::unsubscribe, 0b0010), rl);
  put_u16(out, u.packet_id);
  if (v5) put_property_block(out, u.properties);
  for (const std::string& f : u.filters) put_string(out, f);
}

void encode_one(const Unsuback& u, Version version, std::string& out) {
  if (version != Version::v5) {  // 3.1.1 UNSUBACK has no payload
    begin(out, first_byte(PacketType::unsuback), 2);
    put_u16(out, u.packet_id);
    return;
  }
  begin(out, first_byte(PacketType::unsuback), 2 + property_block_size(u.properties) + u.reason_codes.size());
  put_u16(out, u.packet_id);
  put_property_block(out, u.properties);
  for (ReasonCode rc : u.reason_codes) put_u8(out, static_cast<std::uint8_t>(rc));
}

void encode_one(const Pingreq&, Version, std::string& out) { begin(out, first_byte(PacketType::pingreq), 0); }
void encode_one(const Pingresp&, Version, std::string& out) { begin(out, first_byte(PacketType::pingresp), 0); }

// DISCONNECT and AUTH: 5.0 omits the reason code when it is success without properties (remaining length 0), and
// the properties when there are none. 3.1/3.1.1 DISCONNECT is always empty (AUTH does not exist there; it is
// written without properties, which only a 5.0 peer can read).
template <typename T>
void encode_reason_and_properties(const T& t, PacketType type, Version version, std::string& out) {
  if (version != Version::v5 && type == PacketType::disconnect) {
    begin(out, first_byte(type), 0);
    return;
  }
  const std::size_t props = version == Version::v5 ? detail::properties_size(t.properties) : 0;
  const bool with_reason = t.reason_code != ReasonCode::success || props != 0;
  const std::size_t rl =
      (with_reason ? 1 : 0) + (props != 0 ? varint_size(static_cast<std::uint32_t>(props)) + props : 0);
  begin(out, first_byte(type), rl);
  if (with_reason) put_u8(out, static_cast<std::uint8_t>(t.reason_code));
  if (props != 0) put_property_block(out, t.properties);
}

void encode_one(const Disconnect& d, Version v, std::string& out) {
  encode_reason_and_properties(d, PacketType::disconnect, v, out);
}
void encode_one(const Auth& a, Version v, std::string& out) {
  encode_reason_and_properties(a, PacketType::auth, v, out);
}

}  // namespace

void encode(const Packet& packet, Version version, std::string& out) {
  std::visit([&](const auto& p) { encode_one(p, version, out); }, packet);
}

std::string encode(const Packet& packet, Version version) {
  std::string out;
  encode(packet, version, out);
  return out;
}

}  // namespace tern::protocol
