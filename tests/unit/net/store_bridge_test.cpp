// StoreBridge: the vectors of spent batches come back to the Broker's next batches, up to a bound, so that neither
// side allocates a vector per batch (store_bridge.hpp).
#include "broker/net/store_bridge.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tern::net {
namespace {

// A store that holds what it is given until the test commits it, as the writer would.
class HeldStore final : public persistence::Store {
 public:
  core::StoreSnapshot load() override { return {}; }
  void submit(std::vector<core::StoreOp> ops, persistence::CommitCallback on_committed) override {
    pending_.push_back({std::move(ops), std::move(on_committed)});
  }
  void flush() override {}
  core::QueuePage load_queue(const std::string&, std::uint64_t, std::size_t) override { return {}; }
  void take_spent(std::vector<std::vector<core::StoreOp>>& out) override {
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
    std::vector<core::StoreOp> ops;
    persistence::CommitCallback on_committed;
  };
  std::vector<Held> pending_;
  std::vector<std::vector<core::StoreOp>> spent_;
};

class StoreBridgeTest : public ::testing::Test {
 protected:
  // Submits a batch of n ops as the Broker does (its mutex held); returns the capacity of the vector the bridge
  // leaves in its place (a spare's, or 0).
  std::size_t submit(std::size_t n, std::uint64_t batch) {
    std::vector<core::StoreOp> ops;
    ops.reserve(n);
    for (std::size_t i = 0; i < n; ++i) ops.emplace_back(core::store_op::DeleteQueueEntry{"c", i + 1});
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

  core::Broker broker_{core::BrokerOptions{}};
  SharedBroker shared_{broker_};
  asio::io_context io_;
  HeldStore store_;
  StoreBridge bridge_{store_, shared_, io_.get_executor()};
};

TEST_F(StoreBridgeTest, ASpentBatchsVectorComesBackForALaterBatch) {
  EXPECT_EQ(submit(100, 1), 0u);  // nothing spent yet
  commit();
  EXPECT_GE(submit(10, 2), 100u);  // the first batch's vector, emptied
  EXPECT_EQ(submit(10, 3), 0u);    // only one was spent so far
}

TEST_F(StoreBridgeTest, TheSpareVectorsAreBounded) {
  // At most 16,384 ops of capacity are kept: four vectors of 4,096 of the eight spent; the rest are freed.
  for (std::uint64_t b = 1; b <= 8; ++b) EXPECT_EQ(submit(4096, b), 0u);
  commit();
  int handed_back = 0;
  for (std::uint64_t b = 9; b <= 16; ++b) handed_back += submit(1, b) >= 4096 ? 1 : 0;
  EXPECT_EQ(handed_back, 4);
}

}  // namespace
}  // namespace tern::net
