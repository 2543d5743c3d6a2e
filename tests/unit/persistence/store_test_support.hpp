// Helpers for the persistence tests: a temporary directory, short builders for StoreOps, and printers so gtest
// shows stored values readably.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

#include "broker/core/store_ops.hpp"
#include "persistence/commit_log.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/sqlite_journal.hpp"
#include "platform/file.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::core {

inline std::ostream& operator<<(std::ostream& os, const StoredMessage& m) {
  return os << "message{" << m.id << ' ' << m.topic << " payload=" << m.payload.size() << "B qos " << int(m.qos)
            << (m.retain ? " retain" : "") << '}';
}
inline std::ostream& operator<<(std::ostream& os, const StoredSession& s) {
  os << "session{" << s.client_id << " v" << int(s.version) << " expiry ";
  if (s.expiry_interval)
    os << *s.expiry_interval;
  else
    os << "never";
  os << " at " << s.disconnected_at;
  if (s.will) os << " will " << *s.will << " delay " << s.will_delay;
  return os << '}';
}
inline std::ostream& operator<<(std::ostream& os, const StoredSubscription& s) {
  return os << "subscription{" << s.client_id << ' ' << s.filter << " qos " << int(s.options.qos) << " id "
            << s.options.subscription_id << '}';
}
inline std::ostream& operator<<(std::ostream& os, const StoredQueueEntry& e) {
  return os << "queue{" << e.client_id << " seq " << e.seq << " -> " << e.message_id << " qos " << int(e.qos) << " pid "
            << e.packet_id << (e.released ? " released" : "") << '}';
}
inline std::ostream& operator<<(std::ostream& os, const StoredIncoming& i) {
  return os << "incoming{" << i.client_id << ' ' << i.packet_id << '}';
}
inline std::ostream& operator<<(std::ostream& os, const StoredRetained& r) {
  return os << "retained{" << r.topic << " -> " << r.message_id << '}';
}

}  // namespace tern::core

namespace tern::persistence::test {

namespace fs = std::filesystem;
namespace op = core::store_op;
using core::StoreOp;
using protocol::QoS;

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir : testsupport::TempDir {
  TempDir() : testsupport::TempDir("tern-store") {}
};

inline core::StoredMessage message(std::uint64_t id, std::string topic, std::string payload = "p",
                                   QoS qos = QoS::at_least_once) {
  core::StoredMessage m;
  m.id = id;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = qos;
  return m;
}

inline core::StoredSession session(std::string client_id, std::optional<std::uint32_t> expiry = 3600) {
  core::StoredSession s;
  s.client_id = std::move(client_id);
  s.expiry_interval = expiry;
  s.version = protocol::Version::v5;
  return s;
}

inline core::StoredQueueEntry entry(std::string client_id, std::uint64_t seq, std::uint64_t message_id,
                                    std::uint16_t packet_id = 0) {
  core::StoredQueueEntry e;
  e.client_id = std::move(client_id);
  e.seq = seq;
  e.message_id = message_id;
  e.qos = QoS::at_least_once;
  e.packet_id = packet_id;
  return e;
}

inline core::StoredSubscription subscription(std::string client_id, std::string filter, QoS qos = QoS::at_least_once) {
  core::StoredSubscription s;
  s.client_id = std::move(client_id);
  s.filter = std::move(filter);
  s.options.qos = qos;
  return s;
}

// Builds a batch from ops of any kinds: batch(op::PutMessage{...}, op::DeleteQueueEntry{...}).
template <class... Ops>
std::vector<StoreOp> batch(Ops&&... ops) {
  std::vector<StoreOp> out;
  (out.emplace_back(std::forward<Ops>(ops)), ...);
  return out;
}

inline std::vector<std::uint64_t> message_ids(const core::StoreSnapshot& snap) {
  std::vector<std::uint64_t> ids;
  for (const auto& m : snap.messages) ids.push_back(m.id);
  return ids;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs one SQL statement on the database at `path` (created if missing) from outside the store (the store must not
// hold its lock) and returns the first column of the first row as text ("" if none).
inline std::string sql(const fs::path& path, const std::string& statement) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, statement.c_str(), -1, &st, nullptr) == SQLITE_OK) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
        result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ADD_FAILURE() << statement << ": " << sqlite3_errmsg(db);
      }
    } else {
      ADD_FAILURE() << statement << ": " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return result;
}

// The journal's rows (of the schema 2 table, then the commit log's records) of the database at `db`, as an open
// would find them; the store must not hold the database's lock.
inline std::deque<JournalRow> journal_rows(const fs::path& db) {
  Database c(db, SQLITE_OPEN_READONLY);
  const auto log = platform::File::open_or_create(db.string() + kCommitLogSuffix);
  return read_journal(c, log).rows;
}

inline std::string journal_count(const fs::path& db) { return std::to_string(journal_rows(db).size()); }

// Runs several statements on one connection to the database at `path` (created if missing).
inline void sql_script(const fs::path& path, const std::string& script) {
  sqlite3* db = nullptr;
  char* error = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK ||
      sqlite3_exec(db, script.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    ADD_FAILURE() << script << ": " << (error != nullptr ? error : sqlite3_errmsg(db));
  }
  sqlite3_free(error);
  sqlite3_close(db);
}

}  // namespace tern::persistence::test
