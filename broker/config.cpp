// The config file parser: a table of directives, each with its scope, one function that parses, validates and
// assigns its value, and a line of documentation. parse_config() only splits lines and dispatches through the table.
//
// Value syntax follows mosquitto.conf: values are separated by spaces or tabs; integers are plain decimal digits;
// booleans are `true` or `false`. Unlike mosquitto, Tern rejects what mosquitto silently ignores (trailing tokens,
// out-of-range numbers, trailing garbage after a number), because a setting that did not take effect is worse than a
// broker that refuses to start.
#include "broker/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <vector>

#include "broker/config_context.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/text_file.hpp"

namespace tern {
namespace {

using platform::LogLevel;
using platform::LogSettings;

using platform::next_token;
using platform::trim;
using namespace config_detail;

constexpr unsigned kAllLevels = 1 | 2 | 4 | 8 | 16;

void apply_log_type(Context& c, std::string_view value) {
  const auto token = c.single(value);
  struct Name {
    std::string_view name;
    unsigned levels;
  };
  // subscribe, unsubscribe and websockets are separate types in mosquitto; Tern logs those events at information.
  static constexpr std::array<Name, 10> kNames{{{"error", unsigned(LogLevel::error)},
                                                {"warning", unsigned(LogLevel::warning)},
                                                {"notice", unsigned(LogLevel::notice)},
                                                {"information", unsigned(LogLevel::information)},
                                                {"debug", unsigned(LogLevel::debug)},
                                                {"subscribe", unsigned(LogLevel::information)},
                                                {"unsubscribe", unsigned(LogLevel::information)},
                                                {"websockets", unsigned(LogLevel::information)},
                                                {"all", kAllLevels},
                                                {"none", 0}}};
  const auto it = std::find_if(kNames.begin(), kNames.end(), [&](const Name& n) { return n.name == token; });
  if (it == kNames.end()) {
    c.bad_value("error, warning, notice, information, debug, subscribe, unsubscribe, websockets, all or none", token);
  }
  auto& levels = c.config().log.levels;
  // As mosquitto: the first log_type line replaces the default set, later lines add to it, and none clears it.
  if (!c.log_type_set || it->levels == 0) levels = 0;
  c.log_type_set = true;
  levels |= it->levels;
}

// As mosquitto: the first log_dest replaces the default (stderr), each further one adds a destination, and none
// clears them all. One log file: a second, different path is an error rather than a file silently not written.
void apply_log_dest(Context& c, std::string_view value) {
  auto rest = value;
  const auto kind = next_token(rest);
  using Dest = LogSettings::Dest;
  if (kind == "topic" || kind == "dlt") {
    if (!rest.empty()) c.single(value);
    c.note(LogLevel::warning, "log_dest " + std::string(kind) +
                                  (kind == "topic" ? ": Tern does not publish its log to $SYS/broker/log yet"
                                                   : ": Tern does not log to DLT (the automotive diagnostic log)") +
                                  "; ignored, the log goes to the other log_dest lines (default stderr)");
    return;
  }
  auto& log = c.config().log;
  if (c.log_dest_line == 0) log.dests = 0;  // the first log_dest replaces the default
  c.log_dest_line = c.line();
  if (kind == "file") {
    // As mosquitto, the path is the rest of the line, so it may contain spaces.
    if (rest.empty()) c.fail("log_dest: missing the path after 'file'");
    if ((log.dests & Dest::file) != 0 && log.file != rest) {
      c.fail("log_dest: one log file only, and '" + log.file + "' was given before");
    }
    log.dests |= Dest::file;
    log.file = std::string(rest);
    return;
  }
  if (!rest.empty()) c.single(value);  // reports the extra text
  if (kind == "stderr") {
    log.dests |= Dest::stderr_;
  } else if (kind == "stdout") {
    log.dests |= Dest::stdout_;
  } else if (kind == "syslog") {
    log.dests |= Dest::syslog;
  } else if (kind == "none") {
    log.dests = 0;
    log.file.clear();
  } else {
    c.bad_value("stderr, stdout, syslog, none or file PATH", kind);
  }
}

void apply_persistent_client_expiration(Context& c, std::string_view value) {
  const auto token = c.single(value);
  constexpr std::string_view kExpected =
      "a positive integer followed by h, d, w, m (30 days) or y (365 days), such as '14d'";
  std::int64_t unit = 0;
  switch (token.empty() ? '\0' : token.back()) {
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    case 'm':
      unit = 30 * 86400;
      break;
    case 'y':
      unit = 365 * 86400;
      break;
    default:
      c.bad_value(kExpected, token);
  }
  const auto number = token.substr(0, token.size() - 1);
  const auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / unit);
  std::uint64_t n = 0;
  const auto* end = number.data() + number.size();
  const auto [ptr, ec] = std::from_chars(number.data(), end, n);
  const bool digits = !number.empty() && number.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits || ec != std::errc() || ptr != end || n == 0 || n > max) c.bad_value(kExpected, token);
  c.config().broker.persistent_client_expiration = std::chrono::seconds(static_cast<std::int64_t>(n) * unit);
}

