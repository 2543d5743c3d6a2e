#include "platform/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tern::platform {
namespace {

template <class Int>
std::optional<Int> env_number(const char* name) noexcept {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  Int value{};
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

bool notify(std::string_view state) noexcept {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr || socket_name[0] == '\0') return false;
  const std::size_t name_len = std::strlen(socket_name);
  // Only a path or an abstract name; systemd's vsock form (vsock:CID:PORT) is for virtual machines, not devices.
  if (socket_name[0] != '/' && socket_name[0] != '@') return false;
  sockaddr_un address{};
  if (name_len >= sizeof address.sun_path) return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_name, name_len);
  if (socket_name[0] == '@') address.sun_path[0] = '\0';  // abstract: no terminating NUL, the length says where it ends
  const auto address_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len +
                                                  (socket_name[0] == '@' ? 0 : 1));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
                    address_len);
  } while (sent < 0 && errno == EINTR);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool notify_ready() noexcept { return notify("READY=1"); }
bool notify_stopping() noexcept { return notify("STOPPING=1"); }
bool notify_watchdog() noexcept { return notify("WATCHDOG=1"); }

bool notify_status(std::string_view text) noexcept {
  try {
    std::string state = "STATUS=";
    state.append(text);
    for (std::size_t i = 7; i < state.size(); ++i) {
      if (state[i] == '\n') state[i] = ' ';
    }
    return notify(state);
  } catch (...) {
    return false;  // out of memory: a status line is not worth failing for
  }
}

std::optional<std::chrono::microseconds> watchdog_interval() noexcept {
  const auto usec = env_number<unsigned long long>("WATCHDOG_USEC");
  if (!usec || *usec == 0) return std::nullopt;
  if (std::getenv("WATCHDOG_PID") != nullptr) {
    const auto pid = env_number<long long>("WATCHDOG_PID");
    if (!pid || *pid != static_cast<long long>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds{static_cast<std::chrono::microseconds::rep>(*usec)};
}

}  // namespace tern::platform
