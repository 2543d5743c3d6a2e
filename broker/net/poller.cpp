#include "broker/net/poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <system_error>

#include "platform/log.hpp"

namespace tern::net {

namespace {

// Events taken per epoll_wait. A full batch is followed by another poll after the handlers already queued (timers,
// flushes) have run, so a flood of ready sockets cannot starve them.
constexpr int max_events = 256;

int create_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  return fd;
}

}  // namespace

Poller::Poller(asio::io_context& io, Handler handler) : set_(io.get_executor(), create_set()), handler_(handler) {}

void Poller::start() { wait(); }

error_code Poller::add(int fd, void* target) noexcept {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = target;
  if (::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return error_code(errno, boost::system::system_category());
  }
  return {};
}

void Poller::wait() {
  set_.async_wait(asio::posix::descriptor_base::wait_read, [this](const error_code& error) {
    if (error) return;  // operation_aborted: the shard is going away
    poll();
  });
}

void Poller::poll() {
  epoll_event events[max_events];
  int n = ::epoll_wait(set_.native_handle(), events, max_events, 0);
  if (n < 0) n = 0;  // EINTR: the set is still readable, the next wait reports it again
  for (int i = 0; i < n; ++i) {
    // The events of this batch are reported once (edge-triggered): one handler's failure must not lose the others'.
    try {
      handler_(events[i].data.ptr, events[i].events);
    } catch (const std::exception& e) {
      TERN_LOG(error, "socket event: unexpected error: ", e.what());
    }
  }
  if (n == max_events) {
    asio::post(set_.get_executor(), [this] { poll(); });
  } else {
    wait();
  }
}

}  // namespace tern::net
