// The SQLite store's commit log: DIR/tern.db-commitlog, a file of journal records (op_codec.hpp), one per group
// commit, each written with pwrite() (its header, then its body) and made durable with one fdatasync() before the
// group is acknowledged. The journal (sqlite_journal.hpp) applies them to the tables later, in a compaction, and
// records in the same SQLite transaction how far it got (meta: journal_seq, journal_offset).
//
// Why a file of its own and not a table: a row in an SQLite transaction costs the pages it touches written again (and
// their journal: in WAL mode a frame each and a checkpoint that copies it again), the file the record's own bytes. The
// space is preallocated (by writing zeros, grow_bytes at a time) and reused, so that an fdatasync() need not also write
// the file's new size. (The measurements behind both: bench/README.md, "Decisions log".)
//
// Record (integers little-endian):
//   offset 0  u32 magic "TCL1"
//          4  u32 CRC-32C of bytes 8 .. end of body
//          8  u64 journal id: a random number the database holds (meta journal_id), so a log that belongs to
//                 another database never replays into this one
//         16  u64 seq: 1 + the previous record's; never reused, also not across rewinds
//         24  u32 the previous record's CRC: a record left from before an earlier crash that happens to follow a
//                 rewritten one (same place, same seq) does not chain to it
//         28  u32 body length
//         32  body
//
//   head ->                                           rewind (after a durable compaction applied every record)
//   [#41 #42 #43 #44 ...zeros...]         ->     [#45 #42 #43 #44 ...]    #42 is stale: seq 42 is not 46
//
// Reading (scan_commit_log) starts where the database says the first record it has not applied is, expecting
// seq journal_seq + 1, and takes records while each is whole (CRC), has the next seq, this journal's id and chains
// to the one before. The first that does not is the end: zeros, a record torn by a crash (never acknowledged: the
// fdatasync had not returned), or a stale one. Two things are not an end but an error:
//   - at the start, a whole record of this journal with a later seq: records the database has not applied are
//     missing (CommitLogError: the database is moved aside, sqlite_open.hpp);
//   - a damaged record followed by a whole one that chains to it: damage in the middle, not a torn tail
//     (CommitLogError). Unless the records were written without an fdatasync each (persistence_sync normal,
//     LogSync::none): then a power cut leaves exactly that, a record torn and a later one whole, and the scan ends
//     at the torn record and says so (torn_before_whole): the groups from it on are lost, not the whole store. How
//     the records were written is taken from the current settings; a log written under the other one is judged as
//     if written under these.
// and at the start, a whole record of another journal means the file belongs to another database
// (CommitLogForeign: the file is moved aside alone).
//
// Space is reused only from the start (rewind), after a compaction that applied every record committed durably
// (synchronous=FULL, as every compaction is) and set journal_offset to 0.
//
// Thread safety: none; the store's writer (or its open and close) uses it alone.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.hpp"

namespace tern::persistence {

inline constexpr const char* kCommitLogSuffix = "-commitlog";  // tern.db -> tern.db-commitlog

class CommitLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file's records belong to another journal id.
class CommitLogForeign : public CommitLogError {
 public:
  using CommitLogError::CommitLogError;
};

struct CommitLogRecord {
  std::uint64_t seq = 0;
  std::uint64_t end = 0;  // the offset just past it
  std::string body;
};

struct CommitLogScan {
  std::vector<CommitLogRecord> records;  // in order, seq first_seq, first_seq + 1, ...
  std::uint64_t head = 0;                // where the next record goes: past the last one read
  std::uint64_t next_seq = 0;
  std::uint32_t last_crc = 0;      // the last record's CRC, 0 if none was read
  bool torn_before_whole = false;  // LogSync::none: the end is a torn record with a whole one after it
};

// How the log's records were written: each made durable before the next was written (persistence_sync full), or
// not (normal).
enum class LogSync { each_record, none };

// Reads the records of journal `id` from `offset` on, the first with seq `first_seq`, as above. Throws
// CommitLogForeign, CommitLogError; std::system_error if the file cannot be read.
CommitLogScan scan_commit_log(const platform::File& file, std::uint64_t id, std::uint64_t offset,
                              std::uint64_t first_seq, LogSync written = LogSync::each_record);

class CommitLog {
 public:
  struct Options {
    bool sync = true;                    // fdatasync() each record before append() returns
    std::uint64_t grow_bytes = 4 << 20;  // zeros written ahead of the head at a time
  };

  // Continues after `scan` (made from the same file and id).
  CommitLog(platform::File file, std::uint64_t id, const CommitLogScan& scan, Options options);

  // Writes `body` as the next record at the head and, if Options::sync, makes it durable. Returns its seq. Throws
  // std::system_error (disk full, I/O error) or std::length_error (a body of 4 GiB or more); the head and seq then
  // stay, and the next append overwrites what this one may have written.
  std::uint64_t append(std::string_view body);

  std::uint64_t head() const noexcept { return head_; }
  std::uint64_t next_seq() const noexcept { return next_seq_; }

  // The next record goes at offset 0. Only after the database durably recorded that it applied every record and
  // that the log starts at 0 again. A file grown beyond `keep_bytes` (by records larger than usual) is cut back
  // (if that fails, it stays larger).
  void rewind(std::uint64_t keep_bytes) noexcept;

  const platform::File& file() const noexcept { return file_; }

 private:
  platform::File file_;
  std::uint64_t id_;
  Options options_;
  std::uint64_t head_;
  std::uint64_t next_seq_;
  std::uint32_t last_crc_;
  std::uint64_t allocated_;  // the file's size: zeros or old records beyond the head
};

}  // namespace tern::persistence
