// The journal record encoding: byte arrays with a comment per field, every op kind and field round-trips, and
// truncated, damaged or foreign blobs are a core::StoreCodecError (never a crash, never a half-decoded op). The ops
// alone (their writer, reader and scanner) are tested in tests/unit/core/store_codec_test.cpp.
#include "persistence/op_codec.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <variant>

#include "known_content.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

using namespace std::string_literals;

std::string encode(const std::vector<StoreOp>& ops, std::uint64_t next_message_id = 0) {
  std::vector<const StoreOp*> pointers;
  for (const auto& o : ops) pointers.push_back(&o);
  std::string out = "left over from the last record";
  encode_record(pointers, next_message_id, out);
  return out;
}

struct Decoded {
  std::uint64_t next_message_id = 0;
  std::vector<StoreOp> ops;
};

Decoded decode(std::string_view bytes) {
  Decoded d;
  d.next_message_id = decode_record(bytes, d.ops);
  return d;
}

// Every op of known_batches() (every kind, every field, awkward values) in one record.
std::vector<StoreOp> every_op() {
  std::vector<StoreOp> ops;
  for (auto& b : known_batches()) {
    for (auto& o : b) ops.push_back(std::move(o));
  }
  ops.emplace_back(op::PutQueueEntry{entry("alpha", 9, 1), true});  // fresh
  ops.emplace_back(op::DeleteQueueEntry{"alpha", 6'000'000'000});
  ops.emplace_back(op::DeleteSubscription{"alpha", "sensors/+/temp"});
  ops.emplace_back(op::DeleteIncoming{"beta", 65535});
  ops.emplace_back(op::ClearRetained{"status/gateway"});
  core::StoredSession negative = session("neg");
  negative.disconnected_at = -5;  // zigzag
  ops.emplace_back(op::PutSession{negative});
  return ops;
}

TEST(OpCodec, ARecordIsItsFormatNextIdCountAndOps) {
  const auto bytes = encode({op::DeleteQueueEntry{"s", 300}, op::PutIncoming{{"c", 65535}}}, 129);
  const auto expected =
      "\x01"s           // format 1
      "\x81\x01"        // next_message_id 129
      "\x02"            // 2 ops
      "\x07"            // DeleteQueueEntry
      "\x01s"           //   client_id "s"
      "\xac\x02"        //   seq 300
      "\x08"            // PutIncoming
      "\x01\x63"        //   client_id "c"
      "\xff\xff\x03"s;  //   packet_id 65535
  EXPECT_EQ(bytes, expected);
  const auto record = decode(expected);
  EXPECT_EQ(record.next_message_id, 129u);
  ASSERT_EQ(record.ops.size(), 2u);
  EXPECT_EQ(std::get<op::DeleteQueueEntry>(record.ops[0]).client_id, "s");
  EXPECT_EQ(std::get<op::DeleteQueueEntry>(record.ops[0]).seq, 300u);
  EXPECT_EQ(std::get<op::PutIncoming>(record.ops[1]).incoming, (core::StoredIncoming{"c", 65535}));
}

TEST(OpCodec, APutMessageWritesEveryField) {
  core::StoredMessage m = message(5, "t", "\0x"s, QoS::exactly_once);
  m.retain = true;
  m.forward_properties = "\x01\x01"s;
  m.expires_at = -1;
  const auto expected =
      "\x01\x00\x01"s  // format 1, no message id, 1 op
      "\x05"           // PutMessage
      "\x05"           //   id 5
      "\x01t"          //   topic "t"
      "\x02\x00x"s     //   payload "\0x"
      "\x02"           //   qos 2
      "\x01"           //   retain
      "\x02\x01\x01"   //   forward_properties
      "\x01\x01"s;     //   expires_at present: -1 (zigzag 1)
  EXPECT_EQ(encode({op::PutMessage{m}}), expected);
  EXPECT_EQ(std::get<op::PutMessage>(decode(expected).ops.at(0)).message, m);
}

bool same(const StoreOp& a, const StoreOp& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const auto& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, op::PutSession>) return x.session == y.session;
        if constexpr (std::is_same_v<T, op::DeleteSession>) return x.client_id == y.client_id;
        if constexpr (std::is_same_v<T, op::PutSubscription>) return x.subscription == y.subscription;
        if constexpr (std::is_same_v<T, op::DeleteSubscription>)
          return x.client_id == y.client_id && x.filter == y.filter;
        if constexpr (std::is_same_v<T, op::PutMessage>) return x.message == y.message;
        if constexpr (std::is_same_v<T, op::PutQueueEntry>) return x.entry == y.entry && x.fresh == y.fresh;
        if constexpr (std::is_same_v<T, op::DeleteQueueEntry>) return x.client_id == y.client_id && x.seq == y.seq;
        if constexpr (std::is_same_v<T, op::PutIncoming>) return x.incoming == y.incoming;
        if constexpr (std::is_same_v<T, op::DeleteIncoming>)
          return x.client_id == y.client_id && x.packet_id == y.packet_id;
        if constexpr (std::is_same_v<T, op::SetRetained>) return x.retained == y.retained;
        if constexpr (std::is_same_v<T, op::ClearRetained>) return x.topic == y.topic;
      },
      a);
}

