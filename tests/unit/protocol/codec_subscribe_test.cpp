// SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK wire examples (3.1.1 and 5.0) and their malformed variants.
#include <gtest/gtest.h>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::expect_round_trip;

Subscription sub(std::string filter, QoS qos, bool no_local = false, bool rap = false, std::uint8_t rh = 0) {
  return Subscription{std::move(filter), qos, no_local, rap, rh};
}

TEST(CodecSubscribe, V311) {
  Subscribe s;
  s.packet_id = 10;
  s.subscriptions = {sub("a/+", QoS::at_least_once), sub("#", QoS::exactly_once)};
  expect_round_trip(bytes({
                        0x82, 0x0C,                 // SUBSCRIBE (flags 0b0010), remaining length 12
                        0x00, 0x0A,                 // packet id 10
                        0x00, 0x03, 'a', '/', '+',  // filter "a/+"
                        0x01,                       //   requested QoS 1
                        0x00, 0x01, '#',            // filter "#"
                        0x02,                       //   requested QoS 2
                    }),
                    s, Version::v311);
}

TEST(CodecSubscribe, V311DropsFiveZeroOptions) {
  Subscribe s;
  s.packet_id = 1;
  s.subscriptions = {sub("t", QoS::at_most_once, true, true, 2)};
  s.properties.subscription_identifiers = {3};
  EXPECT_EQ(encode(s, Version::v311), bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00}));
}

TEST(CodecSubscribe, V5OptionsAndProperties) {
  Subscribe s;
  s.packet_id = 11;
  s.subscriptions = {sub("a", QoS::at_least_once, true, true, 2), sub("$share/g/b", QoS::at_most_once)};
  s.properties.subscription_identifiers = {7};
  s.properties.user_properties = {{"k", "v"}};
  expect_round_trip(bytes({
                        0x82, 0x1D,                              // SUBSCRIBE, remaining length 29
                        0x00, 0x0B,                              // packet id 11
                        0x09,                                    // property length 9
                        0x0B, 0x07,                              //   subscription identifier 7
                        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   user property k=v
                        0x00, 0x01, 'a',                         // filter "a"
                        0x2D,                                    //   QoS 1, no local, RAP, retain handling 2
                        0x00, 0x0A, '$',  's', 'h',  'a',  'r', 'e', '/', 'g', '/', 'b',  // filter "$share/g/b"
                        0x00,                                                             //   QoS 0
                    }),
                    s, Version::v5);
}

TEST(CodecSubscribe, Errors) {
  // Fixed-header flags must be 0b0010.
  expect_error(bytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00}), Version::v311, ReasonCode::malformed_packet);
  // Packet id 0 [MQTT-2.3.1-1] and no topic filters [MQTT-3.8.3-3].
  expect_error(bytes({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 't', 0x00}), Version::v311, ReasonCode::protocol_error);
  expect_error(bytes({0x82, 0x02, 0x00, 0x01}), Version::v311, ReasonCode::protocol_error);
  expect_error(bytes({0x82, 0x03, 0x00, 0x01, 0x00}), Version::v5, ReasonCode::protocol_error);
  // 3.1.1 options: reserved upper bits, QoS 3 [MQTT-3-8.3-4].
  expect_error(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x04}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x03}), Version::v311, ReasonCode::malformed_packet);
  // 5.0 options: reserved bits 6-7 and QoS 3 are malformed [MQTT-3.8.3-5]; retain handling 3 is a protocol error.
  expect_error(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x40}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x80}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x03}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x30}), Version::v5, ReasonCode::protocol_error);
  // Missing options byte; filter running past the packet; filter not valid UTF-8.
  expect_error(bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x05, 't'}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFE, 0x00}), Version::v311, ReasonCode::malformed_packet);
  // 5.0 properties: subscription identifier twice, or 0; a property SUBSCRIBE may not carry.
  expect_error(bytes({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 't', 0x00}), Version::v5,
               ReasonCode::protocol_error);
  expect_error(bytes({0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 't', 0x00}), Version::v5,
               ReasonCode::protocol_error);
  expect_error(bytes({0x82, 0x0A, 0x00, 0x01, 0x03, 0x23, 0x00, 0x01, 0x00, 0x01, 't', 0x00}), Version::v5,
               ReasonCode::malformed_packet);
}

TEST(CodecSuback, V311) {
  Suback s;
  s.packet_id = 10;
  s.reason_codes = {ReasonCode::success, ReasonCode::granted_qos1, ReasonCode::granted_qos2,
                    ReasonCode::unspecified_error};
  expect_round_trip(bytes({
                        0x90, 0x06,  // SUBACK, remaining length 6
                        0x00, 0x0A,  // packet id 10
                        0x00,        // granted QoS 0
                        0x01,        // granted QoS 1
                        0x02,        // granted QoS 2
                        0x80,        // failure
                    }),
                    s, Version::v311);
}

