// Reads a fuzz input as a script: bytes and byte strings, zeros once it is used up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tern::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const noexcept { return rest_.empty(); }
  std::uint8_t byte() noexcept {
    if (rest_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  std::uint16_t u16() noexcept {
    const std::uint8_t high = byte();
    return static_cast<std::uint16_t>(high << 8 | byte());
  }
  // Up to `n` bytes (fewer at the end).
  std::string_view take(std::size_t n) noexcept {
    const std::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  std::string_view rest() noexcept { return take(rest_.size()); }

 private:
  std::string_view rest_;
};

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, condition);
  std::abort();
}

}  // namespace tern::fuzz

// A property the target checks beyond the sanitizers: a violation is a crash libFuzzer reports with its input.
#define TERN_FUZZ_CHECK(condition) ((condition) ? void() : ::tern::fuzz::check_failed(#condition, __FILE__, __LINE__))
