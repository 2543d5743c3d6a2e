// An accepting socket per configured listener (more than one when its bind address resolves to several addresses).
//
// An empty bind address listens on [::] with IPV6_V6ONLY off, so IPv4 clients arrive as v4-mapped addresses (one
// socket, both families); where IPv6 is unavailable it falls back to 0.0.0.0. Each bound socket is logged as
// "listening on ADDRESS:PORT" at notice level; with port 0 the kernel picks the port and that line says which
// (the integration tests read it). With bind_interface, each socket accepts only connections that arrive on that
// network interface (SO_BINDTODEVICE); a name the kernel does not know is a ListenError at start-up.
//
// A TLS listener (certfile or psk_hint) builds its tls::Context in the constructor, so a bad certificate or key
// stops the start-up with a ListenError naming the file; every accepted connection shares that Context. A
// websockets listener gives each connection a WebSocketTransport (over a TlsTransport for wss://), with settings
// made once; an http_dir that is not a directory stops the start-up the same way.
//
// Accepting runs on one shard: when a listening socket is readable, accept4() takes every queued connection (up to
// 64 per turn); each gets a Connection started on the shard that will serve it (the next one round-robin). Beyond
// max_connections, or past connection_rate_limit for its source address (connection_rate.hpp), a socket is accepted
// and closed at once. Accept errors such as EMFILE are retried after 100 ms instead of spinning.
//
// Thread safety: construct and start() before the shards run; stop() from any thread; the rest runs on the
// accepting shard's thread. Destroy only after the shards have stopped.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/net/asio.hpp"
#include "broker/net/connection_rate.hpp"
#include "broker/net/listener_config.hpp"
#include "broker/net/security_slot.hpp"
#include "broker/net/shard.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/net/websocket_transport.hpp"
#include "tls/context.hpp"

namespace tern::net {

// A listener could not be set up: what() is "cannot listen on ADDRESS:PORT: reason".
class ListenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Listener {
 public:
  using ShardPicker = std::function<Shard&()>;

  // Binds and listens; throws ListenError. `security` (kept, not owned) authenticates the clients' CONNECTs; null:
  // none (BrokerOptions::allow_anonymous alone decides).
  Listener(const ListenerConfig& config, Shard& accept_shard, ShardPicker pick_shard, SharedBroker& shared,
           SecuritySlot* security = nullptr);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  void start();
  // Stops accepting: the sockets are closed on the accepting shard's thread.
  void stop();

  // TLS listeners: reads the certificates, keys and PSK file again and uses them for the connections accepted from
  // now on; open connections keep the tls::Context they started with. On failure, logs why and keeps the old one.
  // Session tickets and the session cache carry over, unless the CA or CRL files for client certificates changed.
  // Call on the accepting shard's thread (the server's signal handler runs there).
  void reload_tls();

  std::vector<tcp::endpoint> local_endpoints() const;
  const ListenerConfig& config() const noexcept { return config_; }
  // Open sockets accepted here (any thread; a relaxed snapshot).
  int open_connections() const noexcept { return link_.connections.load(std::memory_order_relaxed); }

 private:
  struct Endpoint {
    explicit Endpoint(Executor executor) : acceptor(executor), backoff(executor) {}
    Acceptor acceptor;
    Timer backoff;
    std::string name;  // for the log
  };

  void bind(const tcp::endpoint& endpoint, bool dual_stack);
  void bind_to_interface(int fd, const tcp::endpoint& endpoint);  // throws ListenError
  void accept(Endpoint& endpoint);
  void accept_ready(Endpoint& endpoint);
  void on_accept(Endpoint& endpoint, int fd, const tcp::endpoint& remote);
  std::shared_ptr<const WebSocketTransport::Settings> websocket_settings() const;  // throws ListenError
  std::unique_ptr<Transport> make_transport() const;                               // null: plain TCP

  ListenerConfig config_;
  std::shared_ptr<const tls::Context> tls_;                         // null: a plain listener
  std::shared_ptr<tls::Resumption> resumption_;                     // session tickets and cache; null: none
  std::shared_ptr<const WebSocketTransport::Settings> websockets_;  // null: an mqtt listener
  Shard& accept_shard_;
  ShardPicker pick_shard_;
  SharedBroker& shared_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  ListenerLink link_;  // open sockets accepted here (for max_connections) and the security they authenticate by
  std::optional<ConnectionRate> rate_;  // connection_rate_limit; accept_shard_'s thread only
};

}  // namespace tern::net
