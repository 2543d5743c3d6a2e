#include "broker/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Dest = platform::LogSettings::Dest;
using protocol::QoS;

constexpr const char* kName = "tern.conf";

Config parse(const std::string& text) { return parse_config(text, kName); }

std::string error_of(const std::string& text) { return testing::config_error_of(text); }
void expect_error(const std::string& text, int line, const std::string& what) {
  testing::expect_config_error(text, line, what);
}

void expect_default_broker_options(const core::BrokerOptions& o) {
  const core::BrokerOptions d;
  EXPECT_EQ(o.max_keepalive, d.max_keepalive);
  EXPECT_EQ(o.max_packet_size, d.max_packet_size);
  EXPECT_EQ(o.max_inflight_messages, d.max_inflight_messages);
  EXPECT_EQ(o.max_inflight_bytes, d.max_inflight_bytes);
  EXPECT_EQ(o.memory_limit, d.memory_limit);
  EXPECT_EQ(o.max_queued_messages, d.max_queued_messages);
  EXPECT_EQ(o.max_queued_bytes, d.max_queued_bytes);
  EXPECT_EQ(o.queue_qos0_messages, d.queue_qos0_messages);
  EXPECT_EQ(o.retain_available, d.retain_available);
  EXPECT_EQ(o.max_qos, d.max_qos);
  EXPECT_EQ(o.max_topic_alias, d.max_topic_alias);
  EXPECT_EQ(o.max_outgoing_topic_alias, d.max_outgoing_topic_alias);
  EXPECT_EQ(o.persistent_client_expiration, d.persistent_client_expiration);
  EXPECT_EQ(o.max_outgoing_buffer, d.max_outgoing_buffer);
}

void expect_default_log(const platform::LogSettings& log) {
  EXPECT_EQ(log.levels, 1u | 2u | 4u | 8u);
  EXPECT_EQ(log.dests, Dest::stderr_);
  EXPECT_EQ(log.file, "");
  EXPECT_TRUE(log.timestamp);
}

// The documented defaults, as mosquitto 2.0's where the directive is mosquitto's.
TEST(ConfigDefaults, BrokerOptionsMatchMosquitto) {
  const core::BrokerOptions d;
  EXPECT_EQ(d.max_keepalive, 65535);
  EXPECT_EQ(d.max_packet_size, 0u);
  EXPECT_EQ(d.max_inflight_messages, 20);
  EXPECT_EQ(d.max_inflight_bytes, 0u);
  EXPECT_EQ(d.memory_limit, 0u);
  EXPECT_EQ(d.max_queued_messages, 1000u);
  EXPECT_EQ(d.max_queued_bytes, 0u);
  EXPECT_FALSE(d.queue_qos0_messages);
  EXPECT_TRUE(d.retain_available);
  EXPECT_EQ(d.max_qos, QoS::exactly_once);
  EXPECT_EQ(d.max_topic_alias, 10);
  EXPECT_FALSE(d.persistent_client_expiration.has_value());
  EXPECT_EQ(d.max_outgoing_buffer, 4u * 1024 * 1024);
}

TEST(ConfigDefaults, EmptyFileIsLocalOnlyMode) {
  const auto c = parse("");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].bind_address, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].protocol, ListenerConfig::Protocol::mqtt);
  EXPECT_EQ(c.listeners[0].max_connections, -1);
  EXPECT_FALSE(c.listeners[0].domain.has_value());
  EXPECT_TRUE(c.broker.allow_anonymous);
  EXPECT_EQ(c.threads, 0u);
  expect_default_broker_options(c.broker);
  expect_default_log(c.log);
}

