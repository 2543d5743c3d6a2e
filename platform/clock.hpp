// Clocks. Time enters broker/core as an argument (DESIGN.md); these are where the server reads it.
//
//   auto t = tern::platform::monotonic_now();   // deadlines, keepalive, timers
//   auto w = tern::platform::wall_now();        // timestamps shown to people and written to files
#pragma once

#include <chrono>
#include <cstdint>

namespace tern::platform {

using MonotonicClock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

MonotonicClock::time_point monotonic_now() noexcept;
WallClock::time_point wall_now() noexcept;
// wall_now() as milliseconds since the Unix epoch: how stored times are kept.
std::int64_t unix_millis() noexcept;

// Time since the machine booted, counting suspended time (CLOCK_BOOTTIME on Linux).
std::chrono::milliseconds since_boot() noexcept;

}  // namespace tern::platform
