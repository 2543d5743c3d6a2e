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

bool adds_data(const core::StoreOp* op) {
  return std::holds_alternative<core::store_op::PutSession>(*op) ||
         std::holds_alternative<core::store_op::PutSubscription>(*op) ||
         std::holds_alternative<core::store_op::PutMessage>(*op) ||
         std::holds_alternative<core::store_op::PutQueueEntry>(*op) ||
         std::holds_alternative<core::store_op::PutIncoming>(*op) ||
         std::holds_alternative<core::store_op::SetRetained>(*op);
}

// meta's value for `key`; throws SqliteError if it is missing (a schema 3 database has them all).
std::int64_t meta_value(Connection& db, const char* key) {
  Statement get(db, "SELECT value FROM meta WHERE key = ?1");
  get.start().bind(1, std::string_view(key));
  if (!get.step()) throw SqliteError(SQLITE_CORRUPT, std::string("meta has no ") + key);
  const auto value = get.column_int(0);
  get.reset();
  return value;
}

}  // namespace

FoundJournal read_journal(Connection& db, const platform::File& log) {
  FoundJournal found;
  found.id = static_cast<std::uint64_t>(meta_value(db, "journal_id"));
  const auto applied_seq = static_cast<std::uint64_t>(meta_value(db, "journal_seq"));
  const auto offset = static_cast<std::uint64_t>(meta_value(db, "journal_offset"));
  const auto decode = [&](JournalRow& row, std::string_view bytes, const std::string& where) {
    try {
      found.next_message_id = std::max(found.next_message_id, decode_record(bytes, row.ops));
    } catch (const OpCodecError& e) {
      throw OpCodecError(where + ": " + e.what());
    }
  };

  Statement rows(db, "SELECT seq, ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step();) {
    auto& row = found.rows.emplace_back(JournalRow{static_cast<std::uint64_t>(rows.column_int(0)), {}, 0, 0});
    try {
      const auto blob = rows.column_blob(1);
      row.bytes = blob.size();
      decode(row, blob, "journal row " + std::to_string(row.seq));
    } catch (...) {
      rows.reset();
      throw;
    }
  }

  found.scan = scan_commit_log(log, found.id, offset, applied_seq + 1);
  for (auto& record : found.scan.records) {
    auto& row = found.rows.emplace_back(JournalRow{record.seq, {}, record.end, record.body.size()});
    decode(row, record.body, log.path().string() + " record " + std::to_string(record.seq));
    std::string().swap(record.body);  // decoded: the bytes can go
  }
  found.scan.records.clear();
  return found;
}

SqliteJournal::SqliteJournal(Connection& db, std::unique_ptr<CommitLog> log, FoundJournal found,
                             std::uint64_t log_keep_bytes)
    : db_(db),
      log_(std::move(log)),
      delete_(db, "DELETE FROM journal WHERE seq <= ?1"),
      set_meta_(db, "UPDATE meta SET value = ?2 WHERE key = ?1"),
      rows_(std::move(found.rows)),
      next_message_id_(found.next_message_id),
      log_keep_bytes_(log_keep_bytes) {
  for (const auto& row : rows_) {
    ops_ += row.ops.size();
    bytes_ += row.bytes;
  }
}

SqliteJournal::~SqliteJournal() = default;

void SqliteJournal::append(const std::vector<core::StoreOp*>& ops, std::uint64_t room) {
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
  if (room > 0 && 2 * (bytes_ + record_.size()) > room && std::any_of(kept.begin(), kept.end(), adds_data)) {
    throw JournalFull("the database would pass its size limit");
  }
  const auto seq = log_->append(record_);
  next_message_id_ = std::max(next_message_id_, next_message_id);
  JournalRow& row = rows_.emplace_back(JournalRow{seq, {}, log_->head(), record_.size()});
  copy_ops(kept, row.ops);
  ops_ += kept.size();
  bytes_ += record_.size();
}

std::size_t SqliteJournal::compact(SqliteTables& tables, std::size_t keep_ops, bool rewind) {
  if (rows_.empty() && !(rewind && log_->head() > 0)) return 0;
  if (rewind) keep_ops = 0;
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
  const JournalRow* last_in_table = nullptr;  // the last applied row of the schema 2 table, and of the log
  const JournalRow* last_in_log = nullptr;
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    if (r == applied_rows) cut = ops.size();
    if (r < applied_rows) (rows_[r].in_table() ? last_in_table : last_in_log) = &rows_[r];
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
    if (last_in_table) delete_.start().bind(1, static_cast<std::int64_t>(last_in_table->seq)).run();
    if (last_in_log)
      set_meta_.start().bind(1, "journal_seq").bind(2, static_cast<std::int64_t>(last_in_log->seq)).run();
    if (rewind || last_in_log) {
      set_meta_.start()
          .bind(1, "journal_offset")
          .bind(2, rewind ? 0 : static_cast<std::int64_t>(last_in_log->end))
          .run();
    }
    deferred = tables.commit(plan.later_referenced);
  } catch (...) {
    tables.rollback();  // the journal stays, in the log and here
    throw;
  }
  deferred_ = std::move(deferred);
  if (rewind) log_->rewind(log_keep_bytes_);

  std::vector<core::StoreOp> carried;
  carried.reserve(plan.carry.size());
  for (auto i : plan.carry) carried.push_back(std::move(*ops[i]));
  carried_ = std::move(carried);
  for (std::size_t r = 0; r < applied_rows; ++r) bytes_ -= rows_[r].bytes;
  rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(applied_rows));
  ops_ -= cut - carried_.size();
  if (rows_.empty()) next_message_id_ = 0;  // and nothing was carried: only a row that stays decides a key
  return cut;
}

}  // namespace tern::persistence
