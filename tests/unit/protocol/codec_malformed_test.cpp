// Fixed-header errors shared by every packet type, incomplete input, max_packet_size, and a mutation fuzz loop that
// checks the decoder never reads past its input and that whatever it accepts encodes back to an equal packet.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "broker/protocol/codec.hpp"
#include "codec_test_util.hpp"

namespace tern::protocol {
namespace {

using test::bytes;
using test::expect_error;
using test::hex;

TEST(CodecFixedHeader, EmptyInputNeedsMore) {
  EXPECT_EQ(decode("", Version::v311, 0).status, DecodeResult::Status::need_more);
}

TEST(CodecFixedHeader, TypeZeroIsMalformed) {
  for (Version v : {Version::v31, Version::v311, Version::v5}) {
    expect_error(bytes({0x00, 0x00}), v, ReasonCode::malformed_packet);
    expect_error(bytes({0x00}), v, ReasonCode::malformed_packet);
  }
}

TEST(CodecFixedHeader, ReservedFlagsAreMalformed) {
  // [MQTT-2.2.2-1], [MQTT-2.2.2-2]: PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0b0010, every other type but PUBLISH 0.
  for (int type = 1; type <= 15; ++type) {
    if (type == 3) continue;
    const int required = (type == 6 || type == 8 || type == 10) ? 0x02 : 0x00;
    for (int flags = 0; flags < 16; ++flags) {
      if (flags == required) continue;
      expect_error(bytes({(type << 4) | flags, 0x00}), Version::v5, ReasonCode::malformed_packet);
      expect_error(bytes({(type << 4) | flags}), Version::v5, ReasonCode::malformed_packet);
    }
  }
}

// MQTT 3.1 sets DUP on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE (its section 3.6, 3.8, 3.10): accepted for protocol
// level 3 only; 3.1.1 and 5.0 keep the strict check above.
TEST(CodecFixedHeader, Mqtt31MaySetDupOnPubrelSubscribeAndUnsubscribe) {
  const std::string pubrel = bytes({0x6A, 0x02, 0x00, 0x07});
  const std::string subscribe = bytes({0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x01});
  const std::string unsubscribe = bytes({0xAA, 0x05, 0x00, 0x01, 0x00, 0x01, 't'});
  for (const auto& wire : {pubrel, subscribe, unsubscribe}) {
    const DecodeResult r = decode(wire, Version::v31, 0);
    EXPECT_EQ(r.status, DecodeResult::Status::packet);
    EXPECT_EQ(r.consumed, wire.size());
    expect_error(wire, Version::v311, ReasonCode::malformed_packet);
    expect_error(wire, Version::v5, ReasonCode::malformed_packet);
  }
  EXPECT_EQ(std::get<Pubrel>(decode(pubrel, Version::v31, 0).packet).packet_id, 7);
  // Only DUP: other reserved bits stay malformed in 3.1 too, and so does DUP on other packets.
  expect_error(bytes({0x6B, 0x02, 0x00, 0x07}), Version::v31, ReasonCode::malformed_packet);
  expect_error(bytes({0x48, 0x02, 0x00, 0x07}), Version::v31, ReasonCode::malformed_packet);  // PUBACK with DUP
}

TEST(CodecFixedHeader, RemainingLengthOfMoreThanFourBytes) {
  // Malformed as soon as the fourth length byte still has its continuation bit, even with nothing after it.
  expect_error(bytes({0x30, 0x80, 0x80, 0x80, 0x80}), Version::v311, ReasonCode::malformed_packet);
  expect_error(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), Version::v5, ReasonCode::malformed_packet);
  EXPECT_EQ(decode(bytes({0x30, 0x80, 0x80, 0x80}), Version::v311, 0).status, DecodeResult::Status::need_more);
  // The largest remaining length is fine; only the body is missing.
  EXPECT_EQ(decode(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), Version::v311, 0).status, DecodeResult::Status::need_more);
}

TEST(CodecFixedHeader, NeedMoreUntilTheBodyIsComplete) {
  const std::string wire = bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00});
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_EQ(decode(wire.substr(0, n), Version::v311, 0).status, DecodeResult::Status::need_more) << n;
  }
}

TEST(CodecFixedHeader, PacketTooLargeBeforeTheBodyArrives) {
  // PUBLISH with remaining length 128: 1 + 2 + 128 = 131 bytes in total.
  const std::string header = bytes({0x30, 0x80, 0x01});
  const DecodeResult r = decode(header, Version::v5, 130);
  ASSERT_EQ(r.status, DecodeResult::Status::error);
  EXPECT_EQ(r.error, ReasonCode::packet_too_large);
  EXPECT_EQ(decode(header, Version::v5, 131).status, DecodeResult::Status::need_more);
  EXPECT_EQ(decode(header, Version::v5, 0).status, DecodeResult::Status::need_more);
  // Only the fixed header decides: a partial header is still need_more.
  EXPECT_EQ(decode(bytes({0x30, 0x80}), Version::v5, 10).status, DecodeResult::Status::need_more);

  // A complete packet exactly at the limit passes; one byte over fails.
  const std::string pingreq = bytes({0xC0, 0x00});
  EXPECT_EQ(decode(pingreq, Version::v311, 2).status, DecodeResult::Status::packet);
  EXPECT_EQ(decode(pingreq, Version::v311, 1).error, ReasonCode::packet_too_large);
}

