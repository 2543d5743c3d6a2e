// Tern's bridge when things go wrong (issue 21): a long outage with the gateway killed twice and the upstream killed
// while the backlog drains (QoS 2 exactly once end to end), a full backlog (bridge_queue_max_bytes), fail-over
// between two upstream addresses and back, and start_type lazy. (Two Terns sharing topics both ways over one
// connection, without echo: 30_bridge_test.cpp.)
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/persistence_support.hpp"

namespace tern::itest {
namespace {

using durability::persistence_config;
using durability::StoreDir;
using Kind = BrokerProcess::Kind;
using Clock = std::chrono::steady_clock;

std::vector<std::string> bridge_to(std::uint16_t upstream, std::vector<std::string> more = {}) {
  std::vector<std::string> lines{"connection up",       "address 127.0.0.1:" + std::to_string(upstream),
                                 "remote_clientid gw",  "topic out/# out 2",
                                 "topic in/# in 2",     "restart_timeout 1",
                                 "keepalive_interval 5"};
  lines.insert(lines.end(), more.begin(), more.end());
  return lines;
}

// Publishes "first".."first+count-1" on `topic` at `qos`, `window` at a time, each with its whole handshake. Returns
// the reason code of each acknowledgement (PUBACK, or PUBREC for QoS 2) in order.
std::vector<ReasonCode> publish_range(RawClient& c, const std::string& topic, int first, int count, QoS qos,
                                      int window = 50) {
  std::vector<ReasonCode> reasons;
  for (int done = 0; done < count;) {
    const int n = std::min(window, count - done);
    std::map<std::uint16_t, int> open;  // packet id -> index in reasons
    for (int i = 0; i < n; ++i) {
      const auto id = static_cast<std::uint16_t>(i + 1);
      c.send(
          protocol::Publish{.topic = topic, .payload = std::to_string(first + done + i), .qos = qos, .packet_id = id});
      open[id] = static_cast<int>(reasons.size());
      reasons.push_back(ReasonCode::success);
    }
    const auto deadline = Clock::now() + 30s;
    while (!open.empty() && Clock::now() < deadline) {
      auto r = c.read(5s);
      if (r.status != RawClient::ReadResult::Status::packet) break;
      if (auto* ack = std::get_if<protocol::Puback>(&r.packet)) {
        reasons[open.at(ack->packet_id)] = ack->reason_code;
        open.erase(ack->packet_id);
      } else if (auto* rec = std::get_if<protocol::Pubrec>(&r.packet)) {
        reasons[open.at(rec->packet_id)] = rec->reason_code;
        if (static_cast<int>(rec->reason_code) >= 0x80) {
          open.erase(rec->packet_id);  // 5.0: a refusal ends the exchange
        } else {
          c.send(protocol::Pubrel{.packet_id = rec->packet_id});
        }
      } else if (auto* comp = std::get_if<protocol::Pubcomp>(&r.packet)) {
        open.erase(comp->packet_id);
      }
    }
    if (!open.empty()) throw HarnessError("publishing " + topic + ": " + std::to_string(open.size()) + " unanswered");
    done += n;
  }
  return reasons;
}

// A persistent subscriber that receives as MQTT asks of a QoS 2 receiver across its own reconnections: a QoS 2
// PUBLISH whose PUBREL has not come yet is the same message when it comes again, so it is counted once.
class Sink {
 public:
  Sink(std::string client_id, std::string filter) : id_(std::move(client_id)), filter_(std::move(filter)) {}

