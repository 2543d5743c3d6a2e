// The power-cut simulator's LD_PRELOAD shim (test-only): forwards every file call of the process to the C library
// and, for files in one directory (TERN_POWERCUT_DIR), appends a record of each call that changes them to a log
// (TERN_POWERCUT_LOG, outside that directory). The record format and what each kind means: op_log.hpp.
//
//   LD_PRELOAD=libtern_powercut_shim.so TERN_POWERCUT_DIR=/tmp/store TERN_POWERCUT_LOG=/tmp/ops.log tern -c ...
//
// Why a shim and not a FUSE file system or an SQLite VFS: it sees SQLite's calls and the commit log's alike, with
// no change to the broker and no privileges (FUSE needs /dev/fuse, which CI containers often lack), and the broker
// keeps its real files, so its behaviour while it runs is the real one. The log holds the data written, so the
// directory a power cut could leave is rebuilt from a snapshot and the log alone (rebuild.hpp).
//
// Limits, each checked by the rebuild where it matters: one flat directory (names, not paths below it); calls the C
// library makes to itself (fopen, posix_fallocate, remove's unlink) are not seen, so the ones Tern and SQLite use
// are wrapped by their public names; writes through a shared writable mmap are not seen (recorded as `mmap`: SQLite's
// -shm, which it rebuilds from the WAL after a crash, and which EXCLUSIVE locking mode does not use at all).
//
// Thread safety: one lock orders every call on a watched file with its record; calls on other files (sockets, the
// broker's log) only read an atomic flag per descriptor. Nothing here allocates after load.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/powercut/op_log.hpp"

namespace {

using tern::powercut::kOpCreated;
using tern::powercut::kOpMagic;
using tern::powercut::kOpZeros;
using tern::powercut::OpKind;
using tern::powercut::OpRecordHeader;

constexpr int kMaxFd = 65536;
constexpr std::size_t kPathMax = 4096;

enum : unsigned char { untracked = 0, tracked_file = 1, tracked_dir = 2 };

std::atomic<unsigned char> g_tracked[kMaxFd];
std::uint64_t g_ino[kMaxFd];  // under g_lock
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
char g_dir[kPathMax];  // normalised, no trailing slash; empty: the shim only forwards
std::size_t g_dir_length = 0;
int g_log_fd = -1;

template <typename F>
F real(const char* name) {
  // dlsym is safe to repeat: the same answer each time, so a race between threads only repeats the look-up.
  static_assert(sizeof(F) == sizeof(void*));
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr) {
    static const char msg[] = "tern powercut shim: a C library function is missing\n";
    syscall(SYS_write, 2, msg, sizeof msg - 1);
    abort();
  }
  F f;
  std::memcpy(&f, &p, sizeof f);
  return f;
}

