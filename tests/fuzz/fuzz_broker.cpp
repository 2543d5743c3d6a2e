// The broker core driven as the network layer drives it, by a script of operations read from the input: four
// sockets that attach, connect (3.1, 3.1.1 or 5.0, three client ids shared among them, so sessions are taken over),
// subscribe, publish, acknowledge what they received, send raw bytes, disconnect and drop; time passes; with
// persistence on, a MemoryStore commits the batches when the script says so, hands queue pages back, and the broker
// restarts from it. Around them, what the network layer adds: a verdict on each CONNECT (accepted under one of two ACL
// files, or refused), ACL reloads that move the connected clients to the other file, $SYS and the broker's own
// messages (a bridge's state), a bridge's backlog limit, bridges (try_private) and the broker's own local clients.
//
// Besides the sanitizers, what the broker sends is checked as a client would: every byte decodes as whole packets of
// the connection's version, nothing is sent after close(), no packet is larger than the client's Maximum Packet Size,
// and the QoS 1/2 PUBLISHes in flight to a 5.0 client stay within its Receive Maximum with distinct packet ids.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/auth/acl_file.hpp"
#include "broker/core/access.hpp"
#include "broker/core/broker.hpp"
#include "broker/core/store_codec.hpp"
#include "broker/core/sys_tree.hpp"
#include "broker/protocol/codec.hpp"
#include "persistence/memory_store.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_log.hpp"

namespace p = tern::protocol;
namespace c = tern::core;
using tern::fuzz::FuzzInput;

namespace {

constexpr std::array<const char*, 4> client_ids{"a", "b", "c", ""};
constexpr std::array<const char*, 8> topics{"a", "a/b", "a/b/c", "b/x", "$SYS/t", "c", "", "a/+"};
constexpr std::array<const char*, 10> filters{"#",   "a/#",          "+/b",        "a/+",    "a/b",
                                              "+/+", "$share/g/a/#", "$share/g/#", "$SYS/#", "$share/h/+/x"};

class Sink final : public c::ConnectionSink {
 public:
  void send(std::string_view bytes) override {
    TERN_FUZZ_CHECK(!closed);
    out.append(bytes);
  }
  void close() override { closed = true; }
  std::size_t pending_bytes() const noexcept override { return pending; }
  void wake() override { woken = true; }

  std::string out;
  bool closed = false;
  bool woken = false;  // Broker::resume() is due (drain() calls it, as a connection's next turn would)
  std::size_t pending = 0;
};

// Two ACL files (mosquitto's format, broker/auth) and a policy over each, as a listener's security would be. Usernames
// that a reload no longer accepts: "gone" under the second one.
constexpr std::array<const char*, 2> acl_texts{
    "topic readwrite a/#\ntopic read $SYS/#\npattern readwrite c/%c\nuser u\ntopic readwrite #\n",
    "topic read a/b\ntopic write b/x\nuser u\ntopic deny a/b/c\ntopic readwrite a/+\nuser gone\ntopic read #\n"};
constexpr std::array<const char*, 3> usernames{"u", "gone", "v"};

class Policy final : public c::AccessPolicy {
 public:
  explicit Policy(std::size_t which)
      : which_(which), acl_(tern::auth::AclFile::parse(acl_texts[which], "fuzz" + std::to_string(which) + ".acl")) {}
  std::shared_ptr<const c::ClientAccess> client(std::string_view client_id,
                                                const std::optional<std::string>& username) const override {
    return acl_->client(client_id, username);
  }
  bool still_accepts(const c::AccessPolicy&, const std::optional<std::string>& username, bool) const override {
    return !(which_ == 1 && username == "gone");
  }

