// The clients of the crash tests (19_persistence_crash_test.cpp: SIGKILL; 31_power_cut_test.cpp: simulated power
// cuts), driven without blocking from one thread: publishers that keep a window of QoS 1 / QoS 2 flows with packet
// ids from a small pool and resend what is unacknowledged after a reconnect, as MQTT requires, and a strict QoS 2
// subscriber. Every message sent is a CrashMessage in one vector; a message counts as acknowledged at its PUBACK /
// PUBREC.
//
// A subscriber can be forked (a copy with the same deliveries and held packet ids, not connected): the power-cut
// test drains a copy from each rebuilt directory it only inspects, and goes on with the original.
//
// Thread safety: none; one thread drives them all.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/persistence_support.hpp"

namespace tern::itest::durability {

using protocol::Connack;
using protocol::Publish;

constexpr std::size_t kWindow = 8;     // flows in flight per publisher
constexpr std::uint16_t kIdPool = 16;  // packet ids 1..16

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
  // Not connected, whatever `other` is (CrashSubscriber::fork()).
  CrashClient(const CrashClient& other) : id_(other.id_), version_(other.version_), stats_(other.stats_) {}
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

// `count` publishers numbered from 1, each with its own random sequence drawn from `seed`.
inline std::vector<std::unique_ptr<CrashPublisher>> make_publishers(int count, Version v,
                                                                    std::vector<CrashMessage>& messages,
                                                                    CrashStats& stats, unsigned seed) {
  std::vector<std::unique_ptr<CrashPublisher>> publishers;
  for (int i = 0; i < count; ++i) {
    publishers.push_back(
        std::make_unique<CrashPublisher>(i + 1, v, messages, stats, seed * 7919u + static_cast<unsigned>(i)));
  }
  return publishers;
}

class CrashSubscriber : public CrashClient {
 public:
  static constexpr const char* kFilter = "crash/#";
  static constexpr const char* kMarkerTopic = "crash/marker";

  CrashSubscriber(Version v, CrashStats& stats) : CrashClient("crash-sub", v, stats) {}
  // The same session, deliveries and held packet ids, not connected.
  CrashSubscriber fork() const { return CrashSubscriber(*this); }

  bool subscribed() const { return subscribed_; }
  bool marker_seen() const { return marker_seen_; }
  void forget_marker() { marker_seen_ = false; }  // for the next marker
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

// Connects `subscriber` and waits for its SUBACK, then makes the subscription durable (commit_barrier): true if it
// subscribed.
inline bool subscribe_durably(CrashSubscriber& subscriber, std::uint16_t port, Version v) {
  subscriber.begin_connect(port);
  wait_until([&] {
    subscriber.pump();
    return subscriber.subscribed() || subscriber.down();
  });
  if (!subscriber.subscribed()) return false;
  commit_barrier(port, v);
  return true;
}

}  // namespace tern::itest::durability
