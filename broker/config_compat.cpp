// mosquitto 2.0's operational directives (port, bind_address, bind_interface, user, log_timestamp_format,
// log_facility, connection_messages, sys_interval, message_size_limit, upgrade_outgoing_qos, max_inflight_bytes,
// memory_limit, mount_point), and the mosquitto directives Tern accepts with a note that says what it does instead
// (plugins, OpenSSL engines, websockets_log_level, options mosquitto itself deprecated).
//
// Values are checked as strictly as the rest of the file: a directive accepted with a note still needs a valid value,
// so that the note is the only difference from mosquitto.
#include <cctype>
#include <limits>
#include <string>

#include "broker/config_context.hpp"
#include "broker/protocol/codec.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::config_detail {
namespace {

using platform::LogLevel;

std::string path_of(std::string_view value) { return std::string(platform::trim(value)); }

}  // namespace

void apply_port(Context& c, std::string_view value) {
  // mosquitto refuses 0; Tern lets the kernel pick, as with `listener 0`.
  c.default_listener().port = static_cast<std::uint16_t>(c.integer(value, 0, 65535));
}

void apply_bind_address(Context& c, std::string_view value) {
  const auto address = c.single(value);
  if (address.front() == '/') c.fail("bind_address: unix sockets are not supported yet");
  c.default_listener().bind_address = std::string(address);
}

void apply_bind_interface(Context& c, std::string_view value) {
  const auto name = c.single(value);
  // IFNAMSIZ is 16 with the terminating NUL; '/' and blanks never occur in an interface name.
  if (name.size() > 15 || name.find('/') != std::string_view::npos) c.bad_value("a network interface name", name);
  c.listener().bind_interface = std::string(name);
}

void apply_user(Context& c, std::string_view value) { c.config().user = std::string(c.single(value)); }

void apply_set_tcp_nodelay(Context& c, std::string_view value) {
  if (!c.boolean(value)) {
    c.note(LogLevel::information,
           "set_tcp_nodelay false: Tern always sets TCP_NODELAY on client sockets; it gathers each client's output "
           "into one write per turn itself, so Nagle's algorithm would only add delay");
  }
}

void apply_log_timestamp_format(Context& c, std::string_view value) {
  // The rest of the line, as mosquitto takes it: a format may contain spaces.
  c.config().log.timestamp_format = std::string(platform::trim(value));
}

void apply_log_facility(Context& c, std::string_view value) {
  c.config().log.syslog_facility = static_cast<int>(c.integer(value, 0, 7, "0 to 7 (LOCAL0 to LOCAL7)"));
}

void apply_connection_messages(Context& c, std::string_view value) {
  c.config().log.connection_messages = c.boolean(value);
}

void apply_autosave_on_changes(Context& c, std::string_view value) {
  c.boolean(value);
  c.note(LogLevel::information,
         "autosave_on_changes: Tern commits every change to the database as it happens, so there is no snapshot "
         "to trigger; accepted, no effect");
}

void apply_allow_duplicate_messages(Context& c, std::string_view value) {
  c.boolean(value);
  c.note(LogLevel::warning,
         "allow_duplicate_messages is deprecated in mosquitto and has no effect in Tern: a client whose "
         "subscriptions overlap receives each message once, at the highest QoS they grant");
}

void apply_retry_interval(Context& c, std::string_view value) {
  c.integer(value, 0, std::numeric_limits<std::uint32_t>::max());
  c.note(LogLevel::warning,
         "retry_interval was removed from mosquitto and has no effect: unacknowledged QoS 1 and 2 messages are sent "
         "again when the client reconnects, as MQTT 3.1.1 and 5.0 require");
}

void apply_sys_interval(Context& c, std::string_view value) {
  const auto seconds = c.integer(value, 0, 65535);
  c.config().sys_interval = static_cast<unsigned>(seconds);
}

