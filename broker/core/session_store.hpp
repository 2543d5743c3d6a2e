// One session's handle on the store: the ops its queue (delivery_queue.hpp) and its QoS exchanges (exchanges.hpp)
// write as they change, so that what a stored session holds in memory and what the store holds cannot drift apart.
// Each of their mutators writes its own op through this handle; no caller pairs a change with a store call.
//
// A session the store does not hold (not persistent, or persistence off) gets a handle without a broker: every call
// is then a no-op and the mutators change memory only. So does the restore at start-up, whose entries the store
// already holds.
//
//   SessionStore store = impl.store_of(s);
//   s.queue.push(std::move(d), store, limit);   // PutQueueEntry{s, seq 8, packet_id 0} (and PutMessage first)
//   s.qos().send(3, s.queue.pop_front(), store); // PutQueueEntry{s, seq 8, packet_id 3}: the same row, in flight
//   s.qos().complete(3, store);                  // DeleteQueueEntry{s, 8} on PUBACK
//
// Thread safety: none (the broker's, see broker.hpp).
#pragma once

#include <cstdint>

#include "broker/core/broker.hpp"

namespace tern::core {

struct Delivery;
struct Session;

class SessionStore {
 public:
  // `impl` null: nothing is stored.
  SessionStore(Broker::Impl* impl, Session& session) noexcept : impl_(impl), session_(session) {}
  static SessionStore memory_only(Session& session) noexcept { return {nullptr, session}; }

  bool stored() const noexcept { return impl_ != nullptr; }

  // PutQueueEntry for a QoS 1/2 delivery (PutMessage first if its message is not stored yet): queued (packet_id 0),
  // in flight, or released (QoS 2 PUBREC received). A delivery without a seq gets the session's next one.
  void put(Delivery& d, std::uint16_t packet_id, bool released);
  // DeleteQueueEntry for a stored delivery.
  void remove(const Delivery& d);
  // An incoming QoS 2 packet id awaiting PUBREL, and its release.
  void put_incoming(std::uint16_t packet_id);
  void remove_incoming(std::uint16_t packet_id);

 private:
  Broker::Impl* impl_;
  Session& session_;
};

}  // namespace tern::core
