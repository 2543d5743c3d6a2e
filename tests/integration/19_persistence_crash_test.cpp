// The crash test of persistence (`persistence true`): SIGKILL at random moments (seeded) under load, then a check
// that every acknowledged message reached a persistent subscriber, QoS 2 ones exactly once. It prints its counts;
// TERN_CRASH_SEED=N reruns it with another seed.
//
// Three publishers (persistent sessions) send numbered messages, QoS 1 or 2 at random, each on its own topic per QoS
// ("crash/p1/q2", payload "p1/q2/17"), paced (one new message per 2 ms at most, so that traffic lasts the whole
// round), up to 8 in flight each, with packet ids taken from a small pool (1..16) so that ids are reused as soon as
// MQTT allows. Meanwhile the broker is SIGKILLed after a random delay (0..300 ms, seeded) and restarted, 12 times.
// After each restart every publisher reconnects and, as MQTT requires, sends every unacknowledged PUBLISH again
// (DUP 1, same packet id) and PUBREL for every PUBRECed one; new messages follow.
// A message counts as acknowledged at its PUBACK / PUBREC. After the last round the publishers finish every flow
// without being killed; then the broker is killed once more and a persistent subscriber (QoS 2 subscription to
// crash/#) collects everything up to a marker published last.
//
// The subscriber is either offline through all of it or online (it reconnects after each restart). It is a strict
// QoS 2 receiver: it delivers a QoS 2 message when the PUBLISH arrives, keeps the packet id until PUBREL, and
// treats a PUBLISH with a kept id as the same message (PUBREC again, not delivered again).
//
// Checked: every acknowledged message arrived (lost: 0); QoS 2 ones exactly once; the first copies arrive in order
// per topic; no session was lost (session present 1 on every reconnect once something was stored); the broker never
// acknowledged a packet id it was not asked about. QoS 1 duplicates are allowed and counted.
//
// TERN_TEST_BROKER=mosquitto: see persistence_support.hpp (SIGTERM instead of SIGKILL).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/persistence_support.hpp"

namespace tern::itest {
namespace {

using namespace durability;
using Clock = std::chrono::steady_clock;
using protocol::Connack;
using protocol::Publish;

constexpr int kPublishers = 3;
constexpr int kRounds = 12;
constexpr int kMaxKillDelayMs = 300;
constexpr int kNewPerMs = 2;             // pace: a publisher may start one new message every 2 ms of a round...
constexpr int kMaxNewPerRound = 150;     // ... up to this many, so traffic lasts the whole round (0..300 ms)
constexpr std::size_t kWindow = 8;       // flows in flight per publisher
constexpr std::uint16_t kIdPool = 16;    // packet ids 1..16
constexpr auto kCrashPhaseBudget = 25s;  // the rounds stop here even if some are left
constexpr auto kFinishBudget = 20s;      // publishers finishing their flows
constexpr auto kDrainBudget = 30s;       // the subscriber collecting

struct CrashMessage {
  int publisher = 0;
  QoS qos = QoS::at_least_once;
  int seq = 0;
  std::string topic;
  std::string payload;
  bool acked = false;
  int acked_in_round = -1;
  bool refused = false;  // a PUBACK / PUBREC with an error: published again as a new message
  int transmissions = 0;
};

struct CrashStats {
  int round = 0;
  int resent_publish = 0;
  int resent_pubrel = 0;
  int refused = 0;
  int pubcomp_not_found = 0;
  int publisher_session_lost = 0;
  int subscriber_session_lost = 0;
  int pubrel_id_reused = 0;  // a QoS 2 PUBLISH with a kept packet id and another payload
  int redelivered_kept_id = 0;
  std::vector<std::string> anomalies;
  void anomaly(std::string text) {
    if (anomalies.size() < 50) anomalies.push_back(std::move(text));
  }
};

// One MQTT connection driven without blocking: CONNECT is sent and the CONNACK handled by pump().
class CrashClient {
 public:
  CrashClient(std::string id, Version v, CrashStats& stats) : id_(std::move(id)), version_(v), stats_(stats) {}
  virtual ~CrashClient() = default;

