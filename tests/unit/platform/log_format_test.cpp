// The log's formatter (platform/log_format.hpp) against what an std::ostringstream prints for the same values, which
// is how lines were built before: tests and operators grep them, so each type must come out byte for byte the same.
#include "platform/log_format.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

namespace tern::platform {
namespace {

template <class... Args>
std::string formatted(const Args&... args) {
  std::string line;
  append_log_values(line, args...);
  return line;
}

template <class... Args>
std::string streamed(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

#define EXPECT_AS_STREAMED(...) EXPECT_EQ(formatted(__VA_ARGS__), streamed(__VA_ARGS__))

enum Unscoped { zero, one, big = 70000 };
enum SmallUnscoped : unsigned char { letter_a = 'a' };  // a character to a stream (its underlying type)

TEST(LogFormat, TextAsIs) {
  const std::string text = "client c1";
  const std::string_view view = "topic a/b";
  char buffer[16] = "in a buffer";
  const char* pointer = "pointer";
  EXPECT_AS_STREAMED("literal ", text, ' ', view, ' ', buffer, ' ', pointer, std::string());
  EXPECT_EQ(formatted("a", std::string_view(), "b"), "ab");
}

TEST(LogFormat, CharactersAsCharacters) {
  // std::uint8_t is a character to a stream too; a call site that wants the number casts it.
  EXPECT_AS_STREAMED('x', static_cast<signed char>('y'), static_cast<unsigned char>('z'), std::uint8_t{'!'});
}

TEST(LogFormat, BoolAsADigit) { EXPECT_AS_STREAMED(true, " ", false); }

TEST(LogFormat, IntegersInDecimal) {
  EXPECT_AS_STREAMED(0, ' ', -1, ' ', std::numeric_limits<int>::min(), ' ', std::numeric_limits<int>::max());
  EXPECT_AS_STREAMED(short{-32768}, ' ', std::uint16_t{65535}, ' ', 4'294'967'295u, ' ', std::uint64_t{1} << 40);
  EXPECT_AS_STREAMED(std::numeric_limits<std::int64_t>::min(), ' ', std::numeric_limits<std::uint64_t>::max());
  EXPECT_AS_STREAMED(std::numeric_limits<long long>::max(), ' ', -7L, ' ', 12345678901ULL);
}

TEST(LogFormat, UnscopedEnumsAsTheirNumber) { EXPECT_AS_STREAMED(zero, ' ', one, ' ', big, ' ', letter_a); }

TEST(LogFormat, NullCharPointerSaysSo) {
  // A stream would set badbit and drop the rest of the line.
  const char* none = nullptr;
  EXPECT_EQ(formatted("name ", none, " end"), "name (null) end");
}

TEST(LogFormat, AppendsToWhatIsThere) {
  std::string line = "head: ";
  append_log_values(line, 42, '/', "tail");
  EXPECT_EQ(line, "head: 42/tail");
}

}  // namespace
}  // namespace tern::platform
