#include "persistence/sqlite_store.hpp"

#include <algorithm>
#include <exception>
#include <variant>

#include "broker/core/store_codec.hpp"
#include "persistence/snapshot_check.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/sqlite_journal.hpp"
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
    journal_ = std::make_unique<SqliteJournal>(*db_, std::move(opened.log), std::move(opened.journal),
                                               2 * options_.commit_log_bytes);
  } catch (const std::exception& e) {  // SqliteError
    throw StoreError("cannot prepare the statements of " + path_.string() + ": " + e.what());
  }
  recover_journal();
  measure_database();
  writer_ = std::thread([this] { run_writer(); });
}

void SqliteStore::recover_journal() {
  try {
    // Rewinding: the log starts from the front at every open, and its file does not creep along the disk. Durable
    // once it returns, as every compaction is (synchronous=FULL, sqlite_open.cpp).
    recovered_journal_ops_ = journal_->compact(*tables_, 0, true);
    if (recovered_journal_ops_ > 0) tables_->delete_unreferenced_messages();
  } catch (const std::exception& e) {
    // open_database() checked that every row decodes, so this is the environment (disk full, I/O error). Starting
    // without the journal would lose acknowledged messages; refusing keeps them for the next start.
    throw StoreError("cannot apply the journal of " + path_.string() + ": " + e.what());
  }
  if (recovered_journal_ops_ > 0) {
    TERN_LOG(notice, "persistence: applied ", recovered_journal_ops_, " journalled ops left by an unclean shutdown");
  }
}

SqliteStore::~SqliteStore() {
  flush();
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
  if (options_.compact_on_close) {
    std::lock_guard lock(db_mutex_);
    compact_locked("closing", 0, true);
  }
  journal_.reset();  // finalize the statements before closing the Database
  tables_.reset();
  db_.reset();
}

core::StoreSnapshot SqliteStore::load() {
  flush();
  core::StoreSnapshot snap;
  {
    std::lock_guard lock(db_mutex_);
    compact_locked("load", 0, log_full());
    snap = tables_->load(options_.load_progress_interval);
  }
  drop_dangling(snap);
  return snap;
}

core::QueuePage SqliteStore::load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) {
  flush();
  std::lock_guard lock(db_mutex_);
  return read_queue_locked(client_id, after_seq, limit);
}

core::QueuePage SqliteStore::read_queue_locked(const std::string& client_id, std::uint64_t after_seq,
                                               std::size_t limit) {
  // The tables must hold what the journal has of this queue; what it has of other queues, or of this one's entries
  // before the page, can stay (SqliteJournal::holds_queue_after).
  if (journal_->holds_queue_after(client_id, after_seq) || log_full()) {
    compact_locked("load_queue", 0, log_full(), true);
  }
  return tables_->load_queue(client_id, after_seq, limit);
}

void SqliteStore::request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                                     PageCallback on_page) {
  auto request = std::make_unique<PageRequest>(PageRequest{client_id, after_seq, limit, std::move(on_page)});
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = pending_.empty() || lingering_;
    pending_ops_ += 1;
    pending_.push_back({core::StoreBatch{}, {}, std::chrono::steady_clock::now(), std::move(request)});
    ++submitted_;
    unserved_pages_.fetch_add(1, std::memory_order_relaxed);
  }
  if (wake) wake_writer_.notify_one();
}

void SqliteStore::serve(PageRequest& request) {
  core::QueuePage page;
  {
    std::lock_guard lock(db_mutex_);
    page = read_page_locked(request, false);
  }
  answer(request, std::move(page));
}

core::QueuePage SqliteStore::read_page_locked(const PageRequest& request, bool in_compaction) {
  try {
    // In a compaction, the tables directly: read_queue_locked() could start another.
    return in_compaction ? tables_->load_queue(request.client_id, request.after_seq, request.limit)
                         : read_queue_locked(request.client_id, request.after_seq, request.limit);
  } catch (const std::exception& e) {
    // An empty page: the broker stops waiting for the tail (it stays in the store for the next start).
    TERN_LOG(error, "persistence: could not read the queue of ", request.client_id, " from ", path_.string(), ": ",
             e.what());
    return {};
  }
}

