#include "broker/net/connection.hpp"

#include <exception>
#include <optional>
#include <utility>
#include <variant>

#include "broker/net/endpoint.hpp"
#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"
#include "tls/engine.hpp"

namespace tern::net {

namespace {

// Reads of a full buffer in a row before the connection yields to the others on its shard.
constexpr int max_reads_per_turn = 4;

// Packets handed to the broker per lock (see deliver()).
constexpr std::size_t max_batch_packets = 128;

std::string hex_byte(char c) {
  static constexpr char digits[] = "0123456789abcdef";
  const auto b = static_cast<unsigned char>(c);
  return {digits[b >> 4], digits[b & 15]};
}

// mbedTLS's reason, with the certificate verification details when there are some.
std::string handshake_reason(const tls::Engine& engine, const error_code& error) {
  std::string reason = error.message();
  const std::string verify = engine.verify_failure();
  if (!verify.empty()) reason += " (" + verify + ")";
  return reason;
}

}  // namespace

struct Connection::TlsState {
  explicit TlsState(std::shared_ptr<const tls::Context> context)
      : use_identity_as_username(context->use_identity_as_username()), engine(std::move(context)) {}

  bool use_identity_as_username;
  tls::Engine engine;
  std::unique_ptr<Timer> handshake_timer;  // only during the handshake
  std::string remote;                      // for the handshake's log lines
  std::optional<std::string> identity;     // use_identity_as_username: the username every CONNECT gets
  std::string ciphertext;                  // the records async_write is writing: a slice of writing_
  std::size_t encrypted = 0;               // how much of writing_ has been encrypted
  bool first_read = true;                  // the handshake has not read anything yet
  bool socket_drained = true;              // the last read of ciphertext was short (edge-triggered readiness)
};

Connection::Connection(Socket socket, Shard& shard, SharedBroker& shared, std::atomic<int>* listener_connections,
                       std::shared_ptr<const tls::Context> tls)
    : socket_(std::move(socket)), shard_(shard), shared_(shared), listener_connections_(listener_connections) {
  if (tls) tls_ = std::make_unique<TlsState>(std::move(tls));
  shared_.open_sockets.fetch_add(1, std::memory_order_relaxed);
}

// Only reached once no handler holds the connection: after detach, or at shutdown with the shards stopped (where
// the socket simply closes with the io_context).
Connection::~Connection() = default;

void Connection::start() {
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);  // batching is ours (one write per turn), not Nagle's
  socket_.non_blocking(true, ignored);
  error_code error;
  const tcp::endpoint remote = socket_.remote_endpoint(error);
  if (error || shared_.shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::quiet);  // the peer already left, or we are shutting down
    return;
  }
  if (tls_) {
    tls_->remote = to_string(remote);
    start_handshake();
    return;
  }
  attach(to_string(remote));
  wait_readable();
}

void Connection::attach(const std::string& remote) {
  {
    std::lock_guard lock(shared_.mutex);
    id_ = shared_.broker.attach(*this, remote, core::Clock::now());
  }
  attached_ = true;
}

// --- TLS handshake -----------------------------------------------------------------------------------------------

void Connection::start_handshake() {
  tls_->handshake_timer = std::make_unique<Timer>(socket_.get_executor());
  tls_->handshake_timer->expires_after(tls_handshake_timeout);
  tls_->handshake_timer->async_wait([self = shared_from_this()](const error_code& error) {
    if (error || self->socket_closed_ || self->attached_) return;
    self->handshake_failed("timed out after " + std::to_string(tls_handshake_timeout.count()) + " s");
  });
  handshake_step();
}

void Connection::handshake_step() {
  const error_code result = tls_->engine.handshake();
  if (tls_->engine.output().empty()) {
    handshake_continue(result);
    return;
  }
  // Our flight (or the alert that explains a failure) goes out before anything else.
  writing_.swap(tls_->engine.output());  // writing_ is free until the connection is attached
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this(), result](const error_code& error, std::size_t) {
                      std::string().swap(self->writing_);
                      if (self->socket_closed_) return;
                      if (error) {
                        self->handshake_failed(error.message());
                        return;
                      }
                      self->handshake_continue(result);
                    });
}

