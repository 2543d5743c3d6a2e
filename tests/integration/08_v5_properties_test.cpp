// MQTT 5.0 properties and options the conformance suite (conformance/tests/08_properties.py) leaves open: session
// expiry changed by DISCONNECT, properties through Paho, Request Problem Information on a failed SUBACK, expiry of
// retained messages, and what the CONNACK advertises for given settings.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Connack;
using protocol::Publish;
using protocol::Subscription;

constexpr Version v5 = Version::v5;

Properties expiry(std::uint32_t seconds) {
  Properties p;
  p.session_expiry_interval = seconds;
  return p;
}

// DISCONNECT may change the Session Expiry Interval: 60 -> 0 ends the session at once. (3.14.2.2.2)
TEST(V5Properties, SessionExpiryChangedOnDisconnect) {
  BrokerProcess broker;
  {
    RawClient s(broker.port(), v5);
    s.connect("changer", false, 60, expiry(60));
    s.subscribe("ch/#", QoS::at_least_once);
    s.disconnect(ReasonCode::success, expiry(0));
    s.expect_closed();
  }
  RawClient s(broker.port(), v5);
  EXPECT_FALSE(s.connect("changer", false, 60, expiry(60)).session_present);
}

// CONNECT with expiry 0 then DISCONNECT with a non-zero expiry is a protocol error: the DISCONNECT is not valid, so
// the broker answers DISCONNECT 0x82 and the will is published. (3.14.2.2.2, [MQTT-3.14.4-3])
TEST(V5Properties, DisconnectSettingExpiryFromZeroIsProtocolError) {
  BrokerProcess broker;
  RawClient watcher(broker.port(), v5);
  watcher.connect("watcher");
  watcher.subscribe("will/#", QoS::at_least_once);
  RawClient s(broker.port(), v5);
  protocol::Connect c = RawClient::make_connect(v5, "bad-disconnect", true, 60);
  c.will = protocol::Will{"will/bad-disconnect", "gone", QoS::at_least_once, false, {}};
  s.connect(c);
  s.disconnect(ReasonCode::success, expiry(60));
  s.expect_disconnect(ReasonCode::protocol_error);
  EXPECT_EQ(watcher.receive().topic, "will/bad-disconnect");
}

// The same through Paho MQTT C++ 5.0 clients.
TEST(V5Properties, PahoUserPropertiesPassedThrough) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), "paho-sub", v5);
  sub.connect();
  sub.subscribe("paho/#", 1);
  PahoClient pub(broker.port(), "paho-pub", v5);
  pub.connect();
  auto msg = mqtt::make_message("paho/x", "hello", 1, false);
  mqtt::properties props;
  props.add(mqtt::property(mqtt::property::USER_PROPERTY, "name", "value"));
  props.add(mqtt::property(mqtt::property::CONTENT_TYPE, "text/plain"));
  props.add(mqtt::property(mqtt::property::CORRELATION_DATA, mqtt::binary("id-17")));
  msg->set_properties(props);
  pub.publish(msg);
  ASSERT_TRUE(sub.received().wait_for(1));
  const auto got = sub.received().messages().at(0);
  const auto& gp = got->get_properties();
  EXPECT_EQ(mqtt::get<std::string>(gp, mqtt::property::CONTENT_TYPE), "text/plain");
  EXPECT_EQ(mqtt::get<std::string>(gp, mqtt::property::CORRELATION_DATA), "id-17");
  const auto user = mqtt::get<mqtt::string_pair>(gp, mqtt::property::USER_PROPERTY);
  EXPECT_EQ(std::get<0>(user), "name");
  EXPECT_EQ(std::get<1>(user), "value");
}

// Request Problem Information 0: no Reason String or User Property on packets other than PUBLISH, CONNACK and
// DISCONNECT (here a SUBACK with a failure and a PUBACK with no subscribers). [MQTT-3.1.2-29]
TEST(V5Properties, RequestProblemInformationZero) {
  BrokerProcess broker;
  RawClient c(broker.port(), v5);
  Properties p;
  p.request_problem_information = 0;
  c.connect("quiet", true, 60, p);
  // A PUBACK with no matching subscribers (0x10 or 0x00): no reason string.
  protocol::Publish pub;
  pub.topic = "nobody/listens";
  pub.payload = "x";
  pub.qos = QoS::at_least_once;
  pub.packet_id = 9;
  c.send(pub);
  const auto puback = c.expect<protocol::Puback>();
  EXPECT_FALSE(puback.properties.reason_string.has_value());
  EXPECT_TRUE(puback.properties.user_properties.empty());

  // A SUBACK with a failure (invalid filter): no reason string either.
  const auto ack = c.subscribe({Subscription{"ok/x", QoS::at_least_once, false, false, 0},
                                Subscription{"bad/#/x", QoS::at_least_once, false, false, 0}});
  EXPECT_EQ(ack.reason_codes.at(1), ReasonCode::topic_filter_invalid);
  EXPECT_FALSE(ack.properties.reason_string.has_value());
  EXPECT_TRUE(ack.properties.user_properties.empty());
}

// A retained message with a Message Expiry Interval is no longer sent to new subscribers once it has expired; one
// still valid is sent with the remaining interval. [MQTT-3.3.2-5] [MQTT-3.3.2-6]
TEST(V5Properties, RetainedMessageExpiry) {
  BrokerProcess broker;
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  Properties short_lived;
  short_lived.message_expiry_interval = 1;
  Properties longer;
  longer.message_expiry_interval = 30;
  pub.publish("rx/short", "short", QoS::at_least_once, true, short_lived);
  pub.publish("rx/long", "long", QoS::at_least_once, true, longer);
  std::this_thread::sleep_for(1600ms);  // the scenario: the short one expires in the retained store
  RawClient s(broker.port(), v5);
  s.connect("s");
  s.subscribe("rx/#", QoS::at_least_once);
  const Publish got = s.receive();
  EXPECT_EQ(got.payload, "long");
  EXPECT_TRUE(got.retain);
  ASSERT_TRUE(got.properties.message_expiry_interval.has_value());
  EXPECT_LE(*got.properties.message_expiry_interval, 29u);
  EXPECT_GE(*got.properties.message_expiry_interval, 27u);
  s.expect_silence();
}

// CONNACK advertises what tern supports and its limits. (3.2.2.3)
TEST(V5Properties, ConnackCapabilities) {
  BrokerProcess broker({"max_inflight_messages 5", "max_topic_alias 4", "max_packet_size 10000"});
  RawClient c(broker.port(), v5);
  const Connack ack = c.connect("caps");
  EXPECT_EQ(ack.properties.receive_maximum, std::optional<std::uint16_t>(5));
  EXPECT_EQ(ack.properties.topic_alias_maximum, std::optional<std::uint16_t>(4));
  EXPECT_EQ(ack.properties.maximum_packet_size, std::optional<std::uint32_t>(10000));
  // Absent means available (1); if present they must say 1.
  EXPECT_NE(ack.properties.retain_available, std::optional<std::uint8_t>(0));
  EXPECT_NE(ack.properties.wildcard_subscription_available, std::optional<std::uint8_t>(0));
  EXPECT_NE(ack.properties.subscription_identifier_available, std::optional<std::uint8_t>(0));
  EXPECT_NE(ack.properties.shared_subscription_available, std::optional<std::uint8_t>(0));
}

}  // namespace
}  // namespace tern::itest
