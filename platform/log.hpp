// The process log: levels as mosquitto's log_type, one destination (stderr, stdout, a file, syslog or none).
//
//   TERN_LOG(notice, "listening on ", address, ':', port);
//
// The macro checks the level before formatting, so a disabled debug line costs one load and a branch.
//
// Thread safety: log() may be called from any thread; each line is written with a single write() call, by the log's
// own thread (log.cpp), so a blocked destination never blocks the caller.
// configure() is called once at start-up, before threads start.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "platform/log_format.hpp"

namespace tern::platform {

enum class LogLevel : unsigned { error = 1, warning = 2, notice = 4, information = 8, debug = 16 };

struct LogSettings {
  unsigned levels = 1 | 2 | 4 | 8;  // bit set of LogLevel
  // Where lines go (log_dest): every destination in `dests` at once, as mosquitto writes to each log_dest given;
  // none (0): nowhere.
  struct Dest {
    static constexpr unsigned stderr_ = 1, stdout_ = 2, file = 4, syslog = 8;
  };
  unsigned dests = Dest::stderr_;
  std::string file;  // with Dest::file
  bool timestamp = true;
  // log_timestamp_format: a strftime(3) format for the local time, as mosquitto; empty: seconds since the epoch.
  std::string timestamp_format;
  int syslog_facility = -1;  // log_facility N: LOG_LOCALN; -1: LOG_DAEMON (as mosquitto)
  // connection_messages false: lines that say a client connected or disconnected (TERN_LOG_CONNECTION) are not
  // written (mosquitto's option).
  bool connection_messages = true;
};

// Applies the settings; false (with `error` set) when the log file cannot be opened. What stdout and stderr are (a
// file, a pipe, a terminal, a socket) is looked at here, to write them without waiting (log.cpp): redirect them
// before, not after.
bool configure_log(const LogSettings& settings, std::string& error);
// Waits until every line logged so far is written, at most `timeout`; false if they were not (a blocked
// destination). Runs at exit, and before configure_log() changes anything.
bool flush_log(std::chrono::milliseconds timeout);
// Opens the log file again by its name (SIGHUP, after logrotate moved it away); lines written meanwhile by other
// threads go to the old file or the new one, never elsewhere. True if there is no log file. False (with `error`
// set) if it cannot be opened: lines keep going to the old file.
bool reopen_log_file(std::string& error);

// The front end below (log_api.cpp) is standard C++ only, so broker/core can log without linking the OS layer;
// configure_log() (log.cpp, the OS back end) installs the levels and the function that writes a line. Until then
// lines at the default levels go to stderr.
bool log_enabled(LogLevel level) noexcept;
// Lines carry what clients sent (client ids, usernames, topics up to 65,535 bytes, reason strings), so before a
// line is written its control characters (a newline that would start a forged line, a terminal escape) become \xNN
// and it is cut at max_log_line bytes with a note of how much was left out. `scratch` holds the result when the text
// had to change; otherwise the text itself is returned.
inline constexpr std::size_t max_log_line = 4096;
std::string_view safe_log_text(std::string_view text, std::string& scratch);
// Whether lines about a client connecting or disconnecting are written (connection_messages).
bool connection_messages_enabled() noexcept;
void log_line(LogLevel level, std::string_view text);
using LogWriter = void (*)(LogLevel level, std::string_view text);
void set_log_backend(unsigned levels, LogWriter writer, bool connection_messages = true) noexcept;

// The arguments are formatted as platform/log_format.hpp says (as a stream would print them, without one).
template <class... Args>
void log(LogLevel level, const Args&... args) {
  if (!log_enabled(level)) return;
  std::string line;
  append_log_values(line, args...);
  log_line(level, line);
}

}  // namespace tern::platform

#define TERN_LOG(level, ...)                                                 \
  do {                                                                       \
    if (::tern::platform::log_enabled(::tern::platform::LogLevel::level))    \
      ::tern::platform::log(::tern::platform::LogLevel::level, __VA_ARGS__); \
  } while (0)

// A line that says a client connected or disconnected: written only with connection_messages true (the default).
#define TERN_LOG_CONNECTION(level, ...)                                                \
  do {                                                                                 \
    if (::tern::platform::connection_messages_enabled()) TERN_LOG(level, __VA_ARGS__); \
  } while (0)