void apply_listener(Context& c, std::string_view value) {
  auto rest = value;
  const auto port_token = next_token(rest);
  const auto address = next_token(rest);
  if (!rest.empty()) {
    c.fail("listener: expected a port and an optional bind address, got unexpected '" + std::string(rest) + "'");
  }
  ListenerConfig listener;
  listener.port = static_cast<std::uint16_t>(c.integer(port_token, 0, 65535));
  if (!address.empty() && address.front() == '/') c.fail("listener: unix sockets are not supported yet");
  listener.bind_address = std::string(address);
  // Two sections for one port and address could never both bind; say so here, with the line, rather than at start-up.
  // Port 0 listeners each get their own kernel-chosen port, so they may repeat.
  for (const auto& other : c.config().listeners) {
    if (listener.port != 0 && other.port == listener.port && other.bind_address == listener.bind_address) {
      c.fail("listener: a listener on port " + std::to_string(listener.port) +
             (address.empty() ? std::string() : " at " + std::string(address)) + " is already defined");
    }
  }
  c.config().listeners.push_back(std::move(listener));
  c.listener_lines.emplace_back(c.file(), c.line());
}

void apply_http_listener(Context& c, std::string_view value) {
  auto rest = value;
  const auto port_token = next_token(rest);
  const auto address = next_token(rest);
  if (!rest.empty()) {
    c.fail("http_listener: expected a port and an optional bind address, got unexpected '" + std::string(rest) + "'");
  }
  Config::HttpListener http;
  http.port = static_cast<std::uint16_t>(c.integer(port_token, 0, 65535));
  http.address = std::string(address);
  c.config().http_listener = std::move(http);
}

// A file name: the rest of the line, so it may contain spaces (as mosquitto reads paths).
std::string path_value(std::string_view value) { return std::string(trim(value)); }

void apply_tls_version(Context& c, std::string_view value) {
  const auto token = c.single(value);
  if (token == "tlsv1.2") {
    c.listener().tls.tls_version = std::string(token);
  } else if (token == "tlsv1.3") {
    c.fail(
        "tls_version tlsv1.3 is not supported: the mbedTLS 2.28 this tern is built with implements TLS 1.3 "
        "only experimentally; use tlsv1.2");
  } else if (token == "tlsv1.1" || token == "tlsv1") {
    c.fail("tls_version " + std::string(token) + " is refused as insecure; use tlsv1.2");
  } else {
    c.bad_value("tlsv1.2", token);
  }
}

// Checks that need a whole listener section (run after the last line): what a TLS listener needs, and TLS settings
// on a listener that is not TLS. Errors point at the `listener` line.
void check_tls(Context& c) {
  auto& listeners = c.config().listeners;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    TlsSettings& tls = listeners[i].tls;
    c.in_file(c.listener_lines[i].first);
    c.at(c.listener_lines[i].second, "listener");
    const bool default_listener = c.default_listener_added && i + 1 == listeners.size();
    const std::string where = (default_listener ? "the default listener (port " : "listener ") +
                              std::to_string(listeners[i].port) +
                              (default_listener ? ", set before the first 'listener' line): " : ": ");
    check_tls_sessions(c, i, where);
    if (!tls.certfile.empty() && tls.keyfile.empty()) c.fail(where + "certfile is set but keyfile is not");
    if (tls.certfile.empty() && !tls.keyfile.empty()) c.fail(where + "keyfile is set but certfile is not");
    if (!tls.enabled()) {
      const bool tls_only = !tls.cafile.empty() || !tls.capath.empty() || !tls.crlfile.empty() ||
                            tls.require_certificate || tls.use_identity_as_username || tls.use_subject_as_username ||
                            !tls.tls_version.empty() || !tls.ciphers.empty();
      if (tls_only) {
        c.fail(where +
               "cafile, capath, crlfile, require_certificate, use_identity_as_username, use_subject_as_username, "
               "tls_version and ciphers apply only to a TLS listener (one with certfile or psk_hint)");
      }
      continue;
    }
    if (tls.require_certificate && tls.cafile.empty() && tls.capath.empty()) {
      c.fail(where + "require_certificate needs cafile or capath to verify client certificates against");
    }
    if (tls.use_identity_as_username && !tls.require_certificate && tls.psk_hint.empty()) {
      c.fail(where + "use_identity_as_username needs require_certificate true (or TLS-PSK with psk_hint)");
    }
    if (tls.use_subject_as_username && !tls.require_certificate) {
      c.fail(where + "use_subject_as_username needs require_certificate true");
    }
    if (tls.use_subject_as_username && tls.use_identity_as_username) {
      c.fail(where + "use_identity_as_username and use_subject_as_username cannot both be true");
    }
    if (!tls.psk_hint.empty()) {
      if (tls.psk_file.empty()) tls.psk_file = c.psk_file;  // per_listener_settings gives a listener its own
      if (tls.psk_file.empty()) c.fail(where + "psk_hint is set but no psk_file is configured");
    }
  }
}