TEST(ConfigDefaults, LocalOnlyModeKeepsAnExplicitAllowAnonymous) {
  const auto c = parse("allow_anonymous false\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].bind_address, "127.0.0.1");
  EXPECT_FALSE(c.broker.allow_anonymous);
}

TEST(ConfigDefaults, WithAListenerAnonymousIsRefusedByDefault) {
  const auto c = parse("listener 1883\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_FALSE(c.broker.allow_anonymous);
  EXPECT_TRUE(parse("listener 1883\nallow_anonymous true\n").broker.allow_anonymous);
  EXPECT_TRUE(parse("allow_anonymous true\nlistener 1883\n").broker.allow_anonymous);
}

TEST(ConfigDefaults, QuickStart) {
  const auto c = quick_start_config(1884);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1884);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_TRUE(c.broker.allow_anonymous);
  expect_default_broker_options(c.broker);
  expect_default_log(c.log);
}

TEST(ConfigSyntax, CommentsBlankLinesAndWhitespace) {
  const auto c = parse(
      "# a comment\n"
      "\n"
      "   # an indented comment\n"
      "\t\n"
      "  max_keepalive   60  \n"
      "\tmax_qos\t1\t\r\n"
      "#max_qos 0\n"
      "retain_available false");  // no final newline
  EXPECT_EQ(c.broker.max_keepalive, 60);
  EXPECT_EQ(c.broker.max_qos, QoS::at_least_once);
  EXPECT_FALSE(c.broker.retain_available);
}

TEST(ConfigSyntax, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(parse("\xEF\xBB\xBFmax_keepalive 5\n").broker.max_keepalive, 5);
}

TEST(ConfigSyntax, LineNumbersCountCommentsAndBlankLines) {
  expect_error("# one\n\n  \nmax_keepalive abc\n", 4, "max_keepalive: expected an integer from 0 to 65535, got 'abc'");
  EXPECT_EQ(error_of("max_qos 1\r\nmax_qos 3\r\n"), "tern.conf:2: max_qos: expected an integer from 0 to 2, got '3'");
}

TEST(ConfigSyntax, ExactMessages) {
  EXPECT_EQ(error_of("\n\n\n\n\n\n\n\n\n\n\nmax_keepalive abc\n"),
            "tern.conf:12: max_keepalive: expected an integer from 0 to 65535, got 'abc'");
  EXPECT_EQ(error_of("\n\nmax_keepalve 10\n"),
            "tern.conf:3: unknown directive 'max_keepalve' (did you mean 'max_keepalive'?)");
  EXPECT_EQ(error_of("\n\n\n\n\n\nallow_anonymous\n"), "tern.conf:7: missing value for allow_anonymous");
  EXPECT_EQ(error_of("\ncertfile /etc/tern/cert.pem\n"),
            "tern.conf:2: the default listener (port 1883, set before the first 'listener' line): certfile is set "
            "but keyfile is not");
  EXPECT_EQ(error_of("listener 1883\nprotocol websocket\n"),
            "tern.conf:2: protocol: expected mqtt or websockets, got 'websocket'");
}

TEST(ConfigSyntax, ErrorsUseTheGivenName) {
  try {
    parse_config("bogus 1\n", "/etc/tern/tern.conf");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/etc/tern/tern.conf:1: unknown directive 'bogus'");
  }
}

TEST(ConfigSyntax, UnknownDirectives) {
  expect_error("frobnicate 1\n", 1, "unknown directive 'frobnicate'");
  EXPECT_EQ(error_of("frobnicate 1\n"), "tern.conf:1: unknown directive 'frobnicate'");  // no far-fetched guess
  expect_error("Max_Keepalive 10\n", 1, "unknown directive 'Max_Keepalive'");            // names are case-sensitive
  expect_error("frobnicate\n", 1, "unknown directive 'frobnicate'");                     // even without a value
  expect_error("listener 1883\nmax_conections 5\n", 2, "did you mean 'max_connections'?");
}

TEST(ConfigSyntax, TrailingTextIsAnError) {
  expect_error("max_keepalive 60 90\n", 1, "max_keepalive: unexpected '90' after the value");
  expect_error("allow_anonymous true # for testing\n", 1, "comments must be on a line of their own");
  expect_error("log_dest stderr extra\n", 1, "log_dest: unexpected 'extra' after the value");
  expect_error("listener 1883 0.0.0.0 extra\n", 1, "listener: expected a port and an optional bind address");
}

TEST(ConfigSyntax, DuplicateScalarsLastWins) {
  const auto c = parse(
      "max_keepalive 10\n"
      "max_keepalive 20\n"
      "allow_anonymous true\n"
      "allow_anonymous false\n"
      "persistent_client_expiration 1d\n"
      "persistent_client_expiration 2h\n"
      "log_timestamp false\n"
      "log_timestamp true\n"
      "listener 1883\n"
      "max_connections 5\n"
      "max_connections 7\n");
  EXPECT_EQ(c.broker.max_keepalive, 20);
  EXPECT_FALSE(c.broker.allow_anonymous);
  EXPECT_EQ(c.broker.persistent_client_expiration, std::chrono::hours(2));
  EXPECT_TRUE(c.log.timestamp);
  EXPECT_EQ(c.listeners[0].max_connections, 7);
}

TEST(ConfigValues, Persistence) {
  const Config defaults = parse_config("", "tern.conf");
  EXPECT_FALSE(defaults.persistence.enabled);
  EXPECT_EQ(defaults.persistence.location, "");
  EXPECT_EQ(defaults.persistence.file, "tern.db");
  EXPECT_TRUE(defaults.persistence.sync_full);

  const Config c = parse_config(
      "persistence true\npersistence_location /var/lib/tern/\npersistence_file m.db\npersistence_sync normal\n"
      "autosave_interval 1800\nmax_queued_in_memory 7\n",
      "tern.conf");
  EXPECT_EQ(c.broker.max_queued_in_memory, 7u);
  EXPECT_TRUE(c.persistence.enabled);
  EXPECT_EQ(c.persistence.location, "/var/lib/tern/");
  EXPECT_EQ(c.persistence.file, "m.db");
  EXPECT_FALSE(c.persistence.sync_full);

  EXPECT_EQ(error_of("persistence yes\n"), "tern.conf:1: persistence: expected true or false, got 'yes'");
  EXPECT_EQ(error_of("persistence_sync always\n"),
            "tern.conf:1: persistence_sync: expected full or normal, got 'always'");
  EXPECT_EQ(error_of("persistence_file a/b.db\n"),
            "tern.conf:1: persistence_file is a file name; the directory is persistence_location");
  EXPECT_NE(error_of("autosave_interval soon\n"), "");
}

// include_dir: *.conf files in byte order (capitals first), continuing the main file; errors name the included
// file and its line; only the main file may include.
TEST(ConfigFile, IncludeDir) {
  testsupport::TempDir dir("tern-conf");
  const auto conf_d = dir / "conf.d";
  std::filesystem::create_directories(conf_d);
  auto write = [](const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; };
  write(conf_d / "b.conf", "max_qos 1\n");
  write(conf_d / "a.conf", "max_qos 2\nlistener 8883\n");
  write(conf_d / "B.conf", "max_qos 0\nmax_keepalive 60\n");  // capitals first: read before a.conf
  write(conf_d / "ignored.txt", "bogus line\n");
  write(conf_d / ".conf", "bogus line\n");  // no name before .conf: skipped, as mosquitto
  write(dir / "main.conf", "pid_file /run/tern.pid\nlistener 1883\ninclude_dir " + conf_d.string() + "\n");
  const auto c = load_config_file((dir / "main.conf").string());
  EXPECT_EQ(c.pid_file, "/run/tern.pid");
  EXPECT_EQ(c.broker.max_qos, protocol::QoS::at_least_once);  // b.conf is last
  EXPECT_EQ(c.broker.max_keepalive, 60);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[1].port, 8883);

  write(conf_d / "c.conf", "\nmax_qos 3\n");
  try {
    load_config_file((dir / "main.conf").string());
    FAIL() << "a bad included file was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              (conf_d / "c.conf").string() + ":2: max_qos: expected an integer from 0 to 2, got '3'");
  }
  std::filesystem::remove(conf_d / "c.conf");
  write(conf_d / "d.conf", "include_dir " + conf_d.string() + "\n");
  try {
    load_config_file((dir / "main.conf").string());
    FAIL() << "a nested include_dir was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("d.conf:1: include_dir is read only in the main configuration file"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(error_of("include_dir /nonexistent/tern.d\n").substr(0, 50),
            std::string("tern.conf:1: include_dir: cannot read /nonexistent/tern.d: ").substr(0, 50));
}

