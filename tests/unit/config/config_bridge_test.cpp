// mosquitto's bridge section (broker/config_bridge.cpp): `connection` and the directives after it, the TLS uplink,
// and the errors that point at the line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using protocol::QoS;
using ::testing::HasSubstr;

Config parse(const std::string& text) { return parse_config(text, "tern.conf"); }
void expect_error(const std::string& text, int line, const std::string& what) {
  testing::expect_config_error(text, line, what);
}

// mosquitto's bridge section: `connection` starts it, the directives after it configure that bridge.
TEST(ConfigBridge, ASectionAsMosquittoWritesIt) {
  const auto c = parse(
      "listener 1883\n"
      "connection cloud\n"
      "address broker.example.com:8883 [::1] 10.0.0.2\n"
      "topic sensors/# out 1\n"
      "topic commands/# in 2 \"\" site7/\n"
      "topic # both 0 local/ remote/\n"
      "topic status\n"
      "remote_clientid gw-7\n"
      "remote_username gw\n"
      "remote_password secret\n"
      "bridge_protocol_version mqttv50\n"
      "cleansession true\n"
      "local_cleansession false\n"
      "keepalive_interval 30\n"
      "restart_timeout 2 60\n"
      "try_private false\n"
      "notifications false\n"
      "bridge_outgoing_retain false\n"
      "start_type automatic\n"
      "connection second\n"
      "address 127.0.0.1\n"
      "topic a/# both\n"
      "restart_timeout 7\n");
  ASSERT_EQ(c.bridges.size(), 2u);
  const auto& b = c.bridges[0];
  EXPECT_EQ(b.name, "cloud");
  ASSERT_EQ(b.addresses.size(), 3u);
  EXPECT_EQ(b.addresses[0].host, "broker.example.com");
  EXPECT_EQ(b.addresses[0].port, 8883);
  EXPECT_EQ(b.addresses[1].host, "::1");
  EXPECT_EQ(b.addresses[1].port, 1883);
  EXPECT_EQ(b.addresses[2].host, "10.0.0.2");
  using Direction = bridge::BridgeSettings::Topic::Direction;
  ASSERT_EQ(b.topics.size(), 4u);
  EXPECT_EQ(b.topics[0].pattern, "sensors/#");
  EXPECT_EQ(b.topics[0].direction, Direction::out);
  EXPECT_EQ(b.topics[0].qos, QoS::at_least_once);
  EXPECT_EQ(b.topics[1].direction, Direction::in);
  EXPECT_EQ(b.topics[1].qos, QoS::exactly_once);
  EXPECT_EQ(b.topics[1].local_prefix, "");
  EXPECT_EQ(b.topics[1].remote_prefix, "site7/");
  EXPECT_EQ(b.topics[2].direction, Direction::both);
  EXPECT_EQ(b.topics[2].local_prefix, "local/");
  EXPECT_EQ(b.topics[3].direction, Direction::out);  // the defaults: out, QoS 0
  EXPECT_EQ(b.topics[3].qos, QoS::at_most_once);
  EXPECT_EQ(b.remote_clientid, "gw-7");
  EXPECT_EQ(b.remote_username, "gw");
  EXPECT_EQ(b.remote_password, "secret");
  EXPECT_EQ(b.protocol, protocol::Version::v5);
  EXPECT_TRUE(b.cleansession);
  EXPECT_FALSE(b.local_clean());
  EXPECT_EQ(b.keepalive, 30);
  EXPECT_EQ(b.restart_base.count(), 2);
  EXPECT_EQ(b.restart_cap.count(), 60);
  EXPECT_FALSE(b.try_private);
  EXPECT_FALSE(b.notifications);
  EXPECT_FALSE(b.outgoing_retain);
  const auto& second = c.bridges[1];
  EXPECT_EQ(second.restart_base.count(), 7);
  EXPECT_EQ(second.restart_cap.count(), 7);
  EXPECT_TRUE(second.try_private);
  EXPECT_FALSE(second.local_clean());  // mosquitto's default: cleansession false
  EXPECT_EQ(c.listeners.size(), 1u);   // the bridge lines did not touch the listener
}

TEST(ConfigBridge, Errors) {
  expect_error("address 127.0.0.1\n", 1, "address: must follow a 'connection' line");
  expect_error("connection a\naddress 127.0.0.1\n", 1, "connection a: no topic given");
  expect_error("connection a\ntopic x\n", 1, "connection a: no address given");
  expect_error("connection a\nconnection a\n", 2, "a bridge named 'a' is already defined");
  expect_error("connection a\naddress h:99999\n", 2, "a port from 1 to 65535");
  expect_error("connection a\ntopic x sideways\n", 2, "expected out, in or both, got 'sideways'");
  expect_error("connection a\ntopic x out 3\n", 2, "a QoS of 0, 1 or 2");
  expect_error("connection a\ntopic x out 1 local/\n", 2, "a local prefix needs a remote prefix");
  expect_error("connection a\ntopic x out 1 l/# r/\n", 2, "a prefix cannot hold wildcards");
  expect_error("connection a\ntopic a/#/b\n", 2, "is not a valid topic filter");
  expect_error("connection a\nbridge_protocol_version 5\n", 2, "expected mqttv31, mqttv311 or mqttv50");
  expect_error("connection a\nrestart_timeout 10 5\n", 2, "CAP must not be below BASE");
  expect_error("connection a\nstart_type sometimes\n", 2, "expected automatic, lazy or once");
  expect_error("connection a\nbridge_bind_address eth0\n", 2, "expected an IP address");
  expect_error("connection a\nthreshold 0\n", 2, "");
  expect_error("bridge_queue_max_bytes 1000\n", 1, "bridge_queue_max_bytes: must follow a 'connection' line");
}

