// A session's queue of deliveries waiting for its client (offline, or its in-flight window full), with its byte
// count and, for a stored session, the tail that lives only in the store.
//
// Memory. A persistent session may queue far more than is worth holding in RAM: beyond `keep_in_memory` deliveries
// (BrokerOptions::max_queued_in_memory) a new QoS 1/2 delivery is stored and kept only in the store ("spilled").
// The tail is paged back in, one page at a time, as the client takes its messages: page_wanted() says when to ask
// (at half the in-memory limit, so deliveries rarely wait), page_requested() remembers the request, add_page() takes
// the answer. The store always holds the whole queue; memory holds its head.
//
//   keep_in_memory 3; push a b c d e (QoS 1, stored)   memory [a b c]  spilled 2 (d e), spill_after_seq = c.seq
//   pop a, pop b                                       memory [c]      page_wanted(): ask for seq > c.seq
//   add_page([d e])                                    memory [c d e]  spilled 0
//
// Bytes (payload + topic of each delivery) are counted here alone, for max_queued_bytes: bytes() is the memory's and
// the store's together.
//
// Store ops. push() stores a QoS 1/2 delivery of a stored session itself (SessionStore); pop_front() takes the head
// out with its store entry kept (it goes in flight, which rewrites that entry, or the caller drops it with
// SessionStore::remove); unstored() forgets the store's side when the session's DeleteSession takes it all.
//
// Thread safety: none (the broker's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "broker/core/fifo.hpp"
#include "broker/core/message.hpp"
#include "broker/core/session_store.hpp"

namespace tern::core {

// One message on its way to one session: what is sent is the shared message plus these per-subscriber fields.
struct Delivery {
  MessagePtr message;
  protocol::QoS qos = protocol::QoS::at_most_once;  // min(message QoS, granted QoS)
  bool retain = false;                              // the RETAIN flag as sent
  std::vector<std::uint32_t> subscription_ids;      // 5.0
  std::uint64_t seq = 0;                            // persistence: StoredQueueEntry::seq; 0 while not stored

  // What a queued delivery counts against max_queued_bytes.
  std::size_t bytes() const noexcept { return message->payload.size() + message->topic.size(); }
};

// A delivery's fields without a reference of its own to the message: what sending one needs (write_publish()), so
// that a message sent at once, QoS 0 to a connected client, costs no count on the message's reference.
struct DeliveryRef {
  const MessagePtr& message;
  protocol::QoS qos;
  bool retain;
  const std::vector<std::uint32_t>& subscription_ids;

  DeliveryRef(const Delivery& d) noexcept  // NOLINT(google-explicit-constructor): a Delivery is one
      : message(d.message), qos(d.qos), retain(d.retain), subscription_ids(d.subscription_ids) {}
  DeliveryRef(const MessagePtr& m, protocol::QoS q, bool r, const std::vector<std::uint32_t>& ids) noexcept
      : message(m), qos(q), retain(r), subscription_ids(ids) {}
};

class DeliveryQueue {
 public:
  // In memory: what pop_front() can take now.
  bool empty() const noexcept { return memory_.empty(); }
  std::size_t in_memory() const noexcept { return memory_.size(); }
  // Memory and store together.
  std::uint64_t size() const noexcept { return memory_.size() + spilled_; }
  std::size_t bytes() const noexcept { return bytes_ + spilled_bytes_; }
  bool spills() const noexcept { return spilled_ != 0; }

  // Appends `d`: a QoS 1/2 delivery is stored (PutQueueEntry) and, once `keep_in_memory` deliveries (0: no limit)
  // are in memory or the tail already spills, kept only in the store.
  void push(Delivery&& d, SessionStore& store, std::size_t keep_in_memory);
  // The same at start-up, for a delivery the store already holds.
  void restore(Delivery&& d, std::size_t keep_in_memory);

  Delivery& front() noexcept { return memory_.front(); }
  const Delivery& front() const noexcept { return memory_.front(); }
  // Takes the head out; its store entry stays (see above).
  Delivery pop_front();

  template <class F>
  void for_each(F&& f) {
    memory_.for_each(f);
  }

  // Paging in the spilled tail (see above).
  bool page_wanted(std::size_t keep_in_memory) const noexcept {
    return spilled_ != 0 && page_token_ == 0 && memory_.size() <= keep_in_memory / 2;
  }
  std::uint64_t spill_after_seq() const noexcept { return spill_after_seq_; }
  void page_requested(std::uint64_t token) noexcept { page_token_ = token; }
  std::uint64_t page_token() const noexcept { return page_token_; }
  // The page asked for: the deliveries after spill_after_seq(), in seq order, and the seq of the last entry the
  // store had in it (some may have been left out: their message was gone). An empty page (`last_seq` 0) means the
  // store holds nothing more: nothing is waited for.
  void add_page(std::vector<Delivery>&& page, std::uint64_t last_seq, std::size_t entries);

  // The session left the store (DeleteSession took every entry, the spilled tail too): no entry has a seq any more,
  // and no page is waited for.
  void unstored();

 private:
  bool spill(const Delivery& d, std::size_t keep_in_memory);

  Fifo<Delivery> memory_;
  std::size_t bytes_ = 0;
  // The tail kept only in the store (seq > spill_after_seq_), and its bytes.
  std::uint64_t spilled_ = 0;
  std::size_t spilled_bytes_ = 0;
  std::uint64_t spill_after_seq_ = 0;
  // The page of that tail asked of the store and not yet arrived (0: none): one at a time, and one that comes back
  // with another token (its session ended, or asked again) is dropped.
  std::uint64_t page_token_ = 0;
};

}  // namespace tern::core
