#include "persistence/sqlite_journal.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <utility>
#include <variant>

#include "persistence/op_codec.hpp"
#include "persistence/sqlite_tables.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

namespace {

bool adds_data(const core::StoreOpView& op) {
  using Tag = core::StoreOpTag;
  return op.kind == Tag::put_session || op.kind == Tag::put_subscription || op.kind == Tag::put_message ||
         op.kind == Tag::put_queue_entry || op.kind == Tag::put_incoming || op.kind == Tag::set_retained;
}

// meta's value for `key`; throws SqliteError if it is missing (a schema 3 database has them all).
std::int64_t meta_value(Database& db, const char* key) {
  Statement get(db, "SELECT value FROM meta WHERE key = ?1");
  get.start().bind(1, std::string_view(key));
  if (!get.step()) throw SqliteError(SQLITE_CORRUPT, std::string("meta has no ") + key);
  const auto value = get.column_int(0);
  get.reset();
  return value;
}

}  // namespace

FoundJournal read_journal(Database& db, const platform::File& log, LogSync written) {
  FoundJournal found;
  found.id = static_cast<std::uint64_t>(meta_value(db, "journal_id"));
  const auto applied_seq = static_cast<std::uint64_t>(meta_value(db, "journal_seq"));
  const auto offset = static_cast<std::uint64_t>(meta_value(db, "journal_offset"));
  // A row is decoded once, to check it: compaction decodes only the ops it applies (SqliteTables::apply()).
  std::vector<core::StoreOp> ops;
  const auto check = [&](JournalRow& row, const std::string& where) {
    ops.clear();
    try {
      found.next_message_id = std::max(found.next_message_id, decode_record(row.record, ops));
    } catch (const core::StoreCodecError& e) {
      throw core::StoreCodecError(where + ": " + e.what());
    }
    row.op_count = ops.size();
  };

  Statement rows(db, "SELECT seq, ops FROM journal ORDER BY seq");
  for (rows.start(); rows.step();) {
    auto& row = found.rows.emplace_back(JournalRow{static_cast<std::uint64_t>(rows.column_int(0)), {}, 0, 0});
    try {
      row.record = rows.column_blob(1);
      check(row, "journal row " + std::to_string(row.seq));
    } catch (...) {
      rows.reset();
      throw;
    }
  }

  found.scan = scan_commit_log(log, found.id, offset, applied_seq + 1, written);
  for (auto& record : found.scan.records) {
    auto& row = found.rows.emplace_back(JournalRow{record.seq, std::move(record.body), 0, record.end});
    check(row, log.path().string() + " record " + std::to_string(record.seq));
  }
  found.scan.records.clear();
  return found;
}

SqliteJournal::SqliteJournal(Database& db, std::unique_ptr<CommitLog> log, FoundJournal found,
                             std::uint64_t log_keep_bytes)
    : db_(db),
      log_(std::move(log)),
      delete_(db, "DELETE FROM journal WHERE seq <= ?1"),
      set_meta_(db, "UPDATE meta SET value = ?2 WHERE key = ?1"),
      rows_(std::move(found.rows)),
      next_message_id_(found.next_message_id),
      log_keep_bytes_(log_keep_bytes) {
  for (const auto& row : rows_) {
    ops_ += row.op_count;
    bytes_ += row.record.size();
  }
}

void SqliteJournal::note_queue_reach(const core::StoreOpView& op) {
  switch (op.kind) {
    case core::StoreOpTag::put_queue_entry:
    case core::StoreOpTag::delete_queue_entry: {
      auto it = queue_reach_.find(op.client_id);
      if (it == queue_reach_.end()) {
        queue_reach_.emplace(std::string(op.client_id), op.number);
      } else {
        it->second = std::max(it->second, op.number);
      }
      break;
    }
    case core::StoreOpTag::delete_session: {  // rare: its view has no key, so decode it
      const core::StoreOp o = core::decode_store_op(op.bytes);
      queue_reach_[std::get<core::store_op::DeleteSession>(o).client_id] = kWholeQueue;
      break;
    }
    default:
      break;
  }
}

bool SqliteJournal::holds_queue_after(std::string_view client_id, std::uint64_t after_seq) {
  // Kept up to date here, from the rows appended since the last call, not at every append: only a session taking a
  // backlog asks, and the writer's appends under load then pay nothing for it.
  if (reach_rows_ > rows_.size()) {  // a compaction took rows: start again from what is left
    queue_reach_.clear();
    reach_rows_ = 0;
    reach_ops_.clear();
    core::scan_store_ops(carried_, reach_ops_);
    for (const auto& op : reach_ops_) note_queue_reach(op);
  }
  for (; reach_rows_ < rows_.size(); ++reach_rows_) {
    reach_ops_.clear();
    scan_record(rows_[reach_rows_].record, reach_ops_);
    for (const auto& op : reach_ops_) note_queue_reach(op);
  }
  const auto it = queue_reach_.find(client_id);
  return it != queue_reach_.end() && it->second > after_seq;
}

