// MQTT 5.0 properties: the encoding of every property, which packet may carry which (spec table 2-4, restated here
// independently of the codec's table), repetition rules and value ranges, and packets carrying all their
// properties.
#include "broker/protocol/properties.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_round_trip;
using test::hex;

Properties every_property() {
  Properties p;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 0x01020304;
  p.content_type = "ct";
  p.response_topic = "rt";
  p.correlation_data = std::string("\x00\x01", 2);
  p.subscription_identifiers = {268'435'455, 1};
  p.session_expiry_interval = 0xFFFFFFFF;
  p.assigned_client_identifier = "id";
  p.server_keep_alive = 30;
  p.authentication_method = "am";
  p.authentication_data = "ad";
  p.request_problem_information = 0;
  p.will_delay_interval = 7;
  p.request_response_information = 1;
  p.response_information = "ri";
  p.server_reference = "sr";
  p.reason_string = "rs";
  p.receive_maximum = 100;
  p.topic_alias_maximum = 20;
  p.topic_alias = 5;
  p.maximum_qos = 0;
  p.retain_available = 1;
  p.user_properties = {{"z", "1"}, {"a", "2"}};
  p.maximum_packet_size = 1024;
  p.wildcard_subscription_available = 0;
  p.subscription_identifier_available = 1;
  p.shared_subscription_available = 0;
  return p;
}

TEST(Properties, EncodeEveryPropertyInIdOrderUserPropertiesLast) {
  const std::string expected = bytes({
      0x01, 0x01,                               // payload format indicator 1
      0x02, 0x01, 0x02, 0x03, 0x04,             // message expiry interval
      0x03, 0x00, 0x02, 'c',  't',              // content type "ct"
      0x08, 0x00, 0x02, 'r',  't',              // response topic "rt"
      0x09, 0x00, 0x02, 0x00, 0x01,             // correlation data (binary)
      0x0B, 0xFF, 0xFF, 0xFF, 0x7F,             // subscription identifier 268,435,455
      0x0B, 0x01,                               // subscription identifier 1
      0x11, 0xFF, 0xFF, 0xFF, 0xFF,             // session expiry interval
      0x12, 0x00, 0x02, 'i',  'd',              // assigned client identifier "id"
      0x13, 0x00, 0x1E,                         // server keep alive 30
      0x15, 0x00, 0x02, 'a',  'm',              // authentication method "am"
      0x16, 0x00, 0x02, 'a',  'd',              // authentication data "ad"
      0x17, 0x00,                               // request problem information 0
      0x18, 0x00, 0x00, 0x00, 0x07,             // will delay interval 7
      0x19, 0x01,                               // request response information 1
      0x1A, 0x00, 0x02, 'r',  'i',              // response information "ri"
      0x1C, 0x00, 0x02, 's',  'r',              // server reference "sr"
      0x1F, 0x00, 0x02, 'r',  's',              // reason string "rs"
      0x21, 0x00, 0x64,                         // receive maximum 100
      0x22, 0x00, 0x14,                         // topic alias maximum 20
      0x23, 0x00, 0x05,                         // topic alias 5
      0x24, 0x00,                               // maximum QoS 0
      0x25, 0x01,                               // retain available 1
      0x27, 0x00, 0x00, 0x04, 0x00,             // maximum packet size 1024
      0x28, 0x00,                               // wildcard subscription available 0
      0x29, 0x01,                               // subscription identifier available 1
      0x2A, 0x00,                               // shared subscription available 0
      0x26, 0x00, 0x01, 'z',  0x00, 0x01, '1',  // user property z=1 (user properties last, in their order)
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '2',  // user property a=2
  });
  std::string out;
  encode_properties(every_property(), out);
  EXPECT_EQ(hex(out), hex(expected));
  EXPECT_EQ(out.size(), 114u);  // (the total is also the property length a packet would carry)
}

TEST(Properties, EmptyEncodesToNothing) {
  std::string out;
  encode_properties(Properties{}, out);
  EXPECT_TRUE(out.empty());
}

