// One client's TCP connection: reads and decodes its packets, hands them to the Broker, and writes what the Broker
// sends it. It is the Broker's ConnectionSink for that client.
//
// Memory. An idle connection is this object (about 110 bytes), its socket descriptor and an entry in its shard's
// epoll set (kernel memory), nothing else: no Asio socket (see poller.hpp), no read or write buffer, no timer. The
// pieces that only exist while there is something to do are allocated then and freed after: the write buffers
// (Outgoing) while bytes are waiting to be written, `unread_` while an unfinished packet (or the rest of a long read)
// is buffered, the linger timer while closing. Reads go into the shard's buffer.
//
// Reading (cost model in DESIGN.md: system calls, not instructions). The socket is registered once with the shard's
// epoll set, edge-triggered. On a readability event the connection reads without blocking into its shard's 64 KiB
// buffer, decodes every complete packet there and hands them to the Broker, a lock per batch of packets. Only the
// bytes of an unfinished packet are kept, unless the turn ran out: one connection hands packets over for a bounded
// time per turn (turn_budget), then the rest of its read is kept and handed over in later turns, behind the shard's
// other work, before the connection reads again. Edge-triggered readiness is only signalled for new data, so a read
// that fills the whole buffer is followed by another read (or a posted continuation) before the connection waits again
// (`wants_read_`): it waits only once a short read has drained the socket. An event that comes while the connection
// is not waiting (a posted read is pending, reading is paused, a transport's opening bytes are being written) is
// remembered (`read_signalled_`), so it is not lost. With memory_limit, the read that brings the bytes read from
// clients since the heap was last measured to SharedBroker::heap_check_bytes measures it again, outside the lock,
// and the Broker hears the figure before that read's packets.
//
// Writing. send() appends to the queue and, if no flush is scheduled or running, posts one flush to the
// connection's shard. The flush takes the queue as its batch and writes it with non-blocking send() calls while
// send() fills a new queue (double buffering), so every packet produced in one turn of any event loop leaves in one
// system call. If the socket is full the connection waits for the writability event (`wants_write_`); when a
// batch has left and more was queued, it writes again. The buffers are freed when the connection goes idle.
//
// Back pressure. Above BrokerOptions::max_outgoing_buffer bytes waiting, the connection stops reading (the Broker
// also drops QoS 0 messages to it); reading resumes when writes catch up. Above the hard cap in SharedBroker the
// client is hopelessly slow and its socket is closed without flushing.
//
// Closing. close() (from the Broker) lets the queued bytes be written, then ends our direction of the socket and
// closes it once the client has ended its own (half_close()), so that a client still sending reads our last packets
// (the DISCONNECT that says why) instead of a reset; incoming bytes are read and discarded meanwhile. A close whose
// bytes cannot be written within close_linger, and a client over the hard cap, are reset instead: the kernel drops
// what it still holds for them. The wait for the client's end is bounded by close_linger too.
//
// Transports. Between the socket and the MQTT bytes there may be a Transport (transport.hpp): TLS, WebSocket
// framing, or both. It is sans-I/O; the connection does every system call for it, so batching, back pressure, deadlines
// and closing above hold for every transport alike. A plain TCP connection has none (`transport_` is null): it reads
// straight into the shard's buffer and writes its batch as it is, at no cost for the others' existence. A transport
// first opens (a TLS handshake), with a deadline (opening_timeout), before the connection is attached to the Broker:
// a failed opening is one log line with its reason and costs nothing else. Then each readiness event reads wire bytes
// into the shard's wire buffer and has the transport turn them into MQTT bytes in the shard's read buffer, and each
// flush has the transport turn the gathered batch into wire bytes 64 KiB at a time, each slice written as plain TCP
// writes a batch, so the peer starts decoding while the rest is encoded. A transport's own end (close_notify) and a
// TCP end without it (truncation) both end the connection as a lost one; a graceful close sends the transport's end
// before the TCP shutdown. A username the transport proved (use_identity_as_username) replaces the CONNECT's before
// the Broker sees it.
//
// System calls. Reads and writes go through SharedBroker::socket_calls (socket_calls.hpp), so that a test can fail
// the n-th of them.
//
// Rules. The local rules (SharedBroker::rules, broker/edge) are evaluated here too, off the broker's lock: each
// decoded PUBLISH whose topic some rule's FROM matches is evaluated as it is decoded (so a 5.0 topic alias names the
// topic it stood for at that point of the stream), and its outcome (derived messages, drop) travels to the broker
// beside the packet (core/rule_outcome.hpp); window samples are added after the broker accepted the message. While
// rules are in force this costs a connected client one small allocation (Publisher: its client id, username and
// incoming topic aliases); without rules, only a 5.0 client that uses topic aliases has one.
//
// Authentication. The first CONNECT is authenticated here, on the shard's thread and off the broker's lock, by the
// listener's security (SecuritySlot): a password hash costs hundreds of times what a message does, and a CONNECT
// storm must not stall every other client. The verdict enters the broker with the CONNECT (Broker::authenticate()).
// A refused CONNECT from an address that failed before waits a growing delay first (auth::LoginThrottle), with
// reading stopped: only that connection waits.
//
// Lifetime and detach. The connection is reference counted (ConnectionRef): its shard holds a reference while the
// socket is open, and each posted handler or timer wait holds one. attach() happens in start() (after the TLS
// opening); detach() exactly once, when the socket closes for any reason (EOF, read or write error, decode error,
// close() finished), always under the Broker mutex, so the Broker never calls a sink it has been told is gone. A
// connection still open when its shard is destroyed at shutdown is destroyed without detach, together with the
// Broker.
//
// Thread safety: send(), close() and pending_bytes() may be called from any thread (the Broker calls them from
// whichever shard holds the Broker mutex); they touch only the members guarded by `write_mutex_`. Everything else
// runs on the connection's shard thread.
#pragma once

