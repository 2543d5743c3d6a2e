// Malformed and forbidden input: the offending client is closed (5.0: DISCONNECT with the spec's reason code first)
// and another connected client keeps working.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

// One fixed header byte, the remaining length as a variable byte integer, then the body.
std::string packet(std::uint8_t first, const std::string& body) {
  std::string out(1, static_cast<char>(first));
  protocol::encode_varint(static_cast<std::uint32_t>(body.size()), out);
  return out + body;
}

std::string u16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string str(const std::string& s) { return u16(static_cast<std::uint16_t>(s.size())) + s; }

struct Case {
  std::string name;
  // Builds the bytes for a connected client of `version`.
  std::function<std::string(Version)> bytes;
  // 5.0 reason codes accepted in the DISCONNECT (the first is the one the spec names; a second is listed where the
  // spec leaves the choice between Malformed Packet and Protocol Error open).
  std::set<ReasonCode> reasons;
  bool v5_only = false;
};

std::string publish_body(Version v, const std::string& topic, bool with_id, const std::string& payload = "p") {
  std::string body = str(topic);
  if (with_id) body += u16(1);
  if (v == Version::v5) body += '\0';  // empty property block
  return body + payload;
}

std::vector<Case> cases() {
  const auto malformed = ReasonCode::malformed_packet;
  const auto protocol_error = ReasonCode::protocol_error;
  return {
      // Remaining length with a fifth byte. (3.1.1 2.2.3, 5.0 1.5.5)
      {"BadRemainingLength", [](Version) { return std::string("\x30\xff\xff\xff\xff\x7f", 6); }, {malformed}},
      // Invalid UTF-8 in the topic. [MQTT-1.5.3-1] (3.1.1) [MQTT-1.5.4-1] (5.0)
      {"InvalidUtf8InTopic",
       [](Version v) { return packet(0x30, publish_body(v, std::string("a/\xff\xfe", 4), false)); },
       {malformed}},
      // U+0000 in the topic. [MQTT-1.5.3-2] (3.1.1) [MQTT-1.5.4-2] [MQTT-4.7.3-2] (5.0)
      {"NullCharacterInTopic",
       [](Version v) { return packet(0x30, publish_body(v, std::string("a\0b", 3), false)); },
       {malformed}},
      // UTF-16 surrogate encoded in UTF-8. [MQTT-1.5.3-1] / [MQTT-1.5.4-1]
      {"SurrogateInTopic",
       [](Version v) { return packet(0x30, publish_body(v, "a/\xed\xa0\x80", false)); },
       {malformed}},
      // Wildcards in a PUBLISH topic. [MQTT-3.3.2-2] [MQTT-4.7.0-1] (5.0) The spec names no reason code for it: 0x90
      // (Topic Name
      // invalid) fits best; mosquitto sends 0x82; 0x81 is accepted too.
      {"WildcardInPublishTopic",
       [](Version v) { return packet(0x30, publish_body(v, "a/+/c", false)); },
       {ReasonCode::topic_name_invalid, malformed, protocol_error}},
      {"HashInPublishTopic",
       [](Version v) { return packet(0x30, publish_body(v, "a/#", false)); },
       {ReasonCode::topic_name_invalid, malformed, protocol_error}},
      // QoS 3. [MQTT-3.3.1-4]
      {"PublishQos3", [](Version v) { return packet(0x36, publish_body(v, "a/b", true)); }, {malformed}},
      // Reserved flags: SUBSCRIBE must be 0x82, PUBREL 0x62, PINGREQ 0xC0. [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1)
      // [MQTT-2.1.3-1] (5.0) [MQTT-3.8.1-1] [MQTT-3.6.1-1]
      {"SubscribeReservedFlags",
       [](Version v) {
         std::string body = u16(1);
         if (v == Version::v5) body += '\0';
         return packet(0x80, body + str("a/b") + '\x01');
       },
       {malformed}},
      {"PubrelReservedFlags", [](Version) { return packet(0x60, u16(1)); }, {malformed}},
      {"PingreqReservedFlags", [](Version) { return packet(0xC1, ""); }, {malformed}},
      // SUBSCRIBE with reserved option bits set (bits 6 and 7). [MQTT-3-8.3-4] (3.1.1) [MQTT-3.8.3-5] (5.0)
      {"SubscribeReservedOptionBits",
       [](Version v) {
         std::string body = u16(1);
         if (v == Version::v5) body += '\0';
         return packet(0x82, body + str("a/b") + '\xc1');
       },
       {malformed}},
      // SUBSCRIBE with QoS 3 requested. [MQTT-3-8.3-4] (3.1.1) [MQTT-3.8.3-5] (5.0)
      {"SubscribeQos3",
       [](Version v) {
         std::string body = u16(1);
         if (v == Version::v5) body += '\0';
         return packet(0x82, body + str("a/b") + '\x03');
       },
       {malformed}},
      // SUBSCRIBE without any filter. [MQTT-3.8.3-3] (3.1.1) [MQTT-3.8.3-2] (5.0)
      {"SubscribeWithoutFilters",
       [](Version v) { return packet(0x82, v == Version::v5 ? u16(1) + '\0' : u16(1)); },
       {protocol_error, malformed}},
      // QoS 1 PUBLISH with packet id 0. [MQTT-2.3.1-1] (3.1.1) [MQTT-2.2.1-3] (5.0)
      {"PublishPacketIdZero",
       [](Version v) {
         std::string body = str("a/b") + u16(0);
         if (v == Version::v5) body += '\0';
         return packet(0x32, body + "p");
       },
       {protocol_error, malformed}},
      // The topic length runs past the end of the packet. (3.1.1 4.8, 5.0 [MQTT-4.13.1-1])
      {"TruncatedTopic", [](Version) { return packet(0x30, u16(50) + "abc"); }, {malformed}},
      // Packet type 0 is reserved. (2.1.2)
      {"ReservedPacketType0", [](Version) { return packet(0x00, ""); }, {malformed, protocol_error}},
      // A packet type only the server sends. (3.1.1 [MQTT-4.8.0-1]; 5.0 4.13)
      {"ConnackFromClient",
       [](Version) { return packet(0x20, std::string("\x00\x00", 2)); },
       {protocol_error, malformed}},
      // 5.0: a property not allowed in PUBLISH (Session Expiry Interval). (2.2.2.2)
      {"PropertyNotAllowedInPublish",
       [](Version) { return packet(0x30, str("a/b") + std::string("\x05\x11\x00\x00\x00\x01", 6) + "p"); },
       {malformed},
       true},
      // 5.0: Payload Format Indicator repeated. (2.2.2.2: "Protocol Error to include a property more than once")
      {"RepeatedProperty",
       [](Version) { return packet(0x30, str("a/b") + std::string("\x04\x01\x01\x01\x01", 5) + "p"); },
       {protocol_error, malformed},
       true},
      // UNSUBSCRIBE with reserved flags 0 instead of 2. [MQTT-3.10.1-1]
      {"UnsubscribeReservedFlags",
       [](Version v) { return packet(0xA0, u16(1) + (v == Version::v5 ? std::string(1, '\0') : "") + str("a/b")); },
       {malformed}},
      // UNSUBSCRIBE without any filter. [MQTT-3.10.3-2]
      {"UnsubscribeWithoutFilters",
       [](Version v) { return packet(0xA2, u16(1) + (v == Version::v5 ? std::string(1, '\0') : "")); },
       {protocol_error, malformed}},
      // AUTH without an Authentication Method in CONNECT (5.0), an unknown packet type in 3.1.1. [MQTT-4.12.0-7]
      {"UnexpectedAuth", [](Version) { return packet(0xF0, ""); }, {protocol_error, malformed}},
      // 5.0 DISCONNECT with reserved flags. [MQTT-3.14.1-1]
      {"DisconnectReservedFlags", [](Version) { return packet(0xE1, ""); }, {malformed}, true},
      // 5.0: a PUBLISH from a client must not carry a Subscription Identifier. [MQTT-3.3.4-6]
      {"SubscriptionIdentifierInPublish",
       [](Version) { return packet(0x30, str("a/b") + std::string("\x02\x0b\x01", 3) + "p"); },
       {protocol_error, malformed},
       true},
      // 5.0: a Subscription Identifier of 0 in SUBSCRIBE is a protocol error. (3.8.2.1.2)
      {"SubscriptionIdentifierZero",
       [](Version) { return packet(0x82, u16(1) + std::string("\x02\x0b\x00", 3) + str("a/b") + '\x01'); },
       {protocol_error, malformed},
       true},
      // 5.0: a Response Topic with wildcards. [MQTT-3.3.2-14]
      {"WildcardInResponseTopic",
       [](Version) { return packet(0x30, str("a/b") + std::string("\x06\x08", 2) + str("r/#") + "p"); },
       {protocol_error, malformed},
       true},
      // 5.0: No Local on a shared subscription is a protocol error. [MQTT-3.8.3-4]
      {"NoLocalOnSharedSubscription",
       [](Version) { return packet(0x82, u16(1) + std::string(1, '\0') + str("$share/g/a") + '\x05'); },
       {protocol_error},
       true},
  };
}

