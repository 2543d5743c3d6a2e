// What one load generator run does (Settings, fixed before the workers start) and how the main thread steers the
// workers through its phases (Control, shared, all atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

#include "bench/loadgen/mqtt.hpp"

namespace loadgen {

enum class Scenario { fanin, fanout, pairs, latency, wildcard, idle, storm, retained, connect, reconnect };

struct Settings {
  Scenario scenario = Scenario::fanin;
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  // Subscribers connect here instead when set: publishers at one broker, subscribers at another that a bridge feeds.
  std::uint16_t sub_port = 0;
  mqtt::Version version = mqtt::Version::v311;
  int threads = 1;
  // TLS (mbedTLS, TLS 1.2) on every connection; tls_ca empty: the server's certificate is not verified.
  bool tls = false;
  std::string tls_ca;
  std::string tls_server_name = "localhost";
  bool tls_resume = false;   // --tls-resume: reconnect with the session of the last full handshake (tls.hpp)
  bool tls_tickets = true;   // --tls-no-tickets: no ticket extension (resumption by session id only)
  // MQTT over WebSockets (websocket.hpp) on every connection, over TLS too with `tls`: the HTTP upgrade to ws_path,
  // then MQTT in binary frames; ws_deflate offers permessage-deflate (RFC 7692) and compresses if the server agrees.
  bool ws = false;
  std::string ws_path = "/mqtt";
  bool ws_deflate = false;
  // Sent in every CONNECT when not empty; "%i" in the username is replaced by the client's index (publisher id,
  // subscriber index, connection number), so each client may log in as a user of its own.
  std::string username;
  std::string password;

  // Publish/subscribe scenarios.
  int pubs = 10;
  int subs = 1;
  bool pairs = false;          // publisher i -> subscriber i; otherwise every subscriber gets every publisher
  int qos = 0;
  std::size_t payload = 16;
  bool json_payload = false;   // after the stamp, sensor JSON (payload.hpp) instead of zero bytes
  double rate = 0;             // total msgs/s over all publishers; 0: as fast as flow control allows
  unsigned window = 64;        // QoS 1/2 messages in flight per publisher (capped by the broker's Receive Maximum)
  std::size_t batch = 65536;   // bytes of PUBLISH packets a publisher builds per write
  // QoS 0 end-to-end window: a publisher runs at most this many messages ahead of the slowest subscriber it feeds
  // (by the highest sequence number each has received, so a dropped message does not stall it). 0: no window, only
  // the socket's back pressure (a broker that reads faster than it delivers then queues without bound).
  unsigned qos0_window = 1000;
  // Client ids and pair topics of the lengths real deployments use (34- and ~40-character ids and topics, like
  // Paho's or Home Assistant's) instead of short ones that fit in std::string's inline buffer.
  bool long_names = false;
  // Every subscriber's filter F becomes F/#: it matches F itself and its subtree, so the same messages arrive, but
  // the filter is no longer one topic (an ACL may then grant it only in part).
  bool wide_filters = false;
  double warmup_s = 1;
  double duration_s = 5;
  double drain_s = 5;          // after publishing stops, how long to wait for the last deliveries
  // The measured window ends at a line on stdin (or after duration_s, whichever comes first): a driver that runs
  // something else alongside (bench/drain.py) makes the window cover exactly that.
  bool until_stdin = false;

  // Wildcard scenario: this many extra subscriptions that never match, spread over noise_subs connections.
  int noise_subs = 100;
  int noise_filters = 10000;

  // Idle, connect and storm.
  int connections = 10000;
  int max_pending_connects = 64;  // per worker: connections being set up at once (idle, connect, pub/sub set-up)
  int slots = 32;                 // storm: concurrent connect/disconnect loops
  // Clean session false (3.1.1) / clean start false + session expiry 3600 s (5.0), with a fixed client id: in the
  // storm every reconnect resumes a session; in the publish/subscribe scenarios the broker keeps every client's
  // session (and, with persistence, must store what it queues for the subscribers).
  bool persistent = false;
  bool spread_sources = false;    // bind client sockets to 127.0.0.x, x cycling 1..250
  double hold_s = 60;             // idle: the longest wait for a line on stdin before closing

  // Retained.
  int topics = 100000;
  int retain_pubs = 4;
  double retained_timeout_s = 120;  // how long the # subscriber may take

  double setup_timeout_s = 60;

  // Reconnect: `connections` clients connect (as in connect); then, when the broker goes away (it is restarted by
  // the driver), every client reconnects as soon as it can, retrying a refused connect after retry_ms (as a device
  // would, if less patiently), until all are back or reconnect_timeout_s has passed.
  double retry_ms = 50;
  double reconnect_timeout_s = 120;
};

enum class Phase : int { setup, publish, drain, retained_subscribe, stop };

struct Control {
  static constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

  std::atomic<Phase> phase{Phase::setup};
  std::atomic<std::uint64_t> measure_start_ns{never};
  std::atomic<std::uint64_t> measure_end_ns{never};

  std::atomic<int> ready{0};   // clients connected and, where they subscribe, subscribed
  std::atomic<int> failed{0};  // fatal client errors
  std::atomic<std::uint64_t> expected{0};  // deliveries owed to subscribers by what was published so far
  std::atomic<std::uint64_t> received{0};  // unique deliveries received
  std::atomic<std::int64_t> inflight{0};   // QoS 1/2 publishes not yet completed

  // Reconnect: when the first client lost its connection, the first TCP connect accepted after that, and when the
  // last client was connected again (CONNACK); 0: not yet.
  std::atomic<std::uint64_t> lost_ns{0};
  std::atomic<std::uint64_t> first_back_ns{0};
  std::atomic<std::uint64_t> all_back_ns{0};

  std::atomic<int> retain_pubs_done{0};
  std::atomic<std::uint64_t> retain_sub_start_ns{0};
  std::atomic<std::uint64_t> retain_sub_done_ns{0};

  std::mutex error_mutex;
  std::string first_error;

  void fail(const std::string& what) {
    {
      std::lock_guard lock(error_mutex);
      if (first_error.empty()) first_error = what;
    }
    failed.fetch_add(1);
  }
};

std::uint64_t mono_ns() noexcept;

}  // namespace loadgen
