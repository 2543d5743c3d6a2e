// PINGREQ, PINGRESP, DISCONNECT and AUTH wire examples; variable byte integers; UTF-8 validation; packet names.
#include <gtest/gtest.h>

#include <sstream>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::expect_round_trip;

TEST(CodecPing, AllVersions) {
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    expect_round_trip(bytes({0xC0, 0x00}), Pingreq{}, v);   // PINGREQ, remaining length 0
    expect_round_trip(bytes({0xD0, 0x00}), Pingresp{}, v);  // PINGRESP, remaining length 0
    expect_error(bytes({0xC0, 0x01, 0x00}), v, ReasonCode::malformed_packet);
    expect_error(bytes({0xD0, 0x01, 0x00}), v, ReasonCode::malformed_packet);
    expect_error(bytes({0xC1, 0x00}), v, ReasonCode::malformed_packet);
    expect_error(bytes({0xD8, 0x00}), v, ReasonCode::malformed_packet);
  }
}

TEST(CodecDisconnect, V311) {
  expect_round_trip(bytes({0xE0, 0x00}), Disconnect{}, Version::v311);  // DISCONNECT, remaining length 0
  expect_round_trip(bytes({0xE0, 0x00}), Disconnect{}, Version::v31);
  Disconnect d;
  d.reason_code = ReasonCode::disconnect_with_will;
  d.properties.reason_string = "x";
  EXPECT_EQ(encode(d, Version::v311), bytes({0xE0, 0x00}));  // 5.0 fields dropped
  expect_error(bytes({0xE0, 0x01, 0x00}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0xE2, 0x00}), Version::v311, ReasonCode::malformed_packet);
}

TEST(CodecDisconnect, V5) {
  expect_round_trip(bytes({0xE0, 0x00}), Disconnect{}, Version::v5);  // success: remaining length 0
  expect_round_trip(bytes({
                        0xE0, 0x01,  // DISCONNECT, remaining length 1
                        0x04,        // disconnect with will message (no property length)
                    }),
                    Disconnect{ReasonCode::disconnect_with_will, {}}, Version::v5);
  Disconnect d;
  d.reason_code = ReasonCode::server_moved;
  d.properties.session_expiry_interval = 0;
  d.properties.reason_string = "bye";
  d.properties.server_reference = "s";
  expect_round_trip(bytes({
                        0xE0, 0x11,                         // DISCONNECT, remaining length 17
                        0x9D,                               // server moved
                        0x0F,                               // property length 15
                        0x11, 0x00, 0x00, 0x00, 0x00,       //   session expiry interval 0
                        0x1C, 0x00, 0x01, 's',              //   server reference "s"
                        0x1F, 0x00, 0x03, 'b',  'y',  'e',  // reason string "bye"
                    }),
                    d, Version::v5);
  Disconnect normal_with_properties;
  normal_with_properties.properties.reason_string = "r";
  expect_round_trip(bytes({
                        0xE0, 0x06,             // DISCONNECT, remaining length 6
                        0x00,                   // normal disconnection (written because properties follow)
                        0x04,                   // property length 4
                        0x1F, 0x00, 0x01, 'r',  //   reason string "r"
                    }),
                    normal_with_properties, Version::v5);
  // Reason code with an empty property block: accepted.
  const DecodeResult r = decode(bytes({0xE0, 0x02, 0x8E, 0x00}), Version::v5, 0);
  ASSERT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_EQ(r.packet, (Packet{Disconnect{ReasonCode::session_taken_over, {}}}));
}

TEST(CodecDisconnect, V5Errors) {
  expect_error(bytes({0xE0, 0x01, 0x10}), Version::v5, ReasonCode::malformed_packet);  // not a DISCONNECT code
  expect_error(bytes({0xE0, 0x03, 0x00, 0x00, 0x00}), Version::v5, ReasonCode::malformed_packet);  // trailing byte
  expect_error(bytes({0xE0, 0x04, 0x00, 0x02, 0x23, 0x00}), Version::v5, ReasonCode::malformed_packet);
  expect_error(bytes({0xE0, 0x0C, 0x00, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00}), Version::v5,
               ReasonCode::protocol_error);  // session expiry interval twice
  expect_error(bytes({0xE1, 0x00}), Version::v5, ReasonCode::malformed_packet);
}

TEST(CodecAuth, V5) {
  expect_round_trip(bytes({0xF0, 0x00}), Auth{}, Version::v5);  // AUTH success, remaining length 0
  expect_round_trip(bytes({0xF0, 0x01, 0x19}), Auth{ReasonCode::reauthenticate, {}}, Version::v5);
  Auth a;
  a.reason_code = ReasonCode::continue_authentication;
  a.properties.authentication_method = "SCRAM";
  a.properties.authentication_data = std::string("\x01\x00", 2);
  expect_round_trip(bytes({
                        0xF0, 0x0F,                                 // AUTH, remaining length 15
                        0x18,                                       // continue authentication
                        0x0D,                                       // property length 13
                        0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M',  // authentication method "SCRAM"
                        0x16, 0x00, 0x02, 0x01, 0x00,               // authentication data (binary)
                    }),
                    a, Version::v5);
}