TEST(CodecSuback, V311EncodesEveryErrorAsFailure) {
  Suback s;
  s.packet_id = 1;
  s.reason_codes = {ReasonCode::not_authorized, ReasonCode::topic_filter_invalid, ReasonCode::granted_qos1};
  s.properties.reason_string = "dropped";
  EXPECT_EQ(encode(s, Version::v311), bytes({0x90, 0x05, 0x00, 0x01, 0x80, 0x80, 0x01}));
}

TEST(CodecSuback, V5) {
  Suback s;
  s.packet_id = 10;
  s.reason_codes = {ReasonCode::success, ReasonCode::not_authorized, ReasonCode::wildcard_subscriptions_not_supported};
  s.properties.reason_string = "r";
  expect_round_trip(bytes({
                        0x90, 0x0A,             // SUBACK, remaining length 10
                        0x00, 0x0A,             // packet id 10
                        0x04,                   // property length 4
                        0x1F, 0x00, 0x01, 'r',  //   reason string "r"
                        0x00,                   // granted QoS 0
                        0x87,                   // not authorized
                        0xA2,                   // wildcard subscriptions not supported
                    }),
                    s, Version::v5);
}

TEST(CodecSuback, Errors) {
  expect_error(bytes({0x90, 0x03, 0x00, 0x01, 0x03}), Version::v311, ReasonCode::malformed_packet);  // not a code
  expect_error(bytes({0x90, 0x03, 0x00, 0x01, 0x87}), Version::v311, ReasonCode::malformed_packet);  // 5.0 only
  expect_error(bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x10}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0x90, 0x02, 0x00, 0x01}), Version::v311, ReasonCode::protocol_error);  // no codes
  expect_error(bytes({0x90, 0x03, 0x00, 0x01, 0x00}), Version::v5, ReasonCode::protocol_error);
  expect_error(bytes({0x92, 0x03, 0x00, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);  // flags
}

TEST(CodecUnsubscribe, V311) {
  Unsubscribe u;
  u.packet_id = 12;
  u.filters = {"a/+", "#"};
  expect_round_trip(bytes({
                        0xA2, 0x0A,                 // UNSUBSCRIBE (flags 0b0010), remaining length 10
                        0x00, 0x0C,                 // packet id 12
                        0x00, 0x03, 'a', '/', '+',  // filter "a/+"
                        0x00, 0x01, '#',            // filter "#"
                    }),
                    u, Version::v311);
}

TEST(CodecUnsubscribe, V5) {
  Unsubscribe u;
  u.packet_id = 12;
  u.filters = {"x"};
  u.properties.user_properties = {{"k", "v"}};
  expect_round_trip(bytes({
                        0xA2, 0x0D,                              // UNSUBSCRIBE, remaining length 13
                        0x00, 0x0C,                              // packet id 12
                        0x07,                                    // property length 7
                        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   user property k=v
                        0x00, 0x01, 'x',                         // filter "x"
                    }),
                    u, Version::v5);
}

TEST(CodecUnsubscribe, Errors) {
  expect_error(bytes({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 't'}), Version::v311, ReasonCode::protocol_error);
  expect_error(bytes({0xA2, 0x02, 0x00, 0x01}), Version::v311, ReasonCode::protocol_error);  // [MQTT-3.10.3-2]
  expect_error(bytes({0xA2, 0x03, 0x00, 0x01, 0x00}), Version::v5, ReasonCode::protocol_error);
  expect_error(bytes({0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0xA2, 0x04, 0x00, 0x01, 0x00, 0x01}), Version::v311, ReasonCode::malformed_packet);
  // Subscription identifier is a SUBSCRIBE property only.
  expect_error(bytes({0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 't'}), Version::v5,
               ReasonCode::malformed_packet);
}

TEST(CodecUnsuback, V311HasNoPayload) {
  expect_round_trip(bytes({
                        0xB0, 0x02,  // UNSUBACK, remaining length 2
                        0x00, 0x0C,  // packet id 12
                    }),
                    Unsuback{12, {}, {}}, Version::v311);
  EXPECT_EQ(encode(Unsuback{12, {ReasonCode::success, ReasonCode::no_subscription_existed}, {}}, Version::v311),
            bytes({0xB0, 0x02, 0x00, 0x0C}));
}

TEST(CodecUnsuback, V5) {
  expect_round_trip(bytes({
                        0xB0, 0x05,  // UNSUBACK, remaining length 5
                        0x00, 0x0C,  // packet id 12
                        0x00,        // property length 0
                        0x00,        // success
                        0x11,        // no subscription existed
                    }),
                    Unsuback{12, {ReasonCode::success, ReasonCode::no_subscription_existed}, {}}, Version::v5);
}

TEST(CodecUnsuback, Errors) {
  expect_error(bytes({0xB0, 0x03, 0x00, 0x0C, 0x00}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0xB0, 0x04, 0x00, 0x0C, 0x00, 0x01}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0xB0, 0x03, 0x00, 0x0C, 0x00}), Version::v5, ReasonCode::protocol_error);
  expect_error(bytes({0xB0, 0x02, 0x00, 0x0C}), Version::v5, ReasonCode::malformed_packet);  // no property length
}

}  // namespace
}  // namespace tern::protocol
