#include "broker/net/store_bridge.hpp"

namespace tern::net {

StoreBridge::StoreBridge(persistence::Store& store, SharedBroker& shared, Executor executor)
    : store_(store), shared_(shared), executor_(std::move(executor)) {}

namespace {
// The spare vectors kept for the Broker's batches hold at most this many ops in all (~2.2 MB: a StoreOp is 136
// bytes). Under the durable benchmark's load (50 pairs, QoS 1) ~15,000 batches a second are submitted, and a
// batch's vector comes back a group commit or two later. With 4,096, 38% of the submits found no spare (8,192:
// 14%; 16,384: under 2%) and the Broker's vector grew op by op from empty: its reallocations were most of the
// Broker's mallocs that persistence adds. 3 interleaved 8 s rounds, acked msgs/s: 4,096: 551 k, 580 k, 600 k;
// 16,384: 606 k, 604 k, 608 k.
constexpr std::size_t kMaxSpareOps = 16384;
}  // namespace

void StoreBridge::submit(std::vector<core::StoreOp>& ops, std::uint64_t batch) {
  store_.submit(std::move(ops), [this, batch](bool durable) { committed(batch, durable); });
  ops.clear();
  if (spares_.empty()) return;
  ops = std::move(spares_.back());  // the Broker mutex, held by our caller, guards spares_
  spares_.pop_back();
  spare_ops_ -= ops.capacity();
}

core::QueuePage StoreBridge::load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) {
  return store_.load_queue(client_id, after_seq, limit);
}

void StoreBridge::committed(std::uint64_t batch, bool durable) {
  {
    std::lock_guard lock(mutex_);
    done_.emplace_back(batch, durable);
    if (drain_posted_) return;
    drain_posted_ = true;
  }
  asio::post(executor_, [this] { drain(); });
}

void StoreBridge::drain() {
  store_.take_spent(spent_);
  for (auto& ops : spent_) ops.clear();  // here, on a shard's thread, not on the store's writer thread
  std::vector<std::pair<std::uint64_t, bool>> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_);
    drain_posted_ = false;
  }
  {
    std::lock_guard lock(shared_.mutex);
    for (auto& ops : spent_) {
      if (spare_ops_ + ops.capacity() > kMaxSpareOps) continue;
      spare_ops_ += ops.capacity();
      spares_.push_back(std::move(ops));
    }
    const core::TimePoint now = core::Clock::now();
    for (std::size_t i = 0; i < done.size(); ++i) {
      // A run of committed batches is released by its last one; a failed batch is reported by itself.
      const bool durable = done[i].second;
      if (durable && i + 1 < done.size() && done[i + 1].second) continue;
      shared_.broker.on_committed(done[i].first, durable, now);
    }
  }
  spent_.clear();  // the vectors not kept as spares are freed outside the lock
}

}  // namespace tern::net
