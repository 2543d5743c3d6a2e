// The connection (broker/net/connection.*) with its system calls failing on the n-th one, or coming back short
// (STYLE.md rule 10, the fail-count loop of Beast's test stream, over a real socket pair and a real shard): whatever
// call fails, the client sees a prefix of the right bytes and then the end of the connection, never a hang, and the
// broker ends with no connection attached and no socket open. Run for plain TCP and for TLS (the transport).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/error.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "broker/core/broker.hpp"
#include "broker/net/connection.hpp"
#include "broker/net/shard.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/net/socket_calls.hpp"
#include "broker/protocol/codec.hpp"
#ifdef TERN_TEST_TLS
#include "broker/net/tls_transport.hpp"
#include "tests/unit/tls/tls_test_support.hpp"
#endif

namespace tern::net {
namespace {

using namespace std::chrono_literals;
using Deadline = std::chrono::steady_clock::time_point;

// The real calls, except that the fail_at-th call (reads and writes counted together, from 1) fails with
// ECONNRESET, and every write takes at most `max_write` bytes (the kernel may always take fewer than offered).
class FaultyCalls : public SocketCalls {
 public:
  FaultyCalls(int fail_at, std::size_t max_write) : fail_at_(fail_at), max_write_(max_write) {}

  std::size_t receive(int fd, std::span<char> buffer, error_code& error) noexcept override {
    if (fails()) return failed(error);
    return SocketCalls::receive(fd, buffer, error);
  }
  std::size_t transmit(int fd, std::string_view data, error_code& error) noexcept override {
    if (fails()) return failed(error);
    return SocketCalls::transmit(fd, data.substr(0, max_write_), error);
  }
  int calls() const noexcept { return calls_.load(); }

 private:
  bool fails() noexcept { return calls_.fetch_add(1) + 1 == fail_at_; }
  static std::size_t failed(error_code& error) noexcept {
    error = boost::asio::error::connection_reset;
    return 0;
  }

