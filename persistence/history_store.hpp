// Local history (issue 24): the messages that rules keep (their `store` action), with the time they arrived, in a
// SQLite file of their own (DIR/tern-history.db), queried by topic filter, time range and count.
//
// Writing never waits on the message path: add() appends to a bounded queue (Options::max_pending; past it a record
// is dropped and counted) and the store's own thread writes what has gathered in one transaction per batch
// (Options::batch_interval), as the persistence writer groups its commits. The file is in WAL mode with
// synchronous=NORMAL: a record is in the file once its batch committed, so it survives the broker being killed;
// a power cut may lose the last batches (history is a record of what passed, not a message acknowledged to anyone;
// the durability contract of acknowledged messages is the main store's). A separate file and thread keep history's
// writes and its queries' reads out of the main store's group commits.
//
// Queries run on the same thread, after every record added before them is written, so a query sees what was stored
// before it was asked. Rows are scanned in time order over an index on time and matched against the filter in C++
// (MQTT's wildcards are not SQL's); Options::max_scanned bounds the scan and the answer says it was cut short.
//
// Retention per rule (max_age, max_rows): applied by the thread every Options::retention_interval, with the wall
// clock from Options::now_ms (a test passes its own).
//
// Thread safety: every public member may be called from any thread; `done` callbacks run on the store's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tern::persistence {

struct HistoryRecord {
  std::string rule;
  std::int64_t time_ms = 0;  // Unix milliseconds
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool operator==(const HistoryRecord&) const = default;
};

struct HistoryRetention {
  std::chrono::seconds max_age{0};  // 0: no age limit
  std::uint64_t max_rows = 0;       // 0: no count limit
};

struct HistoryQuery {
  std::string filter = "#";  // MQTT topic filter
  std::string rule;          // empty: every rule's records
  std::int64_t from_ms = 0;
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();
  std::size_t limit = 100;  // at most Options::max_limit
  bool newest_first = false;
};

struct HistoryResult {
  std::vector<HistoryRecord> rows;  // in time order (newest first if asked)
  bool truncated = false;           // more rows matched than `limit`, or the scan hit max_scanned
  std::string error;                // the query failed (the store's file); rows empty
};

class HistoryStore {
 public:
  struct Options {
    std::size_t max_pending = 100000;
    std::chrono::milliseconds batch_interval{100};
    std::chrono::seconds retention_interval{10};
    std::size_t max_limit = 10000;
    std::size_t max_scanned = 1000000;
    std::function<std::int64_t()> now_ms;  // the wall clock for retention; empty: the system's
  };
  struct Stats {
    std::uint64_t written = 0;
    std::uint64_t dropped = 0;  // over max_pending, or a failed write
    std::uint64_t expired = 0;  // removed by retention
  };

  // Opens or creates `file` (throws SqliteError when it cannot) and starts the thread.
  HistoryStore(const std::filesystem::path& file, Options options);
  ~HistoryStore();  // writes what is pending, then stops
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  bool add(HistoryRecord record);  // false: dropped (over max_pending)
  // Several at once, under one lock (a read batch's records); how many were taken (the rest: dropped, counted).
  std::size_t add(std::vector<HistoryRecord>&& records);
  void query(HistoryQuery query, std::function<void(HistoryResult)> done);
  // Runs `task` on the store's thread, after what is pending now is written (a caller that may not block).
  void post(std::function<void()> task) { enqueue(std::move(task), false); }
  void set_retention(std::map<std::string, HistoryRetention> retention);
  void apply_retention();  // at once, on the thread, then returns (besides every retention_interval)
  void flush();            // returns once what was added before is written
  // apply_retention() and flush() wait for the thread: never call them from a query's `done` callback.
  Stats stats() const;

 private:
  struct Impl;
  struct Task;
  void run();
  void retain_now();  // on the thread
  // Runs `task` on the thread after the records pending now are written; `wait`: returns once it ran (never from a
  // `done` callback, which runs on the thread).
  void enqueue(std::function<void()> task, bool wait);

  std::unique_ptr<Impl> impl_;  // the database and statements: the thread's alone
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<HistoryRecord> pending_;
  std::deque<std::function<void()>> tasks_;
  std::map<std::string, HistoryRetention> retention_;
  Stats stats_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tern::persistence
