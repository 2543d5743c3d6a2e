// The parser's state and its directive table's row type, shared by the files that implement directives
// (config.cpp: the table and the core directives; config_compat.cpp: mosquitto's operational directives and the
// ones Tern accepts with a note). Internal to the config parser.
//
// Thread safety: one Context per parse, on one thread.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/config.hpp"
#include "platform/text_file.hpp"

namespace tern::config_detail {

enum class Scope { global, listener };

// State of one parse: the config being filled, where we are, and what the file has set so far (needed where a
// default depends on whether the file set something, as with allow_anonymous and the first log_type line).
class Context {
 public:
  Context(Config& config, std::string file) : config_(config), file_(std::move(file)) {}

  Config& config() { return config_; }
  int line() const { return line_; }
  std::string_view directive() const { return directive_; }
  const std::string& file() const { return file_; }
  void at(int line, std::string_view directive) {
    line_ = line;
    directive_ = directive;
  }
  // Errors from here on name `file` (an include_dir file, or the main file again).
  void in_file(std::string file) { file_ = std::move(file); }
  int depth = 0;  // 0: the main file; 1: a file of include_dir
  // The line being parsed, as written (a directive's value is a view into it): for errors that give a column.
  std::string_view raw_line;
  // The 1-based column in raw_line of offset `offset` of `value` (a view into it); 0 when it is not one.
  std::size_t column_of(std::string_view value, std::size_t offset) const {
    if (value.data() < raw_line.data() || value.data() > raw_line.data() + raw_line.size()) return 0;
    return static_cast<std::size_t>(value.data() - raw_line.data()) + offset;
  }

  // The listener a per-listener directive applies to: the latest `listener` section, or before the first one
  // mosquitto's default listener (which then exists).
  ListenerConfig& listener() {
    if (!config_.listeners.empty()) return config_.listeners.back();
    return default_listener();
  }
  // mosquitto's default listener: configured by port, bind_address and per-listener directives before the first
  // `listener` line; port 1883 on every address unless they say otherwise. Created by the first such line.
  ListenerConfig& default_listener() {
    if (!default_listener_) {
      default_listener_.emplace();
      default_listener_line_ = {file_, line_};
    }
    return *default_listener_;
  }
  std::optional<ListenerConfig>& default_listener_if_any() { return default_listener_; }
  const std::pair<std::string, int>& default_listener_line() const { return default_listener_line_; }

  // A warning or note about this line: "FILE:LINE: what".
  void note(platform::LogLevel level, std::string_view what) {
    config_.notes.push_back({level, file_ + ':' + std::to_string(line_) + ": " + std::string(what)});
  }

  // Where each `listener` line is (file, line), for errors found once its section is complete.
  std::vector<std::pair<std::string, int>> listener_lines;
  std::vector<std::pair<std::string, int>> bridge_lines;  // the same for each `connection` line
  std::vector<std::pair<std::string, int>> rule_lines;    // the same for each `rule` line
  std::size_t rule_floor = 0;        // in a rules_file: the rules before it, which its lines cannot continue
  std::string psk_file;              // global, as in mosquitto; copied into every listener with psk_hint
  bool allow_anonymous_set = false;  // (per_listener_settings: in any listener section)
  int security_line = 0;             // the first security directive, which per_listener_settings must precede
  std::string security_directive;    // its name

  // Where allow_anonymous, password_file and acl_file go: the global settings, or with per_listener_settings the
  // current listener's.
  auth::SecuritySettings& security() {
    if (security_line == 0) {
      security_line = line_;
      security_directive = std::string(directive_);
    }
    if (!config_.per_listener_settings) return config_.security;
    if (config_.listeners.empty()) {
      fail(std::string(directive_) +
           " applies to a listener when per_listener_settings is true, and must follow a 'listener' line");
    }
    auto& listener = config_.listeners.back();
    if (!listener.security) listener.security.emplace();
    return *listener.security;
  }
  // plugin / auth_plugin lines: where the first was, and whether one applies to the global security settings or
  // (per_listener_settings) to a listener's, by index in config().listeners.
  bool default_listener_added = false;  // the last of config().listeners is mosquitto's default listener
  int plugin_line = 0;
  bool plugin_global = false;
  std::vector<std::size_t> plugin_listeners;
  bool log_type_set = false;
  int log_dest_line = 0;  // the line of the last log_dest; 0: none yet (the default, stderr, stands)

  // "FILE:LINE: what"
  [[noreturn]] void fail(std::string_view what) const {
    throw ConfigError(std::string(file_) + ':' + std::to_string(line_) + ": " + std::string(what));
  }

  // "FILE:LINE: DIRECTIVE: expected EXPECTED, got 'VALUE'"
  [[noreturn]] void bad_value(std::string_view expected, std::string_view value) const {
    fail(std::string(directive_) + ": expected " + std::string(expected) + ", got '" + std::string(value) + "'");
  }

