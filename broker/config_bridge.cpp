// mosquitto's bridge directives: `connection NAME` starts a bridge section and the directives after it configure
// that bridge (bridge_settings.hpp says what each means).
#include <limits>
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
    if (protocol::has_wildcard(*prefix)) c.fail("topic: a prefix cannot hold wildcards");
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
  using Start = bridge::BridgeSettings::Start;
  if (token == "automatic") {
    b.start = Start::automatic;
  } else if (token == "lazy") {
    b.start = Start::lazy;
  } else if (token == "once") {
    b.start = Start::once;
  } else {
    c.bad_value("automatic, lazy or once", token);
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

}  // namespace

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

namespace {

// clang-format off
constexpr Directive kBridgeDirectives[] = {
  {"connection", Scope::global, apply_connection,
   "NAME: start a bridge section: the directives after it, up to the next connection line, configure a bridge to "
   "an upstream broker (MQTT over TCP)"},
  {"address", Scope::global, apply_address,
   "HOST[:PORT] [HOST[:PORT] ...]: the bridge's upstream (port 1883 by default); with several, one that cannot be "
   "reached is followed by the next, in order"},
  {"addresses", Scope::global, apply_address, "the same as address"},
  {"topic", Scope::global, apply_topic,
   "PATTERN [out|in|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]: what the bridge forwards: out (default) from here "
   "upstream, in from upstream here, both; at most QOS (default 0); a topic LOCAL_PREFIX+X here is REMOTE_PREFIX+X "
   "upstream (\"\" for an empty one)"},
  {"remote_clientid", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_string(c, v, &bridge::BridgeSettings::remote_clientid); },
   "ID: the bridge's client id upstream (default HOSTNAME.NAME)"},
  {"clientid", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_string(c, v, &bridge::BridgeSettings::remote_clientid); },
   "ID: mosquitto 1.x name of remote_clientid"},
  {"local_clientid", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_string(c, v, &bridge::BridgeSettings::local_clientid); },
   "ID: the client id of the bridge's session in this broker (default local.REMOTE_CLIENTID)"},
  {"remote_username", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_optional(c, v, &bridge::BridgeSettings::remote_username); },
   "NAME: the username the bridge gives upstream (default none)"},
  {"username", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_optional(c, v, &bridge::BridgeSettings::remote_username); },
   "NAME: mosquitto 1.x name of remote_username"},
  {"remote_password", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_optional(c, v, &bridge::BridgeSettings::remote_password); },
   "PASSWORD: the password the bridge gives upstream (default none)"},
  {"password", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_optional(c, v, &bridge::BridgeSettings::remote_password); },
   "PASSWORD: mosquitto 1.x name of remote_password"},
  {"bridge_protocol_version", Scope::global, apply_bridge_protocol_version,
   "mqttv31|mqttv311|mqttv50: the MQTT version the bridge speaks upstream (default mqttv311)"},
  {"cleansession", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::cleansession); },
   "true|false: whether the bridge's upstream session starts clean on each connection (default false)"},
  {"local_cleansession", Scope::global, apply_local_cleansession,
   "true|false: whether the bridge's session here starts clean; false keeps what waits to go out while the "
   "upstream is unreachable (default: as cleansession)"},
  {"keepalive_interval", Scope::global, apply_keepalive_interval,
   "SECONDS: the bridge's keep alive upstream: a PINGREQ every interval, the link dropped if one is not answered "
   "(default 60)"},
  {"restart_timeout", Scope::global, apply_restart_timeout,
   "BASE [CAP]: seconds before the bridge tries again after its link ended: BASE, doubling with jitter up to CAP "
   "while attempts fail; BASE alone: always BASE (default 5 30)"},
  {"start_type", Scope::global, apply_start_type,
   "automatic|lazy|once: automatic connects at start-up and after every loss; lazy connects when `threshold` "
   "messages wait to go out and ends the link after `idle_timeout` seconds without traffic; once connects at "
   "start-up and not again after the link ends (default automatic)"},
  {"threshold", Scope::global,
   [](Context& c, std::string_view v) { current(c).threshold = static_cast<std::size_t>(c.integer(v, 1, 1000000000)); },
   "COUNT: start_type lazy: the messages waiting to go out that start the link (default 10)"},
  {"idle_timeout", Scope::global,
   [](Context& c, std::string_view v) { current(c).idle_timeout = std::chrono::seconds(c.integer(v, 1, 86400)); },
   "SECONDS: start_type lazy: the link ends after this long without a message crossing it (default 60)"},
  {"round_robin", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::round_robin); },
   "true|false: with several addresses, false makes the first the main one: the bridge fails over to the next and "
   "moves back as soon as the main one answers (checked every restart_timeout BASE); true treats all alike and "
   "stays on the one that works (default false)"},
  {"bridge_max_inflight", Scope::global,
   [](Context& c, std::string_view v) {
     current(c).max_inflight = static_cast<std::uint16_t>(c.integer(v, 1, 65535));
   },
   "COUNT: outgoing QoS 1/2 messages in flight to the upstream at once; a 5.0 upstream's Receive Maximum lowers it; "
   "a backlog drains at about this many messages per round trip; an upstream that takes fewer QoS 2 messages from a "
   "3.1.1 client at once (EMQX's max_awaiting_rel, 100) wants it at or below that (default 1000)"},
  {"bridge_queue_max_bytes", Scope::global,
   [](Context& c, std::string_view v) {
     current(c).queue_max_bytes = static_cast<std::uint64_t>(c.integer(v, 0, std::numeric_limits<std::int64_t>::max()));
   },
   "BYTES: the most the backlog (what waits to go out; in the store with persistence) may hold, payload and topic "
   "bytes; QoS 0 messages stop being queued at 3/4 of it, and when it is full local QoS 1/2 publishes to its topics "
   "are refused (5.0: 0x97 Quota exceeded; 3.1.1: not acknowledged, so the client sends them again); an "
   "acknowledged message is never dropped; 0: no limit (default 67108864, 64 MiB)"},
  {"try_private", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::try_private); },
   "true|false: tell a 3.1/3.1.1 upstream that this is a bridge (mosquitto's marker), so that it does not echo what "
   "the bridge forwards; 5.0 bridges subscribe with no-local instead (default true)"},
  {"notifications", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::notifications); },
   "true|false: publish the bridge's state, retained: 1 when connected, 0 when not (the upstream gets the 0 as the "
   "bridge's will) (default true)"},
  {"notification_topic", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_string(c, v, &bridge::BridgeSettings::notification_topic); },
   "TOPIC: where the state goes (default $SYS/broker/connection/REMOTE_CLIENTID/state)"},
  {"notifications_local_only", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::notifications_local_only); },
   "true|false: publish the state only here, not upstream (default false)"},
  {"bridge_outgoing_retain", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_flag(c, v, &bridge::BridgeSettings::outgoing_retain); },
   "true|false: forward the retain flag of outgoing messages; false sends them unretained (default true)"},
  {"bridge_cafile", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::cafile); },
   "PATH: the bridge connects over TLS and verifies the upstream's certificate against these CAs (PEM)"},
  {"bridge_certfile", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::certfile); },
   "PATH: the bridge's client certificate (PEM), with bridge_keyfile"},
  {"bridge_keyfile", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::keyfile); },
   "PATH: the key of bridge_certfile (PEM, unencrypted)"},
  {"bridge_capath", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::capath); },
   "DIR: like bridge_cafile, a folder of CA certificates (PEM)"},
  {"bridge_alpn", Scope::global, apply_bridge_alpn,
   "PROTOCOL[,PROTOCOL...]: ALPN protocols the TLS uplink offers (an upstream serving several protocols on one port)"},
  {"bridge_require_ocsp", Scope::global, apply_bridge_require_ocsp,
   "true|false: true is accepted with a warning: mbedTLS 2.28 cannot check OCSP; the chain and name are verified, "
   "revocation is not"},
  {"bridge_bind_address", Scope::global, apply_bridge_bind_address,
   "IP-ADDRESS: the local address the bridge's connection leaves from (default: any)"},
  {"bridge_max_packet_size", Scope::global, apply_bridge_max_packet_size,
   "BYTES: outgoing messages larger than this (as PUBLISH packets) are not forwarded, and a line says so; 0: no "
   "limit (default)"},
  {"bridge_insecure", Scope::global, apply_bridge_insecure,
   "true|false: with TLS, do not check that the upstream's certificate names the address's host (the chain is "
   "still verified); for tests only (default false)"},
  {"bridge_tls_version", Scope::global, apply_bridge_tls_version,
   "tlsv1.2: the TLS version of the uplink (Tern speaks TLS 1.2)"},
  {"bridge_identity", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::psk_identity); },
   "IDENTITY: TLS-PSK uplink: the identity, with bridge_psk"},
  {"bridge_psk", Scope::global,
   [](Context& c, std::string_view v) { apply_bridge_tls_file(c, v, &bridge::BridgeSettings::Tls::psk_hex_key); },
   "HEX-KEY: TLS-PSK uplink: the key in hexadecimal, with bridge_identity"},
  {"bridge_attempt_unsubscribe", Scope::global,
   [](Context& c, std::string_view v) {
     apply_bridge_noted(c, v, "accepted; Tern does not unsubscribe upstream topics it no longer bridges (messages "
                              "for them are acknowledged and dropped)");
   },
   "true|false: accepted with a note: topics no longer configured are acknowledged and dropped, not unsubscribed"},
};
// clang-format on

}  // namespace

std::span<const Directive> bridge_directives() { return kBridgeDirectives; }

}  // namespace tern::config_detail
