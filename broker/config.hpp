// The typed configuration and its parser.
//
// The file format is mosquitto.conf's: one directive per line, `#` starts a comment line, blank lines are ignored.
// `listener PORT [ADDRESS]` starts a listener section; per-listener directives that follow apply to it. An unknown
// directive or a bad value is an error naming the file and line ("tern.conf:12: max_keepalive: expected an
// integer from 0 to 65535, got 'x'"), never silently ignored; so is a mosquitto directive Tern does not support
// yet ("'connection' is not supported yet"). A scalar given twice takes the last value, as in mosquitto.
//
// A mosquitto directive that cannot mean in Tern what it means in mosquitto (a C plugin, an OpenSSL engine) is
// accepted, and the parser records a note that says what Tern does instead ("FILE:LINE: plugin ...: ..."); the server
// logs the notes at start-up and `tern --test-config` prints them. Unknown names (typos) stay errors.
//
// mosquitto's deprecated `port` and `bind_address`, and per-listener directives given before the first `listener`
// line, configure mosquitto's "default listener" (port 1883 on every address unless they say otherwise), which is
// added after the listeners the file defines.
//
// With no `listener` line the config is mosquitto 2.0's "local only mode": one listener on 127.0.0.1:1883, and
// allow_anonymous defaults to true. With any listener, allow_anonymous defaults to false (for each listener, with
// per_listener_settings true). config/tern.conf documents
// every directive with its default.
//
// Thread safety: a plain value type; parse functions are stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/auth/security_settings.hpp"
#include "broker/bridge/bridge_settings.hpp"
#include "broker/core/broker_options.hpp"
#include "broker/edge/rule_set.hpp"
#include "broker/net/listener_config.hpp"
#include "platform/log.hpp"
#include "tls/tls_settings.hpp"

namespace tern {

// A warning or a note about an accepted directive: "FILE:LINE: what Tern does instead".
struct ConfigNote {
  platform::LogLevel level;  // warning: the directive has no effect or a different one; information: same effect
  std::string text;
  bool operator==(const ConfigNote&) const = default;
};

struct Config {
  std::vector<ListenerConfig> listeners;
  core::BrokerOptions broker;
  // allow_anonymous, password_file, acl_file for every listener (per_listener_settings false, the default).
  auth::SecuritySettings security;
  bool per_listener_settings = false;
  // The settings that apply to `listener`.
  const auth::SecuritySettings& security_of(const ListenerConfig& listener) const {
    return listener.security ? *listener.security : security;
  }
  unsigned threads = 0;  // threads (tern): 0 = one per core
  std::string pid_file;  // pid_file: written at start-up, removed at exit; empty: none
  // user: when started as root, run as this user once the listeners are bound and the pid file, log file and
  // database are open (setgid, initgroups, setuid); empty or "root": stay root. Ignored when not started as root.
  std::string user;
  // http_listener PORT [ADDRESS] (Tern's own): serves GET /metrics (Prometheus) and /healthz; none by default.
  struct HttpListener {
    std::uint16_t port = 0;
    std::string address;  // empty: every address
    bool operator==(const HttpListener&) const = default;
  };
  std::optional<HttpListener> http_listener;
  unsigned sys_interval = 10;  // sys_interval (seconds) between $SYS updates; 0: no $SYS
  // websockets_headers_size: the largest WebSocket upgrade request header (global in mosquitto); 0: the default
  // (4096), copied into every websockets listener.
  std::size_t websockets_headers_size = 0;
  // connection NAME and the bridge directives after it, in file order.
  std::vector<bridge::BridgeSettings> bridges;

  // rule NAME blocks and the rules of rules_file lines (Tern's own), in file order; compiled, ready for a RuleSet.
  std::vector<edge::Rule> rules;
  // The file the config was read from (load_config_file): read again on SIGHUP for the rules. Empty: none.
  std::string source;

  std::vector<ConfigNote> notes;  // in file order

  // persistence, persistence_location, persistence_file (mosquitto's names), persistence_sync (Tern).
  struct Persistence {
    bool enabled = false;
    std::string location;  // a directory; empty: the working directory
    std::string file = "tern.db";
    bool sync_full = true;  // full: fsync before acknowledging; normal: survives a crash, not a power cut
  } persistence;

  // log_type / log_dest / log_timestamp / log_timestamp_format / log_facility / connection_messages, with
  // mosquitto's meanings. Default: error, warning, notice, information to stderr.
  platform::LogSettings log;
};

// Thrown by the parser: what() is "FILE:LINE: message".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a config file. `name` is used in error messages.
Config parse_config(const std::string& text, const std::string& name);
Config load_config_file(const std::string& path);  // reads and parses; ConfigError when unreadable

// One entry of the parser's directive table, for documentation and for tests that check config/tern.conf
// documents every directive.
struct DirectiveInfo {
  std::string_view name;
  bool per_listener;     // applies to the latest `listener` section
  bool takes_value;      // false for the one directive written alone (drop)
  std::string_view doc;  // one line
};
std::vector<DirectiveInfo> config_directives();

// The quick-start configuration for `tern -p PORT`: one plain listener on all addresses, anonymous clients allowed.
Config quick_start_config(std::uint16_t port);

}  // namespace tern
