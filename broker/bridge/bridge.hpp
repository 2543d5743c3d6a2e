// A bridge to an upstream broker, sans-I/O: the two MQTT conversations of one `connection` section and how they
// are joined. The network driver (broker/net/bridge_link.hpp) owns the socket, the timers and the broker's lock,
// and hands every decoded packet to this class, which says what to send where.
//
// Two halves (DESIGN.md):
//   - Locally the bridge is a client of this broker like any other, speaking MQTT 5.0 to it: its session is
//     persistent unless local_cleansession says otherwise, and its subscriptions are the `out` (and `both`) topics,
//     no-local (what it brings in is never sent back out) and retain-as-published. While the uplink is down the
//     local client is detached, so outgoing messages queue in its session like any persistent session's: in the
//     store with persistence on, acknowledged to their publishers only once stored. That queue is the bridge's
//     store-and-forward; nothing is written to disk by a second mechanism.
//   - Remotely it is an MQTT client of the upstream (bridge_protocol_version), with mosquitto's bridge marker
//     (try_private: the protocol level's top bit, 3.1/3.1.1) or, for 5.0, no-local subscriptions, so that the
//     upstream does not echo what it is sent. Its subscriptions are the `in` (and `both`) topics.
//
// A message crosses with its QoS (capped by its topic's QoS) and is acknowledged on the side it came from only when
// the other side has acknowledged it: an outgoing QoS 1 message leaves the local session's in-flight window when
// the upstream's PUBACK arrives, an incoming one is PUBACKed upstream when the local broker has taken it (stored, with
// persistence). A link lost in between resends it after the reconnection (at least once; QoS 2 keeps its handshake
// on each side, so a message is delivered twice only if the link drops between the upstream's PUBREC and ours).
//
// Thread safety: one thread at a time (the driver's).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/bridge/bridge_settings.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::bridge {

// The defaults that depend on names: remote_clientid HOST.NAME, local_clientid local.REMOTE_CLIENTID, the
// notification topic $SYS/broker/connection/REMOTE_CLIENTID/state (mosquitto's).
void fill_defaults(BridgeSettings& settings, std::string_view host_name);

class Bridge {
 public:
  explicit Bridge(BridgeSettings settings);

  const BridgeSettings& settings() const noexcept { return settings_; }
  protocol::Version remote_version() const noexcept { return settings_.protocol; }
  // The upstream accepted the CONNECT and the local client is (to be) attached.
  bool up() const noexcept { return up_; }
  // Messages crossing now (waiting for the other side's acknowledgement), both directions.
  std::size_t in_flight() const noexcept { return outgoing_.size() + incoming_.size(); }

  // What one step asks of the driver, in this order: attach the local client, hand it `local`, send `remote`
  // upstream, detach the local client, publish `local_state`; `failure` (non-empty): drop the link and retry later.
  struct Output {
    bool attach_local = false;
    std::vector<protocol::Packet> local;
    std::string remote;
    bool detach_local = false;
    std::string local_state;  // non-empty: publish it (retained) on the notification topic here, as the broker's own
    bool dropped_oversize = false;  // a message over bridge_max_packet_size was not forwarded (for the log)
    bool priming = false;           // prime(): not a connection (for the log)
    std::string failure;
  };

  // At start-up, before any link: the local session is made (attached, subscribed, detached), so that what is
  // published before the upstream is first reached waits in its queue too, as it would after a lost link. Nothing
  // with local_cleansession (such a session would end at once).
  void prime(Output& out) const;
  // The TCP (or TLS) connection to the upstream is open: the CONNECT.
  void remote_opened(Output& out);
  // A packet from the upstream / from the broker to the bridge's local client.
  void on_remote(protocol::Packet&& packet, Output& out);
  void on_local(protocol::Packet&& packet, Output& out);
  // Every keepalive interval while connected: a PINGREQ, or a failure when the last one was not answered.
  void keepalive(Output& out);
  // The link is gone (any reason): the local notification says so, the local client is detached, what was crossing
  // is forgotten (each side resends its part after the reconnection).
  void remote_lost(Output& out);

 private:
  void send_remote(const protocol::Packet& packet, Output& out) const;
  void local_session(Output& out) const;  // attach, CONNECT and SUBSCRIBE of the local client
  const BridgeSettings::Topic* outgoing_topic(const std::string& local_topic) const;
  const BridgeSettings::Topic* incoming_topic(const std::string& remote_topic) const;
  protocol::Publish notification(bool up) const;

  BridgeSettings settings_;
  bool up_ = false;
  bool ping_outstanding_ = false;
  std::uint16_t remote_ids_ = 0;  // the last packet id we gave an outgoing message upstream
  std::uint16_t local_ids_ = 0;   // the last packet id we gave an incoming message locally
  struct Crossing {
    std::uint16_t other_id = 0;  // the id of the same message on the side it came from
    protocol::QoS qos = protocol::QoS::at_least_once;
  };
  std::unordered_map<std::uint16_t, Crossing> outgoing_;  // by upstream packet id
  std::unordered_map<std::uint16_t, Crossing> incoming_;  // by local packet id
};

}  // namespace tern::bridge
