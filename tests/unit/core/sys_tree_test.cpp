// $SYS in the core, in virtual time: the topics and value formats SysTree derives from a snapshot, which are
// published only on change, the load averages, and Broker::publish_sys routing them as retained messages (and
// clients never publishing to $SYS).
#include "broker/core/sys_tree.hpp"

#include <map>
#include <set>

#include "broker/core/broker.hpp"
#include "tests/support/sys_topics.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

std::map<std::string, std::string> by_topic(const std::vector<SysMessage>& messages) {
  std::map<std::string, std::string> out;
  for (const SysMessage& m : messages) {
    EXPECT_TRUE(out.emplace(m.topic, m.payload).second) << "twice in one update: " << m.topic;
  }
  return out;
}

SysSample sample_at(TimePoint started) {
  SysSample s;
  s.version = "0.1.0";
  s.started = started;
  return s;
}

const std::set<std::string> all_topics = testsupport::sys_topics();

TEST(SysTree, FirstUpdatePublishesEveryTopicInMosquittosFormats) {
  SysTree tree;
  BrokerStats stats;
  stats.sessions = 3;
  stats.clients = 2;
  stats.subscriptions = 4;
  stats.shared_subscriptions = 1;
  stats.retained = 5;
  stats.messages_received = 6;
  stats.packets_received = 9;
  SysSample sample = sample_at(t0);
  sample.bytes_received = 1234;
  sample.heap_current = 4096;
  const auto m = by_topic(tree.update(stats, sample, t0 + 42s + 900ms));
  std::set<std::string> topics;
  for (const auto& [topic, payload] : m) topics.insert(topic);
  EXPECT_EQ(topics, all_topics);
  EXPECT_EQ(m.at("$SYS/broker/version"), "tern version 0.1.0");
  EXPECT_EQ(m.at("$SYS/broker/uptime"), "42 seconds");
  EXPECT_EQ(m.at("$SYS/broker/clients/total"), "3");
  EXPECT_EQ(m.at("$SYS/broker/clients/maximum"), "3");
  EXPECT_EQ(m.at("$SYS/broker/clients/connected"), "2");
  EXPECT_EQ(m.at("$SYS/broker/clients/active"), "2");
  EXPECT_EQ(m.at("$SYS/broker/clients/disconnected"), "1");
  EXPECT_EQ(m.at("$SYS/broker/clients/inactive"), "1");
  EXPECT_EQ(m.at("$SYS/broker/subscriptions/count"), "4");
  EXPECT_EQ(m.at("$SYS/broker/shared_subscriptions/count"), "1");
  EXPECT_EQ(m.at("$SYS/broker/retained messages/count"), "5");
  EXPECT_EQ(m.at("$SYS/broker/publish/messages/received"), "6");
  EXPECT_EQ(m.at("$SYS/broker/messages/received"), "9");
  EXPECT_EQ(m.at("$SYS/broker/bytes/received"), "1234");
  EXPECT_EQ(m.at("$SYS/broker/heap/current"), "4096");
  EXPECT_EQ(m.at("$SYS/broker/heap/maximum"), "4096");
  // Load averages start at 0.00, whatever the counters already hold.
  EXPECT_EQ(m.at("$SYS/broker/load/messages/received/1min"), "0.00");
  EXPECT_EQ(m.at("$SYS/broker/load/bytes/received/15min"), "0.00");
}

