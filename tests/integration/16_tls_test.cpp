// TLS listeners (mbedTLS inside tern) against real peers with OpenSSL inside: Paho MQTT C++ and mosquitto_pub /
// mosquitto_sub. Certificates are made per test process by tests/unit/tls/make_test_certs.sh (openssl); none is
// committed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

const std::filesystem::path& certs() { return test_certs(); }

std::string cert(const std::string& name) { return (certs() / name).string(); }

// Listeners after the harness's plain one: [1] TLS with a server certificate, [2] TLS requiring a client
// certificate (CN as username, CRL checked), [3] TLS-PSK (identity as username). Anonymous clients are refused,
// so the certificate and PSK clients get in only through use_identity_as_username.
std::vector<std::string> tls_config(const std::string& certfile = cert("server.crt"),
                                    const std::string& keyfile = cert("server.key")) {
  return {"allow_anonymous false",
          "listener 0 127.0.0.1",
          "certfile " + certfile,
          "keyfile " + keyfile,
          "listener 0 127.0.0.1",
          "certfile " + cert("server.crt"),
          "keyfile " + cert("server.key"),
          "cafile " + cert("ca.crt"),
          "crlfile " + cert("ca.crl"),
          "require_certificate true",
          "use_identity_as_username true",
          "listener 0 127.0.0.1",
          "psk_hint tern",
          "use_identity_as_username true",
          "psk_file " + cert("psk.txt")};
}

struct Ports {
  std::uint16_t plain, tls, cert, psk;
};

Ports ports_of(const BrokerProcess& broker) {
  const auto p = broker.ports();
  if (p.size() != 4) throw HarnessError("expected 4 listeners; log:\n" + broker.log());
  return {p[0], p[1], p[2], p[3]};
}

mqtt::ssl_options trust_ca(const std::string& ca = cert("ca.crt")) {
  mqtt::ssl_options ssl;
  ssl.set_trust_store(ca);
  ssl.set_enable_server_cert_auth(true);
  return ssl;
}

mqtt::ssl_options client_certificate(const std::string& name) {
  mqtt::ssl_options ssl = trust_ca();
  ssl.set_key_store(cert(name + ".crt"));
  ssl.set_private_key(cert(name + ".key"));
  return ssl;
}

