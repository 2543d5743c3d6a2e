// The system calls a connection makes to move bytes: one seam, so that a test can make the n-th of them fail, come
// back short or block (STYLE.md rule 10), and see that the connection still ends cleanly.
//
// SocketCalls::system() is the real thing. A test derives from SocketCalls and sets SharedBroker::socket_calls
// before any connection exists. A virtual call per system call costs nothing next to the call itself.
//
// Thread safety: system() is stateless; a test's override must be safe for the shards' threads.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <span>
#include <string_view>

namespace tern::net {

class SocketCalls {
 public:
  using error_code = boost::system::error_code;

  virtual ~SocketCalls() = default;

  // recv() as Asio's read_some reports it: the bytes read (> 0), or 0 with eof, would_block or the error.
  virtual std::size_t receive(int fd, std::span<char> buffer, error_code& error) noexcept;
  // send() without SIGPIPE: the bytes the kernel took, or 0 with would_block or the error.
  virtual std::size_t transmit(int fd, std::string_view data, error_code& error) noexcept;

  static SocketCalls& system() noexcept;
};

// EAGAIN or EWOULDBLOCK: the socket has nothing to read, or no room to write, until readiness says otherwise.
bool would_block(const boost::system::error_code& error) noexcept;

}  // namespace tern::net