#include <atomic>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "broker/core/broker.hpp"
#include "broker/net/asio.hpp"
#include "broker/net/security_slot.hpp"
#include "broker/net/shard.hpp"
#include "broker/net/shared_broker.hpp"
#include "broker/net/slim_mutex.hpp"
#include "broker/net/transport.hpp"

namespace tern::net {

void intrusive_ptr_add_ref(Connection* connection) noexcept;
void intrusive_ptr_release(Connection* connection) noexcept;
using ConnectionRef = boost::intrusive_ptr<Connection>;

class Connection final : public core::ConnectionSink, public ShardLink {
 public:
  static constexpr std::chrono::seconds close_linger{5};
  static constexpr std::chrono::seconds opening_timeout{10};

  // `fd`: an accepted non-blocking TCP socket, owned (closed) by the connection from now on; served by `shard`.
  // `listener`, when given, counts the listener's open sockets (the connection decrements it when its socket
  // closes) and holds the security that authenticates its CONNECT. `transport`, when given, lies between the socket
  // and the MQTT bytes (TLS); without one the connection is plain TCP.
  static ConnectionRef create(int fd, Shard& shard, ListenerLink* listener,
                              std::unique_ptr<Transport> transport = nullptr);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // On the shard's thread: sets the socket options, registers the socket with the shard, attaches to the Broker
  // (once the transport, if any, has opened) and starts reading. `remote` is the peer's address, for the log.
  void start(const tcp::endpoint& remote);

  // On the shard's thread, from its Poller: the socket's epoll events.
  void on_ready(std::uint32_t events);

  // ConnectionSink.
  void send(std::string_view bytes) override;
  void close() override;
  std::size_t pending_bytes() const noexcept override;
  void wake() override;

 private:
  // While a transport opens: what it needs until the connection is attached (connection_opening.cpp).
  struct Opening {
    Opening(Executor executor, std::string remote) : deadline(executor), remote(std::move(remote)) {}

    Timer deadline;            // opening_timeout
    std::string remote;        // for the log lines, and attach()
    std::string flight;        // what the transport said must be sent before going on
    std::size_t written = 0;   // how much of `flight` has left
    Transport::Result result;  // what the transport said with it, acted on once it has left
  };
  Connection(int fd, Shard& shard, ListenerLink* listener, std::unique_ptr<Transport> transport);
  friend void intrusive_ptr_add_ref(Connection* connection) noexcept;
  friend void intrusive_ptr_release(Connection* connection) noexcept;
  ConnectionRef self() noexcept { return ConnectionRef(this); }
  SharedBroker& shared() const noexcept { return shard_.shared(); }
  SocketCalls& calls() const noexcept { return *shard_.shared().socket_calls; }

  void attach(const std::string& remote);
  void wait_readable();
  void read_now();
  void read_available();
  struct ReadResult {
    std::size_t size = 0;
    error_code error;
    bool drained = false;  // the socket has nothing more until readiness is signalled again
  };
  ReadResult read_plain(std::span<char> buffer);
  ReadResult read_transport(std::span<char> buffer);

  // The transport's opening (start_opening() .. opened()), before the connection is attached.
  void start_opening(const tcp::endpoint& remote);
  void open_step(std::string_view input);
  void open_write();
  void open_continue();
  void open_read();
  void open_failed(const std::string& reason);
  void opened();

  // Hands the packets of `data` (after the unread bytes) to the broker, for turn_budget at most: then the rest waits
  // in unread_ (turn_ended) for resume_later().
  void deliver(std::string_view data);
  bool deliver_safely(std::string_view data);
  // The rest of a read waits to be handed over (unread_->turn_ended): resume_later() has it, and reading waits.
  bool handing_over() const noexcept { return unread_ && unread_->turn_ended; }
  void resume_later();
  bool read_on(bool drained, bool turn_over);
  // The verdict on the connection's CONNECT, made here, off the broker's lock (a password hash costs far more than a
  // message); a refusal also counts against the client's address (auth::LoginThrottle) and says how long to wait.
  core::Authentication authenticate(protocol::Connect& connect, std::chrono::milliseconds& delay);
  // Hands the packets up to a refused CONNECT to the broker once `delay` has passed; reading stops meanwhile.
  void refuse_later(std::vector<protocol::Packet> packets, core::Authentication authentication,
                    std::chrono::milliseconds delay);
  bool over_read_limit() const noexcept;
  // The rules on a decoded PUBLISH (the `index`-th packet of the batch), outside the broker's lock; an outcome that
  // does something goes to the shard's rule_outcomes(). `rules` is fetched on first use, once per read.
  void apply_rules(protocol::Publish& publish, std::size_t index, std::shared_ptr<const edge::RuleSet>& rules,
                   edge::RuleCounts& counts);

