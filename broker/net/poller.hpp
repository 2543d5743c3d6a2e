// The readiness of a shard's client sockets: one epoll set in which each socket is registered once, edge-triggered,
// for reading and writing; the set itself is a single descriptor in the shard's io_context, so the shard's one
// thread still waits in one place (Asio's reactor) for timers, posted handlers and sockets alike.
//
// Why not an Asio socket per connection: Asio's reactor keeps a 168-byte descriptor state per registered socket,
// and every pending async_wait is another allocated operation (~90 bytes), which is most of what an idle connection
// is allowed (DESIGN.md: under 0.7 KiB). Here an idle connection costs an int (its descriptor) and a kernel epoll
// entry. It also saves a system call per read: Asio re-arms a socket with epoll_ctl on every async_wait, while a
// socket registered edge-triggered once stays registered.
//
//   add(fd, connection)      epoll_ctl(ADD, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), once per socket
//   data arrives             the set becomes readable -> the io_context runs poll() -> epoll_wait(set, 0 timeout)
//                            -> handler(connection, EPOLLIN | EPOLLOUT) for every ready socket, in one handler
//   close(fd)                the kernel removes the socket from the set
//
// Edge-triggered means an event says "something changed", not "there is something": a handler must read (or write)
// until the socket says EAGAIN before it may rely on another event, or carry on by itself (a post) otherwise.
//
// Thread safety: add() from any thread (epoll_ctl is); the rest on the shard's thread.
#pragma once

#include <cstdint>

#include "broker/net/asio.hpp"

namespace tern::net {

class Poller {
 public:
  // Called on the shard's thread with the pointer given to add() and the epoll event bits.
  using Handler = void (*)(void* target, std::uint32_t events);

  Poller(asio::io_context& io, Handler handler);
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Starts waiting for events (call once, before or while the io_context runs).
  void start();

  // Registers `fd`; `target` receives its events until the descriptor is closed.
  error_code add(int fd, void* target) noexcept;

 private:
  void wait();
  void poll();

  asio::posix::basic_stream_descriptor<Executor> set_;  // owns the epoll descriptor
  Handler handler_;
};

}  // namespace tern::net