void SqliteStore::answer(PageRequest& request, core::QueuePage page) {
  unserved_pages_.fetch_sub(1, std::memory_order_relaxed);
  try {
    request.on_page(std::move(page));
  } catch (const std::exception& e) {
    TERN_LOG(error, "persistence: a page callback threw: ", e.what());
  }
}

void SqliteStore::serve_during_compaction() {
  if (options_.compaction_step) options_.compaction_step();
  if (unserved_pages_.load(std::memory_order_relaxed) == 0) return;
  std::vector<Batch*> queued;  // only this thread takes batches out of pending_: they stay where they are
  {
    std::lock_guard lock(mutex_);
    for (auto& b : pending_) queued.push_back(&b);
  }
  for (std::size_t i = 0; i < queued.size(); ++i) {
    Batch& b = *queued[i];
    if (!b.page || b.served) continue;
    // As linger(), the batches before it must leave its range alone; and so must the journal, part of which this
    // compaction is applying: then the tables' rows of that range are the same before, during and after it.
    if (journal_->holds_queue_after(b.page->client_id, b.page->after_seq) || touched_before(queued, i)) continue;
    answer(*b.page, read_page_locked(*b.page, true));
    b.served = true;
  }
}

void SqliteStore::measure_database() {
  if (options_.max_database_bytes == 0) return;
  database_bytes_ =
      static_cast<std::uint64_t>(db_->query_int("PRAGMA page_count") - db_->query_int("PRAGMA freelist_count")) *
      static_cast<std::uint64_t>(db_->query_int("PRAGMA page_size"));
}

std::int64_t SqliteStore::pragma(const std::string& name) {
  std::lock_guard lock(db_mutex_);
  return db_->query_int(("PRAGMA " + name).c_str());
}

std::uint64_t SqliteStore::commit_log_bytes() {
  std::lock_guard lock(db_mutex_);
  return journal_->log_bytes();
}

void SqliteStore::compact_locked(const char* why, std::size_t keep_ops, bool rewind, bool may_skip) {
  // A compaction adds nothing durable: it moves what the log holds to the tables. Only a rewind, after which the
  // log's space is written over, must be durable first; with a rollback journal every compaction is (FULL), since
  // less could let a power cut corrupt the database (sqlite_open.cpp).
  try {
    journal_->compact(*tables_, keep_ops, rewind, may_skip);  // a rewind applies everything, never skips
    measure_database();
  } catch (const std::exception& e) {
    // Nothing is lost: the journal stays and the next compaction (at the latest the next open) retries. Until
    // then the tables, and so load() and load_queue(), lack the journalled groups.
    TERN_LOG(error, "persistence: could not apply the journal to the tables of ", path_.string(), " (", why,
             "): ", e.what());
  }
}

void SqliteStore::submit(core::StoreBatch ops, CommitCallback on_committed) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    wake = pending_.empty();
    pending_ops_ += std::max<std::size_t>(ops.size(), 1);
    wake = wake || lingering_ || pending_ops_ >= options_.max_group_ops;
    pending_.push_back({std::move(ops), std::move(on_committed), std::chrono::steady_clock::now()});
    ++submitted_;
  }
  if (wake) wake_writer_.notify_one();
}

