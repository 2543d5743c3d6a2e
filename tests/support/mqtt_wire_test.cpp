// The test-side decoder (mqtt_wire.hpp) on byte arrays written from the specifications, a comment per field, plus
// malformed variants. Decoding only: the decoder reads what a server sends.
#include "tests/support/mqtt_wire.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace tern::testsupport::wire {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

Packet decoded(const std::string& in, std::uint8_t level) {
  DecodeResult r = decode(in, level);
  EXPECT_EQ(r.status, DecodeResult::Status::packet) << r.error;
  EXPECT_EQ(r.consumed, in.size());
  return r.packet;
}

std::string error_of(const std::string& in, std::uint8_t level) {
  DecodeResult r = decode(in, level);
  EXPECT_EQ(r.status, DecodeResult::Status::error);
  return r.error;
}

TEST(MqttWire, Connack311) {
  const std::string in = bytes({
      0x20,  // CONNACK, flags 0000
      0x02,  // Remaining Length 2
      0x01,  // Connect Acknowledge Flags: Session Present 1
      0x00,  // return code 0 (accepted)
  });
  const Packet p = decoded(in, level_311);
  EXPECT_EQ(p.type, CONNACK);
  EXPECT_TRUE(p.session_present);
  EXPECT_EQ(p.reason, 0);
  EXPECT_TRUE(p.properties.items.empty());
}

TEST(MqttWire, Connack5WithProperties) {
  const std::string in = bytes({
      0x20,                        // CONNACK
      0x10,                        // Remaining Length 16
      0x00,                        // Session Present 0
      0x00,                        // Reason Code 0x00 Success
      0x0D,                        // Property Length 13
      0x22, 0x00, 0x0A,            // Topic Alias Maximum 10
      0x21, 0x00, 0x14,            // Receive Maximum 20
      0x12, 0x00, 0x02, 'i', 'd',  // Assigned Client Identifier "id"
      0x24, 0x01,                  // Maximum QoS 1
  });
  const Packet p = decoded(in, level_5);
  EXPECT_EQ(p.type, CONNACK);
  EXPECT_FALSE(p.session_present);
  EXPECT_EQ(p.properties.integer(prop::topic_alias_maximum), 10u);
  EXPECT_EQ(p.properties.integer(prop::receive_maximum), 20u);
  EXPECT_EQ(p.properties.text(prop::assigned_client_identifier), "id");
  EXPECT_EQ(p.properties.integer(prop::maximum_qos), 1u);
  EXPECT_EQ(p.properties.items.size(), 4u);
}

TEST(MqttWire, Publish5QoS1WithRepeatedProperties) {
  const std::string in = bytes({
      0x3B,                                     // PUBLISH, DUP 1, QoS 1, RETAIN 1
      0x18,                                     // Remaining Length 24
      0x00, 0x03, 'a',  '/',  'b',              // Topic Name "a/b"
      0x12, 0x34,                               // Packet Identifier 0x1234
      0x0E,                                     // Property Length 14
      0x0B, 0x07,                               // Subscription Identifier 7
      0x0B, 0xFF, 0xFF, 0xFF, 0x7F,             // Subscription Identifier 268435455 (four-byte VBI)
      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // User Property ("k", "v")
      'h',  'i',                                // payload "hi"
  });
  const Packet p = decoded(in, level_5);
  EXPECT_EQ(p.type, PUBLISH);
  EXPECT_TRUE(p.dup);
  EXPECT_EQ(p.qos, 1);
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.topic, "a/b");
  EXPECT_EQ(p.packet_id, 0x1234);
  EXPECT_EQ(p.properties.integers(prop::subscription_identifier), (std::vector<std::uint32_t>{7, 268435455}));
  EXPECT_EQ(p.properties.pairs(), (std::vector<std::pair<std::string, std::string>>{{"k", "v"}}));
  EXPECT_EQ(p.payload, "hi");
}

TEST(MqttWire, Publish311QoS0HasNoPacketIdentifier) {
  const std::string in = bytes({
      0x30,             // PUBLISH, QoS 0
      0x04,             // Remaining Length 4
      0x00, 0x01, 't',  // Topic Name "t"
      'x',              // payload "x" (no Packet Identifier at QoS 0, no properties in 3.1.1)
  });
  const Packet p = decoded(in, level_311);
  EXPECT_EQ(p.topic, "t");
  EXPECT_EQ(p.packet_id, 0);
  EXPECT_EQ(p.payload, "x");
}

TEST(MqttWire, AcknowledgementsShortAndLongForms) {
  // 5.0 PUBACK with only a Packet Identifier: reason 0x00, no properties.
  const Packet short_form = decoded(bytes({0x40, 0x02,    // PUBACK, Remaining Length 2
                                           0x00, 0x05}),  // Packet Identifier 5
                                    level_5);
  EXPECT_EQ(short_form.type, PUBACK);
  EXPECT_EQ(short_form.packet_id, 5);
  EXPECT_EQ(short_form.reason, 0);
  // 5.0 PUBREC with a reason and a Reason String.
  const Packet long_form = decoded(bytes({0x50, 0x08,               // PUBREC, Remaining Length 8
                                          0x00, 0x06,               // Packet Identifier 6
                                          0x10,                     // Reason Code 0x10 No matching subscribers
                                          0x04,                     // Property Length 4
                                          0x1F, 0x00, 0x01, 'n'}),  // Reason String "n"
                                   level_5);
  EXPECT_EQ(long_form.reason, 0x10);
  EXPECT_EQ(long_form.properties.text(prop::reason_string), "n");
  // PUBREL carries flags 0010; PUBCOMP 0000.
  EXPECT_EQ(decoded(bytes({0x62, 0x02, 0x00, 0x07}), level_311).type, PUBREL);
  EXPECT_EQ(decoded(bytes({0x70, 0x02, 0x00, 0x07}), level_311).type, PUBCOMP);
}

