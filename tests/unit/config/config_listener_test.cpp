// The listener directives: `listener` sections and what applies to the latest one (mosquitto's per-listener
// settings), protocols, accepted versions and the limits on a listener's connections.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "broker/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using ::testing::HasSubstr;

Config parse(const std::string& text) { return parse_config(text, "tern.conf"); }

std::string error_of(const std::string& text) { return testing::config_error_of(text); }
void expect_error(const std::string& text, int line, const std::string& what) {
  testing::expect_config_error(text, line, what);
}

TEST(ConfigListener, PortAndAddress) {
  const auto c = parse(
      "listener 1883\n"
      "listener 8883 192.168.1.10\n"
      "listener 0 ::1\n"
      "listener 0\n"
      "listener 65535 broker.local\n");
  ASSERT_EQ(c.listeners.size(), 5u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_EQ(c.listeners[1].port, 8883);
  EXPECT_EQ(c.listeners[1].bind_address, "192.168.1.10");
  EXPECT_EQ(c.listeners[2].port, 0);
  EXPECT_EQ(c.listeners[2].bind_address, "::1");
  EXPECT_EQ(c.listeners[3].port, 0);
  EXPECT_EQ(c.listeners[4].port, 65535);
  EXPECT_EQ(c.listeners[4].bind_address, "broker.local");
}

TEST(ConfigListener, BadListener) {
  expect_error("listener 65536\n", 1, "listener: expected an integer from 0 to 65535, got '65536'");
  expect_error("listener -1\n", 1, "got '-1'");
  expect_error("listener mqtt\n", 1, "got 'mqtt'");
  expect_error("listener 1883\nlistener 1883\n", 2, "listener: a listener on port 1883 is already defined");
  expect_error("listener 1883 10.0.0.1\nlistener 1883 10.0.0.1\n", 2, "port 1883 at 10.0.0.1 is already defined");
  expect_error("listener 1883 /run/tern.sock\n", 1, "listener: unix sockets are not supported yet");
  EXPECT_EQ(parse("listener 1883 10.0.0.1\nlistener 1883 10.0.0.2\n").listeners.size(), 2u);
}

TEST(ConfigListener, SectionsApplyToTheLatestListener) {
  const auto c = parse(
      "listener 1883\n"
      "max_connections 100\n"
      "socket_domain ipv4\n"
      "max_keepalive 30\n"  // a global directive inside a section is still global
      "listener 1884 127.0.0.1\n"
      "protocol mqtt\n"
      "socket_domain ipv6\n"
      "listener 1885\n");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].max_connections, 100);
  EXPECT_EQ(c.listeners[0].domain, ListenerConfig::Domain::ipv4);
  EXPECT_EQ(c.listeners[1].max_connections, -1);
  EXPECT_EQ(c.listeners[1].protocol, ListenerConfig::Protocol::mqtt);
  EXPECT_EQ(c.listeners[1].domain, ListenerConfig::Domain::ipv6);
  EXPECT_EQ(c.listeners[2].max_connections, -1);
  EXPECT_FALSE(c.listeners[2].domain.has_value());
  EXPECT_EQ(c.broker.max_keepalive, 30);
}

// As mosquitto: per-listener directives before the first listener line configure the default listener (port 1883,
// every address), which goes after the file's listeners.
TEST(ConfigListener, PerListenerDirectiveBeforeAnyListener) {
  const auto c = parse("max_qos 1\nmax_connections 10\nsocket_domain ipv4\nlistener 8883\n");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 8883);
  EXPECT_EQ(c.listeners[0].max_connections, -1);
  EXPECT_EQ(c.listeners[1].port, 1883);
  EXPECT_EQ(c.listeners[1].bind_address, "");
  EXPECT_EQ(c.listeners[1].max_connections, 10);
  EXPECT_EQ(c.listeners[1].domain, ListenerConfig::Domain::ipv4);
  EXPECT_FALSE(c.broker.allow_anonymous);  // a listener is configured: not local only mode
}

TEST(ConfigListener, Protocol) {
  EXPECT_EQ(parse("listener 1883\nprotocol mqtt\n").listeners[0].protocol, ListenerConfig::Protocol::mqtt);
  EXPECT_EQ(parse("listener 1883\nprotocol websockets\n").listeners[0].protocol, ListenerConfig::Protocol::websockets);
  expect_error("listener 1883\nprotocol http\n", 2, "protocol: expected mqtt or websockets, got 'http'");
  expect_error("listener 1883\nprotocol MQTT\n", 2, "got 'MQTT'");
}

TEST(ConfigListener, AcceptProtocolVersions) {
  EXPECT_EQ(parse("listener 1883\n").listeners[0].accepted_versions, ListenerConfig::all_versions);
  const auto c = parse("listener 1883\naccept_protocol_versions 4, 5\nlistener 1884\naccept_protocol_versions 3\n");
  EXPECT_EQ(c.listeners[0].accepted_versions, (1 << 4) | (1 << 5));
  EXPECT_EQ(c.listeners[1].accepted_versions, 1 << 3);
  expect_error("listener 1883\naccept_protocol_versions 4,6\n", 2,
               "accept_protocol_versions: expected a comma-separated list of 3, 4 and 5, got '4,6'");
  expect_error("listener 1883\naccept_protocol_versions 4,,5\n", 2, "got '4,,5'");
}

TEST(ConfigListener, MaxConnections) {
  const auto get = [](const std::string& v) {
    return parse("listener 1883\nmax_connections " + v + "\n").listeners[0].max_connections;
  };
  EXPECT_EQ(get("-1"), -1);
  EXPECT_EQ(get("0"), 0);
  EXPECT_EQ(get("1"), 1);
  EXPECT_EQ(get("2147483647"), 2147483647);
  for (const std::string bad : {"-2", "2147483648", "many", "10x", "--1"}) {
    EXPECT_EQ(
        error_of("listener 1883\nmax_connections " + bad + "\n"),
        "tern.conf:2: max_connections: expected -1 (no limit) or an integer from 0 to 2147483647, got '" + bad + "'");
  }
  expect_error("listener 1883\nmax_connections -1 5\n", 2, "max_connections: unexpected '5' after the value");
}

TEST(ConfigListener, SocketDomain) {
  EXPECT_EQ(parse("listener 1883\nsocket_domain ipv4\n").listeners[0].domain, ListenerConfig::Domain::ipv4);
  EXPECT_EQ(parse("listener 1883\nsocket_domain ipv6\n").listeners[0].domain, ListenerConfig::Domain::ipv6);
  expect_error("listener 1883\nsocket_domain inet\n", 2, "socket_domain: expected ipv4 or ipv6, got 'inet'");
}

// ---- load_config_file ------------------------------------------------------------------------------------------

TEST(ConfigListener, ConnectionRateLimit) {
  const Config c = parse("listener 1883\nconnection_rate_limit 20 10\nlistener 1884\n");
  EXPECT_EQ(c.listeners[0].rate_limit_count, 20u);
  EXPECT_EQ(c.listeners[0].rate_limit_seconds, 10u);
  EXPECT_EQ(c.listeners[1].rate_limit_count, 0u);  // per listener; off by default
  EXPECT_EQ(
      parse("listener 1883\nconnection_rate_limit 20 10\nconnection_rate_limit 0\n").listeners[0].rate_limit_count, 0u);
  expect_error("listener 1883\nconnection_rate_limit 20\n", 2, "expected COUNT SECONDS, or 0");
  expect_error("listener 1883\nconnection_rate_limit 20 0\n", 2, "");
}

}  // namespace
}  // namespace tern
