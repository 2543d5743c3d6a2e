#include "bench/loadgen/websocket.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "bench/loadgen/ws_deflate.hpp"

namespace loadgen::websocket {
namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t max_upgrade_answer = 8192;

enum Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close_frame = 8, ping = 9, pong = 10 };

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  std::size_t written = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written, data, size);
  out.resize(written);
  return out;
}

char lower(char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value holds `token` (case-insensitive), as "Connection: keep-alive, Upgrade".
bool has_token(std::string_view value, std::string_view token) {
  while (true) {
    const std::size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

// XORs data with the 4-byte masking key, key[i % 4] for byte i; eight bytes at a time.
void apply_mask(char* data, std::size_t size, const std::uint8_t key[4]) {
  std::uint8_t key8[8];
  for (int i = 0; i < 8; ++i) key8[i] = key[i % 4];
  std::uint64_t k;
  std::memcpy(&k, key8, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, data + i, 8);
    v ^= k;
    std::memcpy(data + i, &v, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ key[i % 4]);
}

}  // namespace

std::string accept_value(std::string_view key) {
  mbedtls_sha1_context sha;
  mbedtls_sha1_init(&sha);
  unsigned char digest[20];
  mbedtls_sha1_starts_ret(&sha);
  mbedtls_sha1_update_ret(&sha, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  mbedtls_sha1_update_ret(&sha, reinterpret_cast<const unsigned char*>(guid.data()), guid.size());
  mbedtls_sha1_finish_ret(&sha, digest);
  mbedtls_sha1_free(&sha);
  return base64(digest, sizeof digest);
}

Channel::Channel(const Options& options) : options_(options) {}

Channel::~Channel() = default;
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;

void Channel::start(const std::array<std::uint8_t, 16>& nonce) {
  status_ = Status::upgrading;
  header_.clear();
  error_.clear();
  extensions_.clear();
  close_code_ = 1005;
  wire_.clear();
  wire_offset = 0;
  head_len_ = 0;
  in_payload_ = false;
  in_message_ = false;
  deflate_on_ = false;
  key_ = base64(nonce.data(), nonce.size());
  std::memcpy(&mask_state_, nonce.data(), 8);
  mask_state_ |= 1;  // xorshift's state must not be 0
  wire_ += "GET " + options_.path + " HTTP/1.1\r\nHost: " + options_.host + ":" + std::to_string(options_.port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
           "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n";
  if (options_.deflate) wire_ += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  wire_ += "\r\n";
}

Channel::Status Channel::fail(std::string what) {
  status_ = Status::error;
  error_ = std::move(what);
  return status_;
}

bool Channel::parse_upgrade(std::string_view header) {
  const std::size_t eol = header.find("\r\n");
  const std::string_view status_line = header.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols": the code is the second word.
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line.substr(8, 4) != " 101") {
    fail("upgrade refused: " + std::string(status_line));
    return false;
  }
  bool upgrade = false, connection = false, accepted = false, mqtt = false;
  std::string_view rest = header.substr(eol + 2);
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n");
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      fail("malformed header line in the upgrade answer: " + std::string(line));
      return false;
    }
    const std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "Upgrade")) {
      upgrade = iequals(value, "websocket");
    } else if (iequals(name, "Connection")) {
      connection = has_token(value, "upgrade");
    } else if (iequals(name, "Sec-WebSocket-Accept")) {
      if (value != accept_value(key_)) {
        fail("wrong Sec-WebSocket-Accept: " + std::string(value));
        return false;
      }
      accepted = true;
    } else if (iequals(name, "Sec-WebSocket-Protocol")) {
      if (value != "mqtt") {
        fail("the server chose subprotocol " + std::string(value) + ", not mqtt");
        return false;
      }
      mqtt = true;
    } else if (iequals(name, "Sec-WebSocket-Extensions") && !value.empty()) {
      if (!options_.deflate) {
        fail("the server answered an extension not offered: " + std::string(value));
        return false;
      }
      if (!extensions_.empty()) {
        fail("two Sec-WebSocket-Extensions lines in the upgrade answer");
        return false;
      }
      DeflateParams params;
      std::string why;
      if (!parse_deflate_answer(value, params, why)) {
        fail(why);
        return false;
      }
      extensions_ = value;
      deflate_ = std::make_unique<MessageDeflate>(params);  // fresh windows for each connection
      deflate_on_ = true;
    }
  }
  if (!upgrade || !connection) {
    fail("upgrade answer without \"Upgrade: websocket\" and \"Connection: upgrade\"");
  } else if (!accepted) {
    fail("upgrade answer without Sec-WebSocket-Accept");
  } else if (!mqtt) {
    fail("upgrade answer without \"Sec-WebSocket-Protocol: mqtt\" (MQTT 5.0 [MQTT-6.0.0-5])");
  }
  return status_ != Status::error;
}

