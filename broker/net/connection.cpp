#include "broker/net/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "broker/net/endpoint.hpp"
#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"
#include "tls/engine.hpp"

namespace tern::net {

namespace {

// Reads of a full buffer in a row before the connection yields to the others on its shard.
constexpr int max_reads_per_turn = 4;

// Batches written in a row by one flush (each taken from the queue other threads keep filling) before it yields.
constexpr int max_batches_per_turn = 4;

// Packets handed to the broker per lock (see deliver()).
constexpr std::size_t max_batch_packets = 128;

// TLS: plaintext is encrypted into records of at most this much ciphertext at a time (see encrypt_slice()).
constexpr std::size_t tls_slice = 64 * 1024;

error_code last_error() noexcept { return error_code(errno, boost::system::system_category()); }

bool would_block(const error_code& error) noexcept {
  return error == asio::error::would_block || error == asio::error::try_again;
}

// recv() as Asio's read_some reports it: the bytes read, or 0 with eof, would_block or the error.
std::size_t receive(int fd, std::span<char> buffer, error_code& error) noexcept {
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      error = {};
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      error = asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    error = last_error();
    return 0;
  }
}

// send() without SIGPIPE: the bytes the kernel took, or 0 with would_block or the error.
std::size_t transmit(int fd, std::string_view data, error_code& error) noexcept {
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

// The client's IP address without the port, the key of auth::LoginThrottle ("" when the socket cannot tell).
std::string peer_address(int fd) {
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  const void* bytes = address.ss_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(address).sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(address).sin_addr);
  if (::inet_ntop(address.ss_family, bytes, text, sizeof text) == nullptr) return {};
  return text;
}

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

void intrusive_ptr_add_ref(Connection* connection) noexcept {
  connection->references_.fetch_add(1, std::memory_order_relaxed);
}

void intrusive_ptr_release(Connection* connection) noexcept {
  if (connection->references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete connection;
}

struct Connection::TlsState {
  explicit TlsState(std::shared_ptr<const tls::Context> context)
      : peer_username(context->peer_username()), engine(std::move(context)) {}

  tls::Context::PeerUsername peer_username;
  tls::Engine engine;
  std::unique_ptr<Timer> handshake_timer;  // only during the handshake
  std::string remote;                      // for the handshake's log lines
  std::optional<std::string> identity;     // use_identity/subject_as_username: the username every CONNECT gets
  std::string ciphertext;                  // the records being written: a handshake flight, or a slice of a batch
  std::size_t written = 0;                 // how much of `ciphertext` has left
  std::size_t encrypted = 0;               // how much of the batch (Outgoing::writing) has been encrypted
  error_code handshake_result;             // what the handshake said before its flight was written
  bool first_read = true;                  // the handshake has not read anything yet
  bool socket_drained = true;              // the last read of ciphertext was short (edge-triggered readiness)
};

// A TLS connection is a Connection with its TlsState in the same allocation: a plain connection does not pay even a
// pointer for TLS (is_tls_ says which one it is).
struct Connection::TlsConnection final : Connection {
  TlsConnection(int fd, Shard& shard, ListenerLink* listener, std::shared_ptr<const tls::Context> context)
      : Connection(fd, shard, listener, true), state(std::move(context)) {}
  TlsState state;
};

Connection::TlsState& Connection::tls() noexcept { return static_cast<TlsConnection*>(this)->state; }

ConnectionRef Connection::create(int fd, Shard& shard, ListenerLink* listener,
                                 std::shared_ptr<const tls::Context> tls) {
  if (tls) return ConnectionRef(new TlsConnection(fd, shard, listener, std::move(tls)));
  return ConnectionRef(new Connection(fd, shard, listener, false));
}

Connection::Connection(int fd, Shard& shard, ListenerLink* listener, bool tls)
    : shard_(shard), listener_(listener), fd_(fd), is_tls_(tls) {
  shared().open_sockets.fetch_add(1, std::memory_order_relaxed);
}

// Only reached once no handler holds the connection: after its socket closed, or at shutdown with the shards
// stopped (where the socket simply closes).
Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::start(const tcp::endpoint& remote) {
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // batching is ours (one write per turn), not Nagle's
  if (shared().shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::quiet);
    return;
  }
  if (const error_code error = shard_.adopt(*this, fd_)) {
    TERN_LOG(error, "connection from ", to_string(remote), ": cannot watch its socket: ", error.message());
    close_socket(CloseMode::quiet);
    return;
  }
  if (is_tls_) {
    tls().remote = to_string(remote);
    start_handshake();
    return;
  }
  attach(to_string(remote));
  wait_readable();  // registering reported what is already there (the CONNECT, usually) as an event
}

void Connection::attach(const std::string& remote) {
  {
    std::lock_guard lock(shared().mutex);
    id_ = shared().broker.attach(*this, remote, core::Clock::now());
  }
  attached_ = true;
}

void Connection::on_ready(std::uint32_t events) {
  if (socket_closed_) return;
  const bool handshaking = is_tls_ && !attached_;
  if (wants_write_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    wants_write_ = false;
    if (handshaking) {
      handshake_write();
    } else if (write_batch()) {
      flush();
    }
    if (socket_closed_) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) == 0) return;
  if (!wants_read_) {
    // Busy with something else (a blocked handshake write, a posted read, paused reading): the event will not come
    // again, so it is remembered for wait_readable().
    read_signalled_ = true;
    return;
  }
  wants_read_ = false;
  read_now();
}

