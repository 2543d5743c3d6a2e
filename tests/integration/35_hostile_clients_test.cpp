// Hostile clients (issue 22): each attack runs while well-behaved pairs keep publishing at QoS 1 through the same
// broker, and afterwards every one of their messages must have arrived, in order; the attacker gets the protocol's
// answer (a close, a reason code) and nothing else changes. How fast the pairs are served meanwhile is a benchmark
// matter (bench/), not checked here.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/harness_detail.hpp"

namespace tern::itest {
namespace {

// Pairs of a QoS 1 publisher and its subscriber, each on a topic of its own, publishing in a thread until stopped.
class Bystanders {
 public:
  Bystanders(std::uint16_t port, int pairs) {
    for (int i = 0; i < pairs; ++i) {
      const std::string topic = "bystander/" + std::to_string(i);
      subscribers_.push_back(std::make_unique<Subscriber>(port, Version::v311, "by-sub-" + std::to_string(i), topic));
      publishers_.push_back(std::make_unique<RawClient>(port, Version::v311));
      publishers_.back()->connect("by-pub-" + std::to_string(i));
    }
    thread_ = std::thread([this] { run(); });
  }
  ~Bystanders() { stop(); }

  // Stops publishing, once every pair has published at least once since the start (an attack may be over before
  // the thread got going); true if every pair's subscriber got each of its publisher's acknowledged messages, in
  // order.
  bool stop() {
    if (thread_.joinable()) {
      wait_until([this] { return sent_ >= static_cast<int>(publishers_.size()) || failed_; }, 20s);
      stopping_ = true;
      thread_.join();
    }
    return error_.empty() && sent_ > 0;
  }
  const std::string& error() const { return error_; }  // after stop()
  int sent() const { return sent_; }

 private:
  void run() {
    try {
      for (int round = 0; !stopping_ && round < 100000; ++round) {
        for (std::size_t i = 0; i < publishers_.size(); ++i) {
          const std::string topic = "bystander/" + std::to_string(i);
          publishers_[i]->publish(topic, std::to_string(round), QoS::at_least_once);
          ++sent_;
          const auto p = subscribers_[i]->receive(10s);
          if (p.payload != std::to_string(round)) {
            error_ = topic + ": got " + p.payload + ", expected " + std::to_string(round);
            failed_ = true;
            return;
          }
        }
      }
    } catch (const std::exception& e) {
      error_ = e.what();
      failed_ = true;
    }
  }

  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  std::vector<std::unique_ptr<RawClient>> publishers_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> sent_{0};
  std::atomic<bool> failed_{false};
  std::string error_;  // set before failed_, read after the thread ended
};

constexpr int kPairs = 10;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(n, '\0');
  for (auto& b : bytes) b = static_cast<char>(random());
  return bytes;
}

// A CONNECT sent a byte at a time, too slowly to finish: closed once the connect timeout (10 s) is over.
TEST(HostileClients, SlowLorisIsClosedAfterTheConnectTimeout) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  RawClient slow(broker.port(), Version::v311);
  std::string connect;
  protocol::encode(RawClient::make_connect(Version::v311, "slow"), Version::v311, connect);
  bool closed = false;
  for (std::size_t i = 0; i + 1 < connect.size() && !closed && i < 20; ++i) {
    slow.send_bytes(connect.substr(i, 1));
    closed = slow.read(1s).status == RawClient::ReadResult::Status::closed;
  }
  if (!closed) closed = slow.read(15s).status == RawClient::ReadResult::Status::closed;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

// A PUBLISH whose remaining length announces 256 MB: with max_packet_size set it is refused from its header, before
// any of it is buffered; without, its sender is closed when its keep alive runs out, the bytes never completed.
TEST(HostileClients, AnnouncedHugePacket) {
  for (const bool limited : {true, false}) {
    SCOPED_TRACE(limited ? "max_packet_size 65536" : "no max_packet_size");
    BrokerProcess broker(limited ? std::vector<std::string>{"max_packet_size 65536"} : std::vector<std::string>{});
    Bystanders pairs(broker.port(), kPairs);
    RawClient huge(broker.port(), Version::v311);
    huge.connect("huge", true, 2);
    huge.send_bytes(std::string("\x30\xff\xff\xff\x7f", 5) + std::string(1 << 20, 'x'));  // 256 MB - 1 announced
    EXPECT_EQ(huge.read(limited ? 5s : 10s).status, RawClient::ReadResult::Status::closed);
    // Before its CONNECT a client may not announce more than 1 MiB, whatever max_packet_size allows: closed from
    // the header, long before the connect timeout.
    RawClient nobody(broker.port(), Version::v311);
    nobody.send_bytes(std::string("\x10\xff\xff\xff\x7f", 5) + std::string(1 << 16, 'x'));
    EXPECT_EQ(nobody.read(5s).status, RawClient::ReadResult::Status::closed);
    EXPECT_TRUE(pairs.stop()) << pairs.error();
  }
}

// Twenty connections each send 1 MB of random bytes: each is closed for a malformed packet (or at the connect
// timeout, if the bytes happen to be the start of a long CONNECT).
TEST(HostileClients, RandomBytesAreClosed) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  for (unsigned seed = 1; seed <= 20; ++seed) {
    RawClient noise(broker.port(), seed % 2 ? Version::v311 : Version::v5);
    noise.send_bytes(random_bytes(1 << 20, seed));
    EXPECT_EQ(noise.read(15s).status, RawClient::ReadResult::Status::closed) << "seed " << seed;
  }
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

// Many distinct topics, topics 1,000 levels deep, and "#" subscribed 10,000 times by one client (one subscription:
// one copy of each message).
TEST(HostileClients, ManyTopicsDeepTopicsAndRepeatedSubscriptions) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  RawClient attacker(broker.port(), Version::v311);
  attacker.connect("attacker");
  for (int batch = 0; batch < 100; ++batch) {  // 10,000 distinct filters, 100 per SUBSCRIBE
    std::vector<protocol::Subscription> filters;
    for (int i = 0; i < 100; ++i) {
      filters.push_back(
          {.filter = "many/" + std::to_string(batch) + "/" + std::to_string(i), .max_qos = QoS::at_most_once});
    }
    EXPECT_EQ(attacker.subscribe(filters).reason_codes.size(), 100u);
  }
  for (int i = 0; i < 100000; ++i) {  // 100,000 distinct topics
    attacker.send(protocol::Publish{.topic = "distinct/" + std::to_string(i), .payload = "x"});
  }
  std::string deep = "d";
  for (int i = 1; i < 1000; ++i) deep += "/d";
  Subscriber deep_reader(broker.port(), Version::v311, "deep-reader", deep);
  publish_once(broker.port(), Version::v311, deep, "deep");
  EXPECT_EQ(deep_reader.receive().payload, "deep");