class MalformedTest : public ::testing::TestWithParam<std::tuple<Version, std::size_t>> {};

// The offending client is closed (5.0: DISCONNECT with the reason code, then close); a bystander client publishes
// and receives afterwards. [MQTT-4.8.0-1] (3.1.1) [MQTT-4.13.1-1] (5.0)
TEST_P(MalformedTest, ClosesOffenderOthersKeepWorking) {
  const auto [version, index] = GetParam();
  const Case c = cases().at(index);
  BrokerProcess broker;
  RawClient bystander(broker.port(), version);
  bystander.connect("bystander");
  bystander.subscribe("ok/#", QoS::at_least_once);

  RawClient bad(broker.port(), version);
  ASSERT_EQ(static_cast<int>(bad.connect("bad").reason_code), 0);
  bad.send_bytes(c.bytes(version));
  if (version == Version::v5) {
    const auto r = bad.read();
    ASSERT_EQ(r.status, RawClient::ReadResult::Status::packet) << "expected DISCONNECT, got " << describe(r);
    const auto* d = std::get_if<protocol::Disconnect>(&r.packet);
    ASSERT_NE(d, nullptr) << "expected DISCONNECT, got " << describe(r.packet);
    EXPECT_TRUE(c.reasons.contains(d->reason_code))
        << "DISCONNECT reason " << protocol::reason_code_name(d->reason_code) << " expected "
        << protocol::reason_code_name(*c.reasons.begin());
  }
  bad.expect_closed();

  bystander.publish("ok/after", "bystander still works", QoS::at_least_once);
  EXPECT_EQ(bystander.receive().payload, "bystander still works");
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<Version, std::size_t>>& info) {
  const auto [version, index] = info.param;
  return cases().at(index).name + (version == Version::v5 ? "_v5" : "_v311");
}

