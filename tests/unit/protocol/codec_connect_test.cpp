// CONNECT and CONNACK wire examples for MQTT 3.1, 3.1.1 and 5.0, checked in both directions.
#include <gtest/gtest.h>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::expect_round_trip;

TEST(CodecConnect, V311Minimal) {
  const std::string wire = bytes({
      0x10, 0x0E,                      // CONNECT, remaining length 14
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
      0x04,                            // protocol level 4 (3.1.1)
      0x02,                            // flags: clean session
      0x00, 0x3C,                      // keep alive 60
      0x00, 0x02, 'c', '1',            // client id "c1"
  });
  Connect c;
  c.version = Version::v311;
  c.clean_start = true;
  c.keep_alive = 60;
  c.client_id = "c1";
  expect_round_trip(wire, c, Version::v311);
}

TEST(CodecConnect, V311WillUsernamePassword) {
  const std::string wire = bytes({
      0x10, 0x1F,                        // CONNECT, remaining length 31
      0x00, 0x04, 'M',  'Q',  'T', 'T',  // protocol name
      0x04,                              // level 4
      0xEC,                              // flags: username, password, will retain, will QoS 1, will; not clean
      0x00, 0x0A,                        // keep alive 10
      0x00, 0x02, 'i',  'd',             // client id "id"
      0x00, 0x03, 'w',  '/',  't',       // will topic "w/t"
      0x00, 0x03, 'b',  'y',  'e',       // will payload "bye"
      0x00, 0x01, 'u',                   // username "u"
      0x00, 0x02, 0x00, 0xFF,            // password: binary, not UTF-8
  });
  Connect c;
  c.version = Version::v311;
  c.clean_start = false;
  c.keep_alive = 10;
  c.client_id = "id";
  c.will = Will{"w/t", "bye", QoS::at_least_once, true, {}};
  c.username = "u";
  c.password = std::string("\x00\xFF", 2);
  expect_round_trip(wire, c, Version::v311);
}

TEST(CodecConnect, V31UsesMQIsdp) {
  const std::string wire = bytes({
      0x10, 0x15,                                // CONNECT, remaining length 21
      0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // protocol name "MQIsdp"
      0x03,                                      // level 3 (3.1)
      0xC2,                                      // flags: username, password, clean session
      0x00, 0x1E,                                // keep alive 30
      0x00, 0x01, 'c',                           // client id "c"
      0x00, 0x01, 'u',                           // username "u"
      0x00, 0x01, 'p',                           // password "p"
  });
  Connect c;
  c.version = Version::v31;
  c.keep_alive = 30;
  c.client_id = "c";
  c.username = "u";
  c.password = "p";
  expect_round_trip(wire, c, Version::v31);
}

TEST(CodecConnect, VersionComesFromTheConnectNotTheArgument) {
  const std::string wire = bytes({0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00,
                                  0x00,          // 5.0 property length 0
                                  0x00, 0x00});  // client id ""
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    const DecodeResult r = decode(wire, v, 0);
    ASSERT_EQ(r.status, DecodeResult::Status::packet);
    EXPECT_EQ(std::get<Connect>(r.packet).version, Version::v5);
  }
}

TEST(CodecConnect, V5PropertiesAndWillProperties) {
  const std::string wire = bytes({
      0x10, 0x34,                               // CONNECT, remaining length 52
      0x00, 0x04, 'M',  'Q',  'T',  'T',        // protocol name
      0x05,                                     // level 5
      0xD6,                                     // flags: username, password, will QoS 2, will, clean start
      0x00, 0x00,                               // keep alive 0
      0x0F,                                     // property length 15
      0x11, 0x00, 0x00, 0x00, 0x78,             //   session expiry interval 120
      0x21, 0x00, 0x14,                         //   receive maximum 20
      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // user property k=v
      0x00, 0x00,                               // client id "" (server assigns one)
      0x0B,                                     // will property length 11
      0x01, 0x01,                               //   payload format indicator 1 (UTF-8)
      0x03, 0x00, 0x01, 't',                    //   content type "t"
      0x18, 0x00, 0x00, 0x00, 0x05,             //   will delay interval 5
      0x00, 0x01, 'w',                          // will topic "w"
      0x00, 0x01, 'x',                          // will payload "x"
      0x00, 0x01, 'u',                          // username "u"
      0x00, 0x01, 'p',                          // password "p"
  });
  Connect c;
  c.version = Version::v5;
  c.keep_alive = 0;
  c.properties.session_expiry_interval = 120;
  c.properties.receive_maximum = 20;
  c.properties.user_properties = {{"k", "v"}};
  Will w;
  w.topic = "w";
  w.payload = "x";
  w.qos = QoS::exactly_once;
  w.properties.payload_format_indicator = 1;
  w.properties.content_type = "t";
  w.properties.will_delay_interval = 5;
  c.will = w;
  c.username = "u";
  c.password = "p";
  expect_round_trip(wire, c, Version::v5);
}