  RawClient hashes(broker.port(), Version::v311);
  hashes.connect("hashes");
  for (int id = 1; id <= 10000; ++id) {
    hashes.send(protocol::Subscribe{.packet_id = static_cast<std::uint16_t>(id), .subscriptions = {{.filter = "#"}}});
  }
  for (int id = 1; id <= 10000; ++id) {  // with the bystanders' messages in between, kept for the reads below
    hashes.await<protocol::Suback>([id](const protocol::Suback& s) { return s.packet_id == id; }, 10s);
  }
  publish_once(broker.port(), Version::v311, "once/only", "one copy");
  int copies = 0;
  for (int i = 0; i < 200000 && copies == 0; ++i) {  // the bystanders' messages come too
    const auto got = hashes.receive(10s);
    if (got.topic == "once/only") ++copies;
  }
  EXPECT_EQ(copies, 1);
  for (int i = 0; i < 1000; ++i) {  // no second copy among what follows
    auto r = hashes.read(50ms);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    auto* p = std::get_if<protocol::Publish>(&r.packet);
    EXPECT_TRUE(p == nullptr || p->topic != "once/only");
  }
  attacker.ping();
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

// A 3.1.1 client that never releases its QoS 2 messages uses up its packet ids: each id is one message awaiting
// its PUBREL, a PUBLISH sent again with an id still held is acknowledged without a second delivery, and the others
// are served.
TEST(HostileClients, PacketIdExhaustion) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  Subscriber reader(broker.port(), Version::v311, "reader", "ids/#", QoS::at_most_once);
  RawClient hog(broker.port(), Version::v311);
  hog.connect("hog");
  for (int id = 1; id <= 65535; ++id) {
    hog.send(protocol::Publish{.topic = "ids/x",
                               .payload = std::to_string(id),
                               .qos = QoS::exactly_once,
                               .packet_id = static_cast<std::uint16_t>(id)});
  }
  for (int id = 1; id <= 65535; ++id) EXPECT_EQ(hog.expect<protocol::Pubrec>(10s).packet_id, id);
  hog.send(protocol::Publish{.topic = "ids/x", .payload = "again", .qos = QoS::exactly_once, .packet_id = 7});
  EXPECT_EQ(hog.expect<protocol::Pubrec>().packet_id, 7);
  int delivered = 0;
  for (;;) {
    auto r = reader.read(2s);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    auto* p = std::get_if<protocol::Publish>(&r.packet);
    ASSERT_NE(p, nullptr);
    EXPECT_NE(p->payload, "again");
    ++delivered;
  }
  EXPECT_EQ(delivered, 65535);
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

// A connect flood: 10,000 connections opened at about 10,000 a second, each sending a CONNECT and going away (half
// of them without reading the CONNACK, half after a reset). Every one is served or refused, none is left open in the
// broker, and a new client is served at once.
TEST(HostileClients, ConnectFlood) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  const std::size_t fds_before = open_descriptors(broker.pid());
  std::string connect;
  protocol::encode(RawClient::make_connect(Version::v311, ""), Version::v311, connect);
  std::atomic<int> failed{0};
  auto flood = [&](int first, int count) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) {
      // Paced at 5,000 a second per thread: connection i leaves at i / 5 ms (no wait once behind).
      std::this_thread::sleep_until(start + std::chrono::microseconds(200 * i));
      const int fd = detail::tcp_connect(broker.port());
      if (fd < 0) {
        ++failed;
        continue;
      }
      ::send(fd, connect.data(), connect.size(), MSG_NOSIGNAL);
      if ((first + i) % 2 == 1) {
        const linger abortive{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
      }
      ::close(fd);
    }
  };
  std::thread a(flood, 0, 5000);
  std::thread b(flood, 5000, 5000);
  a.join();
  b.join();
  EXPECT_EQ(failed, 0) << "connections refused by the kernel";
  RawClient fresh(broker.port(), Version::v5);
  EXPECT_EQ(static_cast<int>(fresh.connect("after-the-flood").reason_code), 0);
  EXPECT_TRUE(wait_until([&] { return open_descriptors(broker.pid()) <= fds_before + 1; }, 30s))
      << open_descriptors(broker.pid()) << " descriptors open, " << fds_before << " before the flood";
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

