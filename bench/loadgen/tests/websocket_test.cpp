// The load generator's WebSocket client (websocket.hpp, ws_deflate.hpp) fed bytes without sockets: the upgrade, the
// frame forms of RFC 6455 5.2 split at every byte, control frames, malformed frames, and permessage-deflate with the
// examples of RFC 7692 7.2.3.
#include "bench/loadgen/websocket.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "bench/loadgen/ws_deflate.hpp"

namespace loadgen::websocket {
namespace {

using Status = Channel::Status;

// RFC 6455 1.3: the nonce "the sample nonce" is Sec-WebSocket-Key dGhlIHNhbXBsZSBub25jZQ==.
const std::array<std::uint8_t, 16> sample_nonce = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                                   'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};

// mosquitto 2.0.11's (libwebsockets 4.1) answer to the sample key, as it came over the wire.
const std::string answer =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: WebSocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: mqtt\r\n"
    "\r\n";

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

// One client frame taken apart: opcode byte, payload unmasked.
struct ClientFrame {
  std::uint8_t first = 0;
  std::string payload;
  std::size_t size = 0;  // bytes the frame took
};

ClientFrame parse_client_frame(std::string_view wire) {
  ClientFrame f;
  f.first = static_cast<std::uint8_t>(wire[0]);
  const auto b1 = static_cast<std::uint8_t>(wire[1]);
  EXPECT_TRUE(b1 & 0x80) << "client frames are masked";
  std::uint64_t length = b1 & 0x7f;
  std::size_t pos = 2;
  if (length == 126) {
    length = static_cast<std::uint8_t>(wire[2]) << 8 | static_cast<std::uint8_t>(wire[3]);
    pos = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = length << 8 | static_cast<std::uint8_t>(wire[2 + i]);
    pos = 10;
  }
  const std::string_view key = wire.substr(pos, 4);
  pos += 4;
  f.payload = std::string(wire.substr(pos, length));
  for (std::size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ key[i % 4]);
  f.size = pos + length;
  return f;
}

// A channel past the upgrade (answered with `reply`), its request taken off the wire.
Channel open_channel(const Options& options = {}, const std::string& reply = answer) {
  Channel ch(options);
  ch.start(sample_nonce);
  ch.wire().clear();
  std::string mqtt;
  ch.receive(reply, mqtt);
  return ch;
}

TEST(WebSocketHandshake, AcceptValueOfTheRfcExample) {
  EXPECT_EQ(accept_value("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketHandshake, RequestCarriesKeyVersionAndSubprotocol) {
  Channel ch(Options{"127.0.0.1", 8080, "/mqtt", false});
  ch.start(sample_nonce);
  EXPECT_EQ(ch.wire(),
            "GET /mqtt HTTP/1.1\r\n"
            "Host: 127.0.0.1:8080\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: mqtt\r\n"
            "\r\n");
  EXPECT_EQ(ch.status(), Status::upgrading);

  Channel deflate(Options{"localhost", 9001, "/ws", true});
  deflate.start(sample_nonce);
  EXPECT_NE(deflate.wire().find("GET /ws HTTP/1.1\r\nHost: localhost:9001\r\n"), std::string::npos);
  EXPECT_NE(deflate.wire().find("\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"),
            std::string::npos);
}

TEST(WebSocketHandshake, AnswerSplitAtEveryByteThenFramesInTheSameRead) {
  // The answer, then a binary frame with a 2-byte MQTT packet (PINGRESP d0 00) in the same bytes.
  const std::string all = answer + bytes({0x82, 0x02, 0xd0, 0x00});
  for (std::size_t cut = 0; cut <= all.size(); ++cut) {
    Channel ch(Options{});
    ch.start(sample_nonce);
    std::string mqtt;
    ch.receive(std::string_view(all).substr(0, cut), mqtt);
    EXPECT_EQ(ch.receive(std::string_view(all).substr(cut), mqtt), Status::open) << cut << ": " << ch.error();
    EXPECT_EQ(mqtt, bytes({0xd0, 0x00})) << cut;
    EXPECT_EQ(ch.extensions(), "");
    EXPECT_FALSE(ch.compressing());
  }
}

TEST(WebSocketHandshake, RefusedAnswers) {
  struct Case {
    const char* what;
    std::string reply;
    const char* error;
  };
  const std::string accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  const std::string upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  const Case cases[] = {
      {"not 101", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "upgrade refused: HTTP/1.1 404 Not Found"},
      {"wrong accept", "HTTP/1.1 101 OK\r\n" + upgrade + "Sec-WebSocket-Accept: AAAA\r\n\r\n",
       "wrong Sec-WebSocket-Accept: AAAA"},
      {"no accept", "HTTP/1.1 101 OK\r\n" + upgrade + "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
       "upgrade answer without Sec-WebSocket-Accept"},
      {"no subprotocol", "HTTP/1.1 101 OK\r\n" + upgrade + accept + "\r\n",
       "upgrade answer without \"Sec-WebSocket-Protocol: mqtt\" (MQTT 5.0 [MQTT-6.0.0-5])"},
      {"other subprotocol", "HTTP/1.1 101 OK\r\n" + upgrade + accept + "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n",
       "the server chose subprotocol mqttv3.1, not mqtt"},
      {"no upgrade header",
       "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n" + accept + "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
       "upgrade answer without \"Upgrade: websocket\" and \"Connection: upgrade\""},
      {"extension not offered",
       "HTTP/1.1 101 OK\r\n" + upgrade + accept +
           "Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
       "the server answered an extension not offered: permessage-deflate"},
      {"line without colon", "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
       "malformed header line in the upgrade answer: Upgrade websocket"},
  };
  for (const Case& c : cases) {
    Channel ch(Options{});
    ch.start(sample_nonce);
    std::string mqtt;
    EXPECT_EQ(ch.receive(c.reply, mqtt), Status::error) << c.what;
    EXPECT_EQ(ch.error(), c.error) << c.what;
  }
  Channel endless(Options{});
  endless.start(sample_nonce);
  std::string mqtt;
  EXPECT_EQ(endless.receive("HTTP/1.1 101 OK\r\n" + std::string(9000, 'x'), mqtt), Status::error);
  EXPECT_EQ(endless.error(), "upgrade answer longer than 8 KiB");
}

TEST(WebSocketHandshake, ConnectionHeaderIsATokenList) {
  std::string reply = answer;
  reply.replace(reply.find("Connection: Upgrade"), 19, "connection: keep-alive, upgrade");
  Channel ch = open_channel(Options{}, reply);
  EXPECT_EQ(ch.status(), Status::open) << ch.error();
}

TEST(WebSocketFrames, LengthFormsSplitAtEveryByte) {
  const std::string p300(300, 'a');
  const std::string p70000(70000, 'b');
  std::string stream;
  stream += bytes({0x82, 0x05}) + "Hello";           // FIN + binary; length 5 in 7 bits
  stream += bytes({0x82, 0x7e, 0x01, 0x2c}) + p300;  // length 126: 16-bit length 0x012c = 300 follows
  stream += bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}) + p70000;  // 127: 64-bit length 0x011170 = 70000
  stream += bytes({0x82, 0x00});                                            // empty binary frame
  const std::string expected = "Hello" + p300 + p70000;
  for (std::size_t cut : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, std::size_t{8},
                          std::size_t{9}, std::size_t{311}, std::size_t{312}, std::size_t{320}, stream.size() - 1}) {
    Channel ch = open_channel();
    std::string mqtt;
    EXPECT_EQ(ch.receive(std::string_view(stream).substr(0, cut), mqtt), Status::open) << cut;
    EXPECT_EQ(ch.receive(std::string_view(stream).substr(cut), mqtt), Status::open) << cut;
    EXPECT_EQ(mqtt, expected) << cut;
  }
  // And one byte at a time.
  Channel ch = open_channel();
  std::string mqtt;
  for (char b : stream) ASSERT_EQ(ch.receive(std::string_view(&b, 1), mqtt), Status::open) << ch.error();
  EXPECT_EQ(mqtt, expected);
  EXPECT_TRUE(ch.wire().empty());
}

TEST(WebSocketFrames, FragmentedMessageWithAPingBetweenItsFrames) {
  Channel ch = open_channel();
  std::string mqtt;
  const std::string stream = bytes({0x02, 0x02, 0x30, 0x05})  // binary, no FIN: PUBLISH header, remaining length 5
                             + bytes({0x89, 0x02, 'h', 'i'})  // FIN + ping, payload "hi"
                             + bytes({0x80, 0x05, 0x00, 0x01, 't', 'x', 'y'});  // FIN + continuation: topic "t", "xy"
  EXPECT_EQ(ch.receive(stream, mqtt), Status::open) << ch.error();
  EXPECT_EQ(mqtt, bytes({0x30, 0x05, 0x00, 0x01, 't', 'x', 'y'}));
  const ClientFrame pong = parse_client_frame(ch.wire());
  EXPECT_EQ(pong.first, 0x8a);  // FIN + pong
  EXPECT_EQ(pong.payload, "hi");
  EXPECT_EQ(pong.size, ch.wire().size());
}

TEST(WebSocketFrames, CloseIsEchoedAndEndsTheChannel) {
  Channel ch = open_channel();
  std::string mqtt;
  EXPECT_EQ(ch.receive(bytes({0x88, 0x02, 0x03, 0xe9}), mqtt), Status::closed);  // close, code 1001 (going away)
  EXPECT_EQ(ch.close_code(), 1001);
  const ClientFrame echo = parse_client_frame(ch.wire());
  EXPECT_EQ(echo.first, 0x88);
  EXPECT_EQ(echo.payload, bytes({0x03, 0xe9}));

  Channel bare = open_channel();
  EXPECT_EQ(bare.receive(bytes({0x88, 0x00}), mqtt), Status::closed);  // close without a code
  EXPECT_EQ(bare.close_code(), 1005);
  EXPECT_EQ(parse_client_frame(bare.wire()).payload, "");
}

TEST(WebSocketFrames, MalformedServerFrames) {
  struct Case {
    const char* what;
    std::string stream;
    const char* error;
  };
  const Case cases[] = {
      {"masked", bytes({0x82, 0x81, 1, 2, 3, 4, 0x55}), "masked frame from the server (RFC 6455 5.1)"},
      {"text", bytes({0x81, 0x01, 'x'}), "text frame (MQTT travels in binary frames, [MQTT-6.0.0-1])"},
      {"RSV2", bytes({0xa2, 0x00}), "frame with RSV2 or RSV3 set"},
      {"RSV1 without deflate", bytes({0xc2, 0x00}), "compressed frame without permessage-deflate"},
      {"lone continuation", bytes({0x80, 0x00}), "continuation frame outside a message"},
      {"binary inside a message", bytes({0x02, 0x00, 0x82, 0x00}), "new data frame inside a fragmented message"},
      {"fragmented ping", bytes({0x09, 0x00}), "fragmented or long control frame"},
      {"long ping", bytes({0x89, 0x7e, 0x00, 0x7e}) + std::string(126, 'p'), "fragmented or long control frame"},
      {"opcode 3", bytes({0x83, 0x00}), "unknown opcode 3"},
      {"64-bit length, top bit", bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}), "frame length with the top bit set"},
      {"one-byte close", bytes({0x88, 0x01, 0x03}), "close frame with a one-byte payload"},
  };
  for (const Case& c : cases) {
    Channel ch = open_channel();
    std::string mqtt;
    EXPECT_EQ(ch.receive(c.stream, mqtt), Status::error) << c.what;
    EXPECT_EQ(ch.error(), c.error) << c.what;
  }
}

