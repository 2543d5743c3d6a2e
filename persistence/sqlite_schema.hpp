// The SQLite store's schema, its version and the migrations between versions (STYLE.md rule 12).
//
// The version lives in a one-row table `schema_version`. Each migration takes the database from version N to N+1
// inside one transaction, which also writes N+1; a fresh (empty) database is version 0, so creating the tables is
// simply the migration 0 -> 1. To change the schema, append a function to kMigrations in sqlite_schema.cpp, add a
// golden file of the new version (tests/unit/persistence/golden/) and keep the old ones: they test the migration.
//
//   empty file        version 0  -> migrate_0_to_1 -> migrate_1_to_2 -> migrate_2_to_3 -> version 3 (current)
//   v1 database       version 1  -> migrate_1_to_2 -> migrate_2_to_3 -> version 3
//   v2 database       version 2  -> migrate_2_to_3 -> version 3
//   v3 database       version 3  -> nothing to do
//   version 99        newer than this build knows: SchemaError (the store moves the file aside)
//   tables, but no schema_version: not a Tern database: SchemaError
//
// Version 1 tables (all keys are the StoreOp keys; text is compared bytewise, as std::string does):
//   meta(key, value)                       "next_message_id" -> larger than any message id ever stored
//   sessions(client_id, ..., will_*)        the will inline; will_topic NULL: no will
//   subscriptions(client_id, filter, options...)
//   messages(id, topic, payload, ...)       stored once; deleted when no queue entry and no retained topic names it
//   queue(client_id, seq, message_id, ...)  indexed by message_id for that check
//   incoming(client_id, packet_id)
//   retained(topic, message_id)             indexed by message_id for that check
// Version 2 adds:
//   journal(seq, ops)                       groups committed but not yet applied to the tables above: one
//                                           op_codec.hpp record each, applied in seq order (sqlite_journal.hpp)
// Version 3 moves the journal to the commit log, a file beside the database (commit_log.hpp); the journal table
// stays for the rows a version 2 database left there. meta gains:
//   "journal_id"      random, positive: the log's records carry it
//   "journal_seq"     the seq of the last log record applied to the tables (at first, the last row of the table)
//   "journal_offset"  where in the log the record after it is
//
// Thread safety: functions over a Database the caller owns.
#pragma once

#include <stdexcept>

#include "persistence/sqlite_db.hpp"

namespace tern::persistence {

// The database is not one this build can use (foreign tables, or a newer schema version).
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The version this build writes.
int latest_schema_version() noexcept;

// The version stored in `db`: 0 for an empty database. Throws SchemaError if `db` holds tables but is not a Tern
// store, SqliteError if it cannot be read.
int schema_version(Database& db);

// Brings `db` to latest_schema_version(), one transaction per step; returns the version it found. Throws
// SchemaError for a version newer than this build.
int migrate(Database& db);

}  // namespace tern::persistence
