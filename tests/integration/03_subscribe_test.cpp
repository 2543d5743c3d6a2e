// SUBSCRIBE / UNSUBSCRIBE: wildcards, $-topics, overlapping subscriptions, SUBACK codes.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;
using protocol::Subscription;

class SubscribeTest : public VersionedTest {};

Subscription sub_opt(const std::string& filter, QoS qos) { return Subscription{filter, qos, false, false, 0}; }

// '+' matches exactly one level (an empty one too), '#' the parent and any number of levels, matching is case
// sensitive; the topics that do not match are not delivered (checked with a marker that must be the next message).
// [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-3.3.2-3]
TEST_P(SubscribeTest, WildcardsMatch) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  const auto ack = sub.subscribe({sub_opt("a/+/c", QoS::at_least_once), sub_opt("x/#", QoS::at_least_once),
                                  sub_opt("+/p", QoS::at_least_once), sub_opt("marker", QoS::at_least_once)});
  for (auto rc : ack.reason_codes) EXPECT_EQ(rc, ReasonCode::granted_qos1);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  const std::vector<std::pair<std::string, bool>> topics = {
      {"a/b/c", true}, {"a//c", true},   {"a/b/c/d", false}, {"a/c", false}, {"x", true},
      {"x/y", true},   {"x/y/z", true},  {"xx/y", false},    {"q/p", true},  {"/p", true},
      {"p", false},    {"q/p/r", false}, {"A/b/c", false},   {"a/b", false}};
  for (const auto& [topic, match] : topics) pub.publish(topic, topic, QoS::at_least_once);
  pub.publish("marker", "marker", QoS::at_least_once);
  for (const auto& [topic, match] : topics) {
    if (!match) continue;
    const Publish got = sub.receive();
    EXPECT_EQ(got.topic, topic);  // the topic name as published, not the filter
  }
  EXPECT_EQ(sub.receive().topic, "marker");
  sub.expect_silence();
}

// UNSUBSCRIBE stops delivery; UNSUBACK has the same packet id. [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4]
// [MQTT-3.10.4-5] (5.0) [MQTT-3.11.3-1] (5.0)
TEST_P(SubscribeTest, UnsubscribeStopsDelivery) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe({sub_opt("u/a", QoS::at_least_once), sub_opt("u/b", QoS::at_least_once)});
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("u/a", "before", QoS::at_least_once);
  EXPECT_EQ(sub.receive().payload, "before");

  const auto unack = sub.unsubscribe({"u/a", "u/never"});
  if (v5()) {
    ASSERT_EQ(unack.reason_codes.size(), 2u);
    EXPECT_EQ(unack.reason_codes[0], ReasonCode::success);
    EXPECT_EQ(unack.reason_codes[1], ReasonCode::no_subscription_existed);
  }
  pub.publish("u/a", "after", QoS::at_least_once);
  pub.publish("u/b", "marker", QoS::at_least_once);
  EXPECT_EQ(sub.receive().payload, "marker");
  sub.expect_silence();
}

// Topics starting with '$' are not matched by filters starting with '+' or '#', but are by explicit ones.
// [MQTT-4.7.2-1]
TEST_P(SubscribeTest, DollarTopicsNotMatchedByLeadingWildcard) {
  BrokerProcess broker;
  // Separate clients, so that no client has overlapping subscriptions (5.0 would allow one copy per subscription).
  std::vector<std::unique_ptr<RawClient>> wild;
  for (const char* filter : {"#", "+/x", "+/+"}) {
    wild.push_back(std::make_unique<RawClient>(broker.port(), version()));
    wild.back()->connect(std::string("wild") + std::to_string(wild.size()));
    wild.back()->subscribe(filter, QoS::at_least_once);
  }
  RawClient dollar(broker.port(), version());
  dollar.connect("dollar");
  dollar.subscribe("$test/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("$test/x", "dollar", QoS::at_least_once);
  pub.publish("plain/x", "plain", QoS::at_least_once);

  const Publish d = dollar.receive();
  EXPECT_EQ(d.topic, "$test/x");
  dollar.expect_silence();
  for (auto& w : wild) {
    EXPECT_EQ(w->receive().topic, "plain/x");  // the $test/x message never came before it
    w->expect_silence();
  }
}

// Overlapping subscriptions. 3.1.1: one copy at the highest granted QoS. 5.0: one copy carrying every matching
// subscription identifier. [MQTT-3.3.5-1] (3.1.1) [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-4] (5.0)
TEST_P(SubscribeTest, OverlappingSubscriptionsOneCopy) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  Properties id1;
  Properties id2;
  if (v5()) {
    id1.subscription_identifiers = {1};
    id2.subscription_identifiers = {2};
  }
  sub.subscribe("ov/#", QoS::at_least_once, id1);
  sub.subscribe("ov/+", QoS::exactly_once, id2);
  sub.subscribe("ov/m", QoS::at_most_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("ov/x", "both", QoS::exactly_once);
  pub.publish("ov/m", "marker", QoS::at_most_once);

  const Publish got = sub.receive();
  EXPECT_EQ(got.payload, "both");
  if (v5()) {
    std::vector<std::uint32_t> ids = got.properties.subscription_identifiers;
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::uint32_t>{1, 2}));
  } else {
    EXPECT_EQ(got.qos, QoS::exactly_once);
  }
  // The next message is the marker: no second copy of "both".
  EXPECT_EQ(sub.receive().payload, "marker");
  sub.expect_silence();
}

// SUBACK: one code per filter in order, the granted QoS for each; an invalid filter gets 0x80 (3.1.1) / 0x8F (5.0)
// while the others in the same SUBSCRIBE are granted. [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-4] [MQTT-3.8.4-5]
// [MQTT-3.9.3-1] [MQTT-3.9.3-2] [MQTT-4.7.1-1] (3.1.1) [MQTT-3.8.4-6] [MQTT-3.8.4-7] (5.0)
TEST_P(SubscribeTest, SubackCodesAndInvalidFilters) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  const auto ack = sub.subscribe({sub_opt("s/0", QoS::at_most_once), sub_opt("s/1", QoS::at_least_once),
                                  sub_opt("s/2", QoS::exactly_once), sub_opt("s/#/x", QoS::at_least_once),
                                  sub_opt("s/a+", QoS::at_least_once), sub_opt("s/3", QoS::at_least_once)});
  const ReasonCode invalid = v5() ? ReasonCode::topic_filter_invalid : ReasonCode::unspecified_error;
  EXPECT_EQ(ack.reason_codes,
            (std::vector<ReasonCode>{ReasonCode::success, ReasonCode::granted_qos1, ReasonCode::granted_qos2, invalid,
                                     invalid, ReasonCode::granted_qos1}));
  sub.ping();  // still connected

  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("s/3", "valid ones work", QoS::at_least_once);
  EXPECT_EQ(sub.receive().payload, "valid ones work");
}

// Subscribing again to the same filter replaces the subscription (new QoS), it does not add a second one.
// [MQTT-3.8.4-3]
TEST_P(SubscribeTest, ResubscribeReplacesSubscription) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("r/x", QoS::at_most_once);
  sub.subscribe("r/x", QoS::exactly_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("r/x", "one", QoS::exactly_once);
  pub.publish("r/x", "two", QoS::at_most_once);
  const Publish first = sub.receive();
  EXPECT_EQ(first.payload, "one");
  EXPECT_EQ(first.qos, QoS::exactly_once);
  EXPECT_EQ(sub.receive().payload, "two");
  sub.expect_silence();
}

TERN_INSTANTIATE_VERSIONS(SubscribeTest);

}  // namespace
}  // namespace tern::itest
