// What lies between a client's socket and its MQTT bytes, when something does: TLS, WebSocket framing, or both
// (LayeredTransport: WebSocket over TLS).
// A Transport is sans-I/O: it turns bytes the connection read from the socket into MQTT bytes and MQTT bytes into
// bytes for the socket, and never touches the socket itself. The connection (connection.hpp) does every system
// call, so batching, back pressure, deadlines and closing are written once for every transport, and a transport
// is tested with byte strings alone.
//
// Plain TCP has no Transport: the socket's bytes are the MQTT bytes, so the connection reads straight into its
// shard's buffer and writes its batch as it is, with no copy and no call through this interface. With a transport
// the connection makes one virtual call per system call's worth of bytes (a 64 KiB read, a 64 KiB slice of a
// write), never one per byte or per packet.
//
// A transport's life, as the connection drives it:
//
//   open(read_bytes, out)       until it says done: a TLS handshake, a WebSocket upgrade. `out` is sent before
//                               anything else; a failure may come with bytes to send too (an alert, an HTTP error).
//   feed(read_bytes)            then read(buffer) until it says want_read: the MQTT bytes of what was read.
//   write_some(batch, out, max) the wire bytes of the start of a gathered batch, one system call's worth at a time.
//   close(out)                  the bytes of a graceful end (TLS close_notify, a WebSocket close frame).
//
// A transport may also need bytes sent that carry no MQTT bytes (a WebSocket pong, the close frame that answers
// the client's or explains a failure): wants_write() says so after a read(), and the connection then flushes, where
// write_some() puts those bytes first (with no data too).
//
// Thread safety: one thread at a time (the connection's shard).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace tern::net {

class Transport {
 public:
  enum class Status {
    ok,         // open(): done, MQTT may flow; read(): `size` MQTT bytes
    want_read,  // needs more bytes from the client (not a failure)
    closed,     // read(): the client ended the stream gracefully (close_notify, close frame); open(): the opening
                // ended the connection as it should (a file served over HTTP), `reason` says what for the log
    failed,     // the stream cannot go on; `reason` says why, for the log
  };
  // Which kind of opening failed, for /metrics.
  enum class Layer { tls, websocket };
  struct Result {
    Status status = Status::ok;
    std::size_t size = 0;  // read(): MQTT bytes written into the caller's buffer
    std::string reason;    // failed: why
  };

  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  virtual ~Transport() = default;

  // For log lines: "TLS", "WebSocket".
  virtual std::string_view name() const noexcept = 0;
  // For log lines about opening: "TLS handshake", "WebSocket upgrade"; the layer that is opening.
  virtual std::string_view opening_name() const noexcept = 0;
  virtual Layer opening_layer() const noexcept = 0;

  // Opening. `input`: bytes read from the client since the last call (none on the first call). Appends to `out`
  // what must be sent to the client first; says ok once the stream is open, want_read, or failed.
  virtual Result open(std::string_view input, std::string& out) = 0;

  // Reading. feed() takes bytes read from the client; read() writes MQTT bytes into `out` (ok with size > 0), or
  // says want_read (feed more), closed or failed. pending(): read() has more to give without new input (fed bytes
  // not yet consumed, or decoded bytes that did not fit into the last read's buffer).
  virtual void feed(std::string_view input) = 0;
  virtual Result read(std::span<char> out) = 0;
  virtual bool pending() const noexcept = 0;
  // When the client's socket ended (EOF) without the transport's own end (truncation): the note for the log; empty
  // when that is nothing to note.
  virtual std::string_view abrupt_end() const noexcept = 0;

  // Writing. Appends the wire bytes of the start of `data` to `out`, about `max` of them at most (but always some),
  // and returns how much of `data` they carry; on failure returns 0 with `failure` set.
  virtual std::size_t write_some(std::string_view data, std::string& out, std::size_t max, std::string& failure) = 0;
  // Bytes to send that carry no MQTT bytes are waiting (see above).
  virtual bool wants_write() const noexcept { return false; }
  // Appends the bytes that end the stream gracefully; only after open() said ok.
  virtual void close(std::string& out) = 0;

  // The username the client proved at opening (a certificate's CN or subject, a PSK identity) when the listener
  // takes it instead of the CONNECT's (use_identity_as_username, use_subject_as_username); null otherwise.
  virtual const std::string* username() const noexcept = 0;
};

}  // namespace tern::net
