#include "broker/net/websocket_transport.hpp"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <cstring>
#include <utility>
#include <vector>

#include "broker/net/http_file.hpp"
#include "tls/crypto.hpp"

namespace tern::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace zlib = beast::zlib;

namespace {

// Frame opcodes (RFC 6455 section 5.2).
constexpr std::uint8_t op_continuation = 0x0;
constexpr std::uint8_t op_text = 0x1;
constexpr std::uint8_t op_binary = 0x2;
constexpr std::uint8_t op_close = 0x8;
constexpr std::uint8_t op_ping = 0x9;
constexpr std::uint8_t op_pong = 0xA;

// Close status codes (RFC 6455 section 7.4.1).
constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_protocol_error = 1002;
constexpr std::uint16_t close_unsupported_data = 1003;
constexpr std::uint16_t close_invalid_payload = 1007;
constexpr std::uint16_t close_too_big = 1009;

// The end of every message deflated with a sync flush, left off the wire (RFC 7692 section 7.2.1).
constexpr char deflate_tail[] = {0x00, 0x00, char(0xFF), char(0xFF)};

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void append_frame_header(std::string& out, std::uint8_t first_byte, std::uint64_t size) {
  out.push_back(static_cast<char>(first_byte));
  if (size < 126) {
    out.push_back(static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    out.push_back(126);
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size));
  } else {
    out.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
  }
}

std::string_view std_view(beast::string_view text) { return {text.data(), text.size()}; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()), beast::string_view(b.data(), b.size()));
}

// The non-empty trimmed items of a `separator`-separated list.
std::vector<std::string_view> split_trimmed(std::string_view list, char separator) {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    const auto at = list.find(separator);
    const std::string_view item = trim(list.substr(0, at));
    if (!item.empty()) items.push_back(item);
    if (at == std::string_view::npos) break;
    list.remove_prefix(at + 1);
  }
  return items;
}

bool contains_token(beast::string_view list, beast::string_view token) {
  for (const auto& item : http::token_list{list}) {
    if (beast::iequals(item, token)) return true;
  }
  return false;
}

// The compressor of this shard's thread: every connection there deflates its messages with it, one at a time, since
// no context is taken over from one message to the next.
zlib::deflate_stream& shard_deflater() {
  struct Deflater {
    // Level 1 and a small hash (memory level 4): the cheapest setting whose ratio on batches of JSON messages is
    // close to the higher levels' (figures in bench/README.md, the websockets rows).
    Deflater() { stream.reset(1, WebSocketTransport::deflate_window_bits, 4, zlib::Strategy::normal); }
    zlib::deflate_stream stream;
  };
  thread_local Deflater deflater;
  return deflater.stream;
}

std::string& shard_scratch() {
  thread_local std::string scratch;
  return scratch;
}

}  // namespace

struct WebSocketTransport::Handshake {
  std::string request;
};

struct WebSocketTransport::Inflater {
  explicit Inflater(int bits) { stream.reset(bits); }
  zlib::inflate_stream stream;
  std::string in;         // unmasked compressed bytes not inflated yet
  bool out_full = false;  // the last inflate filled the output: it may have more without more input
  bool ending = false;    // the message's last byte is in `in`, followed by the deflate tail
};

WebSocketTransport::WebSocketTransport(std::shared_ptr<const Settings> settings)
    : settings_(std::move(settings)), handshake_(std::make_unique<Handshake>()) {}

WebSocketTransport::~WebSocketTransport() = default;

std::string WebSocketTransport::accept_key(std::string_view key) {
  std::string text(key);
  text.append(websocket_guid);
  const crypto::Digest160 digest = crypto::sha1(text);
  return crypto::base64_encode(digest);
}

// --- Opening -----------------------------------------------------------------------------------------------------