 private:
  std::size_t which_;
  std::shared_ptr<const tern::auth::AclFile> acl_;
};

// One socket at a time per slot, and the client's view of it.
struct Slot {
  std::unique_ptr<Sink> sink;
  c::ConnectionId id = 0;
  bool attached = false;
  p::Version version = p::Version::v311;  // what the connection's decoder uses (the last CONNECT's)
  // What the broker answers in: the first CONNECT's version (a second CONNECT is a protocol error, answered in the
  // first one's version).
  std::optional<p::Version> answer_version;
  std::uint32_t max_packet_size = 0;  // announced in its CONNECT (5.0); 0: none
  std::uint16_t receive_maximum = 65535;
  std::set<std::uint16_t> inflight;  // QoS 1/2 PUBLISHes received and not yet completed by this client
  std::deque<p::Packet> acks;        // what the client owes the broker, oldest first
  std::uint16_t next_id = 1;
  bool local = false;  // its CONNECT is the broker's own client's (not on the wire: set after decoding)
};

class Store final : public c::StorePort {
 public:
  void submit(c::StoreBatch& ops, std::uint64_t batch) override {
    store.submit(std::move(ops), {});
    ops.clear();
    last = batch;
  }
  void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                          std::uint64_t token) override {
    pages.push_back({client_id, token, store.load_queue(client_id, after_seq, limit)});
  }
  struct Page {
    std::string client_id;
    std::uint64_t token;
    c::QueuePage page;
  };
  tern::persistence::MemoryStore store;
  std::deque<Page> pages;
  std::uint64_t last = 0;
  std::uint64_t committed = 0;
};

// TERN_FUZZ_TRACE=1: every packet each way on stderr, to read a finding's script.
const bool trace = std::getenv("TERN_FUZZ_TRACE") != nullptr;

class Script {
 public:
  explicit Script(FuzzInput& in) : in_(in) {
    const std::uint8_t a = in_.byte();
    const std::uint8_t b = in_.byte();
    options_.allow_anonymous = true;
    options_.max_inflight_messages = static_cast<std::uint16_t>(1 + (a & 3));
    options_.max_queued_messages = (a & 4) ? 3 : 1000;
    options_.queue_qos0_messages = (a & 8) != 0;
    options_.upgrade_outgoing_qos = (a & 16) != 0;
    options_.max_inflight_bytes = (a & 32) ? 8 : 0;
    options_.memory_limit = (a & 64) ? 1000 : 0;
    options_.max_queued_in_memory = (b & 1) ? 1 : 100;
    options_.message_size_limit = (b & 2) ? 4 : 0;
    options_.max_packet_size = (b & 4) ? 40 : 0;
    options_.max_qos = static_cast<p::QoS>((b >> 3) % 3);
    options_.retain_available = (b & 32) == 0;
    options_.max_topic_alias = (b & 64) ? 0 : 2;
    options_.persistent_client_expiration = std::chrono::seconds(30);
    persistent_ = (a & 128) != 0;
    start();
  }

  void run() {
    // Every operation reads at least one byte, so the script ends with the input.
    while (!in_.empty()) step();
    drain();
  }

 private:
  void start() {
    broker_ = std::make_unique<c::Broker>(options_);
    if (persistent_) {
      store_ = std::make_unique<Store>();
      restore();
    }
  }
  void restore() {
    const auto since_start = std::chrono::duration_cast<std::chrono::milliseconds>(now_ - c::TimePoint{});
    broker_->restore(store_->store.load(), *store_, now_, 1'700'000'000'000 + since_start.count());
  }

  void step() {
    const std::uint8_t op = in_.byte();
    Slot& s = slots_[(op >> 4) & 3];
    switch (op & 15) {
      case 0:
        attach(s);
        break;
      case 1:
        authenticate(s);
        send(s, make_connect(s));
        break;
      case 2:
        send(s, make_subscribe(s));
        break;
      case 3:
        send(s, p::Unsubscribe{.packet_id = s.next_id++, .filters = {filters[in_.byte() % filters.size()]}});
        break;
      case 4:
        send(s, make_publish(s));
        break;
      case 5:
        acknowledge(s);
        break;
      case 6:
        send(s, p::Pingreq{});
        break;
      case 7:
        send(s, make_disconnect());
        break;
      case 8:
        detach(s);
        break;
      case 9:
        advance();
        break;
      case 10:
        send_raw(s);
        break;
      case 11:
        commit();
        break;
      case 12:
        serve_pages();
        break;
      case 13:
        restart();
        break;
      case 14:
        around();
        break;
      default:
        set_pending(s);
        break;
    }
    drain();
  }

