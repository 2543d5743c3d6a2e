// Other brokers bridging into Tern (issue 21, "Tern as the upstream"): Debian's mosquitto with its bridge defaults
// (try_private true: it connects with protocol level 0x84) forwards `out`, `in` and `both` topics, gets no echo of
// what it forwarded, and retained messages keep their flag both ways. With TERN_TEST_BROKER=mosquitto the upstream is
// mosquitto too, which checks the test itself.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

std::vector<std::string> bridge_config(std::uint16_t upstream, const std::string& version) {
  return {"connection upstream",
          "address 127.0.0.1:" + std::to_string(upstream),
          "remote_clientid edge-bridge",
          "bridge_protocol_version " + version,
          "topic up/# out 1",
          "topic down/# in 1",
          "topic both/# both 1",
          "restart_timeout 1"};
}

class BridgeIntoTern : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    upstream_.emplace();
    edge_.emplace(bridge_config(upstream_->port(), GetParam()), BrokerProcess::Kind::mosquitto);
    // The bridge is up once the upstream has seen its subscriptions: a message published upstream then reaches a
    // subscriber on the edge.
    Subscriber probe(edge_->port(), Version::v311, "probe", "down/probe", QoS::at_least_once);
    ASSERT_TRUE(wait_until(
        [&] {
          publish_once(upstream_->port(), Version::v311, "down/probe", "ping", QoS::at_least_once);
          return probe.read(200ms).status == RawClient::ReadResult::Status::packet;
        },
        20s))
        << "the bridge never came up\n"
        << edge_->log();
  }
  std::optional<BrokerProcess> upstream_;  // Tern (mosquitto with TERN_TEST_BROKER=mosquitto)
  std::optional<BrokerProcess> edge_;      // mosquitto, bridging into it
};

TEST_P(BridgeIntoTern, ForwardsBothWaysWithoutEcho) {
  if (GetParam() == "mqttv311" && !testing_mosquitto()) {
    EXPECT_NE(upstream_->log().find("is a bridge:"), std::string::npos) << upstream_->log();
  }
  Subscriber at_upstream(upstream_->port(), Version::v311, "at-upstream", "#", QoS::at_least_once);
  Subscriber at_edge(edge_->port(), Version::v311, "at-edge", "#", QoS::at_least_once);

  publish_once(edge_->port(), Version::v311, "up/1", "edge to upstream");
  EXPECT_EQ(at_upstream.receive().payload, "edge to upstream");
  EXPECT_EQ(at_edge.receive().topic, "up/1");  // its own broker's subscriber, once

  publish_once(upstream_->port(), Version::v311, "down/1", "upstream to edge");
  EXPECT_EQ(at_edge.receive().payload, "upstream to edge");
  EXPECT_EQ(at_upstream.receive().topic, "down/1");

  // `both`: each side's message reaches the other side once, and is not sent back to the side it came from.
  expect_both_ways_once(edge_->port(), upstream_->port(), at_edge, at_upstream);
  at_upstream.expect_silence(1s);  // an echo would arrive here as a second copy
  at_edge.expect_silence(1s);
}

TEST_P(BridgeIntoTern, RetainedMessagesKeepTheirFlag) {
  // Not published with retain: forwarded without it, so nothing is retained on the other side.
  publish_once(upstream_->port(), Version::v311, "down/plain", "p", QoS::at_least_once);
  RawClient pub_edge(edge_->port(), Version::v311);
  pub_edge.connect("pub-edge");
  pub_edge.publish("both/retained-edge", "r1", QoS::at_least_once, true);
  RawClient pub_upstream(upstream_->port(), Version::v311);
  pub_upstream.connect("pub-upstream");
  pub_upstream.publish("down/retained-upstream", "r2", QoS::at_least_once, true);

  // A subscriber that comes later on the other side gets each as a retained message: the flag crossed the bridge.
  auto retained_at = [](std::uint16_t port, const std::string& topic) -> std::optional<std::string> {
    Subscriber late(port, Version::v311, "late", topic, QoS::at_least_once);
    auto r = late.read(1s);
    if (r.status != RawClient::ReadResult::Status::packet) return std::nullopt;
    const auto& p = std::get<protocol::Publish>(r.packet);
    return p.retain ? std::optional<std::string>(p.payload) : std::nullopt;
  };
  std::optional<std::string> at_upstream, at_edge;
  ASSERT_TRUE(wait_until(
      [&] { return (at_upstream = retained_at(upstream_->port(), "both/retained-edge")).has_value(); }, 10s));
  EXPECT_EQ(*at_upstream, "r1");
  ASSERT_TRUE(
      wait_until([&] { return (at_edge = retained_at(edge_->port(), "down/retained-upstream")).has_value(); }, 10s));
  EXPECT_EQ(*at_edge, "r2");
  EXPECT_FALSE(retained_at(edge_->port(), "down/plain").has_value());
}

INSTANTIATE_TEST_SUITE_P(Protocols, BridgeIntoTern, ::testing::Values("mqttv311", "mqttv50"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tern::itest
