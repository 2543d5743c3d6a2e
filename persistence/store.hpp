// The Store: where the broker keeps what must survive a restart (DESIGN.md, "Durability contract").
//
// The core describes every durable change as a core::StoreOp (broker/core/store_ops.hpp), written encoded into a
// core::StoreBatch (broker/core/store_codec.hpp). The server hands the batches to a Store; the store applies each
// batch atomically, in submission order, and calls the batch's callback once the batch is durable. The broker holds
// a PUBACK / PUBREC until the callback of the batch that carries the message and its queue entries has run with
// `durable == true`.
//
//   start-up (one thread, before any submit):
//     core::StoreSnapshot snap = store.load();  // sessions, subscriptions, messages, queue, incoming, retained
//     broker.restore(snap, bridge, now, wall_now);  // next_message_id: the first id the broker may hand out;
//                                                   // bridge: the core::StorePort that submits to this store
//
//   "p" publishes QoS 1 "a/b" (packet id 12); persistent session "s" subscribes to "a/#" and is offline. The
//   Broker writes the call's ops into a batch and submits it, as its batch 5, through StoreBridge
//   (broker/server/store_bridge.hpp):
//     batch.put_message(41, "a/b", payload, QoS::at_least_once, false, {}, std::nullopt);
//     batch.put_queue_entry("s", 9, 41, QoS::at_least_once, false, {}, 0, false, true);  // queued; fresh: no row yet
//     store.submit(std::move(batch), [=](bool durable) { /* on a shard: broker.on_committed(5, durable, now) */ });
//     ... the writer thread commits this batch together with whatever else was queued (group commit), then calls
//     the callback: the broker sends the PUBACK 12 it held (durable) or disconnects "p" (not durable, see below).
//
//   "s" reconnects, receives it with packet id 3 and acknowledges it (two calls, a batch each):
//     batch.put_queue_entry("s", 9, 41, QoS::at_least_once, false, {}, 3, false, false);  // in flight
//     batch.delete_queue_entry("s", 9);  // message 41 is now unreferenced: the store drops it
//
// Rules every backend follows (tests/unit/persistence/store_contract_test.cpp checks them for each):
//   - Batches are applied in the order submit() was called (for calls from several threads: the order in which
//     they entered submit), each atomically: after a crash a batch is either entirely there or not at all, and
//     never a later batch without an earlier one.
//   - Callbacks run in submission order, each only after its batch is committed (for the SQLite store with
//     persistence_sync full: after fsync). An empty std::function is allowed: nothing is called.
//   - A message (PutMessage) that no queue entry and no retained topic references at the end of a batch is deleted
//     by that batch (or, for the SQLite store, which commits a group of batches as one transaction, by the end of
//     that transaction: never seen either way). So put a message in the same batch as its first reference.
//   - Only the state after a batch counts: a backend may skip an op that a later op of the same atomic unit
//     overwrites or undoes (PutQueueEntry::fresh says that no row exists before it; see transaction_plan.hpp).
//   - Message ids are never reused: load() returns a next_message_id greater than every id ever stored, even ids
//     of messages since deleted.
//   - load() returns everything sorted by key (see StoreSnapshot), drops queue entries and retained topics whose
//     message is missing (with a warning; it means a failed batch, see below), and flushes pending batches first.
//
// Failure: if a batch cannot be committed (disk full, I/O error), its callback runs with durable == false and the
// error is logged. Later batches are still tried (the disk may have room again). The broker must then not
// acknowledge: it drops the output the batch held (PUBACK, PUBREC, ...) and disconnects the client (5.0: DISCONNECT
// "unspecified error", 0x80), so that it sends its unacknowledged messages again, rather than answer PUBACK 0x80,
// which tells a 5.0 client to give the message up (tests/integration/18_persistence_test.cpp,
// PersistenceDiskFullTest). The state the core holds in memory is ahead of the store; a load() after such a failure
// may lack the failed batches.
//
// Thread safety: submit() and request_queue_page() may be called from any thread. Callbacks run on the store's writer
// thread (the memory store: inside submit() / request_queue_page()); they must be cheap (post work to the broker's
// own threads) and must not call flush() or destroy the store; they may call submit(). load() and flush() block; call
// them from a thread that is not the writer. The destructor flushes and stops the writer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "broker/core/store_ops.hpp"

namespace tern::persistence {

// Called once the batch is committed (durable == true) or could not be (durable == false).
using CommitCallback = std::function<void(bool durable)>;
// Called with the page request_queue_page() asked for.
using PageCallback = std::function<void(core::QueuePage page)>;

// What an operator watches of a store (/metrics): how long a batch waits to be durable, and what waits now.
struct StoreStats {
  // Commit latency, submit() to durable (or failed), as a cumulative histogram: commits_within[i] batches took at
  // most commit_bucket_seconds[i]; `commits` is every batch (the +Inf bucket).
  static constexpr std::array<double, 10> commit_bucket_seconds{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                                0.025,  0.05,  0.1,    0.25,  1.0};
  std::array<std::uint64_t, 10> commits_within{};
  std::uint64_t commits = 0;
  double commit_seconds = 0;          // their sum
  std::uint64_t failed = 0;           // batches that could not be committed
  std::uint64_t backlog_batches = 0;  // submitted, not yet committed
  std::uint64_t backlog_ops = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Everything stored, after applying every batch submitted so far. Called once at start-up; tests call it again.
  virtual core::StoreSnapshot load() = 0;

  // Queues one batch. Never blocks on I/O (the queue is unbounded: the broker's held acknowledgements, with each
  // client's receive maximum / in-flight window, are what limits it).
  virtual void submit(core::StoreBatch batch, CommitCallback on_committed) = 0;
  // The same, encoding `ops` first (tests and tools; the broker writes its batches encoded).
  void submit(const std::vector<core::StoreOp>& ops, CommitCallback on_committed) {
    core::StoreBatch batch;
    for (const auto& o : ops) batch.add(o);
    submit(std::move(batch), std::move(on_committed));
  }

  // Blocks until every batch submitted before the call is committed and its callback has returned. For shutdown
  // and tests.
  virtual void flush() = 0;

  // The queue entries of `client_id` with seq > after_seq, at most `limit` (0: all), in seq order, with the
  // messages they reference; entries whose message is missing are left out. Sees every batch submitted before the
  // call (it waits for them, as flush() does). For the broker paging a long offline queue back in.
  virtual core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) = 0;
  // The same page, without waiting for it: `on_page` gets it once every batch submitted before the call is applied,
  // on the writer thread, in order with the commit callbacks (the broker's way: no I/O under its lock). The default
  // reads it at once, inside the call (the memory store). flush() waits for requests made before it, as for batches.
  virtual void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                                  PageCallback on_page) {
    on_page(load_queue(client_id, after_seq, limit));
  }

  // Appends to `out` batches the store no longer needs (their group is committed, or failed), for the submitter to
  // reuse their buffers and to free the rest on its own thread: a thread that frees what another allocated makes that
  // thread's later allocations slow (glibc hands the memory back to the other thread's arena, in bins it must then
  // sort). A store that keeps spent batches for this bounds them; the default keeps none.
  virtual void take_spent(std::vector<core::StoreBatch>& out) { (void)out; }

  // Any thread. The memory store has nothing to report.
  virtual StoreStats stats() const { return {}; }
};

}  // namespace tern::persistence
