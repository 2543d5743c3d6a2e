// One load generator thread: an edge-triggered epoll loop over the clients it owns.
//
// Cost model (the same as the broker's, DESIGN.md): system calls, not instructions. A publisher builds up to
// Settings::batch bytes of PUBLISH packets and writes them with one write(); a reader reads 64 KiB at a time into the
// worker's buffer and handles every complete packet in it; acks produced by one read leave in one write. A client
// that still has work after its turn (socket still writable, more to read) goes on the ready list, so one busy
// client cannot starve the others and epoll_wait is skipped while there is work.
//
// Thread safety: a Worker and its clients are touched only by the worker's thread between start() and join(); the
// main thread reads the results after join(). Cross-thread steering goes through Control.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/loadgen/mqtt.hpp"
#include "bench/loadgen/settings.hpp"
#include "bench/loadgen/stats.hpp"
#include "bench/loadgen/tls.hpp"
#include "bench/loadgen/websocket.hpp"

namespace loadgen {

enum class Role { publisher, subscriber, noise, idle, storm, retain_pub, retain_sub };

struct Client {
  Role role = Role::idle;
  int index = 0;  // publisher id, subscriber index, storm slot
  int fd = -1;
  // handshaking: TLS; upgrading: the WebSocket upgrade (after TLS under --ws --tls).
  enum class State { off, connecting, handshaking, upgrading, connack_wait, subscribing, ready } state = State::off;
  std::string client_id;
  std::string username;              // empty: none (Settings::username with %i expanded)
  std::vector<std::string> filters;  // subscribed once connected (subscribers, noise) or on command (retain_sub)
  int subacks_pending = 0;

  std::string out;            // bytes waiting to be written, from out_offset
  std::size_t out_offset = 0;
  std::string in;             // an unfinished packet
  bool writable = false;      // false after EAGAIN until EPOLLOUT
  bool queued = false;        // on the worker's ready list
  bool read_more = false;     // stopped reading with bytes left in the socket
  // --tls: the session (reused across reconnects). `out` then holds plaintext, encrypted into tls->cipher_out() when
  // flushed; null on plain connections, so the plain path costs one pointer test per read() and per flush.
  std::unique_ptr<tls::Session> tls;
  // --ws: the WebSocket channel (reused across reconnects). `out` then holds MQTT bytes, framed into ws->wire() when
  // flushed (and that encrypted under --tls); what arrives is unframed into `in`. Null on plain MQTT connections.
  std::unique_ptr<websocket::Channel> ws;

  // Publishers.
  mqtt::PublishTemplate publish;
  std::uint32_t seq = 0;        // next sequence number; also how many were published
  unsigned window = 0;
  unsigned inflight = 0;
  std::uint16_t next_packet_id = 1;
  std::vector<std::uint8_t> packet_id_used;
  std::unique_ptr<std::uint64_t[]> sent_ns;  // QoS 1/2 publishers: when each packet id was sent (publish-to-ack)
  std::uint64_t next_send_ns = 0;  // fixed rate
  std::uint64_t period_ns = 0;
  int fan = 1;                     // deliveries each publish owes
  // QoS 0 end-to-end window: progress[i] is the highest sequence + 1 that subscriber i of this publisher has
  // received (written by the subscriber's worker), `allowed` the sequence number the window lets us reach.
  std::atomic<std::uint32_t>* progress = nullptr;
  int progress_count = 0;
  std::uint32_t allowed = 0;
  std::uint32_t retain_first = 0;  // retained topics this publisher stores: first, first + step, ... < topics
  std::uint32_t retain_step = 1;
  bool retain_done = false;

  // Subscribers: what arrived from each publisher id, and where to report progress for each (may be null).
  std::vector<PairTracker> from;
  std::vector<std::atomic<std::uint32_t>*> progress_to;
  std::uint64_t foreign = 0;  // PUBLISHes without our stamp