Channel::Status Channel::receive(std::string_view bytes, std::string& mqtt) {
  std::string after_header;  // frames that came in the same read as the end of the upgrade answer
  if (status_ == Status::upgrading) {
    const std::size_t from = header_.size() >= 3 ? header_.size() - 3 : 0;
    header_.append(bytes);
    const std::size_t blank = header_.find("\r\n\r\n", from);
    if (blank == std::string::npos) {
      if (header_.size() > max_upgrade_answer) return fail("upgrade answer longer than 8 KiB");
      return status_;
    }
    after_header = header_.substr(blank + 4);
    header_.resize(blank + 4);
    if (!parse_upgrade(header_)) return status_;
    header_.clear();
    status_ = Status::open;
    bytes = after_header;
  }
  if (status_ != Status::open) return status_;

  std::size_t pos = 0;
  while (pos < bytes.size() && status_ == Status::open) {
    if (!in_payload_) {
      // Gather the header: 2 bytes, then the extended length (and a masking key, which a server must not send).
      const auto header_size = [this]() -> std::size_t {
        if (head_len_ < 2) return 2;
        const std::uint8_t len7 = head_[1] & 0x7f;
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((head_[1] & 0x80) ? 4 : 0);
      };
      while (head_len_ < header_size() && pos < bytes.size())
        head_[head_len_++] = static_cast<std::uint8_t>(bytes[pos++]);
      if (head_len_ < header_size()) break;
      if (!on_frame_header()) return status_;
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, bytes.size() - pos));
    if (!on_payload(bytes.substr(pos, take), mqtt)) return status_;
    pos += take;
    payload_left_ -= take;
    if (payload_left_ != 0) break;
    // The frame is complete.
    in_payload_ = false;
    head_len_ = 0;
    if (opcode_ >= close_frame) {
      if (!on_control()) return status_;
    } else if (fin_) {
      in_message_ = false;
      if (message_compressed_ && !deflate_->end_message(mqtt)) return fail(deflate_->error());
    }
  }
  return status_;
}

