// The log front end: the enabled levels and the function that writes a line, both set by configure_log(). Standard
// C++ only (see log.hpp), so that broker/core links nothing else.
#include <atomic>
#include <cstdio>
#include <string>

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

std::string_view safe_log_text(std::string_view text, std::string& scratch) {
  bool clean = text.size() <= max_log_line;
  for (std::size_t i = 0; clean && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    clean = (c >= 0x20 && c != 0x7F) || c == '\t';
  }
  if (clean) return text;
  scratch.clear();
  const std::string_view kept = text.substr(0, max_log_line);
  for (const char ch : kept) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 0x20 && c != 0x7F) || c == '\t') {
      scratch.push_back(ch);
    } else {
      static constexpr char digits[] = "0123456789abcdef";
      scratch.append("\\x").push_back(digits[c >> 4]);
      scratch.push_back(digits[c & 15]);
    }
  }
  if (text.size() > kept.size()) {
    scratch.append(" ... (").append(std::to_string(text.size() - kept.size())).append(" more bytes)");
  }
  return scratch;
}

void log_line(LogLevel level, std::string_view text) {
  if (!log_enabled(level)) return;
  std::string scratch;
  g_writer.load(std::memory_order_relaxed)(level, safe_log_text(text, scratch));
}

void set_log_backend(unsigned levels, LogWriter writer, bool connection_messages) noexcept {
  g_writer.store(writer, std::memory_order_relaxed);
  g_connection_messages.store(connection_messages, std::memory_order_relaxed);
  g_levels.store(levels, std::memory_order_relaxed);
}

}  // namespace tern::platform
