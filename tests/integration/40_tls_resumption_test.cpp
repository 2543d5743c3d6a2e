// TLS session resumption (tls_session_* directives) against the real broker, with OpenSSL clients: Python's ssl
// (tls_resume_client.py: one process that reconnects with its session and reports session_reused) and openssl
// s_client (-sess_out / -sess_in: a session kept in a file across a broker restart or reload, "Reused" or "New").
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"

namespace tern::itest {
namespace {

std::string cert(const std::string& name) { return (test_certs() / name).string(); }

std::vector<std::string> tls_listener(std::vector<std::string> extra = {}) {
  std::vector<std::string> lines = {"listener 0 127.0.0.1", "certfile " + cert("server.crt"),
                                    "keyfile " + cert("server.key")};
  lines.insert(lines.end(), extra.begin(), extra.end());
  return lines;
}

// The broker's TLS listeners' ports (the harness's plain listener is the first).
std::vector<std::uint16_t> tls_ports(const BrokerProcess& broker) {
  auto ports = broker.ports();
  if (ports.size() < 2) throw HarnessError("no TLS listener; log:\n" + broker.log());
  ports.erase(ports.begin());
  return ports;
}

// tls_resume_client.py's lines, one per connection: "PORT reused=True connack=0".
std::vector<std::string> reconnect(const std::vector<std::uint16_t>& ports, std::vector<std::string> options = {}) {
  std::vector<std::string> argv = {"python3", std::string(TERN_SOURCE_DIR) + "/tests/integration/tls_resume_client.py",
                                   "--cafile", cert("ca.crt")};
  argv.insert(argv.end(), options.begin(), options.end());
  for (const std::uint16_t port : ports) argv.push_back(std::to_string(port));
  const CommandResult r = run_command(argv, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    const auto space = line.find(' ');
    if (space != std::string::npos) lines.push_back(line.substr(space + 1));
  }
  return lines;
}

const std::string kFull = "reused=False connack=0";
const std::string kResumed = "reused=True connack=0";

class TlsResumptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing_mosquitto()) GTEST_SKIP() << "tern's tls_session_* directives";
  }
};

// Defaults: a client that reconnects with its ticket gets an abbreviated handshake, every time; the broker counts
// one full and two resumed handshakes.
TEST_F(TlsResumptionTest, TicketResumesTheSession) {
  auto config = tls_listener();
  config.push_back("http_listener 0 127.0.0.1");
  BrokerProcess broker(config);
  const std::uint16_t port = tls_ports(broker).at(0);
  EXPECT_EQ(reconnect({port, port, port}), (std::vector<std::string>{kFull, kResumed, kResumed})) << broker.log();
  const auto m = samples(body_of(get(http_port(broker), "/metrics")));
  EXPECT_EQ(m.at("tern_tls_handshakes_total{kind=\"full\"}"), 1);
  EXPECT_EQ(m.at("tern_tls_handshakes_total{kind=\"resumed\"}"), 2);
}

// Tickets off: a client without tickets resumes through the session cache; with the cache off too, it cannot.
TEST_F(TlsResumptionTest, SessionCacheForClientsWithoutTickets) {
  BrokerProcess broker(tls_listener({"tls_session_tickets false"}));
  const std::uint16_t port = tls_ports(broker).at(0);
  EXPECT_EQ(reconnect({port, port}, {"--no-tickets"}), (std::vector<std::string>{kFull, kResumed})) << broker.log();
  // A client that offers tickets falls back to the session id as well.
  EXPECT_EQ(reconnect({port, port}), (std::vector<std::string>{kFull, kResumed})) << broker.log();

  BrokerProcess none(tls_listener({"tls_session_tickets false", "tls_session_cache_size 0"}));
  const std::uint16_t none_port = tls_ports(none).at(0);
  EXPECT_EQ(reconnect({none_port, none_port}), (std::vector<std::string>{kFull, kFull})) << none.log();
}

