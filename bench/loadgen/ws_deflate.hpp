// permessage-deflate (RFC 7692) for the load generator's WebSocket client (websocket.hpp), so a run can measure what
// compression saves on the wire and costs the broker (--ws-deflate).
//
// One raw deflate stream for what the client sends, one inflate stream for what it receives, with the parameters the
// server agreed to. Each message is compressed with a sync flush, whose output always ends in an empty stored block,
// 00 00 ff ff; RFC 7692 7.2.1 drops those four bytes from the frame and the receiver appends them again before it
// inflates (7.2.2). Worked example (RFC 7692 7.2.3.1): "Hello" compresses to f2 48 cd c9 c9 07 00 (+ 00 00 ff ff).
// Without *_no_context_takeover the streams keep their window across messages (the default, and what makes small
// JSON messages compress well: the keys of the last message are in the window).
//
// The codec is Boost.Beast's header-only port of zlib (boost/beast/zlib.hpp), used in the .cpp only.
// Thread safety: belongs to one Channel.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace loadgen::websocket {

struct DeflateParams {
  bool client_no_context_takeover = false;  // reset our compressor after each message
  bool server_no_context_takeover = false;  // the server resets its compressor: reset our decompressor likewise
  int client_max_window_bits = 15;          // the window we may use when compressing
  int server_max_window_bits = 15;          // the window the server compresses with
};

// Parses the server's Sec-WebSocket-Extensions answer to our offer "permessage-deflate; client_max_window_bits",
// e.g. "permessage-deflate; server_no_context_takeover; client_max_window_bits=12". False, with why in `error`, for
// another extension, an unknown or repeated parameter, or a window size out of 8..15 (8 is refused too: Beast's
// deflate, like zlib's, silently uses 9).
bool parse_deflate_answer(std::string_view answer, DeflateParams& out, std::string& error);

class MessageDeflate {
 public:
  explicit MessageDeflate(const DeflateParams& params);
  ~MessageDeflate();
  MessageDeflate(const MessageDeflate&) = delete;
  MessageDeflate& operator=(const MessageDeflate&) = delete;

  // Appends `message` compressed (sync flush, the 00 00 ff ff tail removed) to `out`.
  void compress(std::string_view message, std::string& out);

  // Appends what `part` of a compressed message inflates to; end_message() after its last part. False on corrupt
  // data (error() says why).
  bool decompress(std::string_view part, std::string& out);
  bool end_message(std::string& out);

  const std::string& error() const noexcept { return error_; }

 private:
  bool inflate(const void* data, std::size_t size, std::string& out);

  struct Streams;
  std::unique_ptr<Streams> streams_;
  DeflateParams params_;
  std::string error_;
};

}  // namespace loadgen::websocket
