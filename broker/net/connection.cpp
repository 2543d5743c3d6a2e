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
#include "broker/net/socket_calls.hpp"
#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"
#include "platform/sysinfo.hpp"

namespace tern::net {

namespace {

// Reads of a full buffer in a row before the connection yields to the others on its shard. One: a client that floods
// gets one buffer's worth of decoding and routing per turn of the loop, then waits behind the others, so the clients
// it shares a shard with are not served after its whole backlog (bench/README.md, row 17).
constexpr int max_reads_per_turn = 1;

// Batches written in a row by one flush (each taken from the queue other threads keep filling) before it yields.
constexpr int max_batches_per_turn = 4;

// Packets handed to the broker per lock (see deliver()).
constexpr std::size_t max_batch_packets = 128;

// How long one turn may hand one connection's packets to the broker before the rest of its read waits behind the
// shard's other work (deliver()). A read of 64 KiB can hold thousands of small packets, or dozens whose topics are
// costly to route; handled in one go, every other client of the shard waits for all of them (bench/README.md, row
// 17). Checked after each lock batch, so a turn is at least one batch: smaller batches cost the throughput rows.
constexpr std::chrono::microseconds turn_budget{30};

// With a transport: a batch becomes wire bytes this much at a time (see encode_slice()).
constexpr std::size_t wire_slice = 64 * 1024;

// What the rules made of the messages in `made` (by outcome index) whose outcome the broker accepted.
template <class T>
std::vector<T> of_accepted(std::vector<std::pair<std::size_t, T>>& made,
                           const std::vector<core::PublishOutcome>& outcomes) {
  std::vector<T> accepted;
  for (auto& [outcome, item] : made) {
    if (outcomes[outcome].accepted) accepted.push_back(std::move(item));
  }
  return accepted;
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

}  // namespace

void intrusive_ptr_add_ref(Connection* connection) noexcept {
  connection->references_.fetch_add(1, std::memory_order_relaxed);
}

void intrusive_ptr_release(Connection* connection) noexcept {
  if (connection->references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete connection;
}

ConnectionRef Connection::create(int fd, Shard& shard, ListenerLink* listener, std::unique_ptr<Transport> transport) {
  return ConnectionRef(new Connection(fd, shard, listener, std::move(transport)));
}

Connection::Connection(int fd, Shard& shard, ListenerLink* listener, std::unique_ptr<Transport> transport)
    : shard_(shard), listener_(listener), transport_(std::move(transport)), fd_(fd) {
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
  if (transport_) {
    start_opening(remote);
    return;
  }
  attach(to_string(remote));
  wait_readable();  // registering reported what is already there (the CONNECT, usually) as an event
}

void Connection::attach(const std::string& remote) {
  {
    std::lock_guard lock(shared().mutex);
    id_ = shared().broker.attach(*this, remote, core::Clock::now(), listener_ ? listener_->mount_point : nullptr);
  }
  attached_ = true;
}

void Connection::on_ready(std::uint32_t events) {
  if (socket_closed_) return;
  if (wants_write_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    wants_write_ = false;
    if (opening_) {
      open_write();
    } else if (write_batch()) {
      flush();
    }
    if (socket_closed_) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) == 0) return;
  if (!wants_read_) {
    // Busy with something else (a blocked opening write, a posted read, paused reading): the event will not come
    // again, so it is remembered for wait_readable().
    read_signalled_ = true;
    return;
  }
  wants_read_ = false;
  read_now();
}

void Connection::read_now() {
  if (opening_) {
    open_read();
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

// --- Reading -----------------------------------------------------------------------------------------------------

void Connection::read_available() {
  if (socket_closed_ || handing_over()) return;  // resume_later() reads on once the last read is handed over
  read_signalled_ = false;                       // these reads see whatever an event announced
  const std::span<char> buffer = shard_.read_buffer();
  for (int reads = 1;; ++reads) {
    const ReadResult result = transport_ && !draining_ ? read_transport(buffer) : read_plain(buffer);
    const error_code& error = result.error;
    const std::size_t n = result.size;
    if (would_block(error)) {
      wait_readable();
      return;
    }
    if (error) {
      // eof, connection_reset and the like are a client going away, not an event worth a log line here: the broker
      // logs the disconnection. When closing, the flush in progress finishes the job (and detaches); when draining
      // (half_close()), this is the end the drain waited for.
      if (closing_.load(std::memory_order_relaxed) && !draining_) return;
      close_socket(CloseMode::quiet);
      return;
    }
    // After close() incoming bytes are drained and dropped, so the peer is not sent a reset with our last packets.
    shard_.count_received(n);
    if (!closing_.load(std::memory_order_relaxed)) {
      if (!deliver_safely({buffer.data(), n})) return;
      if (handing_over()) {
        unread_->socket_drained = result.drained;
        resume_later();
        return;
      }
    }
    if (!read_on(result.drained, reads == max_reads_per_turn)) return;
  }
}

// What follows the delivery of a read: stop (closed, paused), wait for readiness (the socket is drained), read again in
// a later turn (`turn_over`) or now. False when the caller should not read now.
bool Connection::read_on(bool drained, bool turn_over) {
  if (socket_closed_ || read_paused_) return false;  // read_paused_: a refusal waits (refuse_later)
  if (over_read_limit()) {
    read_paused_ = true;  // batch_done() resumes
    return false;
  }
  if (drained) {  // a short read drained the socket: now readiness can be waited for
    wait_readable();
    return false;
  }
  if (turn_over) {
    asio::post(shard_.executor(), [self = self()] { self->read_available(); });
    return false;
  }
  return true;
}

// False when the connection had to be closed.
bool Connection::deliver_safely(std::string_view data) {
  try {
    deliver(data);
    return true;
  } catch (const std::exception& e) {
    // A bug or an allocation failure while handling this client's packets: end this connection, not the broker.
    TERN_LOG(error, "connection ", id_, ": ", e.what(), "; closing it");
    close_socket(CloseMode::reset);
    return false;
  }
}

// The rest of a read whose turn ended (deliver()) is handed over in later turns, one each; reading waits for it.
void Connection::resume_later() {
  asio::post(shard_.executor(), [self = self()] {
    if (self->socket_closed_) return;
    const bool drained = self->unread_->socket_drained;
    if (!self->closing_.load(std::memory_order_relaxed)) {
      if (!self->deliver_safely({})) return;
      if (self->handing_over()) {
        self->resume_later();
        return;
      }
    } else {
      self->unread_.reset();  // the broker closed it: the rest would be ignored anyway
    }
    if (self->read_on(drained, false)) self->read_available();
  });
}

Connection::ReadResult Connection::read_plain(std::span<char> buffer) {
  ReadResult result;
  result.size = calls().receive(fd_, buffer, result.error);
  result.drained = result.size < buffer.size();
  return result;
}

// Wire bytes into the shard's wire buffer, MQTT bytes into `buffer`. Wire bytes that give no MQTT bytes yet (a
// partial TLS record) are followed by another read, until the socket has nothing more (would_block).
Connection::ReadResult Connection::read_transport(std::span<char> buffer) {
  ReadResult result;
  for (;;) {
    if (!transport_->pending()) {
      const std::span<char> wire = shard_.wire_buffer();
      const std::size_t n = calls().receive(fd_, wire, result.error);
      if (result.error) {
        if (would_block(result.error)) {
          wire_drained_ = true;
        } else if (result.error == asio::error::eof && !transport_->abrupt_end().empty()) {
          TERN_LOG(information, "connection ", id_, ": ", transport_->abrupt_end());
        }
        return result;
      }
      wire_drained_ = n < wire.size();
      transport_->feed({wire.data(), n});
    }
    const Transport::Result read = transport_->read(buffer);
    if (transport_->wants_write() && read.status != Transport::Status::closed &&
        read.status != Transport::Status::failed) {
      flush_transport_output();  // a pong; closing sends what a close frame needs itself (close_socket())
    }
    switch (read.status) {
      case Transport::Status::ok:
        result.size = read.size;
        result.drained = wire_drained_ && !transport_->pending();
        return result;
      case Transport::Status::want_read:
        continue;
      case Transport::Status::closed:
        result.error = asio::error::eof;
        return result;
      case Transport::Status::failed:
        TERN_LOG(notice, "connection ", id_, ": ", transport_->name(), " error: ", read.reason);
        result.error = asio::error::connection_aborted;
        return result;
    }
  }
}

void Connection::deliver(std::string_view data) {
  std::string_view input = data;
  if (unread_) {
    unread_->bytes.append(data);
    input = std::string_view(unread_->bytes).substr(unread_->used);
  }

  // Decoded packets go to the broker in batches of at most max_batch_packets, one lock per batch: a 64 KiB read of
  // tiny packets would otherwise hold thousands of Packets (over a KiB each) at once.
  SharedBroker& shared = this->shared();
  auto& batch = shard_.packet_batch();
  std::size_t used = 0;
  std::optional<protocol::ReasonCode> decode_error;
  // memory_limit: the heap measured when this read brings enough bytes (SharedBroker::heap_check_bytes), handed to
  // the broker before the packets that may have grown it are accepted.
  std::uint64_t heap = 0;
  bool heap_measured = false;
  if (shared.heap_check_bytes != 0 &&
      shared.read_since_heap_check.fetch_add(data.size(), std::memory_order_relaxed) + data.size() >=
          shared.heap_check_bytes) {
    shared.read_since_heap_check.store(0, std::memory_order_relaxed);
    if (const auto bytes = platform::heap_in_use()) {  // outside the lock: the allocator takes its own
      heap = *bytes;
      heap_measured = true;
    }
  }
  std::optional<core::Authentication> authentication;  // of a CONNECT in this batch
  std::chrono::milliseconds refusal_delay{0};
  bool complete = false;    // every whole packet in `input` decoded (or an error)
  bool turn_ended = false;  // stopped with bytes still to decode: a later turn goes on
  const core::TimePoint turn_end = core::Clock::now() + turn_budget;
  auto& outcomes = shard_.rule_outcomes();
  auto& samples = shard_.rule_samples();
  auto& stores = shard_.rule_stores();
  std::shared_ptr<const edge::RuleSet> rules;  // fetched by the first PUBLISH of this read
  edge::RuleCounts rule_counts;                // added to the shared counters once, at the end
  while (!complete) {
    batch.clear();
    outcomes.clear();
    samples.clear();
    stores.clear();
    bool connect_in_batch = false;
    while (batch.size() < max_batch_packets) {
      if (used == input.size()) {
        complete = true;
        break;
      }
      protocol::DecodeResult result = protocol::decode(
          input.substr(used), version_, connect_seen_ ? shared.max_packet_size : shared.max_first_packet_size);
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
        if (transport_ && transport_->username())
          connect->username = *transport_->username();  // use_identity_as_username
      }
      if (connect) {
        connect_in_batch = true;
        if (!rules) rules = shared.rules.rules();
        publisher_.reset();
        if (!rules->empty())
          publisher_ = std::make_unique<Publisher>(Publisher{connect->client_id, connect->username, {}, true});
      } else if (auto* publish = std::get_if<protocol::Publish>(&result.packet); publish && connect_seen_) {
        apply_rules(*publish, batch.size(), rules, rule_counts);
      }
      if (connect && !connect_seen_) {
        connect_seen_ = true;
        const auto level = static_cast<unsigned>(connect->version);
        if (listener_ && (listener_->accepted_versions & (1u << level)) == 0) {
          // accept_protocol_versions: refused before any password is looked at.
          authentication =
              core::Authentication{.result = core::Authentication::Result::unsupported_version,
                                   .reason = "MQTT protocol level " + std::to_string(level) +
                                             " is not accepted on this listener (accept_protocol_versions)"};
        } else if (listener_ && listener_->security) {
          authentication = authenticate(*connect, refusal_delay);
        }
      }
      used += result.consumed;
      batch.push_back(std::move(result.packet));
      if (refusal_delay.count() != 0) {
        // What follows a refused CONNECT is never processed (3.1.1 [MQTT-3.1.4-5], 5.0 [MQTT-3.1.4-6]); the
        // refusal waits.
        refuse_later(
            std::vector<protocol::Packet>(std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end())),
            std::move(*authentication), refusal_delay);
        batch.clear();
        unread_.reset();
        return;
      }
    }
    if (batch.empty() && !decode_error) break;

    const core::TimePoint now = core::Clock::now();
    {
      std::lock_guard lock(shared.mutex);
      if (std::exchange(heap_measured, false)) shared.broker.set_heap_in_use(heap);
      if (authentication) {
        shared.broker.authenticate(id_, std::move(*authentication));
        authentication.reset();
      }
      // One send() per receiving connection for the whole batch.
      shared.broker.on_packets(id_, batch, now, outcomes);
      if (connect_in_batch && publisher_ && publisher_->client_id.empty())
        publisher_->client_id = shared.broker.identity(id_).client_id;  // the one it assigned
      if (decode_error) {
        // The broker answers (CONNACK or DISCONNECT with the reason) and closes; the detach right after makes any
        // later socket event a no-op, and ends the session as a lost connection if the broker did not close it.
        shared.broker.on_decode_error(id_, *decode_error, now);
        shared.broker.detach(id_, now);
        detached_ = true;
      }
    }
    batch.clear();
    // Window samples and history entries of the messages the broker accepted, after the lock: the windows and the
    // history have their own.
    if (!samples.empty()) shared.rules.add_samples(of_accepted(samples, outcomes), now);
    if (!stores.empty()) {
      auto entries = of_accepted(stores, outcomes);
      shared.rules.store(entries);
    }
    if (closing_.load(std::memory_order_relaxed)) break;  // the broker closed it: the rest would be ignored anyway
    if (!complete && core::Clock::now() >= turn_end) {
      turn_ended = true;
      break;
    }
  }
  if (!rule_counts.empty()) shared.rules.stats().add(rule_counts);
  if (heap_measured) {  // a read with no whole packet (the start of a large one) still tells the broker
    std::lock_guard lock(shared.mutex);
    shared.broker.set_heap_in_use(heap);
  }
  if (decode_error) close();  // no-op if the broker closed already; else flush what it sent and close

  // Keep the bytes not handed over: the rest of the read when the turn ended, else those of an unfinished packet. Free
  // the buffer when there are none.
  if ((!complete && !turn_ended) || decode_error || used == input.size()) {
    unread_.reset();
  } else if (!unread_) {
    unread_ = std::make_unique<Unread>(Unread{.bytes = std::string(input.substr(used))});
  } else if (turn_ended) {
    unread_->used += used;  // no copying within a read: the next turn starts further on
  } else {
    unread_->bytes.erase(0, unread_->used + used);
    unread_->used = 0;
  }
  if (unread_) unread_->turn_ended = turn_ended;
}

core::Authentication Connection::authenticate(protocol::Connect& connect, std::chrono::milliseconds& delay) {
  const auto security = listener_->security->get();
  const bool identity = transport_ && transport_->username() != nullptr;
  core::Authentication verdict =
      security->authenticate(connect.client_id, connect.username, connect.password, identity);
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

void Connection::wake() {
  asio::post(shard_.executor(), [self = self()] {
    if (self->socket_closed_ || self->detached_) return;
    std::lock_guard lock(self->shared().mutex);
    self->shared().broker.resume(self->id_, core::Clock::now());
  });
}

void Connection::flush_transport_output() {
  std::lock_guard lock(write_mutex_);
  if (dead_ || abort_) return;
  schedule_flush_locked();
}

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
      // With nothing queued, a transport may still have bytes of its own to send (a pong): an empty batch.
      const bool transport_output = transport_ && transport_->wants_write();
      if ((!out_ || out_->queue.empty()) && !transport_output) {
        if (closing_.load(std::memory_order_relaxed)) {
          lock.unlock();
          half_close();
        }
        return;
      }
      if (!out_) out_ = std::make_unique<Outgoing>();
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
    if (transport_) {
      out_->encoded = 0;
      if (!encode_slice()) return;
    }
    if (!write_batch()) return;
  }
}

// Writes what is left of the current batch. True when all of it has left and the connection goes on; false when
// the socket is full (wants_write_: on_ready() resumes) or the connection ended.
bool Connection::write_batch() {
  for (;;) {
    // out_ stays while writing_active_: only batch_done() and close_socket(), both on this thread, free it.
    const std::string& data = transport_ ? out_->wire : out_->writing;
    while (out_->written < data.size()) {
      error_code error;
      const std::size_t n = calls().transmit(fd_, std::string_view(data).substr(out_->written), error);
      if (would_block(error)) {
        wants_write_ = true;
        return false;
      }
      if (error) return batch_done(error);  // the peer is gone
      out_->written += n;
      if (!transport_) shard_.count_sent(n);
    }
    if (transport_ && out_->encoded < out_->writing.size()) {
      if (!encode_slice()) return false;
      continue;
    }
    return batch_done({});
  }
}

// With a transport, the batch in Outgoing::writing becomes wire bytes one system call's worth at a time (a large
// batch costs the same calls as in one piece): the peer decodes the first slice while the next one is encoded, and
// the wire buffer stays at 64 KiB whatever the batch.
bool Connection::encode_slice() {
  std::string failure;
  out_->wire.clear();
  out_->written = 0;
  const std::size_t taken =
      transport_->write_some(std::string_view(out_->writing).substr(out_->encoded), out_->wire, wire_slice, failure);
  out_->encoded += taken;
  shard_.count_sent(taken);
  if (failure.empty()) return true;
  TERN_LOG(error, "connection ", id_, ": ", failure);
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
      out_->wire.clear();
    }
    pending_.store(idle ? 0 : out_->queue.size(), std::memory_order_relaxed);
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

// Our last bytes are written. Closing the socket now, while the client is still sending, would answer with a reset,
// and a reset makes the client's system discard what it has not read yet: the DISCONNECT that says why, and the
// packets before it. So our direction ends first (the FIN follows our last bytes), and the client's bytes are read
// and discarded until it closes its own direction, or for close_linger at most (a client that neither reads nor
// closes), as web servers' lingering close does. The client is gone for the broker and for the listener's
// max_connections from here; the socket still counts as open until it closes. At shutdown there is no time for it.
void Connection::half_close() {
  if (socket_closed_ || draining_) return;
  if (shared().shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::graceful);
    return;
  }
  draining_ = true;
  read_paused_ = false;
  send_transport_end(true);
  ::shutdown(fd_, SHUT_WR);
  if (listener_) listener_->connections.fetch_sub(1, std::memory_order_relaxed);
  listener_ = nullptr;
  detach_once();
  {
    std::lock_guard lock(write_mutex_);
    if (!out_) out_ = std::make_unique<Outgoing>();
    out_->linger = std::make_unique<Timer>(shard_.executor());
    out_->linger->expires_after(close_linger);
    out_->linger->async_wait([self = self()](const error_code& error) {
      if (!error) self->close_socket(CloseMode::quiet);  // a no-op if the client's end came first
    });
  }
  read_available();  // what came while closing: its readiness event may have been taken already
}