// plugin / auth_plugin / global_plugin PATH. Tern cannot load mosquitto's plugins (C shared objects written against
// mosquitto's internals). A plugin usually decides who may log in; without it mosquitto's rule "no password_file:
// any username is accepted" would let everyone in, so the security settings the plugin belonged to refuse every
// username unless they also have a password_file (finish_plugins). Anonymous clients follow allow_anonymous, and
// certificate or PSK identities (use_identity_as_username) are still accepted.
void apply_plugin(Context& c, std::string_view value) {
  const std::string path = path_of(value);
  if (c.plugin_line == 0) c.plugin_line = c.line();
  if (c.config().per_listener_settings && !c.config().listeners.empty()) {
    c.plugin_listeners.push_back(c.config().listeners.size() - 1);
  } else {
    c.plugin_global = true;
  }
  c.security();  // with per_listener_settings, a plugin belongs to a listener: checked as for password_file
  c.note(LogLevel::warning,
         "plugin " + path +
             ": Tern cannot load mosquitto plugins, so it is ignored with its options. Tern authenticates with "
             "password_file (written by 'tern passwd') and authorizes with acl_file; without a password_file, "
             "clients with a username are refused where this plugin would have decided");
}

void apply_plugin_deny_special_chars(Context& c, std::string_view value) {
  if (c.plugin_line == 0) c.fail("auth_plugin_deny_special_chars must follow a plugin line (as in mosquitto)");
  c.boolean(value);
}

bool apply_plugin_option(Context& c, std::string_view name, std::string_view value) {
  std::string_view prefix;
  for (const std::string_view p : {"plugin_opt_", "auth_opt_", "global_plugin_opt_"}) {
    if (name.starts_with(p)) prefix = p;
  }
  if (prefix.empty()) return false;
  if (name.size() == prefix.size()) c.fail(std::string(name) + ": the option's name is missing after the prefix");
  if (c.plugin_line == 0) {
    c.fail(std::string(name) + ": an option of a plugin, and no plugin line precedes it (as mosquitto requires)");
  }
  if (value.empty()) c.fail("missing value for " + std::string(name));
  return true;  // the plugin line's warning covers its options
}

void finish_plugins(Context& c) {
  if (c.plugin_line == 0) return;
  constexpr const char* kNowhere = "/dev/null";  // a password file with no users: every username is refused
  auto refuse_usernames = [&](auth::SecuritySettings& settings, const std::string& where) {
    if (!settings.password_file.empty()) return;
    settings.password_file = kNowhere;
    c.config().notes.push_back(
        {LogLevel::warning, c.file() + ':' + std::to_string(c.plugin_line) + ": " + where +
                                ": no password_file to replace the ignored plugin: every client with a username is "
                                "refused (add password_file, or remove the plugin line)"});
  };
  if (c.plugin_global) refuse_usernames(c.config().security, "every listener");
  for (const std::size_t i : c.plugin_listeners) {
    auto& listener = c.config().listeners[i];
    if (listener.security) refuse_usernames(*listener.security, "listener " + std::to_string(listener.port));
  }
}

void apply_websockets_log_level(Context& c, std::string_view value) {
  c.integer(value, 0, std::numeric_limits<std::int32_t>::max());
  c.note(LogLevel::information,
         "websockets_log_level is libwebsockets' log bit mask in mosquitto; no effect: Tern logs WebSocket upgrades "
         "and their failures (notice) and files served (information) as its other connection events");
}

void apply_websockets_headers_size(Context& c, std::string_view value) {
  c.config().websockets_headers_size = static_cast<std::size_t>(c.integer(value, 0, 65535));
}

void apply_http_dir(Context& c, std::string_view value) { c.listener().websockets.http_dir = path_of(value); }

