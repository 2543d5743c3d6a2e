// CONNECT / CONNACK: flags, client identifiers, session present, protocol errors around CONNECT, authentication.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Connack;
using protocol::Connect;

class ConnectTest : public VersionedTest {};

std::uint8_t code(const Connack& c) { return static_cast<std::uint8_t>(c.reason_code); }

Properties session_expiry(std::uint32_t seconds) {
  Properties p;
  p.session_expiry_interval = seconds;
  return p;
}

// Every CONNECT flag at once: user name, password, will (QoS 1, retain), clean session; then the will is not used.
// [MQTT-3.1.2-9] [MQTT-3.1.2-19] [MQTT-3.1.2-21] [MQTT-3.1.4-4] [MQTT-3.2.0-1] [MQTT-3.2.2-1] (3.1.1)
// [MQTT-3.1.2-9] [MQTT-3.1.2-17] [MQTT-3.1.2-19] [MQTT-3.1.4-5] [MQTT-3.2.2-2] (5.0)
TEST_P(ConnectTest, AcceptsConnectWithEveryFlag) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  Connect connect = RawClient::make_connect(version(), "every-flag", true, 30);
  connect.username = "user";
  connect.password = std::string("pa\0ss", 5);
  connect.will = protocol::Will{"will/topic", "bye", QoS::at_least_once, true, {}};
  const Connack ack = c.connect(connect);
  EXPECT_EQ(code(ack), 0);
  EXPECT_FALSE(ack.session_present);
  c.ping();
  c.disconnect();
  c.expect_closed();

  // A clean session with no will flags; and one with clean session 0 (session present 0: nothing stored yet).
  RawClient d(broker.port(), version());
  EXPECT_EQ(code(d.connect("no-flags", true, 0)), 0);
  RawClient e(broker.port(), version());
  const Connack persistent = e.connect("persistent", false, 0, v5() ? session_expiry(60) : Properties{});
  EXPECT_EQ(code(persistent), 0);
  EXPECT_FALSE(persistent.session_present);  // [MQTT-3.2.2-3]
}

// Session present: 0 on clean start, 1 when resuming a stored session, 0 again after a clean start discards it.
// [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT-3.1.2-4] [MQTT-3.1.2-6] (3.1.1)
// [MQTT-3.2.2-2] [MQTT-3.2.2-3] [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] (5.0)
TEST_P(ConnectTest, SessionPresentFlag) {
  BrokerProcess broker;
  const Properties expiry = v5() ? session_expiry(60) : Properties{};
  {
    RawClient c(broker.port(), version());
    const Connack ack = c.connect("sp", false, 60, expiry);
    EXPECT_FALSE(ack.session_present);
    c.subscribe("sp/topic", QoS::at_least_once);
    c.disconnect();
    c.expect_closed();
  }
  {
    RawClient c(broker.port(), version());
    const Connack ack = c.connect("sp", false, 60, expiry);
    EXPECT_EQ(code(ack), 0);
    EXPECT_TRUE(ack.session_present);
    c.disconnect();
    c.expect_closed();
  }
  {
    RawClient c(broker.port(), version());
    const Connack ack = c.connect("sp", true, 60, expiry);
    EXPECT_FALSE(ack.session_present);
    c.disconnect();
    c.expect_closed();
  }
  {
    // The clean start above discarded the old session; a session expiry still keeps the new (empty) one, which the
    // broker now has stored.
    RawClient c(broker.port(), version());
    const Connack ack = c.connect("sp2", false, 60, expiry);
    EXPECT_FALSE(ack.session_present);
  }
}

// Empty client id with clean session: 3.1.1 accepts and assigns one internally; 5.0 returns the Assigned Client
// Identifier. [MQTT-3.1.3-6] (3.1.1 and 5.0) [MQTT-3.1.3-7] [MQTT-3.2.2-16] (5.0)
TEST_P(ConnectTest, EmptyClientIdWithCleanStartIsAssigned) {
  BrokerProcess broker;
  RawClient a(broker.port(), version());
  const Connack ack_a = a.connect("", true);
  EXPECT_EQ(code(ack_a), 0);
  RawClient b(broker.port(), version());
  const Connack ack_b = b.connect("", true);
  EXPECT_EQ(code(ack_b), 0);
  if (v5()) {
    ASSERT_TRUE(ack_a.properties.assigned_client_identifier.has_value());
    ASSERT_TRUE(ack_b.properties.assigned_client_identifier.has_value());
    EXPECT_FALSE(ack_a.properties.assigned_client_identifier->empty());
    EXPECT_NE(*ack_a.properties.assigned_client_identifier, *ack_b.properties.assigned_client_identifier);
  }
  // Both stay connected: neither took the other over.
  a.ping();
  b.ping();
}

