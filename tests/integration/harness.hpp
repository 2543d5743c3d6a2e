// End-to-end test harness: a real broker process on an ephemeral port, a raw-socket MQTT client that sends exact
// bytes, and Paho MQTT C++ helpers.
//
//   BrokerProcess broker({"max_keepalive 10"});        // writes a config, spawns TERN_BINARY -c FILE, finds its port
//   RawClient c(broker.port(), Version::v5);           // TCP connect; every read has a deadline
//   Connack ack = c.connect("c1");                     // CONNECT -> CONNACK (throws if something else comes)
//   c.subscribe("a/#", QoS::at_least_once);            // SUBSCRIBE -> SUBACK
//   Publish p = c.expect<Publish>();                   // next packet must be a PUBLISH within the default deadline
//
// Failures inside helpers throw HarnessError; GoogleTest reports an exception thrown from a test body as a failure
// with its message, which ends the test at the first broken expectation of the exchange (like ASSERT_*).
//
// TERN_TEST_BROKER=mosquitto starts /usr/sbin/mosquitto instead of tern, to check the tests themselves against a
// known-good broker.
//
// Every wait here has a deadline; nothing sleeps to assert. To check that something does NOT arrive, tests wait a
// short bounded time and then send a marker (PINGREQ or a marker message) that must be the next thing to arrive.
//
// Thread safety: BrokerProcess and RawClient belong to one thread. MessageCollector is thread-safe (Paho calls it
// from its own threads).
#pragma once

#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/protocol/codec.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::itest {

using namespace std::chrono_literals;
using protocol::Packet;
using protocol::Properties;
using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;

// Default deadline for "the broker must answer": generous, because a loaded 2-core machine runs tests in parallel;
// a test only waits this long when it is failing.
inline constexpr std::chrono::milliseconds answer_timeout = 5s;
// How long a test waits to conclude that something did not arrive (always followed by a marker).
inline constexpr std::chrono::milliseconds quiet_period = 300ms;

class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool testing_mosquitto();  // TERN_TEST_BROKER=mosquitto

// The certificates tests/unit/tls/make_test_certs.sh makes (openssl), once per test process and removed at its exit:
// ca.crt, server.crt, server.key, client certificates, psk.txt, ... None is committed.
const std::filesystem::path& test_certs();

// ---------------------------------------------------------------------------------------------------------------
// The broker under test.
class BrokerProcess {
 public:
  // `extra_config`: lines appended to the default config ("listener 0 127.0.0.1", "allow_anonymous true"). A line
  // that sets `allow_anonymous` replaces the default one. Lines that only tern knows are dropped for mosquitto.
  explicit BrokerProcess(std::vector<std::string> extra_config = {});
  // Debian's mosquitto whatever TERN_TEST_BROKER says (as a peer of tern: a bridge into it, say), or tern.
  enum class Kind { tern, mosquitto };
  BrokerProcess(std::vector<std::string> extra_config, Kind kind);
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  // tern only: every listener's port, in the config's order (the default plain listener first), once all are bound.
  std::vector<std::uint16_t> ports() const;
  // Sends a signal (SIGHUP) to the broker.
  void signal(int number) const;
  // Limits the size of every file the running broker writes (RLIMIT_FSIZE), as a full disk would: a write past it
  // fails (EFBIG). Until it stops; a restart runs without it.
  void limit_file_size(std::uint64_t bytes) const;
  std::string log() const;                             // everything the broker wrote to stdout and stderr so far
  std::size_t log_count(std::string_view text) const;  // how often `text` occurs in log()
  const std::filesystem::path& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // the broker's process (an emulator's, under TERN_TEST_BROKER_WRAPPER)

  void stop();     // SIGTERM, wait up to 5 s, then SIGKILL
  void kill();     // SIGKILL at once
  void restart();  // stop() if running, then start again with the same config (tern: possibly a new port)

 private:
  void start();
  void write_config();
  std::uint16_t wait_for_port(std::chrono::steady_clock::time_point deadline);
  void reap(std::chrono::milliseconds timeout);
  // A sanitizer build's report (scripts/sanitize.sh) in the log fails the test that ran the broker.
  void check_sanitizer_report() const;

