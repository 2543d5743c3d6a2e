// mount_point on the real broker: a second listener with "mount_point site1/" beside the harness's plain one. Its
// clients' topics get the prefix on the way in (PUBLISH, SUBSCRIBE and UNSUBSCRIBE filters, the filter part of a
// shared subscription, the will) and lose it on the way out (live and retained messages, 5.0 topic aliases), so
// they see only site1/...; $SYS stays out of their sight, as in mosquitto. The rules and mosquitto's behaviour are in
// broker/core/mount_point.hpp; the core's tests (tests/unit/core/broker_mount_point_test.cpp) add the ACL and a
// session resumed on another listener.
//
// mosquitto has the directive, but the harness finds a second listener's port for Tern only: skipped with
// TERN_TEST_BROKER=mosquitto, saying so.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

class MountPoint : public VersionedTest {
 protected:
  void SetUp() override {
    if (testing_mosquitto()) GTEST_SKIP() << "the harness knows a second listener's port for Tern only";
    broker_ = std::make_unique<BrokerProcess>(
        std::vector<std::string>{"sys_interval 1", "listener 0 127.0.0.1", "mount_point site1/"});
    const auto ports = broker_->ports();
    ASSERT_EQ(ports.size(), 2u) << broker_->log();
    plain_port_ = ports[0];
    mounted_port_ = ports[1];
  }
  std::unique_ptr<BrokerProcess> broker_;
  std::uint16_t plain_port_ = 0;
  std::uint16_t mounted_port_ = 0;
};

// Both ways, live: a mounted client's PUBLISH is seen elsewhere with the prefix; it receives only what is under the
// prefix, without it; a marker message proves what it did not receive.
TEST_P(MountPoint, TopicsPrefixedInAndStrippedOut) {
  Subscriber plain(plain_port_, version(), "plain", "#");
  Subscriber mounted(mounted_port_, version(), "mounted", "#");
  mounted.publish("a/b", "from site1", QoS::at_least_once);
  EXPECT_EQ(plain.receive().topic, "site1/a/b");
  EXPECT_EQ(mounted.receive().topic, "a/b");

  plain.publish("site1/c", "under", QoS::at_least_once);
  plain.publish("other/d", "elsewhere", QoS::at_least_once);
  plain.publish("site1/marker", "m", QoS::at_least_once);
  const Publish c = mounted.receive();
  EXPECT_EQ(c.topic, "c");
  EXPECT_EQ(c.payload, "under");
  EXPECT_EQ(mounted.receive().topic, "marker");  // other/d never came
  for (int i = 0; i < 3; ++i) plain.receive();   // its own three

  // UNSUBSCRIBE takes the client's filter too (mosquitto 2.0 does not prefix it).
  const auto unsuback = mounted.unsubscribe({"#"});
  if (v5()) {
    EXPECT_EQ(unsuback.reason_codes.at(0), ReasonCode::success);  // 0x11 had it not been found
  }
  plain.publish("site1/after", "x", QoS::at_least_once);
  mounted.expect_silence();
}

// Retained messages are kept under the prefixed topic and sent to a mounted subscriber under its view.
TEST_P(MountPoint, RetainedMessages) {
  {
    RawClient pub(plain_port_, version());
    pub.connect("pub");
    pub.publish("site1/kept", "retained", QoS::at_least_once, /*retain=*/true);
    pub.publish("kept", "outside", QoS::at_least_once, /*retain=*/true);
  }
  Subscriber mounted(mounted_port_, version(), "mounted", "kept");
  const Publish p = mounted.receive();
  EXPECT_EQ(p.topic, "kept");
  EXPECT_EQ(p.payload, "retained");
  EXPECT_TRUE(p.retain);
  mounted.expect_silence();
}

// The will of a mounted client is published on the prefixed topic.
TEST_P(MountPoint, WillPrefixed) {
  Subscriber plain(plain_port_, version(), "plain", "site1/#");
  RawClient mounted(mounted_port_, version());
  protocol::Connect connect = RawClient::make_connect(version(), "mortal");
  connect.will = protocol::Will{.topic = "status", .payload = "gone", .qos = QoS::at_least_once};
  ASSERT_EQ(mounted.connect(connect).reason_code, ReasonCode::success);
  mounted.close();  // without DISCONNECT: the will goes
  const Publish will = plain.receive();
  EXPECT_EQ(will.topic, "site1/status");
  EXPECT_EQ(will.payload, "gone");
}

// A shared subscription's filter part is prefixed: the mounted member of $share/g/t gets site1/t as t.
TEST_P(MountPoint, SharedSubscription) {
  Subscriber member(mounted_port_, version(), "member", "$share/g/t");
  publish_once(plain_port_, version(), "site1/t", "shared");
  const Publish p = member.receive();
  EXPECT_EQ(p.topic, "t");
  EXPECT_EQ(p.payload, "shared");
}

// $SYS: the mounted client's "$SYS/#" is site1/$SYS/#, which the broker's $SYS (published every second here, and
// retained) never matches; a plain client gets it.
TEST_P(MountPoint, SysNotSeen) {
  Subscriber mounted(mounted_port_, version(), "mounted", "$SYS/#");
  Subscriber plain(plain_port_, version(), "plain", "$SYS/broker/uptime");
  EXPECT_EQ(plain.receive().topic, "$SYS/broker/uptime");    // retained, at once
  EXPECT_EQ(plain.receive(3s).topic, "$SYS/broker/uptime");  // the next update
  mounted.expect_silence();
}

INSTANTIATE_TEST_SUITE_P(Versions, MountPoint, ::testing::Values(Version::v311, Version::v5), version_name);

// 5.0 topic aliases name the client's view of a topic, both ways.
TEST(MountPointV5, TopicAliasesOnTheClientsView) {
  if (testing_mosquitto()) GTEST_SKIP() << "the harness knows a second listener's port for Tern only";
  BrokerProcess broker({"listener 0 127.0.0.1", "mount_point site1/"});
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  Subscriber plain(ports[0], Version::v5, "plain", "site1/#");
  Subscriber mounted(ports[1], Version::v5, "mounted", "al/#", QoS::at_least_once,
                     Properties{.topic_alias_maximum = 5});
  RawClient pub(ports[1], Version::v5);
  pub.connect("pub");
  pub.publish("al/x", "1", QoS::at_least_once, false, Properties{.topic_alias = 2});
  pub.publish("", "2", QoS::at_least_once, false, Properties{.topic_alias = 2});
  EXPECT_EQ(plain.receive().topic, "site1/al/x");
  EXPECT_EQ(plain.receive().topic, "site1/al/x");
  const Publish first = mounted.receive();
  EXPECT_EQ(first.topic, "al/x");
  ASSERT_TRUE(first.properties.topic_alias.has_value());
  const Publish second = mounted.receive();
  EXPECT_EQ(second.topic, "");
  EXPECT_EQ(second.properties.topic_alias, first.properties.topic_alias);
}

}  // namespace
}  // namespace tern::itest
