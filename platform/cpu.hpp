// CPUs: how many this process may run on (its affinity mask, which cgroups and taskset narrow, not the machine's
// count) and pinning a thread to one of them.
#pragma once

#include <system_error>

namespace tern::platform {

// At least 1.
unsigned cpu_count() noexcept;

// Pins the calling thread to the index-th CPU of the process's affinity mask (index taken modulo cpu_count()), so a
// shard stays on one core and keeps its caches. An error is reported, not thrown: pinning is an optimization.
std::error_code pin_current_thread(unsigned index) noexcept;

// One turn of a spin-wait loop: tells the CPU the thread is waiting for another (x86 PAUSE, AArch64 ISB, 32-bit
// ARM YIELD), so that the loop neither floods the memory system nor starves a sibling hardware thread.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("isb" ::: "memory");
#elif defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace tern::platform
