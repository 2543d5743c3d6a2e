// mosquitto 2.0's operational directives and those Tern accepts with a note (broker/config_compat.cpp).
#include "broker/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using platform::LogLevel;
using testing::config_error_of;

Config parse(const std::string& text) { return parse_config(text, "tern.conf"); }

// The one note parsing `text` records.
ConfigNote only_note(const std::string& text) {
  const auto c = parse(text);
  EXPECT_EQ(c.notes.size(), 1u) << text;
  return c.notes.empty() ? ConfigNote{} : c.notes.front();
}

TEST(ConfigCompat, PortAloneIsOneListenerOnEveryAddress) {
  const auto c = parse("port 1884\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1884);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_FALSE(c.broker.allow_anonymous);  // not local only mode, as mosquitto
  EXPECT_TRUE(c.notes.empty());
}

TEST(ConfigCompat, BindAddressAloneListensOn1883There) {
  const auto c = parse("bind_address 192.0.2.7\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].bind_address, "192.0.2.7");
}

TEST(ConfigCompat, DefaultListenerGoesAfterTheFilesListeners) {
  // The old form many guides still show: port for plain MQTT, then a listener with its own settings. port may
  // come anywhere, as in mosquitto; per-listener lines before the first listener are the default listener's.
  const auto c = parse(
      "max_connections 5\n"
      "listener 8883 127.0.0.1\n"
      "max_connections 7\n"
      "port 1884\n"
      "bind_address ::1\n");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 8883);
  EXPECT_EQ(c.listeners[0].max_connections, 7);
  EXPECT_EQ(c.listeners[1].port, 1884);
  EXPECT_EQ(c.listeners[1].bind_address, "::1");
  EXPECT_EQ(c.listeners[1].max_connections, 5);
}

TEST(ConfigCompat, DefaultListenerTls) {
  const auto c = parse("port 8883\ncertfile /c.pem\nkeyfile /k.pem\ntls_version tlsv1.2\n");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 8883);
  EXPECT_TRUE(c.listeners[0].tls.enabled());
  EXPECT_EQ(c.listeners[0].tls.keyfile, "/k.pem");
}

TEST(ConfigCompat, PortErrors) {
  EXPECT_EQ(config_error_of("port 70000\n"), "tern.conf:1: port: expected an integer from 0 to 65535, got '70000'");
  EXPECT_EQ(config_error_of("port 1883 1884\n"), "tern.conf:1: port: unexpected '1884' after the value");
  EXPECT_EQ(config_error_of("bind_address /run/mqtt.sock\n"),
            "tern.conf:1: bind_address: unix sockets are not supported yet");
  // The same port and address twice could never both bind.
  EXPECT_THAT(config_error_of("port 1883\nlistener 1883\n"),
              StartsWith("tern.conf:1: the default listener (port 1883, set by port"));
  EXPECT_EQ(parse("port 1883\nlistener 1883 127.0.0.1\n").listeners.size(), 2u);
}

TEST(ConfigCompat, BindInterface) {
  const auto c = parse("listener 1883\nbind_interface eth0\nlistener 1884\n");
  EXPECT_EQ(c.listeners[0].bind_interface, "eth0");
  EXPECT_EQ(c.listeners[1].bind_interface, "");
  EXPECT_EQ(parse("bind_interface lo\n").listeners.at(0).bind_interface, "lo");  // the default listener's
  EXPECT_EQ(config_error_of("listener 1883\nbind_interface a-name-far-too-long\n"),
            "tern.conf:2: bind_interface: expected a network interface name, got 'a-name-far-too-long'");
}

TEST(ConfigCompat, User) {
  EXPECT_EQ(parse("").user, "");
  EXPECT_EQ(parse("user mosquitto\n").user, "mosquitto");
  EXPECT_EQ(config_error_of("user a b\n"), "tern.conf:1: user: unexpected 'b' after the value");
}