SqliteJournal::~SqliteJournal() = default;

void SqliteJournal::append(std::vector<core::StoreOpView>& ops, std::uint64_t room) {
  const TransactionPlan plan = plan_transaction(ops);
  std::uint64_t next_message_id = 0;
  bool adds = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind == core::StoreOpTag::put_message) {
      next_message_id = std::max(next_message_id, ops[i].message_id + 1);  // skipped or not: the id is used up
    }
    adds = adds || (!plan.skip[i] && adds_data(ops[i]));
  }
  const std::size_t kept = encode_record(ops, plan.skip, next_message_id, record_);
  if (room > 0 && 2 * (bytes_ + record_.size()) > room && adds) {
    throw JournalFull("the database would pass its size limit");
  }
  const auto seq = log_->append(record_);

  next_message_id_ = std::max(next_message_id_, next_message_id);
  rows_.emplace_back(JournalRow{seq, record_, kept, log_->head()});  // a copy: record_ keeps its capacity
  ops_ += kept;
  bytes_ += record_.size();
}

std::size_t SqliteJournal::compact(SqliteTables& tables, std::size_t keep_ops, bool rewind, bool may_skip) {
  if (rows_.empty() && !(rewind && log_->head() > 0)) return 0;
  if (rewind) keep_ops = 0;
  // Apply the oldest rows, leaving at least keep_ops ops in the rows that stay; all of them if no row can go.
  std::size_t applied_rows = rows_.size();
  for (std::size_t staying = 0; applied_rows > 0 && staying < keep_ops; --applied_rows) {
    staying += rows_[applied_rows - 1].op_count;
  }
  if (applied_rows == 0) applied_rows = rows_.size();

  // The carried puts, then every row's ops, as views of their bytes; the transaction is those before the cut.
  std::vector<core::StoreOpView>& ops = plan_ops_;
  ops.clear();
  ops.reserve(ops_);
  core::scan_store_ops(carried_, ops);
  std::size_t cut = 0;
  const JournalRow* last_in_table = nullptr;  // the last applied row of the schema 2 table, and of the log
  const JournalRow* last_in_log = nullptr;
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    if (r == applied_rows) cut = ops.size();
    if (r < applied_rows) (rows_[r].in_table() ? last_in_table : last_in_log) = &rows_[r];
    scan_record(rows_[r].record, ops);
  }
  if (applied_rows == rows_.size()) cut = ops.size();

  const TransactionPlan plan = plan_transaction(ops, cut);
  // Nothing to apply (under load the usual case: every delivery before the cut acknowledged, or carried): no
  // transaction, which would only move meta's journal_seq and cost a commit's syncs. The rows leave the memory all
  // the same; meta still points before them, so after a crash they are read again with the rows after them, and
  // reach the same state; the next transaction's journal_seq passes them (and raises next_message_id for their
  // ids: next_message_id_ is kept). Not for a caller that reads next_message_id from the tables (load()).
  const bool no_transaction = may_skip && !rewind && last_in_table == nullptr &&
                              std::all_of(plan.skip.begin(), plan.skip.end(), [](bool skip) { return skip; });
  if (!no_transaction) commit_transaction(tables, ops, plan, last_in_table, last_in_log, rewind);

  std::string carried;  // before the rows go: the ops view them
  for (auto i : plan.carry) carried.append(ops[i].bytes);
  carried_ = std::move(carried);
  carried_ops_ = plan.carry.size();
  for (std::size_t r = 0; r < applied_rows; ++r) bytes_ -= rows_[r].record.size();
  rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(applied_rows));
  reach_rows_ = kReachStale;  // holds_queue_after() starts again
  ops_ -= cut - carried_ops_;
  release_if_large(plan_ops_);  // the compaction at open of a long journal left after a crash
  // And nothing was carried: only a row that stays decides a key; unless no transaction recorded the ids.
  if (rows_.empty() && !no_transaction) next_message_id_ = 0;
  return cut;
}

void SqliteJournal::commit_transaction(SqliteTables& tables, const std::vector<core::StoreOpView>& ops,
                                       const TransactionPlan& plan, const JournalRow* last_in_table,
                                       const JournalRow* last_in_log, bool rewind) {
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
}

}  // namespace tern::persistence