  bool up() const { return state_ == State::up; }
  bool down() const { return state_ == State::down; }

  void begin_connect(std::uint16_t port) {
    if (state_ != State::down) return;
    conn_ = std::make_unique<RawClient>(port, version_);
    conn_->send(RawClient::make_connect(version_, id_, false, 60, persistent_properties(version_)));
    state_ = State::connecting;
  }

  void drop() {
    conn_.reset();
    state_ = State::down;
  }

  // Handles what has arrived (bounded); true if anything was.
  bool pump() {
    bool any = false;
    for (int i = 0; i < 256 && conn_; ++i) {
      auto r = conn_->read(0ms);
      if (r.status == RawClient::ReadResult::Status::timeout) break;
      any = true;
      if (r.status != RawClient::ReadResult::Status::packet) {
        if (r.status == RawClient::ReadResult::Status::error) stats_.anomaly(id_ + ": undecodable bytes");
        drop();
        break;
      }
      if (auto* ack = std::get_if<Connack>(&r.packet)) {
        if (state_ != State::connecting || ack->reason_code != ReasonCode::success) {
          stats_.anomaly(id_ + ": " + describe(r.packet));
          drop();
          break;
        }
        state_ = State::up;
        on_connack(*ack);
      } else if (std::holds_alternative<protocol::Disconnect>(r.packet)) {
        drop();
      } else if (!std::holds_alternative<protocol::Pingresp>(r.packet)) {
        on_packet(r.packet);
      }
    }
    return any;
  }

 protected:
  virtual void on_connack(const Connack& ack) = 0;
  virtual void on_packet(const Packet& p) = 0;
  void send(const Packet& p) { conn_->send(p); }

  std::string id_;
  Version version_;
  CrashStats& stats_;

 private:
  enum class State { down, connecting, up };
  std::unique_ptr<RawClient> conn_;
  State state_ = State::down;
};

class CrashPublisher : public CrashClient {
 public:
  CrashPublisher(int index, Version v, std::vector<CrashMessage>& messages, CrashStats& stats, unsigned seed)
      : CrashClient("crash-pub-" + std::to_string(index), v, stats), index_(index), messages_(messages), rng_(seed) {}

  bool idle() const { return flows_.empty() && retry_.empty(); }
  std::size_t in_flight() const { return flows_.size(); }

  // Sends new messages (first those refused earlier) while the window has room; at most `budget` brand-new ones.
  // Returns how many PUBLISHes went out.
  int publish(int& budget) {
    int sent = 0;
    while (up() && flows_.size() < window_) {
      std::size_t index = 0;
      if (!retry_.empty()) {
        index = retry_.front();
        retry_.pop_front();
      } else if (budget > 0) {
        --budget;
        const QoS qos = (rng_() & 1) != 0 ? QoS::exactly_once : QoS::at_least_once;
        CrashMessage m;
        m.publisher = index_;
        m.qos = qos;
        m.seq = ++next_seq_[static_cast<int>(qos)];
        const std::string q = "q" + std::to_string(static_cast<int>(qos));
        m.topic = "crash/p" + std::to_string(index_) + "/" + q;
        m.payload = "p" + std::to_string(index_) + "/" + q + "/" + std::to_string(m.seq);
        index = messages_.size();
        messages_.push_back(std::move(m));
      } else {
        break;
      }
      flows_.push_back(Flow{free_id(), index, false});
      send_publish(flows_.back(), false);
      ++sent;
    }
    return sent;
  }

 private:
  struct Flow {
    std::uint16_t packet_id = 0;
    std::size_t message = 0;
    bool released = false;  // PUBREC received, PUBREL sent
  };

