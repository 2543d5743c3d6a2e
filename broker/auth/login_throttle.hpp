// Brute-force protection: failed logins from one address are answered later and later.
//
// The n-th failure in a row from an address waits delay(n) before its CONNACK (and the connection's end): 0 for the
// first (a typo costs nothing), then 250 ms, 500 ms, 1 s, 2 s, and 4 s from the sixth on. The wait is the
// connection's alone (a timer on its shard; nothing blocks), so other clients, from that address too, are served
// as before. A success from the address, or a minute without failures, starts the count again. At most
// `max_addresses` are remembered; past that the oldest entries are forgotten.
//
//   LoginThrottle t;
//   t.failed("192.0.2.7", now);  // 0 ms
//   t.failed("192.0.2.7", now);  // 250 ms
//   t.failed("192.0.2.7", now);  // 500 ms
//   t.succeeded("192.0.2.7");    // back to 0 for the next failure
//
// Thread safety: all members may be called from any thread (one mutex, taken only on a failure or a success from
// an address that failed).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tern::auth {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::chrono::milliseconds first_delay{250};
  static constexpr std::chrono::milliseconds max_delay{4000};
  static constexpr std::chrono::seconds forget_after{60};
  static constexpr std::size_t max_addresses = 10'000;

  // Records a failed login from `address` and returns how long its refusal should wait.
  std::chrono::milliseconds failed(std::string_view address, Clock::time_point now);
  // A successful login from `address`: its failures are forgotten.
  void succeeded(std::string_view address);
  // Whether any address has failures on record: a success need not look its address up otherwise.
  bool remembers_any() const noexcept { return size_.load(std::memory_order_relaxed) != 0; }

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last;
  };
  void evict(Clock::time_point now);

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::atomic<std::size_t> size_{0};  // entries_.size(), readable without the mutex
};

}  // namespace tern::auth