bool Channel::on_frame_header() {
  const std::uint8_t b0 = head_[0], b1 = head_[1];
  fin_ = (b0 & 0x80) != 0;
  const bool rsv1 = (b0 & 0x40) != 0;
  opcode_ = b0 & 0x0f;
  if (b0 & 0x30) return fail("frame with RSV2 or RSV3 set"), false;
  if (b1 & 0x80) return fail("masked frame from the server (RFC 6455 5.1)"), false;
  const std::uint8_t len7 = b1 & 0x7f;
  std::uint64_t length = len7;
  if (len7 == 126) {
    length = static_cast<std::uint64_t>(head_[2]) << 8 | head_[3];
  } else if (len7 == 127) {
    length = 0;
    for (int i = 2; i < 10; ++i) length = length << 8 | head_[i];
    if (length >> 63) return fail("frame length with the top bit set"), false;
  }
  switch (opcode_) {
    case continuation:
      if (!in_message_) return fail("continuation frame outside a message"), false;
      if (rsv1) return fail("RSV1 on a continuation frame"), false;
      break;
    case binary:
      if (in_message_) return fail("new data frame inside a fragmented message"), false;
      if (rsv1 && !deflate_on_) return fail("compressed frame without permessage-deflate"), false;
      in_message_ = true;
      message_compressed_ = rsv1;
      break;
    case text:
      return fail("text frame (MQTT travels in binary frames, [MQTT-6.0.0-1])"), false;
    case close_frame:
    case ping:
    case pong:
      if (!fin_ || length > 125) return fail("fragmented or long control frame"), false;
      if (rsv1) return fail("RSV1 on a control frame"), false;
      control_.clear();
      break;
    default:
      return fail("unknown opcode " + std::to_string(opcode_)), false;
  }
  payload_left_ = length;
  in_payload_ = true;
  return true;
}

bool Channel::on_payload(std::string_view part, std::string& mqtt) {
  if (part.empty()) return true;
  if (opcode_ >= close_frame) {
    control_.append(part);
  } else if (message_compressed_) {
    if (!deflate_->decompress(part, mqtt)) return fail(deflate_->error()), false;
  } else {
    mqtt.append(part);
  }
  return true;
}

bool Channel::on_control() {
  if (opcode_ == ping) {
    put_frame(0x80 | pong, control_);
  } else if (opcode_ == close_frame) {
    if (control_.size() == 1) return fail("close frame with a one-byte payload"), false;
    close_code_ = control_.size() >= 2 ? static_cast<std::uint16_t>(static_cast<std::uint8_t>(control_[0]) << 8 |
                                                                    static_cast<std::uint8_t>(control_[1]))
                                       : 1005;
    // Echo the code (RFC 6455 5.5.1), then the channel is closed.
    put_frame(0x80 | close_frame, control_.substr(0, std::min<std::size_t>(control_.size(), 2)));
    status_ = Status::closed;
  }
  return true;
}

void Channel::put_frame(std::uint8_t first, std::string_view payload) {
  const std::size_t size = payload.size();
  char head[14];
  std::size_t n = 0;
  head[n++] = static_cast<char>(first);
  if (size < 126) {
    head[n++] = static_cast<char>(0x80 | size);
  } else if (size <= 0xffff) {
    head[n++] = static_cast<char>(0x80 | 126);
    head[n++] = static_cast<char>(size >> 8);
    head[n++] = static_cast<char>(size & 0xff);
  } else {
    head[n++] = static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      head[n++] = static_cast<char>(static_cast<std::uint64_t>(size) >> shift);
  }
  // A new masking key per frame from xorshift64: the key only has to vary, the generator is no security boundary.
  mask_state_ ^= mask_state_ << 13;
  mask_state_ ^= mask_state_ >> 7;
  mask_state_ ^= mask_state_ << 17;
  std::uint8_t key[4];
  std::memcpy(key, &mask_state_, 4);
  std::memcpy(head + n, key, 4);
  n += 4;
  const std::size_t at = wire_.size();
  wire_.resize(at + n + size);
  std::memcpy(wire_.data() + at, head, n);
  if (size != 0) std::memcpy(wire_.data() + at + n, payload.data(), size);
  apply_mask(wire_.data() + at + n, size, key);
}

void Channel::send(std::string_view message) {
  if (status_ != Status::open) return;
  if (compressing()) {
    scratch_.clear();
    deflate_->compress(message, scratch_);
    put_frame(0x80 | 0x40 | binary, scratch_);
  } else {
    put_frame(0x80 | binary, message);
  }
}

void Channel::close(std::uint16_t code) {
  if (status_ != Status::open) return;
  const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  put_frame(0x80 | close_frame, std::string_view(payload, 2));
  status_ = Status::closed;
}

}  // namespace loadgen::websocket