// Where each property may appear: restated from the spec's table 2-4.
enum Ctx {
  connect,
  will,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
  ctx_count
};
const char* const ctx_names[] = {"CONNECT", "will",      "CONNACK", "PUBLISH",     "PUBACK",   "PUBREC",     "PUBREL",
                                 "PUBCOMP", "SUBSCRIBE", "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"};

const std::map<int, std::set<int>>& spec_table() {
  static const std::map<int, std::set<int>> table = {
      {0x01, {publish, will}},
      {0x02, {publish, will}},
      {0x03, {publish, will}},
      {0x08, {publish, will}},
      {0x09, {publish, will}},
      {0x0B, {publish, subscribe}},
      {0x11, {connect, connack, disconnect}},
      {0x12, {connack}},
      {0x13, {connack}},
      {0x15, {connect, connack, auth}},
      {0x16, {connect, connack, auth}},
      {0x17, {connect}},
      {0x18, {will}},
      {0x19, {connect}},
      {0x1A, {connack}},
      {0x1C, {connack, disconnect}},
      {0x1F, {connack, puback, pubrec, pubrel, pubcomp, suback, unsuback, disconnect, auth}},
      {0x21, {connect, connack}},
      {0x22, {connect, connack}},
      {0x23, {publish}},
      {0x24, {connack}},
      {0x25, {connack}},
      {0x26,
       {connect, will, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback,
        disconnect, auth}},
      {0x27, {connect, connack}},
      {0x28, {connack}},
      {0x29, {connack}},
      {0x2A, {connack}},
  };
  return table;
}

// One valid encoding (identifier and value) of each property.
std::string sample(int id) {
  switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
      return bytes({id, 0x01});  // byte
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27:
      return bytes({id, 0x00, 0x00, 0x01, 0x00});  // four-byte integer
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23:
      return bytes({id, 0x00, 0x01});  // two-byte integer
    case 0x0B:
      return bytes({id, 0x81, 0x01});  // variable byte integer
    case 0x26:
      return bytes({id, 0x00, 0x01, 'k', 0x00, 0x01, 'v'});  // string pair
    default:
      return bytes({id, 0x00, 0x01, 'x'});  // UTF-8 string or binary data
  }
}

// A 5.0 packet of the given kind with `block` as the contents of its (only, or will) property block.
std::string wire_with_properties(int ctx, const std::string& block) {
  std::string props;
  encode_varint(static_cast<std::uint32_t>(block.size()), props);
  props += block;
  std::string body;
  int first = 0;
  switch (ctx) {
    case connect:
      first = 0x10;
      body = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00}) + props + bytes({0x00, 0x00});
      break;
    case will:
      first = 0x10;
      body = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00}) + props +
             bytes({0x00, 0x01, 't', 0x00, 0x00});
      break;
    case connack:
      first = 0x20;
      body = bytes({0x00, 0x00}) + props;
      break;
    case publish:
      first = 0x30;
      body = bytes({0x00, 0x01, 't'}) + props + "payload";
      break;
    case puback:
      first = 0x40;
      body = bytes({0x00, 0x01, 0x00}) + props;
      break;
    case pubrec:
      first = 0x50;
      body = bytes({0x00, 0x01, 0x00}) + props;
      break;
    case pubrel:
      first = 0x62;
      body = bytes({0x00, 0x01, 0x00}) + props;
      break;
    case pubcomp:
      first = 0x70;
      body = bytes({0x00, 0x01, 0x00}) + props;
      break;
    case subscribe:
      first = 0x82;
      body = bytes({0x00, 0x01}) + props + bytes({0x00, 0x01, 't', 0x01});
      break;
    case suback:
      first = 0x90;
      body = bytes({0x00, 0x01}) + props + bytes({0x00});
      break;
    case unsubscribe:
      first = 0xA2;
      body = bytes({0x00, 0x01}) + props + bytes({0x00, 0x01, 't'});
      break;
    case unsuback:
      first = 0xB0;
      body = bytes({0x00, 0x01}) + props + bytes({0x00});
      break;
    case disconnect:
      first = 0xE0;
      body = bytes({0x00}) + props;
      break;
    case auth:
      first = 0xF0;
      body = bytes({0x00}) + props;
      break;
  }
  std::string wire = bytes({first});
  encode_varint(static_cast<std::uint32_t>(body.size()), wire);
  return wire + body;
}