  std::uint16_t free_id() const {
    for (std::uint16_t id = 1; id <= kIdPool; ++id) {
      if (std::none_of(flows_.begin(), flows_.end(), [&](const Flow& f) { return f.packet_id == id; })) return id;
    }
    throw HarnessError("no free packet id");  // kWindow < kIdPool
  }

  void send_publish(const Flow& f, bool dup) {
    CrashMessage& m = messages_[f.message];
    Publish p;
    p.topic = m.topic;
    p.payload = m.payload;
    p.qos = m.qos;
    p.packet_id = f.packet_id;
    p.dup = dup;
    ++m.transmissions;
    send(p);
  }

  void on_connack(const Connack& ack) override {
    window_ = kWindow;
    if (ack.properties.receive_maximum) window_ = std::min<std::size_t>(window_, *ack.properties.receive_maximum);
    if (!ack.session_present && ever_acked_) {
      ++stats_.publisher_session_lost;
      stats_.anomaly(id_ + ": session present 0 after a reconnect (round " + std::to_string(stats_.round) + ")");
    }
    // [MQTT-4.4.0-1]: unacknowledged PUBLISH and PUBREL packets again, in order, with their packet ids.
    for (const Flow& f : flows_) {
      if (f.released) {
        send(protocol::Pubrel{f.packet_id, ReasonCode::success, {}});
        ++stats_.resent_pubrel;
      } else {
        send_publish(f, true);
        ++stats_.resent_publish;
      }
    }
  }

  Flow* find(std::uint16_t id) {
    for (auto& f : flows_) {
      if (f.packet_id == id) return &f;
    }
    return nullptr;
  }

  void erase(std::uint16_t id) {
    flows_.erase(std::find_if(flows_.begin(), flows_.end(), [&](const Flow& f) { return f.packet_id == id; }));
  }

  void acked(CrashMessage& m) {
    if (!m.acked) {
      m.acked = true;
      m.acked_in_round = stats_.round;
    }
    ever_acked_ = true;
  }

  void refused(std::uint16_t id, const Packet& p) {
    Flow* f = find(id);
    messages_[f->message].refused = true;
    retry_.push_back(f->message);
    erase(id);
    ++stats_.refused;
    stats_.anomaly(id_ + ": refused: " + describe(p));
  }

  void on_packet(const Packet& p) override {
    if (const auto* a = std::get_if<protocol::Puback>(&p)) {
      Flow* f = find(a->packet_id);
      if (f == nullptr || f->released || messages_[f->message].qos != QoS::at_least_once) {
        stats_.anomaly(id_ + ": PUBACK for no QoS 1 flow: " + describe(p));
        return;
      }
      if (protocol::is_error(a->reason_code)) return refused(a->packet_id, p);
      acked(messages_[f->message]);
      erase(a->packet_id);
    } else if (const auto* r = std::get_if<protocol::Pubrec>(&p)) {
      Flow* f = find(r->packet_id);
      if (f == nullptr || messages_[f->message].qos != QoS::exactly_once) {
        stats_.anomaly(id_ + ": PUBREC for no QoS 2 flow: " + describe(p));
        return;
      }
      if (protocol::is_error(r->reason_code)) return refused(r->packet_id, p);
      acked(messages_[f->message]);
      f->released = true;
      send(protocol::Pubrel{r->packet_id, ReasonCode::success, {}});
    } else if (const auto* c = std::get_if<protocol::Pubcomp>(&p)) {
      Flow* f = find(c->packet_id);
      if (f == nullptr || !f->released) {
        stats_.anomaly(id_ + ": PUBCOMP for no released flow: " + describe(p));
        return;
      }
      // 0x92 is legitimate when the broker had handled the PUBREL before it was killed.
      if (c->reason_code == ReasonCode::packet_identifier_not_found) ++stats_.pubcomp_not_found;
      erase(c->packet_id);
    } else {
      stats_.anomaly(id_ + ": unexpected " + describe(p));
    }
  }

