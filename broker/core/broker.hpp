// The broker's semantics: sessions, subscriptions, routing, retained messages, wills and every timer, with no
// sockets and no clock of its own (time comes in as an argument).
//
// The network layer owns sockets and the decoder. For each connection it calls
//   attach()                 once, when the socket is accepted (with its listener's mount_point, if any:
//                            mount_point.hpp);
//   authenticate()           with its verdict on the CONNECT, before the on_packets() call that carries it (when
//                            authentication is configured; without it, allow_anonymous alone decides);
//   on_packets()             for the packets decoded from each read, in order (on_packet() for a single one);
//   on_decode_error()        when the decoder reports a malformed or oversized packet;
//   detach()                 once, when the socket is gone (read error, EOF, or after the broker asked to close).
// and it calls tick() when the deadline tick() last returned is reached.
//
// The broker answers through the connection's ConnectionSink: send() queues encoded bytes, close() asks for the
// socket to be flushed and closed. After close() the broker treats the connection as gone and will not call its
// sink again; the later detach() is then a no-op. Bytes for one connection are sent in the order the broker
// produced them (topic aliases and packet ids depend on it).
//
// Thread safety: none. One Broker is shared by all shards; the network layer serializes every call with one mutex,
// taken once per read batch rather than once per packet. Sinks are called with that mutex held, from whichever
// shard's thread is in the broker, so a sink must be thread-safe and must not call back into the Broker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/access.hpp"
#include "broker/core/broker_options.hpp"
#include "broker/core/message.hpp"
#include "broker/core/rule_outcome.hpp"
#include "broker/core/store_codec.hpp"
#include "broker/core/store_ops.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::core {

using ConnectionId = std::uint64_t;

class ConnectionSink {
 public:
  // Appends already-encoded packet bytes to the connection's write queue.
  virtual void send(std::string_view bytes) = 0;
  // Flush what was sent, then close the socket.
  virtual void close() = 0;
  // Bytes queued and not yet written; QoS 0 messages are dropped for a connection above max_outgoing_buffer.
  virtual std::size_t pending_bytes() const noexcept = 0;
  // The broker has more queued messages for this connection than one call sends (Broker::resume()): call
  // Broker::resume() for it soon, from a later turn, as any call into the broker. Called at the end of a call, with
  // the lock held: never call the broker from inside it.
  virtual void wake() = 0;

 protected:
  ~ConnectionSink() = default;
};

// Persistence: the broker's port to the store. At the end of every call that changed durable state
// (a QoS 1/2 message queued or in flight for a persistent session, a retained message, a persistent session or
// subscription), the broker calls submit() with that call's ops, in order, and a batch number (1, 2, 3, ...). The
// caller commits them (persistence::Store) and then calls Broker::on_committed() with the same number, in order.
// Until then the broker holds everything that call sent (its PUBACKs and PUBRECs above all, and deliveries that
// must not be seen twice), and any later output for the same connections behind it.
class StorePort {
 public:
  // Called with the network layer's broker mutex held: take the ops out of `ops` and queue them as batch `batch`,
  // without blocking on I/O. `ops` is left empty; it may get the capacity of a spent batch back, so that the broker
  // does not allocate a buffer per batch.
  virtual void submit(StoreBatch& ops, std::uint64_t batch) = 0;
  // A persistent session's queue beyond BrokerOptions::max_queued_in_memory lives only in the store; the broker
  // reads it back a page at a time as the client takes its messages. Called with the mutex held: asks for the
  // entries of `client_id` with seq > after_seq, at most `limit` (0: all), as they are after every batch submitted
  // so far (persistence::Store::request_queue_page), without blocking on I/O. The page comes back later, never from
  // inside this call: the caller calls Broker::on_queue_page() with `token` and the page, on a thread of its own.
  virtual void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                                  std::uint64_t token) = 0;

 protected:
  ~StorePort() = default;
};

// Why a message was not delivered to one client, or (memory_limit) not accepted from one (BrokerStats::dropped).
enum class DropReason : unsigned {
  offline_qos0,    // QoS 0 to an offline session (queue_qos0_messages false)
  slow_client,     // QoS 0 to a client over max_outgoing_buffer
  queue_full,      // max_queued_messages / max_queued_bytes reached
  expired,         // its Message Expiry Interval passed while it was queued
  not_authorized,  // no longer readable under the client's rights (an ACL reload, a new identity, another mount_point)
  too_large,       // larger than the client's Maximum Packet Size
  memory_limit,    // a QoS 0 PUBLISH that arrived while the heap was over memory_limit
};
inline constexpr std::size_t drop_reasons = 7;
const char* drop_reason_name(DropReason reason) noexcept;  // "queue_full"

