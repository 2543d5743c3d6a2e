#include "persistence/sqlite_open.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "persistence/op_codec.hpp"
#include "persistence/sqlite_journal.hpp"
#include "persistence/sqlite_schema.hpp"
#include "persistence/store_files.hpp"
#include "platform/log.hpp"

namespace tern::persistence {
namespace {

namespace fs = std::filesystem;

// The file exists and is readable, but is not a healthy store.
class Unusable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Errors that say nothing about the file's content: moving it aside would lose a good store (BUSY: another broker
// owns it) or would not help (FULL, NOMEM).
bool is_environmental(int primary_code) {
  switch (primary_code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_FULL:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

// A non-empty file that does not start with SQLite's magic is rejected before SQLite opens it (and perhaps touches
// its -wal).
void check_magic(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[16] = {};
  in.read(head, sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  static constexpr char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  if (got != 0 && (got < sizeof head || std::memcmp(head, kMagic, sizeof head) != 0)) {
    throw Unusable("not a SQLite database");
  }
}

std::unique_ptr<Connection> try_open(const fs::path& path, const SqliteOptions& options) {
  const bool existed = path_exists(path);
  if (existed) check_magic(path);
  auto db = std::make_unique<Connection>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db->exec("PRAGMA busy_timeout = 1000");
  if (options.exclusive_lock) db->exec("PRAGMA locking_mode = EXCLUSIVE");
  // Read-only checks first, so that a file we reject is moved aside as it was found.
  if (const auto check = db->query_text("PRAGMA quick_check"); check != "ok") {
    throw Unusable("quick_check: " + check);
  }
  schema_version(*db);  // throws SchemaError for foreign or newer
  try {
    check_journal(*db);  // a journal row we cannot apply: acknowledged groups we cannot restore, in order
  } catch (const OpCodecError& e) {
    throw Unusable(e.what());
  }
  if (const auto mode = db->query_text("PRAGMA journal_mode = WAL"); mode != "wal") {
    throw Unusable("cannot switch to WAL (journal_mode is " + mode + ")");
  }
  const int found = migrate(*db);
  if (found != 0 && found != latest_schema_version()) {
    TERN_LOG(notice, "persistence: ", path.string(), " migrated from schema ", found, " to ", latest_schema_version());
  }
  db->exec(options.sync == SyncMode::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  db->exec("PRAGMA journal_size_limit = 8388608");
  if (options.max_database_bytes > 0) {
    const auto pages = std::max<std::uint64_t>(options.max_database_bytes / db->query_int("PRAGMA page_size"), 1);
    db->exec(("PRAGMA max_page_count = " + std::to_string(pages)).c_str());
  }
  if (!existed) fsync_directory(path.parent_path());
  return db;
}

}  // namespace

OpenedDatabase open_database(const SqliteOptions& options) {
  try {
    ensure_directory(options.directory);
  } catch (const FileError& e) {
    throw StoreError(e.what());
  }
  const fs::path path = options.directory / options.file_name;

  // A -wal or -shm without its database would be replayed into the new one: move strays away first.
  if (!path_exists(path) && (path_exists(path.string() + "-wal") || path_exists(path.string() + "-shm"))) {
    const auto moved = move_aside(path, std::chrono::system_clock::now());
    TERN_LOG(warning, "persistence: found a -wal/-shm file without ", path.string(), "; moved it to ", moved.string());
  }

  std::string reason;
  try {
    return {try_open(path, options), std::nullopt};
  } catch (const SqliteError& e) {
    if (is_environmental(e.primary_code())) {
      throw StoreError("cannot open " + path.string() + ": " + e.what());
    }
    reason = e.what();
  } catch (const SchemaError& e) {
    reason = e.what();
  } catch (const Unusable& e) {
    reason = e.what();
  } catch (const FileError& e) {
    throw StoreError(e.what());
  }

  fs::path moved;
  try {
    moved = move_aside(path, std::chrono::system_clock::now());
  } catch (const FileError& e) {
    throw StoreError(path.string() + " cannot be used (" + reason + ") nor moved aside: " + e.what());
  }
  if (moved.empty()) throw StoreError("cannot create " + path.string() + ": " + reason);  // nothing was there
  TERN_LOG(error, "persistence: ", path.string(), " cannot be used (", reason, "); moved it to ", moved.string(),
           " and starting with an EMPTY store: sessions, subscriptions, queued and retained messages from before "
           "are not restored");
  try {
    return {try_open(path, options), moved};
  } catch (const std::exception& e) {
    throw StoreError("cannot create a new store at " + path.string() + ": " + e.what());
  }
}

}  // namespace tern::persistence
