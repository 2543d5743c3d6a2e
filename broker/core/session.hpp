// Per-client state: the part that outlives a network connection (Session) and the part that does not
// (Client).
//
// A Session is keyed by client id and holds what MQTT says survives a reconnect: subscriptions, messages queued for
// the client, the outgoing in-flight window (QoS 1/2 PUBLISHes and PUBRELs awaiting acknowledgement), incoming QoS 2
// packet ids awaiting PUBREL, the expiry interval and a will waiting for its delay. A Client is the core's view of
// one attached socket (net::Connection, known here only by its ConnectionId and ConnectionSink): its sink, protocol
// version, keepalive, negotiated limits, topic-alias maps, its listener's mount point and the output staged for it.
//
//   CONNECT(id=x, clean=0) -> Session x found, Client c1 attached; in-flight messages resent with DUP
//   socket drops           -> c1 detached; Session x keeps queueing QoS 1/2 until its expiry
//
// Thread safety: none; owned by Broker::Impl, which is serialized by the network layer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/core/delivery_queue.hpp"
#include "broker/core/exchanges.hpp"
#include "broker/core/lazy.hpp"
#include "broker/core/message.hpp"
#include "broker/core/session_access.hpp"
#include "broker/core/subscription_index.hpp"

namespace tern::core {

struct Client;

struct Session {
  explicit Session(std::string id) : client_id(std::move(id)) {}

  SessionId id = 0;
  const std::string client_id;  // Broker::Impl::sessions_by_client_ finds the session by it
  Client* client = nullptr;     // null while the client is offline
  // Used by one of the broker's own clients (Connect::local: a bridge's local half, the history service) since this
  // process started: a client from the network may not take it over or resume it.
  bool local = false;

  Lazy<std::map<std::string, SubscriptionOptions, std::less<>>> subscriptions;  // filter -> options

  // Waiting for the client or for room in its in-flight window; made with the first message queued.
  Lazy<DeliveryQueue> queue;

  // QoS 1/2 exchanges, created with the first one: an idle or QoS 0 client carries none of it.
  std::unique_ptr<Exchanges> exchanges;
  Exchanges& qos() {
    if (!exchanges) exchanges = std::make_unique<Exchanges>();
    return *exchanges;
  }
  std::size_t inflight_count() const noexcept { return exchanges ? exchanges->inflight_count() : 0; }
  // Whether another QoS 1/2 PUBLISH may go in flight (Exchanges::has_room; the count limit is at least 1).
  bool inflight_room(std::size_t max_count, std::uint64_t max_bytes) const noexcept {
    return exchanges ? exchanges->has_room(max_count, max_bytes) : max_count > 0;
  }
  bool awaiting_pubrel(std::uint16_t id) const { return exchanges && exchanges->awaiting_pubrel(id); }

  // (The small members are grouped so that they share words: a Session exists per connected client, idle or not.)

  // Seconds the session outlives its connection; nullopt: forever. 0: ends with the connection.
  std::optional<std::uint32_t> expiry_interval = 0;
  std::uint32_t will_delay = 0;                         // seconds
  protocol::Version version = protocol::Version::v311;  // of the last connection
  // Persistence: whether the store holds this session (a PutSession not yet undone by a DeleteSession); see store_seq.
  bool stored = false;
  TimePoint offline_since{};  // when the last connection went (while offline)
  // While offline: when the session ends (its expiry interval after it went offline; never without one).
  TimePoint expires_at() const noexcept {
    return expiry_interval ? offline_since + std::chrono::seconds(*expiry_interval) : TimePoint::max();
  }

  // Who the client authenticated as and what it may do; null when the broker runs without authentication (then
  // everything is allowed). Kept while the session is offline: its queue and its will are checked too. Shared by
  // the sessions that have nothing of their own in it (AccessRef; Broker::Impl::grant()).
  AccessRef access;

  MessagePtr will;  // the will of the current (or last) connection
  // While offline with a will: when it is published (its delay after the connection went, at the latest when the
  // session ends).
  TimePoint will_at() const noexcept {
    return std::min(offline_since + std::chrono::seconds(will_delay), expires_at());
  }

  // Persistence: the last StoredQueueEntry::seq used for this session.
  std::uint64_t store_seq = 0;
};

struct Client {
  // (The small members are grouped after the large ones so that they share words: one Client per socket.)
  ConnectionId id = 0;
  ConnectionSink* sink = nullptr;
  std::string remote;
  TimePoint attached_at;
  TimePoint last_packet_at;
  Session* session = nullptr;

  // Persistence: output is held until the store batch it depends on is committed; this is the newest batch holding
  // output of this connection. While it is uncommitted, later output waits behind it (order is kept).
  std::uint64_t held_until_batch = 0;

  std::uint32_t client_maximum_packet_size = 0;  // 0: none
  std::uint32_t disconnect_expiry_base = 0;      // session expiry as given in CONNECT (5.0 DISCONNECT rules)
  // Output of the current broker call (Broker::Impl::staged_), handed to the sink in one send() when the call ends,
  // so a connection is written to once per call however many packets it gets; 0: none. `close_requested`: close()
  // follows it.
  std::uint32_t staged_slot = 0;
  std::uint16_t keep_alive = 0;  // effective, seconds
  std::uint16_t client_receive_maximum = 65535;
  std::uint16_t client_topic_alias_maximum = 0;  // the client's, capped by BrokerOptions::max_outgoing_topic_alias
  protocol::Version version = protocol::Version::v311;
  bool connected = false;  // CONNECT accepted
  bool closed = false;     // the broker asked the sink to close; waiting for detach()
  bool request_problem_information = true;
  bool close_requested = false;
  // The current call staged an acknowledgement (or a QoS 2 delivery) that promises what the call stored: the
  // connection's output waits for the call's batch.
  bool must_wait = false;
  // A mosquitto bridge (its CONNECT's try_private): each of its subscriptions is no-local and retain-as-published,
  // which is what mosquitto does for bridges, so a message it forwarded is never sent back to it.
  bool bridge = false;
  // pump() stopped at pump_burst: the rest of the queue waits for Broker::resume().
  bool pump_stopped = false;

  // What most connections never use, made when one does: topic aliases (5.0) and a listener's mount_point.
  struct Aliases {
    std::unordered_map<std::uint16_t, std::string> incoming;
    std::unordered_map<std::string, std::uint16_t> outgoing;
  };
  struct Rare {
    Aliases aliases;
    // The listener's mount_point (mount_point.hpp), shared by its connections; null: none.
    std::shared_ptr<const std::string> mount_point;
  };
  Lazy<Rare> rare;
  Aliases& topic_aliases() { return rare.mut().aliases; }
  const std::string* mount_point() const noexcept { return rare->mount_point.get(); }
};

}  // namespace tern::core
