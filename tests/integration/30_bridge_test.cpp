// Tern bridging to an upstream broker (issue 21): `connection` sections against Debian's mosquitto and against a
// second Tern as the upstream, 3.1.1 and 5.0 bridge protocols: out, in and both topics with prefixes, no echo, and
// store-and-forward: what is published while the upstream is down (and the gateway killed with SIGKILL meanwhile)
// arrives upstream once it is back. With TERN_TEST_BROKER=mosquitto the edge is mosquitto's own bridge, which checks
// the tests themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/persistence_support.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

using durability::persistence_config;
using durability::StoreDir;

std::vector<std::string> bridge_lines(std::uint16_t upstream, const std::string& version) {
  return {"connection up",
          "address 127.0.0.1:" + std::to_string(upstream),
          "bridge_protocol_version " + version,
          "remote_clientid gateway-7",
          "topic out/# out 1",
          "topic in/# in 1",
          "topic both/# both 1",
          "topic # out 1 sensors/ site7/sensors/",
          "topic # in 1 commands/ site7/commands/",
          "restart_timeout 1",
          "keepalive_interval 5"};
}

// Until a message published upstream on in/probe reaches a subscriber at the edge: the bridge is up.
void wait_for_bridge(const BrokerProcess& upstream, const BrokerProcess& edge) {
  Subscriber probe(edge.port(), Version::v311, "probe", "in/probe", QoS::at_least_once);
  const bool up = wait_until(
      [&] {
        publish_once(upstream.port(), Version::v311, "in/probe", "ping", QoS::at_least_once);
        return probe.read(200ms).status == RawClient::ReadResult::Status::packet;
      },
      20s);
  if (!up) throw HarnessError("the bridge never came up\n" + edge.log());
}

using Kind = BrokerProcess::Kind;

class TernBridge : public ::testing::TestWithParam<std::tuple<Kind, std::string>> {
 protected:
  Kind upstream_kind() const { return std::get<0>(GetParam()); }
  const std::string& version() const { return std::get<1>(GetParam()); }
};

TEST_P(TernBridge, ForwardsOutInAndBothWithPrefixesAndNoEcho) {
  BrokerProcess upstream({}, upstream_kind());
  BrokerProcess edge(bridge_lines(upstream.port(), version()));
  wait_for_bridge(upstream, edge);
  Subscriber at_upstream(upstream.port(), Version::v311, "at-upstream", "#", QoS::at_least_once);
  Subscriber at_edge(edge.port(), Version::v311, "at-edge", "#", QoS::at_least_once);

  publish_once(edge.port(), Version::v311, "out/a", "up at qos 1");
  auto p = at_upstream.receive();
  EXPECT_EQ(p.topic, "out/a");
  EXPECT_EQ(p.payload, "up at qos 1");
  EXPECT_EQ(at_edge.receive().topic, "out/a");

  publish_once(upstream.port(), Version::v311, "in/b", "down at qos 1");
  EXPECT_EQ(at_edge.receive().payload, "down at qos 1");
  EXPECT_EQ(at_upstream.receive().topic, "in/b");

  // Prefixes: sensors/X here is site7/sensors/X upstream; site7/commands/Y upstream is commands/Y here.
  publish_once(edge.port(), Version::v311, "sensors/t1", "21.5");
  p = at_upstream.receive();
  EXPECT_EQ(p.topic, "site7/sensors/t1");
  EXPECT_EQ(p.payload, "21.5");
  EXPECT_EQ(at_edge.receive().topic, "sensors/t1");
  publish_once(upstream.port(), Version::v311, "site7/commands/valve", "open");
  p = at_edge.receive();
  EXPECT_EQ(p.topic, "commands/valve");
  EXPECT_EQ(p.payload, "open");
  EXPECT_EQ(at_upstream.receive().topic, "site7/commands/valve");

  // both: each side's message reaches the other once and never comes back.
  expect_both_ways_once(edge.port(), upstream.port(), at_edge, at_upstream);
  // Not configured either way: stays where it was published.
  publish_once(edge.port(), Version::v311, "private/x", "stays");
  EXPECT_EQ(at_edge.receive().topic, "private/x");
  at_upstream.expect_silence(1s);
  at_edge.expect_silence(500ms);
}

