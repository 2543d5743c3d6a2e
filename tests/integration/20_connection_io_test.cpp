// The network layer's socket handling (broker/net: each client socket registered once, edge-triggered, in its
// shard's epoll set; accept4() until the listening socket is drained): what a client must see whatever the kernel
// does with its bytes.
//   - A subscriber that stops reading fills the broker's socket (send() says EAGAIN) and holds up its own packets
//     (back pressure: the broker stops reading it); once it reads again it gets every message, in order, intact,
//     and its acknowledgements are read again.
//   - Hundreds of clients connecting at once (more than one accept batch) are all served, also when many of them
//     vanish right after the TCP handshake.
//   - A read of thousands of packets, handed to the broker over several turns of its loop, is processed whole, once
//     and in order, up to a DISCONNECT inside it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

// A client socket with a small receive buffer, set before connect() so the TCP window stays small: the broker's
// writes to it fill the kernel's buffers after a few hundred KiB at most, instead of the many MiB that receive
// buffer autotuning would take in.
class SmallWindowClient {
 public:
  SmallWindowClient(std::uint16_t port, Version version) : version_(version) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw HarnessError(std::string("socket: ") + std::strerror(errno));
    const int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw HarnessError(std::string("connect: ") + std::strerror(errno));
    }
  }
  ~SmallWindowClient() { ::close(fd_); }
  SmallWindowClient(const SmallWindowClient&) = delete;
  SmallWindowClient& operator=(const SmallWindowClient&) = delete;

  void send(const Packet& packet) {
    const std::string bytes = protocol::encode(packet, version_);
    for (std::size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw HarnessError(std::string("send: ") + std::strerror(errno));
      sent += static_cast<std::size_t>(n);
    }
  }

  // The next packet, within answer_timeout.
  Packet read() {
    for (;;) {
      BrokerPacket r = decode_from_broker(in_, version_);
      if (r.status == BrokerPacket::Status::error) throw HarnessError("undecodable bytes from the broker: " + r.error);
      if (r.status == BrokerPacket::Status::packet) {
        in_.erase(0, r.consumed);
        return std::move(r.packet);
      }
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(answer_timeout.count()));
      if (ready == 0) throw HarnessError("no packet from the broker within the deadline");
      if (ready < 0 && errno == EINTR) continue;
      char buffer[16384];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) throw HarnessError("the broker closed the connection");
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw HarnessError(std::string("recv: ") + std::strerror(errno));
      in_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  template <class T>
  T expect() {
    Packet p = read();
    if (!std::holds_alternative<T>(p)) throw HarnessError("unexpected packet from the broker");
    return std::get<T>(std::move(p));
  }

 private:
  int fd_ = -1;
  Version version_;
  std::string in_;
};

std::string payload_of(int index, std::size_t size) {
  std::string payload(size, static_cast<char>('a' + index % 26));
  const std::string label = std::to_string(index);
  payload.replace(0, label.size(), label);
  return payload;
}

class ConnectionIoTest : public ::testing::TestWithParam<Version> {};

// [MQTT-4.6.0-6]: a subscription's messages in order; nothing lost at QoS 1 however slowly the subscriber reads.
TEST_P(ConnectionIoTest, StalledSubscriberGetsEverythingWhenItReadsAgain) {
  // 8 MiB for a subscriber whose reading is paused above 64 KiB waiting: most of it waits in the broker while the
  // socket is full. Every message goes out at once (in-flight window of 65535), none is dropped (QoS 1).
  BrokerProcess broker({"max_outgoing_buffer 65536", "max_inflight_messages 65535", "max_queued_messages 0"});
  constexpr int count = 256;
  constexpr std::size_t size = 32 * 1024;

  SmallWindowClient subscriber(broker.port(), GetParam());
  subscriber.send(RawClient::make_connect(GetParam(), "stalled", true, 0));
  ASSERT_EQ(subscriber.expect<protocol::Connack>().reason_code, ReasonCode::success);
  protocol::Subscribe subscribe;
  subscribe.packet_id = 1;
  subscribe.subscriptions.push_back({"io/big", QoS::at_least_once});
  subscriber.send(subscribe);
  subscriber.expect<protocol::Suback>();

  // The publisher's PUBACKs say the broker has taken each message and routed it to the subscriber, which reads
  // nothing meanwhile.
  RawClient publisher(broker.port(), GetParam());
  publisher.connect("publisher");
  for (int i = 0; i < count; ++i) publisher.publish("io/big", payload_of(i, size), QoS::at_least_once);

  for (int i = 0; i < count; ++i) {
    const Publish p = subscriber.expect<Publish>();
    ASSERT_EQ(p.topic, "io/big");
    ASSERT_EQ(p.qos, QoS::at_least_once);
    ASSERT_EQ(p.payload, payload_of(i, size)) << "message " << i;
    // Acknowledged as they come: the broker reads them once the bytes waiting for this client drop low enough.
    protocol::Puback ack;
    ack.packet_id = p.packet_id;
    subscriber.send(Packet{ack});
  }
  // The acknowledgements were read: the connection still answers, in order, after everything above.
  subscriber.send(Packet{protocol::Pingreq{}});
  subscriber.expect<protocol::Pingresp>();
}