  void connect(std::uint16_t port) {
    client_ = std::make_unique<RawClient>(port, Version::v311);
    const bool present = client_->connect(id_, false).session_present;
    if (!present) client_->subscribe(filter_, QoS::exactly_once);
  }
  // Reads until `enough` holds or nothing comes for 10 s or the connection closes (false) or 120 s pass.
  bool drain(const std::function<bool()>& enough) {
    const auto deadline = Clock::now() + 120s;
    while (!enough() && Clock::now() < deadline) {
      auto r = client_->read(10s);
      if (r.status == RawClient::ReadResult::Status::timeout) return true;
      if (r.status != RawClient::ReadResult::Status::packet) return false;
      if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
        if (p->qos == QoS::exactly_once) {
          if (unreleased_.insert(p->packet_id).second) got_[p->topic].push_back(std::stoi(p->payload));
          client_->send(protocol::Pubrec{.packet_id = p->packet_id});
        } else {
          got_[p->topic].push_back(std::stoi(p->payload));
          if (p->qos == QoS::at_least_once) client_->send(protocol::Puback{.packet_id = p->packet_id});
        }
      } else if (auto* rel = std::get_if<protocol::Pubrel>(&r.packet)) {
        unreleased_.erase(rel->packet_id);
        client_->send(protocol::Pubcomp{.packet_id = rel->packet_id});
      }
    }
    return true;
  }
  const std::vector<int>& got(const std::string& topic) { return got_[topic]; }
  std::size_t total() const {
    std::size_t n = 0;
    for (const auto& [topic, values] : got_) n += values.size();
    return n;
  }

