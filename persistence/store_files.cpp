#include "persistence/store_files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <string>
#include <system_error>

#include "persistence/commit_log.hpp"
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

namespace {

// `base`, or base.1, base.2, ... : the first for which no file `base + suffix` exists for any of `suffixes`.
// Bounded: a collision needs another failure in the same second.
std::string free_name(const std::string& base, std::initializer_list<const char*> suffixes) {
  const auto taken = [&](const std::string& name) {
    for (const char* suffix : suffixes) {
      if (path_exists(name + suffix)) return true;
    }
    return false;
  };
  std::string name = base;
  for (int n = 1; n < 1000 && taken(name); ++n) name = base + "." + std::to_string(n);
  return name;
}

void rename_file(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw FileError("cannot rename " + from.string() + " to " + to.string() + ": " + errno_text(errno));
  }
}

}  // namespace

fs::path move_aside(const fs::path& db, std::chrono::system_clock::time_point now) {
  static constexpr std::initializer_list<const char*> kSuffixes = {"", "-wal", "-shm", "-journal", kCommitLogSuffix};
  const std::string target = free_name(db.string() + ".corrupt-" + stamp(now), kSuffixes);
  fs::path first;
  for (const char* suffix : kSuffixes) {
    const fs::path from = db.string() + suffix;
    if (!path_exists(from)) continue;
    const fs::path to = target + suffix;
    rename_file(from, to);
    if (first.empty()) first = to;
  }
  fsync_directory(db.parent_path());
  return first;
}

fs::path move_file_aside(const fs::path& file, std::string_view why, std::chrono::system_clock::time_point now) {
  const fs::path to = free_name(file.string() + "." + std::string(why) + "-" + stamp(now), {""});
  rename_file(file, to);
  fsync_directory(file.parent_path());
  return to;
}

}  // namespace tern::persistence