TEST(ConfigCompat, Logging) {
  const auto c = parse(
      "log_timestamp_format %Y-%m-%d %H:%M:%S\nlog_facility 5\nconnection_messages false\n");
  EXPECT_EQ(c.log.timestamp_format, "%Y-%m-%d %H:%M:%S");  // the rest of the line, spaces included
  EXPECT_EQ(c.log.syslog_facility, 5);
  EXPECT_FALSE(c.log.connection_messages);
  const auto d = parse("");
  EXPECT_EQ(d.log.timestamp_format, "");
  EXPECT_EQ(d.log.syslog_facility, -1);
  EXPECT_TRUE(d.log.connection_messages);
  EXPECT_EQ(config_error_of("log_facility 8\n"), "tern.conf:1: log_facility: expected 0 to 7 (LOCAL0 to LOCAL7), got '8'");
  EXPECT_EQ(config_error_of("connection_messages yes\n"),
            "tern.conf:1: connection_messages: expected true or false, got 'yes'");
}

TEST(ConfigCompat, LogDestTopicAndDltAreNotedAndLeaveTheDestination) {
  const auto c = parse("log_dest stdout\nlog_dest topic\n");
  EXPECT_EQ(c.log.dests, platform::LogSettings::Dest::stdout_);
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_THAT(c.notes[0].text, StartsWith("tern.conf:2: log_dest topic: Tern does not publish its log"));
  EXPECT_THAT(only_note("log_dest dlt\n").text, HasSubstr("does not log to DLT"));
}

// Accepted with a note that says what Tern does instead; each value is still checked.
TEST(ConfigCompat, AcceptedWithANote) {
  struct Case {
    const char* text;
    LogLevel level;
    const char* says;
  };
  const Case cases[] = {
      {"set_tcp_nodelay false\n", LogLevel::information, "always sets TCP_NODELAY"},
      {"autosave_on_changes true\n", LogLevel::information, "commits every change"},
      {"allow_duplicate_messages true\n", LogLevel::warning, "receives each message once"},
      {"retry_interval 20\n", LogLevel::warning, "when the client reconnects"},
      {"websockets_log_level 255\n", LogLevel::information, "libwebsockets' log bit mask"},
      {"listener 1883\nhttp_dir /var/www\n", LogLevel::information, "no effect on an mqtt listener"},
      {"listener 8883\ncertfile c\nkeyfile k\ndhparamfile /etc/dh.pem\n", LogLevel::warning, "ECDHE"},
      {"listener 8883\ncertfile c\nkeyfile k\nciphers_tls1.3 TLS_AES_128_GCM_SHA256\n", LogLevel::warning,
       "TLS 1.2 only"},
      {"listener 8883\ncertfile c\nkeyfile k\ntls_engine pkcs11\n", LogLevel::warning, "OpenSSL engines"},
      {"listener 8883\ncertfile c\nkeyfile k\ntls_keyform engine\n", LogLevel::warning, "OpenSSL engines"},
      {"listener 8883\ncertfile c\nkeyfile k\ntls_engine_kpass_sha1 a9993e364706816aba3e25717850c26c9cd0d89d\n",
       LogLevel::warning, "OpenSSL engines"},
  };
  for (const Case& t : cases) {
    SCOPED_TRACE(t.text);
    const auto note = only_note(t.text);
    EXPECT_EQ(note.level, t.level);
    EXPECT_THAT(note.text, HasSubstr(t.says));
    EXPECT_THAT(note.text, StartsWith("tern.conf:"));
  }
  // What equals Tern's behaviour says nothing.
  EXPECT_TRUE(parse("set_tcp_nodelay true\nsys_interval 0\ntls_keyform pem\n").notes.empty());
  EXPECT_TRUE(parse("sys_interval 10\n").notes.empty());  // $SYS is published: nothing to say
  EXPECT_EQ(parse("").sys_interval, 10u);                   // mosquitto's default
  EXPECT_EQ(parse("sys_interval 30\n").sys_interval, 30u);
  // Bad values are still errors.
  EXPECT_EQ(config_error_of("sys_interval 70000\n"),
            "tern.conf:1: sys_interval: expected an integer from 0 to 65535, got '70000'");
  EXPECT_EQ(config_error_of("autosave_on_changes 1\n"),
            "tern.conf:1: autosave_on_changes: expected true or false, got '1'");
  EXPECT_EQ(config_error_of("listener 1\ntls_keyform der\n"), "tern.conf:2: tls_keyform: expected pem or engine, got 'der'");
  EXPECT_THAT(config_error_of("listener 1\ntls_engine_kpass_sha1 abc\n"), HasSubstr("40 hexadecimal digits"));
  EXPECT_EQ(config_error_of("websockets_headers_size 65536\n"),
            "tern.conf:1: websockets_headers_size: expected an integer from 0 to 65535, got '65536'");
}

