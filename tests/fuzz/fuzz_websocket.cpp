// The WebSocket transport (broker/net/websocket_transport.hpp): the HTTP upgrade, http_dir, frames and
// permessage-deflate, as a connection drives them.
//
// Input: byte 0 picks the settings (bit 0 compression, bit 1 a 64-byte max_frame, bit 2 a required path, bit 3
// http_dir) and whether a valid upgrade request is sent first (bit 4); byte 1 the size of the read buffer. Then
// steps: without the canned request, pieces of a request (a length byte and the bytes) until open() decides; then
// frames, each a header byte (bits 0-3 opcode, 4 FIN, 5 unmasked, 6 RSV1, 7 raw bytes instead of a frame), a length
// byte and the payload (deflated first when RSV1 is set and compression was agreed).
//
// Checked beyond the sanitizers: read() never reports more bytes than the buffer holds, a write always makes
// progress, and nothing outside http_dir is ever sent (a file beside that folder holds a marker no answer may carry).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "broker/net/websocket_transport.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_log.hpp"
#include "tests/support/websocket_frames.hpp"

namespace net = tern::net;
using Status = net::Transport::Status;

namespace {

constexpr std::string_view secret_marker = "TERN-FUZZ-OUTSIDE-HTTP-DIR";

std::filesystem::path scratch_root() {
  return std::filesystem::temp_directory_path() / ("tern-fuzz-ws-" + std::to_string(::getpid()));
}

// ROOT/www/index.html is served; ROOT/secret.txt, beside the folder, must never be.
const std::string& http_dir() {
  static const std::string dir = [] {
    const auto root = scratch_root();
    std::filesystem::create_directories(root / "www");
    std::ofstream(root / "www" / "index.html") << "<p>tern</p>";
    std::ofstream(root / "secret.txt") << secret_marker;
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_root(), ignored);
    });
    return std::filesystem::canonical(root / "www").string();
  }();
  return dir;
}

std::string upgrade_request(bool compression) {
  std::string r = "GET /mqtt HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
  r += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n";
  if (compression) r += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  return r + "\r\n";
}

void check_sent(const std::string& out) { TERN_FUZZ_CHECK(out.find(secret_marker) == std::string::npos); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tern::fuzz::quiet_log();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::fuzz::FuzzInput in(data, size);
  const std::uint8_t flags = in.byte();
  auto settings = std::make_shared<net::WebSocketTransport::Settings>();
  settings->compression = (flags & 1) != 0;
  settings->max_frame = (flags & 2) ? 64 : 0;
  if (flags & 4) settings->path = "/mqtt";
  if (flags & 8) settings->http_dir = http_dir();
  std::vector<char> buffer(1 + in.byte());

  net::WebSocketTransport ws(settings);
  std::string out;
  net::Transport::Result opened{.status = Status::want_read};
  if (flags & 16) {
    opened = ws.open(upgrade_request(settings->compression), out);
  } else {
    // Each piece takes at least its length byte.
    while (opened.status == Status::want_read && !in.empty()) opened = ws.open(in.take(in.byte()), out);
  }
  check_sent(out);
  if (opened.status != Status::ok) return 0;

  while (!in.empty()) {
    const std::uint8_t header = in.byte();
    std::string payload(in.take(in.byte()));
    std::string wire;
    if (header & 0x80) {
      wire = std::move(payload);
    } else {
      const bool rsv1 = (header & 0x40) != 0;
      if (rsv1 && ws.compressed()) payload = tern::testsupport::websocket_deflate(payload);
      wire = tern::testsupport::websocket_frame(header & 0x0F, payload, (header & 0x10) != 0, (header & 0x20) == 0,
                                                rsv1 ? 0x40 : 0);
    }
    ws.feed(wire);
    // Each read either consumes fed bytes or reports want_read, closed or failed; the guard only bounds a bug.
    for (int guard = 0; guard < 100000; ++guard) {
      const net::Transport::Result r = ws.read(buffer);
      if (r.status == Status::ok) {
        TERN_FUZZ_CHECK(r.size <= buffer.size());
        continue;
      }
      if (r.status != Status::want_read) return 0;
      if (!ws.pending()) break;
    }
    std::string failure;
    out.clear();
    const std::string message(header & 0x3F, 'm');
    if (!message.empty() || ws.wants_write()) {
      const std::size_t taken = ws.write_some(message, out, 65536, failure);
      TERN_FUZZ_CHECK(failure.empty() && (message.empty() || taken > 0));
    }
  }
  out.clear();
  ws.close(out);
  return 0;
}
