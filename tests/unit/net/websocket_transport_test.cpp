// WebSocketTransport with byte strings alone (it is sans-I/O): the upgrade and its refusals, http_dir and every way
// out of it, frames split and coalesced, control frames, bad frames and their close codes, permessage-deflate.
#include "broker/net/websocket_transport.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"
#include "tests/support/websocket_frames.hpp"

namespace tern::net {
namespace {

using Status = Transport::Status;

std::shared_ptr<WebSocketTransport::Settings> settings() { return std::make_shared<WebSocketTransport::Settings>(); }

std::string upgrade_request(std::string_view extra = "Sec-WebSocket-Protocol: mqtt\r\n",
                            std::string_view target = "/mqtt") {
  std::string r = "GET " + std::string(target) + " HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n";
  r += "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  r += "Sec-WebSocket-Version: 13\r\n";
  r += extra;
  r += "\r\n";
  return r;
}

std::string frame(std::uint8_t opcode, std::string_view payload, bool fin = true, bool masked = true,
                  std::uint8_t rsv = 0) {
  return testsupport::websocket_frame(opcode, payload, fin, masked, rsv);
}

struct Opened {
  std::unique_ptr<WebSocketTransport> transport;
  std::string response;
};

Opened open_with(std::shared_ptr<WebSocketTransport::Settings> s, const std::string& request) {
  Opened o{std::make_unique<WebSocketTransport>(std::move(s)), {}};
  const auto result = o.transport->open(request, o.response);
  EXPECT_EQ(result.status, Status::ok) << result.reason << "\n" << o.response;
  return o;
}

// Every MQTT byte the transport gives for `wire`, fed in pieces of `piece` bytes, read `chunk` bytes at a time.
struct Decoded {
  std::string bytes;
  Status last = Status::want_read;
  std::string reason;
};
Decoded decode(Transport& t, std::string_view wire, std::size_t piece = 1 << 20, std::size_t chunk = 65536) {
  Decoded d;
  std::vector<char> buffer(chunk);
  std::size_t at = 0;
  for (int guard = 0; guard < 10'000'000; ++guard) {
    if (!t.pending()) {
      if (at == wire.size()) return d;
      const std::size_t n = std::min(piece, wire.size() - at);
      std::string copy(wire.substr(at, n));  // the transport must not keep pointing into a buffer that is reused
      t.feed(copy);
      at += n;
      const auto r = t.read(buffer);
      std::fill(copy.begin(), copy.end(), '\xEE');
      if (r.status == Status::ok) d.bytes.append(buffer.data(), r.size);
      d.last = r.status;
      if (r.status == Status::closed || r.status == Status::failed) {
        d.reason = r.reason;
        return d;
      }
      continue;
    }
    const auto r = t.read(buffer);
    if (r.status == Status::ok) d.bytes.append(buffer.data(), r.size);
    d.last = r.status;
    if (r.status == Status::closed || r.status == Status::failed) {
      d.reason = r.reason;
      return d;
    }
  }
  ADD_FAILURE() << "decode did not end";
  return d;
}

std::string control_output(Transport& t) {
  std::string out, failure;
  t.write_some({}, out, 65536, failure);
  EXPECT_TRUE(failure.empty());
  return out;
}

std::string close_frame(std::uint16_t code) { return testsupport::websocket_close_frame(code); }

TEST(WebSocketTransportTest, AcceptKeyIsTheRfcExample) {
  EXPECT_EQ(WebSocketTransport::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketTransportTest, UpgradeAnswers101WithTheMqttSubprotocol) {
  auto o = open_with(settings(), upgrade_request());
  EXPECT_TRUE(o.response.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << o.response;
  EXPECT_NE(o.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(o.response.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
  EXPECT_EQ(o.response.find("Sec-WebSocket-Extensions"), std::string::npos);  // compression is off by default

  auto old = open_with(settings(), upgrade_request("Sec-WebSocket-Protocol: mqttv3.1\r\n"));
  EXPECT_NE(old.response.find("Sec-WebSocket-Protocol: mqttv3.1\r\n"), std::string::npos);
  auto both = open_with(settings(), upgrade_request("Sec-WebSocket-Protocol: chat, mqttv3.1, mqtt\r\n"));
  EXPECT_NE(both.response.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
}

TEST(WebSocketTransportTest, TheRequestMayArriveByteByByteWithFramesRightBehindIt) {
  WebSocketTransport t(settings());
  const std::string connect =
      "\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01"
      "a";
  const std::string wire = upgrade_request() + frame(0x2, connect);
  std::string out;
  Transport::Result result{Status::want_read, 0, {}};
  std::size_t i = 0;
  for (; i < wire.size() && result.status == Status::want_read; ++i) result = t.open(wire.substr(i, 1), out);
  ASSERT_EQ(result.status, Status::ok) << result.reason;
  ASSERT_TRUE(out.starts_with("HTTP/1.1 101"));
  // What came after the request (here the first frame's first byte) is read as frames.
  std::string rest = wire.substr(i);
  Decoded d;
  if (t.pending()) {
    std::vector<char> buffer(100);
    auto r = t.read(buffer);
    ASSERT_EQ(r.status, Status::want_read);
  }
  d = decode(t, rest);
  EXPECT_EQ(d.bytes, connect);
}

struct Refusal {
  std::string request;
  std::string status_line;
  std::string header;  // a header line the answer must have ("" for none)
};

TEST(WebSocketTransportTest, BadUpgradesGetAClearHttpStatus) {
  const std::string v13 = "Sec-WebSocket-Version: 13\r\n";
  const std::vector<Refusal> cases = {
      {upgrade_request(""), "HTTP/1.1 400", ""},                                        // no subprotocol
      {upgrade_request("Sec-WebSocket-Protocol: chat\r\n"), "HTTP/1.1 400", ""},        // not mqtt
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426", "Upgrade: websocket\r\n"},  // plain HTTP, no http_dir
      {"POST /mqtt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405", "Allow: GET\r\n"},
      {"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
       "\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
       "HTTP/1.1 426", "Sec-WebSocket-Version: 13\r\n"},
      {"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n" + v13 +
           "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
       "HTTP/1.1 400", ""},  // a key that is not 16 bytes
      {"GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + v13 +
           "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
       "HTTP/1.1 400", ""},  // no Connection: Upgrade
      {"GARBAGE\x01\x02 nonsense\r\n\r\n", "HTTP/1.1 400", ""},
      {std::string("\x10\x0d\x00\x04MQTT", 8), "HTTP/1.1 400", ""},  // an MQTT client: told at once
      {upgrade_request("X-Padding: " + std::string(5000, 'a') + "\r\nSec-WebSocket-Protocol: mqtt\r\n"), "HTTP/1.1 431",
       ""},
  };
  for (const auto& c : cases) {
    WebSocketTransport t(settings());
    std::string out;
    const auto result = t.open(c.request, out);
    EXPECT_EQ(result.status, Status::failed) << c.request;
    EXPECT_FALSE(result.reason.empty());
    EXPECT_TRUE(out.starts_with(c.status_line)) << c.request << "\n-> " << out;
    if (!c.header.empty()) {
      EXPECT_NE(out.find(c.header), std::string::npos) << out;
    }
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  }
}

TEST(WebSocketTransportTest, HeadersOverTheLimitAreRefusedBeforeTheyEnd) {
  auto s = settings();
  s->headers_size = 256;
  WebSocketTransport t(s);
  std::string out;
  auto result = t.open("GET /mqtt HTTP/1.1\r\n", out);
  EXPECT_EQ(result.status, Status::want_read);
  result = t.open("X-Long: " + std::string(300, 'b'), out);  // no end of headers yet, already too long
  EXPECT_EQ(result.status, Status::failed);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out;
}

TEST(WebSocketTransportTest, WebsocketsPathLimitsTheUpgrade) {
  auto s = settings();
  s->path = "/mqtt";
  open_with(s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\n", "/mqtt?x=1"));
  WebSocketTransport t(s);
  std::string out;
  EXPECT_EQ(t.open(upgrade_request("Sec-WebSocket-Protocol: mqtt\r\n", "/other"), out).status, Status::failed);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 404")) << out;
}

// --- http_dir ------------------------------------------------------------------------------------------------------

struct HttpDir : ::testing::Test {
  void SetUp() override {
    root = temp.path() / "www";
    std::filesystem::create_directories(root / "sub");
    std::ofstream(root / "index.html") << "<h1>gateway</h1>";
    std::ofstream(root / "app.js") << "console.log(1)";
    std::ofstream(root / "sub" / "data.json") << "{}";
    std::ofstream(temp.path() / "secret.txt") << "secret";
    std::filesystem::create_symlink(temp.path() / "secret.txt", root / "leak.txt");
    std::filesystem::create_symlink(temp.path(), root / "up");
    std::filesystem::create_symlink(root / "app.js", root / "alias.js");
    s = settings();
    s->http_dir = std::filesystem::canonical(root).string();
  }
  std::string get(std::string_view target, std::string_view method = "GET", Status* status = nullptr) {
    WebSocketTransport t(s);
    std::string out;
    const auto r = t.open(std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n", out);
    if (status) *status = r.status;
    return out;
  }
  testsupport::TempDir temp{"tern-ws"};
  std::filesystem::path root;
  std::shared_ptr<WebSocketTransport::Settings> s;
};

TEST_F(HttpDir, ServesFilesWithTheirTypeAndEndsTheConnection) {
  Status status{};
  std::string out = get("/", "GET", &status);
  EXPECT_EQ(status, Status::closed);  // served: the connection ends, not counted as a failure
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
  EXPECT_NE(out.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 16\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n<h1>gateway</h1>"));
  EXPECT_TRUE(get("/app.js?v=3").ends_with("console.log(1)"));
  EXPECT_NE(get("/app.js").find("text/javascript"), std::string::npos);
  EXPECT_TRUE(get("/sub/data.json").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(get("/sub%2Fdata.json").starts_with("HTTP/1.1 200"));
  EXPECT_TRUE(get("/alias.js").starts_with("HTTP/1.1 200"));  // a link that stays inside is fine
}

TEST_F(HttpDir, NothingOutsideTheFolderIsEverServed) {
  for (const std::string target :
       {"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
        "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/leak.txt", "/up/secret.txt", "/%00",
        "/..\\secret.txt", "/sub/..%5c..%5csecret.txt", "/%2", "/%zz"}) {
    const std::string out = get(target);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 403") || out.starts_with("HTTP/1.1 404")) << target << " -> " << out;
    EXPECT_EQ(out.find("secret"), std::string::npos) << target;
  }
  EXPECT_TRUE(get("/up/secret.txt").starts_with("HTTP/1.1 403"));  // through a link to the parent
  EXPECT_TRUE(get("/absent.html").starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(get("/sub").starts_with("HTTP/1.1 404"));                 // a directory
  EXPECT_TRUE(get("http://x/index.html").starts_with("HTTP/1.1 403"));  // absolute form: not a path
}

TEST_F(HttpDir, OtherMethodsGet405) {
  for (const std::string method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    EXPECT_TRUE(get("/index.html", method).starts_with("HTTP/1.1 405")) << method;
  }
}

// --- Frames --------------------------------------------------------------------------------------------------------

const std::string connect_packet = std::string("\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01", 14) + "a";

TEST(WebSocketTransportTest, FramesMaySplitAndCoalescePacketsAnyHow) {
  std::string stream;
  for (int i = 0; i < 50; ++i) stream += connect_packet;  // any byte stream
  // One frame for all, a frame per packet, and odd-sized frames cutting packets, as one message or many.
  std::vector<std::string> wires;
  wires.push_back(frame(0x2, stream));
  std::string per_packet, odd_messages, odd_fragments;
  for (int i = 0; i < 50; ++i) per_packet += frame(0x2, connect_packet);
  for (std::size_t at = 0, n = 1; at < stream.size(); at += n, n = n % 37 + 3) {
    const std::string piece = stream.substr(at, n);
    odd_messages += frame(0x2, piece);
    const bool first = at == 0;
    const bool last = at + n >= stream.size();
    odd_fragments += frame(first ? 0x2 : 0x0, piece, last);
  }
  wires.push_back(per_packet);
  wires.push_back(odd_messages);
  wires.push_back(odd_fragments);
  wires.push_back(frame(0x2, "") + frame(0x2, stream));  // an empty frame is nothing
  for (const auto& wire : wires) {
    for (const std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{4096}}) {
      for (const std::size_t chunk : {std::size_t{1}, std::size_t{5}, std::size_t{65536}}) {
        auto o = open_with(settings(), upgrade_request());
        const Decoded d = decode(*o.transport, wire, piece, chunk);
        EXPECT_EQ(d.bytes, stream) << "piece " << piece << " chunk " << chunk;
        EXPECT_EQ(d.last == Status::ok || d.last == Status::want_read, true);
      }
    }
  }
}

TEST(WebSocketTransportTest, LongFramesUseTheLongerLengthForms) {
  std::string payload(70000, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  auto o = open_with(settings(), upgrade_request());
  EXPECT_EQ(decode(*o.transport, frame(0x2, payload.substr(0, 300)) + frame(0x2, payload), 1000).bytes,
            payload.substr(0, 300) + payload);
}

TEST(WebSocketTransportTest, PingsAreAnsweredWithOnePongForTheLatest) {
  auto o = open_with(settings(), upgrade_request());
  auto& t = *o.transport;
  const Decoded d = decode(t, frame(0x9, "one") + frame(0x2, connect_packet) + frame(0x9, "two") + frame(0xA, "x"));
  EXPECT_EQ(d.bytes, connect_packet);
  ASSERT_TRUE(t.wants_write());
  EXPECT_EQ(control_output(t), std::string("\x8A\x03two", 5));
  EXPECT_FALSE(t.wants_write());
}

TEST(WebSocketTransportTest, ACloseFrameIsAnsweredAndEndsTheStream) {
  auto o = open_with(settings(), upgrade_request());
  auto& t = *o.transport;
  const Decoded d = decode(t, frame(0x2, connect_packet) + frame(0x8, std::string("\x03\xE9", 2)) + frame(0x2, "late"));
  EXPECT_EQ(d.bytes, connect_packet);  // what came before the close is delivered first
  EXPECT_EQ(d.last, Status::closed);
  EXPECT_EQ(control_output(t), close_frame(1001));
  std::string out, failure;
  t.close(out);
  EXPECT_TRUE(out.empty());                                // one close frame only
  EXPECT_EQ(t.write_some("more", out, 100, failure), 4u);  // nothing may follow it
  EXPECT_TRUE(out.empty());
}

struct BadFrame {
  std::string wire;
  std::uint16_t code;
};

TEST(WebSocketTransportTest, BadFramesFailWithTheirCloseCode) {
  std::string payload_200(200, 'p');
  const std::vector<BadFrame> cases = {
      {frame(0x1, "text"), 1003},
      {frame(0x2, connect_packet, true, false), 1002},   // unmasked
      {frame(0x2, "x", true, true, 0x20), 1002},         // RSV2
      {frame(0x2, "x", true, true, 0x40), 1002},         // RSV1 without compression
      {frame(0x0, "x"), 1002},                           // continuation without a message
      {frame(0x2, "x", false) + frame(0x2, "y"), 1002},  // new message inside one
      {frame(0x9, "x", false), 1002},                    // fragmented ping
      {frame(0x9, payload_200), 1002},                   // ping over 125 bytes
      {frame(0x3, "x"), 1002},                           // reserved data opcode
      {frame(0xB, "x"), 1002},                           // reserved control opcode
      {frame(0x8, "\x03"), 1002},                        // close with one byte
      {frame(0x2, std::string(2000, 'z')), 1009},        // over max_frame
  };
  for (const auto& c : cases) {
    auto s = settings();
    s->max_frame = 1000;
    auto o = open_with(s, upgrade_request());
    const Decoded d = decode(*o.transport, c.wire);
    EXPECT_EQ(d.last, Status::failed) << c.code;
    EXPECT_FALSE(d.reason.empty());
    EXPECT_EQ(control_output(*o.transport), close_frame(c.code)) << d.reason;
  }
}

TEST(WebSocketTransportTest, DataBeforeABadFrameIsDeliveredFirst) {
  auto o = open_with(settings(), upgrade_request());
  const Decoded d = decode(*o.transport, frame(0x2, connect_packet) + frame(0x1, "text"));
  EXPECT_EQ(d.bytes, connect_packet);
  EXPECT_EQ(d.last, Status::failed);
}

// A packet of `size` bytes in all (at least 2): a PUBLISH's fixed header and `fill` after it. The transport frames
// by the fixed header alone.
std::string publish_packet(std::size_t size, char fill = 'p') {
  for (std::size_t length_bytes = 1; length_bytes <= 4; ++length_bytes) {
    std::size_t remaining = size - 1 - length_bytes;
    std::string header(1, '\x30');
    const std::size_t body = remaining;
    do {
      std::uint8_t byte = remaining & 0x7F;
      remaining >>= 7;
      if (remaining != 0) byte |= 0x80;
      header.push_back(static_cast<char>(byte));
    } while (remaining != 0);
    if (header.size() == 1 + length_bytes) return header + std::string(body, fill);
  }
  ADD_FAILURE() << "no packet of " << size << " bytes";
  return {};
}

// The frames of a server's `wire` bytes: (first byte, payload).
std::vector<std::pair<std::uint8_t, std::string>> server_frames(std::string_view wire) {
  std::vector<std::pair<std::uint8_t, std::string>> frames;
  while (wire.size() >= 2) {
    const auto b0 = static_cast<std::uint8_t>(wire[0]);
    std::uint64_t length = static_cast<std::uint8_t>(wire[1]);
    std::size_t at = 2;
    EXPECT_EQ(length & 0x80, 0u) << "a server frame is never masked";
    if (length == 126) {
      length = (std::uint64_t{static_cast<std::uint8_t>(wire[2])} << 8) | static_cast<std::uint8_t>(wire[3]);
      at = 4;
    } else if (length == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(wire[2 + i]);
      at = 10;
    }
    if (wire.size() < at + length) break;
    frames.emplace_back(b0, std::string(wire.substr(at, length)));
    wire.remove_prefix(at + length);
  }
  EXPECT_TRUE(wire.empty()) << "a frame cut short";
  return frames;
}

TEST(WebSocketTransportTest, WritesAreUnmaskedBinaryFramesOfOnePacketEach) {
  auto o = open_with(settings(), upgrade_request());
  auto& t = *o.transport;
  std::string out, failure;
  // Three packets in one batch, of each frame length form: one message each.
  const std::string a = publish_packet(5), b = publish_packet(300), c = publish_packet(70000);
  const std::string batch = a + b + c;
  std::size_t taken = t.write_some(batch, out, 65536, failure);
  EXPECT_EQ(taken, 65536u);  // the slice ends inside the large packet
  auto frames = server_frames(out);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], std::make_pair(std::uint8_t{0x82}, a));
  EXPECT_EQ(out.substr(0, 2), std::string("\x82\x05", 2));
  EXPECT_EQ(frames[1], std::make_pair(std::uint8_t{0x82}, b));
  EXPECT_EQ(out.substr(7, 4), std::string("\x82\x7E\x01\x2C", 4));
  EXPECT_EQ(frames[2].first, 0x02);  // binary, more to come
  EXPECT_EQ(frames[2].second, c.substr(0, 65536 - 305));
  // The rest of the large packet continues its message, then a small packet is a message again.
  const std::string d = publish_packet(2);
  const std::string rest = batch.substr(taken) + d;
  out.clear();
  taken = t.write_some(rest, out, 65536, failure);
  EXPECT_EQ(taken, rest.size());
  frames = server_frames(out);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], std::make_pair(std::uint8_t{0x80}, c.substr(65536 - 305)));  // continuation, FIN
  EXPECT_EQ(frames[1], std::make_pair(std::uint8_t{0x82}, d));
  // A packet over 64 KiB in one slice of its own: a message of one frame with the 8-byte length.
  out.clear();
  EXPECT_EQ(t.write_some(c, out, 1 << 20, failure), c.size());
  EXPECT_EQ(out.substr(0, 10), std::string("\x82\x7F\x00\x00\x00\x00\x00\x01\x11\x70", 10));
  EXPECT_TRUE(failure.empty());
  out.clear();
  t.close(out);
  EXPECT_EQ(out, close_frame(1000));
}

TEST(WebSocketTransportTest, ASliceOfManySmallPacketsIsAFrameEach) {
  auto o = open_with(settings(), upgrade_request());
  std::string batch, out, failure;
  for (int i = 0; i < 1000; ++i) {
    batch += publish_packet(i % 2 == 0 ? 4 + i % 100 : 200 + i % 100, static_cast<char>('a' + i % 26));
  }
  std::size_t at = 0;
  for (int call = 0; call < 1000 && at < batch.size(); ++call) {
    at += o.transport->write_some(std::string_view(batch).substr(at), out, 1000, failure);
  }
  ASSERT_EQ(at, batch.size());
  std::string joined;
  std::size_t messages = 0;
  for (const auto& [b0, payload] : server_frames(out)) {
    if ((b0 & 0x0F) == 0x02) ++messages;
    if (b0 == 0x82) {
      EXPECT_EQ(payload, publish_packet(payload.size(), payload.back()));  // a whole packet
    }
    joined += payload;
  }
  EXPECT_EQ(messages, 1000u);
  EXPECT_EQ(joined, batch);
}

// --- permessage-deflate --------------------------------------------------------------------------------------------

std::string deflate(std::string_view message) { return testsupport::websocket_deflate(message); }
std::string inflate(std::string_view compressed) { return testsupport::websocket_inflate(compressed); }

std::string json_messages(int count) {
  std::string s;
  for (int i = 0; i < count; ++i) {
    s += R"({"sensor":"greenhouse/)" + std::to_string(i % 7) + R"(","temperature":)" + std::to_string(20 + i % 5) +
         R"(.5,"humidity":)" + std::to_string(40 + i % 11) + R"(,"battery":"ok"})";
  }
  return s;
}

TEST(WebSocketTransportTest, PermessageDeflateIsAgreedOnlyWhenOnAndOffered) {
  const std::string offer =
      "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  auto off = open_with(settings(), upgrade_request(offer));
  EXPECT_EQ(off.response.find("Sec-WebSocket-Extensions"), std::string::npos);
  EXPECT_FALSE(off.transport->compressed());

  auto s = settings();
  s->compression = true;
  auto on = open_with(s, upgrade_request(offer));
  EXPECT_TRUE(on.transport->compressed());
  EXPECT_NE(on.response.find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover; client_max_window_bits=15\r\n"),
            std::string::npos)
      << on.response;

  auto none = open_with(s, upgrade_request());  // the client offers nothing
  EXPECT_FALSE(none.transport->compressed());
  // An offer Tern cannot honour (a smaller server window than its own, an unknown parameter) is declined; the next
  // acceptable offer is taken.
  auto small = open_with(s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: "
                                            "permessage-deflate; server_max_window_bits=9, permessage-deflate; "
                                            "x_unknown, permessage-deflate; client_max_window_bits=10\r\n"));
  EXPECT_TRUE(small.transport->compressed());
  EXPECT_NE(small.response.find("client_max_window_bits=10\r\n"), std::string::npos) << small.response;
  auto declined = open_with(s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: "
                                               "permessage-deflate; server_max_window_bits=9\r\n"));
  EXPECT_FALSE(declined.transport->compressed());
}

TEST(WebSocketTransportTest, CompressedMessagesInflateHoweverTheyArrive) {
  auto s = settings();
  s->compression = true;
  const std::string message = json_messages(400);  // ~30 KB that inflate from far less
  const std::string compressed = deflate(message);
  ASSERT_LT(compressed.size(), message.size() / 4);
  std::string split;  // the compressed message over three frames: RSV1 on the first only
  split += frame(0x2, compressed.substr(0, 10), false, true, 0x40);
  split += frame(0x0, compressed.substr(10, 100), false);
  split += frame(0x0, compressed.substr(110), true);
  const std::string wire = frame(0x2, compressed, true, true, 0x40) + frame(0x2, "plain") + split +
                           frame(0x2, deflate("x"), true, true, 0x40);
  for (const std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{65536}}) {
    for (const std::size_t chunk : {std::size_t{7}, std::size_t{65536}}) {
      auto o = open_with(
          s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
      const Decoded d = decode(*o.transport, wire, piece, chunk);
      EXPECT_EQ(d.last == Status::ok || d.last == Status::want_read, true) << d.reason;
      EXPECT_TRUE(d.bytes == message + "plain" + message + "x") << "piece " << piece << " chunk " << chunk;
    }
  }
}

TEST(WebSocketTransportTest, WritesAreDeflatedAndInflateBack) {
  auto s = settings();
  s->compression = true;
  auto o =
      open_with(s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
  const std::string message = json_messages(100);
  std::string out, failure;
  ASSERT_EQ(o.transport->write_some(message, out, 65536, failure), message.size());
  ASSERT_TRUE(failure.empty());
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0xC2);  // FIN, RSV1, binary
  const std::size_t header = (out[1] & 0x7F) == 126 ? 4 : 2;
  EXPECT_LT(out.size(), message.size() / 4);
  EXPECT_EQ(inflate(out.substr(header)), message);
  // No context is taken over: the next message inflates on its own too.
  out.clear();
  const std::string second = json_messages(2);
  ASSERT_EQ(o.transport->write_some(second, out, 65536, failure), second.size());
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0xC2);
  EXPECT_EQ(inflate(out.substr(2)), second);
  // A small one is not worth deflating: a plain binary frame (RSV1 clear), as the extension allows.
  out.clear();
  ASSERT_EQ(o.transport->write_some("tiny", out, 65536, failure), 4u);
  EXPECT_EQ(out, std::string("\x82\x04tiny", 6));
}

TEST(WebSocketTransportTest, ACorruptCompressedMessageFailsWith1007) {
  auto s = settings();
  s->compression = true;
  auto o =
      open_with(s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
  const Decoded d = decode(*o.transport, frame(0x2, std::string("\xFF\xFF\xFF\xFF\xFF\xFF", 6), true, true, 0x40));
  EXPECT_EQ(d.last, Status::failed);
  EXPECT_EQ(control_output(*o.transport), close_frame(1007));
}

TEST(WebSocketTransportTest, RandomFramingNeverCrashes) {
  std::mt19937 random(12345);
  for (int round = 0; round < 300; ++round) {
    auto s = settings();
    s->compression = round % 2 == 0;
    s->max_frame = 4096;
    auto o = open_with(
        s, upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
    std::string wire;
    const int frames = 1 + static_cast<int>(random() % 6);
    for (int f = 0; f < frames; ++f) {
      std::string payload(random() % 300, '\0');
      for (auto& c : payload) c = static_cast<char>(random());
      wire += frame(static_cast<std::uint8_t>(random() % 16), payload, random() % 4 != 0, random() % 8 != 0,
                    static_cast<std::uint8_t>((random() % 8) << 4));
    }
    if (round % 3 == 0) wire[random() % wire.size()] = static_cast<char>(random());
    const Decoded d = decode(*o.transport, wire, 1 + random() % 50, 1 + random() % 100);
    if (d.last == Status::failed) {
      EXPECT_TRUE(o.transport->wants_write());
    }
  }
}

}  // namespace
}  // namespace tern::net