Transport::Result WebSocketTransport::open(std::string_view input, std::string& out) {
  std::string& request = handshake_->request;
  const std::size_t searched = request.size() >= 3 ? request.size() - 3 : 0;
  request.append(input);
  const auto end = request.find("\r\n\r\n", searched);
  const std::size_t limit = settings_->headers_size;
  if ((end == std::string::npos && request.size() > limit) || (end != std::string::npos && end + 4 > limit)) {
    append_http_response(out, 431, "text/plain", "Request header larger than websockets_headers_size.\n");
    return {Status::failed, 0, "request header over " + std::to_string(limit) + " bytes (websockets_headers_size)"};
  }
  if (!request.empty() && (request[0] < 'A' || request[0] > 'Z')) {
    // Every HTTP request starts with a method in capitals; anything else is not HTTP at all, most often a plain
    // MQTT client on a WebSocket port, which would otherwise wait for the deadline.
    append_http_response(out, 400, "text/plain", "Not an HTTP request.\n");
    return {Status::failed, 0,
            std::string("not HTTP (first byte ") + std::to_string(static_cast<unsigned char>(request[0])) +
                (request[0] == 0x10 ? ", an MQTT CONNECT): a plain MQTT client on a WebSocket port?" : ")")};
  }
  if (end == std::string::npos) return {Status::want_read, 0, {}};
  Result result = handle_request(out);
  if (result.status == Status::ok && end + 4 < request.size()) {
    // Frames the client sent right after its request (it need not wait for our answer).
    kept_ = std::make_unique<std::string>(request.substr(end + 4));
    input_ = *kept_;
  }
  handshake_.reset();
  return result;
}

