// The process log. Each line is built whole in memory (with its time) and written with one write(2), by the thread
// that logged it while that cannot wait: a log file is written directly (a regular file never waits for room) until
// a write to it is slow (a stalled disk: then its lines go through the queue below for a while, see Writer); a
// pipe, FIFO or terminal through a non-blocking twin of its descriptor, a socket (journald's stdout) with
// MSG_DONTWAIT. What would wait (a full pipe nobody reads) and every syslog line (syslog() blocks when the daemon
// is stuck) go to a queue that a thread of the log's own writes, in order; while the queue holds anything, new lines
// join it, so lines keep their order. So a blocked destination never stalls a thread that routes messages (a slow
// disk once per Writer::kSlowFor at most, for one write), and a line is in the log file by the time what it reports
// can be seen. The queue is bounded (kQueueBytes): past it
// lines are dropped and counted, and once the writer catches up a line says how many. flush_log() waits for the
// queue (bounded), and runs at exit.
//
// The settings live in atomics read with relaxed loads: configure_log() runs at start-up before other threads (see
// log.hpp), so there is nothing to order; the atomics only keep a later reconfiguration, as tests do, well defined.
// reopen_log_file() runs while other threads log: it never changes which descriptor number the log file has, it
// makes that number name the new file (dup2), so a thread that read the number is never left writing to a closed
// descriptor, or to one reused by a socket.
#include "platform/log.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace tern::platform {
namespace {

using Dest = LogSettings::Dest;

std::atomic<unsigned> g_dests{Dest::stderr_};
std::atomic<bool> g_timestamp{true};
// log_timestamp_format: set only by configure_log, before other threads log (see log.hpp); empty: epoch seconds.
std::string g_timestamp_format;
// The open log file, owned here: set by configure_log only; reopen_log_file() points the same number at a new file.
std::atomic<int> g_file_fd{-1};
std::string g_file_path;  // configure_log only

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
  const std::size_t n =
      ::localtime_r(&now, &local) != nullptr ? std::strftime(text, sizeof text, g_timestamp_format.c_str(), &local) : 0;
  line.append(n != 0 ? std::string_view(text, n) : std::string_view("Time error"));
}

// One line as logged: "TIME: TEXT\n" (or "TEXT\n"), and where its text starts (syslog stamps its own time).
struct Line {
  LogLevel level;
  unsigned dests;
  std::string bytes;
  std::size_t text_at;
};

void write_now(const Line& l) {
  if ((l.dests & Dest::syslog) != 0) {
    const std::string_view text = std::string_view(l.bytes).substr(l.text_at, l.bytes.size() - l.text_at - 1);
    ::syslog(syslog_priority(l.level), "%.*s", static_cast<int>(text.size()), text.data());
  }
  if ((l.dests & Dest::stderr_) != 0) write_all(STDERR_FILENO, l.bytes);
  if ((l.dests & Dest::stdout_) != 0) write_all(STDOUT_FILENO, l.bytes);
  if ((l.dests & Dest::file) != 0) write_all(g_file_fd.load(std::memory_order_relaxed), l.bytes);
}

// How stdout or stderr is written without waiting (see the top of the file). fd -1: it cannot be, every line goes
// through the queue.
struct Direct {
  std::atomic<int> fd{-1};
  std::atomic<bool> socket{false};
  std::atomic<bool> twin{false};  // fd is a descriptor of our own (closed when reconfigured)
};
Direct g_direct_stdout;
Direct g_direct_stderr;