  // What the network layer does besides packets.
  void around() {
    const std::uint8_t a = in_.byte();
    switch (a % 5) {
      case 0:
        broker_->set_heap_in_use((a & 8) ? 2000 : 100);
        break;
      case 1: {  // the ACL file reloaded: the clients accepted under the current policy move to the other file
        auto next = std::make_shared<const Policy>((a >> 3) & 1);
        broker_->replace_policy(*policy_, next, now_);
        policy_ = std::move(next);
        break;
      }
      case 2:
        broker_->publish_sys(c::SysSample{.version = "0.1.0", .bytes_received = a, .bytes_sent = 2u * a}, now_);
        break;
      case 3:
        broker_->publish_own("$SYS/broker/connection/a/state", (a & 8) ? "1" : "0", true, now_);
        break;
      default:  // a bridge's backlog limit on the session of a client id
        broker_->set_backlog_limit(client_ids[(a >> 3) & 3], (a & 32) ? 8 : 0);
        break;
    }
  }

  // The network layer's verdict, before the CONNECT reaches the core: accepted with a username under the current
  // policy, accepted with no ACL, or refused for one of the reasons it can give.
  void authenticate(Slot& s) {
    const std::uint8_t a = in_.byte();
    if (!s.attached || s.sink->closed || (a & 1) == 0) return;
    c::Authentication verdict;
    // Accepted half of the time, else one of the four refusals.
    const int refusal = (a >> 1) % 8 < 4 ? 0 : 1 + (a >> 1) % 4;
    verdict.result = static_cast<c::Authentication::Result>(refusal);
    if (a & 16) verdict.username = usernames[(a >> 5) % usernames.size()];
    if (a & 128) verdict.policy = policy_;
    verdict.password_checked = (a & 64) != 0;
    if ((a & 96) == 96) verdict.client_id = "u";  // use_username_as_clientid
    if (verdict.result != c::Authentication::Result::accepted) verdict.reason = "refused";
    broker_->authenticate(s.id, std::move(verdict));
  }

  // A client that stops reading: its write queue grows past max_outgoing_buffer, or empties again.
  void set_pending(Slot& s) {
    const bool full = (in_.byte() & 1) != 0;
    if (s.attached) s.sink->pending = full ? options_.max_outgoing_buffer + 1 : 0;
  }

  void attach(Slot& s) {
    if (trace) std::cerr << "slot " << (&s - slots_.data()) << " attaches\n";
    if (s.attached) detach(s);
    s = Slot{};
    s.sink = std::make_unique<Sink>();
    s.id = broker_->attach(*s.sink, "127.0.0.1:1", now_);
    s.attached = true;
  }
  void detach(Slot& s) {
    if (!s.attached) return;
    if (trace) std::cerr << "slot " << (&s - slots_.data()) << " detaches\n";
    drain();
    broker_->detach(s.id, now_);
    s.attached = false;
  }

  p::Packet make_connect(Slot& s) {
    const std::uint8_t a = in_.byte();
    const std::uint8_t b = in_.byte();
    const std::uint8_t c = in_.byte();
    p::Connect connect;
    connect.bridge = (c & 1) != 0;  // try_private: 0x83 / 0x84 / 0x85
    s.local = (c & 2) != 0;
    connect.version = a % 3 == 0 ? p::Version::v31 : a % 3 == 1 ? p::Version::v311 : p::Version::v5;
    connect.client_id = client_ids[(a >> 2) & 3];
    connect.clean_start = (a & 16) != 0;
    connect.keep_alive = static_cast<std::uint16_t>((a >> 5) & 3) * 2;
    if (b & 1) {
      connect.will = p::Will{.topic = topics[(b >> 1) & 7],
                             .payload = "w",
                             .qos = static_cast<p::QoS>((b >> 4) % 3),
                             .retain = (b & 64) != 0};
      if (connect.version == p::Version::v5 && (b & 128)) connect.will->properties.will_delay_interval = 3;
    }
    if (connect.version == p::Version::v5) {
      const std::uint8_t v = in_.byte();
      if (v & 1) connect.properties.session_expiry_interval = (v & 2) ? 0xFFFFFFFF : 5;
      if (v & 4) connect.properties.receive_maximum = static_cast<std::uint16_t>(1 + ((v >> 3) & 1));
      if (v & 16) connect.properties.maximum_packet_size = 24;
      if (v & 32) connect.properties.topic_alias_maximum = 2;
      if (v & 64) connect.properties.request_problem_information = 0;
    }
    return connect;
  }

