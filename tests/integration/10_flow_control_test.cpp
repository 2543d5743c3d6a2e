// MQTT 5.0 flow control: Receive Maximum and Maximum Packet Size, both directions; and mosquitto's
// max_inflight_bytes, which bounds the outgoing window by payload bytes for both versions.
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

// max_inflight_bytes 1000: a subscriber that does not acknowledge gets QoS 1 messages while the payload bytes in flight
// to it are below 1000 (mosquitto's rule: checked before each message, so four of 300 bytes: 0, 300, 600, 900 before
// each); the rest waits queued and comes, in order, as it acknowledges. mosquitto's rule since 2.0.15
// (db__ready_for_flight on inflight_bytes12); 2.0.11 counts other bytes and sends a fifth message early.
class InflightBytes : public VersionedTest {};

TEST_P(InflightBytes, WindowBoundedByPayloadBytes) {
  BrokerProcess broker({"max_inflight_bytes 1000", "max_inflight_messages 100"});
  Subscriber sub(broker.port(), version(), "slow", "ib/#");
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (char tag = 'a'; tag < 'a' + 10; ++tag) pub.publish("ib/x", std::string(300, tag), QoS::at_least_once);

  std::vector<Publish> got;
  for (int i = 0; i < 4; ++i) got.push_back(sub.receive(answer_timeout, false));
  sub.expect_silence();     // 1200 bytes in flight: the other six wait
  sub.acknowledge(got[0]);  // 900 left: one more
  got.push_back(sub.receive(answer_timeout, false));
  sub.expect_silence();
  sub.acknowledge(got[1]);
  sub.acknowledge(got[2]);  // 600 left: two more (600, then 900, before each)
  got.push_back(sub.receive(answer_timeout, false));
  got.push_back(sub.receive(answer_timeout, false));
  sub.expect_silence();
  for (std::size_t i = 3; i < got.size(); ++i) sub.acknowledge(got[i]);
  for (int i = 0; i < 3; ++i) got.push_back(sub.receive());  // acknowledged as they come: the rest flows
  ASSERT_EQ(got.size(), 10u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].payload, std::string(300, static_cast<char>('a' + i))) << i;  // in order, each once
  }
  sub.expect_silence();
}

TERN_INSTANTIATE_VERSIONS(InflightBytes);

}  // namespace
}  // namespace tern::itest