void setup_direct(int std_fd, Direct& d) {
  const int old = d.fd.exchange(-1, std::memory_order_relaxed);
  if (d.twin.exchange(false, std::memory_order_relaxed) && old >= 0) ::close(old);
  struct stat st {};
  if (::fstat(std_fd, &st) != 0) return;
  if (S_ISSOCK(st.st_mode)) {
    d.socket.store(true, std::memory_order_relaxed);
    d.fd.store(std_fd, std::memory_order_relaxed);
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // A second open file description of the same pipe or terminal: O_NONBLOCK on it leaves the one shared with the
    // parent process as it was.
    const std::string name = "/proc/self/fd/" + std::to_string(std_fd);
    const int twin = ::open(name.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    d.socket.store(false, std::memory_order_relaxed);
    d.twin.store(twin >= 0, std::memory_order_relaxed);
    d.fd.store(twin, std::memory_order_relaxed);
  } else {
    d.socket.store(false, std::memory_order_relaxed);
    d.fd.store(std_fd, std::memory_order_relaxed);
  }
}

// Writes what it can of `bytes` without waiting; how much (0 when it would wait or fails).
std::size_t write_direct(const Direct& d, std::string_view bytes) {
  const int fd = d.fd.load(std::memory_order_relaxed);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = d.socket.load(std::memory_order_relaxed)
                          ? ::send(fd, bytes.data() + done, bytes.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL)
                          : ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Line make_line(LogLevel level, unsigned dests, std::string_view text) {
  Line l{level, dests, {}, 0};
  l.bytes.reserve(text.size() + 24);
  if (g_timestamp.load(std::memory_order_relaxed)) {
    append_timestamp(l.bytes);
    l.bytes += ": ";
  }
  l.text_at = l.bytes.size();
  l.bytes += text;
  l.bytes += '\n';
  return l;
}

// The queue and its thread (see the top of the file). The thread is never joined: at exit flush_log() gives it a
// bounded time, and a writer stuck in a blocked write must not hold the process up.
class Writer {
 public:
  static constexpr std::size_t kQueueBytes = 4 * 1024 * 1024;
  // A log file write that takes longer than kSlowWrite (a slow or stalled disk) sends the file's lines through the
  // queue for kSlowFor; then a line is written directly again, and so on.
  static constexpr std::chrono::milliseconds kSlowWrite{20};
  static constexpr std::chrono::seconds kSlowFor{30};

  // Writes `line` directly where that cannot wait and the queue is empty; queues the rest (see the top).
  void submit(Line&& line) {
    std::unique_lock lock(mutex_);
    if (!queue_.empty() || writing_) {
      push(std::move(line));
      lock.unlock();
      wake_.notify_one();
      return;
    }
    unsigned queued = line.dests & Dest::syslog;
    if ((line.dests & Dest::file) != 0) {
      const auto start = std::chrono::steady_clock::now();
      if (start < file_slow_until_) {
        queued |= Dest::file;
      } else {
        write_all(g_file_fd.load(std::memory_order_relaxed), line.bytes);
        const auto end = std::chrono::steady_clock::now();
        if (end - start > kSlowWrite) file_slow_until_ = end + kSlowFor;
      }
    }
    std::string rest;  // of a line a pipe took only part of: its tail goes next, from the queue
    for (const auto& [dest, direct] :
         {std::pair{Dest::stderr_, &g_direct_stderr}, std::pair{Dest::stdout_, &g_direct_stdout}}) {
      if ((line.dests & dest) == 0) continue;
      const std::size_t n = write_direct(*direct, line.bytes);
      if (n == 0) {
        queued |= dest;
      } else if (n < line.bytes.size()) {
        push(Line{line.level, dest, line.bytes.substr(n), 0});
      }
    }
    if (queued == 0 && queue_.empty()) return;
    if (queued != 0) {
      line.dests = queued;
      push(std::move(line));
    }
    lock.unlock();
    wake_.notify_one();
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!started_) return true;
    return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !writing_ && dropped_ == 0; });
  }

 private:
  void push(Line&& line) {  // mutex_ held
    if (!started_) start();
    if (queued_bytes_ + line.bytes.size() > kQueueBytes) {
      ++dropped_;
      return;
    }
    queued_bytes_ += line.bytes.size();
    queue_.push_back(std::move(line));
  }

  void start() {
    started_ = true;
    new std::thread([this] { run(); });  // detached in effect: see above
    std::atexit([] { flush_log(std::chrono::seconds(2)); });
  }

  void run() {
    std::vector<Line> batch;
    for (;;) {
      std::uint64_t dropped = 0;
      {
        std::unique_lock lock(mutex_);
        writing_ = false;
        if (queue_.empty()) idle_.notify_all();
        wake_.wait(lock, [this] { return !queue_.empty() || dropped_ != 0; });
        batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
        queue_.clear();
        queued_bytes_ = 0;
        dropped = std::exchange(dropped_, 0);
        writing_ = true;
      }
      for (const Line& l : batch) write_now(l);
      batch.clear();
      if (dropped != 0) {
        write_now(make_line(LogLevel::warning, g_dests.load(std::memory_order_relaxed),
                            std::to_string(dropped) + " log line(s) dropped: the log destination did not keep up."));
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Line> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool started_ = false;
  bool writing_ = false;
  std::chrono::steady_clock::time_point file_slow_until_{};  // the log file is slow: its lines are queued until then
};

Writer& writer() {
  static Writer* w = new Writer;  // never destroyed: threads may log until the very end
  return *w;
}

void write_line(LogLevel level, std::string_view text) {
  const unsigned dests = g_dests.load(std::memory_order_relaxed);
  if (dests == 0) return;
  writer().submit(make_line(level, dests, text));
}

int open_log_file(const std::string& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) error = "cannot open log file " + path + ": " + std::generic_category().message(errno);
  return fd;
}

int syslog_facility(int local) {
  static constexpr int kLocal[] = {LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
                                   LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7};
  return local >= 0 && local < 8 ? kLocal[local] : LOG_DAEMON;
}

}  // namespace

