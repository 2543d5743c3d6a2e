// The sd_notify protocol as systemd sees it from a Type=notify unit with WatchdogSec=: the real tern, started with
// NOTIFY_SOCKET naming a datagram socket this test holds, must say READY=1 once it accepts connections, WATCHDOG=1
// at half of WATCHDOG_USEC while it runs, and STOPPING=1 when SIGTERM starts its shutdown.
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using namespace std::chrono_literals;

// A bound unix datagram socket in a fresh directory: what systemd listens on.
class NotifySocket {
 public:
  NotifySocket() {
    dir_ = std::filesystem::temp_directory_path() / ("tern-notify-it-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = dir_ / "notify";
    std::filesystem::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw HarnessError("socket(AF_UNIX) failed");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.c_str(), path_.string().size() + 1);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw HarnessError("bind " + path_.string() + ": " + std::strerror(errno));
    }
  }
  ~NotifySocket() {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }

  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout = answer_timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[512];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

  // Reads datagrams until one equals `wanted` (true) or `max` datagrams / the timeout went by (false).
  bool wait_for(const std::string& wanted, int max = 100, std::chrono::milliseconds timeout = answer_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < max; ++i) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      const auto got = next(left);
      if (!got) return false;
      if (*got == wanted) return true;
    }
    return false;
  }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
  int fd_ = -1;
};

// Sets the variables systemd would set for the broker started inside `body`, and clears them after.
template <class Body>
void with_systemd_environment(const NotifySocket& socket, const char* watchdog_usec, Body body) {
  ::setenv("NOTIFY_SOCKET", socket.path().c_str(), 1);
  if (watchdog_usec != nullptr) ::setenv("WATCHDOG_USEC", watchdog_usec, 1);
  try {
    body();
  } catch (...) {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    throw;
  }
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
}

TEST(Systemd, ReadyWhenListeningWatchdogWhileRunningStoppingOnSigterm) {
  NotifySocket notify;
  std::optional<BrokerProcess> broker;
  with_systemd_environment(notify, "200000", [&] { broker.emplace(); });

  const auto first = notify.next();
  ASSERT_TRUE(first.has_value()) << "no READY=1 from tern";
  EXPECT_EQ(*first, "READY=1");
  // READY=1 promises the listeners are up: a client gets in.
  RawClient client(broker->port(), Version::v311);
  EXPECT_EQ(client.connect("after-ready").reason_code, ReasonCode::success);

  // Pings at half of 200 ms: several arrive within a few seconds, and only WATCHDOG=1 lines.
  for (int i = 0; i < 3; ++i) {
    const auto ping = notify.next(5s);
    ASSERT_TRUE(ping.has_value()) << "watchdog ping " << i << " missing";
    EXPECT_EQ(*ping, "WATCHDOG=1");
  }

  broker->signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1")) << "no STOPPING=1 after SIGTERM";
}

TEST(Systemd, NoWatchdogPingsWithoutWatchdogSec) {
  NotifySocket notify;
  std::optional<BrokerProcess> broker;
  with_systemd_environment(notify, nullptr, [&] { broker.emplace(); });

  const auto first = notify.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "READY=1");
  // Nothing else until the shutdown begins: the first datagram after SIGTERM is STOPPING=1.
  broker->signal(SIGTERM);
  const auto next = notify.next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, "STOPPING=1");
}

}  // namespace
}  // namespace tern::itest