// The rest of mosquitto's bridge directives: applied, or (OCSP) accepted with a warning that says what Tern
// does instead.
TEST(ConfigBridge, EveryOtherMosquittoDirective) {
  const auto c = parse(
      "connection a\naddress broker.example.com\ntopic # out\nbridge_capath /etc/ssl/certs\n"
      "bridge_alpn mqtt,x-amzn-mqtt-ca\nbridge_require_ocsp true\nbridge_bind_address 192.168.1.2\n"
      "bridge_max_packet_size 65536\nstart_type lazy\nidle_timeout 30\nthreshold 5\nround_robin true\n"
      "bridge_queue_max_bytes 1000000\nbridge_max_inflight 500\n"
      "connection b\naddress h\ntopic # out\nstart_type once\nbridge_require_ocsp false\n");
  const auto& a = c.bridges[0];
  EXPECT_TRUE(a.tls_enabled());
  EXPECT_EQ(a.tls.capath, "/etc/ssl/certs");
  EXPECT_EQ(a.tls.alpn, (std::vector<std::string>{"mqtt", "x-amzn-mqtt-ca"}));
  EXPECT_EQ(a.bind_address, "192.168.1.2");
  EXPECT_EQ(a.max_packet_size, 65536u);
  using Start = bridge::BridgeSettings::Start;
  EXPECT_EQ(a.start, Start::lazy);
  EXPECT_EQ(a.idle_timeout.count(), 30);
  EXPECT_EQ(a.threshold, 5u);
  EXPECT_TRUE(a.round_robin);
  EXPECT_EQ(a.queue_max_bytes, 1000000u);
  EXPECT_EQ(a.max_inflight, 500);
  const auto& b = c.bridges[1];
  EXPECT_EQ(b.start, Start::once);
  EXPECT_FALSE(b.round_robin);  // mosquitto's defaults
  EXPECT_EQ(b.threshold, 10u);
  EXPECT_EQ(b.idle_timeout.count(), 60);
  EXPECT_EQ(b.queue_max_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(b.max_inflight, 1000);
  ASSERT_EQ(c.notes.size(), 1u);  // OCSP
  EXPECT_EQ(c.notes[0].level, platform::LogLevel::warning);
  EXPECT_THAT(c.notes[0].text, HasSubstr("cannot check OCSP"));
}

TEST(ConfigBridge, TlsUplink) {
  const auto c = parse(
      "connection cloud\naddress broker.example.com:8883\ntopic # out\nbridge_cafile /etc/ca.pem\n"
      "bridge_certfile /etc/gw.crt\nbridge_keyfile /etc/gw.key\nbridge_tls_version tlsv1.2\n"
      "connection psk\naddress 10.0.0.1:8883\ntopic # out\nbridge_identity gw\nbridge_psk 0a1b2c\n");
  const auto& tls = c.bridges[0].tls;
  EXPECT_TRUE(c.bridges[0].tls_enabled());
  EXPECT_EQ(tls.cafile, "/etc/ca.pem");
  EXPECT_EQ(tls.certfile, "/etc/gw.crt");
  EXPECT_EQ(tls.keyfile, "/etc/gw.key");
  EXPECT_FALSE(tls.insecure);
  EXPECT_TRUE(c.bridges[1].tls_enabled());  // PSK: no name to check, an IP address is fine
  EXPECT_EQ(c.bridges[1].tls.psk_identity, "gw");
  const std::string head = "connection a\ntopic # out\n";
  expect_error(head + "address 10.0.0.1:8883\nbridge_cafile /etc/ca.pem\n", 1,
               "mbedTLS 2.28 cannot check an IP address");
  EXPECT_TRUE(
      parse(head + "address 10.0.0.1:8883\nbridge_cafile /etc/ca.pem\nbridge_insecure true\n").bridges[0].tls.insecure);
  expect_error(head + "address h\nbridge_cafile c\nbridge_certfile x\n", 1,
               "bridge_certfile and bridge_keyfile go together");
  expect_error(head + "address h\nbridge_identity gw\n", 1, "bridge_identity and bridge_psk go together");
  expect_error(head + "address h\nbridge_certfile x\nbridge_keyfile y\n", 1, "bridge_certfile needs bridge_cafile");
  expect_error(head + "address h\nbridge_tls_version tlsv1.3\n", 4, "expected tlsv1.2");
}

}  // namespace
}  // namespace tern
