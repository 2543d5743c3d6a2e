#include "tls/engine.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <string>

#include "tests/unit/tls/tls_test_support.hpp"
#include "tls/context.hpp"

namespace tern::tls {
namespace {

using test::cert;
using ::testing::HasSubstr;

// Reads everything the engine can give from what is fed.
std::string read_all(Engine& engine, error_code& ec) {
  std::string text;
  std::array<char, 100> buffer{};  // small on purpose: records larger than one read stay pending
  for (;;) {
    const std::size_t n = engine.read(buffer, ec);
    if (n == 0) return text;
    text.append(buffer.data(), n);
  }
}

TEST(TlsEngine, HandshakeAndDataBothWays) {
  auto server_context = Context::server(test::server_settings());
  auto client_context = Context::client({.cafile = cert("ca.crt")});
  Engine server(server_context), client(client_context);
  const auto r = test::handshake(server, client);
  ASSERT_FALSE(r.server) << r.server.message();
  ASSERT_FALSE(r.client) << r.client.message();
  EXPECT_TRUE(server.handshake_done());

  // One write call for a batch larger than a record (16 KiB): several records, all in output().
  const std::string batch(40000, 'x');
  error_code ec;
  client.write(batch, ec);
  ASSERT_FALSE(ec);
  std::string wire;
  test::transfer(client, server, wire);
  EXPECT_EQ(read_all(server, ec), batch);
  EXPECT_EQ(ec, error::want_read);
  EXPECT_FALSE(server.pending());

  std::string out;
  server.write("hello", out, ec);  // into the caller's buffer
  ASSERT_FALSE(ec);
  EXPECT_TRUE(server.output().empty());
  client.feed(out);
  EXPECT_EQ(read_all(client, ec), "hello");
}

TEST(TlsEngine, BytesFedInPiecesAndPartialRecords) {
  Engine server(Context::server(test::server_settings())), client(Context::client({.cafile = cert("ca.crt")}));
  ASSERT_FALSE(test::handshake(server, client).server);
  error_code ec;
  client.write("abcdefghijklmnopqrstuvwxyz", ec);
  const std::string wire = std::move(client.output());
  std::string received;
  for (char c : wire) {  // one byte at a time
    server.feed(std::string_view(&c, 1));
    received += read_all(server, ec);
  }
  EXPECT_EQ(received, "abcdefghijklmnopqrstuvwxyz");
}

TEST(TlsEngine, CloseNotifyIsClosed) {
  Engine server(Context::server(test::server_settings())), client(Context::client({.cafile = cert("ca.crt")}));
  ASSERT_FALSE(test::handshake(server, client).server);
  client.close_notify();
  std::string wire;
  test::transfer(client, server, wire);
  error_code ec;
  EXPECT_EQ(read_all(server, ec), "");
  EXPECT_EQ(ec, error::closed);
}

// A server that requires client certificates from ca.crt, and a client presenting NAME.crt.
TlsSettings requiring_certificates() {
  TlsSettings settings = test::server_settings();
  settings.cafile = cert("ca.crt");
  settings.require_certificate = true;
  return settings;
}
std::shared_ptr<const Context> client_with(const std::string& name) {
  return Context::client({.cafile = cert("ca.crt"), .certfile = cert(name + ".crt"), .keyfile = cert(name + ".key")});
}

TEST(TlsEngine, ClientCertificateIdentity) {
  TlsSettings settings = requiring_certificates();
  settings.use_identity_as_username = true;
  auto context = Context::server(settings);
  EXPECT_EQ(context->peer_username(), Context::PeerUsername::identity);
  Engine server(context), client(client_with("client"));
  const auto r = test::handshake(server, client);
  ASSERT_FALSE(r.server) << r.server.message();
  EXPECT_EQ(server.peer_identity(), "tls-user");
}

// use_subject_as_username: the subject as RFC 2253 text, exactly as OpenSSL prints it (mosquitto's username).
TEST(TlsEngine, ClientCertificateSubject) {
  TlsSettings settings = requiring_certificates();
  settings.use_subject_as_username = true;
  auto context = Context::server(settings);
  EXPECT_EQ(context->peer_username(), Context::PeerUsername::subject);
  for (const auto& [name, subject] : {std::pair{"subject", R"(CN=\#dev 7,OU=Line\+1,O=Acme\, Inc.,C=DE)"},
                                      std::pair{"client", "CN=tls-user"}}) {
    Engine server(context), client(client_with(name));
    const auto r = test::handshake(server, client);
    ASSERT_FALSE(r.server) << r.server.message();
    EXPECT_EQ(server.peer_subject(), subject);
  }
}

struct Refusal {
  const char* name;
  const char* certfile;  // client certificate ("" for none)
  const char* keyfile;
  const char* reason;  // in the server's error or verify_failure
};

class TlsEngineRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(TlsEngineRefuses, BadClientCertificates) {
  TlsSettings settings = test::server_settings();
  settings.cafile = cert("ca.crt");
  settings.crlfile = cert("ca.crl");
  settings.require_certificate = true;
  ClientSettings client_settings{.cafile = cert("ca.crt")};
  if (*GetParam().certfile != '\0') {
    client_settings.certfile = cert(GetParam().certfile);
    client_settings.keyfile = cert(GetParam().keyfile);
  }
  Engine server(Context::server(settings)), client(Context::client(client_settings));
  const auto r = test::handshake(server, client);
  ASSERT_TRUE(r.server);
  EXPECT_NE(r.server, error::want_read);
  EXPECT_THAT(r.server.message() + " / " + server.verify_failure(), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(Cases, TlsEngineRefuses,
                         ::testing::Values(Refusal{"none", "", "", "No client certification received"},
                                           Refusal{"expired", "expired.crt", "expired.key", "expired"},
                                           Refusal{"wrong_ca", "wrong.crt", "wrong.key", "not correctly signed"},
                                           Refusal{"revoked", "revoked.crt", "revoked.key", "revoked"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TlsEngine, PlainTextIsRefused) {
  Engine server(Context::server(test::server_settings()));
  const std::string connect("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14);
  server.feed(connect);
  const error_code ec = server.handshake();
  EXPECT_TRUE(ec);
  EXPECT_NE(ec, error::want_read);
}

TlsSettings psk_settings() {
  TlsSettings s;
  s.psk_hint = "tern";
  s.psk_file = cert("psk.txt");
  s.use_identity_as_username = true;
  return s;
}

TEST(TlsEngine, PskIdentity) {
  Engine server(Context::server(psk_settings())),
      client(Context::client({.psk_identity = "psk-user", .psk_hex_key = "0123456789abcdef0123456789abcdef"}));
  const auto r = test::handshake(server, client);
  ASSERT_FALSE(r.server) << r.server.message();
  EXPECT_EQ(server.peer_identity(), "psk-user");
}

TEST(TlsEngine, PskWrongKeyOrIdentityIsRefused) {
  for (const auto& [identity, key] : {std::pair{"psk-user", "00000000000000000000000000000000"},
                                      std::pair{"nobody", "0123456789abcdef0123456789abcdef"}}) {
    Engine server(Context::server(psk_settings())),
        client(Context::client({.psk_identity = identity, .psk_hex_key = key}));
    const auto r = test::handshake(server, client);
    EXPECT_TRUE(r.server && r.server != error::want_read) << identity;
  }
}

// --- Context errors name the file and mbedTLS's reason ---

std::string context_error(const TlsSettings& settings) {
  try {
    Context::server(settings);
  } catch (const ContextError& e) {
    return e.what();
  }
  return "no error";
}

TEST(TlsContext, ErrorsNameTheFile) {
  TlsSettings s = test::server_settings();
  s.certfile = "/nonexistent/server.crt";
  EXPECT_THAT(context_error(s), HasSubstr("certfile /nonexistent/server.crt: "));
  s = test::server_settings();
  s.keyfile = cert("client.key");  // not the certificate's key
  EXPECT_THAT(context_error(s), HasSubstr("keyfile " + cert("client.key") + ": "));
  s = test::server_settings();
  s.keyfile = cert("ca.crt");  // not a key at all
  EXPECT_THAT(context_error(s), HasSubstr("keyfile " + cert("ca.crt") + ": "));
  s = test::server_settings();
  s.cafile = cert("psk.txt");
  EXPECT_THAT(context_error(s), HasSubstr("cafile " + cert("psk.txt") + ": "));
  s = test::server_settings();
  s.crlfile = "/nonexistent.crl";
  EXPECT_THAT(context_error(s), HasSubstr("crlfile /nonexistent.crl: "));
  s = test::server_settings();
  s.ciphers = "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256:NOT-A-SUITE";
  EXPECT_THAT(context_error(s), HasSubstr("unknown cipher suite 'NOT-A-SUITE'"));
}

TEST(TlsContext, PskFileErrors) {
  const auto path = test::certs() / "bad_psk.txt";
  std::ofstream(path) << "# comment\n\ngood:00ff\nbad-line-without-key\n";
  TlsSettings s;
  s.psk_hint = "x";
  s.psk_file = path.string();
  EXPECT_THAT(context_error(s), HasSubstr("psk_file " + path.string() + ":4: expected IDENTITY:HEX-KEY"));
  s.psk_file = "/nonexistent.psk";
  EXPECT_THAT(context_error(s), HasSubstr("psk_file /nonexistent.psk: cannot be read"));
}

TEST(TlsContext, ChosenCipherSuiteIsUsed) {
  TlsSettings s = test::server_settings();
  s.ciphers = "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384";
  Engine server(Context::server(s)), client(Context::client({.cafile = cert("ca.crt")}));
  EXPECT_FALSE(test::handshake(server, client).server);
  s.ciphers = "TLS-RSA-WITH-AES-128-GCM-SHA256";  // needs an RSA key: the EC server cannot do it
  Engine server2(Context::server(s)), client2(Context::client({.cafile = cert("ca.crt")}));
  EXPECT_TRUE(test::handshake(server2, client2).server);
}

TEST(TlsError, Categories) {
  EXPECT_STREQ(make_error_code(error::closed).category().name(), "tls");
  EXPECT_THAT(make_error_code(-0x2700).message(), HasSubstr("X509"));  // MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
}

}  // namespace
}  // namespace tern::tls