// The core's counters, read under the lock (stats()). "Since the start" counters never go down.
struct BrokerStats {
  std::size_t connections = 0;           // attached sockets
  std::size_t clients = 0;               // connected (CONNECT accepted) clients
  std::size_t sessions = 0;              // sessions, connected or not
  std::size_t subscriptions = 0;         // (filter, session) pairs, shared ones included
  std::size_t shared_subscriptions = 0;  // of which "$share/..." memberships
  std::size_t retained = 0;
  std::uint64_t messages_received = 0;                // PUBLISHes accepted from clients, since the start
  std::uint64_t messages_sent = 0;                    // PUBLISHes written to clients
  std::uint64_t messages_dropped = 0;                 // every DropReason
  std::array<std::uint64_t, drop_reasons> dropped{};  // by DropReason
  std::uint64_t queued_messages = 0;                  // in every session's queue now (memory and store), not in flight
  std::uint64_t queued_bytes = 0;                     // their payload and topic bytes
  std::uint64_t publish_bytes_received = 0;           // payload bytes of messages_received
  std::uint64_t publish_bytes_sent = 0;               // payload bytes of messages_sent
  std::uint64_t packets_received = 0;                 // MQTT packets of every type from clients
  std::uint64_t packets_sent = 0;                     // MQTT packets of every type to clients
  std::uint64_t sockets_opened = 0;                   // attach() calls
  std::uint64_t connects = 0;                         // CONNECT packets, accepted or refused
  std::uint64_t clients_expired = 0;                  // disconnected sessions ended by their expiry
  std::uint64_t rule_drops = 0;                       // accepted PUBLISHes a rule's `drop` kept from routing
  std::uint64_t rule_messages = 0;                    // messages the rule engine derived and the core routed
  std::uint64_t dead_letters = 0;                     // dead letters published (dead_letter_topic)
  std::uint64_t dead_letters_suppressed = 0;          // drops that dead_letter_rate kept from becoming one
};

struct SysSample;

