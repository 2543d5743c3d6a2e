// The SQLite store's write-ahead journal: the commit log (commit_log.hpp), where each group commit writes its ops as
// ONE record, and the compaction that later applies the records ("rows") to the tables.
//
// Why: applying a group to the tables costs a statement per op that runs (and a group under load has many) plus
// the message garbage collection, and the writer is busy all that time while the publishers wait for their
// PUBACKs. Appending one record costs one write, and the work is done once per compaction over many groups, when
// most of it cancels: a message put in one group and acknowledged in the next is planned away entirely
// (transaction_plan.hpp).
//
//   group 1: plan, encode (op_codec.hpp) -> record 1 {PutMessage 7, PutQueueEntry s/3 -> 7 fresh}   fdatasync
//   group 2:                              -> record 2 {DeleteQueueEntry s/3, ...}                   fdatasync
//   ... load() / load_queue() / open / close:
//   compact: BEGIN; the ops of rows 1, 2, ... in seq order; plan over all of them (message 7 and s/3: nothing to
//            do); apply the rest to the tables; collect garbage; raise next_message_id; meta journal_seq = 2,
//            journal_offset = the end of record 2; COMMIT
//   ... or the journal holds SqliteOptions::journal_compact_ops ops: the same for the oldest rows only, leaving
//   the newest journal_keep_ops ops, and planned against every row (transaction_plan.hpp, "cut"). Under load a
//   delivery is acknowledged a few thousand ops after it was put; applying the whole journal would write every
//   delivery still in flight at that moment to the tables only to delete it at the next compaction. Leaving the
//   newest ops lets those acknowledgements cancel their deliveries. A fresh put whose key is decided by a row that
//   stays is carried in memory (no row of its own), and garbage-collection candidates that a row that stays still
//   references are deferred to a later compaction.
//
// The journal's records are also kept in memory, in row order: those this process appended (the writer keeps a
// copy of each record it writes: the batches go back to the shards, see Store::take_spent), after those read at
// open. So compaction never reads the log back. It plans over views of the records' ops (scan_record(),
// op_codec.hpp) and decodes only the ops it applies, which under load are few: most of a journal's work cancels.
// Records rather than decoded StoreOps because the encoding is the smaller form (a StoreOp holds its strings
// apart); the measurements: bench/README.md, "Decisions log".
// The records stay the durable record; the memory is the same bytes (this store is the log's only writer). It
// costs RAM in proportion to SqliteOptions::journal_compact_ops, and at most about commit_log_bytes of records.
//
// Crash safety: a record is written (and, with persistence_sync full, fdatasynced) before the group's callbacks
// run, so it is the durable record of the group; compaction moves meta's journal_seq / journal_offset past the
// rows it applies in the same transaction, so after a crash each row is either still ahead of that point or in the
// tables, never both, never neither. The next open compacts what a crash left. The carried puts and deferred
// candidates are only in memory: the rows that stay reach the same state without them, except that a deferred
// candidate is forgotten, so the open after a crash deletes every message nothing references.
//
// Once the log's head passes SqliteOptions::commit_log_bytes, a compaction applies every row, commits with
// synchronous=FULL and sets journal_offset to 0, and the log starts again from the front (commit_log.hpp).
//
// Databases of schema 2 kept the journal as rows of a table `journal(seq, ops)`; rows found there at open come
// before the log's records (their seqs are at most meta's journal_seq) and compaction deletes them.
//
// A row that cannot be decoded is found at open (read_journal, from sqlite_open.cpp): the database is then moved
// aside like a corrupt one, with its log. Skipping the row would apply later groups without an earlier one,
// breaking the store's ordering contract and silently losing acknowledged messages; the moved files keep them for
// a person to recover.
//
// Thread safety: none; the store's writer (or load() under the store's mutex) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/store_ops.hpp"
#include "persistence/commit_log.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

class SqliteTables;

// Heterogeneous lookup by string_view in a map keyed by std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class JournalFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct JournalRow {
  std::uint64_t seq = 0;
  std::string record;        // its record (op_codec.hpp), checked when read; a row may hold no op, only used-up ids
  std::size_t op_count = 0;  // the ops in it
  std::uint64_t end = 0;     // the offset past its record in the log; 0 for a row of the schema 2 table
  bool in_table() const noexcept { return end == 0; }  // a log record ends past its header, never at 0
};

// What is in a database's journal: the rows of the schema 2 table, then the log's records from meta's
// journal_offset on (commit_log.hpp), decoded.
struct FoundJournal {
  std::uint64_t id = 0;  // meta journal_id
  std::deque<JournalRow> rows;
  std::uint64_t next_message_id = 0;  // the largest of the rows
  CommitLogScan scan;                 // where the log goes on (its records are in rows)
};