TEST(CodecConnect, V5PasswordWithoutUsernameIsAllowed) {
  const std::string wire = bytes({
      0x10, 0x10,                      // CONNECT, remaining length 16
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
      0x05,                            // level 5
      0x42,                            // flags: password, clean start
      0x00, 0x05,                      // keep alive 5
      0x00,                            // property length 0
      0x00, 0x00,                      // client id ""
      0x00, 0x01, 'p',                 // password "p"
  });
  Connect c;
  c.version = Version::v5;
  c.keep_alive = 5;
  c.password = "p";
  expect_round_trip(wire, c, Version::v5);
}

// mosquitto bridges with try_private (their default) send the level with its top bit set: 0x84 for 3.1.1, 0x83
// for 3.1. Decoded as that version with `bridge` set, and encoded back the same way.
TEST(CodecConnect, BridgeLevels) {
  const std::string v311 = bytes({0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x84, 0x00, 0x00, 0x3c, 0x00, 0x02, 'b', 'r'});
  Connect c;
  c.version = Version::v311;
  c.bridge = true;
  c.clean_start = false;
  c.keep_alive = 60;
  c.client_id = "br";
  expect_round_trip(v311, c, Version::v311);
  const std::string v31 =
      bytes({0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x83, 0x02, 0x00, 0x3c, 0x00, 0x02, 'b', 'r'});
  c.version = Version::v31;
  c.clean_start = true;
  expect_round_trip(v31, c, Version::v311);
  // Only those two: 0x85 (no such thing for 5.0), or the bit with the other protocol name, are not bridges.
  const std::string header = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T'});
  expect_error(bytes({0x10, 0x0c}) + header + bytes({0x85, 0x02, 0x00, 0x00, 0x00, 0x00}), Version::v311,
               ReasonCode::unsupported_protocol_version);
  expect_error(bytes({0x10, 0x0c}) + header + bytes({0x83, 0x02, 0x00, 0x00, 0x00, 0x00}), Version::v311,
               ReasonCode::unsupported_protocol_version);
}

