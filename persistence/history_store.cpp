#include "persistence/history_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <future>

#include "broker/protocol/topic.hpp"
#include "persistence/sqlite_db.hpp"

namespace tern::persistence {

struct HistoryStore::Impl {
  explicit Impl(const std::filesystem::path& file)
      : db(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX),
        // secure_delete = FAST, as the main store (sqlite_open.cpp): retention frees whole pages, which Debian's
        // SQLite (SQLITE_SECURE_DELETE) would otherwise write again only to zero them.
        setup((db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=FAST;"
                       "CREATE TABLE IF NOT EXISTS history(id INTEGER PRIMARY KEY, rule TEXT NOT NULL,"
                       " time INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL);"
                       "CREATE INDEX IF NOT EXISTS history_time ON history(time);"
                       "CREATE INDEX IF NOT EXISTS history_rule ON history(rule, id);"),
               true)),
        insert(db, "INSERT INTO history(rule, time, topic, payload, qos) VALUES (?1, ?2, ?3, ?4, ?5)"),
        select_up(db,
                  "SELECT rule, time, topic, payload, qos FROM history WHERE time >= ?1 AND time <= ?2 "
                  "ORDER BY time, id"),
        select_down(db,
                    "SELECT rule, time, topic, payload, qos FROM history WHERE time >= ?1 AND time <= ?2 "
                    "ORDER BY time DESC, id DESC"),
        expire_age(db, "DELETE FROM history WHERE rule = ?1 AND time < ?2"),
        expire_rows(db,
                    "DELETE FROM history WHERE rule = ?1 AND id <= (SELECT id FROM history WHERE rule = ?1 "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?2)") {}

  Database db;
  bool setup;
  Statement insert;
  Statement select_up;
  Statement select_down;
  Statement expire_age;
  Statement expire_rows;
};

HistoryStore::HistoryStore(const std::filesystem::path& file, Options options)
    : impl_(std::make_unique<Impl>(file)), options_(std::move(options)) {
  if (!options_.now_ms) {
    options_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  thread_ = std::thread([this] { run(); });
}

HistoryStore::~HistoryStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool HistoryStore::add(HistoryRecord record) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() >= options_.max_pending) {
      ++stats_.dropped;
      return false;
    }
    pending_.push_back(std::move(record));
  }
  // No wake-up: the thread takes the batch at its next interval (one transaction for all that gathered).
  return true;
}

std::size_t HistoryStore::add(std::vector<HistoryRecord>&& records) {
  std::lock_guard lock(mutex_);
  const std::size_t room = options_.max_pending > pending_.size() ? options_.max_pending - pending_.size() : 0;
  const std::size_t taken = std::min(room, records.size());
  for (std::size_t i = 0; i < taken; ++i) pending_.push_back(std::move(records[i]));
  stats_.dropped += records.size() - taken;
  return taken;
}

void HistoryStore::enqueue(std::function<void()> task, bool wait) {
  std::promise<void> finished;
  std::future<void> done = finished.get_future();
  {
    std::lock_guard lock(mutex_);
    if (wait) {
      tasks_.push_back([task = std::move(task), &finished] {
        task();
        finished.set_value();
      });
    } else {
      tasks_.push_back(std::move(task));
    }
  }
  wake_.notify_all();
  if (wait) done.wait();
}

void HistoryStore::query(HistoryQuery query, std::function<void(HistoryResult)> done) {
  enqueue(
      [this, query = std::move(query), done = std::move(done)] {
        HistoryResult result;
        const std::size_t limit = std::min(query.limit, options_.max_limit);
        try {
          Statement& select = query.newest_first ? impl_->select_down : impl_->select_up;
          select.start().bind(1, query.from_ms).bind(2, query.to_ms);
          std::size_t scanned = 0;
          while (select.step()) {
            if (++scanned > options_.max_scanned) {
              result.truncated = true;
              select.reset();
              break;
            }
            HistoryRecord r;
            r.rule = select.column_text(0);
            if (!query.rule.empty() && r.rule != query.rule) continue;
            r.topic = select.column_text(2);
            if (!protocol::topic_matches(query.filter, r.topic)) continue;
            if (result.rows.size() == limit) {
              result.truncated = true;
              select.reset();
              break;
            }
            r.time_ms = select.column_int(1);
            r.payload = select.column_blob(3);
            r.qos = static_cast<std::uint8_t>(select.column_int(4));
            result.rows.push_back(std::move(r));
          }
        } catch (const std::exception& e) {
          result.rows.clear();
          result.error = e.what();
        }
        done(std::move(result));
      },
      false);
}

void HistoryStore::set_retention(std::map<std::string, HistoryRetention> retention) {
  std::lock_guard lock(mutex_);
  retention_ = std::move(retention);
}

void HistoryStore::apply_retention() {
  enqueue([this] { retain_now(); }, true);
}

void HistoryStore::retain_now() {
  std::map<std::string, HistoryRetention> retention;
  {
    std::lock_guard lock(mutex_);
    retention = retention_;
  }
  if (retention.empty()) return;
  const std::int64_t now = options_.now_ms();
  std::uint64_t removed = 0;
  try {
    impl_->db.exec("BEGIN");
    for (const auto& [rule, r] : retention) {
      if (r.max_age.count() > 0) {
        impl_->expire_age.start().bind(1, rule).bind(2, now - r.max_age.count() * 1000).run();
        removed += static_cast<std::uint64_t>(sqlite3_changes(impl_->db.get()));
      }
      if (r.max_rows > 0) {
        impl_->expire_rows.start().bind(1, rule).bind(2, static_cast<std::int64_t>(r.max_rows)).run();
        removed += static_cast<std::uint64_t>(sqlite3_changes(impl_->db.get()));
      }
    }
    impl_->db.exec("COMMIT");
  } catch (const std::exception&) {
    impl_->db.try_exec("ROLLBACK");
    removed = 0;
  }
  std::lock_guard lock(mutex_);
  stats_.expired += removed;
}

void HistoryStore::flush() {
  enqueue([] {}, true);  // tasks run after the batch gathered before them is written (run())
}

HistoryStore::Stats HistoryStore::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void HistoryStore::run() {
  auto next_retention = std::chrono::steady_clock::now() + options_.retention_interval;
  for (;;) {
    std::deque<HistoryRecord> batch;
    std::deque<std::function<void()>> tasks;
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.batch_interval, [this] { return stopping_ || !tasks_.empty(); });
      batch.swap(pending_);
      tasks.swap(tasks_);
      stopping = stopping_;
    }
    if (!batch.empty()) {
      std::uint64_t written = 0;
      try {
        impl_->db.exec("BEGIN");
        for (const HistoryRecord& r : batch) {
          impl_->insert.start()
              .bind(1, r.rule)
              .bind(2, r.time_ms)
              .bind(3, r.topic)
              .bind_blob(4, r.payload)
              .bind(5, static_cast<std::int64_t>(r.qos))
              .run();
        }
        impl_->db.exec("COMMIT");
        written = batch.size();
      } catch (const std::exception&) {
        impl_->db.try_exec("ROLLBACK");
      }
      std::lock_guard lock(mutex_);
      stats_.written += written;
      stats_.dropped += batch.size() - written;
    }
    for (auto& task : tasks) task();
    if (stopping) return;
    if (std::chrono::steady_clock::now() >= next_retention) {
      next_retention = std::chrono::steady_clock::now() + options_.retention_interval;
      retain_now();
    }
  }
}

}  // namespace tern::persistence
