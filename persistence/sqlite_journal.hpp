// The SQLite store's write-ahead journal: a table `journal(seq, ops)` inside the database itself, where each group
// commit writes its ops as ONE row, and the compaction that later applies the rows to the tables.
//
// Why: applying a group to the tables costs a statement per op that runs (~2 us each; ~1,500 per group under load)
// plus the message garbage collection, and the writer is busy all that time while the publishers wait for their
// PUBACKs. Appending one blob costs one INSERT, and the work is done once per compaction over many groups, when
// most of it cancels: a message put in one group and acknowledged in the next is planned away entirely
// (transaction_plan.hpp).
//
//   group 1: plan, encode (op_codec.hpp) -> INSERT journal(1, {PutMessage 7, PutQueueEntry s/3 -> 7 fresh})  COMMIT
//   group 2:                              -> INSERT journal(2, {DeleteQueueEntry s/3, ...})                  COMMIT
//   ... load() / load_queue() / open / close:
//   compact: BEGIN; the ops of rows 1, 2, ... in seq order; plan over all of them (message 7 and s/3: nothing to
//            do); apply the rest to the tables; collect garbage; raise next_message_id; DELETE FROM journal; COMMIT
//   ... or the journal holds SqliteOptions::journal_compact_ops ops: the same for the oldest rows only, leaving
//   the newest half, and planned against every row (transaction_plan.hpp, "cut"). Under load a delivery is
//   acknowledged a few thousand ops after it was put; applying the whole journal wrote every delivery still in
//   flight at that moment to the tables only to delete it at the next compaction (half of the writer's work).
//   Leaving the newest half lets those acknowledgements cancel their deliveries: in the benchmark nothing but
//   the plan runs. A fresh put whose key is decided by a row that stays is carried in memory (no row of its own),
//   and garbage-collection candidates that a row that stays still references are deferred to a later compaction.
//
// The journal's ops are also kept in memory, in row order: those this process appended (copied by the writer, with
// the group's payloads in one buffer: the batches go back to the shards, see Store::take_spent), after those
// decoded from the rows found at open. So compaction never reads back what this process wrote: decoding every op
// again cost more than everything else the writer does (measured with SqliteBench.DISABLED_JournalCompactOps: the
// allocations of ~10 MB of ops per compaction and their page faults).
// The rows stay the durable record; the memory is the same content (this store is the database's only writer). It
// costs RAM in proportion to SqliteOptions::journal_compact_ops.
//
// Crash safety: a journal row is committed (and, with synchronous=FULL, fsynced) before the group's callbacks run,
// so it is the durable record of the group; compaction removes rows in the same transaction that applies them, so
// after a crash each row is either still in the journal or in the tables, never both, never neither. The next open
// compacts what a crash left. The carried puts and deferred candidates are only in memory: the rows that stay
// reach the same state without them, except that a deferred candidate is forgotten, so the open after a crash
// deletes every message nothing references.
//
// A row that cannot be decoded is checked for at open (check_journal, from sqlite_open.cpp): the database is then
// moved aside like a corrupt one. Skipping the row would apply later groups without an earlier one, breaking the
// store's ordering contract and silently losing acknowledged messages; the moved file keeps them for a person to
// recover.
//
// Thread safety: none; the store's writer (or load() under the store's mutex) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "broker/core/store_ops.hpp"
#include "persistence/sqlite_db.hpp"

namespace tern::persistence {

class SqliteTables;

class SqliteJournal {
 public:
  // Decodes the rows already in the journal (check_journal() has vetted them). Throws OpCodecError, SqliteError.
  explicit SqliteJournal(Connection& db);

  // Plans `ops` (one group, in order; see transaction_plan.hpp for why they are not const) and appends the ops that
  // run as one row, in a transaction of its own; then copies them into the journal's memory (the caller keeps
  // `ops`, see Store::take_spent). Throws SqliteError; then nothing was appended.
  void append(const std::vector<core::StoreOp*>& ops);

  // Applies the oldest rows to the tables and deletes them, in one transaction, planned against every row (see
  // transaction_plan.hpp): as many rows as leave at least `keep_ops` ops in the journal (all rows if none can go,
  // or keep_ops is 0); nothing if the journal is empty. Returns the number of ops applied (before planning).
  // Throws (SqliteError, OpCodecError); then nothing changed.
  std::size_t compact(SqliteTables& tables, std::size_t keep_ops = 0);

  // Ops in the journal's memory.
  std::size_t ops() const noexcept { return ops_; }

 private:
  struct Row {
    std::int64_t seq = 0;             // the row's key in the journal table
    std::vector<core::StoreOp> ops;   // a row may hold no op, only used-up message ids
  };

  Connection& db_;
  Statement insert_, delete_;
  std::deque<Row> rows_;                 // the rows in the journal, in order
  std::vector<core::StoreOp> carried_;   // puts carried by the last compaction: before every row
  std::size_t ops_ = 0;                  // in carried_ and rows_
  std::vector<std::uint64_t> deferred_;  // garbage-collection candidates the last compaction deferred
  std::uint64_t next_message_id_ = 0;  // the largest next_message_id of the rows
  std::string record_;                 // append()'s encoding buffer
};

// Decodes every journal row of `db` (if it has a journal) and throws OpCodecError at the first that is not a valid
// record. Read-only.
void check_journal(Connection& db);

}  // namespace tern::persistence
