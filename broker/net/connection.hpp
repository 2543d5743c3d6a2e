// One client's TCP connection: reads and decodes its packets, hands them to the Broker, and writes what the Broker
// sends it. It is the Broker's ConnectionSink for that client.
//
// Reading (cost model in DESIGN.md: system calls, not instructions). The connection waits for readability, then
// reads without blocking into its shard's 64 KiB buffer, decodes every complete packet there and hands them all to
// the Broker under one lock. Only the bytes of an unfinished packet are kept (`leftover_`), so an idle connection
// owns no read buffer. Asio's epoll reactor is edge-triggered, so a read that fills the whole buffer is followed by
// another read before waiting again: readability is only re-armed once a short read has drained the socket.
//
// Writing. send() appends to `queue_` and, if no flush is scheduled or running, posts one flush to the
// connection's executor. The flush swaps `queue_` into `writing_` and writes it with one async_write while send()
// fills `queue_` again (double buffering), so every packet produced in one turn of any event loop leaves in one
// system call. When the write completes and more was queued, it writes again. Both buffers are freed when the
// connection goes idle.
//
// Back pressure. Above BrokerOptions::max_outgoing_buffer bytes waiting, the connection stops reading (the Broker
// also drops QoS 0 messages to it); reading resumes when writes catch up. Above the hard cap in SharedBroker the
// client is hopelessly slow and its socket is closed without flushing.
//
// Closing. close() (from the Broker) lets the queued bytes be written, then shuts the socket down and closes it;
// incoming bytes are read and discarded meanwhile. A close that cannot finish within close_linger, and a client over
// the hard cap, are reset instead: the kernel drops what it still holds for them.
//
// TLS. A connection accepted on a TLS listener owns a TlsState (an engine over the listener's shared tls::Context);
// a plain one has a null pointer there, tested once per read system call and once per write batch: no virtual
// call, nothing per byte, so plain TCP costs what it did. The handshake comes first, with a deadline
// (tls_handshake_timeout), before the connection is attached to the Broker: a failed handshake is one log line with
// its reason and costs nothing else. Then each readiness event reads ciphertext into the shard's TLS buffer and
// decrypts it into the shard's read buffer, and each flush encrypts the gathered batch 64 KiB of records at a time,
// each slice written with one system call (as plain TCP's async_write does), so the peer starts decrypting while
// the rest is encrypted. A peer's close_notify and a TCP end without one (truncation) both end the
// connection as a lost one; a graceful close sends our close_notify before the TCP shutdown. With
// use_identity_as_username the certificate's CN or the PSK identity replaces the CONNECT's username before the
// Broker sees it.
//
// Lifetime and detach. The connection is owned by shared_ptrs held by its pending handlers. attach() happens in
// start(); detach() exactly once, when the connection ends for any reason (EOF, read or write error, decode error,
// the socket closed after close()), always under the Broker mutex, so the Broker never calls a sink it has been told
// is gone. A connection whose shard is stopped at shutdown is destroyed without detach, together with the Broker.
//
// Thread safety: send(), close() and pending_bytes() may be called from any thread (the Broker calls them from
// whichever shard holds the Broker mutex); they touch only the members guarded by `write_mutex_`. Everything else
// runs on the connection's shard thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "broker/core/broker.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/shard.hpp"
#include "broker/net/shared_broker.hpp"
#include "tls/context.hpp"

namespace tern::net {

class Connection final : public core::ConnectionSink, public std::enable_shared_from_this<Connection> {
 public:
  static constexpr std::chrono::seconds close_linger{5};
  static constexpr std::chrono::seconds tls_handshake_timeout{10};

  // `socket` must belong to `shard`'s io_context. `listener_connections`, when given, counts the listener's open
  // sockets; the connection decrements it when its socket closes. `tls`, when given, makes it a TLS connection.
  Connection(Socket socket, Shard& shard, SharedBroker& shared, std::atomic<int>* listener_connections,
             std::shared_ptr<const tls::Context> tls = nullptr);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // On the shard's thread: sets the socket options, attaches to the Broker and starts reading.
  void start();

  // ConnectionSink.
  void send(std::string_view bytes) override;
  void close() override;
  std::size_t pending_bytes() const noexcept override;

 private:
  void attach(const std::string& remote);
  void wait_readable();
  void read_available();
  struct ReadResult {
    std::size_t size = 0;
    error_code error;
    bool drained = false;  // the socket has nothing more until readiness is signalled again
  };
  ReadResult read_plain(std::span<char> buffer);
  ReadResult read_tls(std::span<char> buffer);

  void start_handshake();
  void handshake_step();
  void handshake_continue(error_code result);
  void handshake_read();
  void handshake_failed(const std::string& reason);
  void handshake_done();
  void deliver(std::string_view data);
  bool over_read_limit() const noexcept;

  void schedule_flush_locked();
  void flush();
  void write_tls_slice();
  void on_written(const error_code& error);
  void start_linger_timer();

  // graceful: shutdown then close (our last bytes are written); quiet: close (the peer is gone); reset: close with
  // SO_LINGER 0, discarding what the kernel still holds (a client too slow to ever take it).
  enum class CloseMode { graceful, quiet, reset };
  void close_socket(CloseMode mode);
  void detach_once();

  struct TlsState;

  Socket socket_;
  std::unique_ptr<TlsState> tls_;  // null: plain TCP
  Shard& shard_;
  SharedBroker& shared_;
  std::atomic<int>* listener_connections_;
  core::ConnectionId id_ = 0;
  protocol::Version version_ = protocol::Version::v311;  // the decoder's version: set by the CONNECT

  // Shard thread only.
  bool attached_ = false;
  bool detached_ = false;
  bool read_pending_ = false;  // an async_wait is outstanding; its handler will see the socket close
  bool read_paused_ = false;   // stopped reading for back pressure
  bool socket_closed_ = false;
  std::string leftover_;  // bytes of an unfinished packet
  std::string writing_;   // the buffer async_write is writing
  std::unique_ptr<Timer> linger_;

  // Any thread, under write_mutex_.
  mutable std::mutex write_mutex_;
  std::string queue_;  // the buffer send() fills
  std::size_t writing_size_ = 0;
  bool flush_scheduled_ = false;
  bool writing_active_ = false;
  bool abort_ = false;                   // over the hard cap: close without flushing
  bool dead_ = false;                    // socket closed: whatever is sent is dropped
  std::atomic<bool> closing_{false};     // written under write_mutex_; read by the reader without it
  std::atomic<std::size_t> pending_{0};  // queue_.size() + writing_size_, stored under write_mutex_
};

}  // namespace tern::net
