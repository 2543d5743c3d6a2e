#include "persistence/sqlite_schema.hpp"

#include <iterator>
#include <string>

#include "platform/entropy.hpp"
#include "platform/log.hpp"

namespace tern::persistence {
namespace {

void migrate_0_to_1(Database& db) {
  // Rows with large values (messages, sessions with a will) keep a rowid; the small, composite-key tables are
  // WITHOUT ROWID so each row is stored once, in key order.
  db.exec(R"sql(
    CREATE TABLE schema_version(version INTEGER NOT NULL);
    INSERT INTO schema_version(version) VALUES (0);

    CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta(key, value) VALUES ('next_message_id', 1);

    CREATE TABLE sessions(
      client_id TEXT NOT NULL UNIQUE,
      expiry_interval INTEGER,              -- seconds; NULL: never
      disconnected_at INTEGER NOT NULL,     -- Unix ms; 0: connected when written
      version INTEGER NOT NULL,             -- protocol level: 3, 4 or 5
      will_delay INTEGER NOT NULL,
      will_id INTEGER,                      -- will_* NULL: no will
      will_topic TEXT,
      will_payload BLOB,
      will_qos INTEGER,
      will_retain INTEGER,
      will_properties BLOB,
      will_expires_at INTEGER);

    CREATE TABLE subscriptions(
      client_id TEXT NOT NULL,
      filter TEXT NOT NULL,
      qos INTEGER NOT NULL,
      no_local INTEGER NOT NULL,
      retain_as_published INTEGER NOT NULL,
      retain_handling INTEGER NOT NULL,
      subscription_id INTEGER NOT NULL,
      PRIMARY KEY (client_id, filter)) WITHOUT ROWID;

    CREATE TABLE messages(
      id INTEGER PRIMARY KEY,
      topic TEXT NOT NULL,
      payload BLOB NOT NULL,
      qos INTEGER NOT NULL,
      retain INTEGER NOT NULL,
      properties BLOB NOT NULL,
      expires_at INTEGER);                  -- Unix ms; NULL: never

    CREATE TABLE queue(
      client_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      message_id INTEGER NOT NULL,
      qos INTEGER NOT NULL,
      retain INTEGER NOT NULL,
      subscription_ids BLOB NOT NULL,       -- 4 bytes little-endian each
      packet_id INTEGER NOT NULL,
      released INTEGER NOT NULL,
      PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
    CREATE INDEX queue_by_message ON queue(message_id);

    CREATE TABLE incoming(
      client_id TEXT NOT NULL,
      packet_id INTEGER NOT NULL,
      PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;

    CREATE TABLE retained(
      topic TEXT PRIMARY KEY,
      message_id INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX retained_by_message ON retained(message_id);
  )sql");
}

void migrate_1_to_2(Database& db) {
  // The write-ahead journal (sqlite_journal.hpp): one row per group commit, an op_codec.hpp record.
  db.exec("CREATE TABLE journal(seq INTEGER PRIMARY KEY, ops BLOB NOT NULL);");
}

void migrate_2_to_3(Database& db) {
  // The journal's records go to the commit log (commit_log.hpp), bound to this database by a random id; rows left
  // in the journal table come first (their seqs are at most journal_seq) and are deleted as they are applied.
  // An older build refuses a database of this schema instead of starting without the records in the log.
  const auto id = static_cast<std::int64_t>(platform::random_u64() >> 1) | 1;  // positive, as SQLite's INTEGER
  db.exec(("INSERT INTO meta(key, value) VALUES ('journal_id', " + std::to_string(id) +
           "), ('journal_seq', (SELECT coalesce(max(seq), 0) FROM journal)), ('journal_offset', 0);")
              .c_str());
}

struct Migration {
  void (*apply)(Database&);
  const char* what;
};

// kMigrations[n] takes the database from version n to n + 1. Append only; never edit a published step.
constexpr Migration kMigrations[] = {
    {migrate_0_to_1, "create the version 1 tables"},
    {migrate_1_to_2, "add the journal"},
    {migrate_2_to_3, "move the journal to the commit log"},
};

}  // namespace

int latest_schema_version() noexcept { return static_cast<int>(std::size(kMigrations)); }

int schema_version(Database& db) {
  if (db.query_int("SELECT count(*) FROM sqlite_master") == 0) return 0;
  if (db.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'") == 0) {
    throw SchemaError("not a Tern store (no schema_version table)");
  }
  if (db.query_int("SELECT count(*) FROM schema_version") != 1) {
    throw SchemaError("schema_version must hold exactly one row");
  }
  const auto version = db.query_int("SELECT version FROM schema_version");
  if (version < 1 || version > latest_schema_version()) {
    throw SchemaError("schema version " + std::to_string(version) + " is unknown to this build (it knows 1 to " +
                      std::to_string(latest_schema_version()) + ")");
  }
  return static_cast<int>(version);
}

int migrate(Database& db) {
  const int found = schema_version(db);
  for (int version = found; version < latest_schema_version(); ++version) {
    const auto& step = kMigrations[version];
    TERN_LOG(notice, "persistence: schema ", version, " -> ", version + 1, ": ", step.what);
    db.exec("BEGIN IMMEDIATE");
    try {
      step.apply(db);
      db.exec(("UPDATE schema_version SET version = " + std::to_string(version + 1)).c_str());
      db.exec("COMMIT");
    } catch (...) {
      db.try_exec("ROLLBACK");
      throw;
    }
  }
  return found;
}

}  // namespace tern::persistence
