// WebSocket client side of the load generator (RFC 6455, MQTT over WebSockets: MQTT 5.0 section 6), for --ws and,
// over TLS, --ws --tls (bench/README.md, the websockets rows).
//
// Sans-I/O: a Channel never touches the socket. The worker hands it what it read (receive) and takes what it must
// write from wire(), exactly as it does with tls::Session's cipher_out(); under --ws --tls, wire() is the plaintext
// the TLS session encrypts. Layers, top to bottom:
//
//   MQTT packets (Client::out / Client::in)
//   -> Channel::send: one masked binary frame per write batch   <- Channel::receive: frames, payload bytes appended
//   -> wire()                                                    <- bytes read from the socket (or TLS plaintext)
//
// The upgrade. start() appends the request:
//   GET /mqtt HTTP/1.1
//   Host: 127.0.0.1:8080
//   Upgrade: websocket
//   Connection: Upgrade
//   Sec-WebSocket-Key: <16 random bytes, base64>
//   Sec-WebSocket-Version: 13
//   Sec-WebSocket-Protocol: mqtt
//   Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits     (only with Options::deflate)
// and receive() checks the answer: status 101, "Upgrade: websocket", "Connection: upgrade", Sec-WebSocket-Accept =
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), subprotocol "mqtt" (MQTT 5.0 [MQTT-6.0.0-5]: the
// server selects it), and at most the extension offered. Bytes after the header are frames.
//
// A frame (RFC 6455 5.2), server to client unmasked, client to server masked:
//   byte 0     FIN (0x80), RSV1 (0x40: compressed message, RFC 7692), opcode (0x0F: 0 continuation, 2 binary,
//              8 close, 9 ping, 10 pong)
//   byte 1     MASK (0x80), length 0..125, or 126: a 16-bit length follows, 127: a 64-bit length follows
//   [2 or 8]   extended length, network order
//   [4]        masking key (client frames only); payload byte i is XORed with key[i % 4]
//   payload
// Worked example (RFC 6455 5.7): "Hello" from a client with key 37 fa 21 3d is
//   81 85 37 fa 21 3d 7f 9f 4d 51 58.
// An MQTT packet may span frames and a frame may hold several packets: receive() appends payload bytes to the MQTT
// stream and the MQTT layer splits packets as on TCP. Pings are answered with pongs (in wire()); a close is answered
// with a close and ends the channel.
//
// Thread safety: a Channel belongs to one client of one worker thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace loadgen::websocket {

class MessageDeflate;

struct Options {
  std::string host = "127.0.0.1";  // the Host header: host:port
  std::uint16_t port = 0;
  std::string path = "/mqtt";
  bool deflate = false;  // offer permessage-deflate (RFC 7692) and use it if the server accepts
};

// base64(SHA-1(key + the RFC 6455 GUID)): what the server must answer to Sec-WebSocket-Key `key`.
std::string accept_value(std::string_view key);

class Channel {
 public:
  enum class Status { upgrading, open, closed, error };

  explicit Channel(const Options& options);
  ~Channel();
  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;

  // Starts a new connection (the same Channel is reused for reconnects): appends the upgrade request with
  // Sec-WebSocket-Key = base64(nonce) to wire().
  void start(const std::array<std::uint8_t, 16>& nonce);

  // Handles bytes from the server: the upgrade answer, then frames. Payload bytes of data frames are appended to
  // `mqtt` (decompressed when the message is), replies to control frames to wire(). Returns the status after them;
  // on error, error() says why; on closed, close_code() is the server's code (1005: none given).
  Status receive(std::string_view bytes, std::string& mqtt);

  // Appends `message` (whole MQTT packets or a part of the stream) to wire() as one masked binary frame, compressed
  // when permessage-deflate was agreed. Only when open.
  void send(std::string_view message);

  // Appends a close frame with `code` (1000: normal) to wire(); the channel is then closed.
  void close(std::uint16_t code);

  Status status() const noexcept { return status_; }
  bool open() const noexcept { return status_ == Status::open; }
  const std::string& error() const noexcept { return error_; }
  std::uint16_t close_code() const noexcept { return close_code_; }
  // After the upgrade: the server's Sec-WebSocket-Extensions answer ("" when it accepted none).
  const std::string& extensions() const noexcept { return extensions_; }
  bool compressing() const noexcept { return deflate_ != nullptr && deflate_on_; }

  std::string& wire() noexcept { return wire_; }
  std::size_t wire_offset = 0;  // how much of wire() has been sent

 private:
  Status fail(std::string what);
  bool parse_upgrade(std::string_view header);
  bool on_frame_header();
  bool on_payload(std::string_view part, std::string& mqtt);
  bool on_control();
  void put_frame(std::uint8_t first, std::string_view payload);

  Options options_;
  Status status_ = Status::closed;
  std::string key_;     // Sec-WebSocket-Key as sent
  std::string header_;  // the upgrade answer until its blank line
  std::string error_;
  std::string extensions_;
  std::uint16_t close_code_ = 1005;
  std::string wire_;
  std::uint64_t mask_state_ = 0;  // xorshift64 state for masking keys (from the nonce)

  // The frame being received.
  std::array<std::uint8_t, 14> head_{};
  std::size_t head_len_ = 0;
  bool in_payload_ = false;
  std::uint64_t payload_left_ = 0;
  std::uint8_t opcode_ = 0;
  bool fin_ = false;
  std::string control_;      // a control frame's payload
  bool in_message_ = false;  // a data message has begun and its FIN frame has not come
  bool message_compressed_ = false;

  std::unique_ptr<MessageDeflate> deflate_;  // allocated when the server agrees to permessage-deflate
  bool deflate_on_ = false;
  std::string scratch_;  // a compressed message before framing
};

}  // namespace loadgen::websocket