Transport::Result WebSocketTransport::handle_request(std::string& out) {
  const std::string& request = handshake_->request;
  const auto header_end = request.find("\r\n\r\n") + 4;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(header_end));
  beast::error_code error;
  parser.put(boost::asio::buffer(request.data(), header_end), error);
  if (error || !parser.is_header_done()) {
    append_http_response(out, 400, "text/plain", "Malformed HTTP request.\n");
    return {Status::failed, 0, "malformed HTTP request: " + (error ? error.message() : std::string("incomplete"))};
  }
  const auto& req = parser.get();
  const std::string_view target = std_view(req.target());
  const bool upgrade = contains_token(req[http::field::upgrade], "websocket");

  if (req.method() != http::verb::get) {
    append_http_response(out, 405, "text/plain", "Only GET is served here.\n", "Allow: GET\r\n");
    return {Status::failed, 0, "HTTP " + std::string(req.method_string()) + " " + std::string(target) + ": 405"};
  }
  if (!upgrade) {
    if (settings_->http_dir.empty()) {
      append_http_response(out, 426, "text/plain",
                           "This is an MQTT over WebSocket endpoint: upgrade to a WebSocket with subprotocol mqtt.\n",
                           "Upgrade: websocket\r\n");
      return {Status::failed, 0, "HTTP GET " + std::string(target) + " without a WebSocket upgrade: 426"};
    }
    HttpFileAnswer answer = serve_http_file(settings_->http_dir, target, out);
    return {answer.served ? Status::closed : Status::failed, 0, std::move(answer.note)};
  }

  // A WebSocket upgrade (RFC 6455 section 4.2.1).
  auto refuse = [&](int status, std::string body, std::string why, std::string_view extra = {}) -> Result {
    append_http_response(out, status, "text/plain", body, extra);
    return {Status::failed, 0, std::move(why)};
  };
  if (!contains_token(req[http::field::connection], "upgrade")) {
    return refuse(400, "Connection: Upgrade is missing.\n", "upgrade request without Connection: Upgrade");
  }
  if (req.version() < 11) return refuse(400, "HTTP/1.1 is required.\n", "upgrade request over HTTP/1.0");
  if (req[http::field::sec_websocket_version] != "13") {
    return refuse(426, "Only WebSocket version 13 is supported.\n",
                  "WebSocket version '" + std::string(req[http::field::sec_websocket_version]) + "' (13 is supported)",
                  "Sec-WebSocket-Version: 13\r\n");
  }
  const std::string_view key = std_view(req[http::field::sec_websocket_key]);
  const auto key_bytes = crypto::base64_decode(key);
  if (!key_bytes || key_bytes->size() != 16) {
    return refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64.\n", "bad Sec-WebSocket-Key");
  }
  if (!settings_->path.empty()) {
    const auto query = target.find('?');
    if (target.substr(0, query) != settings_->path) {
      return refuse(404, "No MQTT endpoint at this path.\n",
                    "path " + std::string(target) + " is not websockets_path " + settings_->path);
    }
  }
  std::string_view protocol;
  for (const auto& item : http::token_list{req[http::field::sec_websocket_protocol]}) {
    const std::string_view name(item.data(), item.size());
    if (name == "mqtt") {
      protocol = "mqtt";
      break;
    }
    if (name == "mqttv3.1" && protocol.empty()) protocol = "mqttv3.1";
  }
  if (protocol.empty()) {
    const auto offered = req[http::field::sec_websocket_protocol];
    return refuse(400, "Sec-WebSocket-Protocol must offer mqtt.\n",
                  offered.empty() ? std::string("no WebSocket subprotocol offered (mqtt is required)")
                                  : "WebSocket subprotocol '" + std::string(offered) + "' offered (mqtt is required)");
  }

  std::string extensions;
  if (settings_->compression) {
    // The first permessage-deflate offer whose parameters Tern can honour (RFC 7692 section 5). Parsed here, not
    // with Beast's ext_list, which stops at a parameter without a value that is followed by another offer.
    const std::string_view offers = std_view(req[http::field::sec_websocket_extensions]);
    for (const std::string_view offer_text : split_trimmed(offers, ',')) {
      const std::vector<std::string_view> parts = split_trimmed(offer_text, ';');
      if (parts.empty() || !iequals(parts[0], "permessage-deflate")) continue;
      bool usable = true;
      int client_bits = 0;  // 0: the client did not offer client_max_window_bits (it deflates with 2^15)
      for (std::size_t p = 1; p < parts.size(); ++p) {
        const auto equals = parts[p].find('=');
        const std::string_view name = trim(parts[p].substr(0, equals));
        std::string_view value =
            equals == std::string_view::npos ? std::string_view{} : trim(parts[p].substr(equals + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        int bits = 15;
        if (equals != std::string_view::npos) {
          bits = value.empty() ? 100 : 0;
          for (const char c : value) bits = (c >= '0' && c <= '9' && bits < 100) ? bits * 10 + (c - '0') : 100;
        }
        if (name == "client_max_window_bits") {
          if (bits < 8 || bits > 15) usable = false;
          client_bits = bits;
        } else if (name == "server_max_window_bits") {
          // Tern deflates with 2^deflate_window_bits: a smaller limit cannot be honoured.
          if (equals == std::string_view::npos || bits < deflate_window_bits || bits > 15) usable = false;
        } else if (name != "server_no_context_takeover" && name != "client_no_context_takeover") {
          usable = false;
        }
      }
      if (!usable) continue;
      deflate_ = true;
      inflate_bits_ = static_cast<std::uint16_t>(client_bits == 0 ? 15 : std::max(client_bits, 9));
      extensions =
          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
          "client_no_context_takeover";
      if (client_bits != 0) extensions += "; client_max_window_bits=" + std::to_string(inflate_bits_);
      extensions += "\r\n";
      break;
    }
  }

  out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
  out.append("Sec-WebSocket-Accept: ").append(accept_key(key)).append("\r\n");
  out.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n").append(extensions).append("\r\n");
  return {};
}

// --- Reading -----------------------------------------------------------------------------------------------------

void WebSocketTransport::feed(std::string_view input) {
  // Only called when pending() is false, so nothing is left of earlier input.
  kept_.reset();
  input_ = input;
}

bool WebSocketTransport::pending() const noexcept {
  if (state_ == State::closed || state_ == State::failed) return true;  // read() says so
  if (inflater_ && (inflater_->out_full || !inflater_->in.empty() || inflater_->ending)) return true;
  return !input_.empty();
}

Transport::Result WebSocketTransport::fail(std::uint16_t code, std::string reason) {
  if (state_ != State::failed && state_ != State::closed) {
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    queue_control(op_close, {payload, 2});
    state_ = State::failed;
    frame_ = std::make_unique<std::string>(std::move(reason));
    inflater_.reset();
  }
  return {Status::failed, 0, frame_ ? *frame_ : std::string()};
}

void WebSocketTransport::queue_control(std::uint8_t opcode, std::string_view payload) {
  if (close_sent_) return;  // nothing follows a close frame
  if (!control_) control_ = std::make_unique<std::string>();
  if (opcode == op_pong) {
    // Only the latest ping needs its pong (RFC 6455 section 5.5.3): a flood of pings queues one frame.
    if (control_->size() >= 2 && static_cast<std::uint8_t>((*control_)[0]) == (0x80 | op_pong)) control_->clear();
  }
  append_frame_header(*control_, static_cast<std::uint8_t>(0x80 | opcode), payload.size());
  control_->append(payload);
  if (opcode == op_close) close_sent_ = true;
}

// Parses header_ once it is complete; false when more header bytes are needed. Sets state_ (and fails) otherwise.
bool WebSocketTransport::parse_header() {
  if (header_size_ < 2) return false;
  const std::uint8_t b0 = header_[0];
  const std::uint8_t b1 = header_[1];
  const std::uint8_t length7 = b1 & 0x7F;
  const std::size_t needed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
  if (header_size_ < needed) return false;

  fin_ = (b0 & 0x80) != 0;
  const bool rsv1 = (b0 & 0x40) != 0;
  opcode_ = b0 & 0x0F;
  std::uint64_t length = length7;
  std::size_t at = 2;
  if (length7 == 126) {
    length = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
  } else if (length7 == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
    at = 10;
  }
  header_size_ = 0;
  if ((b1 & 0x80) == 0) {
    fail(close_protocol_error, "unmasked client frame");
    return true;
  }
  std::memcpy(mask_.data(), header_.data() + at, 4);
  mask_offset_ = 0;
  remaining_ = length;
  if ((b0 & 0x30) != 0 || (rsv1 && (!deflate_ || opcode_ == op_continuation || opcode_ >= op_close))) {
    fail(close_protocol_error, "reserved bits set in a frame");
    return true;
  }
  if (length7 == 127 && (length >> 63) != 0) {
    fail(close_protocol_error, "frame length over 2^63");
    return true;
  }
  if (opcode_ >= op_close) {
    if (opcode_ > op_pong) {
      fail(close_protocol_error, "unknown control opcode " + std::to_string(opcode_));
    } else if (!fin_ || length > 125) {
      fail(close_protocol_error, "fragmented or oversized control frame");
    } else {
      frame_ = std::make_unique<std::string>();
      state_ = State::control;
      if (length == 0) control_frame_done();
    }
    return true;
  }
  if (opcode_ == op_text) {
    fail(close_unsupported_data, "text frame (MQTT is sent in binary frames)");
    return true;
  }
  if (opcode_ != op_binary && opcode_ != op_continuation) {
    fail(close_protocol_error, "unknown data opcode " + std::to_string(opcode_));
    return true;
  }
  if ((opcode_ == op_continuation) != in_message_) {
    fail(close_protocol_error,
         in_message_ ? "new message before the last one ended" : "continuation without a message");
    return true;
  }
  if (settings_->max_frame != 0 && length > settings_->max_frame) {
    fail(close_too_big,
         "frame of " + std::to_string(length) + " bytes over max_packet_size " + std::to_string(settings_->max_frame));
    return true;
  }
  if (opcode_ == op_binary) {
    message_deflated_ = rsv1;
    if (rsv1) inflater_ = std::make_unique<Inflater>(inflate_bits_);
  }
  in_message_ = !fin_;
  state_ = State::payload;
  if (remaining_ == 0 && fin_ && message_deflated_) inflater_->ending = true;
  if (remaining_ == 0) state_ = State::header;
  return true;
}

void WebSocketTransport::control_frame_done() {
  state_ = State::header;
  const std::string payload = std::move(*frame_);
  frame_.reset();
  switch (opcode_) {
    case op_ping:
      queue_control(op_pong, payload);
      return;
    case op_pong:
      return;
    case op_close: {
      std::uint16_t code = close_normal;
      if (payload.size() == 1) {
        fail(close_protocol_error, "close frame with a 1-byte payload");
        return;
      }
      if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                          static_cast<std::uint8_t>(payload[1]));
      }
      const char answer[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
      queue_control(op_close, payload.empty() ? std::string_view{} : std::string_view{answer, 2});
      state_ = State::closed;
      return;
    }
  }
}

