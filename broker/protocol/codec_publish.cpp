// The one PUBLISH writer. encode_publish() is the broker's hot path: sizes are computed once, the output is reserved
// once, and the payload is appended straight from the stored message.
//
// 5.0 property block order: view.encoded_properties verbatim, then `extra` (encode(Publish) passes its properties
// here), then message expiry interval, topic alias and each subscription identifier (per-delivery values).
#include <cstdint>
#include <string>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/codec_internal.hpp"

namespace tern::protocol {
namespace detail {
namespace {

std::size_t property_length(const PublishView& v, const Properties* extra) noexcept {
  std::size_t n = v.encoded_properties.size();
  if (extra != nullptr) n += properties_size(*extra);
  if (v.message_expiry_interval) n += 1 + 4;
  if (v.topic_alias) n += 1 + 2;
  for (std::uint32_t id : v.subscription_identifiers) n += 1 + varint_size(id);
  return n;
}

std::size_t remaining_length(const PublishView& v, std::size_t props, Version version) noexcept {
  std::size_t rl = string_size(v.topic) + v.payload.size();
  if (v.qos != QoS::at_most_once) rl += 2;
  if (version == Version::v5) rl += varint_size(static_cast<std::uint32_t>(props)) + props;
  return rl;
}

}  // namespace

std::size_t publish_size(const PublishView& view, const Properties* extra, Version version) noexcept {
  const std::size_t props = version == Version::v5 ? property_length(view, extra) : 0;
  return packet_size(remaining_length(view, props, version));
}

void encode_publish(const PublishView& view, const Properties* extra, Version version, std::string& out) {
  const bool v5 = version == Version::v5;
  const std::size_t props = v5 ? property_length(view, extra) : 0;
  const std::size_t rl = remaining_length(view, props, version);
  out.reserve(out.size() + packet_size(rl));

  auto first = static_cast<std::uint8_t>(0x30 | (static_cast<std::uint8_t>(view.qos) << 1));
  if (view.dup) first |= 0x08;
  if (view.retain) first |= 0x01;
  put_fixed_header(out, first, rl);
  put_string(out, view.topic);
  if (view.qos != QoS::at_most_once) put_u16(out, view.packet_id);
  if (v5) {
    encode_varint(static_cast<std::uint32_t>(props), out);
    out.append(view.encoded_properties);
    if (extra != nullptr) encode_properties(*extra, out);
    if (view.message_expiry_interval) {
      put_u8(out, static_cast<std::uint8_t>(PropertyId::message_expiry_interval));
      put_u32(out, *view.message_expiry_interval);
    }
    if (view.topic_alias) {
      put_u8(out, static_cast<std::uint8_t>(PropertyId::topic_alias));
      put_u16(out, *view.topic_alias);
    }
    for (std::uint32_t id : view.subscription_identifiers) {
      put_u8(out, static_cast<std::uint8_t>(PropertyId::subscription_identifier));
      encode_varint(id, out);
    }
  }
  out.append(view.payload);
}

namespace {

// Skips the contents of a PUBLISH property block; false if it is malformed or holds a property a relay must not pass
// on (topic alias, subscription identifier) or one a PUBLISH cannot carry.
bool relayable_properties(Reader r) noexcept {
  while (!r.empty()) {
    std::uint8_t id = 0;
    std::uint8_t u8 = 0;
    std::uint32_t u32 = 0;
    std::string_view s;
    r.read_u8(id);
    bool ok = false;
    switch (static_cast<PropertyId>(id)) {
      case PropertyId::payload_format_indicator:
        ok = r.read_u8(u8);
        break;
      case PropertyId::message_expiry_interval:
        ok = r.read_u32(u32);
        break;
      case PropertyId::content_type:
      case PropertyId::response_topic:
      case PropertyId::correlation_data:
        ok = r.read_binary(s);
        break;
      case PropertyId::user_property:
        ok = r.read_binary(s) && r.read_binary(s);
        break;
      default:  // topic alias, subscription identifier, or not a PUBLISH property
        return false;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace
}  // namespace detail

std::size_t read_publish_view(std::string_view data, Version version, PublishView& view) noexcept {
  if (data.size() < 2 || (static_cast<std::uint8_t>(data[0]) >> 4) != static_cast<std::uint8_t>(PacketType::publish)) {
    return 0;
  }
  const auto flags = static_cast<std::uint8_t>(data[0] & 0x0F);
  const auto qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  if (qos == 3) return 0;
  std::uint32_t remaining = 0;
  detail::Reader header(data.data() + 1, data.size() - 1);
  if (!header.read_varint(remaining) || header.remaining() < remaining) return 0;
  const std::size_t header_size = data.size() - header.remaining();
  detail::Reader r(data.data() + header_size, remaining);
  PublishView v;
  v.qos = static_cast<QoS>(qos);
  v.dup = (flags & 0x08) != 0;
  v.retain = (flags & 0x01) != 0;
  if (!r.read_binary(v.topic)) return 0;
  if (v.qos != QoS::at_most_once && (!r.read_u16(v.packet_id) || v.packet_id == 0)) return 0;
  if (version == Version::v5) {
    std::uint32_t length = 0;
    if (!r.read_varint(length) || r.remaining() < length) return 0;
    v.encoded_properties = r.take(length);
    if (!detail::relayable_properties(detail::Reader(v.encoded_properties.data(), length))) return 0;
  }
  v.payload = r.take_rest();
  view = v;
  return header_size + remaining;
}

std::size_t publish_size(const PublishView& publish, Version version) {
  return detail::publish_size(publish, nullptr, version);
}

void encode_publish(const PublishView& publish, Version version, std::string& out) {
  detail::encode_publish(publish, nullptr, version, out);
}

}  // namespace tern::protocol
