// MQTT over WebSockets (RFC 6455, MQTT 5.0 section 6) as a Transport (transport.hpp): the connection stays the one
// MQTT connection of every listener, and this turns WebSocket frames into the byte stream its decoder reads.
//
// Opening is one HTTP/1.1 request, parsed with Boost.Beast's parser (at most `headers_size` bytes of header, on
// the connection's opening deadline):
//   - a WebSocket upgrade (GET, Upgrade: websocket, Sec-WebSocket-Version 13, a 16-byte key) that offers the
//     subprotocol "mqtt" or "mqttv3.1" gets 101 Switching Protocols with the first of those it offered; with
//     `path` set only that path is accepted (404 otherwise). Refusals are an HTTP status with a one-line reason:
//     400 (not a valid upgrade, no MQTT subprotocol), 426 (another WebSocket version, or no upgrade at all on a
//     listener without http_dir), 405 (not GET), 431 (headers over the limit).
//   - without an upgrade, with `http_dir` set, a GET is answered with a file from that folder, never one outside
//     it, and the connection ends (http_file.hpp). Other methods get 405.
//
// Frames (after 101). Client frames must be masked binary frames (MQTT-6.0.0-1); a packet may span frames and a
// frame may hold several packets, the payload is a byte stream. Pings are answered with a pong (only the latest,
// as RFC 6455 allows), pongs ignored; a close frame is answered with a close frame and ends the stream (read()
// says closed, and the connection ends as a lost one: an MQTT DISCONNECT is what ends a session cleanly). Failures
// close with the RFC's status code in a close frame: 1002 (protocol error: an unmasked frame, reserved bits,
// fragmented or oversized control frames, a continuation out of place), 1003 (a text frame), 1009 (a data frame
// over `max_frame`, the broker's max_packet_size), 1007 (a compressed message that does not inflate).
//
// Server frames are binary and unmasked, and each MQTT packet is one message of its own, as mosquitto sends them: a
// frame never holds two packets (a packet over a write_some() slice, 64 KiB, is a message of several frames). MQTT
// lets a frame hold several packets, but some clients read one packet per frame and wait for the socket before the
// next: Paho C (and Paho C++ over it) leaves a second packet of a frame unread until more bytes arrive, which can be
// the next keepalive's PINGRESP, a minute later. A frame header costs 2 bytes per packet under 126 bytes, 4 up to
// 64 KiB.
//
// Compression (`compression`, off by default): permessage-deflate (RFC 7692) with clients that offer it. Both
// directions without context takeover (the response says server_no_context_takeover and
// client_no_context_takeover), so a connection keeps no compression state between messages: its idle cost is
// the same as without compression. Outgoing messages are deflated by one compressor per shard thread
// (window 2^deflate_window_bits, level 1), those under min_deflated_size bytes sent as they are; incoming ones are
// inflated by a decompressor that exists only while a compressed message is being read (window as the client's
// offer allows, at most 2^15). With compression agreed, an outgoing message is a whole slice of the batch, all the
// packets queued for the client at once (up to 64 KiB), so that they are deflated together: clients that offer the
// extension are full WebSocket stacks (browsers, MQTT.js, Python's websockets), which read MQTT as a byte stream.
//
// Memory: an open, idle WebSocket connection is this object (about 150 bytes) and nothing else; the request is
// buffered only while opening, a partial frame header lives in the object, and unconsumed input is kept only when a
// read stops early (the MQTT buffer was full).
//
// Thread safety: one thread at a time (the connection's shard); the shared Settings are immutable.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/net/transport.hpp"

namespace tern::net {

class WebSocketTransport final : public Transport {
 public:
  struct Settings {
    std::string path;                 // websockets_path: the only request path accepted; empty: any
    std::string http_dir;             // http_dir, resolved to its real path at start-up; empty: no files served
    std::size_t headers_size = 4096;  // websockets_headers_size: the largest request header accepted
    bool compression = false;         // websockets_compression: permessage-deflate when the client offers it
    std::uint64_t max_frame = 0;      // the largest data frame accepted (max_packet_size); 0: no limit
  };
  static constexpr int deflate_window_bits = 12;
  // Smaller slices are sent uncompressed: a deflate costs microseconds whatever the size, and saves little on them.
  static constexpr std::size_t min_deflated_size = 128;

  explicit WebSocketTransport(std::shared_ptr<const Settings> settings);
  ~WebSocketTransport() override;

  std::string_view name() const noexcept override { return "WebSocket"; }
  std::string_view opening_name() const noexcept override { return "WebSocket upgrade"; }
  Layer opening_layer() const noexcept override { return Layer::websocket; }
  Result open(std::string_view input, std::string& out) override;
  void feed(std::string_view input) override;
  Result read(std::span<char> out) override;
  bool pending() const noexcept override;
  // Many clients end with DISCONNECT and a TCP close, no close frame: nothing worth a log line of its own.
  std::string_view abrupt_end() const noexcept override { return {}; }
  std::size_t write_some(std::string_view data, std::string& out, std::size_t max, std::string& failure) override;
  bool wants_write() const noexcept override { return control_ != nullptr; }
  void close(std::string& out) override;
  const std::string* username() const noexcept override { return nullptr; }

  // Whether open() said ok after agreeing on permessage-deflate (for tests and the log).
  bool compressed() const noexcept { return deflate_; }

  // Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 section 4.2.2).
  static std::string accept_key(std::string_view key);

 private:
  struct Handshake;
  struct Inflater;
  enum class State : std::uint8_t { header, payload, control, closed, failed };

  Result handle_request(std::string& out);
  Result fail(std::uint16_t code, std::string reason);
  bool parse_header();
  void control_frame_done();
  void queue_control(std::uint8_t opcode, std::string_view payload);
  std::size_t unmask(const char* in, std::size_t size, char* out) noexcept;
  void keep_input();
  std::size_t frame_packets(std::string_view data, std::string& out, std::size_t max);
  static std::uint64_t packet_size(std::string_view data) noexcept;

  std::shared_ptr<const Settings> settings_;
  std::unique_ptr<Handshake> handshake_;   // while opening
  std::unique_ptr<std::string> control_;   // frames to send that carry no MQTT bytes (pong, close)
  std::unique_ptr<std::string> kept_;      // input a read() left unconsumed, when it must outlive the caller's
  std::unique_ptr<std::string> frame_;     // a control frame's payload while it arrives, or a failure's reason
  std::unique_ptr<Inflater> inflater_;     // while a compressed message is read
  std::string_view input_;                 // fed bytes not consumed yet (the caller's buffer, or *kept_)
  std::uint64_t remaining_ = 0;            // payload bytes of the current frame still to come
  std::uint64_t packet_left_ = 0;          // bytes of the MQTT packet being sent that the next write_some() frames
  std::array<std::uint8_t, 14> header_{};  // a frame header as it arrives
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t header_size_ = 0;
  std::uint8_t mask_offset_ = 0;
  std::uint8_t opcode_ = 0;  // of the current frame
  State state_ = State::header;
  bool fin_ = false;         // the current frame ends its message
  bool in_message_ = false;  // a data message has started and not finished (continuations allowed)
  bool message_deflated_ = false;
  bool deflate_ = false;  // permessage-deflate agreed
  bool close_sent_ = false;
  std::uint16_t inflate_bits_ = 15;
};

}  // namespace tern::net
