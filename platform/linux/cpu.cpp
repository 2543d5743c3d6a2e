#include "platform/cpu.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

namespace tern::platform {

unsigned cpu_count() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1u;
}

std::error_code pin_current_thread(unsigned index) noexcept {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return {errno, std::system_category()};
  const int count = CPU_COUNT(&allowed);
  if (count <= 0) return std::make_error_code(std::errc::invalid_argument);
  int wanted = static_cast<int>(index % static_cast<unsigned>(count));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (wanted-- > 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    const int rc = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one);
    return rc == 0 ? std::error_code{} : std::error_code{rc, std::system_category()};
  }
  return std::make_error_code(std::errc::invalid_argument);
}

}  // namespace tern::platform