// Each listener has its own ticket keys and cache: one listener's session is a full handshake on another.
TEST_F(TlsResumptionTest, AnotherListenersSessionIsRefused) {
  auto config = tls_listener();
  for (const auto& line : tls_listener()) config.push_back(line);
  BrokerProcess broker(config);
  const auto ports = tls_ports(broker);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(reconnect({ports[0], ports[1], ports[1]}), (std::vector<std::string>{kFull, kFull, kResumed}));
  EXPECT_EQ(reconnect({ports[0], ports[1], ports[1]}, {"--no-tickets"}),
            (std::vector<std::string>{kFull, kFull, kResumed}));
}

// Past tls_session_lifetime (1 s here; the client waits 2.2 s, past it in whole seconds too) a session is refused,
// from a ticket and from the cache alike.
TEST_F(TlsResumptionTest, RefusedAfterTheLifetime) {
  BrokerProcess broker(tls_listener({"tls_session_lifetime 1"}));
  const std::uint16_t port = tls_ports(broker).at(0);
  EXPECT_EQ(reconnect({port, port}, {"--sleep", "2.2"}), (std::vector<std::string>{kFull, kFull}));
  EXPECT_EQ(reconnect({port, port}, {"--sleep", "2.2", "--no-tickets"}), (std::vector<std::string>{kFull, kFull}));
}

// openssl s_client with its session in a file: "Reused" or "New".
std::string s_client(std::uint16_t port, const std::string& session_file, bool resume,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {
      "openssl",      "s_client",    "-connect",  "127.0.0.1:" + std::to_string(port), "-tls1_2",   "-CAfile",
      cert("ca.crt"), "-servername", "localhost", resume ? "-sess_in" : "-sess_out",   session_file};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const CommandResult r = run_command(argv, 20s);
  if (r.output.find("Reused, TLSv1.2") != std::string::npos) return "Reused";
  if (r.output.find("New, TLSv1.2") != std::string::npos) return "New";
  return "no handshake: " + r.output;
}

// With tls_session_ticket_key_file, a client's ticket still opens its session after the broker restarts (a gateway
// reboot); without it, the restarted broker has new keys.
TEST_F(TlsResumptionTest, KeyFileKeepsTicketsOverARestart) {
  const auto dir = test_certs() / "tickets";
  std::filesystem::create_directories(dir);
  const std::string session = (dir / "session.pem").string();
  const std::string key_file = (dir / "listener.key").string();
  std::filesystem::remove(key_file);
  BrokerProcess broker(tls_listener({"tls_session_ticket_key_file " + key_file}));
  EXPECT_EQ(s_client(tls_ports(broker).at(0), session, false), "New");
  EXPECT_EQ(std::filesystem::status(key_file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  broker.restart();
  EXPECT_EQ(s_client(tls_ports(broker).at(0), session, true), "Reused") << broker.log();

  BrokerProcess plain(tls_listener());
  EXPECT_EQ(s_client(tls_ports(plain).at(0), session, false), "New");
  plain.restart();
  EXPECT_EQ(s_client(tls_ports(plain).at(0), session, true), "New");
}

// SIGHUP keeps a listener's sessions, unless it brought other CA or CRL files for client certificates (a resumed
// session's certificate is not verified again).
TEST_F(TlsResumptionTest, SighupKeepsSessionsUnlessTheClientCaChanged) {
  const auto dir = test_certs() / "tickets-hup";
  std::filesystem::create_directories(dir);
  const auto cafile = dir / "ca.crt";
  std::filesystem::copy_file(cert("ca.crt"), cafile, std::filesystem::copy_options::overwrite_existing);
  auto config = tls_listener();
  for (const auto& line : tls_listener({"cafile " + cafile.string(), "require_certificate true"})) {
    config.push_back(line);
  }
  BrokerProcess broker(config);
  const auto ports = tls_ports(broker);
  ASSERT_EQ(ports.size(), 2u);
  const std::string plain = (dir / "plain.pem").string();
  const std::string with_cert = (dir / "cert.pem").string();
  const std::vector<std::string> client_cert = {"-cert", cert("client.crt"), "-key", cert("client.key")};
  EXPECT_EQ(s_client(ports[0], plain, false), "New");
  EXPECT_EQ(s_client(ports[1], with_cert, false, client_cert), "New");
  EXPECT_EQ(s_client(ports[1], with_cert, true, client_cert), "Reused");
  const std::string reloaded = "reloaded for new connections";
  broker.signal(SIGHUP);  // the same files: both keep their sessions
  ASSERT_TRUE(wait_until([&] { return broker.log_count(reloaded) >= 2; })) << broker.log();
  EXPECT_EQ(s_client(ports[0], plain, true), "Reused");
  EXPECT_EQ(s_client(ports[1], with_cert, true, client_cert), "Reused");
  std::ofstream(cafile, std::ios::app) << "\n";  // another CA file (the same certificate, other bytes)
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log_count(reloaded) >= 4; })) << broker.log();
  EXPECT_EQ(s_client(ports[0], plain, true), "Reused");
  EXPECT_EQ(s_client(ports[1], with_cert, true, client_cert), "New");
}

