// PUBACK, PUBREC, PUBREL and PUBCOMP wire examples (3.1.1 and 5.0: the short, reason-only and full forms).
#include <gtest/gtest.h>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::expect_round_trip;

template <typename Ack>
Ack make_ack(std::uint16_t id, ReasonCode reason = ReasonCode::success, Properties properties = {}) {
  Ack a;
  a.packet_id = id;
  a.reason_code = reason;
  a.properties = std::move(properties);
  return a;
}

// Runs the shared wire examples for one acknowledgement type. `first` is its fixed-header byte, `failure` a reason
// code it may carry and `foreign` one it may not.
template <typename Ack>
void check_ack(int first, ReasonCode failure, int foreign) {
  const int code = static_cast<int>(failure);
  // 3.1.1 (and 3.1): packet id only.
  expect_round_trip(bytes({
                        first, 0x02,  // fixed header, remaining length 2
                        0x00, 0x01,   // packet id 1
                    }),
                    make_ack<Ack>(1), Version::v311);
  expect_round_trip(bytes({first, 0x02, 0xAB, 0xCD}), make_ack<Ack>(0xABCD), Version::v31);
  // 3.1.1 drops the 5.0 reason code and properties.
  EXPECT_EQ(encode(make_ack<Ack>(1, failure), Version::v311), bytes({first, 0x02, 0x00, 0x01}));

  // 5.0, success without properties: remaining length 2.
  expect_round_trip(bytes({
                        first, 0x02,  // fixed header, remaining length 2
                        0x12, 0x34,   // packet id 0x1234
                    }),
                    make_ack<Ack>(0x1234), Version::v5);
  // 5.0, reason code without properties: remaining length 3.
  expect_round_trip(bytes({
                        first, 0x03,  // fixed header, remaining length 3
                        0x00, 0x05,   // packet id 5
                        code,         // reason code
                    }),
                    make_ack<Ack>(5, failure), Version::v5);
  // 5.0, reason code and properties.
  Properties props;
  props.reason_string = "oops";
  props.user_properties = {{"k", "v"}};
  expect_round_trip(bytes({
                        first, 0x12,                              // fixed header, remaining length 18
                        0x00,  0x05,                              // packet id 5
                        code,                                     // reason code
                        0x0E,                                     // property length 14
                        0x1F,  0x00, 0x04, 'o', 'o',  'p',  's',  // reason string "oops"
                        0x26,  0x00, 0x01, 'k', 0x00, 0x01, 'v',  // user property k=v
                    }),
                    make_ack<Ack>(5, failure, props), Version::v5);
  // 5.0, success with properties: the reason code is written so the properties can follow.
  Properties only_user;
  only_user.user_properties = {{"k", "v"}};
  expect_round_trip(bytes({
                        first, 0x0B,                             // fixed header, remaining length 11
                        0x00, 0x05,                              // packet id 5
                        0x00,                                    // success
                        0x07,                                    // property length 7
                        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // user property k=v
                    }),
                    make_ack<Ack>(5, ReasonCode::success, only_user), Version::v5);
  // 5.0, reason code with an empty property block: accepted, written back in the shorter form.
  const DecodeResult r = decode(bytes({first, 0x04, 0x00, 0x05, code, 0x00}), Version::v5, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_EQ(r.packet, Packet{make_ack<Ack>(5, failure)});

  // Errors.
  expect_error(bytes({first, 0x03, 0x00, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);  // 3.1.1 extra
  expect_error(bytes({first, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);              // short
  expect_error(bytes({first, 0x01, 0x00}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({first, 0x00}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({first, 0x03, 0x00, 0x01, foreign}), Version::v5, ReasonCode::malformed_packet);  // bad reason
  expect_error(bytes({first, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}), Version::v5,
               ReasonCode::malformed_packet);  // a byte after the properties
  expect_error(bytes({first, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}), Version::v5,
               ReasonCode::malformed_packet);  // topic alias is not an ack property
  expect_error(bytes({first, 0x0A, 0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00}), Version::v5,
               ReasonCode::protocol_error);  // reason string twice
  expect_error(bytes({first, 0x07, 0x00, 0x01, 0x00, 0x03, 0x1F, 0x00, 0x02}), Version::v5,
               ReasonCode::malformed_packet);  // reason string running past the property block
  // Fixed-header flags must be 0b0010 for PUBREL and 0 for the others [MQTT-2.2.2-1], [MQTT-2.2.2-2].
  expect_error(bytes({first ^ 0x02, 0x02, 0x00, 0x01}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({first | 0x01, 0x02, 0x00, 0x01}), Version::v5, ReasonCode::malformed_packet);
}

TEST(CodecAck, Puback) { check_ack<Puback>(0x40, ReasonCode::no_matching_subscribers, 0x92); }
TEST(CodecAck, Pubrec) { check_ack<Pubrec>(0x50, ReasonCode::quota_exceeded, 0x92); }
TEST(CodecAck, Pubrel) { check_ack<Pubrel>(0x62, ReasonCode::packet_identifier_not_found, 0x10); }
TEST(CodecAck, Pubcomp) { check_ack<Pubcomp>(0x70, ReasonCode::packet_identifier_not_found, 0x80); }

TEST(CodecAck, EveryPubackReasonCodeDecodes) {
  for (int code : {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}) {
    const DecodeResult r = decode(bytes({0x40, 0x03, 0x00, 0x01, code}), Version::v5, 0);
    ASSERT_EQ(r.status, DecodeResult::Status::packet) << code;
    EXPECT_EQ(static_cast<int>(std::get<Puback>(r.packet).reason_code), code);
  }
}

}  // namespace
}  // namespace tern::protocol
