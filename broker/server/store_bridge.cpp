#include "broker/server/store_bridge.hpp"

namespace tern {

StoreBridge::StoreBridge(persistence::Store& store, net::SharedBroker& shared, net::Executor executor)
    : store_(store), shared_(shared), executor_(std::move(executor)) {}

namespace {
// The spare batches kept for the Broker hold at most this many bytes in all (about 23,000 ops at ~45 bytes an op):
// a batch comes back a group commit or two after its submit, and a submit that finds no spare starts from an empty
// buffer that grows as it fills. How the bound was sized: bench/README.md, "Decisions log".
constexpr std::size_t kMaxSpareBytes = 1 << 20;
}  // namespace

void StoreBridge::submit(core::StoreBatch& ops, std::uint64_t batch) {
  store_.submit(std::move(ops), [this, batch](bool durable) { committed(batch, durable); });  // leaves ops empty
  if (spares_.empty()) return;
  ops = std::move(spares_.back());  // the Broker mutex, held by our caller, guards spares_
  spares_.pop_back();
  spare_bytes_ -= ops.capacity();
}

void StoreBridge::request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                                     std::uint64_t token) {
  // A page is rare next to commits (one per max_queued_in_memory messages a draining session takes): one post each.
  store_.request_queue_page(client_id, after_seq, limit, [this, client_id, token](core::QueuePage page) {
    net::asio::post(executor_, [this, client_id, token, page = std::move(page)]() mutable {
      deliver_page(client_id, token, std::move(page));
    });
  });
}

void StoreBridge::deliver_page(const std::string& client_id, std::uint64_t token, core::QueuePage page) {
  std::lock_guard lock(shared_.mutex);
  shared_.broker.on_queue_page(client_id, token, std::move(page), core::Clock::now());
}

void StoreBridge::committed(std::uint64_t batch, bool durable) {
  {
    std::lock_guard lock(mutex_);
    done_.emplace_back(batch, durable);
    if (drain_posted_) return;
    drain_posted_ = true;
  }
  net::asio::post(executor_, [this] { drain(); });
}

void StoreBridge::drain() {
  store_.take_spent(spent_);
  for (auto& ops : spent_) ops.clear();
  std::vector<std::pair<std::uint64_t, bool>> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(done_);
    drain_posted_ = false;
  }
  {
    std::lock_guard lock(shared_.mutex);
    for (auto& ops : spent_) {
      if (spare_bytes_ + ops.capacity() > kMaxSpareBytes) continue;
      spare_bytes_ += ops.capacity();
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
  spent_.clear();  // the batches not kept as spares are freed outside the lock
}

}  // namespace tern
