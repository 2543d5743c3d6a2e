// MQTT 5.0 property blocks: decoding with the per-packet rules of spec table 2-4, and encoding in ascending
// identifier order with user properties last.
#include "broker/protocol/properties.hpp"

#include <array>
#include <cstdint>
#include <string>

#include "broker/protocol/codec_internal.hpp"

namespace tern::protocol::detail {
namespace {

constexpr std::uint16_t bit(PropertyContext c) { return static_cast<std::uint16_t>(1u << static_cast<unsigned>(c)); }

using C = PropertyContext;
constexpr std::uint16_t publish_and_will = bit(C::publish) | bit(C::will);
constexpr std::uint16_t all_contexts = 0x7FF;

// Allowed contexts per property identifier (0 = unknown identifier). Spec 5.0 table 2-4.
constexpr std::array<std::uint16_t, 0x2B> allowed_contexts = [] {
  std::array<std::uint16_t, 0x2B> a{};
  a[0x01] = publish_and_will;                                        // payload format indicator
  a[0x02] = publish_and_will;                                        // message expiry interval
  a[0x03] = publish_and_will;                                        // content type
  a[0x08] = publish_and_will;                                        // response topic
  a[0x09] = publish_and_will;                                        // correlation data
  a[0x0B] = bit(C::publish) | bit(C::subscribe);                     // subscription identifier
  a[0x11] = bit(C::connect) | bit(C::connack) | bit(C::disconnect);  // session expiry interval
  a[0x12] = bit(C::connack);                                         // assigned client identifier
  a[0x13] = bit(C::connack);                                         // server keep alive
  a[0x15] = bit(C::connect) | bit(C::connack) | bit(C::auth);        // authentication method
  a[0x16] = bit(C::connect) | bit(C::connack) | bit(C::auth);        // authentication data
  a[0x17] = bit(C::connect);                                         // request problem information
  a[0x18] = bit(C::will);                                            // will delay interval
  a[0x19] = bit(C::connect);                                         // request response information
  a[0x1A] = bit(C::connack);                                         // response information
  a[0x1C] = bit(C::connack) | bit(C::disconnect);                    // server reference
  a[0x1F] = bit(C::connack) | bit(C::ack) | bit(C::suback) | bit(C::unsuback) | bit(C::disconnect) |
            bit(C::auth);                       // reason string
  a[0x21] = bit(C::connect) | bit(C::connack);  // receive maximum
  a[0x22] = bit(C::connect) | bit(C::connack);  // topic alias maximum
  a[0x23] = bit(C::publish);                    // topic alias
  a[0x24] = bit(C::connack);                    // maximum QoS
  a[0x25] = bit(C::connack);                    // retain available
  a[0x26] = all_contexts;                       // user property
  a[0x27] = bit(C::connect) | bit(C::connack);  // maximum packet size
  a[0x28] = bit(C::connack);                    // wildcard subscription available
  a[0x29] = bit(C::connack);                    // subscription identifier available
  a[0x2A] = bit(C::connack);                    // shared subscription available
  return a;
}();

struct PropertyReader {
  Reader& r;
  ReasonCode error = ReasonCode::success;

