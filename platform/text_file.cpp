#include "platform/text_file.hpp"

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

}  // namespace tern::platform
