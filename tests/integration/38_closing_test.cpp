// Closing well (issue 22): a client that Tern disconnects for a protocol error reads the packets queued for it and
// the DISCONNECT that says why, even while it keeps sending. Closing a socket with unread input makes the kernel
// answer with a reset, and a reset discards what has not reached the client yet; Tern ends its own direction first,
// reads and discards the client's bytes until the client closes, then closes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

// A client socket with a small receive buffer, so that what Tern sends it waits in Tern's own socket until it reads.
class SmallWindowClient {
 public:
  SmallWindowClient(std::uint16_t port, Version version) : version_(version) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw HarnessError(std::string("socket: ") + std::strerror(errno));
    const int size = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // before connect: the window scale follows it
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw HarnessError(std::string("connect: ") + std::strerror(errno));
    }
  }
  ~SmallWindowClient() { ::close(fd_); }
  int fd() const { return fd_; }
  SmallWindowClient(const SmallWindowClient&) = delete;
  SmallWindowClient& operator=(const SmallWindowClient&) = delete;

  void send(const Packet& packet) {
    const std::string bytes = protocol::encode(packet, version_);
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  Packet next() {  // blocking, before the offence: the CONNACK and SUBACK
    const auto deadline = std::chrono::steady_clock::now() + answer_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      BrokerPacket d = decode_from_broker(in_, version_);
      if (d.status == BrokerPacket::Status::packet) {
        in_.erase(0, d.consumed);
        return d.packet;
      }
      if (!receive_some(100ms)) break;
    }
    throw HarnessError("no packet from the broker");
  }
  // Bytes waiting to be read in this socket.
  int unread() const {
    int n = 0;
    ::ioctl(fd_, FIONREAD, &n);
    return n;
  }
  // As much junk as the socket takes now, without blocking; false once the broker's side is gone for writing.
  bool send_junk() {
    static const std::string junk(1024, '\x42');
    for (int i = 0; i < 64; ++i) {
      if (::send(fd_, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
        if (errno == ECONNRESET) {  // reported once: by this send, not by a later recv
          reset_ = true;
          reset_error_ = "send: " + std::string(std::strerror(errno));
        }
        return false;
      }
    }
    return true;
  }
  // Reads what arrives within `wait`; false at the end of the stream (then `reset` says whether it was a reset).
  bool receive_some(std::chrono::milliseconds wait) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(wait.count())) <= 0) return true;
    char buffer[65536];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      in_.append(buffer, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    ended_ = true;
    if (n < 0) {
      reset_ = true;
      reset_error_ = "recv: " + std::string(std::strerror(errno));
    }
    return false;
  }
  bool ended() const { return ended_; }
  bool reset() const { return reset_; }
  const std::string& reset_error() const { return reset_error_; }
  // Every whole packet received, in order.
  std::vector<Packet> packets() {
    std::vector<Packet> out;
    for (int i = 0; i < 10000; ++i) {
      BrokerPacket d = decode_from_broker(in_, version_);
      if (d.status != BrokerPacket::Status::packet) break;
      in_.erase(0, d.consumed);
      out.push_back(std::move(d.packet));
    }
    return out;
  }

 private:
  int fd_ = -1;
  Version version_;
  std::string in_;
  bool ended_ = false;
  bool reset_ = false;
  std::string reset_error_;
};

class ClosingTest : public ::testing::TestWithParam<Version> {};

// The client is sent 24 KiB it does not read (most of it waits in Tern's socket), sends a malformed PUBLISH and keeps
// sending for a second; then it reads while still sending for another second, then only reads. It must get every
// PUBLISH, then (5.0) the DISCONNECT 0x81, then the end of the stream: not a reset.
TEST_P(ClosingTest, OffenderThatKeepsSendingReadsWhyItWasDisconnected) {
  const Version v = GetParam();
  BrokerProcess broker;
  SmallWindowClient offender(broker.port(), v);
  offender.send(RawClient::make_connect(v, "offender"));
  ASSERT_TRUE(std::holds_alternative<protocol::Connack>(offender.next()));
  protocol::Subscribe subscribe;
  subscribe.packet_id = 1;
  subscribe.subscriptions.push_back({"closing/t", QoS::at_most_once});
  offender.send(subscribe);
  ASSERT_TRUE(std::holds_alternative<protocol::Suback>(offender.next()));

  RawClient publisher(broker.port(), Version::v311);
  publisher.connect("publisher");
  constexpr int kMessages = 6;
  for (int i = 0; i < kMessages; ++i) publisher.publish("closing/t", std::string(4096, static_cast<char>('a' + i)));
  publisher.ping();  // the broker has routed them
  // Some of it has reached the offender's socket: the rest waits in Tern's.
  ASSERT_TRUE(wait_until([&] { return offender.unread() > 0; }, 5s));

  const std::string malformed("\x36\x05\x00\x01t\x00\x01", 7);  // PUBLISH with QoS 3
  ASSERT_EQ(::send(offender.fd(), malformed.data(), malformed.size(), MSG_NOSIGNAL), 7);
  bool writable = true;
  const auto sending_until = std::chrono::steady_clock::now() + 1s;
  for (int i = 0; i < 1000 && writable && std::chrono::steady_clock::now() < sending_until; ++i) {
    writable = offender.send_junk();
    std::this_thread::sleep_for(1ms);
  }
  const auto reading_and_sending_until = std::chrono::steady_clock::now() + 1s;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  for (int i = 0; i < 100000 && !offender.ended() && std::chrono::steady_clock::now() < deadline; ++i) {
    if (writable && std::chrono::steady_clock::now() < reading_and_sending_until) writable = offender.send_junk();
    offender.receive_some(10ms);
  }
  ASSERT_TRUE(offender.ended()) << "the broker did not end the connection";
  EXPECT_FALSE(offender.reset()) << "the connection was reset: " << offender.reset_error();

  const std::vector<Packet> packets = offender.packets();
  ASSERT_EQ(packets.size(), kMessages + (v == Version::v5 ? 1u : 0u)) << "packets before the end of the stream";
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(std::holds_alternative<protocol::Publish>(packets[i])) << describe(packets[i]);
    EXPECT_EQ(std::get<protocol::Publish>(packets[i]).payload, std::string(4096, static_cast<char>('a' + i)));
  }
  if (v == Version::v5) {
    ASSERT_TRUE(std::holds_alternative<protocol::Disconnect>(packets.back())) << describe(packets.back());
    EXPECT_EQ(std::get<protocol::Disconnect>(packets.back()).reason_code, ReasonCode::malformed_packet);
  }
  // The broker goes on serving others.
  RawClient other(broker.port(), Version::v311);
  EXPECT_EQ(static_cast<int>(other.connect("other").reason_code), 0);
}

INSTANTIATE_TEST_SUITE_P(Versions, ClosingTest, ::testing::Values(Version::v311, Version::v5), version_name);

}  // namespace
}  // namespace tern::itest