  const int fail_at_;
  const std::size_t max_write_;
  std::atomic<int> calls_{0};
};

// Waits for the client's socket to be readable until `deadline`; false when it passed.
bool readable(int fd, Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
}

// Reads what the socket has (after waiting for it): the bytes, or nothing at EOF, an error or the deadline.
std::string read_some(int fd, Deadline deadline) {
  if (!readable(fd, deadline)) return {};
  char buffer[16384];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

// How many whole MQTT packets `bytes` starts with (fixed header, remaining length, body), counted without the codec.
std::size_t whole_packets(std::string_view bytes) {
  std::size_t count = 0;
  std::size_t at = 0;
  for (;;) {
    std::size_t length = 0;
    std::size_t i = at + 1;
    for (int shift = 0;; shift += 7, ++i) {
      if (i >= bytes.size() || shift > 21) return count;
      const auto byte = static_cast<unsigned char>(bytes[i]);
      length += std::size_t{byte & 127u} << shift;
      if ((byte & 128) == 0) break;
    }
    if (bytes.size() - (i + 1) < length) return count;
    at = i + 1 + length;
    ++count;
  }
}

void send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the broker's side is gone: what it answered is checked, not this
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The client's end of the socket pair, plain or (with a client context) TLS: sends MQTT bytes, reads MQTT bytes.
class Client {
 public:
  Client(int fd, std::shared_ptr<const tls::Context> tls) : fd_(fd) {
#ifdef TERN_TEST_TLS
    if (tls) engine_.emplace(std::move(tls));
#else
    (void)tls;
#endif
  }

  // Completes the TLS handshake, if any; false when the broker's side ended it.
  bool open(Deadline deadline) {
#ifdef TERN_TEST_TLS
    if (!engine_) return true;
    std::string got;  // fed to the engine, which borrows it until its next call
    for (;;) {
      const tls::error_code result = engine_->handshake();
      send_all(fd_, engine_->output());
      engine_->output().clear();
      if (!result) return true;
      if (result != tls::error::want_read) {
        ADD_FAILURE() << "client handshake: " << result.message();
        return false;
      }
      got = read_some(fd_, deadline);
      if (got.empty()) return false;
      engine_->feed(got);
    }
#else
    (void)deadline;
    return true;
#endif
  }

  void send(const std::string& bytes) {
#ifdef TERN_TEST_TLS
    if (engine_) {
      tls::error_code error;
      engine_->write(bytes, error);
      send_all(fd_, engine_->output());
      engine_->output().clear();
      return;
    }
#endif
    send_all(fd_, bytes);
  }

  // MQTT bytes until `packets` whole packets came, or the connection ended, or the deadline passed.
  std::string receive(std::size_t packets, Deadline deadline) {
    std::string got;
    while (whole_packets(got) < packets) {
      const std::string wire = read_some(fd_, deadline);
      if (wire.empty()) break;
#ifdef TERN_TEST_TLS
      if (engine_) {
        engine_->feed(wire);
        char plain[16384];
        tls::error_code error;
        while (const std::size_t n = engine_->read(plain, error)) got.append(plain, n);
        if (error && error != tls::error::want_read) break;
        continue;
      }
#endif
      got += wire;
    }
    return got;
  }

 private:
  int fd_;
#ifdef TERN_TEST_TLS
  std::optional<tls::Engine> engine_;
#endif
};

struct Outcome {
  std::string received;  // what the client got, in MQTT bytes
  int calls = 0;         // the connection's system calls
  std::size_t sent = 0;  // MQTT bytes the client sent
  std::uint64_t shard_received = 0, shard_sent = 0;  // the shard's counters for $SYS
  std::uint64_t opening_failures = 0;                 // SharedBroker::opening_failures: a failed TLS handshake
};

// One broker with one shard thread; one connection over a socket pair, served with `calls`; the client subscribes
// to "t", publishes a message of `payload` bytes to it at QoS 1 and reads the four packets that answer it: CONNACK,
// SUBACK, the PUBLISH and its PUBACK (or what comes before the end).
Outcome exchange(FaultyCalls& calls, std::size_t payload, std::shared_ptr<const tls::Context> server,
                 std::shared_ptr<const tls::Context> client_tls) {
  core::BrokerOptions options;
  options.allow_anonymous = true;
  core::Broker broker(options);
  SharedBroker shared(broker);
  shared.socket_calls = &calls;
  Outcome outcome;
  {
    Shard shard(0, shared);
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    std::unique_ptr<Transport> transport;
#ifdef TERN_TEST_TLS
    if (server) transport = std::make_unique<TlsTransport>(server);
#else
    (void)server;
#endif
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ConnectionRef connection = Connection::create(fds[0], shard, nullptr, std::move(transport));
    asio::post(shard.executor(), [connection] { connection->start(tcp::endpoint()); });
    connection.reset();
    shard.start_thread();

    const Deadline deadline = std::chrono::steady_clock::now() + 3s;
    Client client(fds[1], std::move(client_tls));
    if (client.open(deadline)) {
      protocol::Connect connect;
      connect.version = protocol::Version::v5;
      connect.client_id = "c";
      protocol::Subscribe subscribe{1, {{"t", protocol::QoS::at_least_once}}, {}};
      protocol::Publish publish;
      publish.topic = "t";
      publish.payload.assign(payload, 'p');
      publish.qos = protocol::QoS::at_least_once;
      publish.packet_id = 2;
      const std::string bytes = protocol::encode(connect, protocol::Version::v5) +
                                protocol::encode(subscribe, protocol::Version::v5) +
                                protocol::encode(publish, protocol::Version::v5);
      outcome.sent = bytes.size();
      client.send(bytes);
      outcome.received = client.receive(4, deadline);
    }
    ::close(fds[1]);  // the broker's side sees EOF: the connection ends, if it had not yet

    // Bounded: the connection must close its socket and detach by itself.
    for (int i = 0; i < 300 && shared.open_sockets.load() != 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(shared.open_sockets.load(), 0u) << "the connection's socket never closed";
    shard.stop();
    shard.join();
    outcome.calls = calls.calls();
    outcome.opening_failures = shared.opening_failures[std::size_t(Transport::Layer::tls)].load();
    outcome.shard_received = shard.bytes_received();
    outcome.shard_sent = shard.bytes_sent();
  }
  std::lock_guard lock(shared.mutex);
  EXPECT_EQ(broker.stats().connections, 0u) << "a connection was never detached";
  return outcome;
}

struct Case {
  const char* name;
  bool tls;
};

class ConnectionCalls : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
#ifdef TERN_TEST_TLS
    if (GetParam().tls) {
      server_ = tls::Context::server(tls::test::server_settings());
      client_ = tls::Context::client({.cafile = tls::test::cert("ca.crt")});
    }
#else
    if (GetParam().tls) GTEST_SKIP() << "built without TLS";
#endif
  }
  std::shared_ptr<const tls::Context> server_, client_;
};

// Every call in turn fails: the client gets a prefix of what an undisturbed exchange gets, then the end.
TEST_P(ConnectionCalls, FailingTheNthCallEndsTheConnectionCleanly) {
  FaultyCalls undisturbed(0, SIZE_MAX);
  const Outcome clean = exchange(undisturbed, 300, server_, client_);
  const std::string expected = clean.received;
  ASSERT_EQ(whole_packets(expected), 4u);
  EXPECT_EQ(clean.opening_failures, 0u);
  std::uint64_t failed_openings = 0;
  int n = 1;
  for (; n <= 100; ++n) {
    FaultyCalls calls(n, SIZE_MAX);
    const Outcome outcome = exchange(calls, 300, server_, client_);
    failed_openings += outcome.opening_failures;
    EXPECT_EQ(outcome.received, expected.substr(0, outcome.received.size())) << "failing call " << n;
    if (outcome.calls < n) {  // the exchange ended before the n-th call: every call has failed once
      EXPECT_EQ(outcome.received, expected);
      break;
    }
  }
  EXPECT_LE(n, 100) << "more system calls than expected";
  EXPECT_GE(n, 3);
  // Only a TLS connection opens; a call failed during its handshake is counted (for /metrics).
  if (GetParam().tls) {
    EXPECT_GT(failed_openings, 0u);
  } else {
    EXPECT_EQ(failed_openings, 0u);
  }
}

// Writes the kernel takes a few bytes at a time, and a message larger than one 64 KiB write slice: every byte
// arrives, in order.
TEST_P(ConnectionCalls, ShortWritesLoseNothing) {
  for (const std::size_t max_write : {std::size_t{7}, std::size_t{1000}}) {
    FaultyCalls undisturbed(0, SIZE_MAX);
    const std::size_t payload = max_write == 7 ? 3000 : 200 * 1024;
    const std::string expected = exchange(undisturbed, payload, server_, client_).received;
    ASSERT_EQ(whole_packets(expected), 4u);
    FaultyCalls calls(0, max_write);
    const Outcome outcome = exchange(calls, payload, server_, client_);
    EXPECT_EQ(outcome.received, expected) << "writes of at most " << max_write;
  }
}

// The shard counts MQTT bytes for $SYS/broker/bytes/...: what the client sent and got, not TLS records, however the
// writes were cut.
TEST_P(ConnectionCalls, TheShardCountsMqttBytes) {
  for (const std::size_t max_write : {SIZE_MAX, std::size_t{7}}) {
    FaultyCalls calls(0, max_write);
    const Outcome outcome = exchange(calls, 3000, server_, client_);
    ASSERT_EQ(whole_packets(outcome.received), 4u);
    EXPECT_EQ(outcome.shard_received, outcome.sent) << "writes of at most " << max_write;
    EXPECT_EQ(outcome.shard_sent, outcome.received.size()) << "writes of at most " << max_write;
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, ConnectionCalls, ::testing::Values(Case{"plain", false}, Case{"tls", true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tern::net