void Connection::read_now() {
  if (is_tls_ && !attached_) {
    handshake_read();
  } else {
    read_available();
  }
}

// The connection has read everything it was told about and waits for the next readability event, unless one came
// while it was not waiting (on_ready()): then it reads after the handlers already queued.
void Connection::wait_readable() {
  if (!read_signalled_) {
    wants_read_ = true;
    return;
  }
  read_signalled_ = false;
  asio::post(shard_.executor(), [self = self()] {
    if (!self->socket_closed_) self->read_now();
  });
}

// --- TLS handshake -----------------------------------------------------------------------------------------------

void Connection::start_handshake() {
  tls().handshake_timer = std::make_unique<Timer>(shard_.executor());
  tls().handshake_timer->expires_after(tls_handshake_timeout);
  tls().handshake_timer->async_wait([self = self()](const error_code& error) {
    if (error || self->socket_closed_ || self->attached_) return;
    self->handshake_failed("timed out after " + std::to_string(tls_handshake_timeout.count()) + " s");
  });
  handshake_step();
}

void Connection::handshake_step() {
  const error_code result = tls().engine.handshake();
  if (tls().engine.output().empty()) {
    handshake_continue(result);
    return;
  }
  // Our flight (or the alert that explains a failure) goes out before anything else.
  tls().ciphertext.swap(tls().engine.output());  // ciphertext is free until the connection is attached
  tls().engine.output().clear();
  tls().written = 0;
  tls().handshake_result = result;
  handshake_write();
}

void Connection::handshake_write() {
  std::string& flight = tls().ciphertext;
  while (tls().written < flight.size()) {
    error_code error;
    const std::size_t n = transmit(fd_, std::string_view(flight).substr(tls().written), error);
    if (would_block(error)) {
      wants_write_ = true;  // on_ready() comes back here
      return;
    }
    if (error) {
      std::string().swap(flight);
      handshake_failed(error.message());
      return;
    }
    tls().written += n;
  }
  std::string().swap(flight);
  handshake_continue(tls().handshake_result);
}

void Connection::handshake_continue(error_code result) {
  if (!result) {
    handshake_done();
    return;
  }
  if (result != tls::error::want_read) {
    handshake_failed(handshake_reason(tls().engine, result));
    return;
  }
  if (!tls().socket_drained) {  // the last read filled the buffer: readiness will not be signalled for the rest
    asio::post(shard_.executor(), [self = self()] {
      if (!self->socket_closed_) self->handshake_read();
    });
    return;
  }
  wait_readable();
}

