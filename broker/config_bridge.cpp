// mosquitto's bridge directives: `connection NAME` starts a bridge section and the directives after it configure
// that bridge (bridge_settings.hpp says what each means). Those Tern does not implement yet are refused by name
// (config.cpp's kNotYetSupported), so that a bridge never runs with a setting silently missing.
#include <string>

#include "broker/config_context.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::config_detail {
namespace {

using platform::LogLevel;
using Topic = bridge::BridgeSettings::Topic;

bridge::BridgeSettings& current(Context& c) {
  if (c.config().bridges.empty()) c.fail(std::string(c.directive()) + ": must follow a 'connection' line");
  return c.config().bridges.back();
}

// HOST[:PORT]; IPv6 literals in brackets ([::1]:1883), as mosquitto.
bridge::BridgeSettings::Address parse_address(Context& c, std::string_view token) {
  bridge::BridgeSettings::Address address;
  std::string_view host = token;
  std::string_view port;
  if (token.front() == '[') {
    const auto close = token.find(']');
    if (close == std::string_view::npos) c.bad_value("HOST[:PORT]", token);
    host = token.substr(1, close - 1);
    if (close + 1 < token.size()) {
      if (token[close + 1] != ':') c.bad_value("HOST[:PORT]", token);
      port = token.substr(close + 2);
    }
  } else if (const auto colon = token.rfind(':'); colon != std::string_view::npos) {
    host = token.substr(0, colon);
    port = token.substr(colon + 1);
  }
  if (host.empty()) c.bad_value("HOST[:PORT]", token);
  address.host = std::string(host);
  if (!port.empty()) address.port = static_cast<std::uint16_t>(c.integer(port, 1, 65535, "a port from 1 to 65535"));
  return address;
}

// A token of a topic line: "" stands for the empty string (mosquitto's way to give an empty pattern or prefix).
std::string topic_token(std::string_view token) { return token == "\"\"" ? std::string() : std::string(token); }

}  // namespace

void apply_connection(Context& c, std::string_view value) {
  const auto name = c.single(value);
  for (const auto& other : c.config().bridges) {
    if (other.name == name) c.fail("connection: a bridge named '" + std::string(name) + "' is already defined");
  }
  bridge::BridgeSettings settings;
  settings.name = std::string(name);
  c.config().bridges.push_back(std::move(settings));
  c.bridge_lines.emplace_back(c.file(), c.line());
}

void apply_address(Context& c, std::string_view value) {
  auto& b = current(c);
  b.addresses.clear();
  auto rest = value;
  for (auto token = platform::next_token(rest); !token.empty(); token = platform::next_token(rest)) {
    b.addresses.push_back(parse_address(c, token));
  }
}

void apply_topic(Context& c, std::string_view value) {
  auto& b = current(c);
  auto rest = value;
  Topic topic;
  topic.pattern = topic_token(platform::next_token(rest));
  if (const auto direction = platform::next_token(rest); !direction.empty()) {
    if (direction == "out") {
      topic.direction = Topic::Direction::out;
    } else if (direction == "in") {
      topic.direction = Topic::Direction::in;
    } else if (direction == "both") {
      topic.direction = Topic::Direction::both;
    } else {
      c.bad_value("out, in or both", direction);
    }
    if (const auto qos = platform::next_token(rest); !qos.empty()) {
      topic.qos = static_cast<protocol::QoS>(c.integer(qos, 0, 2, "a QoS of 0, 1 or 2"));
      const auto local_prefix = platform::next_token(rest);
      const auto remote_prefix = platform::next_token(rest);
      if (!local_prefix.empty() && remote_prefix.empty()) {
        c.fail("topic: a local prefix needs a remote prefix after it (\"\" for none)");
      }
      topic.local_prefix = topic_token(local_prefix);
      topic.remote_prefix = topic_token(remote_prefix);
      if (!rest.empty()) c.fail("topic: unexpected '" + std::string(rest) + "' after the remote prefix");
    }
  }
  for (const std::string* prefix : {&topic.local_prefix, &topic.remote_prefix}) {
    if (prefix->find_first_of("+#") != std::string::npos) c.fail("topic: a prefix cannot hold wildcards");
  }
  const std::string local = topic.local_prefix + topic.pattern;
  const std::string remote = topic.remote_prefix + topic.pattern;
  if (local.empty() || !protocol::valid_topic_filter(local) || !protocol::valid_topic_filter(remote)) {
    c.fail("topic: '" + local + "' / '" + remote + "' is not a valid topic filter");
  }
  b.topics.push_back(std::move(topic));
}

void apply_bridge_string(Context& c, std::string_view value, std::string bridge::BridgeSettings::*member) {
  current(c).*member = std::string(c.single(value));
}

void apply_bridge_optional(Context& c, std::string_view value,
                           std::optional<std::string> bridge::BridgeSettings::*member) {
  current(c).*member = std::string(c.single(value));
}

void apply_bridge_flag(Context& c, std::string_view value, bool bridge::BridgeSettings::*member) {
  current(c).*member = c.boolean(value);
}

void apply_local_cleansession(Context& c, std::string_view value) { current(c).local_cleansession = c.boolean(value); }

void apply_bridge_protocol_version(Context& c, std::string_view value) {
  const auto token = c.single(value);
  auto& b = current(c);
  if (token == "mqttv31") {
    b.protocol = protocol::Version::v31;
  } else if (token == "mqttv311") {
    b.protocol = protocol::Version::v311;
  } else if (token == "mqttv50") {
    b.protocol = protocol::Version::v5;
  } else {
    c.bad_value("mqttv31, mqttv311 or mqttv50", token);
  }
}