// protocol websockets and its settings, mosquitto's and Tern's.
TEST(ConfigCompat, WebSocketsListeners) {
  const auto c = parse("websockets_headers_size 8192\n"
                       "listener 9001\nhttp_dir /srv/www\nprotocol websockets\n"
                       "listener 9002\nprotocol websockets\nwebsockets_path /mqtt\nwebsockets_compression true\n"
                       "listener 1883\n");
  ASSERT_EQ(c.listeners.size(), 3u);
  using Protocol = ListenerConfig::Protocol;
  EXPECT_EQ(c.listeners[0].protocol, Protocol::websockets);
  EXPECT_EQ(c.listeners[0].websockets.http_dir, "/srv/www");  // http_dir may come before protocol
  EXPECT_EQ(c.listeners[0].websockets.headers_size, 8192u);
  EXPECT_FALSE(c.listeners[0].websockets.compression);
  EXPECT_EQ(c.listeners[1].websockets.path, "/mqtt");
  EXPECT_TRUE(c.listeners[1].websockets.compression);
  EXPECT_EQ(c.listeners[2].protocol, Protocol::mqtt);
  EXPECT_TRUE(c.notes.empty());
  EXPECT_EQ(parse("listener 9001\nprotocol websockets\n").listeners[0].websockets.headers_size, 4096u);
  EXPECT_EQ(parse("websockets_headers_size 0\nlistener 9001\nprotocol websockets\n").listeners[0].websockets.headers_size,
            4096u);
  EXPECT_EQ(config_error_of("listener 1\nprotocol http\n"), "tern.conf:2: protocol: expected mqtt or websockets, got 'http'");
  EXPECT_THAT(config_error_of("listener 1\nprotocol websockets\nwebsockets_path mqtt\n"), HasSubstr("starts with /"));
  EXPECT_THAT(config_error_of("listener 1\nwebsockets_compression true\n"), HasSubstr("need protocol websockets"));
}

// A plugin cannot be loaded: a warning, its options accepted, and the settings it belonged to refuse usernames
// unless a password_file replaces it (see config_compat.cpp).
TEST(ConfigCompat, PluginsAreIgnoredAndFailClosed) {
  const auto c = parse(
      "plugin /usr/lib/mosquitto_dynamic_security.so\n"
      "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json\n"
      "auth_plugin_deny_special_chars true\n"
      "listener 1883\n");
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_EQ(c.notes[0].level, LogLevel::warning);
  EXPECT_THAT(c.notes[0].text, StartsWith("tern.conf:1: plugin /usr/lib/mosquitto_dynamic_security.so: Tern cannot "
                                          "load mosquitto plugins"));
  EXPECT_THAT(c.notes[1].text, HasSubstr("every client with a username is refused"));
  EXPECT_EQ(c.security.password_file, "/dev/null");  // no users: every username refused

  // With a password file, that file decides, as it would have beside the plugin.
  const auto d = parse("auth_plugin /usr/lib/go-auth.so\nauth_opt_backends files\npassword_file /etc/pw\n");
  EXPECT_EQ(d.security.password_file, "/etc/pw");
  EXPECT_EQ(d.notes.size(), 1u);

  // Per listener, only the listener the plugin follows.
  const auto e = parse(
      "per_listener_settings true\nlistener 1883\nplugin /p.so\nlistener 1884\nallow_anonymous true\n");
  EXPECT_EQ(e.security_of(e.listeners[0]).password_file, "/dev/null");
  EXPECT_EQ(e.security_of(e.listeners[1]).password_file, "");

  EXPECT_EQ(parse("global_plugin /p.so\nglobal_plugin_opt_x 1\n").notes.size(), 2u);
  EXPECT_EQ(config_error_of("auth_opt_backends files\n"),
            "tern.conf:1: auth_opt_backends: an option of a plugin, and no plugin line precedes it (as mosquitto "
            "requires)");
  EXPECT_EQ(config_error_of("plugin /p.so\nplugin_opt_ x\n"),
            "tern.conf:2: plugin_opt_: the option's name is missing after the prefix");
  EXPECT_EQ(config_error_of("plugin /p.so\nplugin_opt_x\n"), "tern.conf:2: missing value for plugin_opt_x");
  EXPECT_EQ(config_error_of("auth_plugin_deny_special_chars true\n"),
            "tern.conf:1: auth_plugin_deny_special_chars must follow a plugin line (as in mosquitto)");
  // A prefix alone does not make a near-miss valid.
  EXPECT_THAT(config_error_of("plugin_options x\n"), StartsWith("tern.conf:1: unknown directive 'plugin_options'"));
}

