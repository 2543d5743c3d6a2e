// MQTT 5.0 topic aliases in both directions.
#include <gtest/gtest.h>

#include <map>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

constexpr Version v5 = Version::v5;

Publish aliased(const std::string& topic, std::uint16_t alias, const std::string& payload) {
  Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = QoS::at_most_once;
  p.properties.topic_alias = alias;
  return p;
}

// Client -> broker: an alias set with a topic is used by later PUBLISHes with an empty topic; it can be remapped.
// [MQTT-3.3.2-12]
TEST(TopicAlias, ClientToBrokerAliases) {
  BrokerProcess broker;
  Subscriber sub(broker.port(), v5, "sub", "ta/#", QoS::at_most_once);
  RawClient pub(broker.port(), v5);
  const auto ack = pub.connect("pub");
  ASSERT_TRUE(ack.properties.topic_alias_maximum.has_value());
  ASSERT_GE(*ack.properties.topic_alias_maximum, 2);
  pub.send(aliased("ta/one", 1, "set 1"));
  pub.send(aliased("", 1, "use 1"));
  pub.send(aliased("ta/two", 2, "set 2"));
  pub.send(aliased("ta/three", 1, "remap 1"));
  pub.send(aliased("", 1, "use remapped 1"));
  pub.send(aliased("", 2, "use 2"));
  const std::vector<std::pair<std::string, std::string>> expected = {{"ta/one", "set 1"},
                                                                     {"ta/one", "use 1"},
                                                                     {"ta/two", "set 2"},
                                                                     {"ta/three", "remap 1"},
                                                                     {"ta/three", "use remapped 1"},
                                                                     {"ta/two", "use 2"}};
  for (const auto& [topic, payload] : expected) {
    const Publish got = sub.receive();
    EXPECT_EQ(got.topic, topic);
    EXPECT_EQ(got.payload, payload);
    EXPECT_FALSE(got.properties.topic_alias.has_value());  // the subscriber asked for no aliases
  }
  pub.ping();
}

// Topic alias 0 is a protocol error: DISCONNECT 0x94 (Topic Alias invalid). Other clients carry on.
// [MQTT-3.3.2-8]
TEST(TopicAlias, AliasZeroDisconnects) {
  BrokerProcess broker;
  Subscriber bystander(broker.port(), v5, "bystander", "ok/#");
  RawClient bad(broker.port(), v5);
  bad.connect("bad");
  bad.send(aliased("ta/x", 0, "zero"));
  bad.expect_disconnect(ReasonCode::topic_alias_invalid);
  expect_still_served(broker.port(), bystander);
}

// An alias above the Topic Alias Maximum in CONNACK: DISCONNECT 0x94. [MQTT-3.2.2-17] [MQTT-3.3.2-9]
TEST(TopicAlias, AliasAboveMaximumDisconnects) {
  BrokerProcess broker({"max_topic_alias 3"});
  RawClient bad(broker.port(), v5);
  const auto ack = bad.connect("bad");
  const std::uint16_t max = ack.properties.topic_alias_maximum.value_or(0);
  EXPECT_EQ(max, 3);
  bad.send(aliased("ta/x", static_cast<std::uint16_t>(max + 1), "too big"));
  bad.expect_disconnect(ReasonCode::topic_alias_invalid);
}

// An empty topic with an alias that has no mapping is a protocol error (DISCONNECT 0x82). (3.3.2.3.4)
TEST(TopicAlias, UnknownAliasWithEmptyTopicDisconnects) {
  BrokerProcess broker;
  RawClient bad(broker.port(), v5);
  bad.connect("bad");
  bad.send(aliased("", 1, "never set"));
  bad.expect_disconnect(ReasonCode::protocol_error);
}

// Broker -> client: a client with Topic Alias Maximum 5 gets the first message on a topic with the topic (and an
// alias), and the second with only the alias and an empty topic. Aliases never exceed the client's maximum.
// [MQTT-3.3.2-11] [MQTT-3.1.2-26]
TEST(TopicAlias, BrokerAssignsAliasesToClient) {
  BrokerProcess broker;
  Subscriber sub(broker.port(), v5, "sub", "tb/#", QoS::at_least_once, Properties{.topic_alias_maximum = 5});
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  pub.publish("tb/x", "first", QoS::at_least_once);
  pub.publish("tb/x", "second", QoS::at_least_once);
  const Publish first = sub.receive();
  const Publish second = sub.receive();
  EXPECT_EQ(first.topic, "tb/x");
  ASSERT_TRUE(first.properties.topic_alias.has_value()) << "the broker did not assign an alias";
  EXPECT_GE(*first.properties.topic_alias, 1);
  EXPECT_LE(*first.properties.topic_alias, 5);
  EXPECT_EQ(second.topic, "");
  EXPECT_EQ(second.properties.topic_alias, first.properties.topic_alias);
  EXPECT_EQ(second.payload, "second");
}

}  // namespace
}  // namespace tern::itest