// Half-open connections (a device that lost power after its CONNECT: nothing more is sent, nothing read, nothing
// closed) are closed once their keep alive is over, and connections that never send a CONNECT at the connect timeout
// (10 s); each sees the broker's end, and the broker holds none of their descriptors afterwards.
TEST(HostileClients, HalfOpenAndSilentConnectionsAreClosed) {
  BrokerProcess broker;
  Bystanders pairs(broker.port(), kPairs);
  const std::size_t fds_before = open_descriptors(broker.pid());
  std::string connect;
  protocol::encode(RawClient::make_connect(Version::v311, "", true, 1), Version::v311, connect);  // keep alive 1 s
  std::vector<int> half_open;
  std::vector<int> silent;
  for (int i = 0; i < 300; ++i) {
    half_open.push_back(detail::tcp_connect(broker.port()));
    ASSERT_GE(half_open.back(), 0);
    ASSERT_EQ(::send(half_open.back(), connect.data(), connect.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(connect.size()));
    silent.push_back(detail::tcp_connect(broker.port()));
    ASSERT_GE(silent.back(), 0);
  }
  // The broker's end: each socket reads its CONNACK (the half-open ones) and then the end of the stream.
  auto ended = [](int fd) {
    char buffer[64];
    for (int i = 0; i < 4; ++i) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
      if (n < 0) return false;
    }
    return false;
  };
  auto all_ended = [&](const std::vector<int>& fds) { return std::all_of(fds.begin(), fds.end(), ended); };
  EXPECT_TRUE(wait_until([&] { return all_ended(half_open); }, 10s)) << "half-open connections still open";
  EXPECT_TRUE(wait_until([&] { return all_ended(silent); }, 20s)) << "connections without CONNECT still open";
  for (const int fd : half_open) ::close(fd);
  for (const int fd : silent) ::close(fd);
  EXPECT_TRUE(wait_until([&] { return open_descriptors(broker.pid()) <= fds_before; }, 10s))
      << open_descriptors(broker.pid()) << " descriptors open, " << fds_before << " before";
  EXPECT_TRUE(pairs.stop()) << pairs.error();
}

}  // namespace
}  // namespace tern::itest
