#include "persistence/sqlite_open.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include "broker/core/store_codec.hpp"
#include "persistence/commit_log.hpp"
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

// The first bytes of a SQLite rollback journal (SQLite's file format, "The Rollback Journal").
constexpr unsigned char kRollbackJournalMagic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};

// Up to `size` bytes from the start of the file; fewer if it is shorter, none if it cannot be read.
std::size_t read_head(const fs::path& path, char* head, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return 0;
  const std::size_t got = std::fread(head, 1, size, file);
  std::fclose(file);
  return got;
}

bool starts_with(const fs::path& path, const unsigned char* magic, std::size_t n) {
  std::string head(n, '\0');
  return read_head(path, head.data(), n) == n && std::memcmp(head.data(), magic, n) == 0;
}

// A non-empty file that does not start with SQLite's magic is rejected before SQLite opens it (and perhaps touches
// its -wal). Except one that starts with zeros beside a rollback journal: a database whose creation a power cut
// interrupted. Its first transaction goes through the rollback journal, and its first page may be lost while its size
// is not (or torn); SQLite plays the journal back when it opens the file, which restores the file as it was.
void check_magic(const fs::path& path) {
  char head[16] = {};
  const std::size_t got = read_head(path, head, sizeof head);
  static constexpr char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  if (got == 0 || (got == sizeof head && std::memcmp(head, kMagic, sizeof head) == 0)) return;
  const bool zeros = std::all_of(head, head + got, [](char c) { return c == '\0'; });
  if (zeros && starts_with(path.string() + "-journal", kRollbackJournalMagic, sizeof kRollbackJournalMagic)) return;
  throw Unusable("not a SQLite database");
}

// Opens (or creates) the database's commit log and reads the journal. A log of another database is moved aside
// alone (and a new one made): it cannot be applied here, and whoever restored this database beside it may want it.
OpenedDatabase open_log(std::unique_ptr<Database> db, const fs::path& path, const SqliteOptions& options) {
  const fs::path log_path = path.string() + kCommitLogSuffix;
  try {
    for (int attempt = 0;; ++attempt) {  // at most twice: a new file holds no record
      auto file = platform::File::open_or_create(log_path);
      if (file.created()) fsync_directory(path.parent_path());
      try {
        const bool sync = options.sync == SyncMode::full && !options.skip_commit_log_sync;
        auto journal = read_journal(*db, file, sync ? LogSync::each_record : LogSync::none);
        if (journal.scan.torn_before_whole) {
          TERN_LOG(warning, "persistence: ", log_path.string(), " ends at a record torn by a power cut (with ",
                   "persistence_sync normal records are not synced): the groups committed from seq ",
                   journal.scan.next_seq, " on are lost");
        }
        const CommitLog::Options log_options{.sync = sync, .grow_bytes = options.commit_log_grow_bytes};
        auto log = std::make_unique<CommitLog>(std::move(file), journal.id, journal.scan, log_options);
        return {std::move(db), std::nullopt, std::move(log), std::move(journal)};
      } catch (const CommitLogForeign& e) {
        if (attempt > 0) throw Unusable(e.what());
        const auto moved = move_file_aside(log_path, "foreign", std::chrono::system_clock::now());
        TERN_LOG(error, "persistence: ", e.what(), "; moved it to ", moved.string(), " and starting a new log");
      }
    }
  } catch (const CommitLogError& e) {  // acknowledged groups we cannot restore, in order
    throw Unusable(e.what());
  } catch (const core::StoreCodecError& e) {
    throw Unusable(e.what());
  } catch (const std::system_error& e) {
    throw FileError(e.what());
  }
}

OpenedDatabase try_open(const fs::path& path, const SqliteOptions& options) {
  const bool existed = path_exists(path);
  if (existed) check_magic(path);
  auto db = std::make_unique<Database>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db->exec("PRAGMA busy_timeout = 1000");
  if (options.exclusive_lock) db->exec("PRAGMA locking_mode = EXCLUSIVE");
  // Read-only checks first, so that a file we reject is moved aside as it was found.
  if (const auto check = db->query_text("PRAGMA quick_check"); check != "ok") {
    throw Unusable("quick_check: " + check);
  }
  schema_version(*db);  // throws SchemaError for foreign or newer
  // A rollback journal, kept between transactions (PERSIST: its header zeroed at commit, the file not deleted and
  // made again). Not WAL: the commit log is this store's write-ahead log already, and in WAL mode every page a
  // compaction writes is written twice, to the WAL and by the checkpoint into the database; a rollback journal holds
  // only the old content of pages that existed before the transaction, so pages a compaction adds (the backlog's
  // rows) are written once (bench/README.md, "Flash wear"). A database an older build left in WAL mode is
  // checkpointed and switched here.
  if (const auto mode = db->query_text("PRAGMA journal_mode = PERSIST"); mode != "persist") {
    throw Unusable("cannot switch to a rollback journal (journal_mode is " + mode + ")");
  }
  const int found = migrate(*db);
  if (found != 0 && found != latest_schema_version()) {
    TERN_LOG(notice, "persistence: ", path.string(), " migrated from schema ", found, " to ", latest_schema_version());
  }
  // Commits that acknowledge anything go to the commit log; the database's own transactions (compactions) only
  // move what the log holds. With a rollback journal anything less than FULL may leave a database that a power cut
  // corrupted (SQLite's documentation of PRAGMA synchronous), so every compaction is durable when it commits: a
  // few fsyncs per compaction, which comes every journal_compact_ops ops.
  db->exec("PRAGMA synchronous = FULL");
  db->exec("PRAGMA journal_size_limit = 8388608");
  // Debian builds SQLite with SQLITE_SECURE_DELETE, which writes every page a delete frees only to zero it: a drained
  // backlog's pages, all of them. FAST zeroes deleted content only in pages written anyway and leaves freed pages
  // alone (bench/README.md, "Flash wear"). Durability is the same; what a delivered message leaves in a free page
  // stays there until SQLite reuses the page, as it stays in the commit log until that is overwritten.
  db->exec("PRAGMA secure_delete = FAST");
  if (options.max_database_bytes > 0) {
    const auto pages = std::max<std::uint64_t>(options.max_database_bytes / db->query_int("PRAGMA page_size"), 1);
    db->exec(("PRAGMA max_page_count = " + std::to_string(pages)).c_str());
  }
  if (!existed) fsync_directory(path.parent_path());
  return open_log(std::move(db), path, options);
}

}  // namespace

OpenedDatabase open_database(const SqliteOptions& options) {
  try {
    ensure_directory(options.directory);
  } catch (const FileError& e) {
    throw StoreError(e.what());
  }
  const fs::path path = options.directory / options.file_name;

  // A -wal or -shm without its database would be replayed into the new one: move strays away first; and a commit
  // log without its database holds groups nothing can apply any more.
  if (!path_exists(path) && (path_exists(path.string() + "-wal") || path_exists(path.string() + "-shm") ||
                             path_exists(path.string() + kCommitLogSuffix))) {
    const auto moved = move_aside(path, std::chrono::system_clock::now());
    TERN_LOG(warning, "persistence: found a -wal, -shm or -commitlog file without ", path.string(), "; moved it to ",
             moved.string());
  }

  std::string reason;
  try {
    return try_open(path, options);
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
    auto opened = try_open(path, options);
    opened.moved_aside = moved;
    return opened;
  } catch (const std::exception& e) {
    throw StoreError("cannot create a new store at " + path.string() + ": " + e.what());
  }
}

}  // namespace tern::persistence
