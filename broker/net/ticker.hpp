// The Broker's clock: one timer that calls Broker::tick() (under the Broker mutex) when the deadline the last tick
// returned is reached. It re-arms at min(deadline, now + 1 s), so deadlines created by packets between ticks
// (a new client's keepalive, a will delay) are late by at most a second, and never sooner than now + 20 ms, so a
// busy broker does not tick in a loop.
//
// Thread safety: start() and stop() on the timer's shard thread (or before it runs).
#pragma once

#include <chrono>

#include "broker/net/asio.hpp"
#include "broker/net/shared_broker.hpp"

namespace tern::net {

class Ticker {
 public:
  static constexpr std::chrono::seconds max_interval{1};
  static constexpr std::chrono::milliseconds min_interval{20};

  Ticker(Executor executor, SharedBroker& shared);

  void start();
  void stop();

 private:
  void arm(core::TimePoint at);

  Timer timer_;
  SharedBroker& shared_;
  bool stopped_ = false;
};

}  // namespace tern::net
