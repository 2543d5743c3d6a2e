// The plain HTTP side of a WebSocket listener (websocket_transport.hpp): the HTTP/1.1 responses that end a
// connection (a refused upgrade, an error), and files served from the listener's http_dir. Sans-I/O: a response is
// appended to a string the connection sends.
//
// Serving a GET of `target` from `dir` (the folder's real path, resolved at start-up):
//   - the path is %-decoded first, then refused (403) if a segment is "..", or it holds a NUL or a backslash;
//     "/" and any path ending in "/" mean its index.html;
//   - the file is opened, and the kernel's own name for it (/proc/self/fd) must lie under `dir` (403 otherwise), so
//     that no symbolic link and no race between a check and the open leads outside the folder;
//   - a regular file of at most max_http_file bytes is answered 200 with a Content-Type from its extension; missing
//     or unreadable files get 404, larger ones 413.
//
//   GET /app/index.html   -> 200, text/html
//   GET /%2e%2e/secret    -> 403 (a ".." once decoded)
//   GET /link-to-etc      -> 403 (resolves outside the folder)
//
// Thread safety: stateless; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tern::net {

inline constexpr std::size_t max_http_file = 16 * 1024 * 1024;  // larger files are refused (413)

// Appends an HTTP/1.1 response with `Connection: close`; `extra` are more header lines, each ending in CRLF.
void append_http_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                          std::string_view extra = {});

struct HttpFileAnswer {
  bool served = false;  // 200; otherwise a refusal was appended
  std::string note;     // for the log: what was served, or the status and why
};
// Appends the answer to a GET of `target` from `dir` (above) to `out`.
HttpFileAnswer serve_http_file(const std::string& dir, std::string_view target, std::string& out);

}  // namespace tern::net
