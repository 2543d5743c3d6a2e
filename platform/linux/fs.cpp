#include "platform/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tern::platform {
namespace {

std::error_code sync_path(const char* path, int flags, bool einval_ok) noexcept {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return {errno, std::system_category()};
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && !(einval_ok && error == EINVAL)) return {error, std::system_category()};
  return {};
}

}  // namespace

std::error_code fsync_file(const std::filesystem::path& file) noexcept {
  return sync_path(file.c_str(), O_RDONLY, false);
}

std::error_code fsync_dir(const std::filesystem::path& dir) noexcept {
  return sync_path(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY, true);
}

}  // namespace tern::platform
