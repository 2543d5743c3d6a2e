// MQTT over WebSockets against the real broker: Paho MQTT C++ over ws:// and wss:// (QoS 0/1/2, 3.1.1 and 5.0)
// talking with TCP clients both ways, then a raw WebSocket client that sends exact bytes: frames split and
// coalesced, ping and close, every kind of bad input (each answered with its HTTP status or close code while a
// bystander on TCP is still served), http_dir over the socket, and permessage-deflate with a client that offers it
// and one that does not. The browser test (tests/browser) is the third peer.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/websocket_frames.hpp"

namespace tern::itest {
namespace {

using testsupport::websocket_close_frame;
using testsupport::websocket_frame;

// Listeners after the harness's plain one: [1] ws://, [2] wss://, [3] ws:// with compression, http_dir and a
// small max_packet_size for the whole broker.
struct Ports {
  std::uint16_t tcp, ws, wss, ws_extra;
};

std::vector<std::string> websocket_config(const std::filesystem::path& www) {
  return {"max_packet_size 20000",
          "listener 0 127.0.0.1",
          "protocol websockets",
          "listener 0 127.0.0.1",
          "protocol websockets",
          "certfile " + (test_certs() / "server.crt").string(),
          "keyfile " + (test_certs() / "server.key").string(),
          "listener 0 127.0.0.1",
          "protocol websockets",
          "websockets_compression true",
          "http_dir " + www.string()};
}

std::filesystem::path make_www(const std::filesystem::path& dir) {
  const auto www = dir / "www";
  std::filesystem::create_directories(www);
  std::ofstream(www / "index.html") << "<!doctype html><title>gateway</title>";
  std::ofstream(dir / "secret.txt") << "not for the web";
  return www;
}

Ports ports_of(const BrokerProcess& broker) {
  const auto p = broker.ports();
  if (p.size() != 4) throw HarnessError("expected 4 listeners; log:\n" + broker.log());
  return {p[0], p[1], p[2], p[3]};
}

// A raw WebSocket client over TCP: exact bytes out, frames in, every read on a deadline.
class WsSocket {
 public:
  explicit WsSocket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw HarnessError("cannot connect to " + std::to_string(port));
    }
  }
  ~WsSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  WsSocket(const WsSocket&) = delete;
  WsSocket& operator=(const WsSocket&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw HarnessError("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads into in_ until `done(in_)` or the peer closes or the deadline passes; false on the deadline.
  template <class Done>
  bool read_until(Done done, std::chrono::milliseconds timeout = answer_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(in_)) {
      if (closed_) return true;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        closed_ = true;
        continue;
      }
      in_.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }

  // The HTTP response's header (and with `whole`, everything until the server closes).
  std::string http(const std::string& request, bool whole = false) {
    send(request);
    if (!read_until([&](const std::string& in) { return !whole && in.find("\r\n\r\n") != std::string::npos; })) {
      throw HarnessError("no HTTP response to:\n" + request);
    }
    const auto end = in_.find("\r\n\r\n");
    if (whole || end == std::string::npos) return std::exchange(in_, {});
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    return head;
  }

  std::string upgrade(const std::string& extra = "Sec-WebSocket-Protocol: mqtt\r\n") {
    std::string head = http(upgrade_request(extra));
    if (!head.starts_with("HTTP/1.1 101")) throw HarnessError("upgrade refused:\n" + head);
    return head;
  }

  static std::string upgrade_request(const std::string& extra, const std::string& target = "/mqtt") {
    return "GET " + target +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           extra + "\r\n";
  }

  struct Frame {
    std::uint8_t first = 0;  // FIN, RSV, opcode
    std::string payload;
    std::uint8_t opcode() const { return first & 0x0F; }
  };
  // The next server frame; nullopt when the connection closed or nothing came in time.
  std::optional<Frame> read_frame(std::chrono::milliseconds timeout = answer_timeout) {
    std::size_t total = 0;
    auto complete = [&](const std::string& in) {
      if (in.size() < 2) return false;
      const auto b1 = static_cast<std::uint8_t>(in[1]);
      if (b1 & 0x80) throw HarnessError("the server masked a frame");
      std::size_t header = 2;
      std::uint64_t length = b1 & 0x7F;
      if (length == 126) {
        if (in.size() < 4) return false;
        length = (std::uint64_t(std::uint8_t(in[2])) << 8) | std::uint8_t(in[3]);
        header = 4;
      } else if (length == 127) {
        if (in.size() < 10) return false;
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | std::uint8_t(in[i]);
        header = 10;
      }
      total = header + length;
      return in.size() >= total;
    };
    if (!read_until(complete, timeout) || !complete(in_)) return std::nullopt;
    Frame f;
    f.first = static_cast<std::uint8_t>(in_[0]);
    const std::uint8_t length7 = std::uint8_t(in_[1]) & 0x7F;
    const std::size_t start = length7 == 127 ? 10 : length7 == 126 ? 4 : 2;
    f.payload = in_.substr(start, total - start);
    in_.erase(0, total);
    return f;
  }

  // The MQTT bytes of binary frames until `size` of them came (inflating compressed ones).
  std::string read_mqtt(std::size_t size) {
    std::string bytes;
    while (bytes.size() < size) {
      auto f = read_frame();
      if (!f) throw HarnessError("connection ended after " + std::to_string(bytes.size()) + " MQTT bytes");
      if (f->opcode() != 0x2 && f->opcode() != 0x0)
        throw HarnessError("a non-binary frame: " + std::to_string(f->opcode()));
      bytes += (f->first & 0x40) ? inflate(f->payload) : f->payload;
    }
    return bytes;
  }

  bool wait_closed(std::chrono::milliseconds timeout = answer_timeout) {
    read_until([](const std::string&) { return false; }, timeout);
    return closed_;
  }

  static std::string inflate(std::string_view compressed) { return testsupport::websocket_inflate(compressed); }

 private:
  int fd_ = -1;
  std::string in_;
  bool closed_ = false;
};

std::string connect_bytes(const std::string& client_id, Version version = Version::v311) {
  return protocol::encode(RawClient::make_connect(version, client_id), version);
}

const std::string connack_accepted_v311("\x20\x02\x00\x00", 4);

class WebSocketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    www_ = make_www(dir_.path());
    broker_.emplace(websocket_config(www_));
    ports_ = ports_of(*broker_);
  }
  testsupport::TempDir dir_{"tern-ws-it"};
  std::filesystem::path www_;
  std::optional<BrokerProcess> broker_;
  Ports ports_{};
};

