#include "broker/net/connection.hpp"

#include <exception>
#include <optional>
#include <utility>
#include <variant>

#include "broker/net/endpoint.hpp"
#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"

namespace tern::net {

namespace {

// Reads of a full buffer in a row before the connection yields to the others on its shard.
constexpr int max_reads_per_turn = 4;

// Packets handed to the broker per lock (see deliver()).
constexpr std::size_t max_batch_packets = 128;

}  // namespace

Connection::Connection(Socket socket, Shard& shard, SharedBroker& shared, std::atomic<int>* listener_connections)
    : socket_(std::move(socket)), shard_(shard), shared_(shared), listener_connections_(listener_connections) {
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
  {
    std::lock_guard lock(shared_.mutex);
    id_ = shared_.broker.attach(*this, to_string(remote), core::Clock::now());
  }
  attached_ = true;
  wait_readable();
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
    error_code error;
    const std::size_t n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), error);
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
    if (n < buffer.size()) {  // a short read drained the socket: now readiness can be waited for
      wait_readable();
      return;
    }
    if (reads == max_reads_per_turn) {
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->read_available(); });
      return;
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
      if (const auto* connect = std::get_if<protocol::Connect>(&result.packet)) version_ = connect->version;
      used += result.consumed;
      batch.push_back(std::move(result.packet));
    }
    if (batch.empty() && !decode_error) break;

    const core::TimePoint now = core::Clock::now();
    {
      std::lock_guard lock(shared_.mutex);
      for (protocol::Packet& packet : batch) shared_.broker.on_packet(id_, std::move(packet), now);
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

  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const error_code& error, std::size_t) { self->on_written(error); });
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
  } else {
    writing_.clear();
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
