// mount_point in the broker core, without sockets: the prefix added to a mounted client's PUBLISH topics, SUBSCRIBE
// and UNSUBSCRIBE filters (the filter part of a shared one) and will, and removed from every PUBLISH sent to it
// (retained ones, topic aliases on its view); $SYS out of its sight; a resumed session's topics outside the prefix
// not sent. The helpers of mount_point.hpp first.
#include <set>
#include <string>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/core/mount_point.hpp"
#include "broker/core/sys_tree.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

std::vector<std::string> topics_of(TestClient& c) {
  std::vector<std::string> out;
  for (auto& pub : c.received_of<p::Publish>()) out.push_back(pub.topic);
  return out;
}

TEST(MountPoint, Helpers) {
  EXPECT_EQ(mount_topic("site1/", "a/b"), "site1/a/b");
  EXPECT_EQ(mount_topic("site1", "a"), "site1a");  // joined as it is, as mosquitto does
  EXPECT_EQ(mount_filter("site1/", "a/#"), "site1/a/#");
  EXPECT_EQ(mount_filter("site1/", "$share/g/a/+"), "$share/g/site1/a/+");
  EXPECT_EQ(mount_filter("site1/", "$SYS/#"), "site1/$SYS/#");
  EXPECT_EQ(unmount_topic("site1/", "site1/a/b"), "a/b");
  EXPECT_EQ(unmount_topic("site1/", "site2/a"), std::nullopt);
  EXPECT_EQ(unmount_topic("site1/", "site1/"), std::nullopt);  // the prefix alone: no topic left
  EXPECT_EQ(unmount_topic("site1/", "site1"), std::nullopt);
}

// Clients elsewhere see a mounted client's topics with the prefix; it sees only the hierarchy under it, without.
TEST(BrokerMountPoint, PrefixedInStrippedOut) {
  for (auto version : {p::Version::v311, p::Version::v5}) {
    SCOPED_TRACE(static_cast<int>(version));
    Broker b(anonymous());
    TestClient mounted(b, version, t0, "site1/");
    TestClient plain(b, version, t0);
    mounted.connect("mounted", true, t0);
    plain.connect("plain", true, t0);
    mounted.subscribe("#", p::QoS::at_least_once, t0);
    plain.subscribe("#", p::QoS::at_least_once, t0);
    mounted.received();
    plain.received();

    mounted.publish("a/b", "in", p::QoS::at_least_once, t0);
    EXPECT_EQ(topics_of(plain), std::vector<std::string>{"site1/a/b"});
    EXPECT_EQ(topics_of(mounted), std::vector<std::string>{"a/b"});

    plain.publish("site1/x", "under", p::QoS::at_least_once, t0);
    plain.publish("site2/x", "elsewhere", p::QoS::at_least_once, t0);
    plain.publish("x", "root", p::QoS::at_least_once, t0);
    EXPECT_EQ(topics_of(mounted), std::vector<std::string>{"x"});
    EXPECT_EQ(b.stats().messages_dropped, 0u);  // the others never matched its site1/# at all
  }
}

// Retained messages: stored under the prefixed topic, sent to a mounted subscriber under its view.
TEST(BrokerMountPoint, RetainedMessages) {
  Broker b(anonymous());
  TestClient plain(b, p::Version::v311, t0);
  plain.connect("plain", true, t0);
  plain.publish("site1/kept", "r1", p::QoS::at_least_once, t0, true);
  plain.publish("kept", "r2", p::QoS::at_least_once, t0, true);
  TestClient mounted(b, p::Version::v5, t0, "site1/");
  mounted.connect("mounted", true, t0);
  mounted.publish("own", "r3", p::QoS::at_most_once, t0, true);
  mounted.subscribe("+", p::QoS::at_least_once, t0);
  auto msgs = mounted.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 2u);
  std::set<std::string> got;
  for (const auto& m : msgs) {
    EXPECT_TRUE(m.retain);
    got.insert(m.topic + "=" + m.payload);
  }
  EXPECT_EQ(got, (std::set<std::string>{"kept=r1", "own=r3"}));
  plain.subscribe("site1/own", p::QoS::at_least_once, t0);
  EXPECT_EQ(topics_of(plain), std::vector<std::string>{"site1/own"});
}