TEST(SysTree, LaterUpdatesPublishOnlyWhatChangedAndUptimeAlways) {
  SysTree tree;
  BrokerStats stats;
  SysSample sample = sample_at(t0);
  tree.update(stats, sample, t0);
  // Nothing happened: the uptime alone.
  auto m = by_topic(tree.update(stats, sample, t0 + 10s));
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"$SYS/broker/uptime", "10 seconds"}}));

  stats.sessions = 1;
  stats.clients = 1;
  m = by_topic(tree.update(stats, sample, t0 + 20s));
  EXPECT_EQ(m.size(), 5u);  // uptime, total, maximum, connected and active: no counter moved, so no load
  EXPECT_EQ(m.at("$SYS/broker/clients/total"), "1");
  EXPECT_EQ(m.at("$SYS/broker/clients/maximum"), "1");
  EXPECT_EQ(m.at("$SYS/broker/clients/connected"), "1");
  EXPECT_EQ(m.at("$SYS/broker/clients/active"), "1");
  EXPECT_FALSE(m.contains("$SYS/broker/clients/disconnected"));  // still 0
  EXPECT_FALSE(m.contains("$SYS/broker/version"));               // the first update only

  // The client leaves, its session stays: total unchanged, maximum unchanged.
  stats.clients = 0;
  m = by_topic(tree.update(stats, sample, t0 + 30s));
  EXPECT_FALSE(m.contains("$SYS/broker/clients/total"));
  EXPECT_FALSE(m.contains("$SYS/broker/clients/maximum"));
  EXPECT_EQ(m.at("$SYS/broker/clients/connected"), "0");
  EXPECT_EQ(m.at("$SYS/broker/clients/disconnected"), "1");
  EXPECT_EQ(m.at("$SYS/broker/clients/inactive"), "1");

  // The session expires: total goes down, the maximum stays.
  stats.sessions = 0;
  stats.clients_expired = 1;
  m = by_topic(tree.update(stats, sample, t0 + 40s));
  EXPECT_EQ(m.at("$SYS/broker/clients/total"), "0");
  EXPECT_FALSE(m.contains("$SYS/broker/clients/maximum"));
  EXPECT_EQ(m.at("$SYS/broker/clients/expired"), "1");
}

// The worked example of sys_tree.hpp: 120 PUBLISHes every 10 s is 720 a minute.
TEST(SysTree, LoadAveragesAreMosquittosExponentialMovingAverages) {
  SysTree tree;
  BrokerStats stats;
  SysSample sample = sample_at(t0);
  tree.update(stats, sample, t0);
  std::vector<std::string> one, five, fifteen;
  for (int i = 1; i <= 3; ++i) {
    stats.messages_received += 120;
    auto m = by_topic(tree.update(stats, sample, t0 + i * 10s));
    one.push_back(m.at("$SYS/broker/load/publish/received/1min"));
    five.push_back(m.at("$SYS/broker/load/publish/received/5min"));
    fifteen.push_back(m.at("$SYS/broker/load/publish/received/15min"));
  }
  EXPECT_EQ(one, (std::vector<std::string>{"110.53", "204.10", "283.30"}));
  // 720 * (1 - e^(-10/300)) and 720 * (1 - e^(-10/900)) for the first step.
  EXPECT_EQ(five[0], "23.60");
  EXPECT_EQ(fifteen[0], "7.96");

  // The rate is per minute of time that passed: the same 120 over 20 s is half the rate of 120 over 10 s.
  SysTree slow;
  BrokerStats s2;
  slow.update(s2, sample, t0);
  s2.messages_received = 120;
  auto m = by_topic(slow.update(s2, sample, t0 + 20s));
  // 360 * (1 - e^(-20/60))
  EXPECT_EQ(m.at("$SYS/broker/load/publish/received/1min"), "102.05");

  // Decay: nothing more for a long time brings every average back to 0.00, and it stops being republished once it
  // moves by less than 0.01.
  TimePoint t = t0 + 30s;
  bool published = true;
  std::string last;
  for (int i = 0; i < 200 && published; ++i) {
    t += 60s;
    auto later = by_topic(tree.update(stats, sample, t));
    published = later.contains("$SYS/broker/load/publish/received/1min");
    if (published) last = later.at("$SYS/broker/load/publish/received/1min");
  }
  EXPECT_FALSE(published) << "the 1 minute load never settled";
  EXPECT_EQ(last, "0.01");
}

