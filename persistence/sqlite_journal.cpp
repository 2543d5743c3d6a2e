#include "persistence/sqlite_journal.hpp"

#include <algorithm>
#include <variant>

#include "persistence/op_codec.hpp"
#include "persistence/sqlite_tables.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

SqliteJournal::SqliteJournal(Connection& db)
    : insert_(db, "INSERT INTO journal(ops) VALUES (?1)"), clear_(db, "DELETE FROM journal") {
  Statement rows(db, "SELECT ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step(); ++rows_) {
    next_message_id_ = std::max(next_message_id_, decode_record(rows.column_blob(0), ops_));
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
  ++rows_;
  next_message_id_ = std::max(next_message_id_, next_message_id);
  for (auto* o : kept) ops_.push_back(std::move(*o));
}

std::size_t SqliteJournal::compact(SqliteTables& tables) {
  if (rows_ == 0) return 0;
  std::vector<core::StoreOp*> ops;
  ops.reserve(ops_.size());
  for (auto& o : ops_) ops.push_back(&o);
  tables.begin();
  try {
    tables.raise_next_message_id(next_message_id_);
    tables.apply(ops);
    clear_.start().run();
    tables.commit();
  } catch (...) {
    tables.rollback();  // the journal stays, in the database and here
    throw;
  }
  rows_ = 0;
  ops_.clear();
  next_message_id_ = 0;
  return ops.size();
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