class Broker {
 public:
  explicit Broker(BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // `remote` is "address:port", for the log. `mount_point`: the prefix of every topic of this connection's client
  // (its listener's mount_point, mount_point.hpp); null or empty: none.
  ConnectionId attach(ConnectionSink& sink, std::string remote, TimePoint now,
                      std::shared_ptr<const std::string> mount_point = nullptr);

  // The network layer's verdict on the connection's CONNECT (see access.hpp), given before the CONNECT itself.
  void authenticate(ConnectionId connection, Authentication authentication);
  // A reload: the sessions that authenticated under `previous` now answer to `current`. A connected client it no
  // longer accepts is disconnected (5.0: DISCONNECT 0x87); every other session gets its rights again: a subscription
  // whose filter it may no longer read is dropped, queued messages it may no longer read are dropped as they come up.
  void replace_policy(const AccessPolicy& previous, const std::shared_ptr<const AccessPolicy>& current, TimePoint now);

  void on_packet(ConnectionId connection, protocol::Packet&& packet, TimePoint now);
  // The packets of one read, in order. Output is handed to the sinks once, at the end: a subscriber that gets 100
  // of these messages gets one send() (and so one write), not 100.
  // `outcomes` (rule_outcome.hpp): what the rule engine decided about some of these packets (each names its packet by
  // index, in increasing order); the core sets PublishOutcome::accepted on those it accepted.
  void on_packets(ConnectionId connection, std::span<protocol::Packet> packets, TimePoint now,
                  std::span<PublishOutcome> outcomes = {});
  void on_decode_error(ConnectionId connection, protocol::ReasonCode error, TimePoint now);
  void detach(ConnectionId connection, TimePoint now);
  // A call sends one session at most pump_burst messages from its queue (a client back to a long backlog with a
  // large window would otherwise get all of it in one hold of the lock); then the connection's sink is woken
  // (ConnectionSink::wake()) and this sends the next ones, in order. New messages for it wait behind the queue
  // meanwhile; its own packets are handled as usual. A connection that has gone or was not woken: nothing.
  void resume(ConnectionId connection, TimePoint now);

  // Runs what is due at `now` (keepalive timeouts, will delays, session and message expiry) and returns when it
  // next needs to run (TimePoint::max() when nothing is pending).
  TimePoint tick(TimePoint now);

  // Graceful shutdown: every connected client gets DISCONNECT "Server shutting down" (5.0) and is closed.
  void shutdown(TimePoint now);

  // Turns persistence on: rebuilds sessions (offline), subscriptions, queued and in-flight messages, incoming QoS 2
  // ids and retained messages from `snapshot`, and from then on hands every durable change to `store`. Call
  // once, before the first attach(). `wall_now` is the wall clock at `now`: stored times are wall-clock times, so
  // expiry counts the time the broker was down.
  void restore(const StoreSnapshot& snapshot, StorePort& store, TimePoint now, UnixMillis wall_now);
  // Batch `batch` (and every one before it) is committed, or could not be (`durable` false: the connections whose
  // output it held are closed without that output, so their clients send their messages again).
  void on_committed(std::uint64_t batch, bool durable, TimePoint now);
  // The page StorePort::request_queue_page() asked for with `token`, for `client_id`: its entries join the session's
  // queue and deliveries resume. A page whose session has ended or been replaced since the request is dropped.
  void on_queue_page(const std::string& client_id, std::uint64_t token, QueuePage page, TimePoint now);
  // Keeps the conversion between the steady clock and the wall clock current (the wall clock may be stepped, e.g.
  // by NTP on a device without a real-time clock). The network layer calls it on each tick.
  void set_wall_clock(TimePoint now, UnixMillis wall_now) noexcept;
  // memory_limit: the heap in use now, as the network layer measured it (platform::heap_in_use(), every 100 ms and
  // every so many bytes read: the core measures nothing itself). Over BrokerOptions::memory_limit the broker refuses
  // new QoS 1/2 PUBLISHes (5.0: PUBACK / PUBREC 0x97 "Quota exceeded"; 3.1.1: no acknowledgement and not routed, so the
  // client sends it again later), drops QoS 0 ones (DropReason::memory_limit) and refuses new connections (CONNACK 0x03
  // / 0x88 "Server unavailable"), until the heap is back under 95 % of the limit (so that it does not flap at the
  // limit). It logs once when it crosses the limit and once when it is back under. No effect without a limit.
  void set_heap_in_use(std::uint64_t bytes);

  // Version of the connection's accepted CONNECT (the decoder's version); v311 before CONNECT.
  protocol::Version version(ConnectionId connection) const noexcept;

  BrokerStats stats() const noexcept;
  // The messages queued for the session of `client_id` (in memory and in the store; not those in flight), 0 when it
  // has none: a bridge's backlog.
  std::size_t queued_for(const std::string& client_id) const noexcept;
  // A bridge's backlog (bridge_queue_max_bytes): the queue of the session of `client_id` is bounded by `max_bytes`
  // (payload + topic of each queued message) instead of max_queued_messages / max_queued_bytes, and never loses a
  // QoS 1/2 message that was acknowledged to its publisher:
  //   - QoS 0 messages go first: they are not queued for it once its queue is over 3/4 of the limit;
  //   - a QoS 1/2 PUBLISH that the session would queue over the limit is refused as a whole (no subscriber gets
  //     it), as over memory_limit: 5.0 publishers get 0x97 Quota exceeded, 3.1.1 ones no acknowledgement, so their
  //     session sends it again later;
  //   - messages no client can be refused (wills, the broker's own) are queued even over the limit.
  // 0: no limit (then neither max_queued_messages nor max_queued_bytes applies to it).
  void set_backlog_limit(std::string client_id, std::uint64_t max_bytes);

  // $SYS (sys_tree.hpp): publishes what is due of "$SYS/broker/..." from the core's counters and `sample`, as retained
  // QoS 2 messages through the normal route (ACLs and subscriptions apply; the store does not keep them). The network
  // layer calls it every sys_interval seconds.
  void publish_sys(const SysSample& sample, TimePoint now);
  // A message of the broker's own that is not from a client (a bridge's state, "1" or "0" on
  // $SYS/broker/connection/ID/state): QoS 1 (at most max_qos), routed as $SYS messages are.
  void publish_own(std::string topic, std::string payload, bool retain, TimePoint now);
  // Messages of the rule engine that come from no client's PUBLISH (an aggregation window closing, windows flushed at
  // a reload): routed as the broker's own, at their QoS (at most max_qos) and retain flag.
  void publish_derived(std::span<const DerivedMessage> messages, TimePoint now);
  // Who the connection's session is: its client id (the one the broker assigned to an empty one; empty before
  // CONNECT) and the username it authenticated as (none: without one, or without authentication).
  struct Identity {
    std::string client_id;
    std::optional<std::string> username;
  };
  Identity identity(ConnectionId connection) const;
  const BrokerOptions& options() const noexcept;

 private:
  class Impl;
  friend class SessionStore;  // a session's handle on Impl's store ops (session_store.hpp)
  std::unique_ptr<Impl> impl_;
};

}  // namespace tern::core