  // The value must be one token; mosquitto would ignore the rest, which hides typos and inline comments.
  std::string_view single(std::string_view value) const {
    auto rest = value;
    const auto token = platform::next_token(rest);
    if (!rest.empty()) {
      std::string what = std::string(directive_) + ": unexpected '" + std::string(rest) + "' after the value";
      if (rest.front() == '#') what += " (comments must be on a line of their own)";
      fail(what);
    }
    return token;
  }

  bool boolean(std::string_view value) const {
    const auto token = single(value);
    if (token == "true") return true;
    if (token == "false") return false;
    bad_value("true or false", token);
  }

  // A decimal integer in [lo, hi]: digits only, no sign, no trailing garbage. `expected` describes the accepted
  // values in the error message; by default "an integer from LO to HI".
  std::uint64_t integer(std::string_view value, std::uint64_t lo, std::uint64_t hi,
                        std::string_view expected = {}) const {
    const auto token = single(value);
    std::uint64_t n = 0;
    const auto* end = token.data() + token.size();
    const bool digits =
        !token.empty() && std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
    const auto [ptr, ec] = std::from_chars(token.data(), end, n);
    if (!digits || ec != std::errc() || ptr != end || n < lo || n > hi) {
      if (!expected.empty()) bad_value(expected, token);
      bad_value("an integer from " + std::to_string(lo) + " to " + std::to_string(hi), token);
    }
    return n;
  }

 private:
  Config& config_;
  std::string file_;
  int line_ = 0;
  std::string_view directive_;
  std::optional<ListenerConfig> default_listener_;
  std::pair<std::string, int> default_listener_line_;
};

using Apply = void (*)(Context&, std::string_view value);

struct Directive {
  std::string_view name;
  Scope scope;
  Apply apply;
  std::string_view doc;
};

// The directives implemented in config_compat.cpp (rows of the table in config.cpp).
void apply_port(Context& c, std::string_view value);
void apply_bind_address(Context& c, std::string_view value);
void apply_bind_interface(Context& c, std::string_view value);
void apply_user(Context& c, std::string_view value);
void apply_set_tcp_nodelay(Context& c, std::string_view value);
void apply_log_timestamp_format(Context& c, std::string_view value);
void apply_log_facility(Context& c, std::string_view value);
void apply_connection_messages(Context& c, std::string_view value);
void apply_autosave_on_changes(Context& c, std::string_view value);
void apply_allow_duplicate_messages(Context& c, std::string_view value);
void apply_retry_interval(Context& c, std::string_view value);
void apply_sys_interval(Context& c, std::string_view value);
void apply_plugin(Context& c, std::string_view value);
void apply_plugin_deny_special_chars(Context& c, std::string_view value);
void apply_websockets_log_level(Context& c, std::string_view value);
void apply_websockets_headers_size(Context& c, std::string_view value);
void apply_http_dir(Context& c, std::string_view value);
// After the whole file: websockets_headers_size into every websockets listener; websockets settings elsewhere.
void finish_websockets(Context& c);

// config_rules.cpp: Tern's rule blocks and rules_file, their rows of the directive table.
std::vector<Directive> rule_directives();
// A directive written without a value (drop).
bool takes_no_value(std::string_view directive);
// After the whole file: every rule has its sql line and an action.
void finish_rules(Context& c);

// config_tls.cpp: the TLS session resumption directives (tls_session_*), their rows of the directive table, and
// their checks once listener `listener`'s section is complete (`where` starts the error: "listener 8883: ").
std::span<const Directive> tls_session_directives();
void check_tls_sessions(Context& c, std::size_t listener, const std::string& where);

// config_bridge.cpp: mosquitto's bridge section, its rows of the directive table.
std::span<const Directive> bridge_directives();
// After the whole file: every bridge has an address and a topic.
void finish_bridges(Context& c);
void apply_dhparamfile(Context& c, std::string_view value);
void apply_ciphers_tls13(Context& c, std::string_view value);
void apply_tls_engine(Context& c, std::string_view value);
void apply_tls_engine_kpass_sha1(Context& c, std::string_view value);
void apply_tls_keyform(Context& c, std::string_view value);
void apply_message_size_limit(Context& c, std::string_view value);
void apply_max_inflight_bytes(Context& c, std::string_view value);
void apply_memory_limit(Context& c, std::string_view value);
void apply_mount_point(Context& c, std::string_view value);
void apply_upgrade_outgoing_qos(Context& c, std::string_view value);

// Directives given by prefix (plugin_opt_NAME, auth_opt_NAME, global_plugin_opt_NAME): the option of the plugin
// line before. True when `name` is one of them (handled: a note or an error).
bool apply_plugin_option(Context& c, std::string_view name, std::string_view value);

// After the last line: a security domain whose plugin was ignored and that has no password_file refuses every
// username (see config_compat.cpp).
void finish_plugins(Context& c);

}  // namespace tern::config_detail