std::size_t WebSocketTransport::unmask(const char* in, std::size_t size, char* out) noexcept {
  std::uint8_t offset = mask_offset_;
  std::size_t i = 0;
  if (size >= 16) {
    // Eight bytes at a time with the mask rotated to where this chunk starts.
    std::uint8_t rotated[8];
    for (int k = 0; k < 8; ++k) rotated[k] = mask_[(offset + k) & 3];
    std::uint64_t mask64;
    std::memcpy(&mask64, rotated, 8);
    for (; i + 8 <= size; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, in + i, 8);
      word ^= mask64;
      std::memcpy(out + i, &word, 8);
    }
  }
  for (; i < size; ++i) out[i] = static_cast<char>(in[i] ^ mask_[(offset + i) & 3]);
  mask_offset_ = static_cast<std::uint8_t>((offset + size) & 3);
  return size;
}

Transport::Result WebSocketTransport::read(std::span<char> out) {
  std::size_t produced = 0;
  auto done = [&](Result result) {
    keep_input();
    return result;
  };
  for (;;) {
    if (state_ == State::closed)
      return done(produced != 0 ? Result{Status::ok, produced, {}} : Result{Status::closed, 0, {}});
    if (state_ == State::failed) {
      if (produced != 0) return done({Status::ok, produced, {}});
      return done({Status::failed, 0, frame_ ? *frame_ : std::string()});
    }
    if (produced == out.size()) return done({Status::ok, produced, {}});

    // Inflate what an earlier step unmasked, into what is left of `out`.
    if (inflater_ && (inflater_->out_full || !inflater_->in.empty() || inflater_->ending)) {
      Inflater& inflater = *inflater_;
      if (inflater.ending) {
        inflater.in.append(deflate_tail, sizeof deflate_tail);
        inflater.ending = false;
        message_deflated_ = false;  // the message ends once this is inflated: the inflater goes then
      }
      zlib::z_params z;
      z.next_in = inflater.in.data();
      z.avail_in = inflater.in.size();
      z.next_out = out.data() + produced;
      z.avail_out = out.size() - produced;
      beast::error_code error;
      inflater.stream.write(z, zlib::Flush::sync, error);
      if (error == zlib::error::end_of_stream) {
        z.avail_in = 0;  // a final block (BFINAL) ended the message: the tail after it is not needed
      } else if (error && error != zlib::error::need_buffers) {
        fail(close_invalid_payload, "compressed message does not inflate: " + error.message());
        continue;
      }
      const std::size_t written = (out.size() - produced) - z.avail_out;
      produced += written;
      inflater.in.erase(0, inflater.in.size() - z.avail_in);
      inflater.out_full = z.avail_out == 0;
      if (!inflater.out_full && inflater.in.empty() && !message_deflated_) inflater_.reset();  // message over
      if (inflater_ && inflater.out_full) continue;  // `out` is full: the check above returns
      if (inflater_ && !inflater.in.empty() && written == 0) {
        // No progress with input left and room to write: a corrupt stream.
        fail(close_invalid_payload, "compressed message does not inflate");
        continue;
      }
    }

    if (input_.empty()) {
      if (produced != 0) return done({Status::ok, produced, {}});
      return done({Status::want_read, 0, {}});
    }

    switch (state_) {
      case State::header: {
        // Take header bytes one call's worth at a time: at most what the header can still need.
        const std::size_t take = std::min<std::size_t>(input_.size(), header_.size() - header_size_);
        std::size_t used = 0;
        while (used < take) {
          header_[header_size_++] = static_cast<std::uint8_t>(input_[used++]);
          const std::uint8_t b1 = header_size_ >= 2 ? header_[1] : 0;
          const std::size_t needed = header_size_ < 2 ? 2
                                                      : 2 +
                                                            ((b1 & 0x7F) == 126   ? 2
                                                             : (b1 & 0x7F) == 127 ? 8
                                                                                  : 0) +
                                                            ((b1 & 0x80) ? 4 : 0);
          if (header_size_ == needed) break;
        }
        input_.remove_prefix(used);
        parse_header();
        break;
      }
      case State::payload: {
        if (message_deflated_) {
          // Unmask into the inflater's input, at most 16 KiB per step so that it stays small.
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>({remaining_, input_.size(), std::uint64_t{16 * 1024}}));
          std::string& in = inflater_->in;
          const std::size_t at = in.size();
          in.resize(at + n);
          unmask(input_.data(), n, in.data() + at);
          input_.remove_prefix(n);
          remaining_ -= n;
        } else {
          const std::size_t n = static_cast<std::size_t>(
              std::min<std::uint64_t>({remaining_, input_.size(), std::uint64_t{out.size() - produced}}));
          unmask(input_.data(), n, out.data() + produced);
          input_.remove_prefix(n);
          remaining_ -= n;
          produced += n;
        }
        if (remaining_ == 0) {
          if (fin_ && message_deflated_) inflater_->ending = true;
          state_ = State::header;
        }
        break;
      }
      case State::control: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input_.size()));
        const std::size_t at = frame_->size();
        frame_->resize(at + n);
        unmask(input_.data(), n, frame_->data() + at);
        input_.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) control_frame_done();
        break;
      }
      case State::closed:
      case State::failed:
        break;
    }
  }
}