void Connection::handshake_continue(error_code result) {
  if (!result) {
    handshake_done();
    return;
  }
  if (result != tls::error::want_read) {
    handshake_failed(handshake_reason(tls_->engine, result));
    return;
  }
  if (!tls_->socket_drained) {  // the last read filled the buffer: readiness will not be signalled for the rest
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (!self->socket_closed_) self->handshake_read();
    });
    return;
  }
  read_pending_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const error_code& error) {
    self->read_pending_ = false;
    if (error || self->socket_closed_) {
      self->close_socket(CloseMode::quiet);
      return;
    }
    self->handshake_read();
  });
}

void Connection::handshake_read() {
  const std::span<char> buffer = shard_.tls_buffer();
  error_code error;
  const std::size_t n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), error);
  if (error == asio::error::would_block || error == asio::error::try_again) {
    tls_->socket_drained = true;
    handshake_continue(tls::error::want_read);
    return;
  }
  if (error) {
    handshake_failed(error == asio::error::eof ? "the client closed the connection" : error.message());
    return;
  }
  tls_->socket_drained = n < buffer.size();
  // A TLS connection starts with a handshake record (content type 22); anything else is not TLS at all, most often
  // a plain MQTT client on a TLS port, and mbedTLS's own reason for that would only confuse.
  const bool first = std::exchange(tls_->first_read, false);
  if (first && n != 0 && buffer[0] != 0x16) {
    handshake_failed("not TLS (first byte 0x" + hex_byte(buffer[0]) + (buffer[0] == 0x10 ? ", an MQTT CONNECT" : "") +
                     "): a plain client on a TLS port?");
    return;
  }
  tls_->engine.feed({buffer.data(), n});
  handshake_step();
}

void Connection::handshake_failed(const std::string& reason) {
  TERN_LOG(notice, "TLS handshake with ", tls_->remote, " failed: ", reason);
  close_socket(CloseMode::quiet);
}

void Connection::handshake_done() {
  tls_->handshake_timer->cancel();
  tls_->handshake_timer.reset();
  if (tls_->use_identity_as_username) {
    std::string identity = tls_->engine.peer_identity();
    if (identity.empty()) {
      handshake_failed("use_identity_as_username is set and the client's certificate has no Common Name");
      return;
    }
    tls_->identity = std::move(identity);
  }
  if (shared_.shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::quiet);
    return;
  }
  attach(tls_->remote);
  std::string().swap(tls_->remote);
  // Bytes that came with the handshake's last flight (the CONNECT, usually) are already in the engine, or still in
  // the socket after a full read: readiness will not be signalled for them again.
  if (tls_->engine.pending() || !tls_->socket_drained) {
    read_available();
  } else {
    wait_readable();
  }
}

// --- Reading -----------------------------------------------------------------------------------------------------

void Connection::wait_readable() {
  read_pending_ = true;
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const error_code& error) {
    self->read_pending_ = false;
    if (error) {  // operation_aborted: the socket was closed
      self->close_socket(CloseMode::quiet);
      self->detach_once();
      return;
    }
    self->read_available();
  });
}

