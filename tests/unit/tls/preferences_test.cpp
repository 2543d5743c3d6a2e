// The server's choices in a handshake (cipher suite and ECDHE curve), read off the wire as a client sees them, and
// Engine::write_some's slicing of a batch into records.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "tests/unit/tls/tls_test_support.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

namespace tern::tls {
namespace {

using test::cert;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// IANA TLS supported-group numbers (RFC 8422, RFC 7027, RFC 8446).
constexpr int x25519 = 29, secp256r1 = 23, secp384r1 = 24, secp521r1 = 25, brainpool_p256r1 = 26;

// What OpenSSL 3 offers first for TLS 1.2, in its order: AES-256-GCM before ChaCha20, X25519 before the NIST curves.
constexpr const char* openssl_like_ciphers =
    "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384:TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384:"
    "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256:TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256:"
    "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256:TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256";
constexpr const char* openssl_like_curves = "x25519:secp256r1:secp384r1:secp521r1";

TlsSettings rsa_server_settings() {
  TlsSettings s;
  s.certfile = cert("server-rsa.crt");
  s.keyfile = cert("server-rsa.key");
  return s;
}

struct Negotiated {
  error_code server = error::want_read;
  error_code client = error::want_read;
  std::string suite;  // the server's ciphersuite() after the handshake
  int group = -1;     // the named curve of the server's ServerKeyExchange; -1 without one
};

// The curve in the server's first flight (ServerHello .. ServerHelloDone, in the clear in TLS 1.2).
int server_key_exchange_group(std::string_view flight) {
  std::string handshake;  // the handshake messages, records joined
  while (flight.size() >= 5 && flight[0] == 22) {
    const std::size_t length = static_cast<unsigned char>(flight[3]) * 256u + static_cast<unsigned char>(flight[4]);
    if (flight.size() < 5 + length) break;
    handshake.append(flight.substr(5, length));
    flight.remove_prefix(5 + length);
  }
  std::string_view messages = handshake;
  while (messages.size() >= 4) {
    const auto type = static_cast<unsigned char>(messages[0]);
    const std::size_t length = static_cast<unsigned char>(messages[1]) * 65536u +
                               static_cast<unsigned char>(messages[2]) * 256u + static_cast<unsigned char>(messages[3]);
    if (messages.size() < 4 + length) break;
    const std::string_view body = messages.substr(4, length);
    if (type == 12 && body.size() >= 3 && body[0] == 3) {  // ServerKeyExchange, curve_type named_curve
      return static_cast<unsigned char>(body[1]) * 256 + static_cast<unsigned char>(body[2]);
    }
    messages.remove_prefix(4 + length);
  }
  return -1;
}

// test::handshake(), keeping the server's first flight to read its curve from.
Negotiated negotiate(const TlsSettings& server_settings, const ClientSettings& client_settings) {
  Engine server(Context::server(server_settings)), client(Context::client(client_settings));
  Negotiated n;
  std::string to_server, to_client;
  for (int round = 0; round < 20; ++round) {
    if (n.client == error::want_read) n.client = client.handshake();
    test::transfer(client, server, to_server);
    if (n.server == error::want_read) n.server = server.handshake();
    if (n.group == -1 && !server.output().empty()) n.group = server_key_exchange_group(server.output());
    test::transfer(server, client, to_client);
    if (n.client != error::want_read && n.server != error::want_read) break;
  }
  if (!n.server) n.suite = server.ciphersuite();
  return n;
}

ClientSettings client(const char* ciphers, const char* curves) {
  return {.cafile = cert("ca.crt"), .ciphers = ciphers, .curves = curves};
}

// The server's order decides (mbedTLS 2.28 without MBEDTLS_SSL_SRV_RESPECT_CLIENT_PREFERENCE): a client that puts
// AES-GCM first still gets ChaCha20-Poly1305, which mbedTLS runs at nearly twice the speed of its AES-GCM, and
// x25519, not the library's default first choice secp521r1.
TEST(TlsPreferences, OpenSslLikeClientGetsChaChaAndX25519) {
  for (const auto& [settings, suite] :
       {std::pair{test::server_settings(), "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256"},
        std::pair{rsa_server_settings(), "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256"}}) {
    const Negotiated n = negotiate(settings, client(openssl_like_ciphers, openssl_like_curves));
    ASSERT_FALSE(n.server) << n.server.message();
    ASSERT_FALSE(n.client) << n.client.message();
    EXPECT_EQ(n.suite, suite);
    EXPECT_EQ(n.group, x25519);
  }
}

TEST(TlsPreferences, DefaultMbedTlsClientGetsSecp256r1NotSecp521r1) {
  // mbedTLS 2.28's own client offers all 13 of its curves, secp521r1 first and x25519 12th, and an mbedTLS server
  // keeps only the first 11 of a client's list (MBEDTLS_ECP_DP_MAX), so x25519 is never seen: secp256r1 is then the
  // best it can do.
  const Negotiated n = negotiate(rsa_server_settings(), {.cafile = cert("ca.crt")});
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_EQ(n.group, secp256r1);
  EXPECT_EQ(n.suite, "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256");
}

TEST(TlsPreferences, CurveOrderIsTheServers) {
  const Negotiated n = negotiate(rsa_server_settings(), client(openssl_like_ciphers, "secp521r1:secp384r1:secp256r1"));
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_EQ(n.group, secp256r1);
  const Negotiated m = negotiate(rsa_server_settings(), client(openssl_like_ciphers, "secp521r1:secp384r1"));
  ASSERT_FALSE(m.server) << m.server.message();
  EXPECT_EQ(m.group, secp384r1);
}

// Every curve the library has is still accepted, only later: no client that connected before is refused.
TEST(TlsPreferences, OtherCurvesStillWork) {
  for (const auto& [curves, group] :
       {std::pair{"secp521r1", secp521r1}, std::pair{"brainpoolP256r1", brainpool_p256r1}}) {
    const Negotiated n = negotiate(rsa_server_settings(), client(openssl_like_ciphers, curves));
    ASSERT_FALSE(n.server) << curves << ": " << n.server.message();
    EXPECT_EQ(n.group, group) << curves;
  }
}

TEST(TlsPreferences, ClientWithoutChaChaGetsAesGcm) {
  const Negotiated n = negotiate(rsa_server_settings(),
                                 client("TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256:TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256:"
                                        "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
                                        openssl_like_curves));
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_EQ(n.suite, "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384");
}

// ECDHE with AES-GCM comes before DHE with ChaCha20 (a 2048-bit DHE costs more than the RSA signature).
TEST(TlsPreferences, EcdheBeforeDhe) {
  const Negotiated n = negotiate(
      rsa_server_settings(),
      client("TLS-DHE-RSA-WITH-CHACHA20-POLY1305-SHA256:TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256", openssl_like_curves));
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_EQ(n.suite, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256");
}

// A `ciphers` directive is the whole list and its order; the curve preference stays.
TEST(TlsPreferences, CiphersDirectiveDecides) {
  TlsSettings s = rsa_server_settings();
  s.ciphers = "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256:TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256";
  const Negotiated n = negotiate(s, client(openssl_like_ciphers, "secp521r1:x25519"));
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_EQ(n.suite, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256");
  EXPECT_EQ(n.group, x25519);
}

TEST(TlsPreferences, PskStillNegotiates) {
  TlsSettings s;
  s.psk_hint = "tern";
  s.psk_file = cert("psk.txt");
  const Negotiated n = negotiate(s, {.psk_identity = "psk-user", .psk_hex_key = "0123456789abcdef0123456789abcdef"});
  ASSERT_FALSE(n.server) << n.server.message();
  EXPECT_THAT(n.suite, HasSubstr("PSK"));
}

TEST(TlsPreferences, ClientSettingsErrors) {
  const auto error = [](ClientSettings settings) -> std::string {
    try {
      Context::client(settings);
    } catch (const ContextError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error({.curves = "x25519:curve9000"}), HasSubstr("curves: unknown curve 'curve9000'"));
  EXPECT_THAT(error({.ciphers = "NOT-A-SUITE"}), HasSubstr("ciphers: unknown cipher suite 'NOT-A-SUITE'"));
  EXPECT_THAT(error({.curves = ":"}), HasSubstr("curves: no curve given"));
}

// --- Engine::write_some: a batch as records, one system call's worth at a time ---

struct Pair {
  Engine server{Context::server(test::server_settings())};
  Engine client{Context::client({.cafile = cert("ca.crt")})};
  Pair() {
    const auto r = test::handshake(server, client);
    EXPECT_FALSE(r.server) << r.server.message();
  }
};

std::string read_everything(Engine& engine, std::string_view ciphertext) {
  engine.feed(ciphertext);
  std::string text;
  std::array<char, 4096> buffer{};
  error_code ec;
  for (;;) {
    const std::size_t n = engine.read(buffer, ec);
    if (n == 0) break;
    text.append(buffer.data(), n);
  }
  EXPECT_EQ(ec, error::want_read);
  return text;
}

TEST(TlsWriteSome, SlicesStayWithinTheLimitAndRoundTrip) {
  Pair p;
  std::string batch(200'000, '\0');
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<char>(i * 7 + i / 251);
  std::string received;
  std::size_t taken = 0;
  int slices = 0;
  while (taken < batch.size()) {
    std::string out;
    error_code ec;
    const std::size_t n = p.server.write_some(std::string_view(batch).substr(taken), out, 65536, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(n, 0u);
    EXPECT_LE(out.size(), 65536u);
    if (taken + n < batch.size()) {
      EXPECT_GT(out.size(), 65536u - 1024u) << "a slice short of the limit";
    }
    taken += n;
    ++slices;
    received += read_everything(p.client, out);
  }
  EXPECT_EQ(slices, 4);  // 200,000 bytes in slices of just under 64 KiB
  EXPECT_EQ(received, batch);
}

TEST(TlsWriteSome, SmallBatchesAndTinyLimits) {
  Pair p;
  std::string out;
  error_code ec;
  EXPECT_EQ(p.server.write_some("hello", out, 65536, ec), 5u);
  ASSERT_FALSE(ec);
  EXPECT_GT(out.size(), 5u);
  EXPECT_LT(out.size(), 5u + 64u);
  // A limit below one record's overhead still makes progress: one record.
  const std::string batch(3000, 'y');
  std::string small;
  EXPECT_EQ(p.server.write_some(batch, small, 10, ec), batch.size());
  ASSERT_FALSE(ec);
  EXPECT_EQ(read_everything(p.client, out + small), "hello" + batch);
  // Appends to what `out` holds; output() is untouched.
  std::string joined = "prefix";
  EXPECT_EQ(p.server.write_some("abc", joined, 65536, ec), 3u);
  EXPECT_THAT(joined, StartsWith("prefix"));
  EXPECT_TRUE(p.server.output().empty());
  EXPECT_EQ(read_everything(p.client, std::string_view(joined).substr(6)), "abc");
}

}  // namespace
}  // namespace tern::tls
