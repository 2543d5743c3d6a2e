#include "platform/sysinfo.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "platform/cpu.hpp"

namespace tern::platform {
namespace {

// One "Key:   N kB" line of /proc/meminfo, in bytes.
std::optional<std::uint64_t> meminfo_bytes(const char* key) noexcept {
  std::FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return std::nullopt;
  char line[256];
  const std::size_t key_len = std::strlen(key);
  std::optional<std::uint64_t> result;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, key_len) != 0 || line[key_len] != ':') continue;
    unsigned long long kib = 0;
    if (std::sscanf(line + key_len + 1, "%llu", &kib) == 1) result = kib * 1024;
    break;
  }
  std::fclose(f);
  return result;
}

}  // namespace

std::optional<SystemInfo> system_info() noexcept {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return std::nullopt;
  SystemInfo info;
  info.uptime = std::chrono::seconds{si.uptime};
  const std::uint64_t unit = si.mem_unit == 0 ? 1 : si.mem_unit;
  // Both figures from /proc/meminfo when it has them, so they agree: a 32-bit process's sysinfo() may clip
  // totalram (seen under qemu-arm on a large host) while MemAvailable is exact.
  info.memory_total = meminfo_bytes("MemTotal").value_or(static_cast<std::uint64_t>(si.totalram) * unit);
  // MemAvailable counts reclaimable page cache; sysinfo's freeram does not, and looks alarming on any busy device.
  info.memory_available = meminfo_bytes("MemAvailable").value_or(static_cast<std::uint64_t>(si.freeram) * unit);
  for (int i = 0; i < 3; ++i) info.load[i] = static_cast<double>(si.loads[i]) / (1 << SI_LOAD_SHIFT);
  info.cpus = cpu_count();
  return info;
}

std::optional<ProcessInfo> process_info() noexcept {
  ProcessInfo info;
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return std::nullopt;
  info.cpu_time = std::chrono::seconds{usage.ru_utime.tv_sec + usage.ru_stime.tv_sec} +
                  std::chrono::microseconds{usage.ru_utime.tv_usec + usage.ru_stime.tv_usec};
  // Current RSS, not ru_maxrss (the peak): the second field of statm, in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return std::nullopt;
  unsigned long long size = 0, resident = 0;
  const int fields = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (fields != 2) return std::nullopt;
  info.resident_bytes = resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return info;
}

// Defined by the sanitizers' runtimes (ASan, TSan), which replace malloc: glibc's mallinfo2() then sees no heap at
// all. Weak, so that a normal build links without it and finds it null.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes() __attribute__((weak));

std::optional<std::uint64_t> heap_in_use() noexcept {
  if (&__sanitizer_get_current_allocated_bytes != nullptr) return __sanitizer_get_current_allocated_bytes();
  const struct mallinfo2 info = ::mallinfo2();
  return static_cast<std::uint64_t>(info.uordblks) + static_cast<std::uint64_t>(info.hblkhd);
}

}  // namespace tern::platform
