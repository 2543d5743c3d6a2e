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

// A client with more unacknowledged QoS 2 PUBLISHes than tern's Receive Maximum (max_inflight_messages 2) gets
// DISCONNECT 0x93. [MQTT-3.3.4-7] (4.9: the receiver uses DISCONNECT 0x93)
TEST(FlowControl, ClientExceedingReceiveMaximumDisconnected) {
  BrokerProcess broker({"max_inflight_messages 2"});
  Subscriber bystander(broker.port(), v5, "bystander", "ok/#");
  RawClient c(broker.port(), v5);
  EXPECT_EQ(c.connect("greedy").properties.receive_maximum, std::optional<std::uint16_t>(2));
  c.send(qos2("rm/1", 1));
  EXPECT_EQ(c.expect<protocol::Pubrec>().packet_id, 1);
  c.send(qos2("rm/2", 2));
  EXPECT_EQ(c.expect<protocol::Pubrec>().packet_id, 2);
  c.send(qos2("rm/3", 3));  // third without PUBREL for the first two
  c.expect_disconnect(ReasonCode::receive_maximum_exceeded);
  expect_still_served(broker.port(), bystander);
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

// Tern never has more unacknowledged QoS 1/2 PUBLISHes outstanding to a client than the client's Receive Maximum;
// each acknowledgement lets one more through, and all arrive in order; PINGREQ is still answered while the quota
// is 0. [MQTT-3.3.4-9] [MQTT-3.3.4-10] [MQTT-4.9.0-2] [MQTT-4.9.0-3]
TEST(FlowControl, BrokerRespectsClientReceiveMaximum) {
  BrokerProcess broker;
  Subscriber sub(broker.port(), v5, "slow", "rx/#", QoS::exactly_once, Properties{.receive_maximum = 2});
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  for (int i = 1; i <= 6; ++i) {
    pub.publish("rx/x", "m" + std::to_string(i), i % 2 == 0 ? QoS::exactly_once : QoS::at_least_once);
  }
  std::vector<Publish> outstanding{sub.receive(answer_timeout, false), sub.receive(answer_timeout, false)};
  sub.expect_silence();  // a third would exceed Receive Maximum 2
  std::vector<std::string> got{outstanding[0].payload, outstanding[1].payload};
  while (got.size() < 6) {
    sub.acknowledge(outstanding.front());  // frees one slot
    outstanding.erase(outstanding.begin());
    const Publish next = sub.receive(answer_timeout, false);
    got.push_back(next.payload);
    outstanding.push_back(next);
    if (got.size() < 6) {
      auto r = sub.read(100ms);
      ASSERT_EQ(r.status, RawClient::ReadResult::Status::timeout) << "over Receive Maximum: " << describe(r);
    }
  }
  for (const auto& o : outstanding) sub.acknowledge(o);
  EXPECT_EQ(got, (std::vector<std::string>{"m1", "m2", "m3", "m4", "m5", "m6"}));
  sub.expect_silence();
}

// A packet larger than tern's max_packet_size: DISCONNECT 0x95 (Packet too large); the limit is in CONNACK; others
// carry on. [MQTT-3.2.2-15] (4.13)
TEST(FlowControl, PacketOverBrokerMaximumDisconnected) {
  BrokerProcess broker({"max_packet_size 200"});
  Subscriber bystander(broker.port(), v5, "bystander", "ok/#");
  RawClient c(broker.port(), v5);
  EXPECT_EQ(c.connect("big").properties.maximum_packet_size, std::optional<std::uint32_t>(200));
  c.publish("ok/small", std::string(100, 's'), QoS::at_least_once);  // under the limit: fine
  EXPECT_EQ(bystander.receive().payload.size(), 100u);
  c.send(over_200_bytes());
  c.expect_disconnect(ReasonCode::packet_too_large);
  expect_still_served(broker.port(), bystander);  // and the big one never reached it
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
