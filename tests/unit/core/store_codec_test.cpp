// The store ops' encoding (store_codec.hpp): every op kind as a byte array with a comment per field, written by
// StoreBatch and read back by the reader and the scanner; truncated and malformed ops are a StoreCodecError; a
// scanned op is written again with the `fresh` a plan gave it. The journal record around the ops is tested in
// tests/unit/persistence/op_codec_test.cpp.
#include "broker/core/store_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::core {
namespace {

using namespace std::string_literals;
using protocol::QoS;
namespace op = store_op;

static_assert(kStoreOpFormat == 1, "a new op format needs a new version and a migration of stored records");

std::string encode(const StoreOp& o) {
  StoreBatch batch;
  batch.add(o);
  return std::string(batch.bytes());
}

StoredMessage message(std::uint64_t id, std::string topic, std::string payload, QoS qos) {
  StoredMessage m;
  m.id = id;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

StoredQueueEntry entry(std::string client_id, std::uint64_t seq, std::uint64_t message_id) {
  StoredQueueEntry e;
  e.client_id = std::move(client_id);
  e.seq = seq;
  e.message_id = message_id;
  e.qos = QoS::at_least_once;
  return e;
}

// One op, its bytes, and what the scanner must read of it.
struct Case {
  const char* name;
  StoreOp op;
  std::string bytes;
  StoreOpView view;  // kind and keys; `bytes` is the whole op
};

std::vector<Case> every_kind() {
  StoredSession session;
  session.client_id = "c";
  session.expiry_interval = 60;
  session.disconnected_at = -1;
  session.version = protocol::Version::v5;
  session.will = message(9, "w", "x", QoS::at_least_once);
  session.will->retain = true;
  session.will_delay = 30;

  StoredSubscription subscription;
  subscription.client_id = "c";
  subscription.filter = "a/#";
  subscription.options.qos = QoS::exactly_once;
  subscription.options.no_local = true;
  subscription.options.retain_handling = 1;
  subscription.options.subscription_id = 300;

  StoredMessage m = message(300, "t", "p", QoS::at_least_once);
  m.expires_at = 1;

  StoredQueueEntry e = entry("s", 3, 7);
  e.subscription_ids = {1, 300};
  e.packet_id = 65535;
  e.released = true;

  using T = StoreOpTag;
  // clang-format off
  return {
      {"PutSession", op::PutSession{session},
       "\x01"s          // PutSession
       "\x01" "c"       //   client_id "c"
       "\x01\x3c"       //   expiry_interval present: 60
       "\x01"           //   disconnected_at -1 (zigzag 1)
       "\x05"           //   version 5
       "\x01"           //   will present:
       "\x09"           //     id 9
       "\x01w"          //     topic "w"
       "\x01x"          //     payload "x"
       "\x01"           //     qos 1
       "\x01"           //     retain
       "\x00"s          //     forward_properties ""
       "\x00"s          //     no expires_at
       "\x1e",          //   will_delay 30
       {.kind = T::put_session}},
      {"DeleteSession", op::DeleteSession{"c"},
       "\x02"           // DeleteSession
       "\x01" "c",      //   client_id "c"
       {.kind = T::delete_session}},
      {"PutSubscription", op::PutSubscription{subscription},
       "\x03"           // PutSubscription
       "\x01" "c"       //   client_id "c"
       "\x03" "a/#"     //   filter "a/#"
       "\x02"           //   qos 2
       "\x01"           //   no_local
       "\x00"s          //   not retain_as_published
       "\x01"           //   retain_handling 1
       "\xac\x02",      //   subscription_id 300
       {.kind = T::put_subscription}},
      {"DeleteSubscription", op::DeleteSubscription{"c", "a/#"},
       "\x04"           // DeleteSubscription
       "\x01" "c"       //   client_id "c"
       "\x03" "a/#",    //   filter "a/#"
       {.kind = T::delete_subscription}},
      {"PutMessage", op::PutMessage{m},
       "\x05"           // PutMessage
       "\xac\x02"       //   id 300
       "\x01t"          //   topic "t"
       "\x01p"          //   payload "p"
       "\x01"           //   qos 1
       "\x00"s          //   no retain
       "\x00"s          //   forward_properties ""
       "\x01\x02",      //   expires_at present: 1 (zigzag 2)
       {.kind = T::put_message, .message_id = 300}},
      {"PutQueueEntry", op::PutQueueEntry{e, false},
       "\x06"           // PutQueueEntry
       "\x01s"          //   client_id "s"
       "\x03"           //   seq 3
       "\x07"           //   message_id 7
       "\x01"           //   qos 1
       "\x00"s          //   no retain
       "\x02"           //   2 subscription ids:
       "\x01"           //     1
       "\xac\x02"       //     300
       "\xff\xff\x03"   //   packet_id 65535
       "\x01"           //   released
       "\x00"s,         //   not fresh
       {.kind = T::put_queue_entry, .fresh = false, .client_id = "s", .number = 3, .message_id = 7}},
      {"DeleteQueueEntry", op::DeleteQueueEntry{"s", 300},
       "\x07"           // DeleteQueueEntry
       "\x01s"          //   client_id "s"
       "\xac\x02",      //   seq 300
       {.kind = T::delete_queue_entry, .client_id = "s", .number = 300}},
      {"PutIncoming", op::PutIncoming{{"c", 65535}},
       "\x08"           // PutIncoming
       "\x01" "c"       //   client_id "c"
       "\xff\xff\x03",  //   packet_id 65535
       {.kind = T::put_incoming, .client_id = "c", .number = 65535}},
      {"DeleteIncoming", op::DeleteIncoming{"c", 1},
       "\x09"           // DeleteIncoming
       "\x01" "c"       //   client_id "c"
       "\x01",          //   packet_id 1
       {.kind = T::delete_incoming, .client_id = "c", .number = 1}},
      {"SetRetained", op::SetRetained{{"t", 7}},
       "\x0a"           // SetRetained
       "\x01t"          //   topic "t"
       "\x07",          //   message_id 7
       {.kind = T::set_retained, .message_id = 7}},
      {"ClearRetained", op::ClearRetained{"t"},
       "\x0b"           // ClearRetained
       "\x01t",         //   topic "t"
       {.kind = T::clear_retained}},
  };
  // clang-format on
}

TEST(StoreCodec, EveryOpKindIsItsBytes) {
  const auto cases = every_kind();
  ASSERT_EQ(cases.size(), std::variant_size_v<StoreOp>);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(encode(c.op), c.bytes);                  // written
    const StoreOp decoded = decode_store_op(c.bytes);  // read: the same op, so it writes the same bytes
    EXPECT_EQ(decoded.index(), c.op.index());
    EXPECT_EQ(encode(decoded), c.bytes);
    std::vector<StoreOpView> views;  // scanned
    scan_store_ops(c.bytes, views);
    ASSERT_EQ(views.size(), 1u);
    EXPECT_EQ(views[0].kind, c.view.kind);
    EXPECT_EQ(views[0].fresh, c.view.fresh);
    EXPECT_EQ(views[0].client_id, c.view.client_id);
    EXPECT_EQ(views[0].number, c.view.number);
    EXPECT_EQ(views[0].message_id, c.view.message_id);
    EXPECT_EQ(views[0].bytes, c.bytes);
  }
  const StoreOp session = decode_store_op(cases[0].bytes);
  EXPECT_EQ(std::get<op::PutSession>(session).session, std::get<op::PutSession>(cases[0].op).session);
  const StoreOp put = decode_store_op(cases[5].bytes);
  EXPECT_EQ(std::get<op::PutQueueEntry>(put).entry, std::get<op::PutQueueEntry>(cases[5].op).entry);
  EXPECT_FALSE(std::get<op::PutQueueEntry>(put).fresh);
}

// The worked example of store_codec.hpp.
TEST(StoreCodec, TheHeadersExampleHolds) {
  StoreBatch batch;
  batch.put_queue_entry("s", 3, 7, QoS::at_least_once, false, {}, 0, false, true);
  batch.delete_queue_entry("s", 300);
  EXPECT_EQ(batch.bytes(),
            "\x06\x01s\x03\x07\x01\x00\x00\x00\x00\x01"s
            "\x07\x01s\xac\x02"s);
  std::vector<StoreOpView> views;
  scan_store_ops(batch.bytes(), views);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_TRUE(views[0].fresh);
  EXPECT_EQ(views[0].bytes.size(), 11u);
}

// A plan may make a put fresh (persistence/transaction_plan.hpp); the op is written again with it, and every other op
// as it was.
TEST(StoreCodec, AScannedOpIsWrittenAgainWithThePlansFresh) {
  const auto e = entry("client", 9, 7);
  StoreBatch stale, fresh;
  stale.put_queue_entry(e.client_id, e.seq, e.message_id, e.qos, e.retain, e.subscription_ids, 5, true, false);
  stale.delete_queue_entry("client", 9);
  fresh.put_queue_entry(e.client_id, e.seq, e.message_id, e.qos, e.retain, e.subscription_ids, 5, true, true);
  fresh.delete_queue_entry("client", 9);

  std::vector<StoreOpView> views;
  scan_store_ops(stale.bytes(), views);
  ASSERT_EQ(views.size(), 2u);
  std::string out = "before ";
  for (const auto& v : views) append_store_op(v, out);  // as scanned: as written
  EXPECT_EQ(out, "before " + std::string(stale.bytes()));

  views[0].fresh = true;
  views[1].fresh = true;  // means nothing to a delete: its bytes stay
  out.clear();
  for (const auto& v : views) append_store_op(v, out);
  EXPECT_EQ(out, fresh.bytes());

  views.clear();
  scan_store_ops(fresh.bytes(), views);
  views[0].fresh = false;
  out.clear();
  append_store_op(views[0], out);
  std::vector<StoreOp> decoded;
  decode_store_ops(out, decoded);
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_FALSE(std::get<op::PutQueueEntry>(decoded[0]).fresh);
  EXPECT_EQ(std::get<op::PutQueueEntry>(decoded[0]).entry.packet_id, 5);
}

// The Broker writes the ops of a publish from its own fields (StoreBatch::put_message() and the like): they must
// decode to the ops those fields make, and encode exactly as the ops themselves do.
TEST(StoreCodec, TheFieldWritersEncodeAsTheOpsDo) {
  auto m = message(7, "a/b", "p", QoS::at_least_once);
  m.expires_at = 1'700'000'000'000;
  m.forward_properties = "\x03\x00\x01x"s;
  auto e = entry("client", 9, 7);
  e.subscription_ids = {1, 268'435'455};
  e.packet_id = 65535;
  e.released = true;
  const std::vector<StoreOp> ops{
      op::PutMessage{m},         op::PutQueueEntry{e, true}, op::DeleteQueueEntry{"client", 9},
      op::PutIncoming{{"c", 3}}, op::DeleteIncoming{"c", 3}, op::SetRetained{{"a/b", 7}},
      op::ClearRetained{"a/b"},  op::DeleteSession{"c"},     op::DeleteSubscription{"c", "a/#"}};
  StoreBatch by_op, by_fields;
  for (const StoreOp& o : ops) by_op.add(o);
  by_fields.put_message(m.id, m.topic, m.payload, m.qos, m.retain, m.forward_properties, m.expires_at);
  by_fields.put_queue_entry(e.client_id, e.seq, e.message_id, e.qos, e.retain, e.subscription_ids, e.packet_id,
                            e.released, true);
  by_fields.delete_queue_entry("client", 9);
  by_fields.put_incoming("c", 3);
  by_fields.delete_incoming("c", 3);
  by_fields.set_retained("a/b", 7);
  by_fields.clear_retained("a/b");
  by_fields.delete_session("c");
  by_fields.delete_subscription("c", "a/#");
  std::vector<StoreOp> decoded;
  decode_store_ops(by_fields.bytes(), decoded);
  ASSERT_EQ(decoded.size(), ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(encode(decoded[i]), encode(ops[i])) << "op " << i;
  EXPECT_EQ(std::get<op::PutMessage>(decoded[0]).message, m);
  EXPECT_EQ(std::get<op::PutQueueEntry>(decoded[1]).entry, e);
  EXPECT_TRUE(std::get<op::PutQueueEntry>(decoded[1]).fresh);
  EXPECT_EQ(by_fields.size(), ops.size());
  EXPECT_EQ(by_fields.bytes(), by_op.bytes());
}

TEST(StoreCodec, EveryTruncationIsRejected) {
  for (const auto& c : every_kind()) {
    for (std::size_t size = 0; size < c.bytes.size(); ++size) {
      const auto prefix = std::string_view(c.bytes).substr(0, size);
      EXPECT_THROW(decode_store_op(prefix), StoreCodecError) << c.name << " size " << size;
      std::vector<StoreOpView> views;
      if (size > 0) {
        EXPECT_THROW(scan_store_ops(prefix, views), StoreCodecError) << c.name << " size " << size;
      }
    }
  }
}

TEST(StoreCodec, MalformedOpsAreRejected) {
  // clang-format off
  const std::pair<const char*, std::string> cases[] = {
      {"tag 0", "\x00"s},
      {"tag 12", "\x0c\x00"s},
      {"string longer than the op", "\x0b\x05t"s},
      {"qos 3", "\x05\x01\x00\x00\x03\x00\x00\x00"s},                   // PutMessage id 1, "", "", qos 3
      {"version 6", "\x01\x00\x00\x00\x06\x00\x00"s},                   // PutSession "", no expiry, 0, version 6
      {"flag 2", "\x05\x01\x00\x00\x01\x02\x00\x00"s},                  // PutMessage retain 2
      {"packet id 65536", "\x08\x00\x80\x80\x04"s},                     // PutIncoming "", 65536
      {"expiry_interval 2^32", "\x01\x00\x01\x80\x80\x80\x80\x10\x00\x04\x00\x00"s},
      {"subscription id 2^32", "\x06\x00\x00\x00\x01\x00\x01\x80\x80\x80\x80\x10\x00\x00\x00"s},
      {"more subscription ids than bytes", "\x06\x00\x00\x00\x01\x00\x7f\x00\x00\x00"s},
      {"varint over 64 bits", "\x07\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"s},  // DeleteQueueEntry seq
      {"varint of 11 bytes", "\x07\x00\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"s},
  };
  // clang-format on
  for (const auto& [what, bytes] : cases) {
    EXPECT_THROW(decode_store_op(bytes), StoreCodecError) << what;
    std::vector<StoreOpView> views;
    EXPECT_THROW(scan_store_ops(bytes, views), StoreCodecError) << what;
  }
  EXPECT_THROW(decode_store_op("\x0b\x00\x00"s), StoreCodecError);  // trailing bytes after ClearRetained ""
  std::vector<StoreOp> ops;
  EXPECT_THROW(decode_store_ops("\x0b\x00\x00"s, ops), StoreCodecError);  // a second op of tag 0
}

// What frames the ops (a journal record) reads its own fields with the same reader; errors name the byte.
TEST(StoreCodec, TheReaderReadsAFrameAroundOpsAndNamesTheByteOfAnError) {
  const std::string framed = "\x01\x81\x01\x07\x01s\xac\x02"s;  // a byte 1, a varint 129, DeleteQueueEntry{"s", 300}
  StoreOpReader r(framed);
  EXPECT_EQ(r.byte(), 1u);
  EXPECT_EQ(r.varint(), 129u);
  EXPECT_EQ(r.remaining(), 5u);
  std::vector<StoreOp> ops;
  r.decode(1, ops);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(std::get<op::DeleteQueueEntry>(ops[0]).seq, 300u);
  EXPECT_TRUE(r.at_end());

  const std::string op_bytes = "\x07\x01"s;  // DeleteQueueEntry, a client id of 1 byte that is not there
  StoreOpReader truncated(op_bytes);
  try {
    truncated.decode(1, ops);
    ADD_FAILURE() << "no error";
  } catch (const StoreCodecError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated string at byte 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tern::core
