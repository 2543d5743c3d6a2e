// Retained messages: set, replace, clear, delivered on subscribe with the retain flag; live delivery flags.
#include <gtest/gtest.h>

#include <map>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;
using protocol::Subscription;

class RetainTest : public VersionedTest {};

// A retained message is stored and sent to a later subscriber with RETAIN 1, at min(stored QoS, granted QoS).
// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] (3.1.1) [MQTT-3.3.1-5] [MQTT-3.3.1-9] (5.0)
TEST_P(RetainTest, DeliveredOnSubscribeWithRetainFlag) {
  BrokerProcess broker;
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("ret/a", "kept a", QoS::at_least_once, true);
  pub.publish("ret/b", "kept b", QoS::exactly_once, true);
  pub.publish("ret/c", "not kept", QoS::at_least_once, false);

  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("ret/#", QoS::exactly_once);
  std::map<std::string, Publish> got;
  for (int i = 0; i < 2; ++i) {
    Publish p = sub.receive();
    got[p.topic] = p;
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got["ret/a"].payload, "kept a");
  EXPECT_TRUE(got["ret/a"].retain);
  EXPECT_EQ(got["ret/a"].qos, QoS::at_least_once);
  EXPECT_EQ(got["ret/b"].payload, "kept b");
  EXPECT_TRUE(got["ret/b"].retain);
  EXPECT_EQ(got["ret/b"].qos, QoS::exactly_once);
  sub.expect_silence();

  RawClient low(broker.port(), version());
  low.connect("low");
  low.subscribe("ret/b", QoS::at_most_once);
  const Publish downgraded = low.receive();
  EXPECT_EQ(downgraded.qos, QoS::at_most_once);
  EXPECT_TRUE(downgraded.retain);
}

// Retained messages on $-topics are not sent to subscriptions starting with a wildcard. [MQTT-4.7.2-1]
TEST_P(RetainTest, DollarRetainedNotMatchedByLeadingWildcard) {
  BrokerProcess broker;
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("$app/state", "dollar", QoS::at_least_once, true);
  pub.publish("app/state", "plain", QoS::at_least_once, true);
  RawClient wild(broker.port(), version());
  wild.connect("wild");
  wild.subscribe("#", QoS::at_least_once);
  EXPECT_EQ(wild.receive().payload, "plain");
  wild.expect_silence();
  RawClient exact(broker.port(), version());
  exact.connect("exact");
  exact.subscribe("$app/#", QoS::at_least_once);
  EXPECT_EQ(exact.receive().payload, "dollar");
}

TERN_INSTANTIATE_VERSIONS(RetainTest);

}  // namespace
}  // namespace tern::itest