// The C library's function `name` of type __VA_ARGS__, as real_fn.
#define TERN_REAL(name, ...)       \
  using RealFn = __VA_ARGS__;      \
  static RealFn real_fn = nullptr; \
  if (real_fn == nullptr) real_fn = real<RealFn>(#name)

class Lock {
 public:
  Lock() { pthread_mutex_lock(&g_lock); }
  ~Lock() { pthread_mutex_unlock(&g_lock); }
};

bool is_tracked(int fd, unsigned char kind) {
  return g_log_fd >= 0 && fd >= 0 && fd < kMaxFd && g_tracked[fd].load(std::memory_order_acquire) == kind;
}

// Every byte of the log record reaches the file, or the process is dying.
void write_all(iovec* iov, int count) {
  while (count > 0) {
    const long n = syscall(SYS_writev, g_log_fd, iov, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      static const char msg[] = "tern powercut shim: cannot write the operation log\n";
      syscall(SYS_write, 2, msg, sizeof msg - 1);
      abort();  // a record lost would make the rebuild wrong, and the test must not pass on it
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
}

bool all_zero(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

void emit(OpKind kind, std::uint64_t ino, std::uint64_t offset, std::uint64_t length, const char* name = nullptr,
          const char* name2 = nullptr, std::uint32_t flags = 0, const void* data = nullptr) {
  OpRecordHeader h{};
  h.magic = kOpMagic;
  h.kind = kind;
  h.ino = ino;
  h.offset = offset;
  h.length = length;
  h.name_length = name ? static_cast<std::uint32_t>(std::strlen(name)) : 0;
  h.name2_length = name2 ? static_cast<std::uint32_t>(std::strlen(name2)) : 0;
  if (kind == OpKind::write && all_zero(data, length)) flags |= kOpZeros;
  h.flags = flags;
  iovec iov[4];
  int count = 0;
  iov[count++] = {&h, sizeof h};
  if (h.name_length > 0) iov[count++] = {const_cast<char*>(name), h.name_length};
  if (h.name2_length > 0) iov[count++] = {const_cast<char*>(name2), h.name2_length};
  if (kind == OpKind::write && (flags & kOpZeros) == 0 && length > 0) {
    iov[count++] = {const_cast<void*>(data), static_cast<std::size_t>(length)};
  }
  write_all(iov, count);
}

// Collapses "//", "/./" and a trailing "/" or "/." in place.
void normalise(char* p) {
  char* out = p;
  for (const char* in = p; *in != '\0';) {
    if (in[0] == '/' && (in[1] == '/' || (in[1] == '.' && (in[2] == '/' || in[2] == '\0')))) {
      in += in[1] == '/' ? 1 : 2;
      continue;
    }
    *out++ = *in++;
  }
  if (out > p + 1 && out[-1] == '/') --out;
  *out = '\0';
}

enum class Where { outside, directory, entry };

// Whether `path` (relative to `dirfd`) is the watched directory or an entry in it; the entry's name in `name`.
Where classify(int dirfd, const char* path, char* name) {
  if (g_log_fd < 0 || path == nullptr) return Where::outside;
  char full[kPathMax];
  if (path[0] == '/') {
    if (std::strlen(path) >= sizeof full) return Where::outside;
    std::strcpy(full, path);
  } else if (dirfd == AT_FDCWD) {
    if (getcwd(full, sizeof full) == nullptr || std::strlen(full) + std::strlen(path) + 2 > sizeof full)
      return Where::outside;
    std::strcat(full, "/");
    std::strcat(full, path);
  } else if (is_tracked(dirfd, tracked_dir)) {
    if (g_dir_length + std::strlen(path) + 2 > sizeof full) return Where::outside;
    std::strcpy(full, g_dir);
    std::strcat(full, "/");
    std::strcat(full, path);
  } else {
    return Where::outside;
  }
  normalise(full);
  if (std::strncmp(full, g_dir, g_dir_length) != 0) return Where::outside;
  const char* rest = full + g_dir_length;
  if (*rest == '\0') return Where::directory;
  if (*rest != '/' || std::strchr(rest + 1, '/') != nullptr) return Where::outside;
  std::strcpy(name, rest + 1);
  return Where::entry;
}

std::uint64_t inode_of(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

void set_tracked(int fd, unsigned char kind) {
  if (fd >= 0 && fd < kMaxFd) g_tracked[fd].store(kind, std::memory_order_release);
}

template <typename Open>
int tracked_open(int dirfd, const char* path, int flags, Open&& open_it) {
  char name[kPathMax];
  const Where where = classify(dirfd, path, name);
  if (where == Where::outside) {
    const int fd = open_it();
    set_tracked(fd, untracked);
    return fd;
  }
  Lock lock;
  struct stat st {};
  const bool existed = fstatat(dirfd, path, &st, 0) == 0;
  const int fd = open_it();
  if (fd < 0) return fd;
  const int saved = errno;
  if (where == Where::directory) {
    set_tracked(fd, tracked_dir);
  } else if (fd >= kMaxFd) {
    static const char msg[] = "tern powercut shim: descriptor too large to track\n";
    syscall(SYS_write, 2, msg, sizeof msg - 1);
    abort();
  } else {
    g_ino[fd] = inode_of(fd);
    set_tracked(fd, tracked_file);
    emit(OpKind::open, g_ino[fd], 0, 0, name, nullptr, existed ? 0 : kOpCreated);
    if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY) emit(OpKind::truncate, g_ino[fd], 0, 0);
  }
  errno = saved;
  return fd;
}

mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

__attribute__((constructor)) void shim_init() {
  const char* dir = std::getenv(tern::powercut::kEnvDirectory);
  const char* log = std::getenv(tern::powercut::kEnvLog);
  if (dir == nullptr || log == nullptr || dir[0] != '/' || std::strlen(dir) >= sizeof g_dir) return;
  std::strcpy(g_dir, dir);
  normalise(g_dir);
  g_dir_length = std::strlen(g_dir);
  const long fd = syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    static const char msg[] = "tern powercut shim: cannot open the operation log\n";
    syscall(SYS_write, 2, msg, sizeof msg - 1);
    abort();
  }
  g_log_fd = static_cast<int>(fd);
  emit(OpKind::hello, static_cast<std::uint64_t>(getpid()), 0, 0);
}

ssize_t after_write(int fd, ssize_t n, const void* data, off_t offset) {
  if (n > 0)
    emit(OpKind::write, g_ino[fd], static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(n), nullptr, nullptr,
         0, data);
  return n;
}

template <typename Sync>
int tracked_sync(int fd, Sync&& sync) {
  if (!is_tracked(fd, tracked_file) && !is_tracked(fd, tracked_dir)) return sync();
  // Held across the call, so that no write of another thread lands between the sync and its record and is
  // wrongly counted as covered by it.
  Lock lock;
  const int r = sync();
  if (r == 0) {
    if (g_tracked[fd].load(std::memory_order_acquire) == tracked_dir) {
      emit(OpKind::dirsync, 0, 0, 0);
    } else {
      emit(OpKind::sync, g_ino[fd], 0, 0);
    }
  }
  return r;
}

template <typename Rename>
int tracked_rename(int from_dir, const char* from, int to_dir, const char* to, Rename&& rename_it) {
  char from_name[kPathMax];
  char to_name[kPathMax];
  const Where a = classify(from_dir, from, from_name);
  const Where b = classify(to_dir, to, to_name);
  if (a == Where::outside && b == Where::outside) return rename_it();
  Lock lock;
  const int r = rename_it();
  if (r != 0) return r;
  if (a == Where::entry && b == Where::entry) {
    emit(OpKind::rename, 0, 0, 0, from_name, to_name);
  } else if (a == Where::entry) {
    emit(OpKind::unlink, 0, 0, 0, from_name);  // moved out of the directory: gone from it
  } else {
    // Moved in from elsewhere: content the log does not have. The rebuild refuses such a log.
    emit(OpKind::foreign, 0, 0, 0, b == Where::entry ? to_name : "");
  }
  return r;
}

template <typename Unlink>
int tracked_unlink(int dirfd, const char* path, Unlink&& unlink_it) {
  char name[kPathMax];
  if (classify(dirfd, path, name) != Where::entry) return unlink_it();
  Lock lock;
  const int r = unlink_it();
  if (r == 0) emit(OpKind::unlink, 0, 0, 0, name);
  return r;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  TERN_REAL(open, int (*)(const char*, int, ...));
  return tracked_open(AT_FDCWD, path, flags, [&] { return real_fn(path, flags, mode); });
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  TERN_REAL(open64, int (*)(const char*, int, ...));
  return tracked_open(AT_FDCWD, path, flags, [&] { return real_fn(path, flags, mode); });
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  TERN_REAL(openat, int (*)(int, const char*, int, ...));
  return tracked_open(dirfd, path, flags, [&] { return real_fn(dirfd, path, flags, mode); });
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  TERN_REAL(openat64, int (*)(int, const char*, int, ...));
  return tracked_open(dirfd, path, flags, [&] { return real_fn(dirfd, path, flags, mode); });
}

int creat(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char* path, mode_t mode) { return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

int close(int fd) {
  TERN_REAL(close, int (*)(int));
  if (fd >= 0 && fd < kMaxFd && g_tracked[fd].load(std::memory_order_acquire) != untracked) {
    Lock lock;
    set_tracked(fd, untracked);
    return real_fn(fd);
  }
  return real_fn(fd);
}

ssize_t write(int fd, const void* buf, size_t n) {
  TERN_REAL(write, ssize_t(*)(int, const void*, size_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, buf, n);
  Lock lock;
  const ssize_t r = real_fn(fd, buf, n);
  if (r <= 0) return r;
  const int saved = errno;
  const off_t end = lseek(fd, 0, SEEK_CUR);
  after_write(fd, r, buf, end - r);
  errno = saved;
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  TERN_REAL(pwrite, ssize_t(*)(int, const void*, size_t, off_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, buf, n, offset);
  Lock lock;
  return after_write(fd, real_fn(fd, buf, n, offset), buf, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t offset) {
  TERN_REAL(pwrite64, ssize_t(*)(int, const void*, size_t, off64_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, buf, n, offset);
  Lock lock;
  return after_write(fd, real_fn(fd, buf, n, offset), buf, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  TERN_REAL(writev, ssize_t(*)(int, const struct iovec*, int));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, iov, count);
  Lock lock;
  const ssize_t r = real_fn(fd, iov, count);
  if (r <= 0) return r;
  const int saved = errno;
  off_t at = lseek(fd, 0, SEEK_CUR) - r;
  auto left = static_cast<std::size_t>(r);
  for (int i = 0; i < count && left > 0; ++i) {
    const std::size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    after_write(fd, static_cast<ssize_t>(n), iov[i].iov_base, at);
    at += static_cast<off_t>(n);
    left -= n;
  }
  errno = saved;
  return r;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  TERN_REAL(pwritev, ssize_t(*)(int, const struct iovec*, int, off_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, iov, count, offset);
  Lock lock;
  const ssize_t r = real_fn(fd, iov, count, offset);
  auto left = r > 0 ? static_cast<std::size_t>(r) : 0;
  for (int i = 0; i < count && left > 0; ++i) {
    const std::size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
    after_write(fd, static_cast<ssize_t>(n), iov[i].iov_base, offset);
    offset += static_cast<off_t>(n);
    left -= n;
  }
  return r;
}

int ftruncate(int fd, off_t size) {
  TERN_REAL(ftruncate, int (*)(int, off_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, size);
  Lock lock;
  const int r = real_fn(fd, size);
  if (r == 0) emit(OpKind::truncate, g_ino[fd], static_cast<std::uint64_t>(size), 0);
  return r;
}

int ftruncate64(int fd, off64_t size) {
  TERN_REAL(ftruncate64, int (*)(int, off64_t));
  if (!is_tracked(fd, tracked_file)) return real_fn(fd, size);
  Lock lock;
  const int r = real_fn(fd, size);
  if (r == 0) emit(OpKind::truncate, g_ino[fd], static_cast<std::uint64_t>(size), 0);
  return r;
}

int truncate(const char* path, off_t size) {
  TERN_REAL(truncate, int (*)(const char*, off_t));
  char name[kPathMax];
  if (classify(AT_FDCWD, path, name) != Where::entry) return real_fn(path, size);
  Lock lock;
  const int r = real_fn(path, size);
  struct stat st {};
  if (r == 0 && stat(path, &st) == 0) emit(OpKind::truncate, st.st_ino, static_cast<std::uint64_t>(size), 0);
  return r;
}

int fsync(int fd) {
  TERN_REAL(fsync, int (*)(int));
  return tracked_sync(fd, [&] { return real_fn(fd); });
}

int fdatasync(int fd) {
  TERN_REAL(fdatasync, int (*)(int));
  return tracked_sync(fd, [&] { return real_fn(fd); });
}

int rename(const char* from, const char* to) {
  TERN_REAL(rename, int (*)(const char*, const char*));
  return tracked_rename(AT_FDCWD, from, AT_FDCWD, to, [&] { return real_fn(from, to); });
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  TERN_REAL(renameat, int (*)(int, const char*, int, const char*));
  return tracked_rename(from_dir, from, to_dir, to, [&] { return real_fn(from_dir, from, to_dir, to); });
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned flags) {
  TERN_REAL(renameat2, int (*)(int, const char*, int, const char*, unsigned));
  return tracked_rename(from_dir, from, to_dir, to, [&] { return real_fn(from_dir, from, to_dir, to, flags); });
}

int unlink(const char* path) {
  TERN_REAL(unlink, int (*)(const char*));
  return tracked_unlink(AT_FDCWD, path, [&] { return real_fn(path); });
}

int unlinkat(int dirfd, const char* path, int flags) {
  TERN_REAL(unlinkat, int (*)(int, const char*, int));
  return tracked_unlink(dirfd, path, [&] { return real_fn(dirfd, path, flags); });
}

int remove(const char* path) {
  TERN_REAL(remove, int (*)(const char*));
  return tracked_unlink(AT_FDCWD, path, [&] { return real_fn(path); });
}

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  TERN_REAL(mmap, void* (*)(void*, size_t, int, int, int, off_t));
  if (is_tracked(fd, tracked_file) && (prot & PROT_WRITE) != 0 && (flags & MAP_SHARED) != 0) {
    Lock lock;
    emit(OpKind::mmap, g_ino[fd], static_cast<std::uint64_t>(offset), length);
  }
  return real_fn(addr, length, prot, flags, fd, offset);
}

void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  TERN_REAL(mmap64, void* (*)(void*, size_t, int, int, int, off64_t));
  if (is_tracked(fd, tracked_file) && (prot & PROT_WRITE) != 0 && (flags & MAP_SHARED) != 0) {
    Lock lock;
    emit(OpKind::mmap, g_ino[fd], static_cast<std::uint64_t>(offset), length);
  }
  return real_fn(addr, length, prot, flags, fd, offset);
}

}  // extern "C"