// Input left unconsumed must outlive the caller's buffer (the shard's, which the next connection reuses).
void WebSocketTransport::keep_input() {
  if (input_.empty()) {
    kept_.reset();
    return;
  }
  if (kept_ && input_.data() >= kept_->data() && input_.data() <= kept_->data() + kept_->size()) return;
  kept_ = std::make_unique<std::string>(input_);
  input_ = *kept_;
}

// --- Writing -----------------------------------------------------------------------------------------------------

std::size_t WebSocketTransport::write_some(std::string_view data, std::string& out, std::size_t max,
                                           std::string& failure) {
  if (control_) {
    out.append(*control_);
    control_.reset();
  }
  if (data.empty()) return 0;
  if (close_sent_) return data.size();  // nothing may follow a close frame: the rest is dropped
  max = std::max<std::size_t>(max, 1);
  if (!deflate_) return frame_packets(data, out, max);
  const std::size_t n = std::min(data.size(), max);
  if (n < min_deflated_size) {
    // Uncompressed (RSV1 clear), as permessage-deflate allows message by message.
    append_frame_header(out, 0x80 | op_binary, n);
    out.append(data.substr(0, n));
    return n;
  }
  zlib::deflate_stream& deflater = shard_deflater();
  deflater.reset();
  std::string& compressed = shard_scratch();
  compressed.resize(deflater.upper_bound(n) + 16);
  zlib::z_params z;
  z.next_in = data.data();
  z.avail_in = n;
  z.next_out = compressed.data();
  z.avail_out = compressed.size();
  beast::error_code error;
  deflater.write(z, zlib::Flush::sync, error);
  if ((error && error != zlib::error::need_buffers) || z.avail_in != 0) {
    failure = "WebSocket compression failed: " + (error ? error.message() : std::string("output did not fit"));
    return 0;
  }
  std::size_t size = compressed.size() - z.avail_out;
  if (size >= 4 && std::memcmp(compressed.data() + size - 4, deflate_tail, 4) == 0) size -= 4;
  append_frame_header(out, 0x80 | 0x40 | op_binary, size);
  out.append(compressed.data(), size);
  return n;
}

