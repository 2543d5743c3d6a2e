// The core's one mutex (SharedBroker::mutex), measured: how much of the time it is held, its longest hold and how
// often it is taken (DESIGN.md, "The core's one lock": keep the work under it small, measure its hold fraction).
//
// A std::mutex whose lock() and unlock() do the accounting, so the lock sites (`std::lock_guard lock(shared.mutex)`)
// need no change. Why it is cheap: one cycle-counter read at lock() and one at unlock() (platform/cycle_clock.hpp:
// RDTSC / CNTVCT_EL0, a few ns, no vDSO call), and three plain stores, all made by the thread that holds the mutex,
// so the counters need no atomic read-modify-write (relaxed atomics, for stats() to read them from another
// thread). Ticks become nanoseconds only in stats().
//
//   thread A: lock() t=100  ... unlock() t=160 -> held 60, longest 60, acquisitions 1
//   thread B: lock() t=170  ... unlock() t=190 -> held 80, longest 60, acquisitions 2
//   stats() at t=200 since t=0: hold fraction 80 / 200 = 0.4
//
// Waiting: a thread that finds it held spins a bounded while (spin_turns turns of platform::cpu_relax(), reading a
// flag, not writing the lock's cache line) before it sleeps in std::mutex::lock(). A hold is one read batch of one
// connection, short next to what sleeping costs: the futex call to sleep, the one that wakes it, and the core the
// sleeper leaves idle meanwhile, which the holder's work cannot use. With one CPU, spinning only delays the holder,
// so it never spins (bench/README.md, "The core's lock: less under it, and a waiter that spins", has the figures).
//
// Thread safety: lock/try_lock/unlock as std::mutex; stats() from any thread (a snapshot that may be one hold behind).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "platform/cpu.hpp"
#include "platform/cycle_clock.hpp"

namespace tern::net {

struct LockStats {
  std::uint64_t held_ns = 0;  // in all, since the mutex was made
  std::uint64_t wall_ns = 0;  // since the mutex was made
  std::uint64_t longest_hold_ns = 0;
  std::uint64_t acquisitions = 0;
  double hold_fraction() const noexcept {
    return wall_ns == 0 ? 0.0 : static_cast<double>(held_ns) / static_cast<double>(wall_ns);
  }
};

class MeasuredMutex {
 public:
  MeasuredMutex() = default;
  MeasuredMutex(const MeasuredMutex&) = delete;
  MeasuredMutex& operator=(const MeasuredMutex&) = delete;

  static constexpr int spin_turns = 1000;

  void lock() {
    if (!mutex_.try_lock()) {
      bool taken = false;
      for (int turn = 0; turn < spins_ && !taken; ++turn) {
        platform::cpu_relax();
        if (!held_.load(std::memory_order_relaxed)) taken = mutex_.try_lock();
      }
      if (!taken) mutex_.lock();
    }
    held_.store(true, std::memory_order_relaxed);
    acquired_at_ = platform::cycle_count();
  }
  bool try_lock() {
    if (!mutex_.try_lock()) return false;
    held_.store(true, std::memory_order_relaxed);
    acquired_at_ = platform::cycle_count();
    return true;
  }
  void unlock() noexcept {
    const std::uint64_t now = platform::cycle_count();
    const std::uint64_t held = now > acquired_at_ ? now - acquired_at_ : 0;  // a counter never runs back, but be safe
    held_ticks_.store(held_ticks_.load(std::memory_order_relaxed) + held, std::memory_order_relaxed);
    acquisitions_.store(acquisitions_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (held > longest_ticks_.load(std::memory_order_relaxed)) longest_ticks_.store(held, std::memory_order_relaxed);
    held_.store(false, std::memory_order_relaxed);
    mutex_.unlock();
  }

  LockStats stats() const noexcept {
    const platform::CycleRate::Reading r = rate_.read();
    LockStats s;
    s.wall_ns = r.wall_ns;
    s.held_ns =
        static_cast<std::uint64_t>(static_cast<double>(held_ticks_.load(std::memory_order_relaxed)) * r.ns_per_tick);
    s.longest_hold_ns =
        static_cast<std::uint64_t>(static_cast<double>(longest_ticks_.load(std::memory_order_relaxed)) * r.ns_per_tick);
    s.acquisitions = acquisitions_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::mutex mutex_;
  std::atomic<bool> held_{false};  // a hint for spinning waiters; mutex_ is what excludes
  const int spins_ = platform::cpu_count() > 1 ? spin_turns : 0;
  std::uint64_t acquired_at_ = 0;  // under mutex_
  std::atomic<std::uint64_t> held_ticks_{0};
  std::atomic<std::uint64_t> longest_ticks_{0};
  std::atomic<std::uint64_t> acquisitions_{0};
  platform::CycleRate rate_;
};

}  // namespace tern::net