// A 5.0 message's properties cross a 5.0 bridge as the publisher set them (the edge passes the broker's bytes on:
// bridge.hpp), the message expiry counting down; a 3.1.1 bridge carries the message without them.
TEST_P(TernBridge, MessagePropertiesCrossA50Bridge) {
  BrokerProcess upstream({}, upstream_kind());
  BrokerProcess edge(bridge_lines(upstream.port(), version()));
  wait_for_bridge(upstream, edge);
  Subscriber at_upstream(upstream.port(), Version::v5, "at-upstream-v5", "site7/sensors/#", QoS::at_least_once);

  Properties props;
  props.payload_format_indicator = 1;
  props.content_type = "application/json";
  props.response_topic = "replies/t1";
  props.correlation_data = std::string("\x00\x01\x02", 3);
  props.message_expiry_interval = 3600;
  props.user_properties = {{"site", "7"}, {"unit", "C"}};
  RawClient publisher(edge.port(), Version::v5);
  publisher.connect("props-publisher");
  publisher.publish("sensors/t1", R"({"t":21.5})", QoS::at_least_once, false, props);

  const auto p = at_upstream.receive();
  EXPECT_EQ(p.topic, "site7/sensors/t1");
  EXPECT_EQ(p.payload, R"({"t":21.5})");
  if (version() == "mqttv50") {
    EXPECT_EQ(p.properties.payload_format_indicator, std::optional<std::uint8_t>(1));
    EXPECT_EQ(p.properties.content_type, "application/json");
    EXPECT_EQ(p.properties.response_topic, "replies/t1");
    EXPECT_EQ(p.properties.correlation_data, std::string("\x00\x01\x02", 3));
    ASSERT_TRUE(p.properties.message_expiry_interval.has_value());
    EXPECT_LE(*p.properties.message_expiry_interval, 3600u);
    EXPECT_GE(*p.properties.message_expiry_interval, 3500u);
    EXPECT_EQ(p.properties.user_properties,
              (std::vector<std::pair<std::string, std::string>>{{"site", "7"}, {"unit", "C"}}));
  } else {
    EXPECT_FALSE(p.properties.content_type);
    EXPECT_TRUE(p.properties.user_properties.empty());
    EXPECT_FALSE(p.properties.message_expiry_interval);
  }
  EXPECT_FALSE(p.properties.topic_alias);
}

TEST_P(TernBridge, TheStateIsPublishedRetainedOnBothSides) {
  BrokerProcess upstream({}, upstream_kind());
  BrokerProcess edge(bridge_lines(upstream.port(), version()));
  wait_for_bridge(upstream, edge);
  const std::string topic = "$SYS/broker/connection/gateway-7/state";
  auto state_at = [&](std::uint16_t port) {
    Subscriber s(port, Version::v311, "state-reader", topic, QoS::at_least_once);
    const auto p = s.receive();
    EXPECT_TRUE(p.retain);
    return p.payload;
  };
  EXPECT_EQ(state_at(edge.port()), "1");
  EXPECT_EQ(state_at(upstream.port()), "1");
  edge.kill();  // the upstream publishes the bridge's will
  EXPECT_TRUE(wait_until([&] { return state_at(upstream.port()) == "0"; }, 10s));
}

INSTANTIATE_TEST_SUITE_P(Upstreams, TernBridge,
                         ::testing::Combine(::testing::Values(Kind::tern, Kind::mosquitto),
                                            ::testing::Values(std::string("mqttv311"), std::string("mqttv50"))),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == Kind::tern ? "tern" : "mosquitto") + "_" +
                                  std::get<1>(info.param);
                         });

// Store-and-forward: the upstream goes away, QoS 1 and 2 messages are published at the edge and acknowledged there,
// the edge is killed with SIGKILL and restarted, the upstream comes back: every message arrives upstream, in order.
TEST(TernBridgeOutage, NothingAcknowledgedIsLostWhileTheUpstreamIsDown) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto's bridge keeps its queue in memory: a SIGKILL loses it";
  StoreDir upstream_store, edge_store;
  const std::uint16_t fixed = pick_free_port();  // the upstream comes back on the same port
  BrokerProcess upstream(persistence_config(upstream_store, {"listener " + std::to_string(fixed) + " 127.0.0.1"}),
                         Kind::tern);
  auto edge_config = persistence_config(edge_store, bridge_lines(fixed, "mqttv311"));
  edge_config.push_back("max_queued_messages 0");
  BrokerProcess edge(edge_config);
  wait_for_bridge(upstream, edge);
  {
    RawClient sink(upstream.port(), Version::v311);
    sink.connect("sink", false);  // a persistent session upstream collects what comes
    sink.subscribe("out/#", QoS::exactly_once);
    sink.close();
  }

  upstream.stop();
  constexpr int qos1 = 400, qos2 = 50;
  {
    RawClient publisher(edge.port(), Version::v311);
    publisher.connect("publisher");
    for (int i = 0; i < qos1; ++i) publisher.publish("out/q1", std::to_string(i), QoS::at_least_once);
    for (int i = 0; i < qos2; ++i) publisher.publish("out/q2", std::to_string(i), QoS::exactly_once);
    publisher.disconnect();
  }
  edge.kill();
  edge.restart();
  upstream.restart();

  RawClient sink(upstream.port(), Version::v311);
  sink.connect("sink", false);
  std::vector<int> got1, got2;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((got1.size() < qos1 || got2.size() < qos2) && std::chrono::steady_clock::now() < deadline) {
    auto r = sink.read(5s);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    auto* publish = std::get_if<protocol::Publish>(&r.packet);
    if (publish == nullptr) continue;
    sink.acknowledge(*publish);
    (publish->topic == "out/q1" ? got1 : got2).push_back(std::stoi(publish->payload));
  }
  // QoS 2 exactly once and in order; QoS 1 at least once, each first copy in order.
  std::vector<int> want2(qos2);
  for (int i = 0; i < qos2; ++i) want2[i] = i;
  EXPECT_EQ(got2, want2) << edge.log();
  std::vector<int> first1;
  std::set<int> seen;
  for (int v : got1) {
    if (seen.insert(v).second) first1.push_back(v);
  }
  std::vector<int> want1(qos1);
  for (int i = 0; i < qos1; ++i) want1[i] = i;
  EXPECT_EQ(first1, want1) << edge.log();
}