bool flush_log(std::chrono::milliseconds timeout) { return writer().flush(timeout); }

bool configure_log(const LogSettings& settings, std::string& error) {
  flush_log(std::chrono::seconds(2));  // what was logged before goes where it was meant to
  int fd = -1;
  if ((settings.dests & Dest::file) != 0) {
    fd = open_log_file(settings.file, error);
    if (fd < 0) return false;
  }
  const unsigned old_dests = g_dests.load(std::memory_order_relaxed);
  if ((settings.dests & Dest::syslog) != 0) {
    ::openlog("tern", LOG_PID | LOG_CONS, syslog_facility(settings.syslog_facility));
  }
  g_timestamp.store(settings.timestamp, std::memory_order_relaxed);
  g_timestamp_format = settings.timestamp_format;
  const int old_fd = g_file_fd.exchange(fd, std::memory_order_relaxed);
  g_file_path = fd >= 0 ? settings.file : std::string();
  setup_direct(STDOUT_FILENO, g_direct_stdout);
  setup_direct(STDERR_FILENO, g_direct_stderr);
  g_dests.store(settings.dests, std::memory_order_relaxed);
  set_log_backend(settings.dests == 0 ? 0 : settings.levels, &write_line, settings.connection_messages);
  if (old_fd >= 0) ::close(old_fd);
  if ((old_dests & Dest::syslog) != 0 && (settings.dests & Dest::syslog) == 0) ::closelog();
  return true;
}

bool reopen_log_file(std::string& error) {
  const int fd = g_file_fd.load(std::memory_order_relaxed);
  if (fd < 0) return true;
  flush_log(std::chrono::seconds(2));  // what was logged before goes to the old file
  const int fresh = open_log_file(g_file_path, error);
  if (fresh < 0) return false;
  const bool moved = ::dup3(fresh, fd, O_CLOEXEC) >= 0;
  if (!moved) error = "cannot reopen log file " + g_file_path + ": " + std::generic_category().message(errno);
  ::close(fresh);
  return moved;
}

}  // namespace tern::platform
