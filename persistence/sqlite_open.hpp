// Opening the SQLite store's file: the checks, and what happens when they fail.
//
//   DIR/tern.db missing              -> created (schema migrated 0 -> current), DIR fsynced; a -wal, -shm or
//                                       -commitlog found without it is moved aside first
//   DIR/tern.db usable               -> opened, migrated to the current schema if older
//   DIR/tern.db starting with zeros beside a rollback journal (-journal): a power cut while it was created
//                                    -> opened: SQLite plays the journal back (an empty file again), then as new
//   not SQLite / corrupt / truncated / quick_check fails / foreign tables / newer schema / a journal row that
//   cannot be decoded (sqlite_journal.hpp) / a commit log with records missing or damaged in the middle
//   (commit_log.hpp) / cannot be opened
//                                    -> moved aside with its companions (store_files.hpp), logged at error level,
//                                       a new empty store
//   DIR/tern.db-commitlog of another database (its journal id)
//                                    -> the log alone moved aside, logged at error level, a new log
//   locked by another process, disk full, out of memory
//                                    -> StoreError: moving the file would not help and might hurt
//
// Every Database opened: a rollback journal kept between transactions (journal_mode PERSIST; a WAL database is
// switched), synchronous FULL (what a group commit makes durable is in the commit log, whose writes follow
// SqliteOptions::sync; the database's own transactions are compactions), optionally locking_mode EXCLUSIVE, a 1 s busy
// timeout (a broker restarting while its predecessor still closes), the journal truncated to 8 MiB after a
// transaction, and max_page_count from SqliteOptions::max_database_bytes.
//
// Thread safety: call from one thread; the result is owned by the caller.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "persistence/commit_log.hpp"
#include "persistence/sqlite_db.hpp"
#include "persistence/sqlite_journal.hpp"
#include "persistence/sqlite_options.hpp"

namespace tern::persistence {

inline constexpr const char* kDatabaseFileName = "tern.db";  // the default of SqliteOptions::file_name

struct OpenedDatabase {
  std::unique_ptr<Database> db;
  std::optional<std::filesystem::path> moved_aside;  // where an unusable file went
  std::unique_ptr<CommitLog> log;                    // DIR/tern.db-commitlog
  FoundJournal journal;                              // what the journal holds, read from the database and log
};

// Throws StoreError when no usable database can be had.
OpenedDatabase open_database(const SqliteOptions& options);

}  // namespace tern::persistence