class TlsTest : public VersionedTest {
 protected:
  void SetUp() override {
    if (testing_mosquitto()) GTEST_SKIP() << "tern's TLS listeners (the harness config is tern's)";
  }
  std::string protocol_flag() const { return v5() ? "mqttv5" : "mqttv311"; }
  std::vector<std::string> tool(const std::string& name, std::uint16_t port, std::vector<std::string> extra) const {
    std::vector<std::string> args = {"stdbuf", "-oL",          name, "-h", "127.0.0.1", "-p", std::to_string(port),
                                     "-V",     protocol_flag()};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

// Paho (OpenSSL) over TLS: subscribe and publish at QoS 0, 1 and 2; a client certificate's CN is the username.
TEST_P(TlsTest, PahoPublishSubscribeAllQos) {
  BrokerProcess broker(tls_config());
  const Ports ports = ports_of(broker);
  // The certificate listener: no username in CONNECT, but allow_anonymous false: the CN is the username.
  PahoClient sub(ports.cert, "tls-sub", version(), client_certificate("client"));
  sub.connect();
  sub.subscribe("tls/#", 2);
  // The plain TLS listener needs a username (anonymous clients are refused): set one.
  PahoClient pub(ports.tls, "tls-pub", version(), trust_ca());
  {
    mqtt::connect_options opts;
    opts.set_mqtt_version(v5() ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    opts.set_user_name("someone");
    opts.set_ssl(trust_ca());
    ASSERT_TRUE(pub.client().connect(opts)->wait_for(answer_timeout));
  }
  for (int q = 0; q <= 2; ++q) pub.publish("tls/q" + std::to_string(q), std::string(1000 * (q + 1), 'a' + q), q);
  // A batch bigger than one TLS record (16 KiB) in both directions.
  pub.publish("tls/big", std::string(100000, 'z'), 1);
  ASSERT_TRUE(sub.received().wait_for(4)) << broker.log();
  // Found by topic: MQTT orders messages per topic, not across topics (under qemu "tls/big" has overtaken
  // "tls/q2", whose QoS 2 exchange takes longer).
  std::map<std::string, std::string> by_topic;
  for (const auto& m : sub.received().messages()) by_topic[m->get_topic()] = m->get_payload_str();
  ASSERT_EQ(by_topic.size(), 4u);
  for (int q = 0; q <= 2; ++q) {
    EXPECT_EQ(by_topic["tls/q" + std::to_string(q)], std::string(1000 * (q + 1), 'a' + q)) << "QoS " << q;
  }
  EXPECT_EQ(by_topic["tls/big"], std::string(100000, 'z'));
  EXPECT_TRUE(wait_until([&] { return broker.log().find("u'tls-user'") != std::string::npos; })) << broker.log();
  pub.disconnect();
  sub.disconnect();
}

// The ACL knows clients by their certificate's CN and their PSK identity (use_identity_as_username): a certificate
// client reads only what its user may read, a PSK client writes only where its user may write.
TEST_P(TlsTest, AclForCertificateAndPskIdentities) {
  const auto acl = std::filesystem::temp_directory_path() / ("tern-tls-acl-" + std::to_string(::getpid()));
  {
    std::ofstream out(acl);
    out << "user tls-user\ntopic read m/#\ntopic deny m/secret/#\nuser psk-user\ntopic write m/psk/#\n"
           "topic write m/secret/#\ntopic write m/other/#\n";
  }
  auto config = tls_config();
  config.push_back("acl_file " + acl.string());
  BrokerProcess broker(config);
  std::filesystem::remove(acl);  // read at start-up
  const Ports ports = ports_of(broker);
  BackgroundCommand sub(tool("mosquitto_sub", ports.cert,
                             {"--cafile", cert("ca.crt"), "--cert", cert("client.crt"), "--key", cert("client.key"),
                              "-d", "-v", "-q", "1", "-t", "m/#", "-C", "2", "-W", "20"}));
  ASSERT_TRUE(sub.wait_for_output("SUBACK")) << sub.output();
  auto psk_pub = [&](const std::string& topic) {
    const auto r = run_command(tool("mosquitto_pub", ports.psk,
                                    {"--psk", "0123456789abcdef0123456789abcdef", "--psk-identity", "psk-user", "-q",
                                     "1", "-t", topic, "-m", "from psk"}),
                               10s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  };
  psk_pub("m/secret/a");  // psk-user may write it; tls-user may not read it
  psk_pub("m/other/b");
  psk_pub("m/psk/c");
  const auto r = sub.wait(20s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("m/secret/a"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("m/other/b from psk"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("m/psk/c from psk"), std::string::npos) << r.output;

  // tls-user may not write anywhere, psk-user may not read: a 5.0 publish is refused with 0x87.
  if (v5()) {
    const auto denied = run_command(tool("mosquitto_pub", ports.cert,
                                         {"--cafile", cert("ca.crt"), "--cert", cert("client.crt"), "--key",
                                          cert("client.key"), "-q", "1", "-t", "m/x", "-m", "no"}),
                                    10s);
    EXPECT_NE(denied.output.find("Not authorized"), std::string::npos) << denied.output;
  }
}

// use_subject_as_username: the certificate's whole subject (RFC 2253) is the username the ACL knows.
TEST_P(TlsTest, SubjectAsUsernameInTheAcl) {
  const auto acl = std::filesystem::temp_directory_path() / ("tern-tls-subject-acl-" + std::to_string(::getpid()));
  {
    std::ofstream out(acl);
    out << "user CN=\\#dev 7,OU=Line\\+1,O=Acme\\, Inc.,C=DE\ntopic readwrite plant/#\n";
  }
  BrokerProcess broker({"allow_anonymous false", "acl_file " + acl.string(), "listener 0 127.0.0.1",
                        "certfile " + cert("server.crt"), "keyfile " + cert("server.key"), "cafile " + cert("ca.crt"),
                        "require_certificate true", "use_subject_as_username true"});
  std::filesystem::remove(acl);
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  PahoClient device(ports[1], "device", version(), client_certificate("subject"));
  device.connect();
  const auto granted = device.subscribe("plant/#", 1);
  ASSERT_EQ(granted.size(), 1u);
  EXPECT_EQ(static_cast<int>(granted[0]), 1);
  try {  // Paho reports a refused filter (SUBACK 0x80 / 0x87) as an error
    device.subscribe("office/#", 1);
    ADD_FAILURE() << "office/# was granted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(v5() ? "Not authorized" : "[128]"), std::string::npos) << e.what();
  }
  device.publish("plant/line1", "running", 1);
  ASSERT_TRUE(device.received().wait_for(1)) << broker.log();
  EXPECT_EQ(device.received().messages()[0]->get_topic(), "plant/line1");
  EXPECT_NE(broker.log().find(R"(u'CN=\#dev 7,OU=Line\+1,O=Acme\, Inc.,C=DE')"), std::string::npos) << broker.log();
  device.disconnect();
}

// mosquitto_sub with a client certificate; mosquitto_pub with TLS-PSK, with a server certificate, and over the
// plain listener of the same broker.
TEST_P(TlsTest, MosquittoClientsCertificateAndPsk) {
  BrokerProcess broker(tls_config());
  const Ports ports = ports_of(broker);
  BackgroundCommand sub(tool("mosquitto_sub", ports.cert,
                             {"--cafile", cert("ca.crt"), "--cert", cert("client.crt"), "--key", cert("client.key"),
                              "-d", "-v", "-q", "2", "-t", "m/#", "-C", "5", "-W", "20"}));
  ASSERT_TRUE(sub.wait_for_output("SUBACK")) << sub.output() << broker.log();
  for (int q = 0; q <= 2; ++q) {
    const auto r =
        run_command(tool("mosquitto_pub", ports.psk,
                         {"--psk", "0123456789abcdef0123456789abcdef", "--psk-identity", "psk-user", "-q",
                          std::to_string(q), "-t", "m/psk" + std::to_string(q), "-m", "p" + std::to_string(q)}),
                    10s);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  auto r = run_command(
      tool("mosquitto_pub", ports.tls, {"--cafile", cert("ca.crt"), "-u", "u", "-q", "1", "-t", "m/cert", "-m", "c"}),
      10s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command(tool("mosquitto_pub", ports.plain, {"-u", "u", "-q", "2", "-t", "m/plain", "-m", "x"}), 10s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto done = sub.wait(20s);
  EXPECT_EQ(done.exit_code, 0) << done.output;
  for (const char* line : {"m/psk0 p0", "m/psk1 p1", "m/psk2 p2", "m/cert c", "m/plain x"}) {
    EXPECT_NE(done.output.find(line), std::string::npos) << line << "\n" << done.output;
  }
  EXPECT_NE(broker.log().find("u'psk-user'"), std::string::npos) << broker.log();
}

TERN_INSTANTIATE_VERSIONS(TlsTest);

class TlsRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing_mosquitto()) GTEST_SKIP() << "tern's TLS listeners";
  }
};

// Every bad handshake is refused, logged with its reason, and costs nothing else: the broker serves the next
// good client.
TEST_F(TlsRefusalTest, BadHandshakesAreRefusedAndLogged) {
  BrokerProcess broker(tls_config());
  const Ports ports = ports_of(broker);
  struct Case {
    std::uint16_t port;
    std::vector<std::string> args;
    std::string reason;  // in the log line
  };
  const std::vector<Case> cases = {
      {ports.cert, {"--cafile", cert("ca.crt")}, "No client certification received"},
      {ports.cert,
       {"--cafile", cert("ca.crt"), "--cert", cert("expired.crt"), "--key", cert("expired.key")},
       "expired"},
      {ports.cert,
       {"--cafile", cert("ca.crt"), "--cert", cert("wrong.crt"), "--key", cert("wrong.key")},
       "not correctly signed"},
      {ports.cert,
       {"--cafile", cert("ca.crt"), "--cert", cert("revoked.crt"), "--key", cert("revoked.key")},
       "revoked"},
      {ports.psk, {"--psk", "00000000000000000000000000000000", "--psk-identity", "psk-user"}, "failed: "},
      {ports.psk, {"--psk", "0123456789abcdef0123456789abcdef", "--psk-identity", "nobody"}, "failed: "},
      {ports.tls, {}, "not TLS (first byte 0x10, an MQTT CONNECT)"},
  };
  std::size_t failures = 0;
  for (const Case& c : cases) {
    std::vector<std::string> args = {
        "mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(c.port), "-t", "x", "-m", "x", "-u", "u"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_command(args, 10s);
    EXPECT_NE(r.exit_code, 0) << c.reason << ": " << r.output;
    ++failures;
    EXPECT_TRUE(wait_until([&] {
      const std::string log = broker.log();
      std::size_t count = 0;
      for (auto at = log.find("TLS handshake with"); at != std::string::npos;
           at = log.find("TLS handshake with", at + 1))
        ++count;
      return count == failures && log.find(c.reason) != std::string::npos;
    })) << c.reason
        << "\n"
        << broker.log();
  }
  EXPECT_EQ(broker.log().find("New client connected"), std::string::npos) << broker.log();  // none got in
  // Nothing else was affected.
  PahoClient good(ports.cert, "good", Version::v5, client_certificate("client"));
  good.connect();
  good.disconnect();
}

// A client that opens TCP and never starts the handshake is dropped after the handshake timeout (10 s).
TEST_F(TlsRefusalTest, HandshakeTimesOut) {
  BrokerProcess broker(tls_config());
  const Ports ports = ports_of(broker);
  RawClient silent(ports.tls, Version::v5);
  const auto r = silent.read(15s);
  EXPECT_EQ(r.status, RawClient::ReadResult::Status::closed);
  EXPECT_NE(broker.log().find("failed: timed out after 10 s"), std::string::npos) << broker.log();
}

// SIGHUP: new connections get the re-read certificate; the connection made before keeps working. A reload that
// fails keeps the previous certificate.
TEST_F(TlsRefusalTest, SighupReloadsCertificatesForNewConnections) {
  const auto dir = certs() / "reload";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(cert("server.crt"), dir / "server.crt", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert("server.key"), dir / "server.key", std::filesystem::copy_options::overwrite_existing);
  BrokerProcess broker(tls_config((dir / "server.crt").string(), (dir / "server.key").string()));
  const Ports ports = ports_of(broker);
  PahoClient before(ports.cert, "before", Version::v311, client_certificate("client"));
  before.connect();
  before.subscribe("r/#", 1);
  PahoClient old_tls(ports.tls, "old-tls", Version::v5, trust_ca());
  {
    mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    opts.set_user_name("u");
    opts.set_ssl(trust_ca());
    ASSERT_TRUE(old_tls.client().connect(opts)->wait_for(answer_timeout));
  }

  auto pub = [&](const std::string& ca) {
    return run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(ports.tls), "--cafile", ca, "-u", "u",
                        "-q", "1", "-t", "r/new", "-m", ca},
                       10s)
        .exit_code;
  };
  EXPECT_EQ(pub(cert("ca.crt")), 0);

  // A broken certificate: the reload fails and the old one stays.
  std::ofstream(dir / "server.crt", std::ios::trunc) << "not a certificate\n";
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log().find("reload failed") != std::string::npos; })) << broker.log();
  EXPECT_EQ(pub(cert("ca.crt")), 0);

  // A certificate from the other CA: new connections must trust that one.
  std::filesystem::copy_file(cert("server2.crt"), dir / "server.crt",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert("server2.key"), dir / "server.key",
                             std::filesystem::copy_options::overwrite_existing);
  // The first SIGHUP reloaded the two other TLS listeners already: wait for this one's three lines.
  const std::string reloaded = "reloaded for new connections";
  const std::size_t reloaded_before = broker.log_count(reloaded);
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log_count(reloaded) >= reloaded_before + 3; })) << broker.log();
  EXPECT_NE(pub(cert("ca.crt")), 0);
  EXPECT_EQ(pub(cert("wrongca.crt")), 0);

  // The connections made before the reload still work, in both directions.
  old_tls.publish("r/old", "still here", 1);
  ASSERT_TRUE(before.received().wait_for(4)) << broker.log();
  EXPECT_EQ(before.received().messages().back()->get_payload_str(), "still here");
  before.disconnect();
  old_tls.disconnect();
}

