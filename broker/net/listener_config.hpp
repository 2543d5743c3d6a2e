// One configured listener (the net layer's input), filled by the config parser (broker/config.cpp): where it
// listens, its protocol and limits, its TLS settings, and with per_listener_settings its own security settings.
//
// Thread safety: a plain value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "broker/auth/security_settings.hpp"
#include "tls/tls_settings.hpp"

namespace tern {

struct ListenerConfig {
  std::uint16_t port = 1883;  // 0: the kernel picks one (logged as "listening on ADDRESS:PORT")
  std::string bind_address;   // empty: every address, IPv4 and IPv6
  enum class Protocol { mqtt, websockets } protocol = Protocol::mqtt;  // protocol
  int max_connections = -1;                                            // max_connections; -1: no limit
  // connection_rate_limit COUNT SECONDS (Tern's): new connections from one source address (connection_rate.hpp);
  // count 0: no limit.
  std::uint32_t rate_limit_count = 0;
  std::uint32_t rate_limit_seconds = 0;
  // accept_protocol_versions: the MQTT versions whose CONNECT the listener accepts, a bit per protocol level
  // (1 << 3: 3.1, 1 << 4: 3.1.1, 1 << 5: 5.0); others get CONNACK "unsupported protocol version".
  static constexpr std::uint8_t all_versions = (1 << 3) | (1 << 4) | (1 << 5);
  std::uint8_t accepted_versions = all_versions;
  enum class Domain { ipv4, ipv6 };
  std::optional<Domain> domain;  // socket_domain; nullopt: both IPv4 and IPv6
  std::string bind_interface;    // bind_interface: accept only on this network interface (SO_BINDTODEVICE)
  std::string mount_point;       // mount_point: the prefix of every topic of its clients (core/mount_point.hpp)
  // protocol websockets: MQTT over WebSockets (ws://, or wss:// with the TLS settings below); see
  // websocket_transport.hpp for what each setting means.
  struct WebSockets {
    std::string path;                 // websockets_path (Tern's): the only request path accepted; empty: any
    std::string http_dir;             // http_dir: static files served over plain HTTP GET; empty: none
    bool compression = false;         // websockets_compression (Tern's): permessage-deflate when the client offers it
    std::size_t headers_size = 4096;  // websockets_headers_size (a global directive, copied into each listener)
  } websockets;
  TlsSettings tls;
  // per_listener_settings true: this listener's allow_anonymous, password_file and acl_file. Otherwise nullopt and
  // Config::security applies.
  std::optional<auth::SecuritySettings> security;
};

}  // namespace tern