  int index_;
  std::vector<CrashMessage>& messages_;
  std::mt19937 rng_;
  std::deque<Flow> flows_;
  std::deque<std::size_t> retry_;
  int next_seq_[3] = {0, 0, 0};
  std::size_t window_ = kWindow;
  bool ever_acked_ = false;
};

class CrashSubscriber : public CrashClient {
 public:
  static constexpr const char* kFilter = "crash/#";
  static constexpr const char* kMarkerTopic = "crash/marker";

  CrashSubscriber(Version v, CrashStats& stats) : CrashClient("crash-sub", v, stats) {}

  bool subscribed() const { return subscribed_; }
  bool marker_seen() const { return marker_seen_; }
  // Every application delivery, in arrival order: (topic, payload).
  const std::vector<std::pair<std::string, std::string>>& deliveries() const { return deliveries_; }

 private:
  void subscribe() {
    protocol::Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back(protocol::Subscription{kFilter, QoS::exactly_once, false, false, 0});
    send(s);
  }

  void on_connack(const Connack& ack) override {
    if (!ack.session_present) {
      if (subscribed_) {
        ++stats_.subscriber_session_lost;
        stats_.anomaly(id_ + ": session present 0 after a reconnect (round " + std::to_string(stats_.round) + ")");
      }
      kept_ids_.clear();  // a new session: the old packet ids mean nothing
      subscribe();
    }
  }

  void deliver(const Publish& p) {
    if (p.topic == kMarkerTopic) {
      marker_seen_ = true;
    } else {
      deliveries_.emplace_back(p.topic, p.payload);
    }
  }

  void on_packet(const Packet& packet) override {
    if (const auto* p = std::get_if<Publish>(&packet)) {
      if (p->qos == QoS::at_most_once) {
        deliver(*p);
      } else if (p->qos == QoS::at_least_once) {
        deliver(*p);
        send(protocol::Puback{p->packet_id, ReasonCode::success, {}});
      } else {
        auto kept = kept_ids_.find(p->packet_id);
        if (kept == kept_ids_.end()) {
          deliver(*p);
          kept_ids_[p->packet_id] = p->payload;
        } else if (kept->second == p->payload) {
          ++stats_.redelivered_kept_id;  // the same message again before PUBREL: not a new delivery
        } else {
          // The broker sent another message with a packet id still waiting for its PUBREL: it lost that flow.
          // MQTT would have this receiver drop it; it is delivered here so that the loss shows where it happened.
          ++stats_.pubrel_id_reused;
          stats_.anomaly(id_ + ": packet id " + std::to_string(p->packet_id) + " still held for '" + kept->second +
                         "' reused for '" + p->payload + "'");
          deliver(*p);
          kept->second = p->payload;
        }
        send(protocol::Pubrec{p->packet_id, ReasonCode::success, {}});
      }
    } else if (const auto* rel = std::get_if<protocol::Pubrel>(&packet)) {
      kept_ids_.erase(rel->packet_id);
      send(protocol::Pubcomp{rel->packet_id, ReasonCode::success, {}});
    } else if (const auto* ack = std::get_if<protocol::Suback>(&packet)) {
      if (ack->reason_codes.size() != 1 || ack->reason_codes[0] != ReasonCode::granted_qos2) {
        stats_.anomaly(id_ + ": " + describe(packet));
      }
      subscribed_ = true;
    } else {
      stats_.anomaly(id_ + ": unexpected " + describe(packet));
    }
  }

