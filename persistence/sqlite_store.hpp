// The SQLite store (`persistence true`): DIR/tern.db (rollback journal) and its commit log DIR/tern.db-commitlog,
// written by one writer thread that group-commits.
//
// submit() appends the batch to a queue and returns. The writer takes the queued batches (up to max_group_ops ops,
// whole batches), reads their ops as views of the batches' bytes (core::scan_store_ops(), store_codec.hpp), plans them
// as ONE group, skipping what a later op of the same group overwrites or undoes (transaction_plan.hpp), appends the
// ops that remain to the journal as one record of the commit log (sqlite_journal.hpp, commit_log.hpp) and, with
// persistence_sync full, fdatasyncs it; then runs the batches' callbacks in order. The journal is applied to the
// tables later, many groups at once (compaction), when it is full and before anything reads them.
//
//   shard 1: submit(A, cbA)  submit(B, cbB)      shard 2: submit(C, cbC)
//   writer:  plan(A B C); pwrite record(A B C minus skipped); fdatasync     -> cbA(true) cbB(true) cbC(true)
//            while that fdatasync runs, D and E are queued; they form the next group.
//
// Batches that acknowledge nothing (may_wait(): deliveries handed a packet id, deliveries acknowledged by their
// subscriber) do not start a commit of their own: while every queued batch is one of those, the writer waits up to
// SqliteOptions::progress_commit_delay for more, or for one that does acknowledge something, and commits them all
// as one group. A page request behind them is served meanwhile if they do not change its range (they stay queued,
// and it completes in its place, after them):
//
//   drainer's PUBACKs:  submit(D1) submit(D2) request_queue_page(P) submit(D3) ... submit(A: a publish)
//   writer:             D1 D2 may wait; P reads seqs the D's do not touch -> served now; ... A -> one group
//                       (D1 D2 D3 ... A), one fdatasync; callbacks D1 D2, P's completion, D3 ..., A
//
// So a commit costs one write and one fdatasync however many publishes it carries: under load, batches pile up
// behind the running commit and throughput rises with latency flat (about one fdatasync). And the more pile up,
// the more of them are deliveries acknowledged before they were ever written, which the record then does not hold
// at all; a compaction over many groups cancels most of the rest. SqliteOptions::commit_delay can add a wait for
// more batches before each commit; it defaults to 0 (see sqlite_options.hpp for why).
//
// Compaction (sqlite_journal.hpp) runs on the writer thread, between groups, and commits with synchronous=FULL
// (sqlite_open.cpp: with a rollback journal less is not safe against power cuts); it must be durable before the
// log starts again from the front (a rewind, every SqliteOptions::commit_log_bytes). It changes many thousands of
// rows, so between its statements (every SqliteTables::kBetweenRows rows) it serves the page requests queued
// meanwhile whose range neither the batches before them nor the journal it applies change: the tables' rows of that
// range are then the same before, during and after it, and a session draining a backlog goes on meanwhile.
//
// Why one thread both commits and compacts: the journal, its log and the tables then have a single writer and no
// lock between them, and a second thread did not pay (the alternatives tried: bench/README.md, "Decisions log").
//
// Opening (sqlite_open.hpp) never refuses a bad file: it is moved aside and logged; only when no database can be
// had at all does the constructor throw StoreError.
//
// Opening applies a journal left by a crash; if that fails (disk full, I/O error) the constructor throws StoreError
// rather than start without acknowledged messages.
//
// Thread safety: submit() and request_queue_page() from any thread; load() and flush() from any thread but the writer
// (i.e. not from a callback); transactions() from any thread. Callbacks (commit and page) run on the writer thread,
// without the queue's lock held; a page's may run inside a compaction, with the database's (db_mutex_): as the Store
// contract says, a callback may submit(), and must not call what waits for the writer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "persistence/sqlite_options.hpp"
#include "persistence/store.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

class Database;
class SqliteJournal;
class SqliteTables;

