#include "broker/net/ticker.hpp"

#include <algorithm>
#include <mutex>

#include "broker/net/shard.hpp"
#include "platform/clock.hpp"
#include "platform/sysinfo.hpp"

namespace tern::net {

Ticker::Ticker(Executor executor, SharedBroker& shared, SysPublishing sys)
    : timer_(executor), shared_(shared), sys_(std::move(sys)) {}

void Ticker::start() {
  stopped_ = false;
  const core::TimePoint now = core::Clock::now();
  started_ = now;
  if (sys_.interval.count() != 0) {
    next_sys_ = now;  // the first $SYS goes out at once, as mosquitto's
    arm(now);
  } else {
    arm(now + max_interval);
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
    core::SysSample sys;
    if (sys_due) sys = sample();  // outside the lock: the allocator takes its own locks
    core::TimePoint deadline;
    {
      std::lock_guard lock(shared_.mutex);
      shared_.broker.set_wall_clock(now, platform::unix_millis());
      deadline = shared_.broker.tick(now);
      if (sys_due) shared_.broker.publish_sys(sys, now);
    }
    if (sys_due) next_sys_ = now + sys_.interval;
    arm(std::clamp(std::min(deadline, next_sys_), now + min_interval, now + max_interval));
  });
}

}  // namespace tern::net