// The limits the broker core applies (the core's tests check what they do); 0 means no limit.
TEST(ConfigCompat, CoreLimits) {
  const auto applied =
      parse("message_size_limit 1000\nupgrade_outgoing_qos true\nmax_inflight_bytes 2000\nmemory_limit 64000000\n");
  EXPECT_EQ(applied.broker.message_size_limit, 1000u);
  EXPECT_TRUE(applied.broker.upgrade_outgoing_qos);
  EXPECT_EQ(applied.broker.max_inflight_bytes, 2000u);
  EXPECT_EQ(applied.broker.memory_limit, 64000000u);
  EXPECT_TRUE(applied.notes.empty());
  EXPECT_EQ(config_error_of("message_size_limit big\n"),
            "tern.conf:1: message_size_limit: expected an integer from 0 to 268435455, got 'big'");
  EXPECT_EQ(config_error_of("memory_limit 64M\n"),
            "tern.conf:1: memory_limit: expected an integer from 0 to 9223372036854775807, got '64M'");
  const auto c = parse("message_size_limit 0\nmax_inflight_bytes 0\nmemory_limit 0\nupgrade_outgoing_qos false\n");
  EXPECT_EQ(c.broker.memory_limit, 0u);
  EXPECT_TRUE(c.notes.empty());
}

// mount_point: per listener, checked as mosquitto checks it (a topic name: no wildcard), and UTF-8.
TEST(ConfigCompat, MountPoint) {
  const auto c = parse("listener 1883\nmount_point site1/\nlistener 1884\n");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].mount_point, "site1/");
  EXPECT_EQ(c.listeners[1].mount_point, "");
  EXPECT_TRUE(c.notes.empty());
  // Before any listener line it belongs to the default listener, as the other listener settings.
  const auto d = parse("mount_point gw/\n");
  ASSERT_EQ(d.listeners.size(), 1u);
  EXPECT_EQ(d.listeners[0].mount_point, "gw/");
  EXPECT_EQ(d.listeners[0].port, 1883);
  // Without a trailing '/' the topics are joined as they are: accepted, with a note that says so.
  const auto e = parse("listener 1883\nmount_point site1\n");
  EXPECT_EQ(e.listeners[0].mount_point, "site1");
  ASSERT_EQ(e.notes.size(), 1u);
  EXPECT_EQ(e.notes[0].level, platform::LogLevel::information);
  EXPECT_THAT(e.notes[0].text, StartsWith("tern.conf:2: mount_point site1 does not end with '/'"));
  for (const std::string bad : {"a/#", "a/+/b", "+", "#", "\xff/"}) {
    EXPECT_EQ(config_error_of("listener 1883\nmount_point " + bad + "\n"),
              "tern.conf:2: mount_point: expected a topic prefix (UTF-8, no + or #), got '" + bad + "'");
  }
  EXPECT_EQ(config_error_of("listener 1883\nmount_point a/ b/\n"),
            "tern.conf:2: mount_point: unexpected 'b/' after the value");
}

}  // namespace
}  // namespace tern