  bool subscribed_ = false;
  bool marker_seen_ = false;
  std::map<std::uint16_t, std::string> kept_ids_;  // QoS 2 PUBRECed, waiting for PUBREL -> payload
  std::vector<std::pair<std::string, std::string>> deliveries_;
};

struct CrashParam {
  const char* name;
  Version version;
  bool subscriber_online;
  const char* sync;
  unsigned seed;
};

void PrintTo(const CrashParam& p, std::ostream* os) { *os << p.name; }

class PersistenceCrashTest : public ::testing::TestWithParam<CrashParam> {};

unsigned crash_seed(const CrashParam& param) {
  if (const char* v = std::getenv("TERN_CRASH_SEED"); v != nullptr && *v != '\0') {
    return static_cast<unsigned>(std::strtoul(v, nullptr, 10));
  }
  return param.seed;
}

// Services every client once; true if anything happened.
bool pump_all(std::vector<std::unique_ptr<CrashPublisher>>& publishers, CrashSubscriber& subscriber,
              std::vector<int>& budgets) {
  bool busy = false;
  for (std::size_t i = 0; i < publishers.size(); ++i) {
    busy |= publishers[i]->pump();
    busy |= publishers[i]->publish(budgets[i]) > 0;
  }
  busy |= subscriber.pump();
  return busy;
}

TEST_P(PersistenceCrashTest, AcknowledgedMessagesSurviveRepeatedSigkill) {
  const CrashParam& param = GetParam();
  const unsigned seed = crash_seed(param);
  const Version version = param.version;
  std::mt19937 rng(seed);
  StoreDir store;
  BrokerProcess broker(persistence_config(store, {"max_queued_messages 0"}, param.sync));
  auto crash = [&] { kill_broker(broker); };

  CrashStats stats;
  std::vector<CrashMessage> messages;
  std::vector<std::unique_ptr<CrashPublisher>> publishers;
  for (int i = 0; i < kPublishers; ++i) {
    publishers.push_back(
        std::make_unique<CrashPublisher>(i + 1, version, messages, stats, seed * 7919u + static_cast<unsigned>(i)));
  }
  CrashSubscriber subscriber(version, stats);
  std::vector<int> no_budget(kPublishers, 0);

  // The subscription, made durable by the barrier; the offline subscriber leaves until the end.
  subscriber.begin_connect(broker.port());
  ASSERT_TRUE(wait_until([&] {
    subscriber.pump();
    return subscriber.subscribed() || subscriber.down();
  }));
  ASSERT_TRUE(subscriber.subscribed()) << "no SUBACK";
  commit_barrier(broker.port(), version);
  if (!param.subscriber_online) subscriber.drop();

  int kills = 0;
  // SIGKILL; the clients see their sockets die; a new broker on the same database and port.
  auto kill_and_restart = [&] {
    crash();
    ++kills;
    for (auto& p : publishers) p->drop();
    subscriber.drop();
    broker.restart();
  };
  // Clients the broker closed (3.1.1 without durability: no PUBACK but a close) reconnect, as MQTT says.
  auto reconnect_closed = [&](std::uint16_t port) {
    for (auto& p : publishers) {
      if (p->down()) p->begin_connect(port);
    }
    if (param.subscriber_online && subscriber.down()) subscriber.begin_connect(port);
  };

  const auto crash_start = Clock::now();
  for (int round = 0; round < kRounds && Clock::now() - crash_start < kCrashPhaseBudget; ++round) {
    stats.round = round;
    const auto kill_at =
        Clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<int>(0, kMaxKillDelayMs)(rng));
    const std::uint16_t port = broker.port();
    for (auto& p : publishers) p->begin_connect(port);
    if (param.subscriber_online) subscriber.begin_connect(port);
    const auto round_start = Clock::now();
    std::vector<int> started(kPublishers, 0);  // new messages this round, per publisher
    while (Clock::now() < kill_at) {
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - round_start);
      const int allowed = std::min(kMaxNewPerRound, static_cast<int>(elapsed.count() / kNewPerMs) + 1);
      std::vector<int> budgets(kPublishers);
      for (int i = 0; i < kPublishers; ++i) budgets[i] = allowed - started[i];
      reconnect_closed(port);
      const bool busy = pump_all(publishers, subscriber, budgets);
      for (int i = 0; i < kPublishers; ++i) started[i] = allowed - budgets[i];
      if (!busy) std::this_thread::sleep_for(1ms);
    }
    kill_and_restart();
  }