// --- Paho over ws:// and wss:// ------------------------------------------------------------------------------------

class WebSocketsPahoTest : public ::testing::TestWithParam<Version> {
 protected:
  void SetUp() override {
    www_ = make_www(dir_.path());
    broker_.emplace(websocket_config(www_));
    ports_ = ports_of(*broker_);
  }
  // Messages both ways between `ws` and a TCP client, at every QoS.
  void exchange(PahoClient& ws, const std::string& topic) {
    const Version v = GetParam();
    PahoClient tcp(ports_.tcp, topic + "-tcp", v);
    tcp.connect();
    ws.connect();
    ws.subscribe(topic + "/to-ws", 2);
    tcp.subscribe(topic + "/to-tcp", 2);
    for (int qos = 0; qos <= 2; ++qos) {
      tcp.publish(topic + "/to-ws", "from tcp at qos " + std::to_string(qos), qos);
      ws.publish(topic + "/to-tcp", "from ws at qos " + std::to_string(qos), qos);
    }
    ASSERT_TRUE(ws.received().wait_for(3, 15s)) << broker_->log();
    ASSERT_TRUE(tcp.received().wait_for(3, 15s)) << broker_->log();
    std::multiset<std::string> to_ws, to_tcp;
    for (const auto& m : ws.received().messages()) to_ws.insert(m->to_string() + "/" + std::to_string(m->get_qos()));
    for (const auto& m : tcp.received().messages()) to_tcp.insert(m->to_string() + "/" + std::to_string(m->get_qos()));
    EXPECT_EQ(to_ws, (std::multiset<std::string>{"from tcp at qos 0/0", "from tcp at qos 1/1", "from tcp at qos 2/2"}));
    EXPECT_EQ(to_tcp, (std::multiset<std::string>{"from ws at qos 0/0", "from ws at qos 1/1", "from ws at qos 2/2"}));
    // A large message spans many frames and TCP segments.
    const std::string big(15000, 'w');
    ws.publish(topic + "/to-tcp", big, 1);
    ASSERT_TRUE(tcp.received().wait_for(4, 15s));
    EXPECT_EQ(tcp.received().messages().back()->to_string(), big);
    ws.disconnect();
    tcp.disconnect();
  }
  testsupport::TempDir dir_{"tern-ws-it"};
  std::filesystem::path www_;
  std::optional<BrokerProcess> broker_;
  Ports ports_{};
};