// The TLS uplink: the upstream (Tern) requires a client certificate and takes its CN as the username; the bridge
// verifies the upstream's certificate and that it names the host (localhost), and gives its own. An upstream whose
// certificate comes from another CA is refused by the bridge, logged, and tried again.
TEST(TernBridgeTls, ClientCertificateUplink) {
  const auto cert = [](const std::string& name) { return (test_certs() / name).string(); };
  BrokerProcess upstream({"listener 0 127.0.0.1", "certfile " + cert("server.crt"), "keyfile " + cert("server.key"),
                          "cafile " + cert("ca.crt"), "require_certificate true", "use_identity_as_username true"},
                         Kind::tern);
  const auto ports = upstream.ports();
  ASSERT_EQ(ports.size(), 2u) << upstream.log();
  auto tls_bridge = [&](const std::string& cafile) {
    auto lines = bridge_lines(ports[1], "mqttv311");
    lines[1] = "address localhost:" + std::to_string(ports[1]);
    lines.insert(lines.end(), {"bridge_cafile " + cafile, "bridge_certfile " + cert("client.crt"),
                               "bridge_keyfile " + cert("client.key")});
    return lines;
  };
  {
    BrokerProcess edge(tls_bridge(cert("ca.crt")));
    wait_for_bridge(upstream, edge);
    Subscriber at_upstream(upstream.port(), Version::v311, "at-upstream", "out/#", QoS::at_least_once);
    publish_once(edge.port(), Version::v311, "out/secure", "over TLS");
    EXPECT_EQ(at_upstream.receive().payload, "over TLS");
    EXPECT_NE(upstream.log().find("as gateway-7 (p2, c0, k5, u'tls-user')"), std::string::npos) << upstream.log();
  }
  if (!testing_mosquitto()) {  // mosquitto's capath (OpenSSL) wants c_rehash'd file names; Tern reads every file
    // The CA from a folder (bridge_capath), and ALPN offered (an upstream without ALPN ignores it).
    testsupport::TempDir folder{"tern-capath"};
    std::filesystem::copy_file(cert("ca.crt"), folder.path() / "ca.pem");
    auto lines = tls_bridge(cert("ca.crt"));
    lines.back() = "bridge_keyfile " + cert("client.key");
    lines.erase(std::find(lines.begin(), lines.end(), "bridge_cafile " + cert("ca.crt")));
    lines.insert(lines.end(), {"bridge_capath " + folder.path().string(), "bridge_alpn mqtt"});
    BrokerProcess edge(lines);
    wait_for_bridge(upstream, edge);
  }
  // The upstream's certificate is not from this CA: no link, a line that says why.
  BrokerProcess edge(tls_bridge(cert("wrongca.crt")));
  ASSERT_TRUE(wait_until(
      [&] {
        return edge.log().find("TLS handshake failed") != std::string::npos ||
               edge.log().find("certificate verify failed") != std::string::npos;
      },
      10s))
      << edge.log();
}

