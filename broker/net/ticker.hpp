// The Broker's clock: one timer that calls Broker::tick() (under the Broker mutex) when the deadline the last tick
// returned is reached. It re-arms at min(deadline, now + 1 s), so deadlines created by packets between ticks
// (a new client's keepalive, a will delay) are late by at most a second, and never sooner than now + 20 ms, so a
// busy broker does not tick in a loop.
//
// It also publishes $SYS: at start() and then every sys_interval seconds it sums the shards' byte counters and asks
// the allocator for the heap in use (both outside the lock), then calls Broker::publish_sys() in the same locked turn
// as tick().
//
// Aggregation windows of the local rules (SharedBroker::rules) that closed are published in the same locked turn, as
// the broker's own messages; the timer is armed for the next one to close too.
//
// With memory_limit, it asks the allocator for the heap in use every heap_interval (outside the lock: mallinfo2 takes
// each arena's lock and walks its free lists, microseconds, no system call) and hands it to
// Broker::set_heap_in_use() in its locked turn, so the limit costs nothing per message; a fall back under it is seen
// within about 100 ms. A rise is seen sooner under load: connections measure too, every so many bytes read
// (SharedBroker::heap_check_bytes).
//
// Thread safety: start() and stop() on the timer's shard thread (or before it runs).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/sys_tree.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/shared_broker.hpp"

namespace tern::net {

class Shard;

struct SysPublishing {
  std::chrono::seconds interval{0};                             // sys_interval; 0: $SYS is not published
  std::string version;                                          // "0.1.0"
  const std::vector<std::unique_ptr<Shard>>* shards = nullptr;  // whose byte counters $SYS adds up
};

class Ticker {
 public:
  static constexpr std::chrono::seconds max_interval{1};
  static constexpr std::chrono::milliseconds min_interval{20};
  static constexpr std::chrono::milliseconds heap_interval{100};

  Ticker(Executor executor, SharedBroker& shared, SysPublishing sys = {});

  void start();
  void stop();

 private:
  void arm(core::TimePoint at);
  core::SysSample sample() const;

  Timer timer_;
  SharedBroker& shared_;
  SysPublishing sys_;
  core::TimePoint started_{};
  core::TimePoint next_sys_ = core::TimePoint::max();
  core::TimePoint next_heap_ = core::TimePoint::max();  // memory_limit: the next heap measurement
  bool stopped_ = false;
};

}  // namespace tern::net
