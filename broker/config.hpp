// The typed configuration and its parser.
//
// The file format is mosquitto.conf's: one directive per line, `#` starts a comment line, blank lines are ignored.
// `listener PORT [ADDRESS]` starts a listener section; per-listener directives that follow apply to it. An unknown
// directive or a bad value is an error naming the file and line ("tern.conf:12: max_keepalive: expected an
// integer from 0 to 65535, got 'x'"), never silently ignored; so is a mosquitto directive Tern does not support
// yet ("'certfile' is not supported yet"). A scalar given twice takes the last value, as in mosquitto.
//
// With no `listener` line the config is mosquitto 2.0's "local only mode": one listener on 127.0.0.1:1883, and
// allow_anonymous defaults to true. With any listener, allow_anonymous defaults to false. config/tern.conf documents
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

#include "broker/core/broker_options.hpp"
#include "platform/log.hpp"

namespace tern {

struct ListenerConfig {
  std::uint16_t port = 1883;  // 0: the kernel picks one (logged as "listening on ADDRESS:PORT")
  std::string bind_address;   // empty: every address, IPv4 and IPv6
  enum class Protocol { mqtt, websockets } protocol = Protocol::mqtt;  // protocol
  int max_connections = -1;                                            // max_connections; -1: no limit
  enum class Domain { ipv4, ipv6 };
  std::optional<Domain> domain;  // socket_domain; nullopt: both IPv4 and IPv6
  // TLS settings (certfile, keyfile, cafile, ...) are added by the TLS work.
};

struct Config {
  std::vector<ListenerConfig> listeners;
  core::BrokerOptions broker;
  unsigned threads = 0;  // threads (tern): 0 = one per core

  // log_type / log_dest / log_timestamp, with mosquitto's meanings. Default: error, warning, notice, information
  // to stderr.
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
  std::string_view doc;  // one line
};
std::vector<DirectiveInfo> config_directives();

// The quick-start configuration for `tern -p PORT`: one plain listener on all addresses, anonymous clients allowed.
Config quick_start_config(std::uint16_t port);

}  // namespace tern
