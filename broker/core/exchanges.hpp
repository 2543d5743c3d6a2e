// A session's QoS 1/2 exchanges: the outgoing in-flight window (PUBLISHes and PUBRELs awaiting acknowledgement, in
// send order, found by packet id) and the incoming QoS 2 packet ids awaiting PUBREL. Created with a session's first
// exchange: an idle or QoS 0 client carries none of it.
//
// The window's bounds. has_room() says whether another PUBLISH may go out: fewer entries than the count limit (5.0:
// the client's Receive Maximum; 3.1.1: max_inflight_messages) and, with max_inflight_bytes, fewer payload bytes in
// flight than that limit; whichever is reached first closes it. As in mosquitto (db__ready_for_flight), the bytes are
// checked before a message goes, not with it: a message larger than the limit still goes, alone, and the bytes
// in flight may pass the limit by one message. An entry counts, by its count and its payload bytes, from its send
// until its exchange ends (PUBACK, PUBCOMP, or a refusing PUBREC), its PUBREL phase included, as in mosquitto.
//
//   max_inflight_bytes 100: send(1, 60 B) -> 60 B, room; send(2, 60 B) -> 120 B, no room; complete(1) -> 60 B, room
//
//   send(3, d)       inflight {1: [3 -> d]}                 PutQueueEntry{s, d.seq, packet_id 3}
//   release(3)       (QoS 2 PUBREC) PUBREL 3 in flight      PutQueueEntry{..., released}; the payload is dropped
//   complete(3)      (PUBACK / PUBCOMP) gone                DeleteQueueEntry{s, d.seq}
//   await_pubrel(7)  incoming {7}                           PutIncoming{s, 7}
//   pubrel(7)        incoming {}                            DeleteIncoming{s, 7}
//
// Store ops. Each mutator writes its own op through the session's SessionStore (session_store.hpp); restore_*() take
// what the store already holds, and store_all() / unstored() follow the session into and out of the store.
//
// Thread safety: none (the broker's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "broker/core/delivery_queue.hpp"
#include "broker/core/packet_id_map.hpp"
#include "broker/core/session_store.hpp"

namespace tern::core {

// A PUBLISH sent at QoS 1/2 (or a PUBREL) that awaits its acknowledgement.
struct InflightOut {
  std::uint16_t packet_id = 0;
  std::uint32_t payload_bytes = 0;  // counted in Exchanges::inflight_bytes() until the exchange ends
  Delivery delivery;
  bool released = false;  // QoS 2: PUBREC received, PUBREL sent, awaiting PUBCOMP
  // Sent on an earlier connection and not yet again on this one: the session resumed with more PUBLISHes in flight
  // than the new connection's window (a smaller Receive Maximum), so it goes again when an acknowledgement makes room.
  bool held = false;
};

class Exchanges {
 public:
  // --- Outgoing.
  std::size_t inflight_count() const noexcept { return live_; }
  // Payload bytes of the entries in flight (released ones included).
  std::uint64_t inflight_bytes() const noexcept { return inflight_bytes_; }
  // Whether another PUBLISH may go in flight (see above); `max_bytes` 0: no byte limit.
  bool has_room(std::size_t max_count, std::uint64_t max_bytes) const noexcept {
    return live_ < max_count && (max_bytes == 0 || inflight_bytes_ < max_bytes);
  }
  // A packet id that is not in flight. The window is at most 65535 entries and ids are only taken below it, so a
  // free one always exists.
  std::uint16_t next_packet_id();
  // `d` went out with packet id `id`: in flight until acknowledged.
  void send(std::uint16_t id, Delivery&& d, SessionStore& store);
  // The in-flight entry of `id`, or null. Valid until the next send() or complete().
  InflightOut* find(std::uint16_t id);
  // QoS 2 PUBREC for `f`: its PUBREL is in flight now, and its payload no longer needed.
  void release(InflightOut& f, SessionStore& store);
  // The exchange of `id` ended (PUBACK, PUBCOMP, a PUBREC that refuses the message).
  void complete(std::uint16_t id, SessionStore& store);
  // Entries held back at a resume (InflightOut::held); inflight_count() counts them too.
  std::size_t held_count() const noexcept { return held_; }
  void set_held(InflightOut& f, bool held) noexcept {
    if (f.held == held) return;
    f.held = held;
    held ? ++held_ : --held_;
  }
  // Every in-flight entry, in send order (redelivery keeps it [MQTT-4.4.0-1]). `f` may not send() or complete().
  template <class F>
  void for_each_inflight(F&& f) {
    for (std::size_t i = head_; i < window_.size(); ++i) {
      if (window_[i].live) f(window_[i].out);
    }
  }

  // --- Incoming QoS 2.
  bool awaiting_pubrel(std::uint16_t id) const { return incoming_.contains(id); }
  std::size_t incoming_count() const noexcept { return incoming_.size(); }
  // PUBREC sent for `id`.
  void await_pubrel(std::uint16_t id, SessionStore& store);
  // PUBREL received for `id`; false if it was not awaited.
  bool pubrel(std::uint16_t id, SessionStore& store);

  // --- The store.
  // Start-up: an in-flight entry and an incoming id the store holds.
  void restore_inflight(std::uint16_t id, Delivery&& d, bool released);
  void restore_incoming(std::uint16_t id) { incoming_.insert(id, 0); }
  // The session enters the store with everything it has.
  void store_all(SessionStore& store);
  // The session left the store (its DeleteSession took every entry): no delivery has a seq any more.
  void unstored();

 private:
  // The window in send order, as a vector: no allocation per message (a std::map would allocate a node per entry). An
  // entry completed out of order stays, dead, until it reaches the front, or until the dead outnumber the live ones
  // and the vector is compacted, so each entry is moved O(1) times on average. The first entry from head_ on is live.
  struct Entry {
    std::uint64_t order = 0;  // send order: increasing along the vector
    InflightOut out;
    bool live = true;
  };

  void add(std::uint16_t id, Delivery&& d, bool released);
  Entry& locate(std::uint64_t order);
  void trim();

  std::vector<Entry> window_;
  std::size_t head_ = 0;              // entries before it are dead
  std::size_t live_ = 0;              // live entries in window_
  PacketIdMap index_;                 // packet id -> send order
  std::uint64_t sent_ = 0;            // the last send order given
  std::uint64_t inflight_bytes_ = 0;  // sum of the entries' payload_bytes
  std::size_t held_ = 0;              // entries with `held` set
  std::uint16_t next_packet_id_ = 1;
  PacketIdMap incoming_;  // PUBREC sent, awaiting PUBREL (the value is unused)
};

}  // namespace tern::core