TEST(WebSocketFrames, ClientFramesAreMaskedBinaryOnePerSend) {
  Channel ch = open_channel();
  ch.send("Hello");
  ch.send(std::string(300, 'x'));
  ch.send(std::string(70000, 'y'));
  std::string_view wire = ch.wire();
  const ClientFrame a = parse_client_frame(wire);
  EXPECT_EQ(a.first, 0x82);
  EXPECT_EQ(a.payload, "Hello");
  EXPECT_EQ(a.size, 2u + 4u + 5u);  // header, masking key, payload
  wire.remove_prefix(a.size);
  const ClientFrame b = parse_client_frame(wire);
  EXPECT_EQ(b.payload, std::string(300, 'x'));
  EXPECT_EQ(b.size, 4u + 4u + 300u);  // 16-bit length
  wire.remove_prefix(b.size);
  const ClientFrame c = parse_client_frame(wire);
  EXPECT_EQ(c.payload, std::string(70000, 'y'));
  EXPECT_EQ(c.size, 10u + 4u + 70000u);  // 64-bit length
  EXPECT_EQ(wire.size(), c.size);
  // Keys vary from frame to frame.
  EXPECT_NE(ch.wire().substr(2, 4), ch.wire().substr(a.size + 4, 4));

  ch.close(1000);
  const ClientFrame close = parse_client_frame(std::string_view(ch.wire()).substr(a.size + b.size + c.size));
  EXPECT_EQ(close.first, 0x88);
  EXPECT_EQ(close.payload, bytes({0x03, 0xe8}));
  EXPECT_EQ(ch.status(), Status::closed);
}

