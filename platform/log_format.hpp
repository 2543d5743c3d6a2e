// How TERN_LOG turns its arguments into one line: each is appended to a std::string, as `std::ostream <<` prints it
// with a stream's default flags, so that lines read the same as when they were built in an std::ostringstream.
//
//   std::string line;
//   append_log_values(line, "client ", id, " kept ", 3u, " of ", std::uint16_t{10}, " retained: ", true);
//   // "client c1 kept 3 of 10 retained: 1"
//
//   strings, string_views, const char*, char[N]  the text (a null const char* as "(null)": a stream would stop there)
//   char, signed char, unsigned char             the character (std::uint8_t too, as a stream prints it)
//   bool                                         "1" or "0" (a stream without boolalpha)
//   other integers                               decimal (std::to_chars)
//   unscoped enums                               their number, as a stream promotes them
//
// Any other type does not compile: give it a to-string at the call site (an error_code's message(), an address's
// to_string()). Floating point too, until a line needs it (a stream's default is std::to_chars' general format with
// precision 6). No stream here: any std::basic_ios in the executable links the whole iostreams and locale machinery
// of the standard library (bench/README.md, "What is pulled in").
//
// Thread safety: stateless.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace tern::platform {
namespace log_detail {

void append_signed(std::string& out, long long value);
void append_unsigned(std::string& out, unsigned long long value);

template <class>
inline constexpr bool unsupported = false;

}  // namespace log_detail

template <class T>
void append_log_value(std::string& out, const T& value) {
  using V = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<V, bool>) {
    out.push_back(value ? '1' : '0');
  } else if constexpr (std::is_same_v<V, char> || std::is_same_v<V, signed char> || std::is_same_v<V, unsigned char>) {
    out.push_back(static_cast<char>(value));
  } else if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) {
    log_detail::append_signed(out, value);
  } else if constexpr (std::is_integral_v<V>) {
    log_detail::append_unsigned(out, value);
  } else if constexpr (std::is_enum_v<V>) {
    // A scoped enum has no stream output either: say at the call site what it means.
    static_assert(std::is_convertible_v<V, std::underlying_type_t<V>>, "TERN_LOG: a scoped enum needs a name");
    append_log_value(out, static_cast<std::underlying_type_t<V>>(value));
  } else if constexpr (std::is_same_v<std::decay_t<V>, const char*> || std::is_same_v<std::decay_t<V>, char*>) {
    const char* text = value;
    out.append(text != nullptr ? std::string_view(text) : std::string_view("(null)"));
  } else if constexpr (std::is_convertible_v<const V&, std::string_view>) {
    out.append(std::string_view(value));
  } else {
    static_assert(log_detail::unsupported<V>, "TERN_LOG: no log format for this type (see platform/log_format.hpp)");
  }
}

template <class... Args>
void append_log_values(std::string& out, const Args&... args) {
  (append_log_value(out, args), ...);
}

}  // namespace tern::platform
