// The power-cut simulator's operation log: what the LD_PRELOAD shim (shim.cpp) writes for every operation that
// changes the store directory, and what the rebuild (rebuild.hpp) replays. Plain structs and constants only, so that
// the shim can include it without pulling the C++ library into every call it forwards.
//
// A record (host byte order; the log never leaves the machine that wrote it):
//   OpRecordHeader            magic, kind, the file's inode number, offset, length, name lengths, flags
//   name bytes                kind open/rename/unlink/mmap: the entry's name in the store directory
//   name2 bytes               kind rename: the new name
//   data bytes                kind write without kOpZeros: the `length` bytes written at `offset`
//
// One record per operation, written with one writev() to a file opened O_APPEND, after the operation returned and
// before the call returns to the broker, under the shim's lock so that the log's order is the order in which the
// operations happened. SIGKILL can cut only the last record short (a write to a regular file stops between pages
// when a fatal signal is pending); the reader drops a short tail. An operation the kill cut off between its system
// call and its record is missing from the log: the rebuild then treats it as never done, which a disk could also
// have left, because no sync can have followed it.
//
//   open     name, ino, flags & kOpCreated: the shim looked before the call and the name did not exist
//   write    ino, offset, length (+ data, or kOpZeros for an all-zero buffer, which the commit log writes by MiBs)
//   truncate ino, offset = the new size
//   sync     ino: fsync() or fdatasync() returned 0 (both count: fdatasync() also writes the size a read needs)
//   dirsync  fsync() of the store directory itself returned 0
//   rename   name -> name2 within the directory
//   unlink   name
//   mmap     name, ino: mapped shared and writable; writes through the mapping are not seen by the shim
//   foreign  name: a file renamed into the directory from elsewhere, content the log does not have
//   hello    the shim is loaded (first record of every process)
#pragma once

#include <cstdint>

namespace tern::powercut {

inline constexpr std::uint32_t kOpMagic = 0x4c435054;  // "TPCL" as little-endian bytes

enum class OpKind : std::uint32_t {
  hello = 1,
  open = 2,
  write = 3,
  truncate = 4,
  sync = 5,
  dirsync = 6,
  rename = 7,
  unlink = 8,
  mmap = 9,
  foreign = 10,
};

inline constexpr std::uint32_t kOpCreated = 1;  // open: the call created the file
inline constexpr std::uint32_t kOpZeros = 2;    // write: every byte was zero; no data follows

struct OpRecordHeader {
  std::uint32_t magic;
  OpKind kind;
  std::uint64_t ino;
  std::uint64_t offset;
  std::uint64_t length;
  std::uint32_t name_length;
  std::uint32_t name2_length;
  std::uint32_t flags;
  std::uint32_t reserved;
};
static_assert(sizeof(OpRecordHeader) == 48);

// The shim's settings, read from its environment at load.
inline constexpr const char* kEnvDirectory = "TERN_POWERCUT_DIR";  // absolute path of the directory to watch
inline constexpr const char* kEnvLog = "TERN_POWERCUT_LOG";        // the log file, outside that directory

}  // namespace tern::powercut
