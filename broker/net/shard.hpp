// A shard: one io_context run by one thread. Every connection lives on one shard for its whole life and all of its
// I/O, decoding and writing happens on that shard's thread.
//
// The shard also owns what its connections use only while they are being served, so that an idle connection owns
// none of it: the 64 KiB read buffer every read goes into (and, for TLS, the one ciphertext is read into), and the
// vector a read's decoded packets are collected in before they are handed to the broker in one locked batch.
//
// Thread safety: context(), executor() and stop() from any thread; read_buffer() and packet_batch() only from the
// shard's own thread (inside its handlers).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "broker/net/asio.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::net {

class Shard {
 public:
  static constexpr std::size_t read_buffer_size = 64 * 1024;

  explicit Shard(unsigned index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  unsigned index() const noexcept { return index_; }
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

  std::span<char> read_buffer() noexcept { return {read_buffer_.get(), read_buffer_size}; }
  // Where TLS connections read ciphertext before decrypting it into read_buffer(); allocated on first use, so a
  // broker without TLS listeners never has it.
  std::span<char> tls_buffer() {
    if (!tls_buffer_) tls_buffer_ = std::make_unique<char[]>(read_buffer_size);
    return {tls_buffer_.get(), read_buffer_size};
  }
  std::vector<protocol::Packet>& packet_batch() noexcept { return batch_; }

 private:
  unsigned index_;
  asio::io_context io_{1};
  asio::executor_work_guard<Executor> work_;
  std::unique_ptr<char[]> read_buffer_;
  std::unique_ptr<char[]> tls_buffer_;
  std::vector<protocol::Packet> batch_;
  std::thread thread_;
};

}  // namespace tern::net