void Connection::read_available() {
  if (socket_closed_) {
    detach_once();
    return;
  }
  const std::span<char> buffer = shard_.read_buffer();
  for (int reads = 1;; ++reads) {
    const ReadResult result = tls_ ? read_tls(buffer) : read_plain(buffer);
    const error_code& error = result.error;
    const std::size_t n = result.size;
    if (error == asio::error::would_block || error == asio::error::try_again) {
      wait_readable();
      return;
    }
    if (error) {
      // eof, connection_reset and the like are a client going away, not an event worth a log line here: the broker
      // logs the disconnection. When closing, the flush in progress finishes the job (and detaches).
      if (closing_.load(std::memory_order_relaxed) && !socket_closed_) return;
      close_socket(CloseMode::quiet);
      detach_once();
      return;
    }
    // After close() incoming bytes are drained and dropped, so the peer is not sent a reset with our last packets.
    if (!closing_.load(std::memory_order_relaxed)) {
      try {
        deliver({buffer.data(), n});
      } catch (const std::exception& e) {
        // A bug or an allocation failure while handling this client's packets: end this connection, not the broker.
        TERN_LOG(error, "connection ", id_, ": ", e.what(), "; closing it");
        close_socket(CloseMode::reset);
        detach_once();
        return;
      }
    }
    if (socket_closed_) return;
    if (over_read_limit()) {
      read_paused_ = true;  // on_written() resumes
      return;
    }
    if (result.drained) {  // a short read drained the socket: now readiness can be waited for
      wait_readable();
      return;
    }
    if (reads == max_reads_per_turn) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_available(); });
      return;
    }
  }
}

Connection::ReadResult Connection::read_plain(std::span<char> buffer) {
  ReadResult result;
  result.size = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), result.error);
  result.drained = result.size < buffer.size();
  return result;
}

// Ciphertext into the shard's TLS buffer, plaintext into `buffer`. A partial record yields no plaintext: then the
// socket is read again, until it has nothing more (would_block).
Connection::ReadResult Connection::read_tls(std::span<char> buffer) {
  tls::Engine& engine = tls_->engine;
  ReadResult result;
  for (;;) {
    if (!engine.pending()) {
      const std::span<char> ciphertext = shard_.tls_buffer();
      const std::size_t n = socket_.read_some(asio::buffer(ciphertext.data(), ciphertext.size()), result.error);
      if (result.error) {
        if (result.error == asio::error::would_block || result.error == asio::error::try_again) {
          tls_->socket_drained = true;
        } else if (result.error == asio::error::eof) {
          TERN_LOG(information, "connection ", id_, ": closed without a TLS close_notify (truncated)");
        }
        return result;
      }
      tls_->socket_drained = n < ciphertext.size();
      engine.feed({ciphertext.data(), n});
    }
    tls::error_code error;
    result.size = engine.read(buffer, error);
    if (result.size != 0) {
      result.drained = tls_->socket_drained && !engine.pending();
      return result;
    }
    if (error != tls::error::want_read) {
      if (error != tls::error::closed) TERN_LOG(notice, "connection ", id_, ": TLS error: ", error.message());
      result.error = error;
      return result;
    }
  }
}

void Connection::deliver(std::string_view data) {
  std::string_view input = data;
  if (!leftover_.empty()) {
    leftover_.append(data);
    input = leftover_;
  }

  // Decoded packets go to the broker in batches of at most max_batch_packets, one lock per batch: a 64 KiB read of
  // tiny packets would otherwise hold thousands of Packets (over a KiB each) at once.
  auto& batch = shard_.packet_batch();
  std::size_t used = 0;
  std::optional<protocol::ReasonCode> decode_error;
  bool complete = false;  // every whole packet in `input` decoded (or an error)
  while (!complete) {
    batch.clear();
    while (batch.size() < max_batch_packets) {
      if (used == input.size()) {
        complete = true;
        break;
      }
      protocol::DecodeResult result = protocol::decode(input.substr(used), version_, shared_.max_packet_size);
      if (result.status == protocol::DecodeResult::Status::need_more) {
        complete = true;
        break;
      }
      if (result.status == protocol::DecodeResult::Status::error) {
        decode_error = result.error;
        complete = true;
        break;
      }
      // The packets after a CONNECT are decoded by the version it announced.
      if (auto* connect = std::get_if<protocol::Connect>(&result.packet)) {
        version_ = connect->version;
        if (tls_ && tls_->identity) connect->username = *tls_->identity;  // use_identity_as_username
      }
      used += result.consumed;
      batch.push_back(std::move(result.packet));
    }
    if (batch.empty() && !decode_error) break;

    const core::TimePoint now = core::Clock::now();
    {
      std::lock_guard lock(shared_.mutex);
      shared_.broker.on_packets(id_, batch, now);  // one send() per receiving connection for the whole batch
      if (decode_error) {
        // The broker answers (CONNACK or DISCONNECT with the reason) and closes; the detach right after makes any
        // later socket event a no-op, and ends the session as a lost connection if the broker did not close it.
        shared_.broker.on_decode_error(id_, *decode_error, now);
        shared_.broker.detach(id_, now);
        detached_ = true;
      }
    }
    batch.clear();
    if (closing_.load(std::memory_order_relaxed)) break;  // the broker closed it: the rest would be ignored anyway
  }
  if (decode_error) close();  // no-op if the broker closed already; else flush what it sent and close

  // Keep only the bytes of an unfinished packet; free the buffer when there are none.
  if (!complete || decode_error || used == input.size()) {
    std::string().swap(leftover_);
  } else if (leftover_.empty()) {
    leftover_.assign(input.substr(used));
  } else {
    leftover_.erase(0, used);
  }
}