class SqliteStore final : public Store {
 public:
  // Opens (or creates) options.directory / "tern.db" and starts the writer. Throws StoreError (sqlite_options.hpp).
  explicit SqliteStore(SqliteOptions options);
  ~SqliteStore() override;  // flushes, stops the writer, compacts the journal, closes the database
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  core::StoreSnapshot load() override;
  using Store::submit;
  void submit(core::StoreBatch batch, CommitCallback on_committed) override;
  void flush() override;
  core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) override;
  // Queued behind the batches submitted before it; the writer reads the page between two groups (after compacting
  // the journal into the tables, as load_queue() does) and calls `on_page` on its thread.
  void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                          PageCallback on_page) override;
  // Keeps spent batches of up to kMaxSpentBytes (their capacity) until they are taken; the writer frees the rest.
  void take_spent(std::vector<core::StoreBatch>& out) override;
  StoreStats stats() const override;

  const std::filesystem::path& path() const noexcept { return path_; }
  // Where an unusable database found at start-up was moved (so the server can report it); nullopt if none.
  const std::optional<std::filesystem::path>& moved_aside() const noexcept { return moved_aside_; }
  // Whether the writer is waiting in linger() for batches that acknowledge something (for tests of that wait).
  bool lingering() const;
  // Transactions committed by the writer so far (for tests of group commit).
  std::uint64_t transactions() const noexcept { return transactions_.load(std::memory_order_relaxed); }
  // Journalled ops that an unclean shutdown left and the constructor applied (for the crash test).
  std::size_t recovered_journal_ops() const noexcept { return recovered_journal_ops_; }
  // The Database's PRAGMA `name` now (for tests of what sqlite_open.cpp sets at every open): "synchronous" is
  // always 2 (FULL), "secure_delete" always 2 (FAST).
  std::int64_t pragma(const std::string& name);
  // Bytes of records from the commit log's front to its head (for tests of the rewind).
  std::uint64_t commit_log_bytes();

 private:
  static constexpr std::size_t kMaxSpentBytes = 512 << 10;  // ~3 groups' worth under the durable benchmark's load

  // A page asked for with request_queue_page(): it travels in the queue of batches, so that it is read after every
  // batch submitted before it and before any submitted after it.
  struct PageRequest {
    std::string client_id;
    std::uint64_t after_seq = 0;
    std::size_t limit = 0;
    PageCallback on_page;
  };
  enum class Waits : std::uint8_t { unknown, may, must_not };
  struct Batch {
    core::StoreBatch ops;
    CommitCallback on_committed;
    std::chrono::steady_clock::time_point queued_at;
    std::unique_ptr<PageRequest> page;  // set: not a batch but a page request (ops empty)
    bool served = false;                // a page request served ahead of the batches before it (linger())
    Waits waits = Waits::unknown;       // a batch: may_wait(), once linger() looked
  };

  // Whether every op of `batch` only records a delivery's progress: DeleteQueueEntry, or a PutQueueEntry of an
  // existing QoS 1 entry (a packet id handed out). The broker holds no output for those (broker_store.cpp), so their
  // commit may wait. A batch misjudged here only waits longer; it is committed all the same.
  static bool may_wait(const core::StoreBatch& batch);
  // Whether `batch` changes the queue entries a page request reads.
  static bool touches(const core::StoreBatch& batch, const PageRequest& request);
  // Whether a batch queued before the page request queued[i] changes its range: such batches are not in the journal
  // yet, so the page can be read ahead of them only if none does.
  static bool touched_before(const std::vector<Batch*>& queued, std::size_t i);
  // The writer, mutex_ held, a batch at the front: while every queued batch may wait, serves the page requests among
  // them whose range they leave alone and waits, up to progress_commit_delay after the oldest was queued. Returns
  // when the batches should be committed.
  void linger(std::unique_lock<std::mutex>& lock);

  void recover_journal();
  void run_writer();
  bool commit(std::vector<Batch>& group);  // true: committed
  void serve(PageRequest& request);        // the writer thread, between groups
  // The page `request` asks for (read_queue_locked(), or inside a compaction the tables as they are); an empty one
  // (logged) if reading fails. db_mutex_ held.
  core::QueuePage read_page_locked(const PageRequest& request, bool in_compaction);
  // Hands `page` to the request's callback (the writer thread).
  void answer(PageRequest& request, core::QueuePage page);
  // Inside a compaction (compact_if_full(), db_mutex_ held), between its statements: serves the page requests
  // queued so far whose range neither the journal nor the batches queued before them change.
  void serve_during_compaction();
  // load_queue()'s and serve()'s read: compacts the journal, then reads the tables. db_mutex_ held.
  core::QueuePage read_queue_locked(const std::string& client_id, std::uint64_t after_seq, std::size_t limit);
  void compact_if_full();
  // The commit log has reached SqliteOptions::commit_log_bytes: the next full compaction rewinds it. db_mutex_ held.
  bool log_full() const noexcept;
  // db_mutex_ held; logs a failure (the journal then stays). keep_ops, rewind: SqliteJournal::compact().
  void compact_locked(const char* why, std::size_t keep_ops, bool rewind = false, bool may_skip = false);
  // Sets database_bytes_ if SqliteOptions::max_database_bytes is set. db_mutex_ held.
  void measure_database();

  const SqliteOptions options_;
  std::filesystem::path path_;
  std::optional<std::filesystem::path> moved_aside_;

  // The Database and its statements: the writer's during a commit, load()'s otherwise.
  std::mutex db_mutex_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SqliteTables> tables_;
  std::unique_ptr<SqliteJournal> journal_;
  std::size_t recovered_journal_ops_ = 0;
  std::uint64_t database_bytes_ = 0;  // the database's pages in use, as of the last compaction

  // The queue between submit() and the writer.
  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable batches_done_;
  std::deque<Batch> pending_;
  std::size_t pending_ops_ = 0;
  std::vector<core::StoreBatch> spent_;  // committed batches, for take_spent()
  std::size_t spent_bytes_ = 0;          // their capacity
  std::uint64_t submitted_ = 0;          // batches ever queued
  std::uint64_t completed_ = 0;          // batches whose callbacks have returned
  std::size_t flush_waiters_ = 0;
  bool stop_ = false;
  bool lingering_ = false;  // the writer waits in linger(): every submit wakes it
  StoreStats stats_;        // under mutex_: the commit histogram (written by the writer); backlog filled in by stats()

  std::vector<core::StoreOpView> group_ops_;  // commit()'s, kept for their capacity
  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::size_t> unserved_pages_{0};  // page requests queued and not served yet
  std::thread writer_;                          // last: starts after everything above exists
};

}  // namespace tern::persistence