// 3.1.1: an empty client id with clean session 0 is refused with 0x02 and the connection closed. [MQTT-3.1.3-8]
// [MQTT-3.2.2-4] [MQTT-3.2.2-5]
TEST(ConnectV311, EmptyClientIdWithoutCleanSessionIsRejected) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v311);
  const Connack ack = c.connect("", false);
  EXPECT_EQ(code(ack), 0x02);
  EXPECT_FALSE(ack.session_present);
  c.expect_closed();
}

// 5.0: an empty client id is assigned even with clean start 0 (the spec lets the server assign one either way).
// [MQTT-3.1.3-6] [MQTT-3.2.2-16]
TEST(ConnectV5, EmptyClientIdWithoutCleanStartIsAssigned) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v5);
  const Connack ack = c.connect("", false, 60);
  EXPECT_EQ(code(ack), 0);
  ASSERT_TRUE(ack.properties.assigned_client_identifier.has_value());
  EXPECT_FALSE(ack.properties.assigned_client_identifier->empty());
}

// A second CONNECT is a protocol error: the connection is closed (5.0: a DISCONNECT 0x82 may come first).
// [MQTT-3.1.0-2]
TEST_P(ConnectTest, SecondConnectIsProtocolError) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  ASSERT_EQ(code(c.connect("twice")), 0);
  c.send(RawClient::make_connect(version(), "twice"));
  const auto disconnect = c.expect_closed();
  if (disconnect) {
    EXPECT_EQ(disconnect->reason_code, ReasonCode::protocol_error) << describe(*disconnect);
  }

  // The broker itself is fine.
  RawClient other(broker.port(), version());
  EXPECT_EQ(code(other.connect("other")), 0);
}

// Unknown protocol level: CONNACK 0x01 (unacceptable protocol version, 3.1.1 form) then close. [MQTT-3.1.2-2]
TEST(ConnectAnyVersion, UnknownProtocolLevelIsRefused) {
  BrokerProcess broker;
  RawClient c(broker.port(), Version::v311);
  // CONNECT, remaining length 12: protocol name "MQTT", level 7, flags 0x02 (clean), keep alive 60, client id "".
  c.send_bytes(std::string("\x10\x0c\x00\x04MQTT\x07\x02\x00\x3c\x00\x00", 14));
  const Connack ack = c.expect<Connack>();
  EXPECT_EQ(code(ack), 0x01);
  EXPECT_FALSE(ack.session_present);
  c.expect_closed();
}

// The first packet must be CONNECT; anything else closes the connection without an answer. [MQTT-3.1.0-1]
TEST(ConnectAnyVersion, FirstPacketNotConnectIsClosed) {
  BrokerProcess broker;
  {
    RawClient c(broker.port(), Version::v311);
    c.send(protocol::Pingreq{});
    c.expect_closed();
  }
  {
    RawClient c(broker.port(), Version::v311);
    protocol::Publish p;
    p.topic = "a";
    p.payload = "x";
    c.send(p);
    c.expect_closed();
  }
  {
    RawClient c(broker.port(), Version::v5);
    protocol::Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({"a", QoS::at_most_once, false, false, 0});
    c.send(s);
    c.expect_closed();
  }
}

// allow_anonymous false: a CONNECT without a user name is refused (3.1.1: 0x05 not authorized, 5.0: 0x87) and the
// connection closed. [MQTT-3.2.2-4] [MQTT-3.2.2-5] (3.1.1) [MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7] (5.0)
TEST_P(ConnectTest, AnonymousRefusedWhenNotAllowed) {
  BrokerProcess broker({"allow_anonymous false"});
  RawClient c(broker.port(), version());
  const Connack ack = c.connect("anon");
  EXPECT_EQ(code(ack), v5() ? 0x87 : 0x05);
  EXPECT_FALSE(ack.session_present);
  c.expect_closed();
}

// A client id of the 23 characters every server must allow. [MQTT-3.1.3-5]
TEST_P(ConnectTest, LongestRequiredClientIdAccepted) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  EXPECT_EQ(code(c.connect("abcdefghijklmnopqrstuvw")), 0);
  c.ping();
}

TERN_INSTANTIATE_VERSIONS(ConnectTest);

}  // namespace
}  // namespace tern::itest
