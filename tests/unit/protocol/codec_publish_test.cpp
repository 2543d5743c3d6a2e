// PUBLISH wire examples (3.1.1 and 5.0) and the broker's fast path encode_publish() / publish_size().
#include <gtest/gtest.h>

#include <array>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::expect_round_trip;
using test::hex;

Publish make_publish(std::string topic, std::string payload, QoS qos, std::uint16_t id, bool retain = false,
                     bool dup = false) {
  Publish p;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  p.qos = qos;
  p.packet_id = id;
  p.retain = retain;
  p.dup = dup;
  return p;
}

TEST(CodecPublish, V311QoS0) {
  expect_round_trip(bytes({
                        0x30, 0x07,                 // PUBLISH QoS 0, remaining length 7
                        0x00, 0x03, 'a', '/', 'b',  // topic "a/b"
                        'h', 'i',                   // payload (no packet id at QoS 0)
                    }),
                    make_publish("a/b", "hi", QoS::at_most_once, 0), Version::v311);
}

TEST(CodecPublish, V311QoS1Retain) {
  expect_round_trip(bytes({
                        0x33, 0x06,       // PUBLISH QoS 1 retain, remaining length 6
                        0x00, 0x01, 't',  // topic "t"
                        0x00, 0x07,       // packet id 7
                        'x',              // payload
                    }),
                    make_publish("t", "x", QoS::at_least_once, 7, true), Version::v311);
}

TEST(CodecPublish, V311QoS2DupEmptyPayload) {
  expect_round_trip(bytes({
                        0x3C, 0x05,       // PUBLISH DUP QoS 2, remaining length 5
                        0x00, 0x01, 't',  // topic "t"
                        0xFF, 0xFF,       // packet id 65535
                    }),
                    make_publish("t", "", QoS::exactly_once, 0xFFFF, false, true), Version::v311);
}

TEST(CodecPublish, V31SameAsV311) {
  expect_round_trip(bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x02, 'x'}),
                    make_publish("t", "x", QoS::at_least_once, 2), Version::v31);
}

TEST(CodecPublish, TwoByteRemainingLength) {
  const std::string payload(200, 'p');
  const std::string wire = bytes({
                               0x30, 0xCB, 0x01,  // PUBLISH QoS 0, remaining length 203 (two-byte varint)
                               0x00, 0x01, 't',   // topic "t"
                           }) +
                           payload;
  expect_round_trip(wire, make_publish("t", payload, QoS::at_most_once, 0), Version::v311);
}

TEST(CodecPublish, V5AllPublishProperties) {
  const std::string wire = bytes({
      0x32, 0x37,                               // PUBLISH QoS 1, remaining length 55
      0x00, 0x03, 's',  '/',  't',              // topic "s/t"
      0x00, 0x01,                               // packet id 1
      0x2D,                                     // property length 45
      0x01, 0x01,                               //   payload format indicator 1
      0x02, 0x00, 0x00, 0x00, 0x3C,             //   message expiry interval 60
      0x03, 0x00, 0x04, 'j',  's',  'o',  'n',  //   content type "json"
      0x08, 0x00, 0x01, 'r',                    //   response topic "r"
      0x09, 0x00, 0x02, 0x00, 0xFF,             //   correlation data (binary)
      0x0B, 0x80, 0x01,                         //   subscription identifier 128
      0x0B, 0x05,                               //   subscription identifier 5 (may repeat in PUBLISH)
      0x23, 0x00, 0x02,                         //   topic alias 2
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',  // user property a=1
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '2',  // user property a=2 (order kept)
      '{',  '}',                                // payload
  });
  Publish p = make_publish("s/t", "{}", QoS::at_least_once, 1);
  p.properties.payload_format_indicator = 1;
  p.properties.message_expiry_interval = 60;
  p.properties.content_type = "json";
  p.properties.response_topic = "r";
  p.properties.correlation_data = std::string("\x00\xFF", 2);
  p.properties.subscription_identifiers = {128, 5};
  p.properties.topic_alias = 2;
  p.properties.user_properties = {{"a", "1"}, {"a", "2"}};
  expect_round_trip(wire, p, Version::v5);
}

TEST(CodecPublish, V5EmptyTopicWithAlias) {
  Publish p = make_publish("", "p", QoS::at_most_once, 0);
  p.properties.topic_alias = 1;
  expect_round_trip(bytes({
                        0x30, 0x07,        // PUBLISH QoS 0, remaining length 7
                        0x00, 0x00,        // topic "" (the alias names it)
                        0x03,              // property length 3
                        0x23, 0x00, 0x01,  //   topic alias 1
                        'p',               // payload
                    }),
                    p, Version::v5);
}