  bool fail(ReasonCode rc) {
    error = rc;
    return false;
  }
  bool byte(std::optional<std::uint8_t>& v, bool boolean) {
    std::uint8_t b = 0;
    if (!r.read_u8(b)) return fail(ReasonCode::malformed_packet);
    if (boolean && b > 1) return fail(ReasonCode::protocol_error);
    v = b;
    return true;
  }
  bool u16(std::optional<std::uint16_t>& v, bool nonzero) {
    std::uint16_t x = 0;
    if (!r.read_u16(x)) return fail(ReasonCode::malformed_packet);
    if (nonzero && x == 0) return fail(ReasonCode::protocol_error);
    v = x;
    return true;
  }
  bool u32(std::optional<std::uint32_t>& v, bool nonzero) {
    std::uint32_t x = 0;
    if (!r.read_u32(x)) return fail(ReasonCode::malformed_packet);
    if (nonzero && x == 0) return fail(ReasonCode::protocol_error);
    v = x;
    return true;
  }
  bool utf8(OptionalString& v) {
    std::string_view s;
    if (!r.read_utf8(s)) return fail(ReasonCode::malformed_packet);
    v.emplace(s);
    return true;
  }
  bool binary(OptionalString& v) {
    std::string_view s;
    if (!r.read_binary(s)) return fail(ReasonCode::malformed_packet);
    v.emplace(s);
    return true;
  }
};

}  // namespace

ReasonCode decode_properties(Reader& reader, PropertyContext context, Properties& out) {
  std::uint32_t length = 0;
  if (!reader.read_varint(length) || reader.remaining() < length) return ReasonCode::malformed_packet;
  const std::string_view block = reader.take(length);
  Reader r(block.data(), block.size());
  PropertyReader pr{r};
  std::uint64_t seen = 0;
  const std::uint16_t context_bit = bit(context);

  while (!r.empty()) {
    // The identifier is a variable byte integer; every defined one fits in its first byte, so a byte with the
    // continuation bit set names an unknown property.
    std::uint8_t id = 0;
    r.read_u8(id);
    if (id >= allowed_contexts.size() || (allowed_contexts[id] & context_bit) == 0) return ReasonCode::malformed_packet;
    const std::uint64_t id_bit = std::uint64_t{1} << id;
    const bool may_repeat = id == 0x26 || (id == 0x0B && context == PropertyContext::publish);
    if ((seen & id_bit) != 0 && !may_repeat) return ReasonCode::protocol_error;
    seen |= id_bit;

    bool ok = true;
    switch (static_cast<PropertyId>(id)) {
      case PropertyId::payload_format_indicator:
        ok = pr.byte(out.payload_format_indicator, true);
        break;
      case PropertyId::message_expiry_interval:
        ok = pr.u32(out.message_expiry_interval, false);
        break;
      case PropertyId::content_type:
        ok = pr.utf8(out.content_type);
        break;
      case PropertyId::response_topic:
        ok = pr.utf8(out.response_topic);
        break;
      case PropertyId::correlation_data:
        ok = pr.binary(out.correlation_data);
        break;
      case PropertyId::subscription_identifier: {
        std::uint32_t v = 0;
        if (!r.read_varint(v)) return ReasonCode::malformed_packet;
        if (v == 0) return ReasonCode::protocol_error;
        out.subscription_identifiers.push_back(v);
        break;
      }
      case PropertyId::session_expiry_interval:
        ok = pr.u32(out.session_expiry_interval, false);
        break;
      case PropertyId::assigned_client_identifier:
        ok = pr.utf8(out.assigned_client_identifier);
        break;
      case PropertyId::server_keep_alive:
        ok = pr.u16(out.server_keep_alive, false);
        break;
      case PropertyId::authentication_method:
        ok = pr.utf8(out.authentication_method);
        break;
      case PropertyId::authentication_data:
        ok = pr.binary(out.authentication_data);
        break;
      case PropertyId::request_problem_information:
        ok = pr.byte(out.request_problem_information, true);
        break;
      case PropertyId::will_delay_interval:
        ok = pr.u32(out.will_delay_interval, false);
        break;
      case PropertyId::request_response_information:
        ok = pr.byte(out.request_response_information, true);
        break;
      case PropertyId::response_information:
        ok = pr.utf8(out.response_information);
        break;
      case PropertyId::server_reference:
        ok = pr.utf8(out.server_reference);
        break;
      case PropertyId::reason_string:
        ok = pr.utf8(out.reason_string);
        break;
      case PropertyId::receive_maximum:
        ok = pr.u16(out.receive_maximum, true);
        break;
      case PropertyId::topic_alias_maximum:
        ok = pr.u16(out.topic_alias_maximum, false);
        break;
      case PropertyId::topic_alias:  // 0 is the broker's business (topic_alias_invalid), not malformed
        ok = pr.u16(out.topic_alias, false);
        break;
      case PropertyId::maximum_qos:
        ok = pr.byte(out.maximum_qos, true);
        break;
      case PropertyId::retain_available:
        ok = pr.byte(out.retain_available, true);
        break;
      case PropertyId::user_property: {
        std::string_view key, value;
        if (!r.read_utf8(key) || !r.read_utf8(value)) return ReasonCode::malformed_packet;
        out.user_properties.emplace_back(key, value);
        break;
      }
      case PropertyId::maximum_packet_size:
        ok = pr.u32(out.maximum_packet_size, true);
        break;
      case PropertyId::wildcard_subscription_available:
        ok = pr.byte(out.wildcard_subscription_available, true);
        break;
      case PropertyId::subscription_identifier_available:
        ok = pr.byte(out.subscription_identifier_available, true);
        break;
      case PropertyId::shared_subscription_available:
        ok = pr.byte(out.shared_subscription_available, true);
        break;
    }
    if (!ok) return pr.error;
  }
  return ReasonCode::success;
}

std::size_t properties_size(const Properties& p) noexcept {
  std::size_t n = 0;
  auto fixed = [&n](const auto& v, std::size_t width) {
    if (v) n += 1 + width;
  };
  auto str = [&n](const OptionalString& v) {
    if (v) n += 1 + string_size(*v);
  };
  fixed(p.payload_format_indicator, 1);
  fixed(p.message_expiry_interval, 4);
  str(p.content_type);
  str(p.response_topic);
  str(p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers) n += 1 + varint_size(id);
  fixed(p.session_expiry_interval, 4);
  str(p.assigned_client_identifier);
  fixed(p.server_keep_alive, 2);
  str(p.authentication_method);
  str(p.authentication_data);
  fixed(p.request_problem_information, 1);
  fixed(p.will_delay_interval, 4);
  fixed(p.request_response_information, 1);
  str(p.response_information);
  str(p.server_reference);
  str(p.reason_string);
  fixed(p.receive_maximum, 2);
  fixed(p.topic_alias_maximum, 2);
  fixed(p.topic_alias, 2);
  fixed(p.maximum_qos, 1);
  fixed(p.retain_available, 1);
  fixed(p.maximum_packet_size, 4);
  fixed(p.wildcard_subscription_available, 1);
  fixed(p.subscription_identifier_available, 1);
  fixed(p.shared_subscription_available, 1);
  for (const auto& [key, value] : p.user_properties) n += 1 + string_size(key) + string_size(value);
  return n;
}

}  // namespace tern::protocol::detail

