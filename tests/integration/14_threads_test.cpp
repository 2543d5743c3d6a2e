// Multi-threaded broker (`threads 2`): messages crossing shards arrive exactly once and in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

class ThreadsTest : public VersionedTest {};

constexpr int message_count = 2000;

// "" when equal; otherwise a short description of the first difference (a 2000-element diff helps nobody).
std::string first_difference(const std::vector<std::string>& got, const std::vector<std::string>& expected) {
  if (got == expected) return {};
  const auto [g, e] = std::mismatch(got.begin(), got.end(), expected.begin(), expected.end());
  std::string out = "received " + std::to_string(got.size()) + " of " + std::to_string(expected.size()) +
                    "; first difference at index " + std::to_string(g - got.begin()) + ": got ";
  out += g == got.end() ? "nothing" : "\"" + *g + "\"";
  out += ", expected ";
  out += e == expected.end() ? "nothing" : "\"" + *e + "\"";
  return out;
}

// One publisher sends 2000 numbered QoS 1 messages on one topic (pipelined in windows of 10); subscribers on other
// connections (a raw client, two Paho clients, one of them on a wildcard) each get every message exactly once and
// in order. Idle connections in between spread the clients over both shards. [MQTT-4.6.0-5] [MQTT-4.6.0-6]
// (ordering per topic at QoS 1)
TEST_P(ThreadsTest, OrderedExactlyOnceAcrossShards) {
  // No queue limit: a subscriber that falls more than max_queued_messages behind on a loaded machine would lose
  // messages by design; here every message must arrive.
  BrokerProcess broker({"threads 2", "max_queued_messages 0"});
  std::vector<std::unique_ptr<RawClient>> idle;
  auto add_idle = [&](int n) {
    for (int i = 0; i < n; ++i) {
      idle.push_back(std::make_unique<RawClient>(broker.port(), version()));
      idle.back()->connect("idle" + std::to_string(idle.size()));
    }
  };
  RawClient raw_sub(broker.port(), version());
  raw_sub.connect("raw-sub");
  raw_sub.subscribe("th/data", QoS::at_least_once);
  add_idle(1);
  PahoClient paho_sub(broker.port(), "paho-sub", version());
  paho_sub.connect();
  paho_sub.subscribe("th/data", 1);
  add_idle(1);
  PahoClient paho_wild(broker.port(), "paho-wild", version());
  paho_wild.connect();
  paho_wild.subscribe("th/#", 1);
  add_idle(1);
  RawClient pub(broker.port(), version());
  pub.connect("pub");

  constexpr int window = 10;
  std::vector<std::string> got_raw;
  got_raw.reserve(message_count);
  auto drain_raw = [&](std::chrono::milliseconds timeout) {
    while (true) {
      auto r = raw_sub.read(timeout);
      if (r.status != RawClient::ReadResult::Status::packet) return;
      auto* p = std::get_if<Publish>(&r.packet);
      if (p == nullptr) throw HarnessError("raw subscriber: unexpected " + describe(r.packet));
      got_raw.push_back(p->payload);
      raw_sub.acknowledge(*p);
      timeout = 0ms;
    }
  };
  for (int base = 0; base < message_count; base += window) {
    std::vector<std::uint16_t> ids;
    for (int i = base; i < base + window && i < message_count; ++i) {
      Publish p;
      p.topic = "th/data";
      p.payload = std::to_string(i);
      p.qos = QoS::at_least_once;
      p.packet_id = pub.next_packet_id();
      ids.push_back(p.packet_id);
      pub.send(p);
    }
    for (auto id : ids) {
      pub.await<protocol::Puback>([id](const protocol::Puback& a) { return a.packet_id == id; });
    }
    drain_raw(0ms);  // keep the raw subscriber's socket from filling up
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (got_raw.size() < static_cast<std::size_t>(message_count) && std::chrono::steady_clock::now() < deadline) {
    drain_raw(200ms);
  }
  std::vector<std::string> expected;
  for (int i = 0; i < message_count; ++i) expected.push_back(std::to_string(i));
  for (PahoClient* c : {&paho_sub, &paho_wild}) {
    if (c->received().wait_for(message_count, 20s)) continue;
    std::vector<std::string> got;
    for (const auto& m : c->received().messages()) got.push_back(m->get_payload_str());
    FAIL() << (c == &paho_sub ? "paho-sub: " : "paho-wild: ") << first_difference(got, expected);
  }
  EXPECT_EQ(first_difference(got_raw, expected), "") << "raw-sub";
  for (PahoClient* c : {&paho_sub, &paho_wild}) {
    std::vector<std::string> got;
    for (const auto& m : c->received().messages()) got.push_back(m->get_payload_str());
    EXPECT_EQ(first_difference(got, expected), "") << (c == &paho_sub ? "paho-sub" : "paho-wild");
  }
  raw_sub.expect_silence();
  for (auto& c : idle) c->ping();
}

// Many publishers on separate connections, one subscriber: every publisher's messages arrive, each publisher's in
// its own order.
TEST_P(ThreadsTest, ManyPublishersPerPublisherOrder) {
  BrokerProcess broker({"threads 2", "max_queued_messages 0"});
  PahoClient sub(broker.port(), "sub", version());
  sub.connect();
  sub.subscribe("mp/#", 1);
  constexpr int publishers = 6;
  constexpr int per_publisher = 100;
  std::vector<std::unique_ptr<RawClient>> pubs;
  for (int i = 0; i < publishers; ++i) {
    pubs.push_back(std::make_unique<RawClient>(broker.port(), version()));
    pubs.back()->connect("pub" + std::to_string(i));
  }
  for (int n = 0; n < per_publisher; ++n) {
    for (int i = 0; i < publishers; ++i) {
      pubs[static_cast<std::size_t>(i)]->publish("mp/" + std::to_string(i), std::to_string(n), QoS::at_least_once);
    }
  }
  ASSERT_TRUE(sub.received().wait_for(publishers * per_publisher, 20s)) << sub.received().size();
  std::vector<std::vector<std::string>> by_publisher(publishers);
  for (const auto& m : sub.received().messages()) {
    const int i = std::stoi(m->get_topic().substr(3));
    by_publisher.at(static_cast<std::size_t>(i)).push_back(m->get_payload_str());
  }
  std::vector<std::string> expected;
  for (int n = 0; n < per_publisher; ++n) expected.push_back(std::to_string(n));
  for (int i = 0; i < publishers; ++i) EXPECT_EQ(by_publisher[static_cast<std::size_t>(i)], expected) << "pub" << i;
  EXPECT_EQ(sub.received().size(), static_cast<std::size_t>(publishers * per_publisher));
}

TERN_INSTANTIATE_VERSIONS(ThreadsTest);

}  // namespace
}  // namespace tern::itest
