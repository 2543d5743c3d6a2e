// A counter that ticks at a constant rate and is read in a few nanoseconds, with no system call and no vDSO: for
// timing very short spans on a hot path (the core lock's hold times, broker/net/measured_mutex.hpp), where two
// steady_clock reads per span cost measurable throughput.
//
//   x86-64   RDTSC: the invariant TSC (constant rate across frequency changes, in step across cores on every CPU
//            Tern targets), ~20-40 cycles, not serializing (a span of a microsecond does not need it to be)
//   AArch64  CNTVCT_EL0: the generic timer's virtual count, readable from user space on Linux
//   other    the steady clock (no faster counter known: correct, just not cheaper)
//
// Ticks are not nanoseconds: CycleRate converts, from the ticks and steady-clock time that passed between two
// readings of both, so no frequency has to be known or trusted.
//
// Thread safety: cycle_count() is a plain read; CycleRate is a value.
#pragma once

#include <chrono>
#include <cstdint>

namespace tern::platform {

#if defined(__x86_64__)
inline std::uint64_t cycle_count() noexcept { return __builtin_ia32_rdtsc(); }
#elif defined(__aarch64__)
inline std::uint64_t cycle_count() noexcept {
  std::uint64_t ticks;
  asm volatile("mrs %0, cntvct_el0" : "=r"(ticks));
  return ticks;
}
#else
inline std::uint64_t cycle_count() noexcept {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}
#endif

// Ticks -> nanoseconds, measured: `start` read both clocks once; to_ns() scales by the rate seen since then (the longer
// the span, the better the estimate; after a second it is exact to well under 0.1 %).
class CycleRate {
 public:
  CycleRate() noexcept : start_ticks_(cycle_count()), start_(std::chrono::steady_clock::now()) {}

  // Nanoseconds of steady-clock time since construction, and the ns per tick over that span (1 if no tick passed).
  struct Reading {
    std::uint64_t wall_ns;
    double ns_per_tick;
  };
  Reading read() const noexcept {
    const std::uint64_t ticks = cycle_count() - start_ticks_;
    const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_);
    const auto ns = static_cast<std::uint64_t>(wall.count());
    return {ns, ticks == 0 ? 1.0 : static_cast<double>(ns) / static_cast<double>(ticks)};
  }

 private:
  std::uint64_t start_ticks_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tern::platform
