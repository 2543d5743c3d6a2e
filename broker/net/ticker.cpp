#include "broker/net/ticker.hpp"

#include <algorithm>
#include <mutex>
#include <optional>

#include "broker/net/shard.hpp"
#include "platform/clock.hpp"
#include "platform/log.hpp"
#include "platform/sysinfo.hpp"

namespace tern::net {

Ticker::Ticker(Executor executor, SharedBroker& shared, SysPublishing sys)
    : timer_(executor), shared_(shared), sys_(std::move(sys)) {}

void Ticker::start() {
  stopped_ = false;
  const core::TimePoint now = core::Clock::now();
  started_ = now;
  if (shared_.broker.options().memory_limit != 0) {
    next_heap_ = now;  // measured before the first client comes
    if (!platform::heap_in_use()) {
      TERN_LOG(error, "memory_limit: this allocator does not report the heap in use, so the limit is not enforced");
    }
  }
  if (sys_.interval.count() != 0) {
    next_sys_ = now;  // the first $SYS goes out at once, as mosquitto's
    arm(now);
  } else {
    arm(std::min(now + max_interval, next_heap_));
  }
}

void Ticker::stop() {
  stopped_ = true;
  timer_.cancel();
}

core::SysSample Ticker::sample() const {
  core::SysSample s;
  s.version = sys_.version;
  s.started = started_;
  if (sys_.shards) {
    for (const auto& shard : *sys_.shards) {
      s.bytes_received += shard->bytes_received();
      s.bytes_sent += shard->bytes_sent();
    }
  }
  s.heap_current = platform::heap_in_use();
  return s;
}

void Ticker::arm(core::TimePoint at) {
  timer_.expires_at(at);
  timer_.async_wait([this](const error_code& error) {
    if (error || stopped_) return;
    const core::TimePoint now = core::Clock::now();
    const bool sys_due = now >= next_sys_;
    const bool heap_due = now >= next_heap_;
    core::SysSample sys;
    if (sys_due) sys = sample();  // outside the lock: the allocator takes its own locks
    std::optional<std::uint64_t> heap;
    if (heap_due) heap = sys_due ? sys.heap_current : platform::heap_in_use();
    const std::vector<core::DerivedMessage> windows = shared_.rules.due(now);  // the windows' own mutex
    core::TimePoint deadline;
    {
      std::lock_guard lock(shared_.mutex);
      shared_.broker.set_wall_clock(now, platform::unix_millis());
      if (heap) shared_.broker.set_heap_in_use(*heap);
      deadline = shared_.broker.tick(now);
      if (sys_due) shared_.broker.publish_sys(sys, now);
      if (!windows.empty()) shared_.broker.publish_derived(windows, now);
    }
    if (sys_due) next_sys_ = now + sys_.interval;
    if (heap_due) next_heap_ = now + heap_interval;
    arm(std::clamp(std::min({deadline, next_sys_, next_heap_, shared_.rules.next_due()}), now + min_interval,
                   now + max_interval));
  });
}

}  // namespace tern::net
