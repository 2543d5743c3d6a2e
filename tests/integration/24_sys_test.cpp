// $SYS/broker/...: the broker's own figures, with mosquitto's topic names and value formats, published every
// sys_interval seconds as retained messages. Runs against mosquitto too (TERN_TEST_BROKER=mosquitto); the differences
// are in README.md.
//
// Every wait is bounded (answer_timeout); what the tests count is what they did themselves (a count of at least N
// after N publishes), never a rate or a time.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/support/sys_topics.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

std::uint64_t number(const std::string& payload) {
  if (!std::regex_match(payload, std::regex("[0-9]+"))) throw HarnessError("not a count: '" + payload + "'");
  return std::stoull(payload);
}

// A client's view of $SYS: the latest value of each topic it has read. A value is published only when it changes,
// so a wait first looks at what was already read on the way to another topic.
class SysView {
 public:
  explicit SysView(RawClient& c) : c_(c) {}

  // Returns the value of `topic` once it satisfies `pred` (the latest one read, or a later one).
  std::string await(const std::string& topic, const std::function<bool(const std::string&)>& pred,
                    std::chrono::milliseconds timeout = answer_timeout) {
    if (auto it = latest_.find(topic); it != latest_.end() && pred(it->second)) return it->second;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        throw HarnessError(topic + " never satisfied the test; last value " +
                           (latest_.contains(topic) ? latest_[topic] : "(none)"));
      }
      RawClient::ReadResult r = c_.read(left);
      if (r.status == RawClient::ReadResult::Status::timeout) continue;
      if (r.status != RawClient::ReadResult::Status::packet) throw HarnessError("reading $SYS: " + describe(r));
      auto* p = std::get_if<Publish>(&r.packet);
      if (!p) continue;
      if (p->qos != QoS::at_most_once) c_.acknowledge(*p);
      latest_[p->topic] = p->payload;
      if (p->topic == topic && pred(p->payload)) return p->payload;
    }
  }

 private:
  RawClient& c_;
  std::map<std::string, std::string> latest_;
};

std::unique_ptr<RawClient> sys_subscriber(std::uint16_t port, const std::string& id,
                                          const std::string& filter = "$SYS/#") {
  auto c = std::make_unique<RawClient>(port, Version::v311);
  c->connect(id);
  c->subscribe(filter, QoS::at_most_once);
  return c;
}

// The topic set and each value's format, from the retained messages and the updates that follow. An update starts
// with the uptime, so the third uptime ends the second update, which was wholly published while this client was
// connected (clients/maximum counts it).
TEST(SysTopics, EveryTopicInMosquittosFormat) {
  BrokerProcess broker({"sys_interval 1"});
  auto c = sys_subscriber(broker.port(), "sys");
  std::map<std::string, std::string> seen;
  int uptimes = 0;
  // mosquitto updates every other second at sys_interval 1 (it waits for more than the interval).
  const auto deadline = std::chrono::steady_clock::now() + 3 * answer_timeout;
  while (uptimes < 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no third $SYS update";
    Publish p = c->receive();
    seen[p.topic] = p.payload;
    if (p.topic == "$SYS/broker/uptime") ++uptimes;
  }
  for (const std::string& topic : testsupport::sys_topics()) {
    SCOPED_TRACE(topic);
    ASSERT_TRUE(seen.contains(topic));
    const std::string& v = seen[topic];
    if (topic == "$SYS/broker/version") {
      EXPECT_TRUE(std::regex_match(
          v, std::regex(testing_mosquitto() ? "mosquitto version [0-9.]+" : "tern version [0-9]+\\.[0-9]+\\.[0-9]+")))
          << v;
    } else if (topic == "$SYS/broker/uptime") {
      EXPECT_TRUE(std::regex_match(v, std::regex("[0-9]+ seconds"))) << v;
    } else if (topic.starts_with("$SYS/broker/load/")) {
      EXPECT_TRUE(std::regex_match(v, std::regex("[0-9]+\\.[0-9][0-9]"))) << v;
    } else {
      EXPECT_TRUE(std::regex_match(v, std::regex("[0-9]+"))) << v;
    }
  }
  for (const auto& [topic, value] : seen) EXPECT_TRUE(topic.starts_with("$SYS/broker/")) << topic;
  // Aliases carry the same value.
  EXPECT_EQ(seen["$SYS/broker/clients/active"], seen["$SYS/broker/clients/connected"]);
  EXPECT_EQ(seen["$SYS/broker/clients/inactive"], seen["$SYS/broker/clients/disconnected"]);
  EXPECT_GE(number(seen["$SYS/broker/heap/maximum"]), number(seen["$SYS/broker/heap/current"]));
  EXPECT_GE(number(seen["$SYS/broker/clients/maximum"]), 1u);
}

