#include "platform/text_file.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tern::platform {

std::optional<std::string> read_whole_file(const std::string& path, std::string& error) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  std::array<char, 4096> buffer;
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) text.append(buffer.data(), n);
  const int failure = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (failure != 0) {
    error = "cannot read " + path + ": " + std::strerror(failure);
    return std::nullopt;
  }
  return text;
}

std::string_view trim(std::string_view text) noexcept {
  const auto first = text.find_first_not_of(text_blanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(text_blanks) - first + 1);
}

std::string_view next_token(std::string_view& rest) noexcept {
  rest = trim(rest);
  const auto end = std::min(rest.find_first_of(text_blanks), rest.size());
  const auto token = rest.substr(0, end);
  rest = trim(rest.substr(end));
  return token;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

}  // namespace tern::platform
