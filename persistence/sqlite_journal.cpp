#include "persistence/sqlite_journal.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <variant>

#include "persistence/op_codec.hpp"
#include "persistence/sqlite_tables.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

SqliteJournal::SqliteJournal(Connection& db)
    : db_(db), insert_(db, "INSERT INTO journal(ops) VALUES (?1)"), delete_(db, "DELETE FROM journal WHERE seq <= ?1") {
  Statement rows(db, "SELECT seq, ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step();) {
    next_message_id_ = std::max(next_message_id_, decode_record(rows.column_blob(1), ops_));
    rows_.push_back({rows.column_int(0), ops_.size()});
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
  for (auto* o : kept) ops_.push_back(std::move(*o));
  rows_.push_back({sqlite3_last_insert_rowid(db_.get()), ops_.size()});
}

std::size_t SqliteJournal::compact(SqliteTables& tables, std::size_t keep_ops) {
  if (rows_.empty()) return 0;
  // Apply the oldest rows, leaving at least keep_ops ops in the rows that stay; all of them if no row can go.
  std::size_t applied_rows = rows_.size();
  while (applied_rows > 0 && ops_.size() - rows_[applied_rows - 1].end < keep_ops) --applied_rows;
  if (applied_rows == 0) applied_rows = rows_.size();
  const std::size_t cut = rows_[applied_rows - 1].end;

  std::vector<core::StoreOp*> ops;
  ops.reserve(ops_.size());
  for (auto& o : ops_) ops.push_back(&o);
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

  // What stays in memory: the carried puts, then the ops of the rows that stay (moved down in place, so that ops_
  // keeps its capacity; plan.carry is ascending and below the cut, so no op is overwritten before it is moved).
  std::size_t kept = 0;
  for (auto i : plan.carry) {
    if (i != kept) ops_[kept] = std::move(ops_[i]);
    ++kept;
  }
  const std::size_t shift = cut - kept;
  for (std::size_t i = cut; i < ops_.size(); ++i) ops_[i - shift] = std::move(ops_[i]);
  ops_.resize(ops_.size() - shift);
  rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(applied_rows));
  for (auto& row : rows_) row.end -= shift;
  if (rows_.empty()) {
    ops_.clear();  // carried puts are only ever carried to rows that stay
    next_message_id_ = 0;
  }
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