TEST(CodecAuth, Errors) {
  expect_error(bytes({0xF0, 0x00}), Version::v311, ReasonCode::malformed_packet);  // no AUTH before 5.0
  expect_error(bytes({0xF0, 0x00}), Version::v31, ReasonCode::malformed_packet);
  expect_error(bytes({0xF0}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0xF1, 0x00}), Version::v5, ReasonCode::malformed_packet);             // flags
  expect_error(bytes({0xF0, 0x01, 0x80}), Version::v5, ReasonCode::malformed_packet);       // not an AUTH code
  expect_error(bytes({0xF0, 0x07, 0x18, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00}), Version::v5,  // session expiry
               ReasonCode::malformed_packet);
  expect_error(bytes({0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, 'a', 0x15, 0x00, 0x01, 'b'}), Version::v5,
               ReasonCode::protocol_error);  // authentication method twice
}

TEST(Varint, SizesAndBoundaries) {
  struct Case {
    std::uint32_t value;
    std::string wire;
  };
  for (const Case& c : {Case{0, bytes({0x00})}, Case{127, bytes({0x7F})}, Case{128, bytes({0x80, 0x01})},
                        Case{16'383, bytes({0xFF, 0x7F})}, Case{16'384, bytes({0x80, 0x80, 0x01})},
                        Case{2'097'151, bytes({0xFF, 0xFF, 0x7F})}, Case{2'097'152, bytes({0x80, 0x80, 0x80, 0x01})},
                        Case{max_remaining_length, bytes({0xFF, 0xFF, 0xFF, 0x7F})}}) {
    std::string out;
    encode_varint(c.value, out);
    EXPECT_EQ(out, c.wire) << c.value;
    EXPECT_EQ(varint_size(c.value), c.wire.size()) << c.value;
  }
}

TEST(Utf8, Valid) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("\xC2\x80"));          // U+0080
  EXPECT_TRUE(valid_utf8("\xDF\xBF"));          // U+07FF
  EXPECT_TRUE(valid_utf8("\xE0\xA0\x80"));      // U+0800
  EXPECT_TRUE(valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(valid_utf8("\xEE\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(valid_utf8("\xEF\xBF\xBF"));      // U+FFFF (a non-character, allowed)
  EXPECT_TRUE(valid_utf8("\xF0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  EXPECT_TRUE(valid_utf8("\x01\x1F\x7F"));      // control characters are allowed ([MQTT-1.5.4-3] is SHOULD)
  EXPECT_TRUE(valid_utf8("caf\xC3\xA9 au lait, \xE2\x82\xAC 3, \xF0\x9F\x98\x80 ok"));
}

TEST(Utf8, Invalid) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(valid_utf8("\0"sv));                  // U+0000 [MQTT-1.5.4-2]
  EXPECT_FALSE(valid_utf8("abcdefgh\0ijklmnop"sv));  // U+0000 inside the eight-byte fast path
  EXPECT_FALSE(valid_utf8("\x80"));                  // lone continuation byte
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));              // overlong '/'
  EXPECT_FALSE(valid_utf8("\xC1\xBF"));              // overlong
  EXPECT_FALSE(valid_utf8("\xE0\x9F\xBF"));          // overlong three-byte form
  EXPECT_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));      // overlong four-byte form
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));          // U+D800 surrogate [MQTT-1.5.4-1]
  EXPECT_FALSE(valid_utf8("\xED\xBF\xBF"));          // U+DFFF surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));      // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xF5\x80\x80\x80"));      // invalid lead byte
  EXPECT_FALSE(valid_utf8("\xFF"));                  // invalid byte
  EXPECT_FALSE(valid_utf8("\xC3"));                  // truncated two-byte sequence
  EXPECT_FALSE(valid_utf8("\xE2\x82"));              // truncated three-byte sequence
  EXPECT_FALSE(valid_utf8("\xE2\x28\xA1"));          // bad continuation byte
  EXPECT_FALSE(valid_utf8("\xF0\x9F\x98"));          // truncated four-byte sequence
  EXPECT_FALSE(valid_utf8("abcdefghijklmno\xC3"));   // truncated after the fast path
}

TEST(PacketNames, TypeAndName) {
  EXPECT_EQ(packet_type(Packet{Connect{}}), PacketType::connect);
  EXPECT_EQ(packet_type(Packet{Pubrel{}}), PacketType::pubrel);
  EXPECT_EQ(packet_type(Packet{Auth{}}), PacketType::auth);
  EXPECT_STREQ(packet_type_name(PacketType::unsubscribe), "UNSUBSCRIBE");
  EXPECT_STREQ(packet_type_name(PacketType::pingresp), "PINGRESP");
  for (int t = 1; t <= 15; ++t) EXPECT_STRNE(packet_type_name(static_cast<PacketType>(t)), "UNKNOWN");
}

TEST(PacketNames, OneLineDump) {
  Publish p;
  p.topic = "a/b";
  p.payload = "hello";
  p.qos = QoS::at_least_once;
  p.packet_id = 7;
  p.properties.topic_alias = 3;
  std::ostringstream os;
  os << Packet{p};
  EXPECT_EQ(os.str(), "PUBLISH(topic=\"a/b\" qos=1 id=7 retain=0 dup=0 len=5 payload=\"hello\" props{topic_alias=3})");

  std::ostringstream binary;
  Connect c;
  c.client_id = "c";
  c.password = std::string("\x00\n", 2);
  binary << Packet{c};
  EXPECT_EQ(binary.str().find('\n'), std::string::npos);
  EXPECT_NE(binary.str().find("password=\"\\x00\\x0A\""), std::string::npos) << binary.str();
}

}  // namespace
}  // namespace tern::protocol