// A bridge whose TLS link drops (another client takes over its client id upstream) resumes its session when it
// reconnects: the upstream counts the second handshake as resumed.
TEST_F(TlsResumptionTest, BridgeResumesItsUplink) {
  auto upstream_config = tls_listener();
  upstream_config.push_back("http_listener 0 127.0.0.1");
  BrokerProcess upstream(upstream_config);
  const std::uint16_t tls_port = tls_ports(upstream).at(0);
  BrokerProcess edge({"connection up", "address localhost:" + std::to_string(tls_port), "remote_clientid gateway-r",
                      "topic out/# out 1", "restart_timeout 1", "keepalive_interval 5",
                      "bridge_cafile " + cert("ca.crt")});
  const std::uint16_t metrics = http_port(upstream);
  auto handshakes = [&](const std::string& kind) {
    const auto m = samples(body_of(get(metrics, "/metrics")));
    return m.at("tern_tls_handshakes_total{kind=\"" + kind + "\"}");
  };
  ASSERT_TRUE(wait_until([&] { return handshakes("full") == 1; }, 20s)) << edge.log();
  EXPECT_EQ(handshakes("resumed"), 0);
  // The handshake is counted before the bridge's CONNECT arrives: wait for its session upstream, or the thief below
  // would come first and be the one taken over.
  ASSERT_TRUE(wait_until([&] { return edge.log_count("Bridge up: connected to") == 1; }, 20s)) << edge.log();
  ASSERT_TRUE(wait_until([&] { return upstream.log_count("as gateway-r") == 1; }, 20s)) << upstream.log();
  // Take the bridge's client id over on the plain listener: the upstream closes the bridge's link.
  RawClient thief(upstream.port(), Version::v311);
  thief.connect("gateway-r");
  ASSERT_TRUE(wait_until([&] { return handshakes("resumed") == 1; }, 20s)) << edge.log() << upstream.log();
  EXPECT_EQ(handshakes("full"), 1);
}

std::string tern_binary() {
  const char* v = std::getenv("TERN_TEST_BINARY");
  return v != nullptr && *v != '\0' ? v : TERN_BINARY;
}

// Bad values stop the start with FILE:LINE; a key file that cannot be written stops it with the reason.
TEST_F(TlsResumptionTest, ConfigErrors) {
  const auto dir = test_certs() / "tickets-config";
  std::filesystem::create_directories(dir);
  const auto conf = (dir / "tern.conf").string();
  auto run = [&](const std::string& text) {
    std::ofstream(conf, std::ios::trunc) << "listener 0 127.0.0.1\ncertfile " << cert("server.crt") << "\nkeyfile "
                                         << cert("server.key") << "\n"
                                         << text;
    return run_command({tern_binary(), "-c", conf}, 10s);
  };
  auto r = run("tls_session_cache_size lots\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(conf + ":4: tls_session_cache_size: expected an integer from 0 to 10000, got 'lots'"),
            std::string::npos)
      << r.output;
  r = run("tls_session_tickets maybe\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(conf + ":4: tls_session_tickets: expected true or false, got 'maybe'"), std::string::npos)
      << r.output;
  r = run("tls_session_lifetime 0\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(conf + ":4: tls_session_lifetime: expected an integer from 1 to 604800"), std::string::npos)
      << r.output;
  r = run("tls_session_ticket_key_file " + (dir / "missing" / "k").string() + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("tls_session_ticket_key_file " + (dir / "missing" / "k").string() + ": cannot be written"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace tern::itest
