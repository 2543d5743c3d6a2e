// Joins the Broker to a persistence::Store: the Broker's batches (core::StoreBatch) go to the store, and each commit
// comes back to the Broker (on_committed) on a shard's thread, under the Broker mutex.
//
//   Broker (mutex held) --submit(ops, 12)--> StoreBridge --store.submit(ops, cb)--> writer thread commits
//   writer thread: cb(true) --> StoreBridge records (12, true), posts one drain to the shard if none is pending
//   shard thread: lock; broker.on_committed(12, true, now)  -> the PUBACKs and deliveries held for batch 12 go out
//
// Callbacks of consecutive committed batches are coalesced: one post and one lock release them all (group commit
// hands several batches back at once). A failed batch is reported on its own, in order.
//
// Pages of a spilled queue travel the same way: request_queue_page() queues the request behind the batches submitted
// before it; the writer reads the page and posts it to the shard, which hands it to the Broker (on_queue_page) under
// the mutex. The Broker never waits for the store with the mutex held.
//
// Spent batches come back too (Store::take_spent): the drain keeps their buffers for the Broker's next batches
// (submit() hands one back), so that neither the shards nor the writer allocate or free a buffer per batch.
//
// Thread safety: submit() and request_queue_page() under the Broker mutex (from the Broker); the store's callbacks
// from its writer thread.
// Destroy only after the store has been flushed with the shards stopped (no callback may be running).
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/shared_broker.hpp"
#include "persistence/store.hpp"

namespace tern {

class StoreBridge final : public core::StorePort {
 public:
  StoreBridge(persistence::Store& store, net::SharedBroker& shared, net::Executor executor);

  void submit(core::StoreBatch& ops, std::uint64_t batch) override;
  void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                          std::uint64_t token) override;

 private:
  void committed(std::uint64_t batch, bool durable);  // the writer thread
  void drain();                                       // the shard's thread
  // The shard's thread: hands a page to the Broker.
  void deliver_page(const std::string& client_id, std::uint64_t token, core::QueuePage page);

  persistence::Store& store_;
  net::SharedBroker& shared_;
  net::Executor executor_;
  std::mutex mutex_;  // guards done_ and drain_posted_
  std::vector<std::pair<std::uint64_t, bool>> done_;  // committed batches not yet handed to the Broker, in order
  bool drain_posted_ = false;
  // Under the Broker mutex (submit() is called with it held; drain() takes it): no lock of their own on the
  // per-batch path.
  std::vector<core::StoreBatch> spares_;  // spent batches, cleared, for submit() to hand back
  std::size_t spare_bytes_ = 0;           // their capacities, in all
  std::vector<core::StoreBatch> spent_;   // drain()'s own: the batches the store handed back
};

}  // namespace tern