// Debian's own /etc/mosquitto/mosquitto.conf (from the mosquitto package the tests install), unchanged: pid_file,
// persistence, log_dest file and include_dir of /etc/mosquitto/conf.d.
TEST(ConfigFile, DebiansStockMosquittoConf) {
  const std::string stock = "/etc/mosquitto/mosquitto.conf";
  ASSERT_TRUE(std::filesystem::exists(stock))
      << stock << " is missing: scripts/install-deps.sh test installs mosquitto";
  const auto c = load_config_file(stock);
  EXPECT_EQ(c.pid_file, "/run/mosquitto/mosquitto.pid");
  EXPECT_TRUE(c.persistence.enabled);
  EXPECT_EQ(c.persistence.location, "/var/lib/mosquitto/");
}

TEST(ConfigSyntax, MissingValueForEveryDirective) {
  for (const auto& d : config_directives()) {
    if (!d.takes_value) continue;  // drop (config_rules_test.cpp)
    const std::string prefix = d.per_listener ? "listener 1883\n" : "";
    const int line = d.per_listener ? 2 : 1;
    EXPECT_EQ(error_of(prefix + std::string(d.name) + "\n"),
              "tern.conf:" + std::to_string(line) + ": missing value for " + std::string(d.name));
    EXPECT_EQ(error_of(prefix + std::string(d.name) + "   \t\n"),
              "tern.conf:" + std::to_string(line) + ": missing value for " + std::string(d.name));
  }
}

