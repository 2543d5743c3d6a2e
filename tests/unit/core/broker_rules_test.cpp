// The rule engine's outcomes (rule_outcome.hpp) as the core applies them: derived messages routed and a drop
// honoured only once the original is accepted; a refused original takes its derived messages with it.
#include "broker/core/rule_outcome.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

struct Clients {
  explicit Clients(Broker& b, p::Version v = p::Version::v5) : pub(b, v, t0), sub(b, v, t0) {
    pub.connect("pub", true, t0);
    sub.connect("sub", true, t0);
    sub.subscribe("#", p::QoS::at_least_once, t0);
    sub.received();
  }
  TestClient pub;
  TestClient sub;
};

std::vector<p::Packet> one_publish(std::string topic, std::string payload, p::QoS qos, std::uint16_t id = 0,
                                   bool retain = false) {
  std::vector<p::Packet> packets;
  packets.push_back(p::Publish{
      .topic = std::move(topic), .payload = std::move(payload), .qos = qos, .retain = retain, .packet_id = id});
  return packets;
}

TEST(BrokerRules, DerivedMessagesAreRoutedAfterTheOriginal) {
  Broker b(anonymous());
  Clients x(b);
  std::vector<p::Packet> packets;
  packets.push_back(p::Pingreq{});
  packets.push_back(p::Publish{.topic = "s/a", .payload = "31", .qos = p::QoS::at_least_once, .packet_id = 1});
  std::vector<PublishOutcome> outcomes{{.packet = 1, .messages = {{"alarms/a", "hot", p::QoS::exactly_once, false}}}};
  b.on_packets(x.pub.id(), packets, t0, outcomes);
  EXPECT_TRUE(outcomes[0].accepted);
  const auto got = x.sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic, "s/a");
  EXPECT_EQ(got[1].topic, "alarms/a");
  EXPECT_EQ(got[1].payload, "hot");
  EXPECT_EQ(got[1].qos, p::QoS::at_least_once);  // the subscription's QoS caps it
  EXPECT_EQ(b.stats().rule_messages, 1u);
}

TEST(BrokerRules, DropKeepsTheOriginalFromSubscribersAndTheRetainedIndex) {
  Broker b(anonymous());
  Clients x(b);
  std::vector<PublishOutcome> outcomes{{.packet = 0, .drop = true}};
  auto packets = one_publish("s/a", "x", p::QoS::at_least_once, 7, true);
  b.on_packets(x.pub.id(), packets, t0, outcomes);
  EXPECT_TRUE(outcomes[0].accepted);
  const auto acks = x.pub.received_of<p::Puback>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].reason_code, p::ReasonCode::success);  // not "no matching subscribers"
  EXPECT_TRUE(x.sub.received_of<p::Publish>().empty());
  EXPECT_EQ(b.stats().retained, 0u);
  EXPECT_EQ(b.stats().rule_drops, 1u);
}

TEST(BrokerRules, ARefusedOriginalDiscardsWhatWasDerivedFromIt) {
  BrokerOptions o = anonymous();
  o.message_size_limit = 4;
  Broker b(o);
  Clients x(b);
  std::vector<PublishOutcome> outcomes{{.packet = 0, .messages = {{"alarms/a", "hot", p::QoS::at_most_once, false}}}};
  auto packets = one_publish("s/a", "too large", p::QoS::at_least_once, 3);
  b.on_packets(x.pub.id(), packets, t0, outcomes);
  EXPECT_FALSE(outcomes[0].accepted);
  EXPECT_TRUE(x.sub.received_of<p::Publish>().empty());
  EXPECT_EQ(b.stats().rule_messages, 0u);
}

TEST(BrokerRules, AQos2ResendBeforePubrelDerivesNothingTwice) {
  Broker b(anonymous());
  Clients x(b);
  for (int i = 0; i < 2; ++i) {
    std::vector<PublishOutcome> outcomes{{.packet = 0, .messages = {{"d", "1", p::QoS::at_most_once, false}}}};
    auto packets = one_publish("s/a", "1", p::QoS::exactly_once, 5);
    b.on_packets(x.pub.id(), packets, t0, outcomes);
    EXPECT_EQ(outcomes[0].accepted, i == 0);
  }
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 2u);  // s/a and d, once each
}

TEST(BrokerRules, PublishDerivedRoutesTheBrokersOwnMessages) {
  Broker b(anonymous());
  Clients x(b);
  const std::vector<DerivedMessage> windows{{"avg/s/a", "{\"count\":1}", p::QoS::at_least_once, true}};
  b.publish_derived(windows, t0);
  const auto got = x.sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "avg/s/a");
  EXPECT_EQ(b.stats().retained, 1u);
  EXPECT_EQ(b.identity(x.pub.id()).client_id, "pub");
}

}  // namespace
}  // namespace tern::core::testing