void parse_text(Context& c, std::string_view text);

// mosquitto's default listener, if a line configured it, goes after the file's listeners (as mosquitto orders them).
void add_default_listener(Context& c) {
  auto& listener = c.default_listener_if_any();
  if (!listener) return;
  const auto& [file, line] = c.default_listener_line();
  c.in_file(file);
  c.at(line, "port");
  for (const auto& other : c.config().listeners) {
    if (listener->port != 0 && other.port == listener->port && other.bind_address == listener->bind_address) {
      c.fail("the default listener (port " + std::to_string(listener->port) +
             (listener->bind_address.empty() ? std::string() : " at " + listener->bind_address) +
             ", set by port, bind_address or a listener setting before the first 'listener' line) is also defined "
             "by a 'listener' line");
    }
  }
  c.config().listeners.push_back(std::move(*listener));
  c.listener_lines.push_back(c.default_listener_line());
  c.default_listener_added = true;
  listener.reset();
}

// include_dir DIR: the files in DIR whose names end in ".conf", in byte order of their names (capitals first), as
// mosquitto reads them: their directives continue the main file's (a listener section may go on in them). Only the
// main file may include; the main file itself is skipped if it lies in DIR.
void apply_include_dir(Context& c, std::string_view value) {
  if (c.depth > 0) c.fail("include_dir is read only in the main configuration file (as in mosquitto)");
  const std::string dir = path_value(value);
  std::error_code error;
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 5 && name.ends_with(".conf")) files.push_back(it->path());
  }
  if (error) c.fail("include_dir: cannot read " + dir + ": " + error.message());
  std::sort(files.begin(), files.end());
  const std::string main_file = c.file();
  const int main_line = c.line();
  std::error_code ignored;
  const auto main_path = std::filesystem::weakly_canonical(main_file, ignored);
  for (const auto& file : files) {
    if (std::filesystem::weakly_canonical(file, ignored) == main_path) continue;
    std::string read_error;
    const auto text = platform::read_whole_file(file.string(), read_error);
    if (!text) c.fail("include_dir: " + read_error);
    c.in_file(file.string());
    ++c.depth;
    parse_text(c, *text);
    --c.depth;
    c.in_file(main_file);
    c.at(main_line, "include_dir");
  }
}