// Best effort, without waiting (the socket is non-blocking): what the transport still has to say (the close frame that
// answers a client's, or explains why the stream failed), then, on a graceful end, its own end (close_notify).
void Connection::send_transport_end(bool graceful) {
  if (!transport_ || opening_) return;
  {
    std::lock_guard lock(write_mutex_);
    if (out_ && writing_active_ && out_->written != 0) return;  // mid-write: nothing can be framed after it
  }
  std::string end;
  std::string failure;
  if (transport_->wants_write()) transport_->write_some({}, end, wire_slice, failure);
  if (graceful && attached_) transport_->close(end);
  error_code ignored;
  if (!end.empty()) calls().transmit(fd_, end, ignored);
}

void Connection::close_socket(CloseMode mode) {
  if (socket_closed_) return;
  socket_closed_ = true;
  wants_read_ = false;
  wants_write_ = false;
  if (mode != CloseMode::reset && !draining_) send_transport_end(mode == CloseMode::graceful);
  std::unique_ptr<Outgoing> out;
  {
    std::lock_guard lock(write_mutex_);
    dead_ = true;
    out = std::move(out_);
    pending_.store(0, std::memory_order_relaxed);
  }
  out.reset();       // outside the lock: its linger timer's handler is cancelled
  opening_.reset();  // cancels its deadline
  if (mode == CloseMode::graceful) ::shutdown(fd_, SHUT_RDWR);
  if (mode == CloseMode::reset) {
    const linger abortive{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  }
  ::close(fd_);  // also takes the socket out of the shard's epoll set
  fd_ = -1;
  unread_.reset();
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
