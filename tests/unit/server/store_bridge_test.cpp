// StoreBridge: the buffers of spent batches come back to the Broker's next batches, up to a bound, so that neither
// side allocates a buffer per batch (store_bridge.hpp).
#include "broker/server/store_bridge.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tern {
namespace {

// A store that holds what it is given until the test commits it, as the writer would.
class HeldStore final : public persistence::Store {
 public:
  core::StoreSnapshot load() override { return {}; }
  using Store::submit;
  void submit(core::StoreBatch ops, persistence::CommitCallback on_committed) override {
    pending_.push_back({std::move(ops), std::move(on_committed)});
  }
  void flush() override {}
  core::QueuePage load_queue(const std::string&, std::uint64_t, std::size_t) override { return {}; }
  void take_spent(std::vector<core::StoreBatch>& out) override {
    for (auto& ops : spent_) out.push_back(std::move(ops));
    spent_.clear();
  }

  // Commits every batch held: their ops become spent, then their callbacks run.
  void commit_all() {
    auto batches = std::move(pending_);
    pending_.clear();
    for (auto& b : batches) spent_.push_back(std::move(b.ops));
    for (auto& b : batches) b.on_committed(true);
  }

 private:
  struct Held {
    core::StoreBatch ops;
    persistence::CommitCallback on_committed;
  };
  std::vector<Held> pending_;
  std::vector<core::StoreBatch> spent_;
};

class StoreBridgeTest : public ::testing::Test {
 protected:
  // Submits a batch of `kib` ops of 1 KiB each as the Broker does (its mutex held); returns the capacity of the
  // batch the bridge leaves in its place (a spare's, or a new batch's, which has no more than kNew).
  std::size_t submit(std::size_t kib, std::uint64_t batch) {
    core::StoreBatch ops;
    for (std::size_t i = 0; i < kib; ++i) ops.clear_retained(std::string(1021, 't'));  // tag, 2-byte length, topic
    EXPECT_EQ(ops.bytes().size(), kib * 1024);
    submitted_capacity_ = ops.capacity();
    std::lock_guard lock(shared_.mutex);
    bridge_.submit(ops, batch);
    EXPECT_TRUE(ops.empty());
    return ops.capacity();
  }
  // The store commits; the drain the bridge posts runs, as on the shard's thread.
  void commit() {
    store_.commit_all();
    io_.restart();
    EXPECT_GT(io_.run(), 0u);
  }

  static constexpr std::size_t kNew = 15;  // an empty std::string's inline capacity
  std::size_t submitted_capacity_ = 0;     // of the last batch submitted
  core::Broker broker_{core::BrokerOptions{}};
  net::SharedBroker shared_{broker_};
  net::asio::io_context io_;
  HeldStore store_;
  StoreBridge bridge_{store_, shared_, io_.get_executor()};
};

TEST_F(StoreBridgeTest, ASpentBatchsBufferComesBackForALaterBatch) {
  EXPECT_LE(submit(100, 1), kNew);  // nothing spent yet
  commit();
  EXPECT_GE(submit(10, 2), 100u * 1024);  // the first batch's buffer, emptied
  EXPECT_LE(submit(10, 3), kNew);         // only one was spent so far
}

TEST_F(StoreBridgeTest, TheSpareBuffersAreBounded) {
  // At most 1 MiB of capacity is kept: three or four buffers of 256 KiB (and what the string's growth added) of the
  // eight spent; the rest are freed.
  for (std::uint64_t b = 1; b <= 8; ++b) EXPECT_LE(submit(256, b), kNew);
  const std::size_t each = submitted_capacity_;
  commit();
  std::size_t handed_back = 0;
  for (std::uint64_t b = 9; b <= 16; ++b) handed_back += submit(1, b) >= 256 * 1024 ? 1 : 0;
  EXPECT_EQ(handed_back, (std::size_t{1} << 20) / each);
  EXPECT_GE(handed_back, 3u);
}

// A page comes back on the shard, under the Broker mutex, never from inside the request (the memory store reads it
// at once, with the mutex still held by the Broker's caller).
TEST_F(StoreBridgeTest, APageComesBackThroughTheShardNotInsideTheRequest) {
  {
    std::lock_guard lock(shared_.mutex);
    bridge_.request_queue_page("s", 0, 100, 7);  // HeldStore: read at once, an empty page
  }
  io_.restart();
  EXPECT_EQ(io_.run(), 1u);  // the Broker drops it: no session "s"
}

}  // namespace
}  // namespace tern
