#include "bench/loadgen/ws_deflate.hpp"

#include <algorithm>
#include <boost/beast/zlib.hpp>
#include <cctype>
#include <iterator>

namespace loadgen::websocket {
namespace {

namespace zlib = boost::beast::zlib;

// zlib's defaults (deflateInit: level 6, memLevel 8), what a browser's or a library's client typically uses.
constexpr int compression_level = 6;
constexpr int memory_level = 8;
constexpr unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool parse_deflate_answer(std::string_view answer, DeflateParams& out, std::string& error) {
  out = DeflateParams{};
  if (answer.find(',') != std::string_view::npos) {
    error = "the server answered more than one extension: " + std::string(answer);
    return false;
  }
  bool first = true;
  bool seen[4] = {};
  while (!answer.empty()) {
    const std::size_t semi = answer.find(';');
    const std::string_view item = trim(answer.substr(0, semi));
    answer = semi == std::string_view::npos ? std::string_view() : answer.substr(semi + 1);
    if (first) {
      if (!iequals(item, "permessage-deflate")) {
        error = "the server answered an extension not offered: " + std::string(item);
        return false;
      }
      first = false;
      continue;
    }
    const std::size_t eq = item.find('=');
    const std::string_view name = trim(item.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    static constexpr std::string_view names[4] = {"client_no_context_takeover", "server_no_context_takeover",
                                                  "client_max_window_bits", "server_max_window_bits"};
    const int index = static_cast<int>(
        std::find_if(std::begin(names), std::end(names), [&](std::string_view n) { return iequals(name, n); }) -
        std::begin(names));
    if (index == 4) {
      error = "unknown permessage-deflate parameter: " + std::string(item);
      return false;
    }
    if (seen[index]) {
      error = "repeated permessage-deflate parameter: " + std::string(name);
      return false;
    }
    seen[index] = true;
    if (index < 2) {
      if (!value.empty()) {
        error = "permessage-deflate parameter with a value: " + std::string(item);
        return false;
      }
      (index == 0 ? out.client_no_context_takeover : out.server_no_context_takeover) = true;
      continue;
    }
    // RFC 7692 7.1.2: a window size is 8..15 and is required in an answer.
    const bool digits = !value.empty() && value.size() <= 2 &&
                        std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    const int bits = digits ? std::stoi(std::string(value)) : 0;
    if (bits < 8 || bits > 15) {
      error = "permessage-deflate window size out of 8..15: " + std::string(item);
      return false;
    }
    if (bits == 8) {
      error = "permessage-deflate window of 8 bits (" + std::string(name) + "): not supported";
      return false;
    }
    (index == 2 ? out.client_max_window_bits : out.server_max_window_bits) = bits;
  }
  if (first) {
    error = "empty Sec-WebSocket-Extensions answer";
    return false;
  }
  return true;
}

struct MessageDeflate::Streams {
  zlib::deflate_stream deflater;
  zlib::inflate_stream inflater;
};

MessageDeflate::MessageDeflate(const DeflateParams& params) : streams_(std::make_unique<Streams>()), params_(params) {
  streams_->deflater.reset(compression_level, params_.client_max_window_bits, memory_level, zlib::Strategy::normal);
  streams_->inflater.reset(params_.server_max_window_bits);
}

MessageDeflate::~MessageDeflate() = default;

void MessageDeflate::compress(std::string_view message, std::string& out) {
  zlib::z_params zs;
  zs.next_in = message.data();
  zs.avail_in = message.size();
  const std::size_t start = out.size();
  while (true) {
    // A sync flush needs more than six bytes of room to finish (deflate_stream::write); JSON rarely grows.
    const std::size_t room = std::max<std::size_t>(zs.avail_in + zs.avail_in / 8 + 64, 256);
    const std::size_t at = out.size();
    out.resize(at + room);
    zs.next_out = out.data() + at;
    zs.avail_out = room;
    boost::system::error_code ec;
    streams_->deflater.write(zs, zlib::Flush::sync, ec);
    out.resize(out.size() - zs.avail_out);
    if (ec && ec != zlib::error::need_buffers) break;  // not expected for in-memory input
    if (zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  // The sync flush ends in the empty stored block 00 00 ff ff, which the frame leaves out.
  if (out.size() - start >= 4 &&
      std::equal(tail, tail + 4, reinterpret_cast<const unsigned char*>(out.data()) + out.size() - 4)) {
    out.resize(out.size() - 4);
  }
  if (params_.client_no_context_takeover) streams_->deflater.reset();
}

bool MessageDeflate::inflate(const void* data, std::size_t size, std::string& out) {
  zlib::z_params zs;
  zs.next_in = data;
  zs.avail_in = size;
  while (true) {
    const std::size_t room = std::max<std::size_t>(4 * zs.avail_in, 16384);
    const std::size_t at = out.size();
    out.resize(at + room);
    zs.next_out = out.data() + at;
    zs.avail_out = room;
    boost::system::error_code ec;
    streams_->inflater.write(zs, zlib::Flush::sync, ec);
    out.resize(out.size() - zs.avail_out);
    if (ec == zlib::error::end_of_stream) {
      // A final block (allowed, RFC 7692 7.2.3.3): the next message starts a new stream.
      streams_->inflater.reset(params_.server_max_window_bits);
      if (zs.avail_in != 0) {
        error_ = "permessage-deflate: data after a final block";
        return false;
      }
      return true;
    }
    if (ec && ec != zlib::error::need_buffers) {
      error_ = "permessage-deflate: " + ec.message();
      return false;
    }
    if (zs.avail_in == 0 && zs.avail_out != 0) return true;
  }
}

bool MessageDeflate::decompress(std::string_view part, std::string& out) {
  return part.empty() || inflate(part.data(), part.size(), out);
}

bool MessageDeflate::end_message(std::string& out) {
  if (!inflate(tail, sizeof tail, out)) return false;
  if (params_.server_no_context_takeover) streams_->inflater.reset(params_.server_max_window_bits);
  return true;
}

}  // namespace loadgen::websocket