  std::vector<std::string> extra_config_;
  std::filesystem::path dir_;
  std::filesystem::path config_path_;
  std::filesystem::path log_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::size_t log_offset_ = 0;
  bool mosquitto_ = false;
};

// ---------------------------------------------------------------------------------------------------------------
// The broker's bytes as the tests see them: decoded by the test side's own decoder (tests/support/mqtt_wire.hpp,
// written from the specifications and sharing no code with broker/protocol, so a mistake made the same way in Tern's
// encoder and decoder fails here) and handed to the tests as protocol:: packet values, which they compare with what
// they sent. Strict: a reply that breaks a rule of the specification for server packets is an error.
struct BrokerPacket {
  enum class Status { incomplete, packet, error } status = Status::incomplete;
  Packet packet;
  std::size_t consumed = 0;  // status == packet
  std::string error;         // status == error
};
BrokerPacket decode_from_broker(std::string_view bytes, Version version);

// ---------------------------------------------------------------------------------------------------------------
// A blocking MQTT client over a raw TCP socket: exact bytes out (encoded by Tern's encoder, or given as bytes),
// packets in through decode_from_broker().
class RawClient {
 public:
  struct ReadResult {
    enum class Status { packet, timeout, closed, error } status = Status::timeout;
    Packet packet;
    std::string error;  // status == error: what the test-side decoder found wrong with the broker's bytes
  };

  RawClient(std::uint16_t port, Version version);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  Version version() const { return version_; }
  void set_version(Version v) { version_ = v; }

  // Sends bytes as they are. A broker that already closed is not an error here (the next read says "closed").
  void send_bytes(std::string_view bytes);
  void send(const Packet& packet);  // encoded for version()

  // The next packet (stashed ones first), or timeout / closed.
  ReadResult read(std::chrono::milliseconds timeout = answer_timeout);

  // The next packet must be a T.
  template <class T>
  T expect(std::chrono::milliseconds timeout = answer_timeout) {
    ReadResult r = read(timeout);
    require_packet(r, protocol::packet_type(Packet{T{}}));
    return std::get<T>(std::move(r.packet));
  }

  // Reads until a T satisfying `pred` arrives; packets read on the way are kept and returned by later reads.
  template <class T>
  T await(std::function<bool(const T&)> pred = nullptr, std::chrono::milliseconds timeout = answer_timeout) {
    Packet p = await_packet(
        [&](const Packet& packet) {
          const T* t = std::get_if<T>(&packet);
          return t != nullptr && (!pred || pred(*t));
        },
        timeout, protocol::packet_type(Packet{T{}}));
    return std::get<T>(std::move(p));
  }

  // CONNECT -> CONNACK. Throws if anything but a CONNACK arrives. A refusing CONNACK is returned, not thrown.
  protocol::Connack connect(protocol::Connect connect);
  protocol::Connack connect(const std::string& client_id, bool clean = true, std::uint16_t keep_alive = 60,
                            Properties properties = {});
  static protocol::Connect make_connect(Version v, const std::string& client_id, bool clean = true,
                                        std::uint16_t keep_alive = 60, Properties properties = {});

  protocol::Suback subscribe(const std::string& filter, QoS qos, Properties properties = {});
  protocol::Suback subscribe(std::vector<protocol::Subscription> subscriptions, Properties properties = {});
  protocol::Unsuback unsubscribe(std::vector<std::string> filters);

  // Publishes and completes the handshake (PUBACK, or PUBREC/PUBREL/PUBCOMP). Returns the packet id used (0 for
  // QoS 0). Incoming PUBLISHes that arrive meanwhile are kept for later reads (not acknowledged).
  std::uint16_t publish(const std::string& topic, const std::string& payload, QoS qos = QoS::at_most_once,
                        bool retain = false, Properties properties = {});

  // The next packet must be a PUBLISH; QoS 1/2 ones are acknowledged (full QoS 2 exchange) when `ack` is true.
  protocol::Publish receive(std::chrono::milliseconds timeout = answer_timeout, bool ack = true);
  void acknowledge(const protocol::Publish& publish);  // PUBACK, or PUBREC -> PUBREL -> PUBCOMP