TEST(ConfigSyntax, DirectiveTableIsComplete) {
  std::set<std::string> names;
  for (const auto& d : config_directives()) {
    EXPECT_TRUE(names.insert(std::string(d.name)).second) << "duplicate " << d.name;
    EXPECT_FALSE(d.doc.empty()) << d.name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"allow_anonymous",
                                          "password_file",
                                          "acl_file",
                                          "per_listener_settings",
                                          "allow_zero_length_clientid",
                                          "auto_id_prefix",
                                          "use_username_as_clientid",
                                          "clientid_prefixes",
                                          "check_retain_source",
                                          "include_dir",
                                          "pid_file",
                                          "use_subject_as_username",
                                          "max_keepalive",
                                          "max_packet_size",
                                          "max_inflight_messages",
                                          "max_queued_messages",
                                          "max_queued_bytes",
                                          "queue_qos0_messages",
                                          "retain_available",
                                          "max_qos",
                                          "max_topic_alias",
                                          "persistent_client_expiration",
                                          "log_type",
                                          "log_dest",
                                          "log_timestamp",
                                          "threads",
                                          "http_listener",
                                          "max_outgoing_buffer",
                                          "persistence",
                                          "persistence_location",
                                          "persistence_file",
                                          "persistence_sync",
                                          "max_queued_in_memory",
                                          "autosave_interval",
                                          "listener",
                                          "protocol",
                                          "max_connections",
                                          "connection_rate_limit",
                                          "socket_domain",
                                          "certfile",
                                          "keyfile",
                                          "cafile",
                                          "capath",
                                          "crlfile",
                                          "require_certificate",
                                          "use_identity_as_username",
                                          "tls_version",
                                          "ciphers",
                                          "psk_hint",
                                          "psk_file",
                                          "tls_session_tickets",
                                          "tls_session_cache_size",
                                          "tls_session_lifetime",
                                          "tls_session_ticket_key_file",
                                          "port",
                                          "bind_address",
                                          "bind_interface",
                                          "user",
                                          "set_tcp_nodelay",
                                          "log_timestamp_format",
                                          "log_facility",
                                          "connection_messages",
                                          "autosave_on_changes",
                                          "allow_duplicate_messages",
                                          "retry_interval",
                                          "sys_interval",
                                          "plugin",
                                          "auth_plugin",
                                          "global_plugin",
                                          "auth_plugin_deny_special_chars",
                                          "websockets_log_level",
                                          "websockets_headers_size",
                                          "http_dir",
                                          "dhparamfile",
                                          "ciphers_tls1.3",
                                          "tls_engine",
                                          "tls_engine_kpass_sha1",
                                          "tls_keyform",
                                          "message_size_limit",
                                          "max_inflight_bytes",
                                          "memory_limit",
                                          "dead_letter_topic",
                                          "dead_letter_rate",
                                          "mount_point",
                                          "upgrade_outgoing_qos",
                                          "websockets_path",
                                          "websockets_compression",
                                          "accept_protocol_versions",
                                          "connection",
                                          "address",
                                          "addresses",
                                          "topic",
                                          "remote_clientid",
                                          "clientid",
                                          "local_clientid",
                                          "remote_username",
                                          "username",
                                          "remote_password",
                                          "password",
                                          "bridge_protocol_version",
                                          "cleansession",
                                          "local_cleansession",
                                          "keepalive_interval",
                                          "restart_timeout",
                                          "start_type",
                                          "round_robin",
                                          "try_private",
                                          "notifications",
                                          "notification_topic",
                                          "notifications_local_only",
                                          "bridge_outgoing_retain",
                                          "bridge_attempt_unsubscribe",
                                          "bridge_cafile",
                                          "bridge_certfile",
                                          "bridge_keyfile",
                                          "bridge_insecure",
                                          "bridge_tls_version",
                                          "bridge_identity",
                                          "bridge_psk",
                                          "bridge_capath",
                                          "bridge_alpn",
                                          "bridge_require_ocsp",
                                          "bridge_bind_address",
                                          "bridge_max_packet_size",
                                          "idle_timeout",
                                          "threshold",
                                          "bridge_queue_max_bytes",
                                          "bridge_max_inflight",
                                          "rule",
                                          "sql",
                                          "republish",
                                          "drop",
                                          "window",
                                          "store",
                                          "rules_file"}));
}

