// MQTT 5.0 properties and options: session expiry, message expiry, pass-through properties, subscription
// identifiers, no-local, retain handling, request problem information.
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

void subscribe_and_leave(std::uint16_t port, const std::string& id, const std::string& filter,
                         std::uint32_t session_expiry) {
  RawClient s(port, v5);
  s.connect(id, false, 60, expiry(session_expiry));
  s.subscribe(filter, QoS::at_least_once);
  s.disconnect();
  s.expect_closed();
}

// Session Expiry Interval 0 (or absent): the session ends when the connection does. [MQTT-3.1.2-23]
TEST(V5Properties, SessionExpiryZeroEndsAtDisconnect) {
  BrokerProcess broker;
  subscribe_and_leave(broker.port(), "zero", "z/#", 0);
  RawClient s(broker.port(), v5);
  EXPECT_FALSE(s.connect("zero", false, 60).session_present);
}

// Session Expiry Interval N: the session survives N seconds offline and no longer. [MQTT-3.1.2-23] [MQTT-4.1.0-2]
TEST(V5Properties, SessionExpiryAfterInterval) {
  BrokerProcess broker;
  subscribe_and_leave(broker.port(), "short", "s/#", 1);
  {
    RawClient s(broker.port(), v5);
    EXPECT_TRUE(s.connect("short", false, 60, expiry(1)).session_present);
    s.disconnect();
    s.expect_closed();
  }
  // The scenario needs the session to be offline longer than its expiry.
  std::this_thread::sleep_for(2200ms);
  RawClient s(broker.port(), v5);
  EXPECT_FALSE(s.connect("short", false, 60, expiry(1)).session_present);
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

// Message Expiry Interval counts down while the message waits in a queue; an expired one is not delivered.
// [MQTT-3.3.2-5] [MQTT-3.3.2-6]
TEST(V5Properties, MessageExpiryWhileQueued) {
  BrokerProcess broker;
  subscribe_and_leave(broker.port(), "late", "me/#", 300);
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  Properties short_lived;
  short_lived.message_expiry_interval = 1;
  Properties longer;
  longer.message_expiry_interval = 3;
  pub.publish("me/short", "expires", QoS::at_least_once, false, short_lived);
  pub.publish("me/long", "survives", QoS::at_least_once, false, longer);
  pub.publish("me/none", "no expiry", QoS::at_least_once);
  std::this_thread::sleep_for(1500ms);  // the scenario: the messages wait in the offline queue

  RawClient s(broker.port(), v5);
  s.connect("late", false, 60, expiry(300));
  const Publish first = s.receive();
  EXPECT_EQ(first.payload, "survives");
  ASSERT_TRUE(first.properties.message_expiry_interval.has_value());
  EXPECT_GE(*first.properties.message_expiry_interval, 1u);
  EXPECT_LE(*first.properties.message_expiry_interval, 2u);
  const Publish second = s.receive();
  EXPECT_EQ(second.payload, "no expiry");
  EXPECT_FALSE(second.properties.message_expiry_interval.has_value());
  s.expect_silence();
}

// Payload Format Indicator, Content Type, Response Topic, Correlation Data and User Properties (order kept,
// repeated keys kept) reach the subscriber unchanged. [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
// [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]
TEST(V5Properties, ApplicationPropertiesPassedThrough) {
  BrokerProcess broker;
  RawClient sub(broker.port(), v5);
  sub.connect("sub");
  sub.subscribe("pp/#", QoS::exactly_once);
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  Properties p;
  p.payload_format_indicator = 1;
  p.content_type = "application/json; charset=utf-8";
  p.response_topic = "pp/reply/1";
  p.correlation_data = std::string("\x00\x01\xff corr", 8);
  p.user_properties = {{"k", "v1"}, {"other", "x"}, {"k", "v2"}, {"", ""}};
  for (QoS q : {QoS::at_most_once, QoS::at_least_once, QoS::exactly_once}) {
    pub.publish("pp/x", "{\"a\":1}", q, false, p);
    const Publish got = sub.receive();
    EXPECT_EQ(got.properties.payload_format_indicator, p.payload_format_indicator);
    EXPECT_EQ(got.properties.content_type, p.content_type);
    EXPECT_EQ(got.properties.response_topic, p.response_topic);
    EXPECT_EQ(got.properties.correlation_data, p.correlation_data);
    EXPECT_EQ(got.properties.user_properties, p.user_properties);
  }
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

// A Subscription Identifier comes back on each matching PUBLISH; a subscription without one adds none.
// (3.8.2.1.2) [MQTT-3.3.4-3]
TEST(V5Properties, SubscriptionIdentifiers) {
  BrokerProcess broker;
  RawClient sub(broker.port(), v5);
  sub.connect("sub");
  Properties id7;
  id7.subscription_identifiers = {7};
  sub.subscribe("si/a/#", QoS::at_least_once, id7);
  Properties id_big;
  id_big.subscription_identifiers = {268435455};
  sub.subscribe("si/b", QoS::at_least_once, id_big);
  sub.subscribe("si/c", QoS::at_least_once);
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  pub.publish("si/a/1", "a", QoS::at_least_once);
  pub.publish("si/b", "b", QoS::at_least_once);
  pub.publish("si/c", "c", QoS::at_least_once);
  EXPECT_EQ(sub.receive().properties.subscription_identifiers, (std::vector<std::uint32_t>{7}));
  EXPECT_EQ(sub.receive().properties.subscription_identifiers, (std::vector<std::uint32_t>{268435455}));
  EXPECT_TRUE(sub.receive().properties.subscription_identifiers.empty());
}

// No Local: the client's own messages are not sent back on that subscription. [MQTT-3.8.3-3]
TEST(V5Properties, NoLocal) {
  BrokerProcess broker;
  RawClient c(broker.port(), v5);
  c.connect("self");
  c.subscribe({Subscription{"nl/#", QoS::at_least_once, true, false, 0},
               Subscription{"l/#", QoS::at_least_once, false, false, 0}});
  RawClient other(broker.port(), v5);
  other.connect("other");
  other.subscribe("nl/#", QoS::at_least_once);
  c.publish("nl/x", "not to me", QoS::at_least_once);
  c.publish("l/x", "to me", QoS::at_least_once);
  EXPECT_EQ(c.receive().payload, "to me");
  c.expect_silence();
  EXPECT_EQ(other.receive().payload, "not to me");  // others still get it
}

// Retain Handling 0: retained messages on every subscribe; 1: only if the subscription is new; 2: never.
// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
TEST(V5Properties, RetainHandling) {
  BrokerProcess broker;
  RawClient pub(broker.port(), v5);
  pub.connect("pub");
  pub.publish("rh/x", "kept", QoS::at_least_once, true);
  RawClient s(broker.port(), v5);
  s.connect("s");

  s.subscribe({Subscription{"rh/#", QoS::at_least_once, false, false, 0}});
  EXPECT_EQ(s.receive().payload, "kept");
  s.subscribe({Subscription{"rh/#", QoS::at_least_once, false, false, 0}});  // existing, handling 0: again
  EXPECT_EQ(s.receive().payload, "kept");
  s.subscribe({Subscription{"rh/#", QoS::at_least_once, false, false, 1}});  // existing, handling 1: no
  s.expect_silence();
  s.subscribe({Subscription{"rh/+", QoS::at_least_once, false, false, 1}});  // new, handling 1: yes
  EXPECT_EQ(s.receive().payload, "kept");
  s.subscribe({Subscription{"rh/x", QoS::at_least_once, false, false, 2}});  // new, handling 2: never
  s.expect_silence();
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