  // Nothing may arrive for `quiet` (default quiet_period); then a PINGREQ must be answered by the next packet.
  void expect_silence(std::chrono::milliseconds quiet = quiet_period);
  void ping();  // PINGREQ -> the next packet must be PINGRESP

  // The broker must close the connection within `timeout`. A 5.0 DISCONNECT before the close is allowed and
  // returned; any other packet is an error.
  std::optional<protocol::Disconnect> expect_closed(std::chrono::milliseconds timeout = answer_timeout);
  // 5.0: the next packet must be a DISCONNECT with `reason`, then the connection must close.
  protocol::Disconnect expect_disconnect(ReasonCode reason, std::chrono::milliseconds timeout = answer_timeout);
  // Either version: the broker ends the connection for `reason` (5.0: DISCONNECT with it, then close; 3.1.1: close).
  void expect_disconnected_for(ReasonCode reason, std::chrono::milliseconds timeout = answer_timeout);

  void disconnect(ReasonCode reason = ReasonCode::success, Properties properties = {});  // sends DISCONNECT
  void close();  // drops the TCP connection without DISCONNECT
  bool closed() const { return fd_ < 0 || peer_closed_; }

  std::uint16_t next_packet_id();

 private:
  Packet await_packet(const std::function<bool(const Packet&)>& pred, std::chrono::milliseconds timeout,
                      protocol::PacketType wanted);
  void require_packet(const ReadResult& r, protocol::PacketType wanted) const;

  int fd_ = -1;
  Version version_;
  std::string in_;  // bytes received and not yet decoded
  std::deque<Packet> stash_;
  bool peer_closed_ = false;
  std::uint16_t last_id_ = 0;
};

std::string describe(const RawClient::ReadResult& r);
std::string describe(const Packet& p);
// "packet", "timeout", "closed", "undecodable bytes" (readable GoogleTest messages for status comparisons).
std::ostream& operator<<(std::ostream& os, RawClient::ReadResult::Status status);

// Three outgoing flows a subscriber leaves unfinished, for redelivery tests: `pub` publishes "qos1" (QoS 1) to
// TOPIC/1, "qos2" (QoS 2) to TOPIC/2 and "qos2 pubrec'd" (QoS 2) to TOPIC/3; `s`, subscribed to TOPIC/# at QoS 2,
// receives all three without acknowledging and sends PUBREC for the third only (getting its PUBREL).
struct UnfinishedFlows {
  std::uint16_t qos1 = 0, qos2 = 0, pubreced = 0;  // the packet ids
};
UnfinishedFlows leave_unfinished_flows(RawClient& s, RawClient& pub, const std::string& topic);
// After `s` reconnected with its session present: the two PUBLISHes come again with DUP 1, their packet ids and
// QoS, once each, and the PUBRECed one continues with PUBREL, not a second PUBLISH; each is completed.
void expect_flows_resumed(RawClient& s, const UnfinishedFlows& flows);

// A client connected (clean start, keep alive 60, `connect_properties` in its CONNECT) and subscribed to one filter,
// the commonest start of a test:
//   Subscriber sub(broker.port(), version, "sub", "a/#");  // QoS 1
//   Subscriber small(broker.port(), Version::v5, "small", "mp/#", QoS::at_least_once,
//                    Properties{.maximum_packet_size = 100});
class Subscriber : public RawClient {
 public:
  Subscriber(std::uint16_t port, Version version, const std::string& client_id, const std::string& filter,
             QoS qos = QoS::at_least_once, Properties connect_properties = {});
};

// A fresh client ("publish-once", so that it takes over no client of the test) connects, publishes one message with
// the full QoS handshake, and disconnects. For "the broker still routes" checks after another client's trouble.
void publish_once(std::uint16_t port, Version version, const std::string& topic, const std::string& payload,
                  QoS qos = QoS::at_least_once);
