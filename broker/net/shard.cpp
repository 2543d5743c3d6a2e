#include "broker/net/shard.hpp"

#include <exception>

#include "broker/net/connection.hpp"
#include "platform/log.hpp"

namespace tern::net {

Shard::Shard(unsigned index, SharedBroker& shared)
    : index_(index), shared_(shared), work_(io_.get_executor()), poller_(io_, &Shard::dispatch) {
  connections_.prev = connections_.next = &connections_;
  poller_.start();
}

Shard::~Shard() {
  stop();
  join();
  // Connections still open at shutdown: the shard's reference goes now, the last one with the io_context's
  // pending handlers. They are not detached: the Broker goes right after the shards.
  while (connections_.next != &connections_) {
    auto* connection = static_cast<Connection*>(connections_.next);
    ShardLink* link = connection;
    connections_.next = link->next;
    link->next->prev = &connections_;
    link->prev = link->next = nullptr;
    const ConnectionRef dropped(connection, false);  // adopts the list's reference, dropped at the end of the loop
  }
}

void Shard::run() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      TERN_LOG(error, "shard ", index_, ": unexpected error: ", e.what());
    }
  }
}

void Shard::start_thread() {
  thread_ = std::thread([this] { run(); });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::stop() { io_.stop(); }

error_code Shard::adopt(Connection& connection, int fd) {
  if (const error_code error = poller_.add(fd, &connection)) return error;
  ShardLink* link = &connection;
  link->prev = &connections_;
  link->next = connections_.next;
  connections_.next->prev = link;
  connections_.next = link;
  intrusive_ptr_add_ref(&connection);
  return {};
}

void Shard::release(Connection& connection) {
  ShardLink* link = &connection;
  if (link->next == nullptr) return;  // not adopted, or released already
  link->prev->next = link->next;
  link->next->prev = link->prev;
  link->prev = link->next = nullptr;
  asio::post(io_, [reference = ConnectionRef(&connection, false)] {});
}

void Shard::dispatch(void* target, std::uint32_t events) { static_cast<Connection*>(target)->on_ready(events); }

}  // namespace tern::net
