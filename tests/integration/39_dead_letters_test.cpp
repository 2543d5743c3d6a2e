// Dead letters (issue 24): with dead_letter_topic, each kind of QoS 1/2 drop produced for real over sockets arrives
// on PREFIX/<reason>/<original topic> with the original payload and, for 5.0, user properties naming the reason, the
// client and the time; dead_letter_rate bounds them.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

std::string user_property(const protocol::Publish& m, const std::string& key) {
  for (const auto& [k, v] : m.properties.user_properties)
    if (k == key) return v;
  return "(none)";
}

// A 5.0 client subscribed to dead/#.
struct Watcher {
  explicit Watcher(std::uint16_t port) : client(port, Version::v5) {
    client.connect("watcher");
    client.subscribe("dead/#", QoS::at_least_once);
  }
  protocol::Publish next() { return client.receive(10s); }
  RawClient client;
};

// A persistent 5.0 session "offline" subscribed to `topic` at QoS 1, disconnected.
void offline_subscriber(std::uint16_t port, const std::string& topic) {
  RawClient c(port, Version::v5);
  Properties expiry;
  expiry.session_expiry_interval = 3600;
  c.connect("offline", true, 60, expiry);
  c.subscribe(topic, QoS::at_least_once);
  c.disconnect();
}

void reconnect_offline(std::uint16_t port) {
  RawClient c(port, Version::v5);
  Properties expiry;
  expiry.session_expiry_interval = 3600;
  c.connect("offline", false, 60, expiry);
  c.expect_silence(200ms);
}

TEST(DeadLetters, QueueFull) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic is Tern's own";
  BrokerProcess broker({"dead_letter_topic dead", "max_queued_messages 2"});
  offline_subscriber(broker.port(), "t/#");
  Watcher watcher(broker.port());
  RawClient publisher(broker.port(), Version::v311);
  publisher.connect("publisher");
  for (const char* payload : {"one", "two", "three"}) publisher.publish("t/a", payload, QoS::at_least_once);
  const protocol::Publish letter = watcher.next();
  EXPECT_EQ(letter.topic, "dead/queue_full/t/a");
  EXPECT_EQ(letter.payload, "three");
  EXPECT_EQ(letter.qos, QoS::at_least_once);
  EXPECT_EQ(user_property(letter, "reason"), "queue_full");
  EXPECT_EQ(user_property(letter, "client_id"), "offline");
  EXPECT_EQ(user_property(letter, "time").size(), std::string("2026-12-06T21:41:09.000Z").size());
}

TEST(DeadLetters, ExpiredWhileQueued) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic is Tern's own";
  BrokerProcess broker({"dead_letter_topic dead"});
  offline_subscriber(broker.port(), "t");
  Watcher watcher(broker.port());
  RawClient publisher(broker.port(), Version::v5);
  publisher.connect("publisher");
  Properties expiry;
  expiry.message_expiry_interval = 1;
  publisher.publish("t", "short-lived", QoS::at_least_once, false, expiry);
  std::this_thread::sleep_for(2100ms);  // the message's expiry interval passing is what is tested
  reconnect_offline(broker.port());
  const protocol::Publish letter = watcher.next();
  EXPECT_EQ(letter.topic, "dead/expired/t");
  EXPECT_EQ(letter.payload, "short-lived");
}

TEST(DeadLetters, TooLargeForTheClient) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic is Tern's own";
  BrokerProcess broker({"dead_letter_topic dead"});
  Watcher watcher(broker.port());
  RawClient small(broker.port(), Version::v5);
  Properties limit;
  limit.maximum_packet_size = 100;
  small.connect("small", true, 60, limit);
  small.subscribe("big", QoS::at_least_once);
  RawClient publisher(broker.port(), Version::v311);
  publisher.connect("publisher");
  publisher.publish("big", std::string(500, 'x'), QoS::at_least_once);
  const protocol::Publish letter = watcher.next();
  EXPECT_EQ(letter.topic, "dead/too_large/big");
  EXPECT_EQ(letter.payload, std::string(500, 'x'));
  EXPECT_EQ(user_property(letter, "client_id"), "small");
  small.expect_silence(200ms);
}