// Reads the journal of `db` (schema 3) and its log. Read-only. Throws core::StoreCodecError naming the row that does
// not decode; CommitLogError, CommitLogForeign (scan_commit_log()); SqliteError.
FoundJournal read_journal(Database& db, const platform::File& log, LogSync written = LogSync::each_record);

class SqliteJournal {
 public:
  // Takes over what read_journal() found in `db` and `log`. A rewind cuts a log file grown beyond
  // `log_keep_bytes` (by larger records than usual) back to that size.
  SqliteJournal(Database& db, std::unique_ptr<CommitLog> log, FoundJournal found, std::uint64_t log_keep_bytes);
  ~SqliteJournal();

  // Plans `ops` (one group, in order, scanned from its batches; see transaction_plan.hpp for why they are not const)
  // and appends the ops that run as one record to the log, and to the journal's memory (the caller keeps the batches
  // the ops view, see Store::take_spent). `room`: if not 0, the group is refused (JournalFull) when it adds data and
  // twice the size of the journal's rows with it would pass `room` (SqliteOptions::max_database_bytes). Throws
  // JournalFull, std::system_error (the log could not be written); then nothing was appended.
  void append(std::vector<core::StoreOpView>& ops, std::uint64_t room = 0);

  // Applies the oldest rows to the tables, in one transaction, planned against every row (see
  // transaction_plan.hpp): as many rows as leave at least `keep_ops` ops in the journal (all rows if none can go,
  // or keep_ops is 0). With `rewind` (and keep_ops 0) the transaction also sets meta's journal_offset to 0 and the
  // log then starts again from the front: the caller commits it durably (synchronous=FULL). Returns the number of
  // ops applied (before planning). Throws (SqliteError, core::StoreCodecError); then nothing changed.
  // `may_skip`: if nothing before the cut is left to apply, the rows go without a transaction (compact() says why);
  // then meta's next_message_id is not raised for them yet.
  std::size_t compact(SqliteTables& tables, std::size_t keep_ops = 0, bool rewind = false, bool may_skip = false);

  // Whether an op in the journal (its rows or carried puts) may change the queue entries of `client_id` with a seq
  // above `after_seq`: a queue entry op of the client with a higher seq, or a DeleteSession of it. If not, the
  // tables already hold those entries as they are after every journalled group, and a page of them can be read
  // without compacting first (SqliteStore::read_queue_locked): a session draining its backlog a page at a time
  // then leaves its acknowledgements in the journal, where they cancel against the deliveries, instead of
  // compacting (a transaction, its pages and their journal) for every page.
  bool holds_queue_after(std::string_view client_id, std::uint64_t after_seq);

  // Ops in the journal's memory, and the encoded size of the rows that hold them.
  std::size_t ops() const noexcept { return ops_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  // Bytes from the log's front to its head.
  std::uint64_t log_bytes() const noexcept { return log_->head(); }

 private:
  Database& db_;
  std::unique_ptr<CommitLog> log_;
  Statement delete_, set_meta_;
  std::deque<JournalRow> rows_;          // the rows in the journal, in order
  std::string carried_;                  // puts carried by the last compaction, encoded: before every row
  std::size_t carried_ops_ = 0;          // in carried_
  std::size_t ops_ = 0;                  // in carried_ and rows_
  std::uint64_t bytes_ = 0;              // of rows_
  std::vector<std::uint64_t> deferred_;  // garbage-collection candidates the last compaction deferred
  std::uint64_t next_message_id_ = 0;    // the largest next_message_id of the rows
  std::uint64_t log_keep_bytes_;
  // For holds_queue_after(): per client id, the highest seq of a queue entry op in the journal (the carried puts
  // and the first reach_rows_ rows); kWholeQueue if a DeleteSession of it is there. kReachStale: a compaction took
  // rows, so it is built again.
  static constexpr std::uint64_t kWholeQueue = ~std::uint64_t{0};
  void note_queue_reach(const core::StoreOpView& op);
  std::unordered_map<std::string, std::uint64_t, StringHash, std::equal_to<>> queue_reach_;
  static constexpr std::size_t kReachStale = ~std::size_t{0};
  std::size_t reach_rows_ = kReachStale;
  std::vector<core::StoreOpView> reach_ops_;
  // compact()'s transaction: applies ops [0, plan.skip.size()) and records how far the journal got. Throws (then
  // nothing changed).
  void commit_transaction(SqliteTables& tables, const std::vector<core::StoreOpView>& ops, const TransactionPlan& plan,
                          const JournalRow* last_in_table, const JournalRow* last_in_log, bool rewind);
  std::string record_;                       // append()'s encoding buffer
  std::vector<core::StoreOpView> plan_ops_;  // compact()'s, kept for their capacity
};

}  // namespace tern::persistence