TEST(CodecConnect, Errors) {
  const std::string header = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T'});
  auto connect = [](std::string body) { return bytes({0x10, static_cast<int>(body.size())}) + body; };
  // Unknown protocol name or level -> unsupported_protocol_version (answered with a 3.1.1 CONNACK code 1).
  expect_error(connect(header + bytes({0x06, 0x02, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::unsupported_protocol_version);
  expect_error(connect(header + bytes({0x03, 0x02, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::unsupported_protocol_version);
  expect_error(connect(bytes({0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00})),
               Version::v311, ReasonCode::unsupported_protocol_version);
  expect_error(connect(bytes({0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::unsupported_protocol_version);
  // Reserved flag bit 0 [MQTT-3.1.2-3].
  expect_error(connect(header + bytes({0x04, 0x03, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  // Will flag 0 but will QoS 1 / will retain set [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15].
  expect_error(connect(header + bytes({0x04, 0x0A, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  expect_error(connect(header + bytes({0x04, 0x22, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  // Will QoS 3 [MQTT-3.1.2-14].
  expect_error(connect(header + bytes({0x04, 0x1E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x00})),
               Version::v311, ReasonCode::malformed_packet);
  // 3.1.1 password without username [MQTT-3.1.2-22].
  expect_error(connect(header + bytes({0x04, 0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'p'})), Version::v311,
               ReasonCode::malformed_packet);
  // Username flag set but the username is missing.
  expect_error(connect(header + bytes({0x04, 0x82, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  // Bytes left over after the last field.
  expect_error(connect(header + bytes({0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  // Client id not valid UTF-8 (a lone continuation byte) and containing U+0000.
  expect_error(connect(header + bytes({0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 0x80})), Version::v311,
               ReasonCode::malformed_packet);
  expect_error(connect(header + bytes({0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00})), Version::v311,
               ReasonCode::malformed_packet);
  // Username not valid UTF-8; the password is binary and is not checked.
  expect_error(connect(header + bytes({0x04, 0x82, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF})), Version::v311,
               ReasonCode::malformed_packet);
  // Will topic not valid UTF-8 (an overlong '/').
  expect_error(connect(header + bytes({0x04, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xC0, 0xAF, 0x00, 0x00})),
               Version::v311, ReasonCode::malformed_packet);
  // 5.0: a will property that is not allowed in will properties (topic alias), and a CONNECT property that is not
  // allowed in CONNECT (will delay interval belongs to the will properties).
  const std::string v5 = bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05});
  expect_error(
      connect(v5 + bytes({0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00})),
      Version::v5, ReasonCode::malformed_packet);
  expect_error(connect(v5 + bytes({0x02, 0x00, 0x00, 0x05, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00})), Version::v5,
               ReasonCode::malformed_packet);
  // 5.0 property length running past the packet.
  expect_error(connect(v5 + bytes({0x02, 0x00, 0x00, 0x09, 0x11, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00})), Version::v5,
               ReasonCode::malformed_packet);
}

TEST(CodecConnack, V311) {
  expect_round_trip(bytes({
                        0x20, 0x02,  // CONNACK, remaining length 2
                        0x01,        // session present
                        0x00,        // accepted
                    }),
                    Connack{true, ReasonCode::success, {}}, Version::v311);
  // Decoded 3.1.1 return codes are their numeric value cast to ReasonCode.
  expect_round_trip(bytes({
                        0x20, 0x02,  // CONNACK
                        0x00,        // no session
                        0x05,        // not authorized
                    }),
                    Connack{false, static_cast<ReasonCode>(5), {}}, Version::v311);
}

TEST(CodecConnack, V311EncodesFiveZeroReasonsAsReturnCodes) {
  struct Case {
    ReasonCode reason;
    int code;
  };
  for (const Case c : {Case{ReasonCode::success, 0}, Case{ReasonCode::unsupported_protocol_version, 1},
                       Case{ReasonCode::client_identifier_not_valid, 2}, Case{ReasonCode::server_unavailable, 3},
                       Case{ReasonCode::server_busy, 3}, Case{ReasonCode::bad_user_name_or_password, 4},
                       Case{ReasonCode::not_authorized, 5}, Case{ReasonCode::banned, 5}}) {
    EXPECT_EQ(encode(Connack{false, c.reason, {}}, Version::v311), bytes({0x20, 0x02, 0x00, c.code}))
        << reason_code_name(c.reason);
  }
  // Properties are a 5.0 feature and are dropped.
  Connack with_properties;
  with_properties.properties.reason_string = "ignored";
  EXPECT_EQ(encode(with_properties, Version::v311), bytes({0x20, 0x02, 0x00, 0x00}));
}

TEST(CodecConnack, V31HasNoSessionPresentFlag) {
  expect_round_trip(bytes({
                        0x20, 0x02,  // CONNACK
                        0x00,        // reserved
                        0x02,        // identifier rejected
                    }),
                    Connack{false, static_cast<ReasonCode>(2), {}}, Version::v31);
  EXPECT_EQ(encode(Connack{true, ReasonCode::success, {}}, Version::v31), bytes({0x20, 0x02, 0x00, 0x00}));
  const DecodeResult r = decode(bytes({0x20, 0x02, 0x01, 0x00}), Version::v31, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_FALSE(std::get<Connack>(r.packet).session_present);
}

TEST(CodecConnack, V5WithProperties) {
  const std::string wire = bytes({
      0x20, 0x0F,                  // CONNACK, remaining length 15
      0x01,                        // session present
      0x00,                        // success
      0x0C,                        // property length 12
      0x12, 0x00, 0x02, 'a', 'b',  //   assigned client identifier "ab"
      0x22, 0x00, 0x0A,            //   topic alias maximum 10
      0x24, 0x01,                  //   maximum QoS 1
      0x25, 0x00,                  //   retain available 0
  });
  Connack c;
  c.session_present = true;
  c.properties.assigned_client_identifier = "ab";
  c.properties.topic_alias_maximum = 10;
  c.properties.maximum_qos = 1;
  c.properties.retain_available = 0;
  expect_round_trip(wire, c, Version::v5);
}

TEST(CodecConnack, V5Failure) {
  expect_round_trip(bytes({
                        0x20, 0x03,  // CONNACK, remaining length 3
                        0x00,        // no session
                        0x87,        // not authorized
                        0x00,        // property length 0
                    }),
                    Connack{false, ReasonCode::not_authorized, {}}, Version::v5);
}

TEST(CodecConnack, Errors) {
  expect_error(bytes({0x20, 0x02, 0x02, 0x00}), Version::v311, ReasonCode::malformed_packet);  // reserved flag bit
  expect_error(bytes({0x20, 0x02, 0x00, 0x06}), Version::v311, ReasonCode::malformed_packet);  // reserved code
  expect_error(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), Version::v311, ReasonCode::malformed_packet);  // extra byte
  expect_error(bytes({0x20, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);              // too short
  expect_error(bytes({0x20, 0x02, 0x00, 0x00}), Version::v5, ReasonCode::malformed_packet);        // no property length
  expect_error(bytes({0x20, 0x03, 0x00, 0x10, 0x00}), Version::v5, ReasonCode::malformed_packet);  // not a CONNACK code
  expect_error(bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x23, 0x00}), Version::v5, ReasonCode::malformed_packet);
  // maximum QoS 2 is a protocol error (only 0 or 1 may be sent)
  expect_error(bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02}), Version::v5, ReasonCode::protocol_error);
}

}  // namespace
}  // namespace tern::protocol
