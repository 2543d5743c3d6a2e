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

using Tag = core::StoreOpTag;

// Reads what core::StoreBatch wrote; every read checks that the bytes are there and the value is in range.
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
    const auto begin = pos_;
    PlanOp p;
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

namespace {

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>(v | 0x80));
  out.push_back(static_cast<char>(v));
}

void put_header(std::string& out, std::uint64_t next_message_id, std::size_t op_count) {
  out.clear();
  out.push_back(static_cast<char>(kFormat));
  put_varint(out, next_message_id);
  put_varint(out, op_count);
}

}  // namespace

void encode_record(const std::vector<const core::StoreOp*>& ops, std::uint64_t next_message_id, std::string& out) {
  core::StoreBatch batch;
  for (const auto* o : ops) batch.add(*o);
  put_header(out, next_message_id, batch.size());
  out.append(batch.bytes());
}

std::size_t encode_record(const std::vector<PlanOp>& ops, const std::vector<bool>& skip,
                          std::uint64_t next_message_id, std::string& out) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) kept += skip[i] ? 0 : 1;
  put_header(out, next_message_id, kept);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (skip[i]) continue;
    out.append(ops[i].bytes);
    // The plan may have made a put fresh; `fresh` is its last byte (core::StoreBatch::put_queue_entry).
    if (ops[i].kind == Tag::put_queue_entry && ops[i].fresh) out.back() = 1;
  }
  return kept;
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

void decode_ops(std::string_view bytes, std::vector<core::StoreOp>& ops) {
  for (Reader r(bytes); !r.at_end();) ops.push_back(r.op());
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