TEST_P(ConnectionIoTest, ManyClientsConnectingAtOnceAreAllServed) {
  BrokerProcess broker;
  constexpr int count = 300;  // several accept batches (64 per turn)

  // Every TCP handshake first (the kernel completes them; the broker accepts them as it gets to them), with every
  // third client leaving again right away, before its CONNECT.
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<RawClient>(broker.port(), GetParam()));
    if (i % 3 == 0) clients.back()->close();
  }
  for (int i = 0; i < count; ++i) {
    if (i % 3 == 0) continue;
    clients[i]->send(RawClient::make_connect(GetParam(), "many-" + std::to_string(i), true, 0));
  }
  for (int i = 0; i < count; ++i) {
    if (i % 3 == 0) continue;
    ASSERT_EQ(clients[i]->expect<protocol::Connack>().reason_code, ReasonCode::success) << "client " << i;
  }
  // And they work: a message from the last one reaches the first connected one.
  clients[1]->subscribe("many/t", QoS::at_most_once);
  clients[count - 1]->publish("many/t", "hello");
  EXPECT_EQ(clients[1]->receive().payload, "hello");
}

// One write of thousands of packets is more than one turn of the broker's loop (a turn hands a connection's packets
// over for a bounded time; the rest of the read waits behind the other clients): each is still processed once and in
// order, and a packet cut at the end of that write is completed by the next one.
TEST_P(ConnectionIoTest, AReadLongerThanATurnIsHandedOverWholeAndInOrder) {
  BrokerProcess broker;
  RawClient sub(broker.port(), GetParam());
  sub.connect("turns-sub");
  sub.subscribe("turns/#", QoS::at_most_once);
  RawClient pub(broker.port(), GetParam());
  pub.connect("turns-pub");
  RawClient other(broker.port(), GetParam());
  other.connect("turns-other");

  constexpr int count = 3000;  // about 60 KiB: one read, and dozens of lock batches of QoS 1 publishes
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    Publish p;
    p.topic = "turns/x";
    p.payload = std::to_string(i);
    p.qos = QoS::at_least_once;
    p.packet_id = static_cast<std::uint16_t>(i + 1);
    bytes += protocol::encode(p, GetParam());
  }
  Publish last;
  last.topic = "turns/x";
  last.payload = std::to_string(count);
  last.qos = QoS::at_least_once;
  last.packet_id = count + 1;
  const std::string last_bytes = protocol::encode(last, GetParam());
  const std::size_t cut = last_bytes.size() / 2;
  pub.send_bytes(bytes + last_bytes.substr(0, cut));
  other.ping();  // another client is still served
  for (int i = 0; i < 100; ++i) ASSERT_EQ(pub.expect<protocol::Puback>().packet_id, i + 1);
  pub.send_bytes(std::string_view(last_bytes).substr(cut));
  for (int i = 100; i <= count; ++i) ASSERT_EQ(pub.expect<protocol::Puback>().packet_id, i + 1);
  for (int i = 0; i <= count; ++i) ASSERT_EQ(sub.receive().payload, std::to_string(i));
  sub.expect_silence();
}

// A DISCONNECT inside such a write ends the connection there: the packets before it are processed, those after it
// (which a client must not send) are not, and the will is discarded [MQTT-3.14.4-3].
TEST_P(ConnectionIoTest, ADisconnectInsideALongReadEndsItThere) {
  BrokerProcess broker;
  RawClient sub(broker.port(), GetParam());
  sub.connect("turns-sub");
  sub.subscribe("turns/#", QoS::at_most_once);
  RawClient pub(broker.port(), GetParam());
  protocol::Connect connect = RawClient::make_connect(GetParam(), "turns-pub");
  connect.will = protocol::Will{.topic = "turns/will", .payload = "gone"};
  ASSERT_EQ(pub.connect(connect).reason_code, ReasonCode::success);

  constexpr int before = 2000;
  std::string bytes;
  auto add_publish = [&](int i) {
    Publish p;
    p.topic = "turns/x";
    p.payload = std::to_string(i);
    bytes += protocol::encode(p, GetParam());
  };
  for (int i = 0; i < before; ++i) add_publish(i);
  bytes += protocol::encode(protocol::Disconnect{}, GetParam());
  for (int i = before; i < before + 500; ++i) add_publish(i);
  pub.send_bytes(bytes);
  for (int i = 0; i < before; ++i) ASSERT_EQ(sub.receive().payload, std::to_string(i));
  pub.expect_closed();
  sub.expect_silence();
}

INSTANTIATE_TEST_SUITE_P(Versions, ConnectionIoTest, ::testing::Values(Version::v311, Version::v5),
                         [](const auto& info) { return info.param == Version::v5 ? "v5" : "v311"; });

}  // namespace
}  // namespace tern::itest