// ---- Booleans -------------------------------------------------------------------------------------------------

TEST(ConfigBooleans, TrueAndFalseOnly) {
  struct Case {
    const char* name;
    bool (*get)(const Config&);
  };
  const Case cases[] = {
      {"allow_anonymous", [](const Config& c) { return c.broker.allow_anonymous; }},
      {"queue_qos0_messages", [](const Config& c) { return c.broker.queue_qos0_messages; }},
      {"retain_available", [](const Config& c) { return c.broker.retain_available; }},
      {"log_timestamp", [](const Config& c) { return c.log.timestamp; }},
  };
  for (const auto& k : cases) {
    const std::string n = k.name;
    EXPECT_TRUE(k.get(parse(n + " true\n"))) << n;
    EXPECT_FALSE(k.get(parse(n + " false\n"))) << n;
    for (const char* bad : {"yes", "1", "TRUE", "False", "truex", "on"}) {
      EXPECT_EQ(error_of("\n" + n + " " + bad + "\n"),
                "tern.conf:2: " + n + ": expected true or false, got '" + bad + "'");
    }
  }
}

// ---- Integers -------------------------------------------------------------------------------------------------

struct IntegerCase {
  const char* name;
  std::uint64_t lo, hi;
  std::uint64_t (*get)(const Config&);
};

const IntegerCase kIntegerCases[] = {
    {"max_keepalive", 0, 65535, [](const Config& c) -> std::uint64_t { return c.broker.max_keepalive; }},
    {"max_qos", 0, 2, [](const Config& c) -> std::uint64_t { return std::uint64_t(c.broker.max_qos); }},
    {"max_topic_alias", 0, 65535, [](const Config& c) -> std::uint64_t { return c.broker.max_topic_alias; }},
    {"threads", 0, 256, [](const Config& c) -> std::uint64_t { return c.threads; }},
    {"max_inflight_bytes", 0, 9223372036854775807u,  // mosquitto: a ssize_t
     [](const Config& c) -> std::uint64_t { return c.broker.max_inflight_bytes; }},
    {"memory_limit", 0, 9223372036854775807u,  // mosquitto: a ssize_t
     [](const Config& c) -> std::uint64_t { return c.broker.memory_limit; }},
};

TEST(ConfigIntegers, RangeEndsAndBadValues) {
  for (const auto& k : kIntegerCases) {
    const std::string n = k.name;
    SCOPED_TRACE(n);
    EXPECT_EQ(k.get(parse(n + " " + std::to_string(k.lo) + "\n")), k.lo);
    EXPECT_EQ(k.get(parse(n + " " + std::to_string(k.hi) + "\n")), k.hi);
    EXPECT_EQ(k.get(parse(n + " 1\n")), 1u);
    const std::string expected =
        ": expected an integer from " + std::to_string(k.lo) + " to " + std::to_string(k.hi) + ", got '";
    for (const std::string& bad :
         {std::to_string(k.hi + 1), std::string("-1"), std::string("abc"), std::string("1x"), std::string("+1"),
          std::string("0x10"), std::string("1.5"), std::string("99999999999999999999999")}) {
      EXPECT_EQ(error_of("# c\n" + n + " " + bad + "\n"), "tern.conf:2: " + n + expected + bad + "'");
    }
  }
}

TEST(ConfigIntegers, MaxPacketSize) {
  EXPECT_EQ(parse("max_packet_size 0\n").broker.max_packet_size, 0u);
  EXPECT_EQ(parse("max_packet_size 20\n").broker.max_packet_size, 20u);
  EXPECT_EQ(parse("max_packet_size 268435460\n").broker.max_packet_size, 268435460u);
  EXPECT_EQ(parse("max_packet_size 4294967295\n").broker.max_packet_size, 4294967295u);
  for (const std::string bad : {"1", "19", "4294967296", "-1", "10k", "abc"}) {
    EXPECT_EQ(error_of("max_packet_size " + bad + "\n"),
              "tern.conf:1: max_packet_size: expected 0 (no limit) or a number of bytes from 20 to 4294967295, got '" +
                  bad + "'");
  }
}