bool Connection::over_read_limit() const noexcept {
  return shared_.pause_reading_above != 0 && pending_.load(std::memory_order_relaxed) > shared_.pause_reading_above;
}

// --- Writing -----------------------------------------------------------------------------------------------------

void Connection::send(std::string_view bytes) {
  std::lock_guard lock(write_mutex_);
  if (dead_ || abort_ || closing_.load(std::memory_order_relaxed)) return;
  queue_.append(bytes);
  const std::size_t pending = queue_.size() + writing_size_;
  if (pending > shared_.hard_outgoing_cap) {
    // Hopelessly slow: close without writing, even while a write is stuck.
    abort_ = true;
    std::string().swap(queue_);
    pending_.store(writing_size_, std::memory_order_relaxed);
    TERN_LOG(warning, "connection ", id_, ": more than ", shared_.hard_outgoing_cap,
             " bytes waiting to be written; closing it");
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close_socket(CloseMode::reset); });
    return;
  }
  pending_.store(pending, std::memory_order_relaxed);
  schedule_flush_locked();
}

void Connection::close() {
  std::lock_guard lock(write_mutex_);
  if (dead_ || closing_.load(std::memory_order_relaxed)) return;
  closing_.store(true, std::memory_order_relaxed);
  // Not schedule_flush_locked(): the linger timer must start even while a write is running.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->start_linger_timer();
    self->flush();
  });
}

std::size_t Connection::pending_bytes() const noexcept { return pending_.load(std::memory_order_relaxed); }

void Connection::schedule_flush_locked() {
  // A running write calls flush() when it completes, which picks up whatever was queued meanwhile.
  if (flush_scheduled_ || writing_active_) return;
  flush_scheduled_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
}

void Connection::flush() {
  std::unique_lock lock(write_mutex_);
  flush_scheduled_ = false;
  if (writing_active_ || dead_) return;
  if (abort_) {
    lock.unlock();
    close_socket(CloseMode::reset);
    return;
  }
  const bool closing = closing_.load(std::memory_order_relaxed);
  if (queue_.empty()) {
    if (closing) {
      lock.unlock();
      close_socket(CloseMode::graceful);
    }
    return;
  }
  writing_.swap(queue_);  // writing_ is empty here: queue_ keeps its old capacity for the next batch
  writing_size_ = writing_.size();
  writing_active_ = true;
  lock.unlock();

  if (tls_) {
    tls_->encrypted = 0;
    write_tls_slice();
    return;
  }
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const error_code& error, std::size_t) { self->on_written(error); });
}

