// MQTT 5.0 flow control: Receive Maximum and Maximum Packet Size, both directions.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

constexpr Version v5 = Version::v5;

Publish qos2(const std::string& topic, std::uint16_t id) {
  Publish p;
  p.topic = topic;
  p.payload = "x";
  p.qos = QoS::exactly_once;
  p.packet_id = id;
  return p;
}

// A QoS 0 PUBLISH to ok/big whose packet is over max_packet_size 200 (a 300-byte payload).
Publish over_200_bytes() {
  Publish big;
  big.topic = "ok/big";
  big.payload = std::string(300, 'b');
  return big;
}

// Completing the QoS 2 exchanges frees the window again: many messages in windows of 2 are fine.
TEST(FlowControl, ClientWithinReceiveMaximumIsFine) {
  BrokerProcess broker({"max_inflight_messages 2"});
  RawClient c(broker.port(), v5);
  c.connect("careful");
  for (std::uint16_t id = 1; id <= 10; id += 2) {
    c.send(qos2("rm/x", id));
    c.send(qos2("rm/x", static_cast<std::uint16_t>(id + 1)));
    EXPECT_EQ(c.expect<protocol::Pubrec>().packet_id, id);
    EXPECT_EQ(c.expect<protocol::Pubrec>().packet_id, id + 1);
    c.send(protocol::Pubrel{id, ReasonCode::success, {}});
    c.send(protocol::Pubrel{static_cast<std::uint16_t>(id + 1), ReasonCode::success, {}});
    EXPECT_EQ(c.expect<protocol::Pubcomp>().packet_id, id);
    EXPECT_EQ(c.expect<protocol::Pubcomp>().packet_id, id + 1);
  }
  c.ping();
}

// Messages larger than a client's Maximum Packet Size are not sent to it; other subscribers still get them.
// [MQTT-3.1.2-24] [MQTT-3.1.2-25]
TEST(FlowControl, MessagesOverClientMaximumNotSent) {
  BrokerProcess broker;
  Subscriber small(broker.port(), v5, "small", "mp/#", QoS::at_least_once, Properties{.maximum_packet_size = 100});
  Subscriber large(broker.port(), v5, "large", "mp/#");
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  pub.publish("mp/big", std::string(500, 'b'), QoS::at_least_once);
  pub.publish("mp/small", "tiny", QoS::at_least_once);
  EXPECT_EQ(small.receive().payload, "tiny");
  small.expect_silence();
  EXPECT_EQ(large.receive().payload.size(), 500u);
  EXPECT_EQ(large.receive().payload, "tiny");
}

// 3.1.1 has no DISCONNECT from the server: a packet over max_packet_size just closes the connection.
TEST(FlowControl, PacketOverBrokerMaximumClosesV311) {
  BrokerProcess broker({"max_packet_size 200"});
  RawClient c(broker.port(), Version::v311);
  c.connect("big");
  c.send(over_200_bytes());
  c.expect_closed();
}

}  // namespace
}  // namespace tern::itest