TEST(CodecPublish, V5TopicAliasZeroIsLeftToTheBroker) {
  const DecodeResult r = decode(bytes({0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00}), Version::v5, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_EQ(std::get<Publish>(r.packet).properties.topic_alias, 0);
}

TEST(CodecPublish, V311DropsProperties) {
  Publish p = make_publish("t", "x", QoS::at_most_once, 0);
  p.properties.message_expiry_interval = 5;
  EXPECT_EQ(encode(p, Version::v311), bytes({0x30, 0x04, 0x00, 0x01, 't', 'x'}));
}

TEST(CodecPublish, Errors) {
  expect_error(bytes({0x36, 0x04, 0x00, 0x01, 't', 'x'}), Version::v311, ReasonCode::malformed_packet);  // QoS 3
  expect_error(bytes({0x38, 0x04, 0x00, 0x01, 't', 'x'}), Version::v5, ReasonCode::malformed_packet);    // QoS 0 DUP
  expect_error(bytes({0x38, 0x04, 0x00, 0x01, 't', 'x'}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), Version::v311, ReasonCode::protocol_error);  // id 0
  expect_error(bytes({0x34, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00}), Version::v5, ReasonCode::protocol_error);
  expect_error(bytes({0x32, 0x04, 0x00, 0x01, 't', 0x00}), Version::v311, ReasonCode::malformed_packet);  // short id
  expect_error(bytes({0x30, 0x03, 0x00, 0x05, 't'}), Version::v311, ReasonCode::malformed_packet);  // topic overruns
  expect_error(bytes({0x30, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);             // half a length
  expect_error(bytes({0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80}), Version::v311,
               ReasonCode::malformed_packet);                                                        // surrogate U+D800
  expect_error(bytes({0x30, 0x03, 0x00, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);  // U+0000
  expect_error(bytes({0x30, 0x03, 0x00, 0x01, 't'}), Version::v5, ReasonCode::malformed_packet);     // no properties
  // Properties: length past the end, a property PUBLISH may not carry, a repeated single property, bad values.
  expect_error(bytes({0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01}), Version::v5,
               ReasonCode::malformed_packet);
  expect_error(bytes({0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x01, 0x00, 0x01, 0x00}), Version::v5,
               ReasonCode::protocol_error);
  expect_error(bytes({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0x02}), Version::v5, ReasonCode::protocol_error);
  expect_error(bytes({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00}), Version::v5, ReasonCode::protocol_error);
  // Response topic and user property strings are checked; correlation data is binary and is not.
  expect_error(bytes({0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x08, 0x00, 0x01, 0xFF}), Version::v5,
               ReasonCode::malformed_packet);
  expect_error(bytes({0x30, 0x0B, 0x00, 0x01, 't', 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xC0}), Version::v5,
               ReasonCode::malformed_packet);
  EXPECT_EQ(decode(bytes({0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x09, 0x00, 0x01, 0xFF}), Version::v5, 0).status,
            DecodeResult::Status::packet);
}

TEST(EncodePublish, V5ViewWithPerDeliveryProperties) {
  Properties stored;
  stored.content_type = "c";
  std::string encoded_properties;
  encode_properties(stored, encoded_properties);
  const std::array<std::uint32_t, 2> subscription_ids = {1, 200};

  PublishView view;
  view.topic = "t";
  view.payload = "data";
  view.qos = QoS::at_least_once;
  view.packet_id = 9;
  view.encoded_properties = encoded_properties;
  view.message_expiry_interval = 10;
  view.topic_alias = 3;
  view.subscription_identifiers = subscription_ids;

  const std::string wire = bytes({
      0x32, 0x1B,                    // PUBLISH QoS 1, remaining length 27
      0x00, 0x01, 't',               // topic "t"
      0x00, 0x09,                    // packet id 9
      0x11,                          // property length 17
      0x03, 0x00, 0x01, 'c',         //   content type "c" (the stored bytes, verbatim)
      0x02, 0x00, 0x00, 0x00, 0x0A,  //   message expiry interval 10
      0x23, 0x00, 0x03,              //   topic alias 3
      0x0B, 0x01,                    //   subscription identifier 1
      0x0B, 0xC8, 0x01,              //   subscription identifier 200
      'd',  'a',  't',  'a',         // payload
  });
  std::string out = "prefix";
  encode_publish(view, Version::v5, out);
  EXPECT_EQ(hex(out), hex("prefix" + wire));
  EXPECT_EQ(publish_size(view, Version::v5), wire.size());

  Publish expected = make_publish("t", "data", QoS::at_least_once, 9);
  expected.properties.content_type = "c";
  expected.properties.message_expiry_interval = 10;
  expected.properties.topic_alias = 3;
  expected.properties.subscription_identifiers = {1, 200};
  const DecodeResult r = decode(wire, Version::v5, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_EQ(r.consumed, wire.size());
  EXPECT_EQ(r.packet, Packet{expected});
}

TEST(EncodePublish, V311ViewIgnoresProperties) {
  PublishView view;
  view.topic = "t";
  view.payload = "data";
  view.qos = QoS::exactly_once;
  view.retain = true;
  view.dup = true;
  view.packet_id = 9;
  view.encoded_properties = std::string_view("\x03\x00\x01\x63", 4);
  view.topic_alias = 3;
  const std::string wire = bytes({
      0x3D, 0x09,          // PUBLISH DUP QoS 2 retain, remaining length 9
      0x00, 0x01, 't',     // topic
      0x00, 0x09,          // packet id 9
      'd', 'a', 't', 'a',  // payload
  });
  std::string out;
  encode_publish(view, Version::v311, out);
  EXPECT_EQ(hex(out), hex(wire));
  EXPECT_EQ(publish_size(view, Version::v311), wire.size());
}

TEST(EncodePublish, MatchesEncodeOfPublish) {
  Publish p = make_publish("a/b", std::string(300, 'z'), QoS::at_least_once, 77, true);
  p.properties.payload_format_indicator = 1;
  p.properties.user_properties = {{"k", "v"}};
  std::string encoded_properties;
  encode_properties(p.properties, encoded_properties);
  PublishView view{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id, encoded_properties, {}, {}, {}};
  for (Version v : {Version::v311, Version::v5}) {
    std::string fast;
    encode_publish(view, v, fast);
    EXPECT_EQ(hex(fast), hex(encode(p, v)));
    EXPECT_EQ(publish_size(view, v), fast.size());
    const DecodeResult r = decode(fast, v, 0);
    ASSERT_EQ(r.status, DecodeResult::Status::packet);
    if (v == Version::v5) {
      EXPECT_EQ(r.packet, Packet{p});
    }
  }
}

// read_publish_view: the bridge's fast path reads the broker's own PUBLISH bytes in place.
TEST(ReadPublishView, ReadsWhatEncodePublishWrote) {
  Publish p = make_publish("a/b", std::string(300, 'z'), QoS::exactly_once, 77, true);
  p.dup = true;
  p.properties.payload_format_indicator = 1;
  p.properties.message_expiry_interval = 60;
  p.properties.content_type = "text/plain";
  p.properties.response_topic = "reply/here";
  p.properties.correlation_data = std::string("\x00\x01", 2);
  p.properties.user_properties = {{"k", "v"}, {"k", "w"}};
  for (Version v : {Version::v311, Version::v5}) {
    const std::string wire = encode(p, v) + std::string("\xC0\x00", 2);  // a PINGREQ after it
    PublishView view;
    ASSERT_EQ(read_publish_view(wire, v, view), wire.size() - 2) << static_cast<int>(v);
    EXPECT_EQ(view.topic, "a/b");
    EXPECT_EQ(view.payload, p.payload);
    EXPECT_EQ(view.qos, QoS::exactly_once);
    EXPECT_TRUE(view.retain);
    EXPECT_TRUE(view.dup);
    EXPECT_EQ(view.packet_id, 77);
    // Written again from the view: the same bytes (the properties verbatim).
    std::string again;
    encode_publish(view, v, again);
    EXPECT_EQ(hex(again), hex(wire.substr(0, wire.size() - 2)));
  }
  PublishView view;
  const std::string qos0 = encode(make_publish("t", "", QoS::at_most_once, 0), Version::v5);
  ASSERT_EQ(read_publish_view(qos0, Version::v5, view), qos0.size());
  EXPECT_EQ(view.topic, "t");
  EXPECT_EQ(view.payload, "");
  EXPECT_EQ(view.packet_id, 0);
  EXPECT_TRUE(view.encoded_properties.empty());
}

TEST(ReadPublishView, LeavesToDecodeWhatItDoesNotRelay) {
  PublishView view;
  const std::string whole = encode(make_publish("t", "data", QoS::at_least_once, 9), Version::v5);
  // Every incomplete prefix: 0, never a packet that runs past the bytes.
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(read_publish_view(std::string_view(whole).substr(0, n), Version::v5, view), 0u) << n;
  }
  // Another packet.
  EXPECT_EQ(read_publish_view(bytes({0x40, 0x02, 0x00, 0x01}), Version::v5, view), 0u);
  // QoS 3; packet id 0.
  EXPECT_EQ(read_publish_view(bytes({0x36, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 0x00}), Version::v5, view), 0u);
  EXPECT_EQ(read_publish_view(bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00}), Version::v5, view), 0u);
  // A topic alias or a subscription identifier: values of the connection, for decode() and the general path.
  Publish aliased = make_publish("t", "data", QoS::at_least_once, 9);
  aliased.properties.topic_alias = 1;
  EXPECT_EQ(read_publish_view(encode(aliased, Version::v5), Version::v5, view), 0u);
  Publish identified = make_publish("t", "data", QoS::at_least_once, 9);
  identified.properties.subscription_identifiers = {5};
  EXPECT_EQ(read_publish_view(encode(identified, Version::v5), Version::v5, view), 0u);
  // A property a PUBLISH cannot carry, and a property block running past the packet.
  EXPECT_EQ(read_publish_view(bytes({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x24, 0x01}), Version::v5, view), 0u);
  EXPECT_EQ(read_publish_view(bytes({0x30, 0x06, 0x00, 0x01, 't', 0x05, 0x01, 0x01}), Version::v5, view), 0u);
  EXPECT_EQ(read_publish_view(bytes({0x30, 0x07, 0x00, 0x01, 't', 0x02, 0x03, 0x00, 0x05}), Version::v5, view), 0u);
  // A remaining length of more than four bytes.
  EXPECT_EQ(read_publish_view(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), Version::v5, view), 0u);
}

}  // namespace
}  // namespace tern::protocol
