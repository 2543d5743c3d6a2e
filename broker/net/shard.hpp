// A shard: one io_context run by one thread. Every connection lives on one shard for its whole life and all of its
// I/O, decoding and writing happens on that shard's thread.
//
// The shard owns its connections: adopt() registers a connection's socket in the shard's epoll set (Poller) and
// links the connection into the shard's list, which holds one reference to it until release(), when its socket has
// closed. A connection still open when the shard is destroyed (shutdown) is destroyed with it.
//
// The shard also owns what its connections use only while they are being served, so that an idle connection owns
// none of it: the 64 KiB read buffer every read goes into (and, for TLS, the one its wire bytes are read into), and the
// vector a read's decoded packets are collected in before they are handed to the broker in one locked batch. Both
// buffers are allocated on first use and never zero-filled, so a shard that has read little has touched little.
//
// Thread safety: context(), executor() and stop() from any thread; the rest only from the shard's own thread
// (inside its handlers), or before it runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "broker/core/rule_outcome.hpp"
#include "broker/edge/rule_set.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/poller.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::net {

class Connection;

// The links of a shard's list of its connections, kept inside each Connection (a base class), so the list costs
// no allocation.
struct ShardLink {
  ShardLink* prev = nullptr;
  ShardLink* next = nullptr;
};

class Shard {
 public:
  static constexpr std::size_t read_buffer_size = 64 * 1024;

  Shard(unsigned index, SharedBroker& shared);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  unsigned index() const noexcept { return index_; }
  SharedBroker& shared() const noexcept { return shared_; }
  asio::io_context& context() noexcept { return io_; }
  Executor executor() noexcept { return io_.get_executor(); }

  // Runs the event loop on the calling thread until stop(). An exception escaping a handler is logged and the loop
  // goes on: one bad connection must not take the broker down.
  void run();
  // Runs the event loop on a thread of its own; join() waits for it.
  void start_thread();
  void join();
  // Makes run() return as soon as the handler in progress finishes.
  void stop();

  // Registers `fd` (non-blocking, owned by `connection`) for its readiness events, which go to
  // Connection::on_ready(), and keeps the connection alive until release(). On error nothing is registered.
  error_code adopt(Connection& connection, int fd);
  // The connection's socket is closed: unlinks it and drops the shard's reference once the running handler is done
  // (events of the current batch may still name it).
  void release(Connection& connection);

  std::span<char> read_buffer() {
    if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    return {read_buffer_.get(), read_buffer_size};
  }
  // Where connections with a transport (TLS) read wire bytes before it turns them into MQTT bytes in
  // read_buffer(); allocated on first use, so a broker with plain TCP listeners only never has it.
  std::span<char> wire_buffer() {
    if (!wire_buffer_) wire_buffer_ = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    return {wire_buffer_.get(), read_buffer_size};
  }
  std::vector<protocol::Packet>& packet_batch() noexcept { return batch_; }
  // Beside packet_batch(): what the rules made of its PUBLISHes (rule_outcome.hpp), and the window samples of each
  // outcome (by index), added to the windows once the broker accepted their message.
  std::vector<core::PublishOutcome>& rule_outcomes() noexcept { return outcomes_; }
  std::vector<std::pair<std::size_t, edge::WindowSample>>& rule_samples() noexcept { return samples_; }
  std::vector<std::pair<std::size_t, edge::HistoryEntry>>& rule_stores() noexcept { return stores_; }

  // MQTT bytes this shard's connections read from and wrote to their clients since the start (after TLS on the way
  // in, before it on the way out), for $SYS. Counted by the shard's own thread, the only writer, so a relaxed load
  // and store suffice (no read-modify-write); read from any thread.
  void count_received(std::size_t n) noexcept { add(bytes_received_, n); }
  void count_sent(std::size_t n) noexcept { add(bytes_sent_, n); }
  std::uint64_t bytes_received() const noexcept { return bytes_received_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_.load(std::memory_order_relaxed); }

 private:
  static void dispatch(void* target, std::uint32_t events);
  static void add(std::atomic<std::uint64_t>& counter, std::size_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  unsigned index_;
  SharedBroker& shared_;
  asio::io_context io_{1};
  asio::executor_work_guard<Executor> work_;
  Poller poller_;
  ShardLink connections_;  // the list's head: connections_.next is the first connection, or &connections_
  std::unique_ptr<char[]> read_buffer_;
  std::unique_ptr<char[]> wire_buffer_;
  std::vector<protocol::Packet> batch_;
  std::vector<core::PublishOutcome> outcomes_;
  std::vector<std::pair<std::size_t, edge::WindowSample>> samples_;
  std::vector<std::pair<std::size_t, edge::HistoryEntry>> stores_;
  std::thread thread_;
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
};

}  // namespace tern::net