// bridge_bind_address (the link leaves from 127.0.0.2), bridge_max_packet_size (a larger message is not forwarded,
// a line says so) and start_type once (no new attempt after the link ended), against a Tern upstream.
TEST(TernBridgeOptions, BindAddressMaxPacketSizeAndOnce) {
  if (testing_mosquitto()) GTEST_SKIP() << "checks Tern's log lines";
  const std::uint16_t fixed = pick_free_port();
  BrokerProcess upstream({"listener " + std::to_string(fixed) + " 127.0.0.1"}, Kind::tern);
  auto lines = bridge_lines(fixed, "mqttv311");
  lines.insert(lines.end(), {"bridge_bind_address 127.0.0.2", "bridge_max_packet_size 1000", "start_type once"});
  BrokerProcess edge(lines);
  wait_for_bridge(upstream, edge);
  EXPECT_NE(upstream.log().find("as gateway-7"), std::string::npos);
  EXPECT_NE(upstream.log().find("from 127.0.0.2:"), std::string::npos) << upstream.log();

  Subscriber at_upstream(upstream.port(), Version::v311, "at-upstream", "out/#", QoS::at_least_once);
  publish_once(edge.port(), Version::v311, "out/big", std::string(2000, 'x'));
  publish_once(edge.port(), Version::v311, "out/small", "fits");
  EXPECT_EQ(at_upstream.receive().topic, "out/small");
  at_upstream.expect_silence();
  EXPECT_NE(edge.log().find("over bridge_max_packet_size (1000 bytes) was not forwarded"), std::string::npos);

  upstream.restart();  // the link ends, and start_type once does not try again
  EXPECT_TRUE(
      wait_until([&] { return edge.log().find("start_type once: not connecting again") != std::string::npos; }, 10s))
      << edge.log();
  EXPECT_EQ(edge.log_count("connecting to 127.0.0.1:"), 1u);
}

// An upstream that refuses the bridge (here: no anonymous clients, and the bridge gives no credentials): each refusal
// is logged with the upstream's answer and tried again after restart_timeout, and what is published meanwhile
// stays in the bridge's queue (the backlog grows; nothing is acknowledged upstream or dropped).
TEST(TernBridgeRefused, RefusalsAreLoggedAndRetried) {
  if (testing_mosquitto()) GTEST_SKIP() << "checks Tern's log lines";
  const std::uint16_t fixed = pick_free_port();
  BrokerProcess upstream({"listener " + std::to_string(fixed) + " 127.0.0.1", "allow_anonymous false"}, Kind::tern);
  auto lines = bridge_lines(fixed, "mqttv311");
  lines.push_back("http_listener 0 127.0.0.1");
  BrokerProcess edge(lines);
  ASSERT_TRUE(
      wait_until([&] { return edge.log_count("the upstream refused the connection: return code 5") >= 2; }, 15s))
      << edge.log();
  EXPECT_NE(edge.log().find("next attempt in"), std::string::npos);
  publish_once(edge.port(), Version::v311, "out/waiting", "kept", QoS::at_least_once);
  const std::uint16_t http = http_port(edge);
  const auto all = samples(body_of(get(http, "/metrics")));
  EXPECT_EQ(all.at("tern_bridge_up{bridge=\"up\"}"), 0);
  EXPECT_EQ(all.at("tern_bridge_backlog_messages{bridge=\"up\"}"), 1);
}

// What an operator sees: tern_bridge_up and tern_bridge_backlog_messages on /metrics follow the link and the queue,
// and the log gives the backlog at each connection.
TEST(TernBridgeMetrics, StateAndBacklog) {
  if (testing_mosquitto()) GTEST_SKIP() << "http_listener is Tern's own";
  const std::uint16_t fixed = pick_free_port();
  BrokerProcess upstream({"listener " + std::to_string(fixed) + " 127.0.0.1"}, Kind::tern);
  auto config = bridge_lines(fixed, "mqttv311");
  config.push_back("http_listener 0 127.0.0.1");
  BrokerProcess edge(config);
  wait_for_bridge(upstream, edge);
  const std::uint16_t http = http_port(edge);
  auto metric = [&](const std::string& name) {
    const auto all = samples(body_of(get(http, "/metrics")));
    const auto it = all.find(name + "{bridge=\"up\"}");
    return it == all.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(metric("tern_bridge_up"), 1);
  EXPECT_EQ(metric("tern_bridge_backlog_messages"), 0);

  upstream.stop();
  ASSERT_TRUE(wait_until([&] { return metric("tern_bridge_up") == 0; }, 10s)) << edge.log();
  RawClient publisher(edge.port(), Version::v311);
  publisher.connect("publisher");
  for (int i = 0; i < 5; ++i) publisher.publish("out/m", std::to_string(i), QoS::at_least_once);
  EXPECT_EQ(metric("tern_bridge_backlog_messages"), 5);

  upstream.restart();
  ASSERT_TRUE(
      wait_until([&] { return metric("tern_bridge_up") == 1 && metric("tern_bridge_backlog_messages") == 0; }, 20s))
      << edge.log();
  EXPECT_NE(edge.log().find("; backlog 5 messages."), std::string::npos) << edge.log();
}

}  // namespace
}  // namespace tern::itest
