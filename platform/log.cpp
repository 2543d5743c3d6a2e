// The process log. Each line is built whole in memory and written with one write(2), so lines from different threads
// never interleave and no lock is needed (O_APPEND makes the write atomic for files; for pipes a write up to
// PIPE_BUF bytes is atomic).
//
// The settings live in atomics read with relaxed loads: configure_log() runs at start-up before other threads (see
// log.hpp), so there is nothing to order; the atomics only keep a later reconfiguration, as tests do, well defined.
#include "platform/log.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <system_error>

namespace tern::platform {
namespace {

using Dest = LogSettings::Dest;

std::atomic<Dest> g_dest{Dest::stderr_};
std::atomic<int> g_fd{STDERR_FILENO};
std::atomic<bool> g_timestamp{true};
// log_timestamp_format: set only by configure_log, before other threads log (see log.hpp); empty: epoch seconds.
std::string g_timestamp_format;
int g_file_fd = -1;  // the open log file, owned here; touched only by configure_log

int syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::error:
      return LOG_ERR;
    case LogLevel::warning:
      return LOG_WARNING;
    case LogLevel::notice:
      return LOG_NOTICE;
    case LogLevel::information:
      return LOG_INFO;
    case LogLevel::debug:
      return LOG_DEBUG;
  }
  return LOG_INFO;
}

void write_all(int fd, const std::string& line) {
  const char* data = line.data();
  std::size_t left = line.size();
  // One write() in practice; the loop only covers signals and short writes to a full pipe or disk.
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

// "1712345678" or, with log_timestamp_format, the local time as strftime() formats it ("Time error" when the result
// is empty or too long, as mosquitto writes then).
void append_timestamp(std::string& line) {
  const std::time_t now = std::time(nullptr);
  if (g_timestamp_format.empty()) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, static_cast<long long>(now)).ptr;
    line.append(digits, end);
    return;
  }
  std::tm local{};
  char text[256];
  const std::size_t n = ::localtime_r(&now, &local) != nullptr
                            ? std::strftime(text, sizeof text, g_timestamp_format.c_str(), &local)
                            : 0;
  line.append(n != 0 ? std::string_view(text, n) : std::string_view("Time error"));
}

void write_line(LogLevel level, std::string_view text) {
  const Dest dest = g_dest.load(std::memory_order_relaxed);
  if (dest == Dest::syslog) {
    // syslog stamps its own time.
    ::syslog(syslog_priority(level), "%.*s", static_cast<int>(text.size()), text.data());
    return;
  }
  std::string line;
  line.reserve(text.size() + 24);
  if (g_timestamp.load(std::memory_order_relaxed)) {
    append_timestamp(line);
    line += ": ";
  }
  line += text;
  line += '\n';
  write_all(g_fd.load(std::memory_order_relaxed), line);
}

int syslog_facility(int local) {
  static constexpr int kLocal[] = {LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
                                   LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7};
  return local >= 0 && local < 8 ? kLocal[local] : LOG_DAEMON;
}

}  // namespace

bool configure_log(const LogSettings& settings, std::string& error) {
  int fd = -1;
  switch (settings.dest) {
    case Dest::stderr_:
      fd = STDERR_FILENO;
      break;
    case Dest::stdout_:
      fd = STDOUT_FILENO;
      break;
    case Dest::file:
      fd = ::open(settings.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0) {
        error = "cannot open log file " + settings.file + ": " + std::generic_category().message(errno);
        return false;
      }
      break;
    case Dest::syslog:
      ::openlog("tern", LOG_PID | LOG_CONS, syslog_facility(settings.syslog_facility));
      break;
    case Dest::none:
      break;
  }
  const Dest old_dest = g_dest.load(std::memory_order_relaxed);
  g_fd.store(fd, std::memory_order_relaxed);
  g_dest.store(settings.dest, std::memory_order_relaxed);
  g_timestamp.store(settings.timestamp, std::memory_order_relaxed);
  g_timestamp_format = settings.timestamp_format;
  set_log_backend(settings.dest == Dest::none ? 0 : settings.levels, &write_line, settings.connection_messages);
  if (g_file_fd >= 0) ::close(g_file_fd);
  g_file_fd = settings.dest == Dest::file ? fd : -1;
  if (old_dest == Dest::syslog && settings.dest != Dest::syslog) ::closelog();
  return true;
}

}  // namespace tern::platform