TEST_P(WebSocketsPahoTest, PahoOverWsTalksWithTcpClients) {
  PahoClient ws("ws://127.0.0.1:" + std::to_string(ports_.ws) + "/mqtt", "paho-ws", GetParam(), std::nullopt);
  exchange(ws, "ws");
}

// Paho C reads one MQTT packet per WebSocket frame and then waits for the socket: packets sent together (a SUBACK and
// the retained messages that follow it) arrive only because each is a frame of its own.
TEST_P(WebSocketsPahoTest, PahoOverWsGetsEveryPacketOfABurst) {
  PahoClient retainer(ports_.tcp, "retainer", GetParam());
  retainer.connect();
  for (int i = 0; i < 5; ++i) retainer.publish("burst/" + std::to_string(i), "retained " + std::to_string(i), 1, true);
  PahoClient ws("ws://127.0.0.1:" + std::to_string(ports_.ws) + "/mqtt", "paho-burst", GetParam(), std::nullopt);
  ws.connect();
  ws.subscribe("burst/#", 1);
  ASSERT_TRUE(ws.received().wait_for(5, answer_timeout)) << ws.received().size() << " of 5 arrived";
  std::set<std::string> payloads;
  for (const auto& m : ws.received().messages()) payloads.insert(m->to_string());
  EXPECT_EQ(payloads, (std::set<std::string>{"retained 0", "retained 1", "retained 2", "retained 3", "retained 4"}));
}

TEST_P(WebSocketsPahoTest, PahoOverWssTalksWithTcpClients) {
  mqtt::ssl_options ssl;
  ssl.set_trust_store((test_certs() / "ca.crt").string());
  ssl.set_enable_server_cert_auth(true);
  PahoClient wss("wss://127.0.0.1:" + std::to_string(ports_.wss) + "/mqtt", "paho-wss", GetParam(), ssl);
  exchange(wss, "wss");
}

TEST_P(WebSocketsPahoTest, PahoOverCompressedListenerWithoutOfferingCompression) {
  PahoClient ws("ws://127.0.0.1:" + std::to_string(ports_.ws_extra) + "/", "paho-ws-extra", GetParam(), std::nullopt);
  exchange(ws, "extra");
}

TERN_INSTANTIATE_VERSIONS(WebSocketsPahoTest);

// --- Raw frames ----------------------------------------------------------------------------------------------------

