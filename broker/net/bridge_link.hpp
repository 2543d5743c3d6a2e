// The network driver of one bridge (broker/bridge/bridge.hpp): the TCP connection to the upstream, its timers, and
// the bridge's local client, which it attaches to the Broker as a ConnectionSink of its own (no socket: the broker's
// bytes for it are decoded here and handed to the Bridge).
//
// Life of the link, all on one shard's thread: resolve and connect to the current address (in the order of
// `addresses`; a failure moves to the next, then back to the first), CONNECT, and once the upstream accepts, attach
// the local client so that its session's queue starts to flow. Every keepalive_interval a PINGREQ goes up; one
// unanswered ends the link. When the link ends for any reason (refused, lost, a bad packet, the local session taken
// over) the socket closes, the local client is detached (its session keeps what waits to go out), a line says why,
// and a new attempt follows after restart_timeout: BASE, doubling with jitter up to CAP while attempts fail, back to
// BASE after a link that came up. Nothing reconnects once the broker shuts down.
//
// With round_robin false, the first address is the main one: while linked to another, a TCP probe every
// restart_timeout BASE checks whether the main one answers, and if it does the link moves back to it. With
// start_type lazy the bridge waits (checking every second) until `threshold` messages wait to go out, and ends the
// link after idle_timeout without a message crossing it and none waiting.
//
// With bridge_cafile (or a PSK) the stream to the upstream is TLS (mbedTLS, tls::Engine), the upstream's certificate
// checked against the CA and, unless bridge_insecure, against the address's host name.
//
// Thread safety: start() and stop() on the shard's thread; send(), close() and pending_bytes() (ConnectionSink) from
// any thread with the broker mutex held (they only queue bytes and post); the rest on the shard's thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "broker/bridge/bridge.hpp"
#include "broker/core/broker.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/net/slim_mutex.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

namespace tern::net {

class BridgeLink final : public core::ConnectionSink {
 public:
  BridgeLink(bridge::BridgeSettings settings, Executor executor, SharedBroker& shared);
  BridgeLink(const BridgeLink&) = delete;
  BridgeLink& operator=(const BridgeLink&) = delete;
  ~BridgeLink();

  void start();
  void stop();
  const std::string& name() const noexcept { return bridge_.settings().name; }
  // For /metrics, on the shard's thread: whether the upstream accepted the bridge, and the messages waiting to go up
  // (its local session's queue; takes the broker mutex).
  bool up() const noexcept { return bridge_.up(); }
  std::size_t backlog() const;

  // ConnectionSink: the broker's packets for the bridge's local client.
  void send(std::string_view bytes) override;
  void close() override;
  std::size_t pending_bytes() const noexcept override;
  void wake() override;

 private:
  void connect();
  void on_connected();
  void tls_step();  // the TLS handshake's next flight; opened() once it is done
  void opened();    // the stream to the upstream is up (TCP, or TLS over it): the CONNECT
  void read_remote();
  void on_remote_bytes(std::size_t n);
  void write_remote();
  void process_local();
  void apply(bridge::Bridge::Output& out);
  void arm_keepalive();
  void lost(const std::string& why);
  void schedule_retry(bool after_link);
  std::string where() const;
  void wait_for_threshold();  // start_type lazy, while there is no link
  void check_idle();          // start_type lazy, while there is one
  void probe_main();          // round_robin false, while linked to another address than the first
  // Resolves (unless numeric) and connects `socket` to addresses[index]; `done` gets the error.
  template <class Done>
  void open_to(std::size_t index, asio::basic_stream_socket<tcp, Executor>& socket,
               asio::ip::basic_resolver<tcp, Executor>& resolver, Done done);

  bridge::Bridge bridge_;
  Executor executor_;
  SharedBroker& shared_;
  asio::ip::basic_resolver<tcp, Executor> resolver_;
  asio::basic_stream_socket<tcp, Executor> socket_;
  Timer retry_timer_;
  Timer keepalive_timer_;
  Timer lazy_timer_;   // start_type lazy: the threshold and idle checks
  Timer probe_timer_;  // round_robin false: the next probe of the main address
  asio::ip::basic_resolver<tcp, Executor> probe_resolver_;
  asio::basic_stream_socket<tcp, Executor> probe_socket_;
  core::TimePoint last_relayed_{};  // when a PUBLISH last crossed
  bool idle_ending_ = false;        // the DISCONNECT of an idle lazy link is being written
  std::size_t address_ = 0;         // index into settings().addresses
  unsigned failures_ = 0;           // attempts failed in a row (the retry delay doubles with each)
  std::uint64_t generation_ = 0;    // bumped when a link ends: handlers of an older one do nothing
  bool stopped_ = false;
  bool connected_ = false;                           // TCP connected
  std::shared_ptr<const tls::Context> tls_context_;  // the TLS uplink's settings; null: plain TCP
  std::unique_ptr<tls::Engine> tls_;                 // while connected over TLS
  std::string tls_session_;                          // the last TLS session upstream, offered on reconnect
  std::size_t tls_session_address_ = 0;              // its address (another address starts afresh)
  std::string remote_in_;                            // upstream bytes not decoded yet
  std::string remote_out_;                           // upstream bytes waiting to be written
  std::string remote_writing_;                       // upstream bytes being written
  bool remote_write_active_ = false;
  core::ConnectionId local_id_ = 0;  // the local client while attached
  bool local_attached_ = false;
  std::string local_leftover_;  // local bytes of an unfinished packet
  std::array<char, 64 * 1024> read_buffer_{};
  // The step being applied from a read of either side (on_remote_bytes, process_local: never nested), kept so that
  // its buffers are reused.
  bridge::Bridge::Output batch_;

  // The broker's bytes for the local client (ConnectionSink), under local_mutex_.
  mutable SlimMutex local_mutex_;
  std::string local_in_;
  bool local_posted_ = false;
  bool local_close_ = false;  // the broker asked to close the local client
  std::atomic<std::size_t> local_pending_{0};
};

}  // namespace tern::net
