// File-system steps around the SQLite store that SQLite does not do for us: making the store's directory, fsyncing
// a directory after files in it were created or renamed (so the names survive a power cut, not only the contents),
// and moving a database that cannot be used out of the way without destroying it.
//
//   move_aside("/var/lib/tern/tern.db", now)
//     tern.db      -> tern.db.corrupt-20240131-235959
//     tern.db-wal  -> tern.db.corrupt-20240131-235959-wal     (each if it exists)
//     tern.db-shm  -> tern.db.corrupt-20240131-235959-shm
//     tern.db-journal -> tern.db.corrupt-20240131-235959-journal  (must not meet a new tern.db)
//     tern.db-commitlog -> tern.db.corrupt-20240131-235959-commitlog    (commit_log.hpp)
//     then fsync("/var/lib/tern")
//   move_file_aside("/var/lib/tern/tern.db-commitlog", "foreign", now)
//     tern.db-commitlog -> tern.db-commitlog.foreign-20240131-235959
//   A second failure in the same second gets tern.db.corrupt-20240131-235959.1 (and so on).
//
// Thread safety: free functions; callers serialise access to the files they name.
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace tern::persistence {

// A file-system step failed; what() names the path and the errno text.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether anything (file, directory, dangling symlink) has this name.
bool path_exists(const std::filesystem::path& p) noexcept;

// Creates `dir` (and its parents) if missing.
void ensure_directory(const std::filesystem::path& dir);

// fsync() on the directory itself, so entries created or renamed in it are durable.
void fsync_directory(const std::filesystem::path& dir);

// Renames `db` and its companions (-wal, -shm, -journal, -commitlog) as above (those that exist); returns the new
// name of `db` (or of the first companion found, if `db` itself is missing). The time stamp is UTC.
std::filesystem::path move_aside(const std::filesystem::path& db, std::chrono::system_clock::time_point now);

// Renames one file to FILE.WHY-STAMP (as above) and returns the new name.
std::filesystem::path move_file_aside(const std::filesystem::path& file, std::string_view why,
                                      std::chrono::system_clock::time_point now);

}  // namespace tern::persistence
