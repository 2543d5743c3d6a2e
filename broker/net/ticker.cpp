#include "broker/net/ticker.hpp"

#include <algorithm>
#include <mutex>

#include "platform/clock.hpp"

namespace tern::net {

Ticker::Ticker(Executor executor, SharedBroker& shared) : timer_(executor), shared_(shared) {}

void Ticker::start() {
  stopped_ = false;
  arm(core::Clock::now() + max_interval);
}

void Ticker::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Ticker::arm(core::TimePoint at) {
  timer_.expires_at(at);
  timer_.async_wait([this](const error_code& error) {
    if (error || stopped_) return;
    const core::TimePoint now = core::Clock::now();
    core::TimePoint deadline;
    {
      std::lock_guard lock(shared_.mutex);
      shared_.broker.set_wall_clock(now, platform::unix_millis());
      deadline = shared_.broker.tick(now);
    }
    arm(std::clamp(deadline, now + min_interval, now + max_interval));
  });
}

}  // namespace tern::net