  p::Packet make_subscribe(Slot& s) {
    const std::uint8_t a = in_.byte();
    p::Subscribe sub;
    sub.packet_id = s.next_id++;
    sub.subscriptions.push_back(p::Subscription{.filter = filters[a % filters.size()],
                                                .max_qos = static_cast<p::QoS>((a >> 4) % 3),
                                                .no_local = (a & 64) != 0,
                                                .retain_as_published = (a & 128) != 0,
                                                .retain_handling = static_cast<std::uint8_t>(in_.byte() % 3)});
    if (a & 8) sub.properties.subscription_identifiers.push_back(1 + (a & 7));
    return sub;
  }

  p::Packet make_publish(Slot& s) {
    const std::uint8_t a = in_.byte();
    const std::uint8_t b = in_.byte();
    p::Publish pub;
    pub.topic = topics[a & 7];
    pub.qos = static_cast<p::QoS>((a >> 3) % 3);
    pub.retain = (a & 32) != 0;
    pub.dup = (a & 64) != 0;
    pub.payload.assign(b & 7, 'x');
    if (pub.qos != p::QoS::at_most_once) pub.packet_id = (a & 128) ? 1 : s.next_id++;  // 1: maybe a reused id
    if (b & 8) pub.properties.topic_alias = static_cast<std::uint16_t>(1 + ((b >> 4) & 1));
    if (b & 32) pub.properties.message_expiry_interval = 2;
    if (b & 64) pub.properties.response_topic = "r";
    return pub;
  }

  p::Packet make_disconnect() {
    const std::uint8_t a = in_.byte();
    p::Disconnect d;
    if (a & 1) d.reason_code = p::ReasonCode::disconnect_with_will;
    if (a & 2) d.properties.session_expiry_interval = (a & 4) ? 0 : 10;
    return d;
  }

  void acknowledge(Slot& s) {
    if (s.acks.empty()) return;
    p::Packet ack = std::move(s.acks.front());
    s.acks.pop_front();
    if (in_.byte() & 1) {  // or answer with an error code (5.0 only: 3.1.1 has none)
      if (auto* a = std::get_if<p::Puback>(&ack)) a->reason_code = p::ReasonCode::unspecified_error;
    }
    send(s, std::move(ack));
  }

  // Through the encoder and the decoder, as bytes on a socket would go: the broker sees only what the decoder accepts.
  void send(Slot& s, p::Packet packet) {
    if (!s.attached || s.sink->closed) return;
    deliver(s, p::encode(packet, s.version));  // a CONNECT is encoded in its own version
  }
  void send_raw(Slot& s) {
    const std::size_t n = in_.byte();
    const std::string bytes(in_.take(n));
    if (s.attached && !s.sink->closed) deliver(s, bytes);
  }
  void deliver(Slot& s, std::string_view bytes) {
    std::vector<p::Packet> batch;
    std::optional<p::ReasonCode> error;
    // Each decoded packet consumes at least two bytes.
    while (!bytes.empty()) {
      p::DecodeResult r = p::decode(bytes, s.version, options_.max_packet_size);
      if (r.status == p::DecodeResult::Status::need_more) break;
      if (r.status == p::DecodeResult::Status::error) {
        error = r.error;
        break;
      }
      if (auto* connect = std::get_if<p::Connect>(&r.packet)) {
        connect->local = s.local;
        s.version = connect->version;
        if (!s.answer_version) {  // a second CONNECT changes only the decoder, as in broker/net/connection.cpp
          s.answer_version = connect->version;
          s.max_packet_size = connect->properties.maximum_packet_size.value_or(0);
          s.receive_maximum = connect->properties.receive_maximum.value_or(65535);
        }
      }
      note_sent(s, r.packet);
      if (trace) std::cerr << "slot " << (&s - slots_.data()) << " sends " << r.packet << "\n";
      batch.push_back(std::move(r.packet));
      bytes.remove_prefix(r.consumed);
    }
    if (!batch.empty()) broker_->on_packets(s.id, batch, now_);
    if (error) {
      drain();
      broker_->on_decode_error(s.id, *error, now_);
      detach(s);
    }
  }
  void note_sent(Slot& s, const p::Packet& packet) {
    if (const auto* a = std::get_if<p::Puback>(&packet)) s.inflight.erase(a->packet_id);
    if (const auto* a = std::get_if<p::Pubcomp>(&packet)) s.inflight.erase(a->packet_id);
  }