void SqliteStore::take_spent(std::vector<core::StoreBatch>& out) {
  std::lock_guard lock(mutex_);
  for (auto& batch : spent_) out.push_back(std::move(batch));
  spent_.clear();
  spent_bytes_ = 0;
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

    if (pending_.front().page) {
      // A page request: read after the groups before it (committed by now), before the batches after it; or
      // served already (linger()), and now completed in its place.
      Batch request = std::move(pending_.front());
      pending_.pop_front();
      pending_ops_ -= 1;
      lock.unlock();
      if (!request.served) serve(*request.page);
      request.page.reset();
      lock.lock();
      completed_ += 1;
      if (flush_waiters_ > 0) batches_done_.notify_all();
      continue;
    }

    linger(lock);

    if (options_.commit_delay.count() > 0) {
      const auto deadline = pending_.front().queued_at + options_.commit_delay;
      wake_writer_.wait_until(lock, deadline,
                              [&] { return stop_ || flush_waiters_ > 0 || pending_ops_ >= options_.max_group_ops; });
    }

    std::size_t ops = 0;
    const auto weight = [](const Batch& b) { return std::max<std::size_t>(b.ops.size(), 1); };  // as in submit()
    // A page request served already goes with the group, to complete in its place.
    while (!pending_.empty() && (!pending_.front().page || pending_.front().served) &&
           (group.empty() || ops + weight(pending_.front()) <= options_.max_group_ops)) {
      const auto n = weight(pending_.front());
      ops += n;
      pending_ops_ -= n;
      group.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
    lock.unlock();

    const bool durable = commit(group);
    // The journal copied the ops it keeps: the batches go back to the submitter (take_spent()), up to a bound,
    // before the callbacks tell it to come for them.
    lock.lock();
    const auto committed_at = std::chrono::steady_clock::now();
    for (const auto& batch : group) {
      if (batch.page) continue;
      const double seconds = std::chrono::duration<double>(committed_at - batch.queued_at).count();
      ++stats_.commits;
      stats_.commit_seconds += seconds;
      if (!durable) ++stats_.failed;
      for (std::size_t i = 0; i < StoreStats::commit_bucket_seconds.size(); ++i) {
        if (seconds <= StoreStats::commit_bucket_seconds[i]) ++stats_.commits_within[i];
      }
    }
    for (auto& batch : group) {
      if (batch.page) continue;
      if (spent_bytes_ + batch.ops.capacity() > kMaxSpentBytes) break;
      spent_bytes_ += batch.ops.capacity();
      spent_.push_back(std::move(batch.ops));
    }
    lock.unlock();
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
    group.clear();  // the callbacks and ops not handed back are destroyed outside the lock
    compact_if_full();

    lock.lock();
    completed_ += done;
    if (flush_waiters_ > 0) batches_done_.notify_all();
  }
}

bool SqliteStore::commit(std::vector<Batch>& group) {
  std::lock_guard lock(db_mutex_);
  try {
    std::vector<core::StoreOpView>& ops = group_ops_;
    ops.clear();
    for (auto& batch : group) core::scan_store_ops(batch.ops.bytes(), ops);
    std::uint64_t room = 0;
    if (options_.max_database_bytes > 0) {
      room = options_.max_database_bytes > database_bytes_ ? options_.max_database_bytes - database_bytes_ : 1;
    }
    journal_->append(ops, room);
    release_if_large(ops);  // a group of one very large batch (a session with a long queue becoming durable)
    transactions_.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const std::exception& e) {
    TERN_LOG(error, "persistence: could not commit a group of ", group.size(), " batches to ", path_.string(), ": ",
             e.what(), "; they are not stored and must not be acknowledged");
    return false;
  }
}

bool SqliteStore::may_wait(const core::StoreBatch& batch) {
  if (batch.empty()) return false;
  thread_local std::vector<core::StoreOpView> ops;
  ops.clear();
  core::scan_store_ops(batch.bytes(), ops);
  for (const auto& op : ops) {
    if (op.kind == core::StoreOpTag::delete_queue_entry) continue;
    if (op.kind != core::StoreOpTag::put_queue_entry || op.fresh) return false;
    // Rare enough to decode: the view has no QoS. A QoS 2 delivery is held until its record is committed.
    const core::StoreOp o = core::decode_store_op(op.bytes);
    const auto& entry = std::get<core::store_op::PutQueueEntry>(o).entry;
    if (entry.qos != protocol::QoS::at_least_once || entry.released) return false;
  }
  return true;
}

