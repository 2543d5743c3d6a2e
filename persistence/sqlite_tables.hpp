// The SQLite store's prepared statements and what each StoreOp does with them; the writer thread applies batches
// through this class, and load() reads the tables back through it.
//
// Message garbage collection: an op that drops a reference to a message (deleting or replacing a queue entry or a
// retained topic, deleting a session) or that puts a message remembers the message id as a candidate; end_batch()
// deletes each candidate that no queue entry and no retained topic references any more (two index probes per
// candidate, on queue(message_id) and retained(message_id)). No reference counts to drift, and a message is
// checked only when something about it changed.
//
//   apply(PutMessage{7})  apply(PutQueueEntry{"s", 1 -> 7})    candidates {7}
//   end_batch()                                                 7 referenced: kept
//   apply(DeleteQueueEntry{"s", 1})                             DELETE ... RETURNING message_id -> candidates {7}
//   end_batch()                                                 7 unreferenced: deleted
//   end_transaction()                                           meta.next_message_id = max(old, 8)
//
// Thread safety: none; the store's writer (or load() under the store's mutex) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "broker/core/store_ops.hpp"
#include "persistence/sqlite_db.hpp"

namespace tern::persistence {

class SqliteTables {
 public:
  explicit SqliteTables(Connection& db);  // prepares every statement; the schema must be current

  void begin();  // BEGIN IMMEDIATE
  void apply(core::StoreOp& op);
  void end_batch();  // message garbage collection for the batch just applied
  void commit();     // writes next_message_id, then COMMIT
  void rollback() noexcept;

  // Everything, sorted by key. Does not call drop_dangling().
  core::StoreSnapshot load();
  // Store::load_queue().
  core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit);

 private:
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

  Connection& db_;
  Statement begin_, commit_;
  Statement put_session_, delete_session_;
  Statement put_subscription_, delete_subscription_, delete_session_subscriptions_;
  Statement put_message_, delete_unreferenced_message_;
  Statement queue_message_of_, put_queue_, delete_queue_, delete_session_queue_;
  Statement put_incoming_, delete_incoming_, delete_session_incoming_;
  Statement retained_message_of_, set_retained_, clear_retained_;
  Statement raise_next_message_id_;
  std::vector<std::uint64_t> candidates_;
  std::uint64_t next_message_id_ = 0;  // 0: no message put in this transaction
};

}  // namespace tern::persistence
