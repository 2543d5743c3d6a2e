// System and process figures for monitoring ($SYS topics, the status line sent to systemd).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace tern::platform {

struct SystemInfo {
  std::chrono::seconds uptime{0};
  std::uint64_t memory_total = 0;      // bytes
  std::uint64_t memory_available = 0;  // bytes the kernel could give without swapping (MemAvailable)
  double load[3] = {0, 0, 0};          // 1, 5 and 15 minute load averages
  unsigned cpus = 1;                   // CPUs this process may use
};

// Empty when the kernel does not answer (no /proc, a seccomp sandbox).
std::optional<SystemInfo> system_info() noexcept;

struct ProcessInfo {
  std::uint64_t resident_bytes = 0;  // RSS
  std::chrono::microseconds cpu_time{0};  // user + system, all threads
};

std::optional<ProcessInfo> process_info() noexcept;

// Bytes of heap the allocator has handed out and not got back (glibc: mallinfo2()'s uordblks, over every arena;
// blocks served by mmap counted too, hblkhd). What Tern reports as $SYS/broker/heap/current. Empty where the
// allocator cannot say. Walks the allocator's arenas under their locks (microseconds, no system call): for a call
// every 100 ms at most (memory_limit), not per message.
std::optional<std::uint64_t> heap_in_use() noexcept;

}  // namespace tern::platform