TEST(CodecFixedHeader, FieldsMayNotRunIntoTheNextPacket) {
  // A topic length of 5 with only one byte inside the packet is malformed even though more bytes follow.
  const std::string wire = bytes({0x30, 0x03, 0x00, 0x05, 't', 0xC0, 0x00, 0xC0, 0x00});
  expect_error(wire, Version::v311, ReasonCode::malformed_packet);
}

TEST(CodecFixedHeader, ErrorResultsCarryNoPacket) {
  const DecodeResult r = decode(bytes({0x62, 0x01, 0x00}), Version::v311, 0);
  EXPECT_EQ(r.status, DecodeResult::Status::error);
  EXPECT_EQ(r.consumed, 0u);
}

// Valid packets of every type, used as seeds for the mutation loop.
std::vector<std::pair<Packet, Version>> seeds() {
  std::vector<std::pair<Packet, Version>> s;
  Connect c;
  c.version = Version::v5;
  c.client_id = "client";
  c.will = Will{"w", "bye", QoS::at_least_once, true, {}};
  c.will->properties.will_delay_interval = 3;
  c.username = "u";
  c.password = "p";
  c.properties.receive_maximum = 10;
  s.emplace_back(c, Version::v5);
  c.version = Version::v311;
  s.emplace_back(c, Version::v311);
  Connack ca;
  ca.session_present = true;
  ca.properties.maximum_qos = 1;
  s.emplace_back(ca, Version::v5);
  s.emplace_back(Connack{}, Version::v311);
  Publish p;
  p.topic = "a/b";
  p.payload = "payload";
  p.qos = QoS::exactly_once;
  p.packet_id = 5;
  p.properties.subscription_identifiers = {1, 2};
  p.properties.user_properties = {{"k", "v"}};
  s.emplace_back(p, Version::v5);
  s.emplace_back(p, Version::v311);
  s.emplace_back(Puback{1, ReasonCode::quota_exceeded, {}}, Version::v5);
  s.emplace_back(Pubrel{2, {}, {}}, Version::v311);
  Subscribe sub;
  sub.packet_id = 3;
  sub.subscriptions = {{"a/+", QoS::at_least_once, true, false, 1}, {"#", QoS::exactly_once, false, false, 0}};
  s.emplace_back(sub, Version::v5);
  s.emplace_back(sub, Version::v311);
  s.emplace_back(Suback{3, {ReasonCode::granted_qos1, ReasonCode::unspecified_error}, {}}, Version::v5);
  s.emplace_back(Unsubscribe{4, {"a", "b"}, {}}, Version::v5);
  s.emplace_back(Unsuback{4, {ReasonCode::success}, {}}, Version::v5);
  Disconnect d;
  d.reason_code = ReasonCode::server_busy;
  d.properties.reason_string = "busy";
  s.emplace_back(d, Version::v5);
  Auth a;
  a.reason_code = ReasonCode::continue_authentication;
  a.properties.authentication_method = "m";
  s.emplace_back(a, Version::v5);
  return s;
}

TEST(CodecFuzz, MutatedPacketsNeverOverreadAndReencodeStably) {
  std::mt19937 rng(12345);
  int decoded = 0;
  for (const auto& [packet, version] : seeds()) {
    const std::string wire = encode(packet, version);
    for (int i = 0; i < 3000; ++i) {
      std::string m = wire;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = rng() % m.size();
        switch (rng() % 4) {
          case 0:
            m[at] = static_cast<char>(rng());
            break;
          case 1:
            m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8)));
            break;
          case 2:
            m.erase(at, 1);
            break;
          default:
            m.insert(at, 1, static_cast<char>(rng()));
            break;
        }
        if (m.empty()) m = wire;
      }
      // A copy with exactly the mutated bytes so an over-read is caught by ASan/valgrind builds too.
      const std::vector<char> exact(m.begin(), m.end());
      const DecodeResult r = decode(std::string_view(exact.data(), exact.size()), version, 0);
      if (r.status != DecodeResult::Status::packet) continue;
      ++decoded;
      ASSERT_LE(r.consumed, m.size());
      const std::string again = encode(r.packet, version);
      const DecodeResult r2 = decode(again, version, 0);
      ASSERT_EQ(r2.status, DecodeResult::Status::packet) << hex(m) << " -> " << hex(again);
      EXPECT_EQ(r2.consumed, again.size());
      EXPECT_EQ(r2.packet, r.packet) << hex(m);
    }
  }
  EXPECT_GT(decoded, 100);  // the loop exercised the accept path too, not only the error paths
}

}  // namespace
}  // namespace tern::protocol
