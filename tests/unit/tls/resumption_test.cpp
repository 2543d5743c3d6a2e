// Session resumption (tls/resumption.hpp) between two in-memory engines: tickets, the session cache, their limits
// (another listener's ticket, the lifetime, the cache's size, TLS-PSK) and the ticket key file.
#include "tls/resumption.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/tls/tls_test_support.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

namespace tern::tls {
namespace {

using test::cert;

ResumptionSettings tickets_only() { return {.tickets = true, .cache_size = 0}; }
ResumptionSettings cache_only(int size = 10) { return {.tickets = false, .cache_size = size}; }

std::shared_ptr<const Context> server_with(std::shared_ptr<Resumption> resumption,
                                           TlsSettings settings = test::server_settings()) {
  return Context::server(settings, std::move(resumption));
}

std::shared_ptr<const Context> client_context() { return Context::client({.cafile = cert("ca.crt")}); }

// One handshake of a new client engine, offering `saved` when not empty. Returns the session to offer next time;
// `server_resumed` / `client_resumed` say what each side saw.
struct Connection {
  std::string saved;
  bool server_resumed = false;
  bool client_resumed = false;
};

Connection connect(const std::shared_ptr<const Context>& server_context, const std::shared_ptr<const Context>& client,
                   const std::string& saved = {}) {
  Engine server(server_context), engine(client);
  if (!saved.empty()) engine.resume_session(saved);
  const auto r = test::handshake(server, engine);
  EXPECT_FALSE(r.server) << r.server.message();
  EXPECT_FALSE(r.client) << r.client.message();
  return {engine.saved_session(), server.resumed(), engine.resumed()};
}

TEST(TlsResumption, TicketGivesAnAbbreviatedHandshake) {
  auto server = server_with(Resumption::make(tickets_only()));
  auto client = client_context();
  const HandshakeCounts before = handshake_counts();
  const Connection first = connect(server, client);
  EXPECT_FALSE(first.server_resumed);
  ASSERT_FALSE(first.saved.empty());
  const Connection second = connect(server, client, first.saved);
  EXPECT_TRUE(second.server_resumed);
  EXPECT_TRUE(second.client_resumed);
  const HandshakeCounts after = handshake_counts();
  EXPECT_EQ(after.full - before.full, 1u);
  EXPECT_EQ(after.resumed - before.resumed, 1u);
  // The session can be resumed again and again from the first ticket (within its lifetime).
  EXPECT_TRUE(connect(server, client, first.saved).server_resumed);
}

TEST(TlsResumption, SessionCacheWithoutTickets) {
  auto server = server_with(Resumption::make(cache_only()));
  auto client = client_context();
  const Connection first = connect(server, client);
  EXPECT_FALSE(first.server_resumed);
  const Connection second = connect(server, client, first.saved);
  EXPECT_TRUE(second.server_resumed);
  EXPECT_TRUE(second.client_resumed);
}

TEST(TlsResumption, NothingResumedWithoutIt) {
  EXPECT_EQ(Resumption::make({.tickets = false, .cache_size = 0}), nullptr);
  auto server = server_with(nullptr);
  auto client = client_context();
  const Connection first = connect(server, client);
  const Connection second = connect(server, client, first.saved);
  EXPECT_FALSE(second.server_resumed);
  EXPECT_FALSE(second.client_resumed);
}

// Each listener has its own keys and cache: a session from one is a full handshake on the other.
TEST(TlsResumption, AnotherListenersTicketOrSessionIsRefused) {
  auto client = client_context();
  for (const ResumptionSettings& settings : {tickets_only(), cache_only()}) {
    auto a = server_with(Resumption::make(settings));
    auto b = server_with(Resumption::make(settings));
    const Connection on_a = connect(a, client);
    const Connection on_b = connect(b, client, on_a.saved);
    EXPECT_FALSE(on_b.server_resumed) << settings.tickets;
    EXPECT_FALSE(on_b.client_resumed) << settings.tickets;
    EXPECT_TRUE(connect(a, client, on_a.saved).server_resumed) << settings.tickets;
  }
}

// A ticket and a cached session live `lifetime` seconds after their full handshake (mbedTLS and Tern count whole
// seconds: with lifetime 1, two seconds later is past it whatever the fractions).
TEST(TlsResumption, RefusedAfterTheLifetime) {
  auto client = client_context();
  for (ResumptionSettings settings : {tickets_only(), cache_only()}) {
    settings.lifetime = 1;
    auto server = server_with(Resumption::make(settings));
    const Connection first = connect(server, client);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    const Connection late = connect(server, client, first.saved);
    EXPECT_FALSE(late.server_resumed) << settings.tickets;
    EXPECT_FALSE(late.client_resumed) << settings.tickets;
  }
}

// A full cache drops its oldest session for a new one. (The newest is tried first: the full handshake of a refused
// session takes a cache entry itself.)
TEST(TlsResumption, CacheIsBounded) {
  auto server = server_with(Resumption::make(cache_only(2)));
  auto client = client_context();
  const Connection one = connect(server, client);
  const Connection two = connect(server, client);
  const Connection three = connect(server, client);
  EXPECT_TRUE(connect(server, client, three.saved).server_resumed);
  EXPECT_TRUE(connect(server, client, two.saved).server_resumed);
  EXPECT_FALSE(connect(server, client, one.saved).server_resumed);
}

// A resumed session keeps the client's certificate: use_identity_as_username and use_subject_as_username see the
// same name as after the full handshake, by ticket and from the cache.
TEST(TlsResumption, ClientCertificateSurvivesResumption) {
  TlsSettings settings = test::server_settings();
  settings.cafile = cert("ca.crt");
  settings.require_certificate = true;
  auto client =
      Context::client({.cafile = cert("ca.crt"), .certfile = cert("client.crt"), .keyfile = cert("client.key")});
  for (const ResumptionSettings& r : {tickets_only(), cache_only()}) {
    auto server = server_with(Resumption::make(r), settings);
    const Connection first = connect(server, client);
    Engine engine(server), again(client);
    again.resume_session(first.saved);
    ASSERT_FALSE(test::handshake(engine, again).server);
    EXPECT_TRUE(engine.resumed()) << r.tickets;
    EXPECT_EQ(engine.peer_identity(), "tls-user") << r.tickets;
    EXPECT_EQ(engine.peer_subject(), "CN=tls-user") << r.tickets;
    EXPECT_TRUE(engine.verify_failure().empty()) << r.tickets;
  }
}

// TLS-PSK sessions get no ticket and no cache entry: the identity that use_identity_as_username needs comes from a
// full handshake only.
TEST(TlsResumption, PskSessionsAreNotResumed) {
  TlsSettings settings;
  settings.psk_hint = "hint";
  settings.psk_file = cert("psk.txt");
  settings.use_identity_as_username = true;
  for (const ResumptionSettings& r : {tickets_only(), cache_only()}) {
    auto server = server_with(Resumption::make(r), settings);
    auto client = Context::client({.psk_identity = "psk-user", .psk_hex_key = "0123456789abcdef0123456789abcdef"});
    const Connection first = connect(server, client);
    Engine engine(server), psk_client(client);
    psk_client.resume_session(first.saved);
    ASSERT_FALSE(test::handshake(engine, psk_client).server);
    EXPECT_FALSE(engine.resumed()) << r.tickets;
    EXPECT_EQ(engine.peer_identity(), "psk-user");
  }
}

// With a key file, a new Resumption (a restarted broker) opens the tickets of the one before; one bound to other
// client verification files does not (and rebinds the file).
TEST(TlsResumption, KeyFileCarriesTicketsOverARestart) {
  const auto file = test::certs() / "tickets.key";
  std::filesystem::remove(file);
  ResumptionSettings settings = tickets_only();
  settings.ticket_key_file = file.string();
  auto client = client_context();
  const Connection first = connect(server_with(Resumption::make(settings)), client);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 128);
  EXPECT_TRUE(connect(server_with(Resumption::make(settings)), client, first.saved).server_resumed);
  const std::string other(32, 'b');
  EXPECT_FALSE(connect(server_with(Resumption::make(settings, other)), client, first.saved).server_resumed);
  EXPECT_FALSE(connect(server_with(Resumption::make(settings)), client, first.saved).server_resumed);
  // A damaged file is replaced by new keys.
  std::ofstream(file, std::ios::trunc) << "not keys";
  const Connection after = connect(server_with(Resumption::make(settings)), client);
  EXPECT_EQ(std::filesystem::file_size(file), 128u);
  EXPECT_TRUE(connect(server_with(Resumption::make(settings)), client, after.saved).server_resumed);
  // A key file that cannot be written stops the start; on a reload the keys stay in memory.
  settings.ticket_key_file = (test::certs() / "no-such-dir" / "tickets.key").string();
  EXPECT_THROW(Resumption::make(settings), ContextError);
  EXPECT_NE(Resumption::make(settings, {}, false), nullptr);
}

// The binding: a digest of the files that verify client certificates, on listeners that require them.
TEST(TlsResumption, BindingFollowsTheClientVerificationFiles) {
  const auto dir = test::certs() / "binding";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(cert("ca.crt"), dir / "ca.crt", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(cert("ca.crl"), dir / "ca.crl", std::filesystem::copy_options::overwrite_existing);
  TlsSettings settings = test::server_settings();
  settings.cafile = (dir / "ca.crt").string();
  settings.crlfile = (dir / "ca.crl").string();
  EXPECT_EQ(Resumption::binding_of(settings), "");  // no client certificates asked for
  settings.require_certificate = true;
  const std::string before = Resumption::binding_of(settings);
  EXPECT_EQ(before.size(), 32u);
  EXPECT_EQ(Resumption::binding_of(settings), before);
  std::ofstream(dir / "ca.crl", std::ios::app) << "\n";
  EXPECT_NE(Resumption::binding_of(settings), before);
}

// One Resumption serves every shard: handshakes on several threads at once, full and resumed, by ticket and from
// the cache (run under ThreadSanitizer in CI).
TEST(TlsResumption, SharedByThreads) {
  for (const ResumptionSettings& settings : {tickets_only(), cache_only(8)}) {
    auto server = server_with(Resumption::make(settings));
    auto client = client_context();
    const Connection first = connect(server, client);
    std::vector<std::thread> threads;
    std::vector<int> resumed(4, 0);
    for (std::size_t t = 0; t < resumed.size(); ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          const Connection again = connect(server, client, i % 2 == 0 ? first.saved : std::string());
          resumed[t] += again.server_resumed ? 1 : 0;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (const int r : resumed) EXPECT_GE(r, settings.tickets ? 5 : 0) << settings.tickets;
  }
}

// A measurement, not a check (run by hand: --gtest_also_run_disabled_tests): heap bytes per session cache entry,
// without and with client certificates.
TEST(TlsResumption, DISABLED_CacheEntryCost) {
  for (const bool certificates : {false, true}) {
    TlsSettings settings = test::server_settings();
    std::shared_ptr<const Context> client = client_context();
    if (certificates) {
      settings.cafile = cert("ca.crt");
      settings.require_certificate = true;
      client =
          Context::client({.cafile = cert("ca.crt"), .certfile = cert("client.crt"), .keyfile = cert("client.key")});
    }
    constexpr int entries = 200;
    auto server = server_with(Resumption::make(cache_only(entries)), settings);
    connect(server, client);  // the first entry
    const std::size_t before = mallinfo2().uordblks;
    for (int i = 1; i < entries; ++i) connect(server, client);
    const std::size_t after = mallinfo2().uordblks;
    std::printf("client certificates %s: %.0f bytes per cache entry\n", certificates ? "yes" : "no",
                static_cast<double>(after - before) / (entries - 1));
  }
}

}  // namespace
}  // namespace tern::tls