// The batch in writing_ becomes TLS records one system call's worth at a time (Asio writes at most 64 KiB per call
// anyway, so a large batch costs the same calls as in one piece): the peer decrypts the first records while the next
// ones are encrypted, and the ciphertext buffer stays at 64 KiB whatever the batch.
void Connection::write_tls_slice() {
  static constexpr std::size_t slice = 64 * 1024;
  tls::error_code error;
  tls_->ciphertext.clear();
  tls_->encrypted +=
      tls_->engine.write_some(std::string_view(writing_).substr(tls_->encrypted), tls_->ciphertext, slice, error);
  if (error) {
    TERN_LOG(error, "connection ", id_, ": TLS encryption failed: ", error.message());
    writing_.clear();
    {
      std::lock_guard relock(write_mutex_);
      writing_active_ = false;
    }
    close_socket(CloseMode::reset);
    return;
  }
  asio::async_write(socket_, asio::buffer(tls_->ciphertext),
                    [self = shared_from_this()](const error_code& error, std::size_t) {
                      if (!error && !self->socket_closed_ && self->tls_->encrypted < self->writing_.size()) {
                        self->write_tls_slice();
                        return;
                      }
                      self->on_written(error);
                    });
}

void Connection::on_written(const error_code& error) {
  bool idle = false;
  {
    std::lock_guard lock(write_mutex_);
    writing_active_ = false;
    writing_size_ = 0;
    idle = queue_.empty();
    if (idle) std::string().swap(queue_);  // an idle connection owns no buffers
    pending_.store(queue_.size(), std::memory_order_relaxed);
  }
  if (idle) {
    std::string().swap(writing_);
    if (tls_) std::string().swap(tls_->ciphertext);
  } else {
    writing_.clear();
    if (tls_) tls_->ciphertext.clear();
  }
  if (error) {  // the peer is gone (or the socket was closed under the write)
    close_socket(CloseMode::quiet);
    detach_once();
    return;
  }
  flush();
  if (read_paused_ && !socket_closed_ && pending_.load(std::memory_order_relaxed) <= shared_.pause_reading_above / 2) {
    read_paused_ = false;
    read_available();  // not wait_readable(): the edge that announced the waiting bytes may be long gone
  }
}

void Connection::start_linger_timer() {
  if (socket_closed_ || linger_) return;
  linger_ = std::make_unique<Timer>(socket_.get_executor());
  linger_->expires_after(close_linger);
  linger_->async_wait([self = shared_from_this()](const error_code& error) {
    if (error || self->socket_closed_) return;
    TERN_LOG(information, "connection ", self->id_, ": could not flush before closing; dropping it");
    self->close_socket(CloseMode::reset);
  });
}

// --- Ending ------------------------------------------------------------------------------------------------------

void Connection::close_socket(CloseMode mode) {
  if (socket_closed_) return;
  socket_closed_ = true;
  {
    std::lock_guard lock(write_mutex_);
    dead_ = true;
    std::string().swap(queue_);
    pending_.store(0, std::memory_order_relaxed);
  }
  error_code ignored;
  if (mode == CloseMode::graceful && tls_ && tls_->engine.handshake_done()) {
    // Best effort, without waiting: the socket is non-blocking and our last records were written already.
    tls_->engine.close_notify();
    socket_.write_some(asio::buffer(tls_->engine.output()), ignored);
    std::string().swap(tls_->engine.output());
  }
  if (tls_ && tls_->handshake_timer) tls_->handshake_timer->cancel();
  if (mode == CloseMode::graceful) socket_.shutdown(Socket::shutdown_both, ignored);
  if (mode == CloseMode::reset) socket_.set_option(Socket::linger(true, 0), ignored);
  socket_.close(ignored);  // cancels the pending wait and write: their handlers finish the job
  if (linger_) linger_->cancel();
  shared_.open_sockets.fetch_sub(1, std::memory_order_relaxed);
  if (listener_connections_) listener_connections_->fetch_sub(1, std::memory_order_relaxed);
  if (!read_pending_) detach_once();
}

void Connection::detach_once() {
  if (!attached_ || detached_) return;
  detached_ = true;
  std::lock_guard lock(shared_.mutex);
  shared_.broker.detach(id_, core::Clock::now());
}

}  // namespace tern::net
