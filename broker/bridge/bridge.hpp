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
// A message crosses with its QoS (capped by its topic's QoS) and keeps its packet identifier: the id the local
// broker gave a message for the bridge's local client is the id it has upstream, and the id the upstream gave an
// incoming message is the id the local client publishes it with. So every acknowledgement is relayed as it comes,
// each side keeps its own half of the handshake in its own session, and the bridge holds no state of its own that a
// crash could lose:
//
//   outgoing QoS 2   local PUBLISH 7 -> upstream PUBLISH 7 -> upstream PUBREC 7 -> local PUBREC 7
//                    local PUBREL 7  -> upstream PUBREL 7  -> upstream PUBCOMP 7 -> local PUBCOMP 7
//   incoming QoS 2   the same, the other way round.
//
// After a lost link or a restart each session resends what it has not finished (a PUBLISH with DUP, or a PUBREL),
// with the same id, so the receiving side recognises a QoS 2 message it already has and delivers it once: exactly
// once end to end, as long as the upstream keeps its session (cleansession false, the default). A QoS 1 message is
// delivered at least once.
//
// The bridge's own packets upstream (its SUBSCRIBE and the "1" on the notification topic) take ids too: until the
// upstream has acknowledged them, the local session's packets wait (all of them, to keep their order), so that no
// id is in use twice.
//
// Thread safety: one thread at a time (the driver's).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/bridge/bridge_settings.hpp"
#include "broker/protocol/codec.hpp"
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
  // Local packets waiting until the bridge's own packets upstream are acknowledged (see above).
  std::size_t held() const noexcept { return held_.size(); }

  // What one step asks of the driver, in this order: attach the local client, hand it `local`, send `remote`
  // upstream, detach the local client, publish `local_state`; `failure` (non-empty): drop the link and retry later.
  struct Output {
    bool attach_local = false;
    std::vector<protocol::Packet> local;
    std::string remote;
    bool detach_local = false;
    std::string local_state;  // non-empty: publish it (retained) on the notification topic here, as the broker's own
    bool dropped_oversize = false;  // a message over bridge_max_packet_size was not forwarded (for the log)
    // The upstream refused a forwarded message (5.0 reason code, for the log); it is done with locally all the same.
    std::optional<protocol::ReasonCode> refused_upstream;
    bool priming = false;  // prime(): not a connection (for the log)
    bool relayed = false;  // a PUBLISH crossed, either way (start_type lazy's idle_timeout)
    std::string failure;

    // Empties it for the next step, keeping what `local` and `remote` have allocated (the driver reuses one).
    void clear() noexcept;
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
  // The same for a PUBLISH the driver read in place (protocol::read_publish_view): sent upstream without building
  // a Publish. False when it must go through on_local instead: the link is not up, or local packets are held.
  bool on_local_publish(const protocol::PublishView& publish, Output& out);
  // Ending the link on purpose (start_type lazy's idle_timeout): the state "0" upstream (a normal DISCONNECT does
  // not publish the will) and the DISCONNECT. The driver closes the connection once they are written.
  void disconnect(Output& out) const;
  // Every keepalive interval while connected: a PINGREQ, or a failure when the last one was not answered.
  void keepalive(Output& out);
  // The link is gone (any reason): the local notification says so, the local client is detached, what waited is
  // forgotten (each side resends its part after the reconnection).
  void remote_lost(Output& out);

 private:
  void send_remote(const protocol::Packet& packet, Output& out) const;
  void local_session(Output& out) const;  // attach, CONNECT and SUBSCRIBE of the local client
  // A local PUBLISH: upstream, or done with locally (not an `out` topic, over bridge_max_packet_size).
  void forward(const protocol::PublishView& local, Output& out) const;
  const BridgeSettings::Topic* outgoing_topic(std::string_view local_topic) const;
  const BridgeSettings::Topic* incoming_topic(std::string_view remote_topic) const;
  protocol::Publish notification(bool up) const;
  bool holds(std::uint16_t id) const;
  void release(std::uint16_t id, Output& out);  // the upstream acknowledged the bridge's own packet `id`

  BridgeSettings settings_;
  // Per topic of settings_.topics: the filter its messages match here (LOCAL_PREFIX + pattern) and upstream
  // (REMOTE_PREFIX + pattern).
  std::vector<std::string> local_filters_;
  std::vector<std::string> remote_filters_;
  bool up_ = false;
  bool ping_outstanding_ = false;
  // The window towards the upstream: settings().max_inflight, or a 5.0 upstream's lower Receive Maximum.
  std::uint16_t remote_window_ = 0;
  std::vector<std::uint16_t> own_ids_;  // upstream ids of the bridge's own packets not acknowledged yet
  std::vector<protocol::Packet> held_;  // local packets waiting while own_ids_ is not empty
  // Incoming QoS 2 messages the topic's QoS made QoS 1 here: the local PUBACK is relayed upstream as a PUBREC.
  std::unordered_set<std::uint16_t> downgraded_;
};

}  // namespace tern::bridge