 private:
  std::string id_, filter_;
  std::unique_ptr<RawClient> client_;
  std::map<std::string, std::vector<int>> got_;
  std::set<std::uint16_t> unreleased_;
};

std::vector<int> range(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

// The first copy of each value, in arrival order (QoS 1 is at least once).
std::vector<int> first_copies(const std::vector<int>& got) {
  std::vector<int> first;
  std::set<int> seen;
  for (int v : got) {
    if (seen.insert(v).second) first.push_back(v);
  }
  return first;
}

// The upstream is down while 10,000 QoS 1 and 1,000 QoS 2 messages are published at the edge, which is killed with
// SIGKILL twice meanwhile; the upstream comes back and is itself killed while the backlog drains. Every message
// arrives, in order; QoS 2 exactly once.
TEST(TernBridgeDurability, OutageWithTwoGatewayCrashesAndAnUpstreamCrashMidDrain) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto's bridge keeps its queue in memory: a SIGKILL loses it";
  StoreDir upstream_store, edge_store;
  const std::uint16_t fixed = pick_free_port();
  // The sink takes one message at a time while the bridge forwards a window of them: its queue upstream must hold
  // the whole backlog.
  BrokerProcess upstream(
      persistence_config(upstream_store, {"listener " + std::to_string(fixed) + " 127.0.0.1", "max_queued_messages 0"}),
      Kind::tern);
  Sink sink("sink", "out/#");
  sink.connect(upstream.port());
  BrokerProcess edge(persistence_config(edge_store, bridge_to(fixed)));
  ASSERT_TRUE(wait_until([&] { return edge.log_count("Bridge up: connected to") == 1; }, 10s)) << edge.log();
  upstream.stop();

  constexpr std::size_t qos1 = 10000, qos2 = 1000;
  for (int part = 0; part < 2; ++part) {
    RawClient publisher(edge.port(), Version::v311);
    publisher.connect("publisher");
    publish_range(publisher, "out/q1", part * qos1 / 2, qos1 / 2, QoS::at_least_once);
    publish_range(publisher, "out/q2", part * qos2 / 2, qos2 / 2, QoS::exactly_once);
    edge.kill();
    edge.restart();
  }

  upstream.restart();
  sink.connect(upstream.port());
  ASSERT_TRUE(sink.drain([&] { return sink.total() >= 3000; })) << edge.log();
  ASSERT_GE(sink.total(), 3000u) << edge.log();
  upstream.kill();  // mid-drain
  upstream.restart();
  sink.connect(upstream.port());
  sink.drain([&] { return first_copies(sink.got("out/q1")).size() == qos1 && sink.got("out/q2").size() >= qos2; });

  EXPECT_EQ(sink.got("out/q2"), range(qos2)) << edge.log();  // exactly once, in order
  EXPECT_EQ(first_copies(sink.got("out/q1")), range(qos1)) << edge.log();
}

// bridge_queue_max_bytes: once the backlog is full, local QoS 1/2 publishes to the bridge's topics are refused (5.0:
// Quota exceeded) and the others still flow; what was acknowledged reaches the upstream when it is back.
TEST(TernBridgeDurability, AFullBacklogRefusesAndLosesNothingAcknowledged) {
  if (testing_mosquitto()) GTEST_SKIP() << "bridge_queue_max_bytes is Tern's own";
  StoreDir upstream_store;  // the sink's session outlives the upstream's restart
  const std::uint16_t fixed = pick_free_port();
  BrokerProcess upstream(persistence_config(upstream_store, {"listener " + std::to_string(fixed) + " 127.0.0.1"}),
                         Kind::tern);
  Sink sink("sink", "out/#");
  sink.connect(upstream.port());
  BrokerProcess edge(bridge_to(fixed, {"bridge_queue_max_bytes 2000"}));
  ASSERT_TRUE(wait_until([&] { return edge.log_count("Bridge up: connected to") == 1; }, 10s)) << edge.log();
  upstream.stop();
  ASSERT_TRUE(wait_until([&] { return edge.log_count("Bridge up: the link to") == 1; }, 10s)) << edge.log();

  RawClient publisher(edge.port(), Version::v5);
  publisher.connect("publisher");
  // Each message counts its payload and topic ("out/m"): 97 + 3 for the number's digits, about 100 bytes.
  std::vector<ReasonCode> reasons;
  for (int i = 0; i < 30; ++i) {
    const std::string value = std::to_string(i);
    publisher.send(protocol::Publish{.topic = "out/m",
                                     .payload = value + std::string(100 - 5 - value.size(), ' '),
                                     .qos = QoS::at_least_once,
                                     .packet_id = 1});
    reasons.push_back(publisher.expect<protocol::Puback>().reason_code);
  }
  // 20 fit in 2,000 bytes; the rest are refused, and say why.
  const auto accepted = static_cast<int>(std::count(reasons.begin(), reasons.end(), ReasonCode::success));
  EXPECT_EQ(accepted, 20);
  EXPECT_EQ(reasons[20], ReasonCode::quota_exceeded);
  EXPECT_EQ(publish_range(publisher, "out/q2", 0, 1, QoS::exactly_once)[0], ReasonCode::quota_exceeded);
  EXPECT_NE(edge.log().find("The backlog of local.gw is full"), std::string::npos) << edge.log();
  // Topics the bridge does not carry are not held back by it.
  Subscriber local(edge.port(), Version::v311, "local", "other/#");
  publish_once(edge.port(), Version::v311, "other/x", "flows");
  EXPECT_EQ(local.receive().payload, "flows");

  upstream.restart();
  sink.connect(upstream.port());
  sink.drain([&] { return sink.got("out/m").size() >= 20; });
  EXPECT_EQ(first_copies(sink.got("out/m")), range(20)) << edge.log();
  // Drained: new messages are taken again.
  EXPECT_EQ(publish_range(publisher, "out/m", 100, 1, QoS::at_least_once)[0], ReasonCode::success);
}

// Two upstream addresses, the first the main one (round_robin false): the bridge fails over to the second while the
// first is down, and moves back once the first answers again; with round_robin true it stays where it is.
TEST(TernBridgeDurability, FailOverToTheSecondAddressAndBack) {
  if (testing_mosquitto()) GTEST_SKIP() << "checks Tern's log lines";
  const std::uint16_t main_port = pick_free_port();
  BrokerProcess main_upstream({"listener " + std::to_string(main_port) + " 127.0.0.1"}, Kind::tern);
  main_upstream.stop();
  const std::uint16_t backup_port = pick_free_port();
  BrokerProcess backup({"listener " + std::to_string(backup_port) + " 127.0.0.1"}, Kind::tern);
  for (const bool round_robin : {false, true}) {
    SCOPED_TRACE(round_robin ? "round_robin true" : "round_robin false");
    auto lines = bridge_to(main_port, {"round_robin " + std::string(round_robin ? "true" : "false")});
    lines[1] = "addresses 127.0.0.1:" + std::to_string(main_port) + " 127.0.0.1:" + std::to_string(backup_port);
    BrokerProcess edge(lines);
    Subscriber at_backup(backup.port(), Version::v311, "at-backup", "out/#");
    ASSERT_TRUE(
        wait_until([&] { return edge.log_count("connected to 127.0.0.1:" + std::to_string(backup_port)) == 1; }, 15s))
        << edge.log();
    publish_once(edge.port(), Version::v311, "out/a", "to the backup");
    EXPECT_EQ(at_backup.receive().payload, "to the backup");

    main_upstream.restart();
    Subscriber at_main(main_upstream.port(), Version::v311, "at-main", "out/#");
    if (!round_robin) {
      ASSERT_TRUE(
          wait_until([&] { return edge.log_count("connected to 127.0.0.1:" + std::to_string(main_port)) == 1; }, 15s))
          << edge.log();
      EXPECT_NE(edge.log().find("answers again: moving back to it"), std::string::npos);
      publish_once(edge.port(), Version::v311, "out/b", "to the main one");
      EXPECT_EQ(at_main.receive().payload, "to the main one");
      at_backup.expect_silence();
    } else {
      publish_once(edge.port(), Version::v311, "out/b", "still the backup");
      EXPECT_EQ(at_backup.receive().payload, "still the backup");
      at_main.expect_silence(2s);
      EXPECT_EQ(edge.log().find("answers again"), std::string::npos);
    }
    main_upstream.stop();
  }
}

// start_type lazy: no link until `threshold` messages wait; they then go up in order, and the link ends after
// idle_timeout without traffic (the state says 0 on both sides).
TEST(TernBridgeDurability, LazyStartsAtTheThresholdAndEndsWhenIdle) {
  if (testing_mosquitto()) GTEST_SKIP() << "checks Tern's log lines";
  BrokerProcess upstream({}, Kind::tern);
  Sink sink("sink", "out/#");
  sink.connect(upstream.port());
  BrokerProcess edge(bridge_to(upstream.port(), {"start_type lazy", "threshold 5", "idle_timeout 2"}));
  RawClient publisher(edge.port(), Version::v311);
  publisher.connect("publisher");
  publish_range(publisher, "out/m", 0, 4, QoS::at_least_once);
  // Below the threshold: still no link after a few checks.
  EXPECT_FALSE(wait_until([&] { return edge.log_count("Bridge up: connected to") > 0; }, 3s));
  EXPECT_EQ(upstream.log().find("as gw"), std::string::npos);

  publish_range(publisher, "out/m", 4, 1, QoS::at_least_once);
  sink.drain([&] { return sink.got("out/m").size() >= 5; });
  EXPECT_EQ(first_copies(sink.got("out/m")), range(5)) << edge.log();
  EXPECT_NE(edge.log().find("5 messages wait to go out (threshold 5): connecting."), std::string::npos);

  ASSERT_TRUE(wait_until([&] { return edge.log().find("(idle_timeout)") != std::string::npos; }, 10s)) << edge.log();
  // The state "0" goes up before the DISCONNECT: once the upstream saw the link end, the retained state is "0". Not
  // before: the edge logs its decision before the upstream has read either.
  ASSERT_TRUE(wait_until([&] { return upstream.log().find("Client gw disconnected") != std::string::npos; }, 10s))
      << upstream.log();
  Subscriber state(upstream.port(), Version::v311, "state", "$SYS/broker/connection/gw/state");
  EXPECT_EQ(state.receive().payload, "0");
}

}  // namespace
}  // namespace tern::itest