// The counts reflect what the test did: N PUBLISHes received, their payload bytes, the clients connected.
TEST(SysTopics, CountsReflectWhatClientsDid) {
  BrokerProcess broker({"sys_interval 1"});
  RawClient idle(broker.port(), Version::v5);
  idle.connect("idle");
  RawClient pub(broker.port(), Version::v311);
  pub.connect("pub");
  constexpr int n = 20;
  for (int i = 0; i < n; ++i) pub.publish("sys-test/x", "0123456789", QoS::at_least_once);
  auto sys_client = sys_subscriber(broker.port(), "sys", "$SYS/broker/#");
  SysView sys(*sys_client);

  auto at_least = [](std::uint64_t want) { return [want](const std::string& v) { return number(v) >= want; }; };
  // Values are published only when they change, so each wait ends at the retained value or the next update.
  sys.await("$SYS/broker/publish/messages/received", at_least(n));
  sys.await("$SYS/broker/publish/bytes/received", at_least(10 * n));
  // Every packet type: CONNECT x3, PUBLISH x n, SUBSCRIBE.
  sys.await("$SYS/broker/messages/received", at_least(n + 4));
  // CONNACK x3, PUBACK x n, SUBACK.
  sys.await("$SYS/broker/messages/sent", at_least(n + 4));
  // Each PUBLISH is at least its 10 payload bytes, 10 topic bytes and 2 + 2 + 2 bytes of header and id.
  sys.await("$SYS/broker/bytes/received", at_least(26 * n));
  sys.await("$SYS/broker/bytes/sent", at_least(4 * n));
  sys.await("$SYS/broker/clients/connected", [](const std::string& v) { return number(v) == 3; });
  sys.await("$SYS/broker/subscriptions/count", at_least(1));

  // A client leaves: connected goes down to 2 at a later update.
  idle.disconnect();
  sys.await("$SYS/broker/clients/connected", [](const std::string& v) { return number(v) == 2; });
}

// A subscriber that comes after an update gets each topic's current value at once, as a retained message.
TEST(SysTopics, RetainedForALateSubscriber) {
  BrokerProcess broker({"sys_interval 1"});
  auto first = sys_subscriber(broker.port(), "first", "$SYS/broker/uptime");
  first->receive();  // an update has happened

  RawClient late(broker.port(), Version::v5);
  late.connect("late");
  late.subscribe("$SYS/broker/version", QoS::at_least_once);
  const Publish p = late.receive();
  EXPECT_EQ(p.topic, "$SYS/broker/version");
  EXPECT_TRUE(p.retain);
  EXPECT_TRUE(p.payload.starts_with(testing_mosquitto() ? "mosquitto version " : "tern version ")) << p.payload;
}

// "#" does not match $SYS [MQTT-4.7.2-1]; "$SYS/#" does.
TEST(SysTopics, HashDoesNotReceiveSys) {
  BrokerProcess broker({"sys_interval 1"});
  RawClient all(broker.port(), Version::v311);
  all.connect("all");
  all.subscribe("#", QoS::at_most_once);
  auto sys = sys_subscriber(broker.port(), "sys", "$SYS/broker/uptime");
  sys->receive();
  sys->receive();  // at least one whole update while "#" was subscribed
  all.expect_silence();
}

// sys_interval 0: nothing is published, so a subscriber finds no retained value and no update comes for longer than
// an interval of 1 would take.
TEST(SysTopics, IntervalZeroDisables) {
  BrokerProcess broker({"sys_interval 0"});
  auto sys = sys_subscriber(broker.port(), "sys");
  sys->expect_silence(1500ms);
}

// Clients may not publish to $SYS (mosquitto's rule, with or without an ACL): not routed, not retained; 5.0 is told
// why (0x87), 3.1.1 gets its normal acknowledgement. Nor does a will reach it.
TEST(SysTopics, ClientsCannotPublishThere) {
  BrokerProcess broker({"sys_interval 0"});
  auto watcher = sys_subscriber(broker.port(), "watcher", "$SYS/forged/#");
  for (const Version version : {Version::v311, Version::v5}) {
    RawClient c(broker.port(), version);
    c.connect("forger");
    protocol::Publish forged;
    forged.topic = "$SYS/forged/x";
    forged.payload = "forged";
    forged.qos = QoS::at_least_once;
    forged.retain = true;
    forged.packet_id = c.next_packet_id();
    c.send(forged);
    const auto ack = c.expect<protocol::Puback>();
    EXPECT_EQ(ack.reason_code, version == Version::v5 ? ReasonCode::not_authorized : ReasonCode::success);
    c.disconnect();
  }
  {
    RawClient w(broker.port(), Version::v311);
    protocol::Connect connect = RawClient::make_connect(Version::v311, "will");
    connect.will =
        protocol::Will{.topic = "$SYS/forged/will", .payload = "forged", .qos = QoS::at_least_once, .retain = true};
    w.connect(connect);
    w.close();  // no DISCONNECT: the will would be published
  }
  watcher->expect_silence();
  RawClient late(broker.port(), Version::v311);
  late.connect("late");
  late.subscribe("$SYS/forged/#", QoS::at_least_once);
  late.expect_silence();  // nothing was retained
}

// The one exception: a client may announce the state of its own connection, $SYS/broker/connection/CLIENT-ID/state,
// as bridges do (mosquitto's ACL example grants exactly that), and no other client's.
TEST(SysTopics, AClientMayAnnounceItsOwnConnectionStateOnly) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto 2.0 lets a client write any connection's state; Tern only its own";
  BrokerProcess broker({"sys_interval 0"});
  auto watcher = sys_subscriber(broker.port(), "watcher", "$SYS/broker/connection/#");
  RawClient gw(broker.port(), Version::v5);
  gw.connect("gw-7");
  gw.publish("$SYS/broker/connection/other/state", "0", QoS::at_most_once, true);
  gw.publish("$SYS/broker/connection/gw-7/state", "1", QoS::at_most_once, true);
  const auto state = watcher->receive();
  EXPECT_EQ(state.topic, "$SYS/broker/connection/gw-7/state");
  EXPECT_EQ(state.payload, "1");
  watcher->expect_silence();  // not the other client's
}

}  // namespace
}  // namespace tern::itest