DecodeResult decode_v5(const std::string& wire) { return decode(wire, Version::v5, 0); }

TEST(Properties, AllowedOnlyWhereTheSpecAllowsThem) {
  for (int ctx = 0; ctx < ctx_count; ++ctx) {
    ASSERT_EQ(decode_v5(wire_with_properties(ctx, "")).status, DecodeResult::Status::packet) << ctx_names[ctx];
    for (const auto& [id, contexts] : spec_table()) {
      const DecodeResult r = decode_v5(wire_with_properties(ctx, sample(id)));
      if (contexts.count(ctx) != 0) {
        EXPECT_EQ(r.status, DecodeResult::Status::packet) << "property " << id << " in " << ctx_names[ctx];
      } else {
        ASSERT_EQ(r.status, DecodeResult::Status::error) << "property " << id << " in " << ctx_names[ctx];
        EXPECT_EQ(r.error, ReasonCode::malformed_packet) << "property " << id << " in " << ctx_names[ctx];
      }
    }
  }
}

TEST(Properties, UnknownIdentifiersAreMalformed) {
  for (int id : {0x00, 0x04, 0x05, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x7F}) {
    for (int ctx = 0; ctx < ctx_count; ++ctx) {
      const DecodeResult r = decode_v5(wire_with_properties(ctx, bytes({id, 0x00})));
      ASSERT_EQ(r.status, DecodeResult::Status::error) << id << " in " << ctx_names[ctx];
      EXPECT_EQ(r.error, ReasonCode::malformed_packet) << id << " in " << ctx_names[ctx];
    }
  }
  // A two-byte identifier (variable byte integer 0x81 0x01 = 129) names no property either.
  EXPECT_EQ(decode_v5(wire_with_properties(publish, bytes({0x81, 0x01, 0x00}))).error, ReasonCode::malformed_packet);
}

TEST(Properties, RepeatingASinglePropertyIsAProtocolError) {
  for (const auto& [id, contexts] : spec_table()) {
    for (int ctx : contexts) {
      const DecodeResult r = decode_v5(wire_with_properties(ctx, sample(id) + sample(id)));
      const bool may_repeat = id == 0x26 || (id == 0x0B && ctx == publish);
      if (may_repeat) {
        EXPECT_EQ(r.status, DecodeResult::Status::packet) << id << " in " << ctx_names[ctx];
      } else {
        ASSERT_EQ(r.status, DecodeResult::Status::error) << id << " in " << ctx_names[ctx];
        EXPECT_EQ(r.error, ReasonCode::protocol_error) << id << " in " << ctx_names[ctx];
      }
    }
  }
}

