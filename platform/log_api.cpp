// The log front end: the enabled levels and the function that writes a line, both set by configure_log(). Standard
// C++ only (see log.hpp), so that broker/core links nothing else.
#include <atomic>
#include <cstdio>

#include "platform/log.hpp"

namespace tern::platform {
namespace {

void write_to_stderr(LogLevel, std::string_view text) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
}

std::atomic<unsigned> g_levels{LogSettings{}.levels};
std::atomic<LogWriter> g_writer{&write_to_stderr};
std::atomic<bool> g_connection_messages{true};

}  // namespace

bool log_enabled(LogLevel level) noexcept {
  return (g_levels.load(std::memory_order_relaxed) & static_cast<unsigned>(level)) != 0;
}

bool connection_messages_enabled() noexcept { return g_connection_messages.load(std::memory_order_relaxed); }

void log_line(LogLevel level, std::string_view text) {
  if (!log_enabled(level)) return;
  g_writer.load(std::memory_order_relaxed)(level, text);
}

void set_log_backend(unsigned levels, LogWriter writer, bool connection_messages) noexcept {
  g_writer.store(writer, std::memory_order_relaxed);
  g_connection_messages.store(connection_messages, std::memory_order_relaxed);
  g_levels.store(levels, std::memory_order_relaxed);
}

}  // namespace tern::platform