// Shared subscriptions: the filter part is prefixed ($share/g/site1/t), so a mounted member and a plain member of
// $share/g/site1/t share one group.
TEST(BrokerMountPoint, SharedSubscriptionFilterPrefixed) {
  Broker b(anonymous());
  TestClient mounted(b, p::Version::v5, t0, "site1/");
  TestClient plain(b, p::Version::v5, t0);
  TestClient pub(b, p::Version::v5, t0);
  mounted.connect("m", true, t0);
  plain.connect("p", true, t0);
  pub.connect("pub", true, t0);
  mounted.subscribe("$share/g/t", p::QoS::at_least_once, t0);
  plain.subscribe("$share/g/site1/t", p::QoS::at_least_once, t0);
  EXPECT_EQ(b.stats().shared_subscriptions, 2u);
  mounted.received();
  plain.received();
  for (int i = 0; i < 4; ++i) pub.publish("site1/t", std::to_string(i), p::QoS::at_least_once, t0);
  const auto to_mounted = topics_of(mounted);
  const auto to_plain = topics_of(plain);
  EXPECT_EQ(to_mounted, std::vector<std::string>(2, "t"));  // round robin: two each, one copy each
  EXPECT_EQ(to_plain, std::vector<std::string>(2, "site1/t"));
  mounted.send(p::Unsubscribe{.packet_id = 50, .filters = {"$share/g/t"}}, t0);
  auto unsuback = mounted.received_of<p::Unsuback>();
  ASSERT_EQ(unsuback.size(), 1u);
  EXPECT_EQ(unsuback[0].reason_codes, std::vector<p::ReasonCode>{p::ReasonCode::success});
  EXPECT_EQ(b.stats().shared_subscriptions, 1u);
}

// UNSUBSCRIBE takes the client's filter, as SUBSCRIBE did (mosquitto does not prefix it, so its mounted clients
// cannot unsubscribe).
TEST(BrokerMountPoint, Unsubscribe) {
  Broker b(anonymous());
  TestClient mounted(b, p::Version::v5, t0, "site1/");
  mounted.connect("m", true, t0);
  mounted.subscribe("a/+", p::QoS::at_least_once, t0);
  mounted.received();
  EXPECT_EQ(b.stats().subscriptions, 1u);
  mounted.send(p::Unsubscribe{.packet_id = 9, .filters = {"site1/a/+", "a/+"}}, t0);
  auto ack = mounted.received_of<p::Unsuback>();
  ASSERT_EQ(ack.size(), 1u);
  EXPECT_EQ(ack[0].reason_codes,
            (std::vector<p::ReasonCode>{p::ReasonCode::no_subscription_existed, p::ReasonCode::success}));
  EXPECT_EQ(b.stats().subscriptions, 0u);
}

// A prefix without '/' is joined as it is; a filter that is no filter once joined is refused in the SUBACK.
TEST(BrokerMountPoint, PrefixWithoutSlash) {
  for (auto version : {p::Version::v311, p::Version::v5}) {
    Broker b(anonymous());
    TestClient mounted(b, version, t0, "site1");
    TestClient plain(b, version, t0);
    mounted.connect("m", true, t0);
    plain.connect("p", true, t0);
    mounted.subscribe("#", p::QoS::at_least_once, t0);
    auto suback = mounted.received_of<p::Suback>();
    ASSERT_EQ(suback.size(), 1u);
    EXPECT_EQ(suback[0].reason_codes.at(0), version == p::Version::v5 ? p::ReasonCode::topic_filter_invalid
                                                                      : p::ReasonCode::unspecified_error);  // 0x80
    mounted.subscribe("/x", p::QoS::at_least_once, t0);
    mounted.received();
    plain.publish("site1/x", "m", p::QoS::at_least_once, t0);
    EXPECT_EQ(topics_of(mounted), std::vector<std::string>{"/x"});
  }
}

// The will goes out on the prefixed topic.
TEST(BrokerMountPoint, WillPrefixed) {
  Broker b(anonymous());
  TestClient plain(b, p::Version::v311, t0);
  plain.connect("p", true, t0);
  plain.subscribe("#", p::QoS::at_least_once, t0);
  plain.received();
  {
    TestClient mounted(b, p::Version::v311, t0, "site1/");
    mounted.connect("m", true, t0, {}, p::Will{.topic = "status", .payload = "gone", .qos = p::QoS::at_least_once});
    mounted.drop(t0);
  }
  EXPECT_EQ(topics_of(plain), std::vector<std::string>{"site1/status"});
}