TEST(SysTree, EveryCounterFeedsItsLoad) {
  SysTree tree;
  BrokerStats stats;
  SysSample sample = sample_at(t0);
  tree.update(stats, sample, t0);
  stats.packets_received = stats.packets_sent = stats.messages_dropped = stats.messages_received = stats.messages_sent =
      stats.sockets_opened = stats.connects = 60;
  sample.bytes_received = sample.bytes_sent = 60;
  const auto m = by_topic(tree.update(stats, sample, t0 + 60s));
  // 60 a minute over one minute: 60 * (1 - e^-1) for the 1 minute average.
  for (const char* load : {"messages/received", "messages/sent", "publish/dropped", "publish/received", "publish/sent",
                           "bytes/received", "bytes/sent", "sockets", "connections"}) {
    SCOPED_TRACE(load);
    EXPECT_EQ(m.at(std::string("$SYS/broker/load/") + load + "/1min"), "37.93");
    EXPECT_EQ(m.at(std::string("$SYS/broker/load/") + load + "/5min"), "10.88");
  }
}

TEST(SysTree, HeapMaximumIsTheLargestSampleAndUnknownHeapIsNotPublished) {
  SysTree tree;
  BrokerStats stats;
  SysSample sample = sample_at(t0);
  sample.heap_current = 1000;
  tree.update(stats, sample, t0);
  sample.heap_current = 3000;
  auto m = by_topic(tree.update(stats, sample, t0 + 1s));
  EXPECT_EQ(m.at("$SYS/broker/heap/current"), "3000");
  EXPECT_EQ(m.at("$SYS/broker/heap/maximum"), "3000");
  sample.heap_current = 2000;
  m = by_topic(tree.update(stats, sample, t0 + 2s));
  EXPECT_EQ(m.at("$SYS/broker/heap/current"), "2000");
  EXPECT_FALSE(m.contains("$SYS/broker/heap/maximum"));

  SysTree unknown;
  const auto first = by_topic(unknown.update(stats, sample_at(t0), t0));
  EXPECT_FALSE(first.contains("$SYS/broker/heap/current"));
  EXPECT_FALSE(first.contains("$SYS/broker/heap/maximum"));
}

// --- Broker::publish_sys: routed as retained messages ----------------------------------------------------------

BrokerOptions open_options() {
  BrokerOptions o;
  o.allow_anonymous = true;
  return o;
}

TEST(BrokerSys, PublishedRetainedToSysSubscribersAndNotToHash) {
  Broker b(open_options());
  TestClient sys(b, p::Version::v5, t0);
  sys.connect("sys", true, t0);
  sys.subscribe("$SYS/#", p::QoS::exactly_once, t0);
  TestClient all(b, p::Version::v311, t0);
  all.connect("all", true, t0);
  all.subscribe("#", p::QoS::at_least_once, t0);
  sys.received();
  all.received();

  SysSample sample = sample_at(t0);
  sample.heap_current = 100000;
  b.publish_sys(sample, t0 + 5s);
  auto pubs = sys.received_of<p::Publish>();
  ASSERT_EQ(pubs.size(), all_topics.size());
  std::set<std::string> topics;
  for (const auto& pub : pubs) {
    topics.insert(pub.topic);
    EXPECT_EQ(pub.qos, p::QoS::exactly_once);  // mosquitto's QoS for $SYS
    EXPECT_FALSE(pub.retain);                  // a live delivery (retain as published is off)
  }
  EXPECT_EQ(topics, all_topics);
  EXPECT_TRUE(all.received_of<p::Publish>().empty()) << "'#' matched a $SYS topic [MQTT-4.7.2-1]";
  EXPECT_EQ(b.stats().retained, all_topics.size());
  EXPECT_EQ(b.stats().messages_received, 0u) << "the broker's own messages counted as received";

  // A late subscriber gets the current values, retained; the counts are the broker's own.
  TestClient late(b, p::Version::v311, t0);
  late.connect("late", true, t0);
  late.subscribe("$SYS/broker/clients/connected", p::QoS::at_most_once, t0);
  auto retained = late.received_of<p::Publish>();
  ASSERT_EQ(retained.size(), 1u);
  EXPECT_TRUE(retained[0].retain);
  EXPECT_EQ(retained[0].payload, "2");  // sys and all; late connected after the update
}