std::string deflate_answer(const std::string& params) {
  std::string reply = answer;
  reply.insert(reply.size() - 2, "Sec-WebSocket-Extensions: " + params + "\r\n");
  return reply;
}

TEST(WebSocketDeflate, RfcExamplesWithContextTakeover) {
  Channel ch = open_channel(Options{"127.0.0.1", 1, "/mqtt", true}, deflate_answer("permessage-deflate"));
  ASSERT_EQ(ch.status(), Status::open) << ch.error();
  EXPECT_TRUE(ch.compressing());
  EXPECT_EQ(ch.extensions(), "permessage-deflate");
  std::string mqtt;
  // RFC 7692 7.2.3.1 ("Hello", as binary here: 0xc2 = FIN + RSV1 + binary), then 7.2.3.2: the same message again,
  // compressed against the first one in the window (a back-reference of length 5, distance 5).
  EXPECT_EQ(ch.receive(bytes({0xc2, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), mqtt), Status::open)
      << ch.error();
  EXPECT_EQ(mqtt, "Hello");
  EXPECT_EQ(ch.receive(bytes({0xc2, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}), mqtt), Status::open) << ch.error();
  EXPECT_EQ(mqtt, "HelloHello");
  // 7.2.3.3: a compressed message may be fragmented (RSV1 on the first frame only); and an uncompressed message.
  EXPECT_EQ(ch.receive(bytes({0x42, 0x03, 0xf2, 0x48, 0xcd}) + bytes({0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00}), mqtt),
            Status::open)
      << ch.error();
  EXPECT_EQ(ch.receive(bytes({0x82, 0x02, 'o', 'k'}), mqtt), Status::open);
  EXPECT_EQ(mqtt, "HelloHelloHellook");
}

TEST(WebSocketDeflate, NoContextTakeoverResetsTheDecompressor) {
  Channel ch = open_channel(Options{"127.0.0.1", 1, "/mqtt", true},
                            deflate_answer("permessage-deflate; server_no_context_takeover"));
  ASSERT_TRUE(ch.compressing()) << ch.error();
  std::string mqtt;
  const std::string hello = bytes({0xc2, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  EXPECT_EQ(ch.receive(hello + hello, mqtt), Status::open) << ch.error();
  EXPECT_EQ(mqtt, "HelloHello");
  // The back-reference of 7.2.3.2 now points before the start of the window.
  EXPECT_EQ(ch.receive(bytes({0xc2, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}), mqtt), Status::error);
}

TEST(WebSocketDeflate, WhatWeSendInflatesBack) {
  Channel ch = open_channel(Options{"127.0.0.1", 1, "/mqtt", true},
                            deflate_answer("permessage-deflate; client_max_window_bits=10"));
  ASSERT_TRUE(ch.compressing()) << ch.error();
  const std::string json = R"({"device":"sensor-0001","temperature":21.5,"humidity":48.0,"status":"ok"})";
  ch.send("Hello");
  ch.send(json);
  ch.send(json);
  // The server's view: the same parameters, inflating what we deflated.
  MessageDeflate server(DeflateParams{false, false, 10, 15});
  std::string_view wire = ch.wire();
  std::string out;
  std::size_t second_size = 0;
  for (const std::string& want : {std::string("Hello"), json, json}) {
    const ClientFrame f = parse_client_frame(wire);
    EXPECT_EQ(f.first, 0xc2);  // FIN + RSV1 + binary
    if (want == "Hello") {
      EXPECT_EQ(f.payload, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));  // RFC 7692 7.2.3.1
    }
    out.clear();
    ASSERT_TRUE(server.decompress(f.payload, out)) << server.error();
    ASSERT_TRUE(server.end_message(out)) << server.error();
    EXPECT_EQ(out, want);
    if (second_size == 0 && want == json) {
      second_size = f.payload.size();
    } else if (want == json) {
      EXPECT_LT(f.payload.size(), second_size / 4) << "the repeat is a back-reference into the window";
    }
    wire.remove_prefix(f.size);
  }
}

TEST(WebSocketDeflate, AnswerParameters) {
  DeflateParams p;
  std::string error;
  ASSERT_TRUE(parse_deflate_answer(
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=12; "
      "server_max_window_bits=\"11\"",
      p, error))
      << error;
  EXPECT_TRUE(p.client_no_context_takeover);
  EXPECT_TRUE(p.server_no_context_takeover);
  EXPECT_EQ(p.client_max_window_bits, 12);
  EXPECT_EQ(p.server_max_window_bits, 11);

  const std::pair<const char*, const char*> refused[] = {
      {"x-webkit-deflate-frame", "the server answered an extension not offered: x-webkit-deflate-frame"},
      {"permessage-deflate, permessage-deflate",
       "the server answered more than one extension: permessage-deflate, permessage-deflate"},
      {"permessage-deflate; level=9", "unknown permessage-deflate parameter: level=9"},
      {"permessage-deflate; client_max_window_bits",
       "permessage-deflate window size out of 8..15: client_max_window_bits"},
      {"permessage-deflate; server_max_window_bits=16",
       "permessage-deflate window size out of 8..15: server_max_window_bits=16"},
      {"permessage-deflate; client_max_window_bits=8",
       "permessage-deflate window of 8 bits (client_max_window_bits): not supported"},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
       "repeated permessage-deflate parameter: server_no_context_takeover"},
      {"permessage-deflate; client_no_context_takeover=1",
       "permessage-deflate parameter with a value: client_no_context_takeover=1"},
  };
  for (const auto& [text, why] : refused) {
    EXPECT_FALSE(parse_deflate_answer(text, p, error)) << text;
    EXPECT_EQ(error, why);
  }
}

}  // namespace
}  // namespace loadgen::websocket
