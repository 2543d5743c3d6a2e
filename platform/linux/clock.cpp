#include "platform/clock.hpp"

#include <time.h>

namespace tern::platform {

MonotonicClock::time_point monotonic_now() noexcept { return MonotonicClock::now(); }

WallClock::time_point wall_now() noexcept { return WallClock::now(); }

std::chrono::milliseconds since_boot() noexcept {
  timespec ts{};
  if (::clock_gettime(CLOCK_BOOTTIME, &ts) != 0) return std::chrono::milliseconds{0};
  return std::chrono::seconds{ts.tv_sec} + std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::nanoseconds{ts.tv_nsec});
}

std::int64_t unix_millis() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
}

}  // namespace tern::platform