// A message queued for a session whose right to read its topic an ACL reload took away.
TEST(DeadLetters, NoLongerAuthorizedAfterAReload) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic is Tern's own";
  testsupport::TempDir dir{"tern-dead-acl"};
  const auto acl = dir.path() / "acl";
  std::ofstream(acl) << "topic readwrite #\n";
  BrokerProcess broker({"dead_letter_topic dead", "acl_file " + acl.string()});
  offline_subscriber(broker.port(), "t");
  Watcher watcher(broker.port());
  RawClient publisher(broker.port(), Version::v311);
  publisher.connect("publisher");
  publisher.publish("t", "queued", QoS::at_least_once);
  {
    std::ofstream(dir.path() / "acl.tmp") << "topic write t\ntopic readwrite dead/#\n";
    std::filesystem::rename(dir.path() / "acl.tmp", acl);
  }
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log_count("password and ACL files reloaded") == 1; })) << broker.log();
  reconnect_offline(broker.port());
  const protocol::Publish letter = watcher.next();
  EXPECT_EQ(letter.topic, "dead/not_authorized/t");
  EXPECT_EQ(letter.payload, "queued");
  EXPECT_EQ(user_property(letter, "client_id"), "offline");
}

// A bridge whose upstream is down and whose backlog is full: the refused QoS 1 PUBLISH becomes a dead letter.
TEST(DeadLetters, BridgeBacklogFull) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic and bridge_queue_max_bytes are Tern's own";
  const std::uint16_t nowhere = pick_free_port();  // nothing listens there
  BrokerProcess edge({"dead_letter_topic dead", "connection up", "address 127.0.0.1:" + std::to_string(nowhere),
                      "topic out/# out 1", "restart_timeout 1", "bridge_queue_max_bytes 1000"});
  Watcher watcher(edge.port());
  RawClient publisher(edge.port(), Version::v5);
  publisher.connect("publisher");
  ReasonCode last = ReasonCode::success;
  for (int i = 0; i < 40 && last == ReasonCode::success; ++i) {
    publisher.send(protocol::Publish{.topic = "out/m",
                                     .payload = std::to_string(i) + std::string(95, ' '),
                                     .qos = QoS::at_least_once,
                                     .packet_id = 1});
    last = publisher.expect<protocol::Puback>().reason_code;
  }
  ASSERT_EQ(last, ReasonCode::quota_exceeded);
  const protocol::Publish letter = watcher.next();
  EXPECT_EQ(letter.topic, "dead/bridge_backlog_full/out/m");
  EXPECT_EQ(user_property(letter, "reason"), "bridge_backlog_full");
}

// dead_letter_rate 5: a thousand drops in a burst make at most the bucket's five plus what the seconds the burst
// took refill, far fewer than a thousand; each one still arrives whole. /metrics counts the letters sent and the drops
// the rate kept from becoming one.
TEST(DeadLetters, TheRateLimitHolds) {
  if (testing_mosquitto()) GTEST_SKIP() << "dead_letter_topic is Tern's own";
  BrokerProcess broker(
      {"dead_letter_topic dead", "dead_letter_rate 5", "max_queued_messages 1", "http_listener 0 127.0.0.1"});
  offline_subscriber(broker.port(), "t");
  Watcher watcher(broker.port());
  RawClient publisher(broker.port(), Version::v311);
  publisher.connect("publisher");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1001; ++i) {
    publisher.send(protocol::Publish{.topic = "t", .payload = "x", .qos = QoS::at_least_once, .packet_id = 1});
    publisher.expect<protocol::Puback>();
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int letters = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = watcher.client.read(500ms);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
      EXPECT_EQ(p->topic, "dead/queue_full/t");
      watcher.client.acknowledge(*p);
      ++letters;
    }
  }
  EXPECT_GE(letters, 5);
  EXPECT_LE(letters, 5 + 5 * (static_cast<int>(seconds) + 2)) << "over " << seconds << " s";
  const auto m = samples(body_of(get(http_port(broker), "/metrics")));
  EXPECT_EQ(m.at("tern_dead_letters_total"), letters);
  EXPECT_EQ(m.at("tern_dead_letters_suppressed_total"), 1000 - letters);  // 1,001 published, one queued
}

}  // namespace
}  // namespace tern::itest
