#include "broker/core/store_codec.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
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

// `fresh` must stay the op's last byte: append_store_op() rewrites it there.
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

// The reader.

namespace {

using protocol::QoS;
using protocol::Version;
using Tag = StoreOpTag;

// Reads what StoreBatch wrote; every read checks that the bytes are there and the value is in range. Internal to
// this file, so that the compiler sees every use and inlines the field readers into the loops over ops (the public
// StoreOpReader hands its position to one of these per call).
class Reader {
 public:
  Reader(std::string_view in, std::size_t pos) noexcept : in_(in), pos_(pos) {}

  std::size_t pos() const noexcept { return pos_; }

  bool at_end() const noexcept { return pos_ == in_.size(); }

  std::uint8_t byte() {
    if (pos_ >= in_.size()) fail("truncated");
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  bool flag() {
    const auto b = byte();
    if (b > 1) fail("a flag is neither 0 nor 1");
    return b == 1;
  }
  std::uint64_t varint() {
    // Most varints are one byte (short strings' lengths, counts, small numbers): that case first, without the loop.
    if (pos_ < in_.size() && (static_cast<std::uint8_t>(in_[pos_]) & 0x80) == 0) {
      return static_cast<std::uint8_t>(in_[pos_++]);
    }
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto b = byte();
      if (shift == 63 && b > 1) fail("a varint overflows 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("a varint is longer than 10 bytes");
  }
  template <class T>
  T bounded(const char* what) {
    const auto v = varint();
    if (v > std::numeric_limits<T>::max()) fail(std::string(what) + " is out of range");
    return static_cast<T>(v);
  }
  std::int64_t signed_varint() {
    const auto v = varint();
    return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string_view view() {
    const auto size = varint();
    if (size > in_.size() - pos_) fail("truncated string");
    const auto s = in_.substr(pos_, static_cast<std::size_t>(size));
    pos_ += static_cast<std::size_t>(size);
    return s;
  }
  std::string string() { return std::string(view()); }
  QoS qos() {
    const auto b = byte();
    if (b > 2) fail("invalid QoS");
    return static_cast<QoS>(b);
  }
  Version version() {
    const auto b = byte();
    if (b < 3 || b > 5) fail("invalid protocol version");
    return static_cast<Version>(b);
  }

  StoredMessage message() {
    StoredMessage m;
    m.id = varint();
    m.topic = string();
    m.payload = string();
    m.qos = qos();
    m.retain = flag();
    m.forward_properties = string();
    if (flag()) m.expires_at = signed_varint();
    return m;
  }

  StoreOp op() {
    switch (static_cast<Tag>(byte())) {
      case Tag::put_session: {
        StoredSession s;
        s.client_id = string();
        if (flag()) s.expiry_interval = bounded<std::uint32_t>("expiry_interval");
        s.disconnected_at = signed_varint();
        s.version = version();
        if (flag()) s.will = message();
        s.will_delay = bounded<std::uint32_t>("will_delay");
        return op::PutSession{std::move(s)};
      }
      case Tag::delete_session:
        return op::DeleteSession{string()};
      case Tag::put_subscription: {
        StoredSubscription s;
        s.client_id = string();
        s.filter = string();
        s.options.qos = qos();
        s.options.no_local = flag();
        s.options.retain_as_published = flag();
        s.options.retain_handling = byte();
        s.options.subscription_id = bounded<std::uint32_t>("subscription_id");
        return op::PutSubscription{std::move(s)};
      }
      case Tag::delete_subscription: {
        auto client_id = string();
        return op::DeleteSubscription{std::move(client_id), string()};
      }
      case Tag::put_message:
        return op::PutMessage{message()};
      case Tag::put_queue_entry:
        return put_queue_entry();
      case Tag::delete_queue_entry: {
        auto client_id = string();
        return op::DeleteQueueEntry{std::move(client_id), varint()};
      }
      case Tag::put_incoming: {
        auto client_id = string();
        return op::PutIncoming{{std::move(client_id), bounded<std::uint16_t>("packet_id")}};
      }
      case Tag::delete_incoming: {
        auto client_id = string();
        return op::DeleteIncoming{std::move(client_id), bounded<std::uint16_t>("packet_id")};
      }
      case Tag::set_retained: {
        auto topic = string();
        return op::SetRetained{{std::move(topic), varint()}};
      }
      case Tag::clear_retained:
        return op::ClearRetained{string()};
    }
    fail("unknown op tag");
  }

  // The next op as the plan sees it, viewing the bytes. The ops the plan has no key of are decoded and dropped:
  // they are rare, and their fields are then checked as decode_record() checks them.
  StoreOpView scan() {
    const auto begin = pos_;
    StoreOpView p;
    p.kind = static_cast<Tag>(byte());
    switch (p.kind) {
      case Tag::put_message:
        p.message_id = varint();
        view();  // topic
        view();  // payload
        qos();
        flag();  // retain
        view();  // properties
        if (flag()) signed_varint();
        break;
      case Tag::put_queue_entry: {
        p.client_id = view();
        p.number = varint();
        p.message_id = varint();
        qos();
        flag();  // retain
        for (auto count = varint(); count > 0; --count) bounded<std::uint32_t>("subscription id");
        bounded<std::uint16_t>("packet_id");
        flag();  // released
        p.fresh = flag();
        break;
      }
      case Tag::delete_queue_entry:
        p.client_id = view();
        p.number = varint();
        break;
      case Tag::put_incoming:
      case Tag::delete_incoming:
        p.client_id = view();
        p.number = bounded<std::uint16_t>("packet_id");
        break;
      case Tag::set_retained:
        view();  // topic
        p.message_id = varint();
        break;
      default:
        pos_ = begin;
        op();
    }
    p.bytes = in_.substr(begin, pos_ - begin);
    return p;
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw StoreCodecError("store ops: " + what + " at byte " + std::to_string(pos_));
  }

 private:
  op::PutQueueEntry put_queue_entry() {
    op::PutQueueEntry o;
    auto& e = o.entry;
    e.client_id = string();
    e.seq = varint();
    e.message_id = varint();
    e.qos = qos();
    e.retain = flag();
    const auto count = varint();
    if (count > in_.size() - pos_) fail("truncated subscription ids");  // each takes at least one byte
    e.subscription_ids.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) e.subscription_ids.push_back(bounded<std::uint32_t>("subscription id"));
    e.packet_id = bounded<std::uint16_t>("packet_id");
    e.released = flag();
    o.fresh = flag();
    return o;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::uint8_t StoreOpReader::byte() {
  Reader r(in_, pos_);
  const auto b = r.byte();
  pos_ = r.pos();
  return b;
}

std::uint64_t StoreOpReader::varint() {
  Reader r(in_, pos_);
  const auto v = r.varint();
  pos_ = r.pos();
  return v;
}

void StoreOpReader::decode(std::uint64_t count, std::vector<StoreOp>& ops) {
  Reader r(in_, pos_);
  for (; count > 0; --count) ops.push_back(r.op());
  pos_ = r.pos();
}

void StoreOpReader::scan(std::uint64_t count, std::vector<StoreOpView>& ops) {
  Reader r(in_, pos_);
  for (; count > 0; --count) ops.push_back(r.scan());
  pos_ = r.pos();
}

void StoreOpReader::fail(const std::string& what) const { Reader(in_, pos_).fail(what); }

StoreOp decode_store_op(std::string_view bytes) {
  Reader r(bytes, 0);
  StoreOp o = r.op();
  if (!r.at_end()) r.fail("trailing bytes");
  return o;
}

void decode_store_ops(std::string_view bytes, std::vector<StoreOp>& ops) {
  for (Reader r(bytes, 0); !r.at_end();) ops.push_back(r.op());
}

void scan_store_ops(std::string_view bytes, std::vector<StoreOpView>& ops) {
  for (Reader r(bytes, 0); !r.at_end();) ops.push_back(r.scan());
}

}  // namespace tern::core