std::string tern_binary() {
  const char* v = std::getenv("TERN_TEST_BINARY");
  return v != nullptr && *v != '\0' ? v : TERN_BINARY;
}

// Unusable files stop the start-up with exit code 1, naming the file and mbedTLS's reason; TLS syntax errors are
// FILE:LINE errors.
TEST_F(TlsRefusalTest, StartupErrors) {
  const auto dir = certs() / "startup";
  std::filesystem::create_directories(dir);
  const auto conf = (dir / "tern.conf").string();
  auto run = [&](const std::string& text) {
    std::ofstream(conf, std::ios::trunc) << text;
    return run_command({tern_binary(), "-c", conf}, 10s);
  };
  auto r = run("listener 0 127.0.0.1\ncertfile /nonexistent/server.crt\nkeyfile " + cert("server.key") + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("certfile /nonexistent/server.crt: "), std::string::npos) << r.output;
  r = run("listener 0 127.0.0.1\ncertfile " + cert("server.crt") + "\nkeyfile " + cert("client.key") + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("keyfile " + cert("client.key") + ": "), std::string::npos) << r.output;
  r = run("listener 0 127.0.0.1\ncertfile " + cert("server.crt") + "\nkeyfile " + cert("server.key") +
          "\ntls_version tlsv1.3\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(conf + ":4: tls_version tlsv1.3 is not supported"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tern::itest
