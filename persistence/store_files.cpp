#include "persistence/store_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <system_error>

#include "platform/fs.hpp"

namespace tern::persistence {
namespace {

namespace fs = std::filesystem;

std::string errno_text(int error) { return std::strerror(error); }

std::string stamp(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

bool path_exists(const fs::path& p) noexcept {
  std::error_code ec;
  const auto status = fs::symlink_status(p, ec);
  return !ec && status.type() != fs::file_type::not_found;
}

void ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec); ec) {
    throw FileError("cannot create directory " + dir.string() + ": " + ec.message());
  }
}

void fsync_directory(const fs::path& dir) {
  if (const std::error_code ec = platform::fsync_dir(dir)) {
    throw FileError("cannot fsync directory " + dir.string() + ": " + ec.message());
  }
}

fs::path move_aside(const fs::path& db, std::chrono::system_clock::time_point now) {
  const std::string base = db.string() + ".corrupt-" + stamp(now);
  // Bounded: a collision needs another failure in the same second.
  std::string target = base;
  for (int n = 1; n < 1000 && (path_exists(target) || path_exists(target + "-wal") || path_exists(target + "-shm"));
       ++n) {
    target = base + "." + std::to_string(n);
  }
  fs::path first;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const fs::path from = db.string() + suffix;
    if (!path_exists(from)) continue;
    const fs::path to = target + suffix;
    if (std::rename(from.c_str(), to.c_str()) != 0) {
      throw FileError("cannot rename " + from.string() + " to " + to.string() + ": " + errno_text(errno));
    }
    if (first.empty()) first = to;
  }
  fsync_directory(db.parent_path());
  return first;
}

}  // namespace tern::persistence
