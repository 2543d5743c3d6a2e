// A slow disk under one file, for tests (LD_PRELOAD; test-only): every write(2) to the file named by
// TERN_TEST_SLOW_WRITE_PATH, through a descriptor opened by that name, first sleeps TERN_TEST_SLOW_WRITE_MS
// milliseconds, as a write stalled by a busy SD card would. Used by 32_blocked_log_test.cpp on the broker's log file.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

namespace {

std::atomic<int> g_slow_fd{-1};

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

int remember(const char* path, int fd) {
  const char* slow = std::getenv("TERN_TEST_SLOW_WRITE_PATH");
  if (fd >= 0 && slow != nullptr && path != nullptr && std::strcmp(path, slow) == 0) g_slow_fd.store(fd);
  return fd;
}

mode_t mode_of(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? static_cast<mode_t>(va_arg(args, int)) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_of(flags, args);
  va_end(args);
  static const auto next = real<int (*)(const char*, int, ...)>("open");
  return remember(path, next(path, flags, mode));
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  const mode_t mode = mode_of(flags, args);
  va_end(args);
  static const auto next = real<int (*)(const char*, int, ...)>("open64");
  return remember(path, next(path, flags, mode));
}

ssize_t write(int fd, const void* data, size_t size) {
  static const auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  if (fd >= 0 && fd == g_slow_fd.load()) {
    const char* ms = std::getenv("TERN_TEST_SLOW_WRITE_MS");
    ::usleep(static_cast<useconds_t>(ms != nullptr ? std::atoi(ms) : 0) * 1000);
  }
  return next(fd, data, size);
}

}  // extern "C"
