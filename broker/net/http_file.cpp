#include "broker/net/http_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/beast/core/string.hpp>
#include <optional>
#include <utility>

namespace tern::net {

namespace {

std::string_view status_text(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Internal Server Error";
  }
}

std::string_view content_type_of(std::string_view path) {
  const auto dot = path.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"map", "application/json"},
      {"woff2", "font/woff2"},
  };
  for (const auto& [e, type] : types) {
    if (boost::beast::iequals(boost::beast::string_view(ext.data(), ext.size()),
                              boost::beast::string_view(e.data(), e.size())))
      return type;
  }
  return "application/octet-stream";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The request path %-decoded, or nullopt when it is malformed or reaches outside the folder: a ".." segment (in any
// encoding: decoding comes first), a NUL, a backslash.
std::optional<std::string> decoded_path(std::string_view target) {
  const auto end = target.find_first_of("?#");
  if (end != std::string_view::npos) target = target.substr(0, end);
  if (target.empty() || target.front() != '/') return std::nullopt;
  std::string path;
  for (std::size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return std::nullopt;
      const int high = hex_value(target[i + 1]);
      const int low = hex_value(target[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    if (c == '\0' || c == '\\') return std::nullopt;
    path.push_back(c);
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const std::string_view segment =
        std::string_view(path).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (segment == "..") return std::nullopt;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (path.back() == '/') path += "index.html";
  return path;
}

// A file descriptor that closes itself.
struct Fd {
  explicit Fd(int fd) : fd(fd) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

// Where the open file really is: the kernel's own answer, so that no symbolic link (in any component) and no race
// between checking and opening can lead outside the folder.
std::string real_path_of(int fd) {
  char buffer[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buffer, sizeof buffer);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buffer) return {};
  return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace

void append_http_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                          std::string_view extra) {
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(status_text(status)).append("\r\n");
  out.append("Server: tern\r\nConnection: close\r\nContent-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n").append(extra).append("\r\n");
  out.append(body);
}

HttpFileAnswer serve_http_file(const std::string& dir, std::string_view target, std::string& out) {
  const std::optional<std::string> path = decoded_path(target);
  auto refuse = [&](int status, std::string_view body, std::string_view why) -> HttpFileAnswer {
    append_http_response(out, status, "text/plain", body);
    return {false, "HTTP GET " + std::string(target) + ": " + std::to_string(status) + " (" + std::string(why) + ")"};
  };
  if (!path) return refuse(403, "Forbidden.\n", "outside http_dir");
  const std::string full = dir + *path;
  Fd file(::open(full.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (file.fd < 0) return refuse(404, "Not found.\n", "no such file");
  const std::string real = real_path_of(file.fd);
  if (real.size() <= dir.size() || real.compare(0, dir.size(), dir) != 0 || real[dir.size()] != '/') {
    return refuse(403, "Forbidden.\n", "resolves outside http_dir");
  }
  struct stat status {};
  if (::fstat(file.fd, &status) != 0 || !S_ISREG(status.st_mode)) return refuse(404, "Not found.\n", "not a file");
  if (static_cast<std::uint64_t>(status.st_size) > max_http_file) {
    return refuse(413, "File too large.\n", "over " + std::to_string(max_http_file) + " bytes");
  }
  std::string body(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t got = 0;
  while (got < body.size()) {
    const ssize_t n = ::read(file.fd, body.data() + got, body.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != body.size()) return refuse(404, "Not found.\n", "cannot be read");
  append_http_response(out, 200, content_type_of(*path), body);
  return {true, "HTTP GET " + std::string(target) + ": 200, " + std::to_string(body.size()) + " bytes"};
}

}  // namespace tern::net