  // No more kills: the publishers finish every flow (no new messages).
  stats.round = kills;
  {
    const std::uint16_t port = broker.port();
    for (auto& p : publishers) p->begin_connect(port);
    if (param.subscriber_online) subscriber.begin_connect(port);
    const auto deadline = Clock::now() + kFinishBudget;
    auto finished = [&] {
      return std::all_of(publishers.begin(), publishers.end(), [](const auto& p) { return p->up() && p->idle(); });
    };
    while (!finished() && Clock::now() < deadline) {
      reconnect_closed(port);
      if (!pump_all(publishers, subscriber, no_budget)) std::this_thread::sleep_for(1ms);
    }
    for (const auto& p : publishers) {
      EXPECT_TRUE(p->up() && p->idle()) << "a publisher could not finish its flows within the budget ("
                                        << p->in_flight() << " in flight)";
    }
  }
  // Once more SIGKILL: what the subscriber gets from here on comes from the database.
  kill_and_restart();
  stats.round = kills;
  subscriber.begin_connect(broker.port());
  {
    RawClient marker(broker.port(), version);
    marker.connect("crash-marker");
    marker.publish(CrashSubscriber::kMarkerTopic, "marker", QoS::at_least_once);
    marker.disconnect();
  }
  const auto drain_deadline = Clock::now() + kDrainBudget;
  while (!subscriber.marker_seen() && Clock::now() < drain_deadline) {
    if (subscriber.down()) subscriber.begin_connect(broker.port());
    if (!subscriber.pump()) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(subscriber.marker_seen()) << "the marker did not arrive within the drain budget";
  // A short look for late copies (only adds to the duplicate count; never needed for a pass).
  const auto quiet_end = Clock::now() + quiet_period;
  while (Clock::now() < quiet_end) {
    if (!subscriber.pump()) std::this_thread::sleep_for(1ms);
  }

  // The verdict.
  std::map<std::string, std::size_t> by_payload;
  for (std::size_t i = 0; i < messages.size(); ++i) by_payload[messages[i].payload] = i;
  std::vector<int> copies(messages.size(), 0);
  std::map<std::string, int> last_first_seq;  // topic -> seq of the last first copy
  int unexpected = 0;
  int out_of_order = 0;
  std::vector<std::string> out_of_order_examples;
  for (const auto& [topic, payload] : subscriber.deliveries()) {
    const auto it = by_payload.find(payload);
    if (it == by_payload.end() || messages[it->second].topic != topic) {
      ++unexpected;
      stats.anomaly("unexpected delivery " + topic + " '" + payload + "'");
      continue;
    }
    const CrashMessage& m = messages[it->second];
    if (copies[it->second]++ == 0 && !m.refused) {
      auto [last, inserted] = last_first_seq.try_emplace(topic, m.seq);
      if (!inserted) {
        if (m.seq < last->second) {
          ++out_of_order;
          if (out_of_order_examples.size() < 10) {
            out_of_order_examples.push_back(payload + " after seq " + std::to_string(last->second));
          }
        }
        last->second = std::max(last->second, m.seq);
      }
    }
  }
  int sent[3] = {0, 0, 0};
  int acked = 0;
  int acked_in_rounds = 0;  // acknowledged in the rounds ended by a kill (not while finishing)
  int lost = 0;
  int unacknowledged = 0;
  int dup_qos1 = 0;
  int dup_qos2 = 0;
  std::size_t received = 0;
  std::vector<std::string> lost_examples;
  std::vector<std::string> dup2_examples;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const CrashMessage& m = messages[i];
    ++sent[static_cast<int>(m.qos)];
    received += static_cast<std::size_t>(copies[i]);
    if (!m.acked) ++unacknowledged;
    if (m.acked) ++acked;
    if (m.acked && m.acked_in_round < kills - 1) ++acked_in_rounds;
    if (m.acked && copies[i] == 0) {
      ++lost;
      if (lost_examples.size() < 20) {
        lost_examples.push_back(m.payload + " (acknowledged in round " + std::to_string(m.acked_in_round) + ", sent " +
                                std::to_string(m.transmissions) + "x)");
      }
    }
    if (copies[i] > 1) {
      (m.qos == QoS::exactly_once ? dup_qos2 : dup_qos1) += copies[i] - 1;
      if (m.qos == QoS::exactly_once && dup2_examples.size() < 20) {
        dup2_examples.push_back(m.payload + " x" + std::to_string(copies[i]) + " (sent " +
                                std::to_string(m.transmissions) + "x)");
      }
    }
  }

