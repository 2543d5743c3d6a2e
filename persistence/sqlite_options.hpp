// Settings of the SQLite store, from the configuration (persistence_location, persistence_sync) and for tests.
//
// Thread safety: a value type (compaction_step, for tests, is called on the store's writer).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace tern::persistence {

enum class SyncMode {
  full,    // each group's commit-log record is fdatasynced before its callbacks run; survives power loss (default)
  normal,  // written but not synced: survives a crash of the process (kill -9), not a power cut
};

struct SqliteOptions {
  std::filesystem::path directory;    // persistence_location; the database is directory / file_name
  std::string file_name = "tern.db";  // persistence_file
  SyncMode sync = SyncMode::full;     // persistence_sync
  // Group commit: a commit waits until the oldest queued batch is this old, or until max_group_ops ops are queued
  // (or a flush() waits), to gather more batches into the transaction. 0: commit whatever is queued at once;
  // batches then group while the previous commit (its fsync) runs, which is where they pile up under load anyway.
  // Default 0 because the fsync already gathers the batches: a delay adds latency without raising throughput
  // (bench/README.md, "Decisions log"). A delay can still pay on flash that wears (fewer, larger commits at
  // moderate load): raise it there, knowingly trading latency.
  std::chrono::microseconds commit_delay{0};
  // Batches that only record how deliveries progress (QoS 1 deliveries handed a packet id, deliveries acknowledged:
  // SqliteStore::may_wait) acknowledge nothing to anyone, so a group of only those waits up to this long for more
  // (or for a batch that does acknowledge something, which then takes them along) before its commit. A session
  // taking its backlog sends a stream of them; committed as they come, each small group costs a page of the log
  // written and synced (flash wear), for acknowledgements that only spare a duplicate after a crash. 0: no wait.
  std::chrono::microseconds progress_commit_delay{50'000};
  std::size_t max_group_ops = 4096;  // ops per transaction (whole batches; a larger batch goes alone)
  // Upper bound on the database file (PRAGMA max_page_count); 0: none. A group that adds data (puts) fails (its
  // callbacks get durable == false) instead of filling the device's flash when the database's used pages, plus
  // twice the journal's records not yet applied and twice the group's own estimate, would pass it: the journal is
  // applied to the tables only later, when the group is long acknowledged (sqlite_store.cpp). Groups that only
  // delete are always taken, so that acknowledgements can still make room. The commit log is not counted: it is
  // bounded by commit_log_bytes.
  std::uint64_t max_database_bytes = 0;
  // Hold the database's lock for the life of the store: a second broker on the same directory fails to open it
  // instead of corrupting it, and SQLite needs no -shm file. Tests turn it off to look inside while it runs.
  bool exclusive_lock = true;
  // Compact the journal (sqlite_journal.hpp) into the tables once it holds journal_compact_ops ops, leaving its newest
  // journal_keep_ops ops: the acknowledgements in them cancel the deliveries put in the part that goes. Larger: more of
  // the journalled work cancels out, but each compaction holds up the commits behind it for longer, and the journal's
  // records are also held in RAM (their encoded size, ~40 bytes an op for 64-byte messages; at most about
  // commit_log_bytes, whatever their count), plus a 56-byte view of each op while it compacts. A smaller keep
  // window writes more deliveries still in flight to the tables. The plan runs over every op in the journal at each
  // compaction: fewer, larger compactions that keep the same window plan each op fewer times. (How the defaults
  // were chosen: bench/README.md, "Decisions log".)
  std::size_t journal_compact_ops = 40000;
  std::size_t journal_keep_ops = 10000;  // at most half of journal_compact_ops is kept
  // The commit log (commit_log.hpp): once its records reach this many bytes from the front, a compaction applies
  // all of them and the log starts again from the front. So the file stays about this size (plus one group's
  // record and grow_bytes), and a rewind (its compaction applies every delivery still in flight, with an fsync)
  // comes every this many bytes of records: about every 0.1 s at 100 MB/s of 64-byte publishes. Every byte of the
  // file is written twice before the log first rewinds (zeros, then records), so a larger log costs a new store's
  // flash that much more (bench/README.md, "Flash wear").
  std::uint64_t commit_log_bytes = 8 << 20;
  // The log's file grows by this much at a time, written as zeros ahead of the records.
  std::uint64_t commit_log_grow_bytes = 1 << 20;
  // A load() at start-up logs how far it got at most this often (a large database takes a while to read back, and
  // an operator must be able to see that it is working). Tests make it 0: a line at every check.
  std::chrono::milliseconds load_progress_interval{1000};
  // Compact the journal when the store is destroyed. Tests turn it off to leave the journal as a crash would.
  bool compact_on_close = true;
  // Test-only (test_switches.hpp): the commit log is not synced, so acknowledged groups are not durable.
  bool skip_commit_log_sync = false;
  // Tests: called on the writer at each point where a compaction may serve page requests, before it does.
  std::function<void()> compaction_step;
};

// No usable database could be opened or created (e.g. the directory is not writable, the disk is full, or another
// process holds the database). The server should refuse to start with persistence on, or run without it.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tern::persistence