// Every case for 5.0; for 3.1.1 those that exist there (5.0-only cases are not instantiated, rather than skipped).
std::vector<std::tuple<Version, std::size_t>> case_params() {
  std::vector<std::tuple<Version, std::size_t>> out;
  for (std::size_t i = 0; i < cases().size(); ++i) {
    if (!cases()[i].v5_only) out.emplace_back(Version::v311, i);
    out.emplace_back(Version::v5, i);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedTest, ::testing::ValuesIn(case_params()), case_name);

// CONNECT problems close the connection without a CONNACK (the conformance suite also accepts a refusing CONNACK;
// tern closes at once, as 3.1.1 section 3.1.4 asks for a malformed CONNECT).

// Will flag 0 with Will QoS 1. [MQTT-3.1.2-13] (3.1.1) [MQTT-3.1.2-11] (5.0)
TEST(MalformedConnect, WillQosWithoutWillFlagCloses) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v311);
  c.send_bytes(packet(0x10, str("MQTT") + '\x04' + '\x0a' + u16(60) + str("id")));
  c.expect_closed();
}

// Will QoS 3. [MQTT-3.1.2-14] (3.1.1) [MQTT-3.1.2-12] (5.0)
TEST(MalformedConnect, WillQos3Closes) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v311);
  c.send_bytes(packet(0x10, str("MQTT") + '\x04' + '\x1e' + u16(60) + str("id") + str("w/t") + str("bye")));
  c.expect_closed();
}

// Password flag without user name flag (3.1.1 only). [MQTT-3.1.2-22]
TEST(MalformedConnect, PasswordWithoutUsernameCloses311) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v311);
  c.send_bytes(packet(0x10, str("MQTT") + '\x04' + '\x42' + u16(60) + str("id") + str("pw")));
  c.expect_closed();
}

// MQTT 3.1 clients set DUP when they resend PUBREL, SUBSCRIBE or UNSUBSCRIBE (3.1 sections 3.6, 3.8, 3.10): Tern
// accepts that for protocol level 3 (the strict check stays for 3.1.1 and 5.0, above), so a QoS 2 flow cut by a lost
// connection completes with the resent PUBREL, and the message is delivered once.
TEST(Mqtt31, DupOnResentPubrelSubscribeAndUnsubscribe) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v311, "watcher", "q2/#", QoS::exactly_once);
  {
    RawClient first(broker.port(), Version::v31);
    first.connect("old-client", false);
    first.send(protocol::Publish{.topic = "q2/a", .payload = "once", .qos = QoS::exactly_once, .packet_id = 9});
    EXPECT_EQ(first.expect<protocol::Pubrec>().packet_id, 9);
    first.close();  // lost before PUBREL
  }
  RawClient again(broker.port(), Version::v31);
  again.connect("old-client", false);
  again.send_bytes(packet(0x6A, u16(9)));  // PUBREL, DUP set as 3.1 resends it
  EXPECT_EQ(again.expect<protocol::Pubcomp>().packet_id, 9);
  again.send_bytes(packet(0x8A, u16(2) + str("q2/b") + '\x01'));  // SUBSCRIBE with DUP
  EXPECT_EQ(again.expect<protocol::Suback>().packet_id, 2);
  again.send_bytes(packet(0xAA, u16(3) + str("q2/b")));  // UNSUBSCRIBE with DUP
  EXPECT_EQ(again.expect<protocol::Unsuback>().packet_id, 3);
  const auto delivered = watcher.receive();
  EXPECT_EQ(delivered.payload, "once");
  watcher.expect_silence();
  // 3.1.1 keeps the rule: the same PUBREL closes the connection as malformed.
  RawClient strict(broker.port(), Version::v311);
  strict.connect("strict");
  strict.send_bytes(packet(0x6A, u16(9)));
  strict.expect_closed();
}

}  // namespace
}  // namespace tern::itest