namespace tern::protocol {

void encode_properties(const Properties& p, std::string& out) {
  using detail::put_string;
  using detail::put_u16;
  using detail::put_u32;
  using detail::put_u8;
  auto id = [&out](PropertyId pid) { put_u8(out, static_cast<std::uint8_t>(pid)); };
  auto byte = [&](PropertyId pid, const std::optional<std::uint8_t>& v) {
    if (v) {
      id(pid);
      put_u8(out, *v);
    }
  };
  auto u16 = [&](PropertyId pid, const std::optional<std::uint16_t>& v) {
    if (v) {
      id(pid);
      put_u16(out, *v);
    }
  };
  auto u32 = [&](PropertyId pid, const std::optional<std::uint32_t>& v) {
    if (v) {
      id(pid);
      put_u32(out, *v);
    }
  };
  auto str = [&](PropertyId pid, const OptionalString& v) {
    if (v) {
      id(pid);
      put_string(out, *v);
    }
  };
  out.reserve(out.size() + detail::properties_size(p));

  byte(PropertyId::payload_format_indicator, p.payload_format_indicator);
  u32(PropertyId::message_expiry_interval, p.message_expiry_interval);
  str(PropertyId::content_type, p.content_type);
  str(PropertyId::response_topic, p.response_topic);
  str(PropertyId::correlation_data, p.correlation_data);
  for (std::uint32_t sid : p.subscription_identifiers) {
    id(PropertyId::subscription_identifier);
    encode_varint(sid, out);
  }
  u32(PropertyId::session_expiry_interval, p.session_expiry_interval);
  str(PropertyId::assigned_client_identifier, p.assigned_client_identifier);
  u16(PropertyId::server_keep_alive, p.server_keep_alive);
  str(PropertyId::authentication_method, p.authentication_method);
  str(PropertyId::authentication_data, p.authentication_data);
  byte(PropertyId::request_problem_information, p.request_problem_information);
  u32(PropertyId::will_delay_interval, p.will_delay_interval);
  byte(PropertyId::request_response_information, p.request_response_information);
  str(PropertyId::response_information, p.response_information);
  str(PropertyId::server_reference, p.server_reference);
  str(PropertyId::reason_string, p.reason_string);
  u16(PropertyId::receive_maximum, p.receive_maximum);
  u16(PropertyId::topic_alias_maximum, p.topic_alias_maximum);
  u16(PropertyId::topic_alias, p.topic_alias);
  byte(PropertyId::maximum_qos, p.maximum_qos);
  byte(PropertyId::retain_available, p.retain_available);
  u32(PropertyId::maximum_packet_size, p.maximum_packet_size);
  byte(PropertyId::wildcard_subscription_available, p.wildcard_subscription_available);
  byte(PropertyId::subscription_identifier_available, p.subscription_identifier_available);
  byte(PropertyId::shared_subscription_available, p.shared_subscription_available);
  for (const auto& [key, value] : p.user_properties) {
    id(PropertyId::user_property);
    put_string(out, key);
    put_string(out, value);
  }
}

}  // namespace tern::protocol