void Connection::handshake_read() {
  read_signalled_ = false;  // this read sees whatever an event announced
  const std::span<char> buffer = shard_.tls_buffer();
  error_code error;
  const std::size_t n = receive(fd_, buffer, error);
  if (would_block(error)) {
    tls().socket_drained = true;
    handshake_continue(tls::error::want_read);
    return;
  }
  if (error) {
    handshake_failed(error == asio::error::eof ? "the client closed the connection" : error.message());
    return;
  }
  tls().socket_drained = n < buffer.size();
  // A TLS connection starts with a handshake record (content type 22); anything else is not TLS at all, most often
  // a plain MQTT client on a TLS port, and mbedTLS's own reason for that would only confuse.
  const bool first = std::exchange(tls().first_read, false);
  if (first && n != 0 && buffer[0] != 0x16) {
    handshake_failed("not TLS (first byte 0x" + hex_byte(buffer[0]) + (buffer[0] == 0x10 ? ", an MQTT CONNECT" : "") +
                     "): a plain client on a TLS port?");
    return;
  }
  tls().engine.feed({buffer.data(), n});
  handshake_step();
}

void Connection::handshake_failed(const std::string& reason) {
  TERN_LOG(notice, "TLS handshake with ", tls().remote, " failed: ", reason);
  close_socket(CloseMode::quiet);
}

void Connection::handshake_done() {
  tls().handshake_timer->cancel();
  tls().handshake_timer.reset();
  using PeerUsername = tls::Context::PeerUsername;
  if (tls().peer_username != PeerUsername::none) {
    const bool subject = tls().peer_username == PeerUsername::subject;
    std::string identity = subject ? tls().engine.peer_subject() : tls().engine.peer_identity();
    if (identity.empty()) {
      handshake_failed(subject ? "use_subject_as_username is set and the client sent no certificate"
                               : "use_identity_as_username is set and the client's certificate has no Common Name");
      return;
    }
    tls().identity = std::move(identity);
  }
  if (shared().shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::quiet);
    return;
  }
  attach(tls().remote);
  std::string().swap(tls().remote);
  // Bytes that came with the handshake's last flight (the CONNECT, usually) are already in the engine, or still in
  // the socket after a full read: readiness will not be signalled for them again.
  if (tls().engine.pending() || !tls().socket_drained) {
    read_available();
  } else {
    wait_readable();
  }
}

// --- Reading -----------------------------------------------------------------------------------------------------

void Connection::read_available() {
  if (socket_closed_) return;
  read_signalled_ = false;  // these reads see whatever an event announced
  const std::span<char> buffer = shard_.read_buffer();
  for (int reads = 1;; ++reads) {
    const ReadResult result = is_tls_ ? read_tls(buffer) : read_plain(buffer);
    const error_code& error = result.error;
    const std::size_t n = result.size;
    if (would_block(error)) {
      wait_readable();
      return;
    }
    if (error) {
      // eof, connection_reset and the like are a client going away, not an event worth a log line here: the broker
      // logs the disconnection. When closing, the flush in progress finishes the job (and detaches).
      if (closing_.load(std::memory_order_relaxed)) return;
      close_socket(CloseMode::quiet);
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
        return;
      }
    }
    if (socket_closed_ || read_paused_) return;  // read_paused_: a refusal waits (refuse_later)
    if (over_read_limit()) {
      read_paused_ = true;  // batch_done() resumes
      return;
    }
    if (result.drained) {  // a short read drained the socket: now readiness can be waited for
      wait_readable();
      return;
    }
    if (reads == max_reads_per_turn) {
      asio::post(shard_.executor(), [self = self()] { self->read_available(); });
      return;
    }
  }
}

Connection::ReadResult Connection::read_plain(std::span<char> buffer) {
  ReadResult result;
  result.size = receive(fd_, buffer, result.error);
  result.drained = result.size < buffer.size();
  return result;
}