TEST(ConfigIntegers, MaxInflightMessagesZeroMeansNoLimit) {
  EXPECT_EQ(parse("max_inflight_messages 0\n").broker.max_inflight_messages, 65535);
  EXPECT_EQ(parse("max_inflight_messages 1\n").broker.max_inflight_messages, 1);
  EXPECT_EQ(parse("max_inflight_messages 65535\n").broker.max_inflight_messages, 65535);
  expect_error("max_inflight_messages 65536\n", 1,
               "max_inflight_messages: expected an integer from 0 to 65535, got '65536'");
  expect_error("max_inflight_messages -1\n", 1, "got '-1'");
}

TEST(ConfigIntegers, QueueLimits) {
  EXPECT_EQ(parse("max_queued_messages 0\n").broker.max_queued_messages, 0u);
  EXPECT_EQ(parse("max_queued_messages 5000000\n").broker.max_queued_messages, 5000000u);
  EXPECT_EQ(parse("max_queued_bytes 0\n").broker.max_queued_bytes, 0u);
  EXPECT_EQ(parse("max_queued_bytes 1048576\n").broker.max_queued_bytes, 1048576u);
  expect_error("max_queued_messages -5\n", 1, "max_queued_messages: expected an integer from 0 to ");
  expect_error("max_queued_messages 10 # ten\n", 1, "max_queued_messages: unexpected '# ten'");
  expect_error("max_queued_bytes 1MB\n", 1, "max_queued_bytes: expected an integer from 0 to ");
  expect_error("max_queued_bytes 1MB\n", 1, "got '1MB'");
}

TEST(ConfigIntegers, MaxOutgoingBuffer) {
  EXPECT_EQ(parse("max_outgoing_buffer 1024\n").broker.max_outgoing_buffer, 1024u);
  EXPECT_EQ(parse("max_outgoing_buffer 67108864\n").broker.max_outgoing_buffer, 67108864u);
  expect_error("max_outgoing_buffer 1023\n", 1, "max_outgoing_buffer: expected an integer from 1024 to ");
  expect_error("max_outgoing_buffer 0\n", 1, "got '0'");
  expect_error("max_outgoing_buffer 4M\n", 1, "got '4M'");
}

TEST(ConfigIntegers, MaxQosMapsToQoS) {
  EXPECT_EQ(parse("max_qos 0\n").broker.max_qos, QoS::at_most_once);
  EXPECT_EQ(parse("max_qos 1\n").broker.max_qos, QoS::at_least_once);
  EXPECT_EQ(parse("max_qos 2\n").broker.max_qos, QoS::exactly_once);
}

// ---- persistent_client_expiration ------------------------------------------------------------------------------

TEST(ConfigDuration, Units) {
  const auto expiry = [](const std::string& v) {
    return parse("persistent_client_expiration " + v + "\n").broker.persistent_client_expiration;
  };
  EXPECT_EQ(expiry("1h"), std::chrono::seconds(3600));
  EXPECT_EQ(expiry("14d"), std::chrono::seconds(14 * 86400));
  EXPECT_EQ(expiry("2w"), std::chrono::seconds(14 * 86400));
  EXPECT_EQ(expiry("1m"), std::chrono::seconds(30 * 86400));  // m is a 30-day month, as mosquitto, not a minute
  EXPECT_EQ(expiry("1y"), std::chrono::seconds(365 * 86400));
}

TEST(ConfigDuration, BadValues) {
  for (const std::string bad :
       {"14", "d", "0d", "-1d", "14s", "1.5d", "14D", "x1d", "99999999999999999999y", "999999999999999999y"}) {
    const auto message = error_of("persistent_client_expiration " + bad + "\n");
    EXPECT_THAT(message, StartsWith("tern.conf:1: persistent_client_expiration: ")) << bad;
    EXPECT_THAT(message, HasSubstr("h, d, w, m (30 days) or y (365 days)")) << bad;
  }
  expect_error("persistent_client_expiration 14 d\n", 1,
               "persistent_client_expiration: unexpected 'd' after the value");
  EXPECT_EQ(error_of("persistent_client_expiration 14x\n"),
            "tern.conf:1: persistent_client_expiration: expected a positive integer followed by h, d, w, m (30 days) "
            "or y (365 days), such as '14d', got '14x'");
}

// ---- Logging ---------------------------------------------------------------------------------------------------

constexpr unsigned kError = 1, kWarning = 2, kNotice = 4, kInformation = 8, kDebug = 16;

