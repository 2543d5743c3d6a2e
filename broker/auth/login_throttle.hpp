// Brute-force protection: failed logins from one address are answered later and later.
//
// The n-th failure in a row from an address waits delay(n) before its CONNACK (and the connection's end): 0 for the
// first (a typo costs nothing), then 250 ms, 500 ms, 1 s, 2 s, and 4 s from the sixth on. The wait is the
// connection's alone (a timer on its shard; nothing blocks), so other clients, from that address too, are served
// as before: only refusals wait. A minute without failures starts the count again; a success does not, since many
// devices may share an address (NAT) and one of them logging in must not clear an attacker's count. At most
// `max_addresses` are remembered; past that the oldest entries are forgotten.
//
//   LoginThrottle t;
//   t.failed("192.0.2.7", now);  // 0 ms
//   t.failed("192.0.2.7", now);  // 250 ms
//   t.failed("192.0.2.7", now);  // 500 ms
//   t.failed("192.0.2.7", now + 2min);  // 0 ms: forgotten after a quiet minute
//
// Thread safety: failed() may be called from any thread (one mutex, taken only on a failure).
#pragma once

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

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last;
  };
  void evict(Clock::time_point now);

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tern::auth
