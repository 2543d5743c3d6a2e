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

TERN_INSTANTIATE_VERSIONS(ConnectTest);

}  // namespace
}  // namespace tern::itest