TEST_F(WebSocketsTest, PacketsSplitAcrossFramesAndFramesHoldingSeveralPackets) {
  WsSocket ws(ports_.ws);
  ws.upgrade();
  const std::string connect = connect_bytes("raw");
  // The CONNECT in three fragments of one message, the middle one sent byte by byte.
  ws.send(websocket_frame(0x2, connect.substr(0, 3), false));
  const std::string middle = websocket_frame(0x0, connect.substr(3, 5), false);
  for (const char c : middle) ws.send(std::string(1, c));
  ws.send(websocket_frame(0x0, connect.substr(8), true));
  EXPECT_EQ(ws.read_mqtt(4), connack_accepted_v311);
  // SUBSCRIBE and two PINGREQs coalesced in one frame.
  const std::string subscribe =
      protocol::encode(protocol::Subscribe{1, {protocol::Subscription{"raw/#", QoS::at_most_once}}, {}}, Version::v311);
  ws.send(websocket_frame(0x2, subscribe + std::string("\xC0\x00\xC0\x00", 4)));
  EXPECT_EQ(ws.read_mqtt(5 + 4), std::string("\x90\x03\x00\x01\x00\xD0\x00\xD0\x00", 9));
  // A message from TCP arrives in a binary frame.
  publish_once(ports_.tcp, Version::v311, "raw/x", "hello", QoS::at_most_once);
  EXPECT_EQ(ws.read_mqtt(14), std::string("\x30\x0c\x00\x05raw/xhello", 14));
}

// Each packet the broker sends is a WebSocket message of its own, however many it sends at once (here a SUBACK, the
// retained messages and two PINGRESPs, all answers to one frame): clients such as Paho C read one packet per frame.
TEST_F(WebSocketsTest, EveryPacketIsAMessageOfItsOwn) {
  PahoClient retainer(ports_.tcp, "retainer", Version::v311);
  retainer.connect();
  for (int i = 0; i < 3; ++i) retainer.publish("burst/" + std::to_string(i), "retained " + std::to_string(i), 1, true);
  WsSocket ws(ports_.ws);
  ws.upgrade();
  ws.send(websocket_frame(0x2, connect_bytes("burst")));
  auto connack = ws.read_frame();
  ASSERT_TRUE(connack);
  EXPECT_EQ(connack->first, 0x82);
  EXPECT_EQ(connack->payload, connack_accepted_v311);
  const std::string subscribe = protocol::encode(
      protocol::Subscribe{1, {protocol::Subscription{"burst/#", QoS::at_most_once}}, {}}, Version::v311);
  ws.send(websocket_frame(0x2, subscribe + std::string("\xC0\x00\xC0\x00", 4)));
  std::vector<std::string> packets;
  for (int i = 0; i < 6; ++i) {
    auto f = ws.read_frame();
    ASSERT_TRUE(f) << "frame " << i << "\n" << broker_->log();
    EXPECT_EQ(f->first, 0x82);  // binary, FIN: a whole message
    packets.push_back(f->payload);
  }
  EXPECT_EQ(packets[0], std::string("\x90\x03\x00\x01\x00", 5));
  std::multiset<std::string> retained(packets.begin() + 1, packets.begin() + 4);
  std::multiset<std::string> expected;
  for (int i = 0; i < 3; ++i) {
    expected.insert(std::string("\x31\x13\x00\x07", 4) + "burst/" + std::to_string(i) + "retained " +
                    std::to_string(i));
  }
  EXPECT_EQ(retained, expected);
  EXPECT_EQ(packets[4], std::string("\xD0\x00", 2));
  EXPECT_EQ(packets[5], std::string("\xD0\x00", 2));
}

TEST_F(WebSocketsTest, PingIsAnsweredAndACloseFrameEndsTheSessionAsLost) {
  Subscriber watcher(ports_.tcp, Version::v311, "watcher", "wills/#");
  WsSocket ws(ports_.ws);
  ws.upgrade();
  protocol::Connect connect = RawClient::make_connect(Version::v311, "willing");
  connect.will = protocol::Will{"wills/willing", "gone", QoS::at_least_once, false, {}};
  ws.send(websocket_frame(0x2, protocol::encode(connect, Version::v311)));
  EXPECT_EQ(ws.read_mqtt(4), connack_accepted_v311);
  ws.send(websocket_frame(0x9, "are you there"));
  auto pong = ws.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->first, 0x8A);
  EXPECT_EQ(pong->payload, "are you there");
  ws.send(websocket_frame(0x8, std::string("\x03\xE8", 2)));  // close, 1000
  auto close = ws.read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->first, 0x88);
  EXPECT_EQ(close->payload, std::string("\x03\xE8", 2));
  EXPECT_TRUE(ws.wait_closed());
  // No DISCONNECT came: the will is published.
  const auto will = watcher.receive();
  EXPECT_EQ(will.topic, "wills/willing");
  EXPECT_EQ(will.payload, "gone");
}

