#include "broker/net/socket_calls.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/error.hpp>
#include <cerrno>

namespace tern::net {

namespace {

boost::system::error_code last_error() noexcept { return {errno, boost::system::system_category()}; }

}  // namespace

std::size_t SocketCalls::receive(int fd, std::span<char> buffer, error_code& error) noexcept {
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      error = {};
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      error = boost::asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    error = last_error();
    return 0;
  }
}

std::size_t SocketCalls::transmit(int fd, std::string_view data, error_code& error) noexcept {
  for (;;) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      error = {};
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    error = last_error();
    return 0;
  }
}

SocketCalls& SocketCalls::system() noexcept {
  static SocketCalls calls;
  return calls;
}

bool would_block(const boost::system::error_code& error) noexcept {
  return error == boost::asio::error::would_block || error == boost::asio::error::try_again;
}

}  // namespace tern::net