// $SYS: the mounted client's "$SYS/#" is "site1/$SYS/#", which the broker's $SYS never matches; its own PUBLISH to
// "$SYS/x" is "site1/$SYS/x", an ordinary topic. As in mosquitto.
TEST(BrokerMountPoint, SysNotSeen) {
  Broker b(anonymous());
  TestClient mounted(b, p::Version::v311, t0, "site1/");
  TestClient plain(b, p::Version::v311, t0);
  mounted.connect("m", true, t0);
  plain.connect("p", true, t0);
  mounted.subscribe("$SYS/#", p::QoS::at_least_once, t0);
  plain.subscribe("$SYS/broker/version", p::QoS::at_least_once, t0);
  plain.subscribe("site1/$SYS/#", p::QoS::at_least_once, t0);
  mounted.received();
  plain.received();
  SysSample sample;
  sample.version = "0.1.0";
  sample.started = t0;
  b.publish_sys(sample, t0);
  EXPECT_TRUE(mounted.received_of<p::Publish>().empty());
  EXPECT_EQ(topics_of(plain), std::vector<std::string>{"$SYS/broker/version"});
  mounted.publish("$SYS/x", "mine", p::QoS::at_least_once, t0);
  EXPECT_EQ(topics_of(mounted), std::vector<std::string>{"$SYS/x"});
  EXPECT_EQ(topics_of(plain), std::vector<std::string>{"site1/$SYS/x"});
}

// 5.0 topic aliases name the client's view of a topic, both ways.
TEST(BrokerMountPoint, TopicAliasesOnTheClientsView) {
  Broker b(anonymous());
  TestClient mounted(b, p::Version::v5, t0, "site1/");
  TestClient plain(b, p::Version::v5, t0);
  mounted.connect("m", true, t0, p::Properties{.topic_alias_maximum = 5});
  plain.connect("p", true, t0);
  plain.subscribe("#", p::QoS::at_most_once, t0);
  mounted.subscribe("#", p::QoS::at_most_once, t0);
  plain.received();
  mounted.received();
  mounted.publish("t", "1", p::QoS::at_most_once, t0, false, p::Properties{.topic_alias = 3});
  mounted.publish("", "2", p::QoS::at_most_once, t0, false, p::Properties{.topic_alias = 3});
  EXPECT_EQ(topics_of(plain), (std::vector<std::string>{"site1/t", "site1/t"}));
  auto out = mounted.received_of<p::Publish>();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "t");  // the alias is set up on the client's view
  ASSERT_TRUE(out[0].properties.topic_alias);
  EXPECT_EQ(out[1].topic, "");
  EXPECT_EQ(out[1].properties.topic_alias, out[0].properties.topic_alias);
}

// A session resumed on a listener with another mount point: what it subscribed to elsewhere is outside the new
// prefix and is not sent (counted as not_authorized), queued or in flight; what is under it flows.
TEST(BrokerMountPoint, ResumedElsewhereSeesOnlyItsHierarchy) {
  Broker b(anonymous());
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  {
    TestClient first(b, p::Version::v311, t0, "a/");
    first.connect("roamer", false, t0);
    first.subscribe("t", p::QoS::at_least_once, t0);
    first.received();
    pub.publish("a/t", "in flight", p::QoS::at_least_once, t0);
    EXPECT_EQ(topics_of(first), std::vector<std::string>{"t"});  // not acknowledged
    first.drop(t0);
  }
  pub.publish("a/t", "queued", p::QoS::at_least_once, t0);
  TestClient second(b, p::Version::v311, t0, "b/");
  second.connect("roamer", false, t0);
  EXPECT_TRUE(second.received_of<p::Publish>().empty());
  EXPECT_EQ(b.stats().dropped[static_cast<unsigned>(DropReason::not_authorized)], 2u);
  second.subscribe("t", p::QoS::at_least_once, t0);
  second.received();
  pub.publish("b/t", "here", p::QoS::at_least_once, t0);
  auto msgs = second.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].topic, "t");
  EXPECT_EQ(msgs[0].payload, "here");
}

}  // namespace
}  // namespace tern::core::testing
