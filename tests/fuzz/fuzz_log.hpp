// The log during fuzzing: every line is formatted as in the broker but not written (a line per input would slow
// the run down), and checked for what a client must not be able to put in it: control characters or an unbounded
// length (platform/log.hpp, safe_log_text).
#pragma once

#include <string_view>

#include "platform/log.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace tern::fuzz {

inline void check_log_line(platform::LogLevel, std::string_view text) {
  TERN_FUZZ_CHECK(text.size() <= platform::max_log_line + 64);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    TERN_FUZZ_CHECK((c >= 0x20 && c != 0x7F) || c == '\t');
  }
}

inline void quiet_log() { platform::set_log_backend(~0u, check_log_line); }

}  // namespace tern::fuzz