// clang-format off
constexpr Directive kDirectives[] = {
  {"allow_anonymous", Scope::global,
   [](Context& c, std::string_view v) {
     const bool allow = c.boolean(v);
     c.security().allow_anonymous = allow;
     if (!c.config().per_listener_settings) c.config().broker.allow_anonymous = allow;
     c.allow_anonymous_set = true;
   },
   "true|false: let clients connect without a username (default false; true when no listener is configured)"},
  {"password_file", Scope::global,
   [](Context& c, std::string_view v) { c.security().password_file = path_value(v); },
   "PATH: users and password hashes in mosquitto's format (write it with 'tern passwd'); re-read on SIGHUP "
   "(default: none, any username is accepted)"},
  {"acl_file", Scope::global,
   [](Context& c, std::string_view v) { c.security().acl_file = path_value(v); },
   "PATH: which topics each client may read and write, in mosquitto's format; re-read on SIGHUP (default: none, "
   "every client may use every topic)"},
  {"allow_zero_length_clientid", Scope::global,
   [](Context& c, std::string_view v) { c.security().allow_zero_length_clientid = c.boolean(v); },
   "true|false: an MQTT 5 or clean-session 3.1.1 client with an empty client id is given one (default true)"},
  {"auto_id_prefix", Scope::global,
   [](Context& c, std::string_view v) {
     const auto token = c.single(v);
     if (token.size() > 32) c.bad_value("at most 32 characters", token);
     c.security().auto_id_prefix = std::string(token);
   },
   "TEXT: how the client ids Tern gives begin (default auto-)"},
  {"use_username_as_clientid", Scope::global,
   [](Context& c, std::string_view v) { c.security().use_username_as_clientid = c.boolean(v); },
   "true|false: a client's username replaces its client id, so one user cannot take over another's session; "
   "clients without a username are refused (default false)"},
  {"clientid_prefixes", Scope::global,
   [](Context& c, std::string_view v) { c.security().clientid_prefixes = std::string(c.single(v)); },
   "TEXT: only client ids beginning with it may connect (default: any)"},
  {"check_retain_source", Scope::global,
   [](Context& c, std::string_view v) { c.config().broker.check_retain_source = c.boolean(v); },
   "true|false: send a retained message to a new subscriber only while its publisher may still publish to its "
   "topic under the ACL (default true)"},
  {"per_listener_settings", Scope::global,
   [](Context& c, std::string_view v) {
     const bool on = c.boolean(v);
     if (!c.config().listeners.empty()) c.fail("per_listener_settings must come before the first listener");
     if (c.security_line != 0) {
       c.fail("per_listener_settings must come before " + c.security_directive + " (line " +
              std::to_string(c.security_line) + ")");
     }
     c.config().per_listener_settings = on;
   },
   "true|false: each listener has its own allow_anonymous, password_file and acl_file (default false)"},
  {"max_keepalive", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_keepalive = static_cast<std::uint16_t>(c.integer(v, 0, 65535));
   },
   "0..65535 seconds: the largest keepalive a client may use (default 65535)"},
  {"max_packet_size", Scope::global,
   [](Context& c, std::string_view v) {
     constexpr std::string_view kExpected = "0 (no limit) or a number of bytes from 20 to 4294967295";
     const auto n = c.integer(v, 0, std::numeric_limits<std::uint32_t>::max(), kExpected);
     if (n != 0 && n < 20) c.bad_value(kExpected, v);
     c.config().broker.max_packet_size = static_cast<std::uint32_t>(n);
   },
   "bytes: the largest packet a client may send; 0 = no limit (default 0)"},
  {"max_inflight_messages", Scope::global,
   [](Context& c, std::string_view v) {
     const auto n = c.integer(v, 0, 65535);
     // mosquitto's 0 means unlimited; 65535 is the most MQTT can express (Receive Maximum).
     c.config().broker.max_inflight_messages = static_cast<std::uint16_t>(n == 0 ? 65535 : n);
   },
   "0..65535: QoS 1 and 2 messages in flight per client; 0 = no limit (default 20)"},
  {"max_queued_messages", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_queued_messages =
         static_cast<std::size_t>(c.integer(v, 0, std::numeric_limits<std::size_t>::max()));
   },
   "messages queued per client beyond those in flight; 0 = no limit (default 1000)"},
  {"max_queued_bytes", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_queued_bytes =
         static_cast<std::size_t>(c.integer(v, 0, std::numeric_limits<std::size_t>::max()));
   },
   "payload bytes queued per client beyond those in flight; 0 = no limit (default 0)"},
  {"queue_qos0_messages", Scope::global,
   [](Context& c, std::string_view v) { c.config().broker.queue_qos0_messages = c.boolean(v); },
   "true|false: queue QoS 0 messages for offline persistent clients (default false)"},
  {"retain_available", Scope::global,
   [](Context& c, std::string_view v) { c.config().broker.retain_available = c.boolean(v); },
   "true|false: support retained messages (default true)"},
  {"max_qos", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_qos = static_cast<protocol::QoS>(c.integer(v, 0, 2));
   },
   "0..2: the highest QoS clients may use, on every listener (default 2)"},
  {"max_topic_alias", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_topic_alias = static_cast<std::uint16_t>(c.integer(v, 0, 65535));
   },
   "0..65535: topic aliases an MQTT 5 client may use per connection, on every listener (default 10)"},
  {"persistent_client_expiration", Scope::global, apply_persistent_client_expiration,
   "DURATION (e.g. 14d; h, d, w, m = 30 days, y = 365 days): drop persistent sessions unused that long "
   "(default: never)"},
  {"log_type", Scope::global, apply_log_type,
   "error|warning|notice|information|debug|all|none, repeatable (default error, warning, notice, information)"},
  {"log_dest", Scope::global, apply_log_dest,
   "stderr|stdout|syslog|none|file PATH: where to log; repeat for several (default stderr)"},
  {"log_timestamp", Scope::global,
   [](Context& c, std::string_view v) { c.config().log.timestamp = c.boolean(v); },
   "true|false: prefix each log line with the unix time (default true)"},
  {"threads", Scope::global,
   [](Context& c, std::string_view v) { c.config().threads = static_cast<unsigned>(c.integer(v, 0, 256)); },
   "0..256: network threads; 0 = one per core (default 0) (Tern)"},
  {"max_outgoing_buffer", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_outgoing_buffer =
         static_cast<std::size_t>(c.integer(v, 1024, std::numeric_limits<std::size_t>::max()));
   },
   "bytes (>= 1024) waiting to be written to a client before QoS 0 messages to it are dropped (default 4194304) "
   "(Tern)"},
  {"dead_letter_topic", Scope::global,
   [](Context& c, std::string_view v) {
     const std::string prefix(c.single(v));
     if (!protocol::valid_topic_name(prefix) || prefix.ends_with('/')) {
       c.fail("dead_letter_topic: '" + prefix + "' is not a topic name without wildcards and trailing '/'");
     }
     c.config().broker.dead_letter_topic = prefix;
   },
   "PREFIX: a QoS 1/2 message dropped for a client (queue full, expired, too large, no longer authorized) or "
   "refused for a full bridge backlog is published to PREFIX/<reason>/<topic> (default: off) (Tern)"},
  {"dead_letter_rate", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.dead_letter_rate = static_cast<std::uint32_t>(c.integer(v, 0, 1000000));
   },
   "0..1000000: dead letters per second at most, past it drops are only counted; 0: no limit (default 100) (Tern)"},
  {"persistence", Scope::global,
   [](Context& c, std::string_view v) { c.config().persistence.enabled = c.boolean(v); },
   "true|false: keep sessions, subscriptions, queued and in-flight QoS 1/2 messages and retained messages in "
   "SQLite, committed before they are acknowledged (default false)"},
  {"persistence_location", Scope::global,
   [](Context& c, std::string_view v) { c.config().persistence.location = path_value(v); },
   "DIR: where the database is kept; created if missing (default: the working directory)"},
  {"persistence_file", Scope::global,
   [](Context& c, std::string_view v) {
     const std::string name(c.single(v));
     if (name.find('/') != std::string::npos) c.fail("persistence_file is a file name; the directory is persistence_location");
     c.config().persistence.file = name;
   },
   "NAME: the database's file name in persistence_location (default tern.db)"},
  {"persistence_sync", Scope::global,
   [](Context& c, std::string_view v) {
     const auto token = c.single(v);
     if (token != "full" && token != "normal") c.bad_value("full or normal", token);
     c.config().persistence.sync_full = token == "full";
   },
   "full|normal: full syncs every commit to disk before acknowledging (survives power loss); normal survives a "
   "crash of Tern but not of the machine (default full) (Tern)"},
  {"max_queued_in_memory", Scope::global,
   [](Context& c, std::string_view v) {
     c.config().broker.max_queued_in_memory = static_cast<std::size_t>(c.integer(v, 0, 1'000'000));
   },
   "0..1000000: with persistence, queued QoS 1/2 messages of a persistent session kept in memory; the rest of its "
   "queue stays in the database until the client takes it, read back in pages of its in-flight window (at least "
   "this, at most 3 times this); 0 = all in memory (default 100) (Tern)"},
  {"autosave_interval", Scope::global,
   [](Context& c, std::string_view v) { c.integer(v, 0, std::numeric_limits<std::uint32_t>::max()); },
   "SECONDS: accepted so that a mosquitto.conf carries over, and has no effect: Tern commits every change as it "
   "happens instead of saving snapshots"},
  {"include_dir", Scope::global, apply_include_dir,
   "DIR: read the files in DIR ending in .conf, in alphabetical order (capitals first), as if they followed this "
   "line; only in the main file"},
  {"pid_file", Scope::global,
   [](Context& c, std::string_view v) { c.config().pid_file = path_value(v); },
   "PATH: write tern's process id there at start-up and remove it at exit; tern stops if it cannot write it "
   "(default: none)"},
  {"http_listener", Scope::global, apply_http_listener,
   "PORT [BIND-ADDRESS] (Tern): serve GET /metrics (Prometheus text format) and GET /healthz over HTTP there; "
   "port 0 = the kernel picks (default: none)"},
  {"listener", Scope::global, apply_listener,
   "PORT [BIND-ADDRESS]: start a listener section; port 0 = the kernel picks (default: 1883 on 127.0.0.1 only)"},
  {"protocol", Scope::listener,
   [](Context& c, std::string_view v) {
     const auto token = c.single(v);
     if (token != "mqtt" && token != "websockets") c.bad_value("mqtt or websockets", token);
     c.listener().protocol = token == "mqtt" ? ListenerConfig::Protocol::mqtt : ListenerConfig::Protocol::websockets;
   },
   "mqtt|websockets: the listener's protocol: MQTT over TCP, or MQTT over WebSockets (ws://, wss:// with the "
   "listener's certfile and keyfile) (default mqtt)"},
  {"accept_protocol_versions", Scope::listener,
   [](Context& c, std::string_view v) {
     std::uint8_t versions = 0;
     std::string_view rest = platform::trim(v);
     while (!rest.empty()) {
       const auto comma = rest.find(',');
       const std::string_view item = platform::trim(rest.substr(0, comma));
       if (item != "3" && item != "4" && item != "5") c.bad_value("a comma-separated list of 3, 4 and 5", v);
       versions |= static_cast<std::uint8_t>(1u << (item[0] - '0'));
       rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
     }
     c.listener().accepted_versions = versions;
   },
   "LIST (mosquitto 2.1): the MQTT versions this listener accepts, of 3 (3.1), 4 (3.1.1) and 5 (5.0), e.g. 4,5; a "
   "CONNECT of another gets CONNACK 'unsupported protocol version' (default 3,4,5)"},
  {"websockets_path", Scope::listener,
   [](Context& c, std::string_view v) {
     const auto path = c.single(v);
     if (path.front() != '/') c.bad_value("a path that starts with /", path);
     c.listener().websockets.path = std::string(path);
   },
   "PATH (Tern): a websockets listener upgrades requests for this path only (404 for others) (default: any path)"},
  {"websockets_compression", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().websockets.compression = c.boolean(v); },
   "true|false (Tern): a websockets listener agrees on permessage-deflate with clients that offer it (browsers "
   "do): less data on the wire for more CPU (default false)"},
  {"connection_rate_limit", Scope::listener,
   [](Context& c, std::string_view v) {
     std::string_view rest = v;
     const auto count = next_token(rest);
     const auto seconds = next_token(rest);
     if (count == "0" && seconds.empty()) {
       c.listener().rate_limit_count = 0;
       return;
     }
     if (seconds.empty() || !rest.empty()) c.fail("connection_rate_limit: expected COUNT SECONDS, or 0");
     c.listener().rate_limit_count = static_cast<std::uint32_t>(c.integer(count, 1, 1000000));
     c.listener().rate_limit_seconds = static_cast<std::uint32_t>(c.integer(seconds, 1, 86400));
   },
   "COUNT SECONDS: at most COUNT new connections from one source address in SECONDS; past it a connection is "
   "closed as soon as it is accepted, and a line says so once per address and window; 0: no limit (default 0)"},
  {"max_connections", Scope::listener,
   [](Context& c, std::string_view v) {
     constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
     c.listener().max_connections =
         c.single(v) == "-1"
             ? -1
             : static_cast<int>(c.integer(v, 0, kMax, "-1 (no limit) or an integer from 0 to 2147483647"));
   },
   "clients connected to this listener at once; -1 = no limit (default -1)"},
  {"socket_domain", Scope::listener,
   [](Context& c, std::string_view v) {
     const auto token = c.single(v);
     if (token == "ipv4") {
       c.listener().domain = ListenerConfig::Domain::ipv4;
     } else if (token == "ipv6") {
       c.listener().domain = ListenerConfig::Domain::ipv6;
     } else {
       c.bad_value("ipv4 or ipv6", token);
     }
   },
   "ipv4|ipv6: listen on one address family only (default: both)"},
  {"certfile", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.certfile = path_value(v); },
   "PATH: PEM server certificate (chain); makes the listener TLS (needs keyfile)"},
  {"keyfile", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.keyfile = path_value(v); },
   "PATH: PEM private key of certfile"},
  {"cafile", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.cafile = path_value(v); },
   "PATH: PEM CA certificates that client certificates are verified against"},
  {"capath", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.capath = path_value(v); },
   "DIRECTORY: PEM CA certificates, one or more per file, same use as cafile"},
  {"crlfile", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.crlfile = path_value(v); },
   "PATH: PEM certificate revocation list checked with cafile/capath"},
  {"require_certificate", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.require_certificate = c.boolean(v); },
   "true|false: clients must present a certificate signed by cafile/capath (default false)"},
  {"use_identity_as_username", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.use_identity_as_username = c.boolean(v); },
   "true|false: the client certificate's CN, or the PSK identity, is the username (default false)"},
  {"use_subject_as_username", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.use_subject_as_username = c.boolean(v); },
   "true|false: the client certificate's subject, as RFC 2253 text (CN=name,O=org,...), is the username "
   "(default false)"},
  {"tls_version", Scope::listener, apply_tls_version,
   "tlsv1.2: the TLS version (default tlsv1.2; tlsv1.3 needs a newer mbedTLS, tlsv1.1 is refused)"},
  {"ciphers", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.ciphers = std::string(c.single(v)); },
   "SUITE:SUITE...: TLS 1.2 cipher suites by mbedTLS name, in preference order, e.g. "
   "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256 (default: all, ECDHE ChaCha20-Poly1305 then ECDHE AES-GCM first)"},
  {"psk_hint", Scope::listener,
   [](Context& c, std::string_view v) { c.listener().tls.psk_hint = std::string(trim(v)); },
   "TEXT: enable TLS-PSK on this listener with the keys of psk_file (the hint is not sent by mbedTLS 2.28)"},
  {"psk_file", Scope::global,
   [](Context& c, std::string_view v) {
     // Global, as in mosquitto; with per_listener_settings, the current listener's own.
     if (c.config().per_listener_settings && !c.config().listeners.empty()) {
       c.listener().tls.psk_file = path_value(v);
     } else {
       c.psk_file = path_value(v);
     }
   },
   "PATH: TLS-PSK keys, one IDENTITY:HEX-KEY per line, for listeners with psk_hint (each listener its own with "
   "per_listener_settings); re-read on SIGHUP"},
  // mosquitto's operational directives and those accepted with a note (config_compat.cpp).
  {"port", Scope::global, apply_port,
   "PORT: mosquitto's deprecated form of 'listener PORT': the default listener's port (default 1883)"},
  {"bind_address", Scope::global, apply_bind_address,
   "ADDRESS: mosquitto's deprecated form: the default listener's bind address (default: every address)"},
  {"bind_interface", Scope::listener, apply_bind_interface,
   "INTERFACE: accept connections only from this network interface, e.g. eth0 (SO_BINDTODEVICE)"},
  {"user", Scope::global, apply_user,
   "USER: when started as root, run as USER once listeners are bound and files opened (default: stay as started)"},
  {"set_tcp_nodelay", Scope::global, apply_set_tcp_nodelay,
   "true|false: accepted; Tern always disables Nagle's algorithm on client sockets (it batches writes itself)"},
  {"log_timestamp_format", Scope::global, apply_log_timestamp_format,
   "FORMAT: strftime(3) format of the log timestamp, local time, e.g. %Y-%m-%dT%H:%M:%S (default: epoch seconds)"},
  {"log_facility", Scope::global, apply_log_facility,
   "0..7: with log_dest syslog, log to facility LOCAL0..LOCAL7 (default: DAEMON)"},
  {"connection_messages", Scope::global, apply_connection_messages,
   "true|false: log clients connecting and disconnecting (default true)"},
  {"autosave_on_changes", Scope::global, apply_autosave_on_changes,
   "true|false: accepted; Tern commits every change as it happens"},
  {"allow_duplicate_messages", Scope::global, apply_allow_duplicate_messages,
   "true|false: deprecated in mosquitto; accepted with a warning, no effect"},
  {"retry_interval", Scope::global, apply_retry_interval,
   "SECONDS: removed from mosquitto; accepted with a warning, no effect (MQTT resends only on reconnection)"},
  {"sys_interval", Scope::global, apply_sys_interval,
   "0..65535: seconds between updates of the $SYS/broker/... topics; 0: none (default 10)"},
  {"plugin", Scope::global, apply_plugin,
   "PATH: a mosquitto plugin; Tern cannot load one: warning, and usernames are refused unless password_file is set"},
  {"auth_plugin", Scope::global, apply_plugin, "PATH: mosquitto 1.x name of plugin; the same"},
  {"global_plugin", Scope::global, apply_plugin, "PATH: mosquitto 2.1's global plugin; the same as plugin"},
  {"auth_plugin_deny_special_chars", Scope::global, apply_plugin_deny_special_chars,
   "true|false: an option of the plugin before it; accepted with it"},
  {"websockets_log_level", Scope::global, apply_websockets_log_level,
   "LEVEL: libwebsockets' log bit mask in mosquitto; accepted, no effect: Tern logs WebSocket upgrades and their "
   "failures as the other connection events"},
  {"websockets_headers_size", Scope::global, apply_websockets_headers_size,
   "0..65535: the largest WebSocket upgrade request header in bytes, for every websockets listener; 0: the "
   "default (4096)"},
  {"http_dir", Scope::listener, apply_http_dir,
   "DIR: a websockets listener serves the files in DIR to plain HTTP GET requests (never a path outside it); no "
   "effect on an mqtt listener (default: none)"},
  {"dhparamfile", Scope::listener, apply_dhparamfile,
   "PATH: accepted with a warning and not read: Tern's TLS offers ECDHE key exchange, never DHE"},
  {"ciphers_tls1.3", Scope::listener, apply_ciphers_tls13,
   "SUITES: accepted with a warning: Tern speaks TLS 1.2 only (see ciphers)"},
  {"tls_engine", Scope::listener, apply_tls_engine,
   "ENGINE: an OpenSSL engine; accepted with a warning: keys are read from keyfile"},
  {"tls_engine_kpass_sha1", Scope::listener, apply_tls_engine_kpass_sha1,
   "HEX: the engine key's password hash; accepted with a warning, as tls_engine"},
  {"tls_keyform", Scope::listener, apply_tls_keyform,
   "pem|engine: pem is what Tern reads; engine is accepted with a warning (keyfile must then be PEM)"},
  {"message_size_limit", Scope::global, apply_message_size_limit,
   "BYTES: a PUBLISH with a larger payload is not accepted (its QoS flow completes; 5.0: 0x83); 0: no limit"},
  {"max_inflight_bytes", Scope::global, apply_max_inflight_bytes,
   "BYTES: QoS 1/2 messages go out to a client while the payload bytes in flight to it are below this (with "
   "max_inflight_messages: whichever is reached first); 0: no limit"},
  {"memory_limit", Scope::global, apply_memory_limit,
   "BYTES: while the heap in use is over it, QoS 1/2 publishes are refused (5.0: 0x97), QoS 0 ones dropped and new "
   "connections refused (0x03 / 0x88), until it is under 95 % again; 0: no limit"},
  {"mount_point", Scope::listener, apply_mount_point,
   "TOPIC-PREFIX: added to every topic of the listener's clients on the way in and removed on the way out, so they "
   "see only the hierarchy under it (no + or #; default: none)"},
  {"upgrade_outgoing_qos", Scope::global, apply_upgrade_outgoing_qos,
   "true|false: true delivers at the subscription's QoS, not the lower of it and the message's (default false)"},
};
// clang-format on

