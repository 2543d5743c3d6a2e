// Shared subscriptions $share/GROUP/FILTER.
#include <gtest/gtest.h>

#include <set>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

class SharedSubscriptionTest : public VersionedTest {};

// Reads every PUBLISH that arrives on `c` until it stays quiet, acknowledging them.
std::vector<std::string> drain(RawClient& c) {
  std::vector<std::string> got;
  while (true) {
    auto r = c.read(quiet_period);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    auto* p = std::get_if<Publish>(&r.packet);
    if (p == nullptr) throw HarnessError("expected PUBLISH, got " + describe(r.packet));
    got.push_back(p->payload);
    c.acknowledge(*p);
  }
  c.ping();
  return got;
}

// Each message goes to exactly one member of each group; plain subscribers get every message.
// [MQTT-4.8.2-1] [MQTT-4.8.2-2] [MQTT-4.8.2-3] (5.0 4.8.2: each message goes to only one session of each group)
TEST_P(SharedSubscriptionTest, OneMemberPerGroupPlainSubscribersGetAll) {
  BrokerProcess broker;
  RawClient a(broker.port(), version());
  a.connect("a");
  a.subscribe("$share/g1/sh/#", QoS::at_least_once);
  RawClient b(broker.port(), version());
  b.connect("b");
  b.subscribe("$share/g1/sh/#", QoS::at_least_once);
  RawClient c(broker.port(), version());
  c.connect("c");
  c.subscribe("$share/g2/sh/+", QoS::at_least_once);
  RawClient plain(broker.port(), version());
  plain.connect("plain");
  plain.subscribe("sh/#", QoS::at_least_once);

  RawClient pub(broker.port(), version());
  pub.connect("pub");
  constexpr int count = 20;
  std::vector<std::string> all;
  for (int i = 0; i < count; ++i) {
    all.push_back("m" + std::to_string(i));
    pub.publish("sh/x", all.back(), QoS::at_least_once);
  }
  std::vector<std::string> from_a = drain(a);
  std::vector<std::string> from_b = drain(b);
  std::multiset<std::string> group1(from_a.begin(), from_a.end());
  group1.insert(from_b.begin(), from_b.end());
  EXPECT_EQ(group1, std::multiset<std::string>(all.begin(), all.end())) << "group g1: each message exactly once";
  EXPECT_EQ(drain(c), all);      // the only member of g2 gets everything
  EXPECT_EQ(drain(plain), all);  // plain subscribers are not affected
}

// When a member leaves, the remaining members get every message.
TEST_P(SharedSubscriptionTest, RemainingMemberGetsAllAfterOtherLeaves) {
  BrokerProcess broker;
  RawClient a(broker.port(), version());
  a.connect("a");
  a.subscribe("$share/g/sl/#", QoS::at_least_once);
  {
    RawClient b(broker.port(), version());
    b.connect("b");
    b.subscribe("$share/g/sl/#", QoS::at_least_once);
    b.disconnect();
    b.expect_closed();
  }
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  std::vector<std::string> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back("m" + std::to_string(i));
    pub.publish("sl/x", all.back(), QoS::at_least_once);
  }
  EXPECT_EQ(drain(a), all);
}

// UNSUBSCRIBE from a shared subscription removes only that member.
TEST_P(SharedSubscriptionTest, UnsubscribeSharedFilter) {
  BrokerProcess broker;
  RawClient a(broker.port(), version());
  a.connect("a");
  a.subscribe("$share/g/su/#", QoS::at_least_once);
  RawClient b(broker.port(), version());
  b.connect("b");
  b.subscribe("$share/g/su/#", QoS::at_least_once);
  b.unsubscribe({"$share/g/su/#"});
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (int i = 0; i < 5; ++i) pub.publish("su/x", std::to_string(i), QoS::at_least_once);
  EXPECT_EQ(drain(a).size(), 5u);
  EXPECT_TRUE(drain(b).empty());
}

// Retained messages are sent when a non-shared subscription is made, not for a shared one. (5.0 3.3.1.3: "When a
// new Non-shared Subscription is made, the last retained message ... is sent"; 4.8.2)
TEST_P(SharedSubscriptionTest, RetainedNotSentToSharedSubscription) {
  BrokerProcess broker;
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("sr/x", "kept", QoS::at_least_once, true);
  RawClient member(broker.port(), version());
  member.connect("member");
  member.subscribe("$share/g/sr/#", QoS::at_least_once);
  member.expect_silence();
  pub.publish("sr/x", "live", QoS::at_least_once);
  EXPECT_EQ(member.receive().payload, "live");
}

TERN_INSTANTIATE_VERSIONS(SharedSubscriptionTest);

}  // namespace
}  // namespace tern::itest