TEST_F(WebSocketsTest, ADisconnectEndsWithACloseFrame) {
  WsSocket ws(ports_.ws);
  ws.upgrade();
  ws.send(websocket_frame(0x2, connect_bytes("leaving")));
  EXPECT_EQ(ws.read_mqtt(4), connack_accepted_v311);
  ws.send(websocket_frame(0x2, std::string("\xE0\x00", 2)));
  auto close = ws.read_frame();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->first, 0x88);
  EXPECT_EQ(close->payload, std::string("\x03\xE8", 2));
  EXPECT_TRUE(ws.wait_closed());
}

// --- Bad input -----------------------------------------------------------------------------------------------------

TEST_F(WebSocketsTest, BadUpgradesGetAnHttpStatusAndOthersAreStillServed) {
  Subscriber bystander(ports_.tcp, Version::v311, "bystander", "ok/#");
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 426"},
      {WsSocket::upgrade_request(""), "HTTP/1.1 400"},
      {WsSocket::upgrade_request("Sec-WebSocket-Protocol: chat, superchat\r\n"), "HTTP/1.1 400"},
      {"DELETE /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405"},
      {WsSocket::upgrade_request("Cookie: " + std::string(5000, 'c') + "\r\nSec-WebSocket-Protocol: mqtt\r\n"),
       "HTTP/1.1 431"},
      {connect_bytes("lost"), "HTTP/1.1 400"},  // an MQTT client on a ws port: told at once
  };
  for (const auto& c : cases) {
    WsSocket ws(ports_.ws);
    const std::string response = ws.http(c.request, true);
    EXPECT_TRUE(response.starts_with(c.status)) << c.request << "\n->\n" << response;
    EXPECT_TRUE(ws.wait_closed());
  }
  expect_still_served(ports_.tcp, bystander);
}

TEST_F(WebSocketsTest, BadFramesGetTheirCloseCodeAndOthersAreStillServed) {
  Subscriber bystander(ports_.tcp, Version::v311, "bystander", "ok/#");
  struct Case {
    std::string frames;
    std::uint16_t code;
  };
  const std::vector<Case> cases = {
      {websocket_frame(0x1, "text"), 1003},
      {websocket_frame(0x2, connect_bytes("unmasked"), true, false), 1002},
      {websocket_frame(0x2, std::string(20001, 'x')), 1009},  // over max_packet_size
      {websocket_frame(0x2, "x", true, true, 0x40), 1002},    // compressed on a listener without it
      {websocket_frame(0x0, "x"), 1002},
  };
  for (const auto& c : cases) {
    WsSocket ws(ports_.ws);
    ws.upgrade();
    ws.send(websocket_frame(0x2, connect_bytes("framer")));
    EXPECT_EQ(ws.read_mqtt(4), connack_accepted_v311);
    ws.send(c.frames);
    auto close = ws.read_frame();
    ASSERT_TRUE(close) << c.code;
    EXPECT_EQ(close->first, 0x88);
    EXPECT_EQ(websocket_close_frame(c.code).substr(2), close->payload);
    EXPECT_TRUE(ws.wait_closed());
  }
  expect_still_served(ports_.tcp, bystander);
}

