// The power-cut simulator's rebuild: from a snapshot of a directory and the log of every operation made on it
// afterwards (op_log.hpp, written by shim.cpp), the directory as a disk could have left it when the power went.
//
// The model of the disk (pessimistic, as in the crash-consistency literature: ALICE, CrashMonkey, SQLite's crash VFS):
//   - the snapshot is on disk;
//   - a file's writes and truncations up to its last fsync()/fdatasync() are on disk;
//   - of its later ones each 512-byte sector a write touched survives or not, independently (a torn write), and
//     a truncation survives or not; those that survive are applied in their order. A file may also keep the size
//     its lost writes gave it, with zeros where their data was;
//   - the directory's entries (create, rename, unlink) up to its last fsync are on disk; of the later ones a
//     prefix survives, in order, as a journalling file system (ext4, the default on the boards Tern runs on) commits
//     metadata in order. A file whose creation is lost is lost whole; an unlink that is lost brings the file back.
//
//   snapshot {tern.db, c}
//   log: open tern.db-commitlog (created); write 0..4096; fdatasync it; write 4096..4160; fsync the directory;
//        rename a -> b; unlink c
//   -> tern.db as in the snapshot; tern.db-commitlog (created before the directory sync) with bytes 0..4096, and
//      with the sector 4096..4160 or without; then no change of names, or the rename, or the rename and the unlink.
//
// A Choice picks one of these states: Choice::nothing() keeps nothing beyond what was synced (the worst case),
// Choice::everything() keeps it all (what kill -9 leaves), Choice::random(seed) draws one, reproducibly: per file
// either a prefix of its unsynced sectors or an arbitrary subset, at a drawn rate.
//
// Thread safety: free functions over values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/powercut/op_log.hpp"

namespace tern::powercut {

class RebuildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LogOp {
  OpKind kind = OpKind::hello;
  std::uint64_t ino = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint32_t flags = 0;
  std::string name;
  std::string name2;
  std::string data;  // write: the bytes (empty with kOpZeros)
};

// The records of a log file in order; a record cut short at the end (SIGKILL) is dropped. Throws RebuildError for
// a record with a bad magic anywhere else.
std::vector<LogOp> read_op_log(const std::filesystem::path& log);
// One record's bytes, as the shim writes it (for tests that write logs of their own).
std::string encode_op(const LogOp& op);

struct Choice {
  enum class Mode { nothing, everything, random } mode = Mode::random;
  std::uint64_t seed = 0;
  // random: the directory entries changed since its last sync survive as any subset, not only a prefix, as on a
  // file system that does not commit its metadata in order.
  bool unordered_entries = false;
  static Choice nothing() { return {Mode::nothing, 0}; }
  static Choice everything() { return {Mode::everything, 0}; }
  static Choice random(std::uint64_t seed) { return {Mode::random, seed}; }
  static Choice random_unordered(std::uint64_t seed) { return {Mode::random, seed, true}; }
};

struct RebuildStats {
  std::size_t ops = 0;
  std::size_t synced_files = 0;              // files with at least one sync in the log
  std::size_t unsynced_sectors = 0;          // sectors written after their file's last sync
  std::size_t kept_sectors = 0;              // of those, kept
  std::size_t unsynced_entries = 0;          // directory entries changed after the last directory sync
  std::size_t kept_entries = 0;              // of those, kept
  std::size_t torn_writes = 0;               // writes of which some sectors were kept and some not
  std::vector<std::string> shared_mappings;  // files mapped shared and writable (-shm): not modelled, see shim.cpp
};

// Writes into `out` (created; must not exist) the directory `snapshot` as changed by `ops` and cut by `choice`.
// Throws RebuildError if the log does things the model does not cover (a file moved in from elsewhere, an open of
// a name that does not exist, a shared writable mapping of a file other than SQLite's -shm).
RebuildStats rebuild(const std::filesystem::path& snapshot, const std::vector<LogOp>& ops,
                     const std::filesystem::path& out, Choice choice);

// True if the shim's first record is in the log (the shim was loaded and could write its log).
bool shim_was_loaded(const std::vector<LogOp>& ops);

}  // namespace tern::powercut