// Bridges: one message published on each side under both/ (both/from-edge, both/from-upstream) reaches a subscriber
// to # on each side exactly once in all (its own and the other's); the caller then checks that no echo follows.
void expect_both_ways_once(std::uint16_t edge, std::uint16_t upstream, RawClient& at_edge, RawClient& at_upstream);
// After another client's trouble the broker still serves the others: a fresh client publishes "still served" to
// ok/after (QoS 1), and `bystander`, subscribed to ok/#, must receive it as its next packet.
void expect_still_served(std::uint16_t port, RawClient& bystander);

// ---------------------------------------------------------------------------------------------------------------
// Paho MQTT C++ helpers.

// Thread-safe collector of received messages.
class MessageCollector {
 public:
  void add(mqtt::const_message_ptr message);
  // True once at least `n` messages arrived, false at the deadline.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = answer_timeout);
  std::vector<mqtt::const_message_ptr> messages() const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<mqtt::const_message_ptr> messages_;
};

// An async_client (3.1.1 or 5.0) with a MessageCollector attached; every operation waits for completion with a
// deadline and throws HarnessError on timeout or failure.
class PahoClient {
 public:
  PahoClient(std::uint16_t port, const std::string& client_id, Version version);
  // Over TLS: ssl://127.0.0.1:PORT with these options (trust store, client certificate, ...).
  PahoClient(std::uint16_t port, const std::string& client_id, Version version, mqtt::ssl_options ssl);
  // Any URI Paho takes: ws://127.0.0.1:PORT/mqtt, wss://... (with `ssl`).
  PahoClient(const std::string& uri, const std::string& client_id, Version version,
             std::optional<mqtt::ssl_options> ssl);
  ~PahoClient();

  mqtt::connect_response connect(bool clean = true, int keep_alive = 60, mqtt::properties properties = {},
                                 std::optional<mqtt::will_options> will = std::nullopt);
  std::vector<mqtt::ReasonCode> subscribe(const std::string& filter, int qos,
                                          mqtt::subscribe_options options = mqtt::subscribe_options{},
                                          mqtt::properties properties = {});
  void publish(mqtt::message_ptr message);  // waits for the delivery to complete (PUBACK / PUBCOMP)
  void publish(const std::string& topic, const std::string& payload, int qos = 0, bool retain = false);
  void disconnect();

  mqtt::async_client& client() { return *client_; }
  MessageCollector& received() { return received_; }
  Version version() const { return version_; }

 private:
  std::unique_ptr<mqtt::async_client> client_;
  MessageCollector received_;
  Version version_;
  std::optional<mqtt::ssl_options> ssl_;
};

// ---------------------------------------------------------------------------------------------------------------
// Parameterization over protocol versions.
class VersionedTest : public ::testing::TestWithParam<Version> {
 protected:
  Version version() const { return GetParam(); }
  bool v5() const { return GetParam() == Version::v5; }
};

std::string version_name(const ::testing::TestParamInfo<Version>& info);

#define TERN_INSTANTIATE_VERSIONS(Suite)                                                                      \
  INSTANTIATE_TEST_SUITE_P(Versions, Suite,                                                                   \
                           ::testing::Values(::tern::protocol::Version::v311, ::tern::protocol::Version::v5), \
                           ::tern::itest::version_name)

// Runs a shell command with a deadline; returns its exit status and stdout (for mosquitto_pub / mosquitto_sub).
struct CommandResult {
  int exit_code = -1;  // -1: killed at the deadline
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Starts a command in the background; wait() collects it (with a deadline).
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& argv);
  ~BackgroundCommand();
  CommandResult wait(std::chrono::milliseconds timeout);
  // Reads the command's output until it contains `needle`; false at the deadline or at end of output.
  bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout = answer_timeout);
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
};

// The tern command line: TERN_TEST_BROKER_WRAPPER's words (an emulator, for cross builds) and TERN_TEST_BINARY, or
// TERN_BINARY.
std::vector<std::string> tern_command();

// Waits until `pred` holds, polling every 10 ms; false at the deadline.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = answer_timeout);

// How many descriptors process `pid` has open (/proc/PID/fd).
std::size_t open_descriptors(pid_t pid);

// A TCP port free on 127.0.0.1 when called (another process may take it before it is used).
std::uint16_t pick_free_port();

}  // namespace tern::itest
