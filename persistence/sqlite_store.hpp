// The SQLite store (`persistence true`): DIR/tern.db in WAL mode, written by one writer thread that group-commits.
//
// submit() appends the batch to a queue and returns. The writer takes the queued batches (up to max_group_ops ops,
// whole batches), applies them in ONE transaction, skipping what a later op of the same transaction overwrites or
// undoes (transaction_plan.hpp), collects unreferenced messages, commits (with synchronous=FULL: the WAL is
// fsynced), then runs the batches' callbacks in order.
//
//   shard 1: submit(A, cbA)  submit(B, cbB)      shard 2: submit(C, cbC)
//   writer:  BEGIN; plan(A B C); A B C minus skipped; gc; COMMIT (fsync)   -> cbA(true) cbB(true) cbC(true)
//            while that fsync runs, D and E are queued; they form the next transaction.
//
// So a commit costs one fsync however many publishes it carries: under load, batches pile up behind the running
// commit and throughput rises with latency flat (about one fsync). And the more pile up, the more of them are
// deliveries acknowledged before they were ever written, which the transaction then does not write at all. SqliteOptions::commit_delay can add a wait for
// more batches before each commit; it defaults to 0 (see sqlite_options.hpp for why).
//
// Opening (sqlite_open.hpp) never refuses a bad file: it is moved aside and logged; only when no database can be
// had at all does the constructor throw StoreError.
//
// Thread safety: submit() from any thread; load() and flush() from any thread but the writer (i.e. not from a
// callback); transactions() from any thread. Callbacks run on the writer thread, without the store's locks held.
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

namespace tern::persistence {

class Connection;
class SqliteTables;

class SqliteStore final : public Store {
 public:
  // Opens (or creates) options.directory / "tern.db" and starts the writer. Throws StoreError (sqlite_options.hpp).
  explicit SqliteStore(SqliteOptions options);
  ~SqliteStore() override;  // flushes, stops the writer, closes the database (checkpointing the WAL)
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  core::StoreSnapshot load() override;
  void submit(std::vector<core::StoreOp> ops, CommitCallback on_committed) override;
  void flush() override;
  core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) override;

  const std::filesystem::path& path() const noexcept { return path_; }
  // Where an unusable database found at start-up was moved (so the server can report it); nullopt if none.
  const std::optional<std::filesystem::path>& moved_aside() const noexcept { return moved_aside_; }
  // Transactions committed by the writer so far (for tests of group commit).
  std::uint64_t transactions() const noexcept { return transactions_.load(std::memory_order_relaxed); }

 private:
  struct Batch {
    std::vector<core::StoreOp> ops;
    CommitCallback on_committed;
    std::chrono::steady_clock::time_point queued_at;
  };

  void run_writer();
  bool commit(std::vector<Batch>& group);  // true: committed

  const SqliteOptions options_;
  std::filesystem::path path_;
  std::optional<std::filesystem::path> moved_aside_;

  // The connection and its statements: the writer's during a commit, load()'s otherwise.
  std::mutex db_mutex_;
  std::unique_ptr<Connection> db_;
  std::unique_ptr<SqliteTables> tables_;

  // The queue between submit() and the writer.
  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable batches_done_;
  std::deque<Batch> pending_;
  std::size_t pending_ops_ = 0;
  std::uint64_t submitted_ = 0;  // batches ever queued
  std::uint64_t completed_ = 0;  // batches whose callbacks have returned
  std::size_t flush_waiters_ = 0;
  bool stop_ = false;

  std::atomic<std::uint64_t> transactions_{0};
  std::thread writer_;  // last: starts after everything above exists
};

}  // namespace tern::persistence