bool SqliteStore::touches(const core::StoreBatch& batch, const PageRequest& request) {
  thread_local std::vector<core::StoreOpView> ops;
  ops.clear();
  core::scan_store_ops(batch.bytes(), ops);
  for (const auto& op : ops) {
    switch (op.kind) {
      case core::StoreOpTag::put_queue_entry:
      case core::StoreOpTag::delete_queue_entry:
        if (op.client_id == request.client_id && op.number > request.after_seq) return true;
        break;
      case core::StoreOpTag::delete_session:
        if (std::get<core::store_op::DeleteSession>(core::decode_store_op(op.bytes)).client_id == request.client_id) {
          return true;
        }
        break;
      default:
        break;
    }
  }
  return false;
}

bool SqliteStore::touched_before(const std::vector<Batch*>& queued, std::size_t i) {
  for (std::size_t j = 0; j < i; ++j) {
    if (!queued[j]->page && touches(queued[j]->ops, *queued[i]->page)) return true;
  }
  return false;
}

void SqliteStore::linger(std::unique_lock<std::mutex>& lock) {
  if (options_.progress_commit_delay.count() <= 0) return;
  const auto deadline = pending_.front().queued_at + options_.progress_commit_delay;
  std::vector<Batch*> queued;  // only this thread takes batches out of pending_: they stay where they are
  for (;;) {
    if (stop_ || flush_waiters_ > 0 || pending_ops_ >= options_.max_group_ops) return;
    queued.clear();
    for (auto& b : pending_) queued.push_back(&b);
    lock.unlock();
    bool commit_now = false;
    for (std::size_t i = 0; i < queued.size() && !commit_now; ++i) {
      Batch& b = *queued[i];
      if (!b.page) {
        if (b.waits == Waits::unknown) b.waits = may_wait(b.ops) ? Waits::may : Waits::must_not;
        commit_now = b.waits == Waits::must_not;
      } else if (!b.served) {
        if (touched_before(queued, i)) {
          commit_now = true;
        } else {
          serve(*b.page);
          b.served = true;
        }
      }
    }
    lock.lock();
    if (commit_now || std::chrono::steady_clock::now() >= deadline) return;
    if (pending_.size() == queued.size() && !stop_ && flush_waiters_ == 0) {
      lingering_ = true;
      wake_writer_.wait_until(lock, deadline);
      lingering_ = false;
    }
  }
}

bool SqliteStore::lingering() const {
  std::lock_guard lock(mutex_);
  return lingering_;
}

StoreStats SqliteStore::stats() const {
  std::lock_guard lock(mutex_);
  StoreStats s = stats_;
  s.backlog_batches = submitted_ - completed_;
  s.backlog_ops = pending_ops_;
  return s;
}

bool SqliteStore::log_full() const noexcept { return journal_->log_bytes() >= options_.commit_log_bytes; }

// After the callbacks, so that compacting delays the next group, not the acknowledgements of this one.
void SqliteStore::compact_if_full() {
  std::lock_guard lock(db_mutex_);
  if (!log_full() && journal_->ops() < options_.journal_compact_ops) return;
  // Pages are served while it runs (serve_during_compaction()): a session draining a backlog would otherwise
  // wait for the whole compaction, once its window and the page it holds have gone out.
  tables_->set_between([this] { serve_during_compaction(); });
  if (log_full()) {
    compact_locked("commit log full", 0, true);
  } else {
    // The newest ops stay: the acknowledgements in them cancel the deliveries put in the part that goes.
    compact_locked("journal full", std::min(options_.journal_keep_ops, options_.journal_compact_ops / 2), false, true);
  }
  tables_->set_between({});
}

}  // namespace tern::persistence