TEST(OpCodec, EveryOpKindAndFieldRoundTrips) {
  const auto ops = every_op();
  std::set<std::size_t> kinds;
  for (const auto& o : ops) kinds.insert(o.index());
  ASSERT_EQ(kinds.size(), std::variant_size_v<StoreOp>);  // the content covers every kind

  const auto record = decode(encode(ops, 5'000'000'001));
  EXPECT_EQ(record.next_message_id, 5'000'000'001u);
  ASSERT_EQ(record.ops.size(), ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_TRUE(same(record.ops[i], ops[i])) << "op " << i;
}

// What the plan must read of `o` (its kind and keys), taken from the op's own fields.
core::StoreOpView expected_view(const StoreOp& o) {
  core::StoreBatch one;
  one.add(o);
  core::StoreOpView p;
  p.kind = static_cast<core::StoreOpTag>(one.bytes().front());
  if (const auto* put = std::get_if<op::PutQueueEntry>(&o)) {
    p.fresh = put->fresh;
    p.client_id = put->entry.client_id;
    p.number = put->entry.seq;
    p.message_id = put->entry.message_id;
  } else if (const auto* del = std::get_if<op::DeleteQueueEntry>(&o)) {
    p.client_id = del->client_id;
    p.number = del->seq;
  } else if (const auto* message = std::get_if<op::PutMessage>(&o)) {
    p.message_id = message->message.id;
  } else if (const auto* put_incoming = std::get_if<op::PutIncoming>(&o)) {
    p.client_id = put_incoming->incoming.client_id;
    p.number = put_incoming->incoming.packet_id;
  } else if (const auto* del_incoming = std::get_if<op::DeleteIncoming>(&o)) {
    p.client_id = del_incoming->client_id;
    p.number = del_incoming->packet_id;
  } else if (const auto* set = std::get_if<op::SetRetained>(&o)) {
    p.message_id = set->retained.message_id;
  }
  return p;
}

// The journal plans over scanned records (scan_record()): each op's view must name exactly its bytes and the keys
// the op itself holds, for every kind.
TEST(OpCodec, AScannedRecordViewsEachOpsBytesAndKeys) {
  const auto ops = every_op();
  const auto bytes = encode(ops, 3);
  std::vector<core::StoreOpView> scanned;
  scan_record(bytes, scanned);
  ASSERT_EQ(scanned.size(), ops.size());
  std::string concatenated;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const core::StoreOpView& p = scanned[i];
    const core::StoreOpView expected = expected_view(ops[i]);
    EXPECT_EQ(p.kind, expected.kind) << "op " << i;
    EXPECT_EQ(p.fresh, expected.fresh) << "op " << i;
    EXPECT_EQ(p.client_id, expected.client_id) << "op " << i;
    EXPECT_EQ(p.number, expected.number) << "op " << i;
    EXPECT_EQ(p.message_id, expected.message_id) << "op " << i;
    EXPECT_TRUE(same(core::decode_store_op(p.bytes), ops[i])) << "op " << i;
    concatenated.append(p.bytes);
  }
  // The views tile the record after its header, so the carried ops (StoreOpView::bytes appended) scan back alike.
  EXPECT_TRUE(bytes.ends_with(concatenated));
  std::vector<core::StoreOpView> again;
  core::scan_store_ops(concatenated, again);
  ASSERT_EQ(again.size(), ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(again[i].bytes, scanned[i].bytes) << "op " << i;
  EXPECT_THROW(scan_record(std::string_view(bytes).substr(0, bytes.size() - 1), scanned), core::StoreCodecError);
  EXPECT_THROW(core::decode_store_op(scanned[0].bytes.substr(1)), core::StoreCodecError);
}

TEST(OpCodec, AnEmptyRecordRoundTrips) { EXPECT_TRUE(decode(encode({})).ops.empty()); }

TEST(OpCodec, EveryTruncationIsRejected) {
  const auto bytes = encode(every_op(), 7);
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_THROW(decode(std::string_view(bytes).substr(0, size)), core::StoreCodecError) << "size " << size;
  }
}

TEST(OpCodec, MalformedRecordsAreRejected) {
  const std::pair<const char*, std::string> cases[] = {
      {"unknown format", "\x02\x00\x00"s},
      {"trailing bytes", "\x01\x00\x00\x00"s},
      {"unknown tag", "\x01\x00\x01\x0c"s},
      {"tag 0", "\x01\x00\x01\x00"s},
      {"more ops than bytes", "\x01\x00\x7f\x0b\x00"s},
      {"string longer than the record", "\x01\x00\x01\x0b\x05t"s},
      {"qos 3", "\x01\x00\x01\x05\x01\x00\x00\x03\x00\x00\x00"s},
      {"version 6", "\x01\x00\x01\x01\x00\x00\x00\x06\x00\x00"s},
      {"flag 2", "\x01\x00\x01\x05\x01\x00\x00\x01\x02\x00\x00"s},
      {"packet id 65536", "\x01\x00\x01\x08\x00\x80\x80\x04"s},
      {"varint over 64 bits", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02\x00"s},
      {"varint of 11 bytes", "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00\x00"s},
  };
  for (const auto& [what, bytes] : cases) EXPECT_THROW(decode(bytes), core::StoreCodecError) << what;
}

TEST(OpCodec, DamagedRecordsNeverCrash) {
  const auto good = encode(every_op(), 7);
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    auto bytes = good;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    }
    try {
      decode(bytes);  // a damage that happens to decode is fine: only crashes and other errors are not
    } catch (const core::StoreCodecError&) {
    }
  }
  for (int i = 0; i < 2000; ++i) {
    std::string garbage(rng() % 64, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng() & 0xff);
    try {
      decode(garbage);
    } catch (const core::StoreCodecError&) {
    }
  }
}

}  // namespace
}  // namespace tern::persistence::test
