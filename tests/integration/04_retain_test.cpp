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

// A new retained message replaces the old one; a non-retained one does not; an empty retained payload clears it
// (and is itself delivered to current subscribers). [MQTT-3.3.1-7] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
// [MQTT-3.3.1-12] (3.1.1) [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8] (5.0)
TEST_P(RetainTest, ReplaceAndClear) {
  BrokerProcess broker;
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("rc/x", "v1", QoS::at_least_once, true);
  pub.publish("rc/x", "v2", QoS::at_most_once, true);
  pub.publish("rc/x", "live only", QoS::at_least_once, false);
  {
    RawClient sub(broker.port(), version());
    sub.connect("sub1");
    sub.subscribe("rc/x", QoS::at_least_once);
    const Publish p = sub.receive();
    EXPECT_EQ(p.payload, "v2");
    EXPECT_TRUE(p.retain);
    sub.expect_silence();  // only the newest

    pub.publish("rc/x", "", QoS::at_least_once, true);
    const Publish clear = sub.receive();  // delivered normally
    EXPECT_EQ(clear.payload, "");
  }
  RawClient later(broker.port(), version());
  later.connect("sub2");
  later.subscribe("rc/#", QoS::at_least_once);
  later.expect_silence();  // nothing retained any more
}

// Live delivery: 3.1.1 sends RETAIN 0 to established subscriptions; 5.0 without Retain As Published too.
// [MQTT-3.3.1-9] (3.1.1) [MQTT-3.3.1-12] (5.0)
TEST_P(RetainTest, LiveMessagesNotFlaggedRetained) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("live/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("live/x", "retained and live", QoS::at_least_once, true);
  const Publish p = sub.receive();
  EXPECT_EQ(p.payload, "retained and live");
  EXPECT_FALSE(p.retain);
}

// 5.0 Retain As Published: live messages keep the RETAIN flag they were published with.
// [MQTT-3.3.1-12] [MQTT-3.3.1-13]
TEST(RetainV5, RetainAsPublishedKeepsFlag) {
  BrokerProcess broker;
  RawClient rap(broker.port(), Version::v5);
  rap.connect("rap");
  rap.subscribe({Subscription{"rap/#", QoS::at_least_once, false, true, 0}});
  RawClient plain(broker.port(), Version::v5);
  plain.connect("plain");
  plain.subscribe({Subscription{"rap/#", QoS::at_least_once, false, false, 0}});
  RawClient pub(broker.port(), Version::v5);
  pub.connect("pub");
  pub.publish("rap/x", "r", QoS::at_least_once, true);
  pub.publish("rap/x", "n", QoS::at_least_once, false);
  const Publish r1 = rap.receive();
  const Publish r2 = rap.receive();
  EXPECT_EQ(r1.payload, "r");
  EXPECT_TRUE(r1.retain);
  EXPECT_EQ(r2.payload, "n");
  EXPECT_FALSE(r2.retain);
  EXPECT_FALSE(plain.receive().retain);
  EXPECT_FALSE(plain.receive().retain);
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
