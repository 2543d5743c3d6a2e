#include "persistence/sqlite_journal.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <variant>

#include "persistence/op_codec.hpp"
#include "persistence/sqlite_tables.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

namespace {

// Calls f on each payload an op holds (a message's, a will's).
template <typename Op, typename F>
void for_each_payload(Op& op, F&& f) {
  if (auto* put = std::get_if<core::store_op::PutMessage>(&op)) {
    f(put->message.payload);
  } else if (auto* session = std::get_if<core::store_op::PutSession>(&op); session && session->session.will) {
    f(session->session.will->payload);
  }
}

// The journal's own copy of a group's ops, made on the writer thread. The batches' ops go back to the threads that
// made them (Store::take_spent), and so do the broker's messages, whose payloads they share: the copy's payloads
// are copied into one buffer for the whole group.
void copy_ops(const std::vector<core::StoreOp*>& ops, std::vector<core::StoreOp>& out) {
  std::size_t bytes = 0;
  for (const auto* o : ops) for_each_payload(*o, [&](const core::SharedBytes& p) { bytes += p.size(); });
  auto buffer = std::make_shared<std::string>();
  buffer->reserve(bytes);  // never grows beyond: the views below stay valid
  out.reserve(ops.size());
  for (const auto* o : ops) {
    core::StoreOp& copy = out.emplace_back(*o);
    for_each_payload(copy, [&](core::SharedBytes& p) {
      if (p.empty()) return;
      const auto at = buffer->size();
      buffer->append(p.view());
      p = core::SharedBytes(buffer, std::string_view(buffer->data() + at, p.size()));
    });
  }
}

}  // namespace

SqliteJournal::SqliteJournal(Connection& db)
    : db_(db), insert_(db, "INSERT INTO journal(ops) VALUES (?1)"), delete_(db, "DELETE FROM journal WHERE seq <= ?1") {
  Statement rows(db, "SELECT seq, ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step();) {
    Row& row = rows_.emplace_back(Row{rows.column_int(0), {}});
    next_message_id_ = std::max(next_message_id_, decode_record(rows.column_blob(1), row.ops));
    ops_ += row.ops.size();
  }
}

void SqliteJournal::append(const std::vector<core::StoreOp*>& ops) {
  const TransactionPlan plan = plan_transaction(ops);
  std::vector<core::StoreOp*> kept;
  std::uint64_t next_message_id = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (const auto* put = std::get_if<core::store_op::PutMessage>(ops[i])) {
      next_message_id = std::max(next_message_id, put->message.id + 1);  // skipped or not: the id is used up
    }
    if (!plan.skip[i]) kept.push_back(ops[i]);
  }
  encode_record({kept.begin(), kept.end()}, next_message_id, record_);
  insert_.start().bind_blob(1, record_).run();  // autocommit: the row is its own transaction
  next_message_id_ = std::max(next_message_id_, next_message_id);
  Row& row = rows_.emplace_back(Row{sqlite3_last_insert_rowid(db_.get()), {}});
  copy_ops(kept, row.ops);
  ops_ += kept.size();
}

std::size_t SqliteJournal::compact(SqliteTables& tables, std::size_t keep_ops) {
  if (rows_.empty()) return 0;
  // Apply the oldest rows, leaving at least keep_ops ops in the rows that stay; all of them if no row can go.
  std::size_t applied_rows = rows_.size();
  for (std::size_t staying = 0; applied_rows > 0 && staying < keep_ops; --applied_rows) {
    staying += rows_[applied_rows - 1].ops.size();
  }
  if (applied_rows == 0) applied_rows = rows_.size();

  // The carried puts, then every row's ops; the transaction is those before the cut.
  std::vector<core::StoreOp*> ops;
  ops.reserve(ops_);
  for (auto& o : carried_) ops.push_back(&o);
  std::size_t cut = 0;
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    if (r == applied_rows) cut = ops.size();
    for (auto& o : rows_[r].ops) ops.push_back(&o);
  }
  if (applied_rows == rows_.size()) cut = ops.size();

  const TransactionPlan plan = plan_transaction(ops, cut);
  std::vector<std::uint64_t> deferred;
  tables.begin();
  try {
    tables.raise_next_message_id(next_message_id_);
    for (auto id : deferred_) tables.add_candidate(id);
    tables.apply(ops, plan);
    delete_.start().bind(1, rows_[applied_rows - 1].seq).run();
    deferred = tables.commit(plan.later_referenced);
  } catch (...) {
    tables.rollback();  // the journal stays, in the database and here
    throw;
  }
  deferred_ = std::move(deferred);

  std::vector<core::StoreOp> carried;
  carried.reserve(plan.carry.size());
  for (auto i : plan.carry) carried.push_back(std::move(*ops[i]));
  carried_ = std::move(carried);
  rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(applied_rows));
  ops_ -= cut - carried_.size();
  if (rows_.empty()) next_message_id_ = 0;  // and nothing was carried: only a row that stays decides a key
  return cut;
}

void check_journal(Connection& db) {
  if (db.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'journal'") == 0) return;
  Statement rows(db, "SELECT seq, ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step();) {
    const auto seq = rows.column_int(0);
    try {
      std::vector<core::StoreOp> ops;
      decode_record(rows.column_blob(1), ops);
    } catch (const OpCodecError& e) {
      rows.reset();
      throw OpCodecError("journal row " + std::to_string(seq) + ": " + e.what());
    }
  }
}

}  // namespace tern::persistence