void apply_keepalive_interval(Context& c, std::string_view value) {
  current(c).keepalive = static_cast<std::uint16_t>(c.integer(value, 1, 65535));
}

void apply_restart_timeout(Context& c, std::string_view value) {
  auto& b = current(c);
  auto rest = value;
  const auto base = platform::next_token(rest);
  const auto cap = platform::next_token(rest);
  if (!rest.empty()) c.fail("restart_timeout: expected BASE [CAP] in seconds");
  b.restart_base = std::chrono::seconds(c.integer(base, 1, 86400));
  b.restart_cap = cap.empty() ? b.restart_base : std::chrono::seconds(c.integer(cap, 1, 86400));
  if (b.restart_cap < b.restart_base) c.fail("restart_timeout: CAP must not be below BASE");
}

void apply_start_type(Context& c, std::string_view value) {
  const auto token = c.single(value);
  auto& b = current(c);
  if (token != "automatic" && token != "lazy" && token != "once") c.bad_value("automatic, lazy or once", token);
  b.once = token == "once";
  if (token == "lazy") {
    c.note(LogLevel::warning,
           "start_type lazy: Tern connects this bridge at start-up and keeps it connected, as start_type automatic "
           "(its queue still holds what waits while the upstream is unreachable)");
  }
}

void apply_bridge_alpn(Context& c, std::string_view value) {
  auto& b = current(c);
  b.tls.alpn.clear();
  std::string_view rest = c.single(value);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view name = rest.substr(0, comma);
    if (name.empty() || name.size() > 255) c.bad_value("ALPN protocol names separated by commas", value);
    b.tls.alpn.emplace_back(name);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
}

void apply_bridge_require_ocsp(Context& c, std::string_view value) {
  current(c);
  if (c.boolean(value)) {
    c.note(LogLevel::warning,
           "bridge_require_ocsp true: Tern's TLS (mbedTLS 2.28) cannot check OCSP; the upstream's certificate chain "
           "and name are verified, its revocation is not");
  }
}

void apply_bridge_bind_address(Context& c, std::string_view value) {
  auto& b = current(c);
  const auto token = c.single(value);
  const bool ip = token.find_first_not_of("0123456789.") == std::string_view::npos ||
                  token.find_first_not_of("0123456789abcdefABCDEF:") == std::string_view::npos;
  if (!ip || token.find_first_of(".:") == std::string_view::npos) c.bad_value("an IP address", token);
  b.bind_address = std::string(token);
}

void apply_bridge_max_packet_size(Context& c, std::string_view value) {
  current(c).max_packet_size = static_cast<std::uint32_t>(c.integer(value, 0, 268435460));
}

void apply_round_robin(Context& c, std::string_view value) {
  current(c);
  if (!c.boolean(value)) {
    c.note(LogLevel::information,
           "round_robin false: Tern fails over to the next address when one cannot be reached and stays on the "
           "address that works; it does not go back to the first one while connected");
  }
}

void apply_bridge_noted(Context& c, std::string_view value, std::string_view why) {
  current(c);
  c.single(value);
  c.note(LogLevel::information, std::string(c.directive()) + ": " + std::string(why));
}

void apply_bridge_tls_file(Context& c, std::string_view value, std::string bridge::BridgeSettings::Tls::*member) {
  current(c).tls.*member = std::string(c.single(value));
}

void apply_bridge_insecure(Context& c, std::string_view value) { current(c).tls.insecure = c.boolean(value); }

void apply_bridge_tls_version(Context& c, std::string_view value) {
  current(c);
  const auto token = c.single(value);
  if (token != "tlsv1.2") c.bad_value("tlsv1.2 (Tern speaks TLS 1.2)", token);
}

void finish_bridges(Context& c) {
  for (std::size_t i = 0; i < c.config().bridges.size(); ++i) {
    const auto& b = c.config().bridges[i];
    c.in_file(c.bridge_lines[i].first);
    c.at(c.bridge_lines[i].second, "connection");
    if (b.addresses.empty()) c.fail("connection " + b.name + ": no address given");
    if (b.topics.empty()) c.fail("connection " + b.name + ": no topic given");
    const auto& tls = b.tls;
    if (tls.certfile.empty() != tls.keyfile.empty()) {
      c.fail("connection " + b.name + ": bridge_certfile and bridge_keyfile go together");
    }
    if (tls.psk_identity.empty() != tls.psk_hex_key.empty()) {
      c.fail("connection " + b.name + ": bridge_identity and bridge_psk go together");
    }
    if (!tls.certfile.empty() && !b.tls_enabled())
      c.fail("connection " + b.name + ": bridge_certfile needs bridge_cafile");
    if (!tls.cafile.empty() && !tls.psk_identity.empty()) {
      c.fail("connection " + b.name + ": a certificate (bridge_cafile) or a PSK (bridge_psk), not both");
    }
    if (!tls.cafile.empty() && !tls.insecure) {
      for (const auto& address : b.addresses) {
        if (address.host.find_first_not_of("0123456789.") == std::string::npos ||
            address.host.find(':') != std::string::npos) {
          c.fail("connection " + b.name + ": address " + address.host +
                 ": with TLS the upstream's certificate must name the host, and mbedTLS 2.28 cannot check an IP "
                 "address: give the host name the certificate carries, or set bridge_insecure true");
        }
      }
    }
  }
}

}  // namespace tern::config_detail
