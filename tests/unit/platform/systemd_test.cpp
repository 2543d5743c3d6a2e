// sd_notify spoken to a datagram socket of our own, as systemd would hold it: NOTIFY_SOCKET as a path and in the
// abstract namespace ('@').
#include "platform/systemd.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace tern::platform {
namespace {

// A bound unix datagram socket, NOTIFY_SOCKET pointing at it for the life of the object.
class NotifyListener {
 public:
  explicit NotifyListener(bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string name;
    socklen_t len;
    if (abstract) {
      name = "@tern-notify-test-" + std::to_string(::getpid());
      std::memcpy(address.sun_path + 1, name.data() + 1, name.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      path_ = std::filesystem::temp_directory_path() / ("tern-notify-" + std::to_string(::getpid()));
      std::filesystem::remove(path_);
      name = path_.string();
      std::memcpy(address.sun_path, name.c_str(), name.size() + 1);
      len = static_cast<socklen_t>(sizeof address);
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), len), 0) << std::strerror(errno);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifyListener() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    if (!path_.empty()) std::filesystem::remove(path_);
  }

  std::optional<std::string> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

TEST(Systemd, WithoutNotifySocketEveryCallIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(notify_ready());
  EXPECT_FALSE(notify_watchdog());
  EXPECT_FALSE(notify_stopping());
  EXPECT_FALSE(notify_status("idle"));
}

TEST(Systemd, SendsToAPathSocket) {
  NotifyListener listener(false);
  EXPECT_TRUE(notify_ready());
  EXPECT_EQ(listener.receive(), "READY=1");
  EXPECT_TRUE(notify_watchdog());
  EXPECT_EQ(listener.receive(), "WATCHDOG=1");
  EXPECT_TRUE(notify_stopping());
  EXPECT_EQ(listener.receive(), "STOPPING=1");
}

TEST(Systemd, SendsToAnAbstractSocket) {
  NotifyListener listener(true);
  EXPECT_TRUE(notify_ready());
  EXPECT_EQ(listener.receive(), "READY=1");
  EXPECT_TRUE(notify("READY=1\nSTATUS=two lines in one datagram"));
  EXPECT_EQ(listener.receive(), "READY=1\nSTATUS=two lines in one datagram");
}

TEST(Systemd, StatusIsOneLine) {
  NotifyListener listener(false);
  EXPECT_TRUE(notify_status("12 clients\n3 listeners"));
  EXPECT_EQ(listener.receive(), "STATUS=12 clients 3 listeners");
}

TEST(Systemd, MissingOrUnsupportedSocketFails) {
  ::setenv("NOTIFY_SOCKET", "/nonexistent/tern/notify", 1);
  EXPECT_FALSE(notify_ready());
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_FALSE(notify_ready());
  ::setenv("NOTIFY_SOCKET", ("/" + std::string(200, 'x')).c_str(), 1);  // longer than sun_path
  EXPECT_FALSE(notify_ready());
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(Systemd, WatchdogIntervalFromEnvironment) {
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  EXPECT_EQ(watchdog_interval(), std::nullopt);

  ::setenv("WATCHDOG_USEC", "30000000", 1);
  EXPECT_EQ(watchdog_interval(), std::chrono::seconds{30});
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(watchdog_interval(), std::chrono::seconds{30});
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_EQ(watchdog_interval(), std::nullopt);
  ::setenv("WATCHDOG_PID", "junk", 1);
  EXPECT_EQ(watchdog_interval(), std::nullopt);

  ::unsetenv("WATCHDOG_PID");
  for (const char* bad : {"0", "", "-5", "12s", "99999999999999999999999"}) {
    ::setenv("WATCHDOG_USEC", bad, 1);
    EXPECT_EQ(watchdog_interval(), std::nullopt) << bad;
  }
  ::unsetenv("WATCHDOG_USEC");
}

}  // namespace
}  // namespace tern::platform