// This file's table, the TLS session directives (config_tls.cpp) and the bridge section's (config_bridge.cpp), as one
// list.
const std::vector<Directive>& all_directives() {
  static const std::vector<Directive> all = [] {
    std::vector<Directive> v(std::begin(kDirectives), std::end(kDirectives));
    const auto sessions = tls_session_directives();
    v.insert(v.end(), sessions.begin(), sessions.end());
    const auto bridge = bridge_directives();
    v.insert(v.end(), bridge.begin(), bridge.end());
    const auto rules = rule_directives();
    v.insert(v.end(), rules.begin(), rules.end());
    return v;
  }();
  return all;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

[[noreturn]] void unknown_directive(const Context& c, std::string_view name) {
  std::string what = "unknown directive '" + std::string(name) + "'";
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only near misses: typos, not different words
  for (const auto& d : all_directives()) {
    const auto distance = edit_distance(name, d.name);
    if (distance < best_distance) {
      best = d.name;
      best_distance = distance;
    }
  }
  if (!best.empty() && name.size() > 3) what += " (did you mean '" + std::string(best) + "'?)";
  c.fail(what);
}

void parse_line(Context& c, std::string_view line) {
  auto rest = line;
  const auto name = next_token(rest);
  c.at(c.line(), name);
  const auto all = all_directives();
  const auto directive = std::find_if(all.begin(), all.end(), [&](const Directive& d) { return d.name == name; });
  if (directive == all.end()) {
    if (apply_plugin_option(c, name, rest)) return;
    unknown_directive(c, name);
  }
  if (rest.empty() && !takes_no_value(name)) c.fail("missing value for " + std::string(name));
  // A per-listener directive before the first `listener` line configures mosquitto's default listener
  // (Context::listener()).
  directive->apply(c, rest);
}

void parse_text(Context& c, std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte order mark, as some editors write
  int number = 0;
  for (const std::string_view raw : platform::split_lines(text)) {
    c.at(++number, {});
    c.raw_line = raw;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    parse_line(c, line);
  }
}

}  // namespace

