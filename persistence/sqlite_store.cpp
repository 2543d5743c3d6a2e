#include "persistence/sqlite_store.hpp"

#include <algorithm>
#include <exception>

#include "persistence/snapshot_check.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/sqlite_open.hpp"
#include "persistence/sqlite_tables.hpp"
#include "platform/log.hpp"

namespace tern::persistence {

SqliteStore::SqliteStore(SqliteOptions options) : options_(std::move(options)) {
  auto opened = open_database(options_);
  path_ = options_.directory / options_.file_name;
  moved_aside_ = std::move(opened.moved_aside);
  db_ = std::move(opened.db);
  try {
    tables_ = std::make_unique<SqliteTables>(*db_);
  } catch (const SqliteError& e) {
    throw StoreError("cannot prepare the statements of " + path_.string() + ": " + e.what());
  }
  writer_ = std::thread([this] { run_writer(); });
}

SqliteStore::~SqliteStore() {
  flush();
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
  tables_.reset();  // finalize the statements before closing the connection
  db_.reset();
}

core::StoreSnapshot SqliteStore::load() {
  flush();
  core::StoreSnapshot snap;
  {
    std::lock_guard lock(db_mutex_);
    snap = tables_->load();
  }
  drop_dangling(snap);
  return snap;
}

core::QueuePage SqliteStore::load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) {
  flush();
  std::lock_guard lock(db_mutex_);
  return tables_->load_queue(client_id, after_seq, limit);
}

void SqliteStore::submit(std::vector<core::StoreOp> ops, CommitCallback on_committed) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = pending_.empty();
    pending_ops_ += std::max<std::size_t>(ops.size(), 1);
    wake = wake || pending_ops_ >= options_.max_group_ops;
    pending_.push_back({std::move(ops), std::move(on_committed), std::chrono::steady_clock::now()});
    ++submitted_;
  }
  if (wake) wake_writer_.notify_one();
}

void SqliteStore::flush() {
  std::unique_lock lock(mutex_);
  const auto target = submitted_;
  if (completed_ >= target) return;
  ++flush_waiters_;
  wake_writer_.notify_one();  // skip the commit delay
  batches_done_.wait(lock, [&] { return completed_ >= target; });
  --flush_waiters_;
}

void SqliteStore::run_writer() {
  std::vector<Batch> group;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_writer_.wait(lock, [&] { return stop_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, and nothing left

    if (options_.commit_delay.count() > 0) {
      const auto deadline = pending_.front().queued_at + options_.commit_delay;
      wake_writer_.wait_until(lock, deadline,
                              [&] { return stop_ || flush_waiters_ > 0 || pending_ops_ >= options_.max_group_ops; });
    }

    std::size_t ops = 0;
    const auto weight = [](const Batch& b) { return std::max<std::size_t>(b.ops.size(), 1); };  // as in submit()
    while (!pending_.empty() && (group.empty() || ops + weight(pending_.front()) <= options_.max_group_ops)) {
      const auto n = weight(pending_.front());
      ops += n;
      pending_ops_ -= n;
      group.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    lock.unlock();

    const bool durable = commit(group);
    for (auto& batch : group) {
      if (!batch.on_committed) continue;
      try {
        batch.on_committed(durable);
      } catch (const std::exception& e) {
        TERN_LOG(error, "persistence: a commit callback threw: ", e.what());
      } catch (...) {
        TERN_LOG(error, "persistence: a commit callback threw");
      }
    }
    const auto done = group.size();
    group.clear();  // the ops and callbacks are destroyed outside the lock

    lock.lock();
    completed_ += done;
    if (flush_waiters_ > 0) batches_done_.notify_all();
  }
}

bool SqliteStore::commit(std::vector<Batch>& group) {
  std::lock_guard lock(db_mutex_);
  try {
    std::vector<core::StoreOp*> ops;
    for (auto& batch : group) {
      for (auto& op : batch.ops) ops.push_back(&op);
    }
    tables_->begin();
    tables_->apply(ops);
    tables_->commit();
    transactions_.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const std::exception& e) {
    tables_->rollback();
    TERN_LOG(error, "persistence: could not commit a group of ", group.size(), " batches to ", path_.string(), ": ",
             e.what(), "; they are not stored and must not be acknowledged");
    return false;
  }
}

}  // namespace tern::persistence