  // What the broker sent each attached client: whole packets, as the client can read them.
  void drain() {
    for (Slot& s : slots_) {
      if (s.attached && std::exchange(s.sink->woken, false)) broker_->resume(s.id, now_);
    }
    for (Slot& s : slots_) {
      if (!s.attached) continue;
      std::string_view out = s.sink->out;
      const p::Version version = s.answer_version.value_or(p::Version::v311);
      while (!out.empty()) {
        p::DecodeResult r = p::decode(out, version, 0);
        if (trace && r.status != p::DecodeResult::Status::packet) {
          std::cerr << "slot " << (&s - slots_.data()) << " cannot decode:";
          for (const char ch : out) std::cerr << ' ' << static_cast<int>(static_cast<std::uint8_t>(ch));
          std::cerr << "\n";
        }
        TERN_FUZZ_CHECK(r.status == p::DecodeResult::Status::packet);
        if (s.max_packet_size != 0) TERN_FUZZ_CHECK(r.consumed <= s.max_packet_size);
        if (trace) std::cerr << "slot " << (&s - slots_.data()) << " receives " << r.packet << "\n";
        received(s, r.packet, version);
        out.remove_prefix(r.consumed);
      }
      s.sink->out.clear();
    }
  }
  void received(Slot& s, const p::Packet& packet, p::Version version) {
    if (const auto* pub = std::get_if<p::Publish>(&packet); pub && pub->qos != p::QoS::at_most_once) {
      const bool fresh = s.inflight.insert(pub->packet_id).second;
      TERN_FUZZ_CHECK(fresh || pub->dup);
      if (version == p::Version::v5) TERN_FUZZ_CHECK(s.inflight.size() <= s.receive_maximum);
      if (pub->qos == p::QoS::at_least_once) {
        s.acks.push_back(p::Puback{.packet_id = pub->packet_id});
      } else {
        s.acks.push_back(p::Pubrec{.packet_id = pub->packet_id});
      }
    } else if (const auto* rec = std::get_if<p::Pubrec>(&packet)) {
      s.acks.push_back(p::Pubrel{.packet_id = rec->packet_id});
    } else if (const auto* rel = std::get_if<p::Pubrel>(&packet)) {
      s.acks.push_back(p::Pubcomp{.packet_id = rel->packet_id});
    }
  }

  void advance() {
    const std::uint8_t a = in_.byte();
    now_ += std::chrono::milliseconds(a < 128 ? a * 10 : (a - 127) * 1000);
    broker_->tick(now_);
  }

  void commit() {
    const bool durable = (in_.byte() & 7) != 0;
    if (!persistent_ || store_->last == store_->committed) return;
    store_->committed = store_->last;
    broker_->on_committed(store_->last, durable, now_);
  }
  void serve_pages() {
    if (!persistent_ || store_->pages.empty()) return;
    Store::Page page = std::move(store_->pages.front());
    store_->pages.pop_front();
    broker_->on_queue_page(page.client_id, page.token, std::move(page.page), now_);
  }
  // The process dies: what was submitted is in the store (MemoryStore applies it at once), the sockets are gone.
  void restart() {
    if (!persistent_) return;
    drain();
    broker_.reset();
    for (Slot& s : slots_) s = Slot{};
    store_->pages.clear();
    store_->last = store_->committed = 0;
    broker_ = std::make_unique<c::Broker>(options_);
    restore();
  }

  FuzzInput& in_;
  c::BrokerOptions options_;
  bool persistent_ = false;
  // Declared before the broker, which holds references to them until it is destroyed.
  std::unique_ptr<Store> store_;
  std::array<Slot, 4> slots_;
  std::shared_ptr<const c::AccessPolicy> policy_ = std::make_shared<const Policy>(0);
  std::unique_ptr<c::Broker> broker_;
  c::TimePoint now_ = c::TimePoint{} + std::chrono::hours(1);
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tern::fuzz::quiet_log();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  Script script(in);
  script.run();
  return 0;
}
