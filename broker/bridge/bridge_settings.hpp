// One configured bridge (mosquitto's `connection` section), filled by the config parser (broker/config.cpp) and
// used by the bridge (bridge.hpp) and its network driver (broker/net/bridge_link.hpp).
//
// Thread safety: a plain value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/protocol/packets.hpp"

namespace tern::bridge {

struct BridgeSettings {
  std::string name;  // connection NAME
  struct Address {
    std::string host;
    std::uint16_t port = 1883;
  };
  std::vector<Address> addresses;  // address / addresses: tried in order, the first again after the last
  // round_robin false: the first address is the main one; while linked to another, the bridge checks every
  // restart_timeout BASE whether the main one answers again and moves back to it. true: all are equal, and the
  // bridge stays on the one that works.
  bool round_robin = false;
  // topic PATTERN [out|in|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]: a local topic is LOCAL_PREFIX + PATTERN's match
  // and the same message upstream is REMOTE_PREFIX + that match.
  struct Topic {
    enum class Direction { out, in, both };
    std::string pattern;
    Direction direction = Direction::out;
    protocol::QoS qos = protocol::QoS::at_most_once;
    std::string local_prefix;
    std::string remote_prefix;
    bool outgoing() const { return direction != Direction::in; }
    bool incoming() const { return direction != Direction::out; }
  };
  std::vector<Topic> topics;
  std::string remote_clientid;  // default: HOSTNAME.NAME, as mosquitto
  std::optional<std::string> remote_username;
  std::optional<std::string> remote_password;
  std::string local_clientid;                            // default: local.REMOTE_CLIENTID, as mosquitto
  protocol::Version protocol = protocol::Version::v311;  // bridge_protocol_version
  bool cleansession = false;                             // the upstream session
  std::optional<bool> local_cleansession;                // default: cleansession
  std::uint16_t keepalive = 60;                          // keepalive_interval, seconds
  std::chrono::seconds restart_base{5};                  // restart_timeout BASE [CAP]: the first retry after BASE,
  std::chrono::seconds restart_cap{30};                  // doubling (with jitter) up to CAP; BASE alone: constant
  bool try_private = true;  // mosquitto's bridge marker: the upstream does not echo what we forward
  bool notifications = true;
  std::string notification_topic;  // default: $SYS/broker/connection/REMOTE_CLIENTID/state
  bool notifications_local_only = false;
  bool outgoing_retain = true;  // bridge_outgoing_retain: forward the retain flag of outgoing messages
  // The TLS uplink: bridge_cafile (the upstream's certificate is verified against it, and its name against the
  // address's host unless bridge_insecure), bridge_certfile/bridge_keyfile (a client certificate), or
  // bridge_identity/bridge_psk (TLS-PSK). Either cafile or a PSK turns TLS on.
  struct Tls {
    std::string cafile;
    std::string capath;             // bridge_capath: a folder of CA certificates
    std::vector<std::string> alpn;  // bridge_alpn
    std::string certfile;
    std::string keyfile;
    std::string psk_identity;
    std::string psk_hex_key;
    bool insecure = false;
  } tls;
  bool tls_enabled() const { return !tls.cafile.empty() || !tls.capath.empty() || !tls.psk_identity.empty(); }
  std::string bind_address;           // bridge_bind_address: the local address the link leaves from; empty: any
  std::uint32_t max_packet_size = 0;  // bridge_max_packet_size: larger outgoing PUBLISHes are not forwarded; 0: none
  // start_type: automatic connects at start-up and after every loss; once connects at start-up and not again after
  // the link ended; lazy connects when `threshold` messages wait to go out, and ends the link after `idle_timeout`
  // without a message crossing either way.
  enum class Start { automatic, lazy, once };
  Start start = Start::automatic;
  std::size_t threshold = 10;
  std::chrono::seconds idle_timeout{60};
  // bridge_queue_max_bytes: the bytes (payload + topic) the backlog may hold; see Broker::set_backlog_limit for what
  // happens when it is full. 0: no limit.
  std::uint64_t queue_max_bytes = 64 * 1024 * 1024;
  // bridge_max_inflight: outgoing QoS 1/2 messages in flight to the upstream at once, at most (a 5.0 upstream's
  // Receive Maximum lowers it). A backlog drains at about this many messages per round trip to the upstream, and the
  // round trip is long when the gateway is busy: the window is what keeps the bridge from falling behind.
  std::uint16_t max_inflight = 1000;

  bool local_clean() const { return local_cleansession.value_or(cleansession); }
};

}  // namespace tern::bridge
