#include "persistence/op_codec.hpp"

#include <limits>
#include <optional>
#include <type_traits>
#include <variant>

namespace tern::persistence {
namespace {

namespace op = core::store_op;
using protocol::QoS;
using protocol::Version;

constexpr std::uint8_t kFormat = 1;

enum class Tag : std::uint8_t {
  put_session = 1,
  delete_session = 2,
  put_subscription = 3,
  delete_subscription = 4,
  put_message = 5,
  put_queue_entry = 6,
  delete_queue_entry = 7,
  put_incoming = 8,
  delete_incoming = 9,
  set_retained = 10,
  clear_retained = 11,
};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void flag(bool b) { byte(b ? 1 : 0); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<std::uint8_t>(v));
  }
  // Zigzag: small negative numbers stay short (times are positive in practice; the format does not rely on it).
  void signed_varint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void string(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }
  void tag(Tag t) { byte(static_cast<std::uint8_t>(t)); }

  void message(const core::StoredMessage& m) {
    varint(m.id);
    string(m.topic);
    string(m.payload);
    byte(static_cast<std::uint8_t>(m.qos));
    flag(m.retain);
    string(m.forward_properties);
    flag(m.expires_at.has_value());
    if (m.expires_at) signed_varint(*m.expires_at);
  }

  void write(const op::PutSession& o) {
    const auto& s = o.session;
    tag(Tag::put_session);
    string(s.client_id);
    flag(s.expiry_interval.has_value());
    if (s.expiry_interval) varint(*s.expiry_interval);
    signed_varint(s.disconnected_at);
    byte(static_cast<std::uint8_t>(s.version));
    flag(s.will.has_value());
    if (s.will) message(*s.will);
    varint(s.will_delay);
  }
  void write(const op::DeleteSession& o) {
    tag(Tag::delete_session);
    string(o.client_id);
  }
  void write(const op::PutSubscription& o) {
    const auto& s = o.subscription;
    tag(Tag::put_subscription);
    string(s.client_id);
    string(s.filter);
    byte(static_cast<std::uint8_t>(s.options.qos));
    flag(s.options.no_local);
    flag(s.options.retain_as_published);
    byte(s.options.retain_handling);
    varint(s.options.subscription_id);
  }
  void write(const op::DeleteSubscription& o) {
    tag(Tag::delete_subscription);
    string(o.client_id);
    string(o.filter);
  }
  void write(const op::PutMessage& o) {
    tag(Tag::put_message);
    message(o.message);
  }
  void write(const op::PutQueueEntry& o) {
    const auto& e = o.entry;
    tag(Tag::put_queue_entry);
    string(e.client_id);
    varint(e.seq);
    varint(e.message_id);
    byte(static_cast<std::uint8_t>(e.qos));
    flag(e.retain);
    varint(e.subscription_ids.size());
    for (auto id : e.subscription_ids) varint(id);
    varint(e.packet_id);
    flag(e.released);
    flag(o.fresh);
  }
  void write(const op::DeleteQueueEntry& o) {
    tag(Tag::delete_queue_entry);
    string(o.client_id);
    varint(o.seq);
  }
  void write(const op::PutIncoming& o) {
    tag(Tag::put_incoming);
    string(o.incoming.client_id);
    varint(o.incoming.packet_id);
  }
  void write(const op::DeleteIncoming& o) {
    tag(Tag::delete_incoming);
    string(o.client_id);
    varint(o.packet_id);
  }
  void write(const op::SetRetained& o) {
    tag(Tag::set_retained);
    string(o.retained.topic);
    varint(o.retained.message_id);
  }
  void write(const op::ClearRetained& o) {
    tag(Tag::clear_retained);
    string(o.topic);
  }

 private:
  std::string& out_;
};

// Reads what Writer wrote; every read checks that the bytes are there and the value is in range.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

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

  core::StoredMessage message() {
    core::StoredMessage m;
    m.id = varint();
    m.topic = string();
    m.payload = string();
    m.qos = qos();
    m.retain = flag();
    m.forward_properties = string();
    if (flag()) m.expires_at = signed_varint();
    return m;
  }

  core::StoreOp op() {
    switch (static_cast<Tag>(byte())) {
      case Tag::put_session: {
        core::StoredSession s;
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
        core::StoredSubscription s;
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
  PlanOp scan() {
    using Kind = PlanOp::Kind;
    const auto begin = pos_;
    PlanOp p;
    const auto tag = static_cast<Tag>(byte());
    switch (tag) {
      case Tag::put_message:
        p.kind = Kind::put_message;
        p.message_id = varint();
        view();  // topic
        view();  // payload
        qos();
        flag();  // retain
        view();  // properties
        if (flag()) signed_varint();
        break;
      case Tag::put_queue_entry: {
        p.kind = Kind::put_queue_entry;
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
        p.kind = Kind::delete_queue_entry;
        p.client_id = view();
        p.number = varint();
        break;
      case Tag::put_incoming:
      case Tag::delete_incoming:
        p.kind = tag == Tag::put_incoming ? Kind::put_incoming : Kind::delete_incoming;
        p.client_id = view();
        p.number = bounded<std::uint16_t>("packet_id");
        break;
      case Tag::set_retained:
        p.kind = Kind::set_retained;
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
    throw OpCodecError("journal record: " + what + " at byte " + std::to_string(pos_));
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

void encode_record(const std::vector<const core::StoreOp*>& ops, std::uint64_t next_message_id, std::string& out) {
  out.clear();
  Writer w(out);
  w.byte(kFormat);
  w.varint(next_message_id);
  w.varint(ops.size());
  for (const auto* o : ops) std::visit([&w](const auto& alternative) { w.write(alternative); }, *o);
}

namespace {

struct RecordHeader {
  std::uint64_t next_message_id = 0;
  std::uint64_t op_count = 0;
};

RecordHeader read_header(Reader& r, std::size_t bytes) {
  RecordHeader h;
  if (const auto format = r.byte(); format != kFormat) r.fail("unknown format " + std::to_string(format));
  h.next_message_id = r.varint();
  h.op_count = r.varint();
  if (h.op_count > bytes) r.fail("more ops than bytes");  // each op takes at least two bytes
  return h;
}

}  // namespace

std::uint64_t decode_record(std::string_view bytes, std::vector<core::StoreOp>& ops) {
  Reader r(bytes);
  const auto header = read_header(r, bytes.size());
  for (std::uint64_t i = 0; i < header.op_count; ++i) ops.push_back(r.op());
  if (!r.at_end()) r.fail("trailing bytes");
  return header.next_message_id;
}

void scan_record(std::string_view record, std::vector<PlanOp>& ops) {
  Reader r(record);
  const auto header = read_header(r, record.size());
  for (std::uint64_t i = 0; i < header.op_count; ++i) ops.push_back(r.scan());
  if (!r.at_end()) r.fail("trailing bytes");
}

void scan_ops(std::string_view bytes, std::vector<PlanOp>& ops) {
  for (Reader r(bytes); !r.at_end();) ops.push_back(r.scan());
}

core::StoreOp decode_op(std::string_view bytes) {
  Reader r(bytes);
  core::StoreOp o = r.op();
  if (!r.at_end()) r.fail("trailing bytes");
  return o;
}

}  // namespace tern::persistence
