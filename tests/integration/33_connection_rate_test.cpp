// connection_rate_limit (issue 22): a source address past its limit has its connections closed at once, before a
// CONNACK, and a line says so once; another source address (127.0.0.2) is served as before.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

// Connects from `source` (an address of the loopback network) to 127.0.0.1:port and sends a 3.1.1 CONNECT: true
// if the CONNACK comes, false if the broker closes the connection first.
bool connect_from(const char* source, std::uint16_t port, const std::string& client_id) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw HarnessError("socket failed");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    throw HarnessError(std::string("cannot connect from ") + source);
  }
  std::string connect;
  protocol::encode(RawClient::make_connect(Version::v311, client_id), Version::v311, connect);
  const bool sent = ::send(fd, connect.data(), connect.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(connect.size());
  unsigned char answer[4] = {};
  const ssize_t got = sent ? ::recv(fd, answer, sizeof answer, MSG_WAITALL) : -1;
  ::close(fd);
  return got == 4 && answer[0] == 0x20 && answer[3] == 0;
}

TEST(ConnectionRateLimit, AnAddressPastItsLimitIsClosedAtOnceAndOthersAreServed) {
  if (testing_mosquitto()) GTEST_SKIP() << "connection_rate_limit is Tern's own";
  BrokerProcess broker({"connection_rate_limit 5 600"});
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(connect_from("127.0.0.1", broker.port(), "c" + std::to_string(i)));
  EXPECT_FALSE(connect_from("127.0.0.1", broker.port(), "c5"));
  EXPECT_FALSE(connect_from("127.0.0.1", broker.port(), "c6"));
  EXPECT_TRUE(connect_from("127.0.0.2", broker.port(), "other-address"));
  EXPECT_EQ(broker.log_count("refusing connections from 127.0.0.1"), 1u) << broker.log();
  EXPECT_NE(broker.log().find("more than 5 in 600 s (connection_rate_limit)"), std::string::npos);
}

}  // namespace
}  // namespace tern::itest