  // Storm.
  std::uint64_t connect_start_ns = 0;
  // Reconnect: when to try again after a refused connect (0: not waiting).
  std::uint64_t retry_at_ns = 0;
};

struct WorkerResults {
  Histogram latency;          // publish to receive, measured window
  Histogram connect_latency;  // storm: connect() to CONNACK, measured window; connect: every connection
  Histogram ack_latency;      // QoS 1/2: publish to PUBACK / PUBCOMP, acks received in the measured window
  std::uint64_t acked_in_window = 0;
  std::uint64_t last_connack_ns = 0;  // connect: when the last connection was set up
  std::string tls_ciphersuite;        // --tls: what the server chose (first handshake)
  std::string ws_extensions;          // --ws: the server's Sec-WebSocket-Extensions answer (first upgrade)
  std::uint64_t ws_upgrades = 0;      // --ws: upgrades completed
  std::uint64_t ws_compressing = 0;   // --ws: of which with permessage-deflate agreed
  // Bytes over the whole run, all clients: MQTT packets handed to the transport / taken from it, and what went
  // through the sockets (with framing, compression and TLS records). Plain MQTT over TCP: the same numbers.
  std::uint64_t mqtt_bytes_out = 0;
  std::uint64_t mqtt_bytes_in = 0;
  std::uint64_t socket_bytes_out = 0;
  std::uint64_t socket_bytes_in = 0;
  std::uint64_t published_in_window = 0;
  std::uint64_t delivered_in_window = 0;
  std::uint64_t connacks_in_window = 0;
  std::uint64_t session_present = 0;
  std::uint64_t storm_errors = 0;
  std::uint64_t ack_errors = 0;  // acks with a failure reason code
  // --tls: handshakes completed in the measured window (reconnect: after the first lost connection), full and resumed.
  std::uint64_t tls_full = 0;
  std::uint64_t tls_resumed = 0;
};

class Worker {
 public:
  Worker(const Settings& settings, Control& control, int id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add(std::unique_ptr<Client> client) { clients_.push_back(std::move(client)); }
  void start();
  void join();

  const std::vector<std::unique_ptr<Client>>& clients() const { return clients_; }
  const WorkerResults& results() const { return results_; }

 private:
  void run();
  void on_phase(Phase phase);
  void start_pending_connects();
  void start_connect(Client& c);
  void on_connected(Client& c);
  void step_handshake(Client& c);
  void start_session(Client& c);
  void send_connect(Client& c);
  void on_event(Client& c, std::uint32_t events);
  void do_read(Client& c);
  bool handle_packet(Client& c, const mqtt::Packet& p, std::uint64_t now);
  void on_publish(Client& c, const mqtt::Publish& pub, std::uint64_t now);
  void on_ready(Client& c);
  void fill(Client& c, std::uint64_t now);
  bool can_fill(Client& c);
  bool window_open(Client& c);
  void flush(Client& c);
  void flush_tls(Client& c);
  void flush_ws(Client& c);
  void frame_out(Client& c);
  // Sends bytes[offset..] until done (true) or the socket is full or failed (false; `offset` advanced).
  bool send_all(Client& c, const std::string& bytes, std::size_t& offset);
  void service(Client& c);
  void make_ready(Client& c);
  void release_packet_id(Client& c, std::uint16_t id);
  void recycle_storm(Client& c);
  void close_client(Client& c);
  void client_error(Client& c, const std::string& what);
  void send_due(std::uint64_t now);
  void arm_timer();

  const Settings& settings_;
  Control& control_;
  int id_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  std::uint64_t timer_armed_ns_ = 0;
  std::thread thread_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Client*> ready_;
  std::vector<Client*> publishers_;
  std::vector<Client*> window_blocked_;  // QoS 0 publishers waiting for their subscribers
  std::vector<Client*> retrying_;        // reconnect: clients waiting for their retry_at_ns
  std::size_t next_connect_ = 0;   // clients_ index of the next client to connect (idle: a few at a time)
  int pending_connects_ = 0;
  unsigned source_ = 0;            // which 127.0.0.x the next socket binds to
  Phase phase_ = Phase::setup;
  std::uint64_t window_start_ = Control::never;
  std::uint64_t window_end_ = Control::never;
  std::uint64_t expected_unflushed_ = 0;  // added to Control::expected once per turn
  std::uint64_t received_unflushed_ = 0;
  std::int64_t inflight_unflushed_ = 0;
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<tls::Config> tls_config_;  // --tls: this thread's mbedTLS configuration and random generator
  websocket::Options ws_options_;
  std::mt19937_64 nonce_rng_;  // --ws: Sec-WebSocket-Key nonces
  WorkerResults results_;
};

}  // namespace loadgen
