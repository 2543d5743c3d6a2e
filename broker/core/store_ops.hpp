// What the broker asks a store to keep, and what a store gives back at start-up.
//
// The core has no storage of its own (no I/O below the net/persistence line). It describes every change to durable
// state as a StoreOp; the server hands the ops, in order and in batches, to a persistence::Store, which applies each
// batch atomically. At start-up the store's StoreSnapshot rebuilds sessions, subscriptions, queued and in-flight
// messages and retained messages.
//
// Only persistent sessions are stored (session expiry > 0 or 3.1.1 clean session 0): a session that ends with its
// connection has nothing to survive a restart.
//
// Messages are stored once and referenced by id from queue entries and from the retained table; the store deletes a
// message when nothing references it any more.
//
//   client "s" (persistent) subscribed to "a/#"; "p" publishes QoS 1 "a/b" while "s" is offline:
//     PutMessage{id 7, "a/b", ...}  PutQueueEntry{"s", seq 1, message 7, qos 1, packet_id 0}
//   "s" reconnects and the message goes out with packet id 3:
//     PutQueueEntry{"s", seq 1, message 7, qos 1, packet_id 3}       (same key: replaces)
//   "s" sends PUBACK 3:
//     DeleteQueueEntry{"s", seq 1}                                   (message 7 unreferenced: the store drops it)
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "broker/core/subscription_index.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::core {

// Wall-clock milliseconds since the Unix epoch: stored times must mean something after a restart (the steady clock
// does not survive one). Expiry counts the time the broker was down.
using UnixMillis = std::int64_t;

struct StoredMessage {
  std::uint64_t id = 0;  // assigned by the broker, unique for the life of the store
  std::string topic;
  std::string payload;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  std::string forward_properties;        // Message::forward_properties
  std::optional<UnixMillis> expires_at;  // Message Expiry
  bool operator==(const StoredMessage&) const = default;
};

struct StoredSession {
  std::string client_id;
  std::optional<std::uint32_t> expiry_interval;  // seconds; nullopt: never
  UnixMillis disconnected_at = 0;                // 0: connected when last written (then "now" counts at load)
  protocol::Version version = protocol::Version::v311;
  std::optional<StoredMessage> will;             // stored inline, not in the message table
  std::uint32_t will_delay = 0;
  bool operator==(const StoredSession&) const = default;
};

struct StoredSubscription {
  std::string client_id;
  std::string filter;
  SubscriptionOptions options;
  bool operator==(const StoredSubscription&) const = default;
};

// A message on its way to a session: queued (packet_id 0) or in flight (packet_id != 0; `released`: QoS 2 PUBREC
// received, PUBREL sent). `seq` orders a session's entries.
struct StoredQueueEntry {
  std::string client_id;
  std::uint64_t seq = 0;
  std::uint64_t message_id = 0;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  std::vector<std::uint32_t> subscription_ids;
  std::uint16_t packet_id = 0;
  bool released = false;
  bool operator==(const StoredQueueEntry&) const = default;
};

// Incoming QoS 2: PUBREC sent, PUBREL not yet received.
struct StoredIncoming {
  std::string client_id;
  std::uint16_t packet_id = 0;
  bool operator==(const StoredIncoming&) const = default;
};

struct StoredRetained {
  std::string topic;
  std::uint64_t message_id = 0;
  bool operator==(const StoredRetained&) const = default;
};

namespace store_op {
struct PutSession { StoredSession session; };                  // insert or replace by client_id
struct DeleteSession { std::string client_id; };               // and everything of it (subscriptions, queue, incoming)
struct PutSubscription { StoredSubscription subscription; };   // insert or replace by (client_id, filter)
struct DeleteSubscription { std::string client_id; std::string filter; };
struct PutMessage { StoredMessage message; };                  // insert (ids are never reused)
struct PutQueueEntry {                                         // insert or replace by (client_id, seq)
  StoredQueueEntry entry;
  bool fresh = false;  // the entry's first put (seqs are never reused): no row exists for its key yet
};
struct DeleteQueueEntry { std::string client_id; std::uint64_t seq = 0; };
struct PutIncoming { StoredIncoming incoming; };
struct DeleteIncoming { std::string client_id; std::uint16_t packet_id = 0; };
struct SetRetained { StoredRetained retained; };               // insert or replace by topic
struct ClearRetained { std::string topic; };
}  // namespace store_op

using StoreOp = std::variant<store_op::PutSession, store_op::DeleteSession, store_op::PutSubscription,
                             store_op::DeleteSubscription, store_op::PutMessage, store_op::PutQueueEntry,
                             store_op::DeleteQueueEntry, store_op::PutIncoming, store_op::DeleteIncoming,
                             store_op::SetRetained, store_op::ClearRetained>;

// Part of one session's queue, read back when the broker pages in what it kept only in the store: queue entries in
// seq order and the messages they reference (each once).
struct QueuePage {
  std::vector<StoredQueueEntry> entries;
  std::vector<StoredMessage> messages;
};

// Everything a store holds, as loaded at start-up. Queue entries are in (client_id, seq) order; messages are those
// referenced by a queue entry or a retained topic.
struct StoreSnapshot {
  std::vector<StoredSession> sessions;
  std::vector<StoredSubscription> subscriptions;
  std::vector<StoredMessage> messages;
  std::vector<StoredQueueEntry> queue;
  std::vector<StoredIncoming> incoming;
  std::vector<StoredRetained> retained;
  std::uint64_t next_message_id = 1;  // larger than any message id ever stored
};

}  // namespace tern::core
