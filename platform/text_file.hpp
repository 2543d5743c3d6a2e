// Small text files in mosquitto's line formats (the config, password and ACL files): read whole, split into lines,
// trimmed and cut into blank-separated tokens the same way for all three.
//
//   for (std::string_view line : split_lines(text)) {
//     std::string_view rest = trim(line);         // "  topic read a/# \r" -> "topic read a/#"
//     std::string_view word = next_token(rest);   // "topic"; rest: "read a/#"
//   }
//
// Thread safety: stateless.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::platform {

// The file's bytes; nullopt with `error` set to "cannot read PATH: REASON" when it cannot be read.
std::optional<std::string> read_whole_file(const std::string& path, std::string& error);

// What these files count as blanks: isspace() in the C locale, as mosquitto trims (a CRLF line's '\r' included).
inline constexpr std::string_view text_blanks = " \t\r\n\f\v";

// `text` without leading and trailing blanks.
std::string_view trim(std::string_view text) noexcept;
// The first blank-separated token of `rest`; `rest` becomes what follows it, trimmed.
std::string_view next_token(std::string_view& rest) noexcept;
// The lines of `text` without their '\n' (a '\r' before it stays, for trim()); a last line without '\n' counts, and
// text ending in '\n' has no empty line after it.
std::vector<std::string_view> split_lines(std::string_view text);

}  // namespace tern::platform
