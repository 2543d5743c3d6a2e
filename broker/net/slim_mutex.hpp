// A mutex in four bytes, for objects there are many of (one per connection): std::mutex is 40 bytes on glibc, a
// tenth of what an idle connection is allowed (DESIGN.md, "under 0.7 KiB").
//
// The classic three-state futex mutex (Drepper, "Futexes Are Tricky", mutex 2) on C++20 atomic wait/notify:
//   0 unlocked, 1 locked, 2 locked with (possibly) waiters.
// lock(): 0 -> 1 with one compare-exchange when free (the common case: the same cost as std::mutex's fast path);
// otherwise marks the mutex 2 and sleeps until it is released. unlock(): back to 0, and wakes one waiter only if
// the state said there might be one, so an uncontended unlock makes no system call.
//
// Not recursive, no ownership checks. Meets Lockable, so std::lock_guard and std::unique_lock work with it.
//
// Thread safety: that is its purpose.
#pragma once

#include <atomic>
#include <cstdint>

namespace tern::net {

class SlimMutex {
 public:
  SlimMutex() = default;
  SlimMutex(const SlimMutex&) = delete;
  SlimMutex& operator=(const SlimMutex&) = delete;

  void lock() noexcept {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    // Contended: announce a waiter (2) and sleep while it is held; exchange() returning 0 means we took it.
    while (state_.exchange(2, std::memory_order_acquire) != 0) state_.wait(2, std::memory_order_relaxed);
  }

  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }

  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

}  // namespace tern::net