TEST(Properties, ValueRanges) {
  auto error_of = [](int ctx, std::initializer_list<int> block) {
    const DecodeResult r = decode_v5(wire_with_properties(ctx, bytes(block)));
    return r.status == DecodeResult::Status::error ? r.error : ReasonCode::success;
  };
  // Byte properties that are booleans: 2 is a protocol error, 0 and 1 are fine.
  const std::pair<int, int> booleans[] = {{0x01, publish}, {0x01, will},    {0x17, connect},
                                          {0x19, connect}, {0x24, connack}, {0x25, connack},
                                          {0x28, connack}, {0x29, connack}, {0x2A, connack}};
  for (const auto& [id, ctx] : booleans) {
    EXPECT_EQ(error_of(ctx, {id, 0x00}), ReasonCode::success) << id;
    EXPECT_EQ(error_of(ctx, {id, 0x01}), ReasonCode::success) << id;
    EXPECT_EQ(error_of(ctx, {id, 0x02}), ReasonCode::protocol_error) << id;
    EXPECT_EQ(error_of(ctx, {id, 0xFF}), ReasonCode::protocol_error) << id;
  }
  EXPECT_EQ(error_of(connect, {0x21, 0x00, 0x00}), ReasonCode::protocol_error);  // receive maximum 0
  EXPECT_EQ(error_of(connack, {0x21, 0x00, 0x00}), ReasonCode::protocol_error);
  EXPECT_EQ(error_of(connect, {0x27, 0x00, 0x00, 0x00, 0x00}), ReasonCode::protocol_error);  // max packet size 0
  EXPECT_EQ(error_of(publish, {0x0B, 0x00}), ReasonCode::protocol_error);  // subscription identifier 0
  EXPECT_EQ(error_of(subscribe, {0x0B, 0x00}), ReasonCode::protocol_error);
  EXPECT_EQ(error_of(publish, {0x23, 0x00, 0x00}), ReasonCode::success);  // topic alias 0: the broker's call
  EXPECT_EQ(error_of(connect, {0x22, 0x00, 0x00}), ReasonCode::success);  // topic alias maximum 0 is allowed
  EXPECT_EQ(error_of(connack, {0x13, 0x00, 0x00}), ReasonCode::success);  // server keep alive 0 is allowed
  EXPECT_EQ(error_of(connect, {0x11, 0x00, 0x00, 0x00, 0x00}), ReasonCode::success);  // session expiry 0
  // Subscription identifier: a variable byte integer of at most four bytes.
  EXPECT_EQ(error_of(publish, {0x0B, 0xFF, 0xFF, 0xFF, 0x7F}), ReasonCode::success);
  EXPECT_EQ(error_of(publish, {0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), ReasonCode::malformed_packet);
  // Values cut short by the end of the property block.
  EXPECT_EQ(error_of(connack, {0x11, 0x00, 0x00}), ReasonCode::malformed_packet);
  EXPECT_EQ(error_of(connack, {0x13, 0x00}), ReasonCode::malformed_packet);
  EXPECT_EQ(error_of(connack, {0x24}), ReasonCode::malformed_packet);
  EXPECT_EQ(error_of(connack, {0x12, 0x00, 0x05, 'a'}), ReasonCode::malformed_packet);
  EXPECT_EQ(error_of(connack, {0x26, 0x00, 0x01, 'k'}), ReasonCode::malformed_packet);  // user property, no value
  EXPECT_EQ(error_of(publish, {0x0B, 0x80}), ReasonCode::malformed_packet);
  // UTF-8 string properties are validated, binary ones are not.
  for (const auto& [id, ctx] : std::initializer_list<std::pair<int, int>>{{0x03, publish},
                                                                          {0x08, publish},
                                                                          {0x12, connack},
                                                                          {0x15, auth},
                                                                          {0x1A, connack},
                                                                          {0x1C, disconnect},
                                                                          {0x1F, puback}}) {
    EXPECT_EQ(error_of(ctx, {id, 0x00, 0x01, 0x00}), ReasonCode::malformed_packet) << id;        // U+0000
    EXPECT_EQ(error_of(ctx, {id, 0x00, 0x02, 0xC0, 0x80}), ReasonCode::malformed_packet) << id;  // overlong
  }
  EXPECT_EQ(error_of(publish, {0x09, 0x00, 0x02, 0xC0, 0x00}), ReasonCode::success);  // correlation data
  EXPECT_EQ(error_of(auth, {0x16, 0x00, 0x02, 0xC0, 0x00}), ReasonCode::success);     // authentication data
  EXPECT_EQ(error_of(suback, {0x26, 0x00, 0x01, 0xFF, 0x00, 0x00}), ReasonCode::malformed_packet);  // user key
  EXPECT_EQ(error_of(suback, {0x26, 0x00, 0x00, 0x00, 0x01, 0xFF}), ReasonCode::malformed_packet);  // user value
}

// Every property, each in a packet that may carry it: the union of these packets covers all 27.
TEST(Properties, RoundTripPacketsCarryingAllTheirProperties) {
  const Properties all = every_property();
  auto only = [&all](std::initializer_list<int> ids) {
    Properties p;
    for (int id : ids) {
      switch (id) {
        case 0x01:
          p.payload_format_indicator = all.payload_format_indicator;
          break;
        case 0x02:
          p.message_expiry_interval = all.message_expiry_interval;
          break;
        case 0x03:
          p.content_type = all.content_type;
          break;
        case 0x08:
          p.response_topic = all.response_topic;
          break;
        case 0x09:
          p.correlation_data = all.correlation_data;
          break;
        case 0x0B:
          p.subscription_identifiers = all.subscription_identifiers;
          break;
        case 0x11:
          p.session_expiry_interval = all.session_expiry_interval;
          break;
        case 0x12:
          p.assigned_client_identifier = all.assigned_client_identifier;
          break;
        case 0x13:
          p.server_keep_alive = all.server_keep_alive;
          break;
        case 0x15:
          p.authentication_method = all.authentication_method;
          break;
        case 0x16:
          p.authentication_data = all.authentication_data;
          break;
        case 0x17:
          p.request_problem_information = all.request_problem_information;
          break;
        case 0x18:
          p.will_delay_interval = all.will_delay_interval;
          break;
        case 0x19:
          p.request_response_information = all.request_response_information;
          break;
        case 0x1A:
          p.response_information = all.response_information;
          break;
        case 0x1C:
          p.server_reference = all.server_reference;
          break;
        case 0x1F:
          p.reason_string = all.reason_string;
          break;
        case 0x21:
          p.receive_maximum = all.receive_maximum;
          break;
        case 0x22:
          p.topic_alias_maximum = all.topic_alias_maximum;
          break;
        case 0x23:
          p.topic_alias = all.topic_alias;
          break;
        case 0x24:
          p.maximum_qos = all.maximum_qos;
          break;
        case 0x25:
          p.retain_available = all.retain_available;
          break;
        case 0x26:
          p.user_properties = all.user_properties;
          break;
        case 0x27:
          p.maximum_packet_size = all.maximum_packet_size;
          break;
        case 0x28:
          p.wildcard_subscription_available = all.wildcard_subscription_available;
          break;
        case 0x29:
          p.subscription_identifier_available = all.subscription_identifier_available;
          break;
        case 0x2A:
          p.shared_subscription_available = all.shared_subscription_available;
          break;
      }
    }
    return p;
  };
  auto round_trip = [](const Packet& packet) {
    const std::string wire = encode(packet, Version::v5);
    expect_round_trip(wire, packet, Version::v5);
  };

  Connect c;
  c.version = Version::v5;
  c.client_id = "c";
  c.properties = only({0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27});
  c.will = Will{"w", "p", QoS::exactly_once, false, only({0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26})};
  round_trip(c);

  Connack ca;
  ca.properties =
      only({0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A});
  round_trip(ca);

  Publish p;
  p.topic = "t";
  p.qos = QoS::at_least_once;
  p.packet_id = 1;
  p.properties = only({0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26});
  round_trip(p);

  round_trip(Puback{1, ReasonCode::success, only({0x1F, 0x26})});
  round_trip(Pubrec{1, ReasonCode::success, only({0x1F, 0x26})});
  round_trip(Pubrel{1, ReasonCode::success, only({0x1F, 0x26})});
  round_trip(Pubcomp{1, ReasonCode::success, only({0x1F, 0x26})});
  Properties one_id = only({0x26});
  one_id.subscription_identifiers = {268'435'455};
  round_trip(Subscribe{1, {{"t", QoS::at_most_once, false, false, 0}}, one_id});
  round_trip(Suback{1, {ReasonCode::success}, only({0x1F, 0x26})});
  round_trip(Unsubscribe{1, {"t"}, only({0x26})});
  round_trip(Unsuback{1, {ReasonCode::success}, only({0x1F, 0x26})});
  round_trip(Disconnect{ReasonCode::success, only({0x11, 0x1C, 0x1F, 0x26})});
  round_trip(Auth{ReasonCode::continue_authentication, only({0x15, 0x16, 0x1F, 0x26})});
}

TEST(Properties, LongPropertyBlockUsesAMultiByteLength) {
  Publish p;
  p.topic = "t";
  p.properties.user_properties.assign(40, {"key", "value"});  // 40 * 13 = 520 bytes of properties
  const std::string wire = encode(p, Version::v5);
  EXPECT_EQ(static_cast<unsigned char>(wire[6]), 0x88);  // property length 520 = 0x88 0x04
  EXPECT_EQ(static_cast<unsigned char>(wire[7]), 0x04);
  expect_round_trip(wire, p, Version::v5);
}

}  // namespace
}  // namespace tern::protocol
