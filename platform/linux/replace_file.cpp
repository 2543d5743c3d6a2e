#include "platform/replace_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "platform/fs.hpp"

namespace tern::platform {
namespace {

[[noreturn]] void fail(int error, const std::string& what, const std::string& path) {
  throw std::system_error(error, std::system_category(), what + " " + path);
}

// Removes the temporary file unless the rename consumed it.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::filesystem::path& target) {
    const std::filesystem::path dir = target.parent_path();
    // Hidden, and named after the target, so that a leftover from a power cut is recognisable.
    path_ = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    fd_ = ::mkostemp(path_.data(), O_CLOEXEC);
    if (fd_ < 0) fail(errno, "cannot create a temporary file in", dir.empty() ? "." : dir.string());
  }
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  void close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(errno, "cannot write", path_);
  }
  void renamed() { renamed_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool renamed_ = false;
};

}  // namespace

void replace_file(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  TemporaryFile temporary(path);
  const int fd = temporary.fd();
  // mkostemp creates 0600 less the umask; the mode asked for is set explicitly.
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) fail(errno, "cannot set the mode of", temporary.path());
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && (old.st_uid != ::geteuid() || old.st_gid != ::getegid())) {
    // Only root (or an owner changing to one of its groups) may do this; anyone else ends up owning the new file,
    // as with any editor that writes a copy and renames it.
    [[maybe_unused]] const int ignored = ::fchown(fd, old.st_uid, old.st_gid);
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "cannot write", temporary.path());
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail(errno, "cannot sync", temporary.path());
  temporary.close();
  if (::rename(temporary.path().c_str(), path.c_str()) != 0) {
    fail(errno, "cannot rename " + temporary.path() + " to", path.string());
  }
  temporary.renamed();
  if (const std::error_code error = fsync_dir(path.parent_path())) {
    fail(error.value(), "cannot sync the directory of", path.string());
  }
}

}  // namespace tern::platform
