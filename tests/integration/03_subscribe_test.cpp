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

TERN_INSTANTIATE_VERSIONS(SubscribeTest);

}  // namespace
}  // namespace tern::itest