std::vector<DirectiveInfo> config_directives() {
  std::vector<DirectiveInfo> out;
  for (const auto& d : all_directives())
    out.push_back({d.name, d.scope == Scope::listener, !takes_no_value(d.name), d.doc});
  return out;
}

Config parse_config(const std::string& text, const std::string& name) {
  Config config;
  Context c(config, name);
  parse_text(c, text);
  add_default_listener(c);
  check_tls(c);
  finish_plugins(c);
  finish_websockets(c);
  finish_bridges(c);
  finish_rules(c);
  if (config.listeners.empty()) {
    // mosquitto 2.0's local only mode: with no listener configured, only this machine can connect, and it may
    // connect without credentials unless the file says otherwise.
    ListenerConfig local;
    local.port = 1883;
    local.bind_address = "127.0.0.1";
    config.listeners.push_back(std::move(local));
    if (!c.allow_anonymous_set) {
      config.broker.allow_anonymous = true;
      config.security.allow_anonymous = true;
    }
  } else if (!c.allow_anonymous_set) {
    config.broker.allow_anonymous = false;
  }
  if (config.per_listener_settings) {
    for (auto& listener : config.listeners) {
      if (!listener.security)
        listener.security.emplace(auth::SecuritySettings{.allow_anonymous = config.security.allow_anonymous});
    }
  }
  return config;
}

Config load_config_file(const std::string& path) {
  std::string error;
  const auto text = platform::read_whole_file(path, error);
  if (!text) throw ConfigError(error);
  Config config = parse_config(*text, path);
  config.source = path;
  return config;
}

Config quick_start_config(std::uint16_t port) {
  Config config;
  ListenerConfig listener;
  listener.port = port;
  config.listeners.push_back(std::move(listener));
  config.broker.allow_anonymous = true;
  config.security.allow_anonymous = true;
  return config;
}

}  // namespace tern