void finish_websockets(Context& c) {
  Config& config = c.config();
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    auto& listener = config.listeners[i];
    // "FILE:LINE: listener PORT" (the default listener has no line of its own).
    const std::string where = (i < c.listener_lines.size()
                                   ? c.listener_lines[i].first + ':' + std::to_string(c.listener_lines[i].second) + ": "
                                   : std::string()) +
                              "listener " + std::to_string(listener.port);
    auto& ws = listener.websockets;
    if (listener.protocol == ListenerConfig::Protocol::websockets) {
      if (config.websockets_headers_size != 0) ws.headers_size = config.websockets_headers_size;
      continue;
    }
    if (!ws.http_dir.empty()) {
      config.notes.push_back({LogLevel::information, where + ": http_dir has no effect on an mqtt listener (as in "
                                                                 "mosquitto): it is served by websockets listeners"});
    }
    if (!ws.path.empty() || ws.compression) {
      throw ConfigError(where + ": websockets_path and websockets_compression need protocol websockets");
    }
  }
}

void apply_dhparamfile(Context& c, std::string_view value) {
  c.note(LogLevel::warning,
         "dhparamfile " + path_of(value) +
             " is not read: Tern's TLS (mbedTLS) uses ECDHE key exchange and offers no DHE cipher suites");
}

void apply_ciphers_tls13(Context& c, std::string_view value) {
  c.single(value);
  c.note(LogLevel::warning,
         "ciphers_tls1.3 has no effect: Tern's TLS speaks TLS 1.2 only; its cipher suites are chosen with ciphers");
}

void apply_tls_engine(Context& c, std::string_view value) {
  c.note(LogLevel::warning, "tls_engine " + std::string(c.single(value)) +
                                ": Tern cannot use OpenSSL engines (its TLS is mbedTLS); ignored, the private key is "
                                "read from keyfile as PEM");
}

void apply_tls_engine_kpass_sha1(Context& c, std::string_view value) {
  const auto hex = c.single(value);
  const bool sha1 = hex.size() == 40 && std::all_of(hex.begin(), hex.end(), [](char ch) {
                      return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
                    });
  if (!sha1) c.bad_value("a SHA-1 hash in 40 hexadecimal digits", hex);
  c.note(LogLevel::warning, "tls_engine_kpass_sha1: Tern cannot use OpenSSL engines; ignored");
}

void apply_tls_keyform(Context& c, std::string_view value) {
  const auto form = c.single(value);
  if (form != "pem" && form != "engine") c.bad_value("pem or engine", form);
  if (form == "engine") {
    c.note(LogLevel::warning,
           "tls_keyform engine: Tern cannot use OpenSSL engines; keyfile is read as a PEM private key file");
  }
}

void apply_message_size_limit(Context& c, std::string_view value) {
  // mosquitto: MQTT_MAX_PAYLOAD, the largest payload a packet can carry.
  c.config().broker.message_size_limit = static_cast<std::uint32_t>(c.integer(value, 0, 268435455));
}

void apply_max_inflight_bytes(Context& c, std::string_view value) {
  // mosquitto: a ssize_t.
  c.config().broker.max_inflight_bytes = c.integer(value, 0, std::numeric_limits<std::int64_t>::max());
}

void apply_memory_limit(Context& c, std::string_view value) {
  // mosquitto: a ssize_t.
  c.config().broker.memory_limit = c.integer(value, 0, std::numeric_limits<std::int64_t>::max());
}

void apply_mount_point(Context& c, std::string_view value) {
  // mosquitto checks it as a topic name (mosquitto_pub_topic_check): no wildcard, at most 65535 bytes; and a topic
  // must be UTF-8.
  const auto prefix = c.single(value);
  if (!protocol::valid_topic_name(prefix) || !protocol::valid_utf8(prefix)) {
    c.bad_value("a topic prefix (UTF-8, no + or #)", prefix);
  }
  c.listener().mount_point = std::string(prefix);
  if (!prefix.ends_with('/')) {
    c.note(LogLevel::information, "mount_point " + std::string(prefix) +
                                      " does not end with '/': a client's topic is appended to it as it is (a -> " +
                                      std::string(prefix) + "a), as in mosquitto");
  }
}

void apply_upgrade_outgoing_qos(Context& c, std::string_view value) {
  c.config().broker.upgrade_outgoing_qos = c.boolean(value);
}

}  // namespace tern::config_detail