TEST(ConfigLog, FirstLogTypeReplacesDefaultsLaterOnesAdd) {
  EXPECT_EQ(parse("log_type error\n").log.levels, kError);
  EXPECT_EQ(parse("log_type debug\nlog_type warning\n").log.levels, kDebug | kWarning);
  EXPECT_EQ(parse("log_type all\n").log.levels, kError | kWarning | kNotice | kInformation | kDebug);
  EXPECT_EQ(parse("log_type none\n").log.levels, 0u);
  EXPECT_EQ(parse("log_type all\nlog_type none\nlog_type notice\n").log.levels, kNotice);
  EXPECT_EQ(parse("log_type information\nlog_type information\n").log.levels, kInformation);
  EXPECT_EQ(parse("log_type notice\nlog_type error\nlog_type warning\nlog_type information\n").log.levels,
            kError | kWarning | kNotice | kInformation);
}

TEST(ConfigLog, MosquittoOnlyTypesEnableInformation) {
  EXPECT_EQ(parse("log_type subscribe\n").log.levels, kInformation);
  EXPECT_EQ(parse("log_type unsubscribe\n").log.levels, kInformation);
  EXPECT_EQ(parse("log_type websockets\n").log.levels, kInformation);
  EXPECT_EQ(parse("log_type error\nlog_type subscribe\n").log.levels, kError | kInformation);
}

TEST(ConfigLog, BadLogType) {
  expect_error("log_type verbose\n", 1, "log_type: expected error, warning, notice, information, debug");
  expect_error("log_type verbose\n", 1, "got 'verbose'");
  expect_error("log_type error warning\n", 1, "log_type: unexpected 'warning' after the value");
  expect_error("log_type Error\n", 1, "got 'Error'");
}

TEST(ConfigLog, LogDest) {
  EXPECT_EQ(parse("log_dest stderr\n").log.dests, (Dest::stderr_));
  EXPECT_EQ(parse("log_dest stdout\n").log.dests, (Dest::stdout_));
  EXPECT_EQ(parse("log_dest syslog\n").log.dests, (Dest::syslog));
  EXPECT_EQ(parse("log_dest none\n").log.dests, 0u);
  const auto c = parse("log_dest file /var/log/tern/tern.log\n");
  EXPECT_EQ(c.log.dests, (Dest::file));
  EXPECT_EQ(c.log.file, "/var/log/tern/tern.log");
  // As mosquitto, the path is the rest of the line.
  EXPECT_EQ(parse("log_dest file  /tmp/my logs/tern.log  \n").log.file, "/tmp/my logs/tern.log");
}

TEST(ConfigLog, SeveralLogDests) {
  // As mosquitto: the first log_dest replaces the default stderr, the next ones add, none clears them all.
  EXPECT_EQ(parse("log_dest stdout\nlog_dest stdout\n").log.dests, (Dest::stdout_));
  EXPECT_EQ(parse("log_dest stdout\n# x\nlog_dest syslog\n").log.dests, (Dest::stdout_ | Dest::syslog));
  const auto c = parse("log_dest file /var/log/tern.log\nlog_dest stderr\n");
  EXPECT_EQ(c.log.dests, (Dest::file | Dest::stderr_));
  EXPECT_EQ(c.log.file, "/var/log/tern.log");
  EXPECT_EQ(parse("log_dest stdout\nlog_dest none\nlog_dest syslog\n").log.dests, (Dest::syslog));
  EXPECT_EQ(parse("log_dest file /a\nlog_dest none\n").log.file, "");
  // log_dest topic is ignored (with a note): it neither replaces the default nor adds a destination.
  EXPECT_EQ(parse("log_dest topic\n").log.dests, (Dest::stderr_));
  EXPECT_EQ(parse("log_dest topic\nlog_dest stdout\n").log.dests, (Dest::stdout_));
  // One log file.
  EXPECT_EQ(parse("log_dest file /a\nlog_dest file /a\n").log.dests, (Dest::file));
  expect_error("log_dest file /a\nlog_dest file /b\n", 2, "log_dest: one log file only, and '/a' was given before");
}

TEST(ConfigLog, BadLogDest) {
  expect_error("log_dest file\n", 1, "log_dest: missing the path after 'file'");
  expect_error("log_dest file   \n", 1, "log_dest: missing the path after 'file'");
  expect_error("log_dest console\n", 1, "log_dest: expected stderr, stdout, syslog, none or file PATH, got 'console'");
}

// ---- Listeners -------------------------------------------------------------------------------------------------

TEST(ConfigFile, UnreadableFile) {
  try {
    load_config_file("/nonexistent/dir/tern.conf");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "cannot read /nonexistent/dir/tern.conf: No such file or directory");
  }
  try {
    load_config_file("/");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith("cannot read /: "));
  }
}