TEST_F(WebSocketsTest, HeadersThatNeverEndAreDroppedOnTheOpeningDeadline) {
  Subscriber bystander(ports_.tcp, Version::v311, "bystander", "ok/#");
  WsSocket slow(ports_.ws);
  slow.send("GET /mqtt HTTP/1.1\r\nHost: x\r\n");  // and nothing more
  EXPECT_TRUE(slow.wait_closed(15s));              // the opening deadline (10 s) closes it
  expect_still_served(ports_.tcp, bystander);
  EXPECT_NE(broker_->log().find("WebSocket upgrade with 127.0.0.1"), std::string::npos);
  EXPECT_NE(broker_->log().find("timed out"), std::string::npos);
}

// --- http_dir ------------------------------------------------------------------------------------------------------

TEST_F(WebSocketsTest, HttpDirServesItsFilesAndNothingElse) {
  {
    WsSocket http(ports_.ws_extra);
    const std::string response = http.http("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", true);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
    EXPECT_TRUE(response.ends_with("<!doctype html><title>gateway</title>"));
  }
  for (const std::string target :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/..%5Csecret.txt"}) {
    WsSocket http(ports_.ws_extra);
    const std::string response = http.http("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n", true);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 403") || response.starts_with("HTTP/1.1 404")) << target << response;
    EXPECT_EQ(response.find("not for the web"), std::string::npos);
  }
  WsSocket post(ports_.ws_extra);
  EXPECT_TRUE(
      post.http("POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true).starts_with("HTTP/1.1 405"));
  // Without http_dir, plain HTTP is told to upgrade.
  WsSocket plain(ports_.ws);
  EXPECT_TRUE(plain.http("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", true).starts_with("HTTP/1.1 426"));
}

// --- permessage-deflate --------------------------------------------------------------------------------------------

std::string deflate(std::string_view message) { return testsupport::websocket_deflate(message); }

TEST_F(WebSocketsTest, CompressionIsUsedWithAClientThatOffersIt) {
  const std::string offer =
      "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  WsSocket ws(ports_.ws_extra);
  const std::string head = ws.upgrade(offer);
  EXPECT_NE(head.find("Sec-WebSocket-Extensions: permessage-deflate"), std::string::npos) << head;
  ws.send(websocket_frame(0x2, deflate(connect_bytes("squeezed")), true, true, 0x40));
  auto connack = ws.read_frame();
  ASSERT_TRUE(connack);
  EXPECT_EQ(connack->first, 0x82);  // 4 bytes are not worth deflating: RSV1 clear
  EXPECT_EQ(connack->payload, connack_accepted_v311);

  const std::string subscribe = protocol::encode(
      protocol::Subscribe{1, {protocol::Subscription{"json/#", QoS::at_most_once}}, {}}, Version::v311);
  ws.send(websocket_frame(0x2, deflate(subscribe), true, true, 0x40));
  EXPECT_EQ(ws.read_mqtt(5), std::string("\x90\x03\x00\x01\x00", 5));
  std::string json = R"({"sensors":[)";
  for (int i = 0; i < 50; ++i)
    json += R"({"id":"greenhouse-)" + std::to_string(i) + R"(","temperature":21.5,"humidity":48},)";
  json += "{}]}";
  publish_once(ports_.tcp, Version::v311, "json/a", json, QoS::at_most_once);
  auto message = ws.read_frame();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->first, 0xC2);                      // FIN, RSV1 (compressed), binary
  EXPECT_LT(message->payload.size(), json.size() / 3);  // what it saves
  const std::string publish = WsSocket::inflate(message->payload);
  EXPECT_NE(publish.find(json), std::string::npos);

  // The same listener without an offer: plain frames.
  WsSocket plain(ports_.ws_extra);
  EXPECT_EQ(plain.upgrade().find("Sec-WebSocket-Extensions"), std::string::npos);
  plain.send(websocket_frame(0x2, connect_bytes("plain")));
  auto plain_connack = plain.read_frame();
  ASSERT_TRUE(plain_connack);
  EXPECT_EQ(plain_connack->first, 0x82);
  EXPECT_EQ(plain_connack->payload, connack_accepted_v311);
}

}  // namespace
}  // namespace tern::itest
