#include "broker/core/utc_time.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace tern::core {

std::string rfc3339_utc(UnixMillis ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[48];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

std::optional<UnixMillis> parse_rfc3339_utc(std::string_view text) {
  const std::string s(text);
  std::tm tm{};
  char tail[8] = {};
  const int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec, tail);
  if (n < 6) return std::nullopt;
  std::string_view rest = n == 7 ? std::string_view(tail) : std::string_view();
  int millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    while (digits < rest.size() && digits <= 3 && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
      millis = millis * 10 + (rest[digits] - '0');
      ++digits;
    }
    for (std::size_t d = digits; d <= 3; ++d) millis *= 10;
    rest.remove_prefix(digits);
  }
  if (rest != "Z") return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<UnixMillis>(::timegm(&tm)) * 1000 + millis;
}

}  // namespace tern::core
