#include "broker/core/store_batch.hpp"

#include <algorithm>
#include <cstring>
#include <variant>

namespace tern::core {

namespace op = store_op;

namespace {

// The field writers: each writes at p and returns where it ended. The caller has made room (StoreBatch::begin_op).
constexpr std::size_t kVarint = 10;  // the longest varint (64 bits, 7 a byte)

char* put_byte(char* p, std::uint8_t b) noexcept {
  *p = static_cast<char>(b);
  return p + 1;
}
char* put_flag(char* p, bool b) noexcept { return put_byte(p, b ? 1 : 0); }
char* put_varint(char* p, std::uint64_t v) noexcept {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>(v | 0x80);
  *p++ = static_cast<char>(v);
  return p;
}
// Zigzag: small negative numbers stay short (times are positive in practice; the format does not rely on it).
char* put_signed_varint(char* p, std::int64_t v) noexcept {
  return put_varint(p, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}
std::size_t string_max(std::string_view s) noexcept { return kVarint + s.size(); }
char* put_string(char* p, std::string_view s) noexcept {
  p = put_varint(p, s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

std::size_t message_max(std::string_view topic, std::string_view payload, std::string_view properties) noexcept {
  return kVarint + string_max(topic) + string_max(payload) + 2 + string_max(properties) + 1 + kVarint;
}
char* put_message(char* p, std::uint64_t id, std::string_view topic, std::string_view payload, protocol::QoS qos,
                  bool retain, std::string_view properties, std::optional<UnixMillis> expires_at) noexcept {
  p = put_varint(p, id);
  p = put_string(p, topic);
  p = put_string(p, payload);
  p = put_byte(p, static_cast<std::uint8_t>(qos));
  p = put_flag(p, retain);
  p = put_string(p, properties);
  p = put_flag(p, expires_at.has_value());
  if (expires_at) p = put_signed_varint(p, *expires_at);
  return p;
}
char* put_message(char* p, const StoredMessage& m) noexcept {
  return put_message(p, m.id, m.topic, m.payload, m.qos, m.retain, m.forward_properties, m.expires_at);
}

}  // namespace

char* StoreBatch::begin_op(StoreOpTag tag, std::size_t max_bytes) {
  const std::size_t needed = size_ + 1 + max_bytes;
  if (needed > capacity_) {
    const std::size_t capacity = std::max({needed, 2 * capacity_, std::size_t{256}});
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ > 0) std::memcpy(data.get(), data_.get(), size_);
    data_ = std::move(data);
    capacity_ = capacity;
  }
  ++ops_;
  return put_byte(data_.get() + size_, static_cast<std::uint8_t>(tag));
}

void StoreBatch::put_message(std::uint64_t id, std::string_view topic, std::string_view payload, protocol::QoS qos,
                             bool retain, std::string_view forward_properties,
                             std::optional<UnixMillis> expires_at) {
  char* p = begin_op(StoreOpTag::put_message, message_max(topic, payload, forward_properties));
  end_op(core::put_message(p, id, topic, payload, qos, retain, forward_properties, expires_at));
}

// `fresh` must stay the op's last byte: the SQLite store sets it in an op it copies (persistence/op_codec.hpp).
void StoreBatch::put_queue_entry(std::string_view client_id, std::uint64_t seq, std::uint64_t message_id,
                                 protocol::QoS qos, bool retain, std::span<const std::uint32_t> subscription_ids,
                                 std::uint16_t packet_id, bool released, bool fresh) {
  char* p = begin_op(StoreOpTag::put_queue_entry,
                     string_max(client_id) + 4 * kVarint + 4 + 5 * subscription_ids.size());
  p = put_string(p, client_id);
  p = put_varint(p, seq);
  p = put_varint(p, message_id);
  p = put_byte(p, static_cast<std::uint8_t>(qos));
  p = put_flag(p, retain);
  p = put_varint(p, subscription_ids.size());
  for (auto id : subscription_ids) p = put_varint(p, id);
  p = put_varint(p, packet_id);
  p = put_flag(p, released);
  end_op(put_flag(p, fresh));
}

// The ops that are a string and a number: a queue entry's or incoming id's key, a retained topic's message.
void StoreBatch::string_and_number(StoreOpTag tag, std::string_view s, std::uint64_t number) {
  end_op(put_varint(put_string(begin_op(tag, string_max(s) + kVarint), s), number));
}

void StoreBatch::delete_queue_entry(std::string_view client_id, std::uint64_t seq) {
  string_and_number(StoreOpTag::delete_queue_entry, client_id, seq);
}

void StoreBatch::put_incoming(std::string_view client_id, std::uint16_t packet_id) {
  string_and_number(StoreOpTag::put_incoming, client_id, packet_id);
}

void StoreBatch::delete_incoming(std::string_view client_id, std::uint16_t packet_id) {
  string_and_number(StoreOpTag::delete_incoming, client_id, packet_id);
}

void StoreBatch::set_retained(std::string_view topic, std::uint64_t message_id) {
  string_and_number(StoreOpTag::set_retained, topic, message_id);
}

void StoreBatch::clear_retained(std::string_view topic) {
  end_op(put_string(begin_op(StoreOpTag::clear_retained, string_max(topic)), topic));
}

void StoreBatch::delete_session(std::string_view client_id) {
  end_op(put_string(begin_op(StoreOpTag::delete_session, string_max(client_id)), client_id));
}

void StoreBatch::delete_subscription(std::string_view client_id, std::string_view filter) {
  char* p = begin_op(StoreOpTag::delete_subscription, string_max(client_id) + string_max(filter));
  end_op(put_string(put_string(p, client_id), filter));
}

void StoreBatch::add(const StoreOp& o) {
  if (const auto* put = std::get_if<op::PutSession>(&o)) {
    const auto& s = put->session;
    const std::size_t will_max = s.will ? message_max(s.will->topic, s.will->payload, s.will->forward_properties) : 0;
    char* p = begin_op(StoreOpTag::put_session, string_max(s.client_id) + 1 + 3 * kVarint + 2 + will_max);
    p = put_string(p, s.client_id);
    p = put_flag(p, s.expiry_interval.has_value());
    if (s.expiry_interval) p = put_varint(p, *s.expiry_interval);
    p = put_signed_varint(p, s.disconnected_at);
    p = put_byte(p, static_cast<std::uint8_t>(s.version));
    p = put_flag(p, s.will.has_value());
    if (s.will) p = core::put_message(p, *s.will);
    end_op(put_varint(p, s.will_delay));
  } else if (const auto* del = std::get_if<op::DeleteSession>(&o)) {
    delete_session(del->client_id);
  } else if (const auto* put = std::get_if<op::PutSubscription>(&o)) {
    const auto& s = put->subscription;
    char* p = begin_op(StoreOpTag::put_subscription, string_max(s.client_id) + string_max(s.filter) + 4 + kVarint);
    p = put_string(p, s.client_id);
    p = put_string(p, s.filter);
    p = put_byte(p, static_cast<std::uint8_t>(s.options.qos));
    p = put_flag(p, s.options.no_local);
    p = put_flag(p, s.options.retain_as_published);
    p = put_byte(p, s.options.retain_handling);
    end_op(put_varint(p, s.options.subscription_id));
  } else if (const auto* del = std::get_if<op::DeleteSubscription>(&o)) {
    delete_subscription(del->client_id, del->filter);
  } else if (const auto* put = std::get_if<op::PutMessage>(&o)) {
    const auto& m = put->message;
    char* p = begin_op(StoreOpTag::put_message, message_max(m.topic, m.payload, m.forward_properties));
    end_op(core::put_message(p, m));
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