TEST(ConfigFile, ErrorsNameThePathAsGiven) {
  const std::string path = ::testing::TempDir() + "tern_config_test_bad.conf";
  std::ofstream(path) << "listener 1883\nmax_qos 3\n";
  try {
    load_config_file(path);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ":2: max_qos: expected an integer from 0 to 2, got '3'");
  }
  std::remove(path.c_str());
}

// ---- config/tern.conf ------------------------------------------------------------------------------------------

const std::string kTernConf = std::string(TERN_SOURCE_DIR) + "/config/tern.conf";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(TernConf, ParsesAndMatchesTheDocumentedDefaults) {
  const auto c = load_config_file(kTernConf);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_EQ(c.listeners[0].protocol, ListenerConfig::Protocol::mqtt);
  EXPECT_EQ(c.listeners[0].max_connections, -1);
  EXPECT_FALSE(c.listeners[0].domain.has_value());
  EXPECT_TRUE(c.broker.allow_anonymous);
  EXPECT_EQ(c.threads, 0u);
  expect_default_broker_options(c.broker);
  expect_default_log(c.log);
}

// Every directive appears as a commented-out line "#name" or "#name DEFAULT".
TEST(TernConf, DocumentsEveryDirective) {
  const auto text = read_file(kTernConf);
  for (const auto& d : config_directives()) {
    if (d.name == "listener") {
      EXPECT_THAT(text, HasSubstr("\nlistener 1883\n"));
      continue;
    }
    const std::regex line("(^|\n)#" + std::string(d.name) + "( [^\n]*)?\n");
    EXPECT_TRUE(std::regex_search(text, line)) << d.name << " is not documented in config/tern.conf";
  }
}

// Uncommenting every "#name VALUE" line must not change anything: the values shown are the real defaults.
TEST(TernConf, UncommentedDefaultsAreTheDefaults) {
  std::set<std::string> names;
  for (const auto& d : config_directives()) names.insert(std::string(d.name));
  std::istringstream in(read_file(kTernConf));
  std::string text, line;
  int uncommented = 0;
  const std::regex directive("#([a-z_0-9]+) .+");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, directive) && names.count(m[1])) {
      line = line.substr(1);
      ++uncommented;
    }
    text += line + '\n';
  }
  EXPECT_GE(uncommented, 18);
  const auto c = parse_config(text, "tern.conf (uncommented)");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].max_connections, -1);
  EXPECT_TRUE(c.broker.allow_anonymous);  // the active line comes after the commented default
  EXPECT_EQ(c.threads, 0u);
  expect_default_broker_options(c.broker);
  expect_default_log(c.log);
}

}  // namespace
}  // namespace tern

namespace tern {
namespace {

TEST(ConfigHttpListener, PortAndAddress) {
  EXPECT_FALSE(parse_config("", "tern.conf").http_listener.has_value());
  EXPECT_EQ(parse_config("http_listener 9100\n", "tern.conf").http_listener, (Config::HttpListener{9100, ""}));
  EXPECT_EQ(parse_config("http_listener 0 127.0.0.1\n", "tern.conf").http_listener,
            (Config::HttpListener{0, "127.0.0.1"}));
  EXPECT_THROW(parse_config("http_listener\n", "tern.conf"), ConfigError);
  EXPECT_THROW(parse_config("http_listener 70000\n", "tern.conf"), ConfigError);
  EXPECT_THROW(parse_config("http_listener 9100 127.0.0.1 extra\n", "tern.conf"), ConfigError);
}

}  // namespace
TEST(ConfigGeneral, DeadLetters) {
  EXPECT_TRUE(parse("").broker.dead_letter_topic.empty());
  EXPECT_EQ(parse("").broker.dead_letter_rate, 100u);
  const auto c = parse("dead_letter_topic gateway/dead\ndead_letter_rate 0\n");
  EXPECT_EQ(c.broker.dead_letter_topic, "gateway/dead");
  EXPECT_EQ(c.broker.dead_letter_rate, 0u);
  EXPECT_EQ(error_of("dead_letter_topic dead/#\n"),
            "tern.conf:1: dead_letter_topic: 'dead/#' is not a topic name without wildcards and trailing '/'");
  EXPECT_EQ(error_of("dead_letter_topic dead/\n"),
            "tern.conf:1: dead_letter_topic: 'dead/' is not a topic name without wildcards and trailing '/'");
  EXPECT_NE(error_of("dead_letter_rate -1\n"), "");
}

}  // namespace tern