// One message per MQTT packet. `data` is whole packets, except that the first may be the rest of one that an earlier
// call began (packet_left_ bytes of it). A packet that does not fit into `max` continues in the next call: its
// message's first frame is binary without FIN, the next ones are continuations, the last has FIN.
std::size_t WebSocketTransport::frame_packets(std::string_view data, std::string& out, std::size_t max) {
  std::size_t taken = 0;
  while (taken < data.size() && taken < max) {
    const std::string_view rest = data.substr(taken);
    bool first_frame = false;
    if (packet_left_ == 0) {
      first_frame = true;
      packet_left_ = packet_size(rest);
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({packet_left_, rest.size(), max - taken}));
    packet_left_ -= n;
    const std::uint8_t fin = packet_left_ == 0 ? 0x80 : 0x00;
    append_frame_header(out, static_cast<std::uint8_t>(fin | (first_frame ? op_binary : op_continuation)), n);
    out.append(rest.substr(0, n));
    taken += n;
  }
  return taken;
}

// The size of the MQTT packet at the start of `data`: its fixed header and Remaining Length. The broker writes only
// whole, well-formed packets; should `data` not start with one, the rest of it is taken as one message.
std::uint64_t WebSocketTransport::packet_size(std::string_view data) noexcept {
  std::uint64_t remaining = 0;
  for (std::size_t i = 1; i < data.size() && i <= 4; ++i) {
    const auto byte = static_cast<std::uint8_t>(data[i]);
    remaining |= std::uint64_t{byte & 0x7Fu} << (7 * (i - 1));
    if ((byte & 0x80) == 0) return 1 + i + remaining;
  }
  return data.size();
}

void WebSocketTransport::close(std::string& out) {
  queue_control(op_close, std::string_view("\x03\xE8", 2));  // 1000, normal closure (no-op after a close frame)
  if (control_) {
    out.append(*control_);
    control_.reset();
  }
}

}  // namespace tern::net