  std::ostringstream report;
  report << "[ crash    ] " << param.name << " seed " << seed << ": " << kills << " SIGKILLs"
         << (testing_mosquitto() ? " (mosquitto: SIGTERM)" : "") << ", sent " << messages.size() << " (QoS 1 "
         << sent[1] << ", QoS 2 " << sent[2] << "), acknowledged " << acked << " (" << acked_in_rounds
         << " during the kill rounds), received " << received << ", lost: " << lost
         << ", duplicates: " << (dup_qos1 + dup_qos2) << " (QoS 1 " << dup_qos1 << ", QoS 2 " << dup_qos2
         << "), unacknowledged at the end " << unacknowledged << ", out of order " << out_of_order << "; resent "
         << stats.resent_publish << " PUBLISH + " << stats.resent_pubrel << " PUBREL, refused " << stats.refused
         << ", PUBCOMP 0x92 " << stats.pubcomp_not_found << ", kept-id redeliveries " << stats.redelivered_kept_id
         << "\n";
  for (const auto& s : lost_examples) report << "    lost: " << s << "\n";
  for (const auto& s : dup2_examples) report << "    QoS 2 duplicate: " << s << "\n";
  for (const auto& s : out_of_order_examples) report << "    out of order: " << s << "\n";
  for (const auto& s : stats.anomalies) report << "    anomaly: " << s << "\n";
  std::cout << report.str() << std::flush;
  RecordProperty("sent", static_cast<int>(messages.size()));
  RecordProperty("acknowledged", acked);
  RecordProperty("received", static_cast<int>(received));
  RecordProperty("lost", lost);
  RecordProperty("duplicates_qos2", dup_qos2);

  EXPECT_GT(acked, 0) << "nothing was acknowledged: the test did not test anything";
  EXPECT_EQ(lost, 0) << "acknowledged messages that never arrived (rerun: TERN_CRASH_SEED=" << seed << ")";
  EXPECT_EQ(dup_qos2, 0) << "QoS 2 messages delivered more than once";
  EXPECT_EQ(unacknowledged, 0) << "messages the broker never acknowledged, although the publishers kept sending";
  EXPECT_EQ(out_of_order, 0) << "first copies out of order on a topic";
  EXPECT_EQ(unexpected, 0);
  EXPECT_EQ(stats.publisher_session_lost, 0);
  EXPECT_EQ(stats.subscriber_session_lost, 0);
  EXPECT_EQ(stats.pubrel_id_reused, 0);
  EXPECT_EQ(stats.refused, 0) << "the broker refused messages (5.0 PUBACK / PUBREC with an error)";
  EXPECT_EQ(static_cast<int>(stats.anomalies.size()), 0) << "see the anomalies above";
}

INSTANTIATE_TEST_SUITE_P(Crash, PersistenceCrashTest,
                         ::testing::Values(CrashParam{"v311_offline_full", Version::v311, false, "full", 1001},
                                           CrashParam{"v5_offline_full", Version::v5, false, "full", 1002},
                                           CrashParam{"v311_online_full", Version::v311, true, "full", 1003},
                                           CrashParam{"v5_online_full", Version::v5, true, "full", 1004},
                                           CrashParam{"v311_online_normal", Version::v311, true, "normal", 1005},
                                           CrashParam{"v5_offline_normal", Version::v5, false, "normal", 1006}),
                         [](const ::testing::TestParamInfo<CrashParam>& info) { return info.param.name; });

}  // namespace
}  // namespace tern::itest