  void flush_transport_output();
  void schedule_flush_locked();
  void flush();
  bool write_batch();
  bool encode_slice();
  bool batch_done(const error_code& error);
  void start_linger_timer();
  void half_close();
  void send_transport_end(bool graceful);

  // graceful: shutdown then close (our last bytes are written); quiet: close (the peer is gone); reset: close with
  // SO_LINGER 0, discarding what the kernel still holds (a client too slow to ever take it).
  enum class CloseMode { graceful, quiet, reset };
  void close_socket(CloseMode mode);
  void detach_once();

  // What exists only while bytes wait to be written (or the connection is closing): an idle connection has none.
  struct Outgoing {
    std::string queue;              // under write_mutex_: the buffer send() fills
    std::size_t writing_size = 0;   // under write_mutex_: the size of `writing` while it is being written
    std::string writing;            // shard thread, while writing_active_: the batch being written
    std::string wire;               // shard thread, with a transport: the wire bytes of a slice of `writing`
    std::size_t encoded = 0;        // shard thread, with a transport: how much of `writing` is in wire bytes
    std::size_t written = 0;        // shard thread: how much of `writing` (plain) or `wire` has left
    std::unique_ptr<Timer> linger;  // shard thread: the close deadline (close_linger)
  };

  // What the rules may ask about the publisher, and the topics of its 5.0 topic aliases (the broker resolves them
  // under its lock, the rules before it). Made when first needed, so that a connection without rules and aliases
  // pays nothing for it: at the CONNECT if rules are in force, else at the first PUBLISH with a topic alias or that
  // rules loaded since (a reload) are asked about (identified_publisher()).
  struct Publisher {
    std::string client_id;  // the one the broker assigned, for an empty one
    std::optional<std::string> username;
    std::unordered_map<std::uint16_t, std::string> aliases;
    bool identified = false;  // client_id and username known
  };
  Publisher& identified_publisher();

  // Field order keeps the object small (it is most of an idle connection's memory): pointers first, then the
  // four-byte members, then the flags.
  Shard& shard_;
  ListenerLink* listener_;
  std::unique_ptr<Transport> transport_;  // null: plain TCP
  std::unique_ptr<Opening> opening_;      // shard thread: only while the transport opens
  // Bytes read and not yet handed to the broker: those of an unfinished packet, or the rest of a read whose turn
  // ended (deliver()), from `used` on.
  struct Unread {
    std::string bytes;
    std::size_t used = 0;
    bool turn_ended = false;      // bytes to decode wait: resume_later() hands them over before reading on
    bool socket_drained = false;  // the read they came from drained the socket
  };
  std::unique_ptr<Unread> unread_;        // shard thread
  std::unique_ptr<Outgoing> out_;         // created under write_mutex_; see Outgoing for who touches what
  std::unique_ptr<Publisher> publisher_;  // shard thread: from the CONNECT on
  std::atomic<std::size_t> pending_{0};   // the queued and writing bytes, stored under write_mutex_
  core::ConnectionId id_ = 0;
  std::atomic<std::uint32_t> references_{0};
  int fd_;  // -1 once closed
  mutable SlimMutex write_mutex_;
  protocol::Version version_ = protocol::Version::v311;  // the decoder's version: set by the CONNECT

  // Shard thread only.
  bool attached_ : 1 = false;
  bool detached_ : 1 = false;
  bool wants_read_ : 1 = false;      // waiting for a readability event (the last read drained the socket)
  bool read_signalled_ : 1 = false;  // a readability event came while not waiting for one
  bool wants_write_ : 1 = false;     // waiting for a writability event (the socket was full)
  bool read_paused_ : 1 = false;     // stopped reading for back pressure
  bool socket_closed_ : 1 = false;
  bool connect_seen_ : 1 = false;  // the first CONNECT was decoded (and authenticated)
  bool wire_drained_ : 1 = true;   // with a transport: the last read of wire bytes was short
  bool draining_ : 1 = false;      // half-closed: reading and discarding until the client's end (half_close())

  // Under write_mutex_ (other threads write them while the shard thread writes the flags above: whole bytes, each
  // its own memory location, not bit-fields).
  bool flush_scheduled_ = false;
  bool writing_active_ = false;
  bool abort_ = false;  // over the hard cap: close without flushing
  bool dead_ = false;   // socket closed: whatever is sent is dropped

  std::atomic<bool> closing_{false};  // written under write_mutex_; read by the reader without it
};

}  // namespace tern::net
