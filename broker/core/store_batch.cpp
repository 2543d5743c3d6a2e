#include "broker/core/store_batch.hpp"

#include <variant>

namespace tern::core {

namespace op = store_op;

namespace {
struct TagOf {
  StoreOpTag operator()(const op::PutSession&) const noexcept { return StoreOpTag::put_session; }
  StoreOpTag operator()(const op::DeleteSession&) const noexcept { return StoreOpTag::delete_session; }
  StoreOpTag operator()(const op::PutSubscription&) const noexcept { return StoreOpTag::put_subscription; }
  StoreOpTag operator()(const op::DeleteSubscription&) const noexcept { return StoreOpTag::delete_subscription; }
  StoreOpTag operator()(const op::PutMessage&) const noexcept { return StoreOpTag::put_message; }
  StoreOpTag operator()(const op::PutQueueEntry&) const noexcept { return StoreOpTag::put_queue_entry; }
  StoreOpTag operator()(const op::DeleteQueueEntry&) const noexcept { return StoreOpTag::delete_queue_entry; }
  StoreOpTag operator()(const op::PutIncoming&) const noexcept { return StoreOpTag::put_incoming; }
  StoreOpTag operator()(const op::DeleteIncoming&) const noexcept { return StoreOpTag::delete_incoming; }
  StoreOpTag operator()(const op::SetRetained&) const noexcept { return StoreOpTag::set_retained; }
  StoreOpTag operator()(const op::ClearRetained&) const noexcept { return StoreOpTag::clear_retained; }
};
}  // namespace

StoreOpTag tag_of(const StoreOp& o) noexcept { return std::visit(TagOf{}, o); }

void StoreBatch::varint(std::uint64_t v) {
  while (v >= 0x80) {
    byte(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  byte(static_cast<std::uint8_t>(v));
}

// Zigzag: small negative numbers stay short (times are positive in practice; the format does not rely on it).
void StoreBatch::signed_varint(std::int64_t v) {
  varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}

void StoreBatch::string(std::string_view s) {
  varint(s.size());
  bytes_.append(s);
}

void StoreBatch::tag(StoreOpTag t) {
  byte(static_cast<std::uint8_t>(t));
  ++ops_;
}

void StoreBatch::message(std::uint64_t id, std::string_view topic, std::string_view payload, protocol::QoS qos,
                         bool retain, std::string_view forward_properties, std::optional<UnixMillis> expires_at) {
  varint(id);
  string(topic);
  string(payload);
  byte(static_cast<std::uint8_t>(qos));
  flag(retain);
  string(forward_properties);
  flag(expires_at.has_value());
  if (expires_at) signed_varint(*expires_at);
}

void StoreBatch::message(const StoredMessage& m) {
  message(m.id, m.topic, m.payload, m.qos, m.retain, m.forward_properties, m.expires_at);
}

void StoreBatch::put_message(std::uint64_t id, std::string_view topic, std::string_view payload, protocol::QoS qos,
                             bool retain, std::string_view forward_properties,
                             std::optional<UnixMillis> expires_at) {
  tag(StoreOpTag::put_message);
  message(id, topic, payload, qos, retain, forward_properties, expires_at);
}

// `fresh` must stay the op's last byte: the SQLite store sets it in an op it copies (persistence/op_codec.hpp).
void StoreBatch::put_queue_entry(std::string_view client_id, std::uint64_t seq, std::uint64_t message_id,
                                 protocol::QoS qos, bool retain, std::span<const std::uint32_t> subscription_ids,
                                 std::uint16_t packet_id, bool released, bool fresh) {
  tag(StoreOpTag::put_queue_entry);
  string(client_id);
  varint(seq);
  varint(message_id);
  byte(static_cast<std::uint8_t>(qos));
  flag(retain);
  varint(subscription_ids.size());
  for (auto id : subscription_ids) varint(id);
  varint(packet_id);
  flag(released);
  flag(fresh);
}

void StoreBatch::delete_queue_entry(std::string_view client_id, std::uint64_t seq) {
  tag(StoreOpTag::delete_queue_entry);
  string(client_id);
  varint(seq);
}

void StoreBatch::put_incoming(std::string_view client_id, std::uint16_t packet_id) {
  tag(StoreOpTag::put_incoming);
  string(client_id);
  varint(packet_id);
}

void StoreBatch::delete_incoming(std::string_view client_id, std::uint16_t packet_id) {
  tag(StoreOpTag::delete_incoming);
  string(client_id);
  varint(packet_id);
}

void StoreBatch::set_retained(std::string_view topic, std::uint64_t message_id) {
  tag(StoreOpTag::set_retained);
  string(topic);
  varint(message_id);
}

void StoreBatch::clear_retained(std::string_view topic) {
  tag(StoreOpTag::clear_retained);
  string(topic);
}

void StoreBatch::delete_session(std::string_view client_id) {
  tag(StoreOpTag::delete_session);
  string(client_id);
}

void StoreBatch::delete_subscription(std::string_view client_id, std::string_view filter) {
  tag(StoreOpTag::delete_subscription);
  string(client_id);
  string(filter);
}

void StoreBatch::add(const StoreOp& o) {
  if (const auto* put = std::get_if<op::PutSession>(&o)) {
    const auto& s = put->session;
    tag(StoreOpTag::put_session);
    string(s.client_id);
    flag(s.expiry_interval.has_value());
    if (s.expiry_interval) varint(*s.expiry_interval);
    signed_varint(s.disconnected_at);
    byte(static_cast<std::uint8_t>(s.version));
    flag(s.will.has_value());
    if (s.will) message(*s.will);
    varint(s.will_delay);
  } else if (const auto* del = std::get_if<op::DeleteSession>(&o)) {
    delete_session(del->client_id);
  } else if (const auto* put = std::get_if<op::PutSubscription>(&o)) {
    const auto& s = put->subscription;
    tag(StoreOpTag::put_subscription);
    string(s.client_id);
    string(s.filter);
    byte(static_cast<std::uint8_t>(s.options.qos));
    flag(s.options.no_local);
    flag(s.options.retain_as_published);
    byte(s.options.retain_handling);
    varint(s.options.subscription_id);
  } else if (const auto* del = std::get_if<op::DeleteSubscription>(&o)) {
    delete_subscription(del->client_id, del->filter);
  } else if (const auto* put = std::get_if<op::PutMessage>(&o)) {
    tag(StoreOpTag::put_message);
    message(put->message);
  } else if (const auto* put = std::get_if<op::PutQueueEntry>(&o)) {
    const auto& e = put->entry;
    put_queue_entry(e.client_id, e.seq, e.message_id, e.qos, e.retain, e.subscription_ids, e.packet_id, e.released,
                    put->fresh);
  } else if (const auto* del = std::get_if<op::DeleteQueueEntry>(&o)) {
    delete_queue_entry(del->client_id, del->seq);
  } else if (const auto* put = std::get_if<op::PutIncoming>(&o)) {
    put_incoming(put->incoming.client_id, put->incoming.packet_id);
  } else if (const auto* del = std::get_if<op::DeleteIncoming>(&o)) {
    delete_incoming(del->client_id, del->packet_id);
  } else if (const auto* set = std::get_if<op::SetRetained>(&o)) {
    set_retained(set->retained.topic, set->retained.message_id);
  } else if (const auto* clear = std::get_if<op::ClearRetained>(&o)) {
    clear_retained(clear->topic);
  }
}

}  // namespace tern::core