// Ciphertext into the shard's TLS buffer, plaintext into `buffer`. A partial record yields no plaintext: then the
// socket is read again, until it has nothing more (would_block).
Connection::ReadResult Connection::read_tls(std::span<char> buffer) {
  tls::Engine& engine = tls().engine;
  ReadResult result;
  for (;;) {
    if (!engine.pending()) {
      const std::span<char> ciphertext = shard_.tls_buffer();
      const std::size_t n = receive(fd_, ciphertext, result.error);
      if (result.error) {
        if (would_block(result.error)) {
          tls().socket_drained = true;
        } else if (result.error == asio::error::eof) {
          TERN_LOG(information, "connection ", id_, ": closed without a TLS close_notify (truncated)");
        }
        return result;
      }
      tls().socket_drained = n < ciphertext.size();
      engine.feed({ciphertext.data(), n});
    }
    tls::error_code error;
    result.size = engine.read(buffer, error);
    if (result.size != 0) {
      result.drained = tls().socket_drained && !engine.pending();
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
  if (leftover_) {
    leftover_->append(data);
    input = *leftover_;
  }

  // Decoded packets go to the broker in batches of at most max_batch_packets, one lock per batch: a 64 KiB read of
  // tiny packets would otherwise hold thousands of Packets (over a KiB each) at once.
  SharedBroker& shared = this->shared();
  auto& batch = shard_.packet_batch();
  std::size_t used = 0;
  std::optional<protocol::ReasonCode> decode_error;
  std::optional<core::Authentication> authentication;  // of a CONNECT in this batch
  std::chrono::milliseconds refusal_delay{0};
  bool complete = false;  // every whole packet in `input` decoded (or an error)
  while (!complete) {
    batch.clear();
    while (batch.size() < max_batch_packets) {
      if (used == input.size()) {
        complete = true;
        break;
      }
      protocol::DecodeResult result = protocol::decode(input.substr(used), version_, shared.max_packet_size);
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
      auto* connect = std::get_if<protocol::Connect>(&result.packet);
      if (connect) {
        version_ = connect->version;
        if (is_tls_ && tls().identity) connect->username = *tls().identity;  // use_identity_as_username
      }
      if (connect && !connect_seen_) {
        connect_seen_ = true;
        if (listener_ && listener_->security) authentication = authenticate(*connect, refusal_delay);
      }
      used += result.consumed;
      batch.push_back(std::move(result.packet));
      if (refusal_delay.count() != 0) {
        // What follows a refused CONNECT is never processed (3.1.1 [MQTT-3.1.4-5], 5.0 [MQTT-3.1.4-6]); the
        // refusal waits.
        refuse_later(std::vector<protocol::Packet>(std::make_move_iterator(batch.begin()),
                                                   std::make_move_iterator(batch.end())),
                     std::move(*authentication), refusal_delay);
        batch.clear();
        leftover_.reset();
        return;
      }
    }
    if (batch.empty() && !decode_error) break;

    const core::TimePoint now = core::Clock::now();
    {
      std::lock_guard lock(shared.mutex);
      if (authentication) {
        shared.broker.authenticate(id_, std::move(*authentication));
        authentication.reset();
      }
      shared.broker.on_packets(id_, batch, now);  // one send() per receiving connection for the whole batch
      if (decode_error) {
        // The broker answers (CONNACK or DISCONNECT with the reason) and closes; the detach right after makes any
        // later socket event a no-op, and ends the session as a lost connection if the broker did not close it.
        shared.broker.on_decode_error(id_, *decode_error, now);
        shared.broker.detach(id_, now);
        detached_ = true;
      }
    }
    batch.clear();
    if (closing_.load(std::memory_order_relaxed)) break;  // the broker closed it: the rest would be ignored anyway
  }
  if (decode_error) close();  // no-op if the broker closed already; else flush what it sent and close

  // Keep only the bytes of an unfinished packet; free the buffer when there are none.
  if (!complete || decode_error || used == input.size()) {
    leftover_.reset();
  } else if (!leftover_) {
    leftover_ = std::make_unique<std::string>(input.substr(used));
  } else {
    leftover_->erase(0, used);
  }
}

core::Authentication Connection::authenticate(protocol::Connect& connect, std::chrono::milliseconds& delay) {
  const auto security = listener_->security->get();
  const bool identity = is_tls_ && tls().identity.has_value();
  core::Authentication verdict = security->authenticate(connect.client_id, connect.username, connect.password, identity);
  verdict.policy = security;
  if (verdict.result == core::Authentication::Result::bad_credentials) {
    const std::string address = peer_address(fd_);
    delay = shared().login_throttle.failed(address, auth::LoginThrottle::Clock::now());
    if (delay.count() != 0) {
      TERN_LOG(notice, "Failed login from ", address, " again: its refusal is delayed by ", delay.count(), " ms.");
    }
  }
  return verdict;
}

void Connection::refuse_later(std::vector<protocol::Packet> packets, core::Authentication authentication,
                              std::chrono::milliseconds delay) {
  read_paused_ = true;  // nothing more is read from a client being refused
  auto timer = std::make_shared<Timer>(shard_.executor());
  timer->expires_after(delay);
  timer->async_wait([self = self(), timer, packets = std::move(packets),
                     authentication = std::move(authentication)](const error_code& error) mutable {
    if (error || self->socket_closed_) return;
    std::lock_guard lock(self->shared().mutex);
    self->shared().broker.authenticate(self->id_, std::move(authentication));
    self->shared().broker.on_packets(self->id_, packets, core::Clock::now());  // CONNACK refusal, then close()
  });
}

bool Connection::over_read_limit() const noexcept {
  const SharedBroker& shared = this->shared();
  return shared.pause_reading_above != 0 && pending_.load(std::memory_order_relaxed) > shared.pause_reading_above;
}

// --- Writing -----------------------------------------------------------------------------------------------------

void Connection::send(std::string_view bytes) {
  std::lock_guard lock(write_mutex_);
  if (dead_ || abort_ || closing_.load(std::memory_order_relaxed)) return;
  if (!out_) out_ = std::make_unique<Outgoing>();
  out_->queue.append(bytes);
  const std::size_t pending = out_->queue.size() + out_->writing_size;
  if (pending > shared().hard_outgoing_cap) {
    // Hopelessly slow: close without writing, even while a write is stuck.
    abort_ = true;
    std::string().swap(out_->queue);
    pending_.store(out_->writing_size, std::memory_order_relaxed);
    TERN_LOG(warning, "connection ", id_, ": more than ", shared().hard_outgoing_cap,
             " bytes waiting to be written; closing it");
    asio::post(shard_.executor(), [self = self()] { self->close_socket(CloseMode::reset); });
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
  asio::post(shard_.executor(), [self = self()] {
    self->start_linger_timer();
    self->flush();
  });
}

std::size_t Connection::pending_bytes() const noexcept { return pending_.load(std::memory_order_relaxed); }

void Connection::schedule_flush_locked() {
  // A running write calls flush() when it completes, which picks up whatever was queued meanwhile.
  if (flush_scheduled_ || writing_active_) return;
  flush_scheduled_ = true;
  asio::post(shard_.executor(), [self = self()] { self->flush(); });
}

// Writes the queue, batch after batch, until it is empty (then closes the socket if close() was called), the socket
// is full (on_ready() resumes the batch, then calls flush() again), or the connection ends.
void Connection::flush() {
  for (int batches = 0;; ++batches) {
    {
      std::unique_lock lock(write_mutex_);
      flush_scheduled_ = false;
      if (writing_active_ || dead_) return;
      if (abort_) {
        lock.unlock();
        close_socket(CloseMode::reset);
        return;
      }
      if (!out_ || out_->queue.empty()) {
        if (closing_.load(std::memory_order_relaxed)) {
          lock.unlock();
          close_socket(CloseMode::graceful);
        }
        return;
      }
      if (batches == max_batches_per_turn) {  // other threads keep queueing: let this shard's other work run
        flush_scheduled_ = true;
        asio::post(shard_.executor(), [self = self()] { self->flush(); });
        return;
      }
      out_->writing.swap(out_->queue);  // writing is empty here: the queue keeps its old capacity for the next batch
      out_->writing_size = out_->writing.size();
      out_->written = 0;
      writing_active_ = true;
    }
    if (is_tls_) {
      tls().encrypted = 0;
      if (!encrypt_slice()) return;
    }
    if (!write_batch()) return;
  }
}

// Writes what is left of the current batch. True when all of it has left and the connection goes on; false when
// the socket is full (wants_write_: on_ready() resumes) or the connection ended.
bool Connection::write_batch() {
  for (;;) {
    // out_ stays while writing_active_: only batch_done() and close_socket(), both on this thread, free it.
    std::string& data = is_tls_ ? tls().ciphertext : out_->writing;
    std::size_t& written = is_tls_ ? tls().written : out_->written;
    while (written < data.size()) {
      error_code error;
      const std::size_t n = transmit(fd_, std::string_view(data).substr(written), error);
      if (would_block(error)) {
        wants_write_ = true;
        return false;
      }
      if (error) return batch_done(error);  // the peer is gone
      written += n;
    }
    if (is_tls_ && tls().encrypted < out_->writing.size()) {
      if (!encrypt_slice()) return false;
      continue;
    }
    return batch_done({});
  }
}

// The batch in Outgoing::writing becomes TLS records one system call's worth at a time (a large batch costs the
// same calls as in one piece): the peer decrypts the first records while the next ones are encrypted, and the
// ciphertext buffer stays at 64 KiB whatever the batch.
bool Connection::encrypt_slice() {
  tls::error_code error;
  tls().ciphertext.clear();
  tls().written = 0;
  tls().encrypted += tls().engine.write_some(std::string_view(out_->writing).substr(tls().encrypted), tls().ciphertext,
                                             tls_slice, error);
  if (!error) return true;
  TERN_LOG(error, "connection ", id_, ": TLS encryption failed: ", error.message());
  {
    std::lock_guard lock(write_mutex_);
    writing_active_ = false;
  }
  close_socket(CloseMode::reset);
  return false;
}

bool Connection::batch_done(const error_code& error) {
  bool idle = false;
  {
    std::lock_guard lock(write_mutex_);
    writing_active_ = false;
    out_->writing_size = 0;
    idle = out_->queue.empty();
    if (idle) {
      out_.reset();  // an idle connection owns no buffers (a linger timer goes too: the close follows at once)
    } else {
      out_->writing.clear();
    }
    pending_.store(idle ? 0 : out_->queue.size(), std::memory_order_relaxed);
  }
  if (is_tls_) {
    if (idle) {
      std::string().swap(tls().ciphertext);
    } else {
      tls().ciphertext.clear();
    }
  }
  if (error) {
    close_socket(CloseMode::quiet);
    return false;
  }
  if (read_paused_ && pending_.load(std::memory_order_relaxed) <= shared().pause_reading_above / 2) {
    read_paused_ = false;
    read_available();  // not a wait: the event that announced the waiting bytes may be long gone
  }
  return !socket_closed_;
}

void Connection::start_linger_timer() {
  if (socket_closed_) return;
  std::lock_guard lock(write_mutex_);
  // Only a write in progress can hold the close up: with nothing to write, flush() closes at once.
  if (!out_ || out_->linger || (!writing_active_ && out_->queue.empty())) return;
  out_->linger = std::make_unique<Timer>(shard_.executor());
  out_->linger->expires_after(close_linger);
  out_->linger->async_wait([self = self()](const error_code& error) {
    if (error || self->socket_closed_) return;
    TERN_LOG(information, "connection ", self->id_, ": could not flush before closing; dropping it");
    self->close_socket(CloseMode::reset);
  });
}

// --- Ending ------------------------------------------------------------------------------------------------------

void Connection::close_socket(CloseMode mode) {
  if (socket_closed_) return;
  socket_closed_ = true;
  wants_read_ = false;
  wants_write_ = false;
  std::unique_ptr<Outgoing> out;
  {
    std::lock_guard lock(write_mutex_);
    dead_ = true;
    out = std::move(out_);
    pending_.store(0, std::memory_order_relaxed);
  }
  out.reset();  // outside the lock: its linger timer's handler is cancelled
  if (mode == CloseMode::graceful && is_tls_ && tls().engine.handshake_done()) {
    // Best effort, without waiting: the socket is non-blocking and our last records were written already.
    tls().engine.close_notify();
    error_code ignored;
    transmit(fd_, tls().engine.output(), ignored);
    std::string().swap(tls().engine.output());
  }
  if (is_tls_ && tls().handshake_timer) tls().handshake_timer->cancel();
  if (mode == CloseMode::graceful) ::shutdown(fd_, SHUT_RDWR);
  if (mode == CloseMode::reset) {
    const linger abortive{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  }
  ::close(fd_);  // also takes the socket out of the shard's epoll set
  fd_ = -1;
  leftover_.reset();
  shared().open_sockets.fetch_sub(1, std::memory_order_relaxed);
  if (listener_) listener_->connections.fetch_sub(1, std::memory_order_relaxed);
  shard_.release(*this);
  detach_once();
}

void Connection::detach_once() {
  if (!attached_ || detached_) return;
  detached_ = true;
  std::lock_guard lock(shared().mutex);
  shared().broker.detach(id_, core::Clock::now());
}

}  // namespace tern::net