TEST(MqttWire, SubackUnsubackPingrespDisconnectAuth) {
  const Packet suback = decoded(bytes({0x90, 0x05,    // SUBACK, Remaining Length 5
                                       0x00, 0x01,    // Packet Identifier 1
                                       0x00,          // Property Length 0
                                       0x01, 0x8F}),  // granted QoS 1, Topic Filter invalid
                                level_5);
  EXPECT_EQ(suback.reasons, (std::vector<std::uint8_t>{0x01, 0x8F}));
  const Packet unsuback311 = decoded(bytes({0xB0, 0x02,    // UNSUBACK, Remaining Length 2
                                            0x00, 0x02}),  // Packet Identifier 2, no payload in 3.1.1
                                     level_311);
  EXPECT_EQ(unsuback311.packet_id, 2);
  EXPECT_TRUE(unsuback311.reasons.empty());
  EXPECT_EQ(decoded(bytes({0xD0, 0x00}), level_311).type, PINGRESP);  // PINGRESP, Remaining Length 0
  const Packet disconnect = decoded(bytes({0xE0, 0x01,                // DISCONNECT, Remaining Length 1
                                           0x8E}),                    // Session taken over, no Property Length
                                    level_5);
  EXPECT_EQ(disconnect.reason, 0x8E);
  EXPECT_EQ(decoded(bytes({0xE0, 0x00}), level_5).reason, 0x00);    // no Reason Code: Normal disconnection
  const Packet auth = decoded(bytes({0xF0, 0x07,                    // AUTH, Remaining Length 7
                                     0x18,                          // Continue authentication
                                     0x05,                          // Property Length 5
                                     0x15, 0x00, 0x02, 'm', 'x'}),  // Authentication Method "mx"
                              level_5);
  EXPECT_EQ(auth.properties.text(prop::authentication_method), "mx");
}

TEST(MqttWire, IncompleteIsNotAnError) {
  const std::string whole = bytes({0x30, 0x04, 0x00, 0x01, 't', 'x'});
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(decode(whole.substr(0, n), level_311).status, DecodeResult::Status::incomplete) << n;
  }
  // Two packets back to back: the first is decoded, the rest left.
  DecodeResult r = decode(bytes({0xD0, 0x00, 0xD0}), level_311);
  EXPECT_EQ(r.status, DecodeResult::Status::packet);
  EXPECT_EQ(r.consumed, 2u);
}

TEST(MqttWire, MalformedServerPackets) {
  // Remaining Length of five bytes, and a non-minimal one (0x80 0x00 for 0).
  EXPECT_NE(error_of(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), level_5), "");
  EXPECT_NE(error_of(bytes({0xD0, 0x80, 0x00}), level_5), "");
  // Reserved flags: PUBACK with 0010, PUBREL with 0000.
  EXPECT_NE(error_of(bytes({0x42, 0x02, 0x00, 0x01}), level_311), "");
  EXPECT_NE(error_of(bytes({0x60, 0x02, 0x00, 0x01}), level_311), "");
  // PUBLISH with QoS 3; QoS 0 with DUP; QoS 1 with Packet Identifier 0.
  EXPECT_NE(error_of(bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}), level_311), "");
  EXPECT_NE(error_of(bytes({0x38, 0x03, 0x00, 0x01, 't'}), level_311), "");
  EXPECT_NE(error_of(bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), level_311), "");
  // Topic Name with U+0000, with a UTF-16 surrogate (ED A0 80), and with an overlong '/' (C0 AF).
  EXPECT_NE(error_of(bytes({0x30, 0x03, 0x00, 0x01, 0x00}), level_311), "");
  EXPECT_NE(error_of(bytes({0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80}), level_311), "");
  EXPECT_NE(error_of(bytes({0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF}), level_311), "");
  // Packet types a server never sends, and DISCONNECT in 3.1.1.
  EXPECT_NE(error_of(bytes({0xC0, 0x00}), level_5), "");  // PINGREQ
  EXPECT_NE(error_of(bytes({0x82, 0x00}), level_5), "");  // SUBSCRIBE
  EXPECT_NE(error_of(bytes({0xE0, 0x00}), level_311), "");
  // Properties: unknown identifier 0x05; Topic Alias on a CONNACK; Receive Maximum twice; a property running past
  // the Property Length; Request Problem Information (a client's property) on a CONNACK.
  EXPECT_NE(error_of(bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x05, 0x00}), level_5), "");
  EXPECT_NE(error_of(bytes({0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01}), level_5), "");
  EXPECT_NE(error_of(bytes({0x20, 0x09, 0x00, 0x00, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02}), level_5), "");
  EXPECT_NE(error_of(bytes({0x20, 0x06, 0x00, 0x00, 0x02, 0x21, 0x00, 0x01}), level_5), "");
  EXPECT_NE(error_of(bytes({0x20, 0x05, 0x00, 0x00, 0x02, 0x17, 0x01}), level_5), "");
  // Trailing bytes after a 3.1.1 CONNACK; a SUBACK without codes; CONNACK flags bits 7-1 set.
  EXPECT_NE(error_of(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), level_311), "");
  EXPECT_NE(error_of(bytes({0x90, 0x02, 0x00, 0x01}), level_311), "");
  EXPECT_NE(error_of(bytes({0x20, 0x02, 0x02, 0x00}), level_311), "");
}

}  // namespace
}  // namespace tern::testsupport::wire