TEST(BrokerSys, CountsFollowWhatClientsDo) {
  Broker b(open_options());
  TestClient sub(b, p::Version::v5, t0);
  sub.connect("sub", true, t0);
  sub.subscribe("a/#", p::QoS::at_least_once, t0);
  sub.subscribe("$share/g/b", p::QoS::at_least_once, t0);
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  for (int i = 0; i < 3; ++i) pub.publish("a/x", "12345", p::QoS::at_least_once, t0);
  pub.publish("a/r", "kept", p::QoS::at_most_once, t0, /*retain=*/true);
  sub.received();

  TestClient sys(b, p::Version::v311, t0);
  sys.connect("sys", true, t0);
  sys.subscribe("$SYS/broker/#", p::QoS::at_most_once, t0);
  sys.received();
  b.publish_sys(sample_at(t0), t0 + 1s);
  std::map<std::string, std::string> m;
  for (auto& p : sys.received_of<p::Publish>()) m[p.topic] = p.payload;
  EXPECT_EQ(m.at("$SYS/broker/clients/connected"), "3");
  EXPECT_EQ(m.at("$SYS/broker/publish/messages/received"), "4");
  EXPECT_EQ(m.at("$SYS/broker/publish/bytes/received"), "19");  // 3 * 5 + 4
  EXPECT_EQ(m.at("$SYS/broker/publish/messages/sent"), "4");
  EXPECT_EQ(m.at("$SYS/broker/subscriptions/count"), "3");
  EXPECT_EQ(m.at("$SYS/broker/shared_subscriptions/count"), "1");
  EXPECT_EQ(m.at("$SYS/broker/retained messages/count"), "1");
  // CONNECT x3, SUBSCRIBE x3, PUBLISH x4: every packet type counts.
  EXPECT_EQ(m.at("$SYS/broker/messages/received"), "10");
  // CONNACK x3, SUBACK x3, PUBACK x3, PUBLISH x4.
  EXPECT_EQ(m.at("$SYS/broker/messages/sent"), "13");
}

TEST(BrokerSys, ClientsCannotPublishToSys) {
  Broker b(open_options());
  TestClient sys(b, p::Version::v311, t0);
  sys.connect("sys", true, t0);
  sys.subscribe("$SYS/#", p::QoS::at_least_once, t0);
  sys.received();
  for (auto version : {p::Version::v311, p::Version::v5}) {
    TestClient c(b, version, t0);
    c.connect("c", true, t0);
    c.publish("$SYS/broker/version", "forged", p::QoS::at_least_once, t0, /*retain=*/true);
    auto acks = c.received_of<p::Puback>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].reason_code, version == p::Version::v5 ? p::ReasonCode::not_authorized : p::ReasonCode::success);
    c.drop(t0);
  }
  // Nor as a will.
  TestClient w(b, p::Version::v311, t0);
  w.connect("w", true, t0, {},
            p::Will{.topic = "$SYS/broker/uptime", .payload = "forged", .qos = p::QoS::at_least_once, .retain = true});
  w.drop(t0);
  EXPECT_TRUE(sys.received_of<p::Publish>().empty());
  EXPECT_EQ(b.stats().retained, 0u);
}

TEST(BrokerSys, WithoutRetainAvailableNotRetained) {
  BrokerOptions o = open_options();
  o.retain_available = false;
  Broker b(o);
  b.publish_sys(sample_at(t0), t0);
  EXPECT_EQ(b.stats().retained, 0u);
}

}  // namespace
}  // namespace tern::core::testing
