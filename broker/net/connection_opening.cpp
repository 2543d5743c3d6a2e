// Connection: a transport's opening (the TLS handshake, the WebSocket upgrade), before the connection is attached to
// the broker (connection.hpp, "Transports").
#include <string>

#include "broker/net/connection.hpp"
#include "broker/net/endpoint.hpp"
#include "broker/net/socket_calls.hpp"
#include "platform/log.hpp"

namespace tern::net {

// --- A transport's opening ---------------------------------------------------------------------------------------
// Each step: the transport takes what was read and says what to send (open_step), that is written (open_write),
// then what it said is acted on (open_continue): read more (open_read), fail, or attach (opened).

void Connection::start_opening(const tcp::endpoint& remote) {
  opening_ = std::make_unique<Opening>(shard_.executor(), to_string(remote));
  opening_->deadline.expires_after(opening_timeout);
  opening_->deadline.async_wait([self = self()](const error_code& error) {
    if (error || self->socket_closed_ || !self->opening_) return;
    self->open_failed("timed out after " + std::to_string(opening_timeout.count()) + " s");
  });
  open_step({});
}

void Connection::open_step(std::string_view input) {
  opening_->flight.clear();
  opening_->written = 0;
  opening_->result = transport_->open(input, opening_->flight);
  open_write();
}

void Connection::open_write() {
  const std::string& flight = opening_->flight;
  while (opening_->written < flight.size()) {
    error_code error;
    const std::size_t n = calls().transmit(fd_, std::string_view(flight).substr(opening_->written), error);
    if (would_block(error)) {
      wants_write_ = true;  // on_ready() comes back here
      return;
    }
    if (error) {
      open_failed(error.message());
      return;
    }
    opening_->written += n;
  }
  open_continue();
}

void Connection::open_continue() {
  switch (opening_->result.status) {
    case Transport::Status::ok:
      opened();
      return;
    case Transport::Status::want_read:
      if (!wire_drained_) {  // the last read filled the buffer: readiness will not be signalled for the rest
        asio::post(shard_.executor(), [self = self()] {
          if (!self->socket_closed_ && self->opening_) self->open_read();
        });
        return;
      }
      wait_readable();
      return;
    case Transport::Status::closed:  // the opening was all the client wanted (a file over HTTP)
      TERN_LOG(information, transport_->opening_name(), " with ", opening_->remote, ": ", opening_->result.reason);
      close_socket(CloseMode::graceful);
      return;
    case Transport::Status::failed:
      open_failed(opening_->result.reason);
      return;
  }
}

void Connection::open_read() {
  read_signalled_ = false;  // this read sees whatever an event announced
  const std::span<char> buffer = shard_.wire_buffer();
  error_code error;
  const std::size_t n = calls().receive(fd_, buffer, error);
  if (would_block(error)) {
    wire_drained_ = true;
    wait_readable();
    return;
  }
  if (error) {
    open_failed(error == asio::error::eof ? "the client closed the connection" : error.message());
    return;
  }
  wire_drained_ = n < buffer.size();
  open_step({buffer.data(), n});
}

void Connection::open_failed(const std::string& reason) {
  TERN_LOG(notice, transport_->opening_name(), " with ", opening_->remote, " failed: ", reason);
  shared().opening_failures[static_cast<std::size_t>(transport_->opening_layer())].fetch_add(1,
                                                                                             std::memory_order_relaxed);
  close_socket(CloseMode::quiet);
}

void Connection::opened() {
  const std::string remote = std::move(opening_->remote);
  opening_.reset();  // cancels the deadline
  if (shared().shutting_down.load(std::memory_order_relaxed)) {
    close_socket(CloseMode::quiet);
    return;
  }
  attach(remote);
  // Bytes that came with the opening's last flight (the CONNECT, usually) are already in the transport, or still in
  // the socket after a full read: readiness will not be signalled for them again.
  if (transport_->pending() || !wire_drained_) {
    read_available();
  } else {
    wait_readable();
  }
}

}  // namespace tern::net
