// The SQLite store's prepared statements and what each StoreOp does with them; journal compaction
// (sqlite_journal.hpp) applies the journalled groups through this class, and load() reads the tables back through it.
//
// A transaction's ops first go through plan_transaction() (transaction_plan.hpp): what a later op of the same
// transaction overwrites or undoes is not run at all.
//
// Message garbage collection: an op that drops a reference to a message (deleting or replacing a queue entry or a
// retained topic, deleting a session), or that puts a message no put of the transaction references, remembers the
// message id as a candidate; commit() first deletes each candidate that no queue entry and no retained topic
// references any more (two index probes per candidate, on queue(message_id) and retained(message_id)). No
// reference counts to drift, and a message is checked only when something about it changed. A partial compaction
// defers the candidates that a journal row it leaves still references (commit() returns them).
//
//   transaction 1: apply({PutMessage{7}, PutQueueEntry{"s", 1 -> 7, fresh}})   no candidate (7 is referenced)
//                  commit()                                  meta.next_message_id = max(old, 8); COMMIT
//   transaction 2: apply({DeleteQueueEntry{"s", 1}})         DELETE ... RETURNING message_id -> candidates {7}
//                  commit()                                  7 unreferenced: deleted; COMMIT
//   or both in one transaction: apply({PutMessage{7}, PutQueueEntry{"s", 1 -> 7, fresh}, DeleteQueueEntry{"s", 1}})
//                  runs nothing but the next_message_id update at commit().
//
// Runs of consecutive ids are one statement each: the queue entries of one session with consecutive seqs that
// running ops delete one after the other (a session draining its queue acknowledges in order), and candidates with
// consecutive ids (a backlog's messages were put in order). A range statement touches exactly the rows the single
// ones would, one B-tree seek instead of one per row:
//
//   apply({DeleteQueueEntry{"s", 5}, DeleteQueueEntry{"s", 6}, DeleteQueueEntry{"s", 7}})
//                                  DELETE FROM queue WHERE client_id = 's' AND seq BETWEEN 5 AND 7 RETURNING ...
//   commit(), candidates {40, 41, 42, 50}   one range for 40..42 (each still checked for references), one for 50
//
// Thread safety: none; the store's writer (or load() under the store's mutex) uses it alone.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "broker/core/store_ops.hpp"
#include "persistence/message_id_set.hpp"
#include "persistence/sqlite_db.hpp"

namespace tern::persistence {

struct TransactionPlan;

class SqliteTables {
 public:
  explicit SqliteTables(Database& db);  // prepares every statement; the schema must be current

  void begin();  // BEGIN IMMEDIATE
  // The ops [0, plan.skip.size()) of `ops`, planned by plan_transaction(ops, cut) (see transaction_plan.hpp): each op
  // that runs is decoded from its bytes (core::StoreOpView::bytes, scanned from a journal record), with the plan's
  // `fresh`.
  void apply(const std::vector<core::StoreOpView>& ops, const TransactionPlan& plan);
  // A message to delete at commit() if nothing references it then (a candidate deferred by an earlier commit()).
  void add_candidate(std::uint64_t message_id) { candidates_.push_back(message_id); }
  // next_message_id is raised to at least `next` at commit() (the journal's record of ids its groups used up).
  void raise_next_message_id(std::uint64_t next) noexcept { next_message_id_ = std::max(next_message_id_, next); }
  // Message garbage collection, next_message_id, then COMMIT. Candidates in `later_referenced` (the plan's: an op
  // still in the journal references them) are not collected but returned, to add again to a later transaction.
  std::vector<std::uint64_t> commit(const MessageIdSet& later_referenced = {});
  void rollback() noexcept;
  // Deletes every message nothing references, in a transaction of its own. After a crash, which loses the
  // candidates a partial compaction deferred (SqliteJournal).
  void delete_unreferenced_messages();
  // Called between the statements of apply() and commit() once every kBetweenRows rows or so that they changed
  // (a run of deletions is cut into statements of at most that many rows for it): the store serves page requests
  // there while a long compaction runs (SqliteStore::serve_during_compaction). Empty: never called.
  void set_between(std::function<void()> between) { between_ = std::move(between); }
  static constexpr std::uint64_t kBetweenRows = 1024;

  // Everything, sorted by key. Does not call drop_dangling().
  // Logs its progress (what it has read so far) every `progress_interval`.
  core::StoreSnapshot load(std::chrono::milliseconds progress_interval);
  // Store::load_queue().
  core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit);

 private:
  void apply(core::StoreOp& op);
  void apply(core::store_op::PutSession& op);
  void apply(core::store_op::DeleteSession& op);
  void apply(core::store_op::PutSubscription& op);
  void apply(core::store_op::DeleteSubscription& op);
  void apply(core::store_op::PutMessage& op);
  void apply(core::store_op::PutQueueEntry& op);
  void apply(core::store_op::DeleteQueueEntry& op);
  void apply(core::store_op::PutIncoming& op);
  void apply(core::store_op::DeleteIncoming& op);
  void apply(core::store_op::SetRetained& op);
  void apply(core::store_op::ClearRetained& op);
  // Runs `st` (already bound) and adds the message id in column 0 of each row to the candidates.
  void collect_candidates(Statement& st);
  // DeleteQueueEntry for seqs first..last of `client_id` (first == last: one entry), as one statement.
  void delete_queue_entries(std::string_view client_id, std::uint64_t first, std::uint64_t last);
  // `rows` more changed: calls between_ once kBetweenRows have gathered since it last was.
  void changed(std::uint64_t rows);

  Database& db_;
  Statement begin_, commit_;
  Statement put_session_, delete_session_;
  Statement put_subscription_, delete_subscription_, delete_session_subscriptions_;
  Statement put_message_, delete_unreferenced_in_range_;
  Statement queue_message_of_, put_queue_, delete_queue_, delete_session_queue_;
  Statement put_incoming_, delete_incoming_, delete_session_incoming_;
  Statement retained_message_of_, set_retained_, clear_retained_;
  Statement raise_next_message_id_;
  Statement load_queue_;  // a page of one queue, each entry with its message (kQueueColumns, kMessageColumns)
  std::vector<std::uint64_t> candidates_;
  std::function<void()> between_;
  std::uint64_t changed_since_between_ = 0;
  const TransactionPlan* plan_ = nullptr;  // during apply()
  std::uint64_t next_message_id_ = 0;      // 0: no message put in this transaction
};

}  // namespace tern::persistence
