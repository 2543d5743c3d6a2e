// Persistence (`persistence true`): the durability contract (DESIGN.md, "Durability contract") seen from outside.
// A PUBACK (QoS 1) or PUBREC (QoS 2) goes out only once the message and every queue entry it created for persistent
// sessions are committed, so whatever was acknowledged survives SIGKILL; a restart restores sessions (with their
// expiry, counting the time the broker was down), subscriptions, queued and in-flight messages in both directions
// and retained messages; a database that cannot be used is moved aside and the broker starts with an empty one.
//
// The database lives in a directory of its own (StoreDir), made before the broker so that its path can go into the
// config. Tests that kill the broker do so only after something the contract says is durable (a PUBACK or PUBREC,
// or a "barrier": a retained QoS 1 message whose PUBACK means every earlier batch is committed, since the store
// commits batches in order); no test relies on timing for its verdict.
//
// PersistenceCrashTest kills the broker at random moments (seeded) while publishers send numbered QoS 1 and QoS 2
// messages, and checks afterwards that a persistent subscriber got every acknowledged one, QoS 2 ones exactly once.
// It prints its counts; TERN_CRASH_SEED=N reruns it with another seed.
//
// TERN_TEST_BROKER=mosquitto: mosquitto saves its database only at shutdown (or every autosave_interval), so these
// tests stop it with SIGTERM where they would kill tern (a check of the tests' own logic: with SIGKILL mosquitto
// loses everything), and the tests of Tern's database file (corrupt file moved aside) are skipped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using protocol::Connack;
using protocol::Publish;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

// A directory for the database, removed at the end unless the test failed (then kept next to the broker's).
class StoreDir {
 public:
  StoreDir() {
    std::string tmpl = (fs::temp_directory_path() / "tern-it-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw HarnessError("mkdtemp failed");
    path_ = tmpl;
  }
  ~StoreDir() {
    if (::testing::Test::HasFailure() || std::uncaught_exceptions() > 0) {
      std::cerr << "---- database directory kept: " << path_.string() << " ----\n";
    } else {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  StoreDir(const StoreDir&) = delete;
  StoreDir& operator=(const StoreDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The config lines that turn persistence on in `dir`, followed by `extra`. `sync` ("full", "normal"; empty: the
// default) is Tern's own directive and left out for mosquitto.
std::vector<std::string> persistence_config(const StoreDir& dir, std::vector<std::string> extra = {},
                                            const std::string& sync = "") {
  std::vector<std::string> lines{"persistence true"};
  if (testing_mosquitto()) {
    lines.push_back("persistence_location " + dir.path().string() + "/");  // mosquitto wants the trailing slash
    if (::geteuid() == 0) lines.push_back("user root");  // else it drops to "mosquitto", who cannot write there
  } else {
    lines.push_back("persistence_location " + dir.path().string());
    if (!sync.empty()) lines.push_back("persistence_sync " + sync);
  }
  lines.insert(lines.end(), extra.begin(), extra.end());
  return lines;
}

// SIGKILL. mosquitto saves its database only at shutdown (or every autosave_interval): SIGTERM there, so that running
// these tests against it checks their own logic (what a restart must restore), not durability.
void kill_broker(BrokerProcess& broker) {
  if (testing_mosquitto()) {
    broker.stop();
  } else {
    broker.kill();
  }
}

// Session properties of a persistent session: 5.0 session expiry (3.1.1: clean session 0 is enough).
Properties persistent_properties(Version v, std::uint32_t expiry = 600) {
  Properties p;
  if (v == Version::v5) p.session_expiry_interval = expiry;
  return p;
}

Connack connect_persistent(RawClient& c, const std::string& id, std::uint32_t expiry = 600) {
  return c.connect(id, false, 60, persistent_properties(c.version(), expiry));
}

// Leaves `id` behind as an offline persistent session subscribed to `filter`.
void leave_subscribed(std::uint16_t port, Version v, const std::string& id, const std::string& filter, QoS qos) {
  RawClient s(port, v);
  connect_persistent(s, id);
  s.subscribe(filter, qos);
  s.disconnect();
  s.expect_closed();
}

// A retained QoS 1 message: its PUBACK comes only after its batch is committed, and batches commit in order, so
// every change the broker made before it (subscriptions, in-flight state) is on disk once this returns.
void commit_barrier(std::uint16_t port, Version v) {
  RawClient c(port, v);
  c.connect("barrier");
  c.publish("barrier/retained", "barrier", QoS::at_least_once, true);
  c.disconnect();
}

// Receives PUBLISHes (completing each QoS handshake) until one with `marker` as payload; returns those before it.
std::vector<Publish> receive_until(RawClient& c, const std::string& marker, std::size_t at_most = 200) {
  std::vector<Publish> got;
  for (std::size_t i = 0; i < at_most; ++i) {
    Publish p = c.receive();
    if (p.payload == marker) return got;
    got.push_back(std::move(p));
  }
  throw HarnessError("no '" + marker + "' within " + std::to_string(at_most) + " messages");
}

std::vector<std::string> payloads_on(const std::vector<Publish>& msgs, const std::string& topic) {
  std::vector<std::string> out;
  for (const auto& m : msgs) {
    if (m.topic == topic) out.push_back(m.payload);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Restart and SIGKILL, for 3.1.1 and 5.0.

class PersistenceTest : public VersionedTest {};

// Messages acknowledged (PUBACK; PUBREC for QoS 2) survive a SIGKILL sent right after the last acknowledgement, for
// every persistent subscriber they were queued for, at the QoS of each subscription, in order per topic, QoS 2 once.
// The last QoS 2 message got its PUBREC but no PUBREL before the kill: the publisher's PUBREL after the restart
// gets PUBCOMP success. After the restart both sessions are present and their subscriptions still route.
// [MQTT-4.3.3-*] [MQTT-4.6.0-*] (ordering), [MQTT-3.2.2-2] (session present)
TEST_P(PersistenceTest, AcknowledgedMessagesSurviveSigkill) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  for (const auto& [id, filter, qos] :
       {std::tuple{"sub-all", "ack/#", QoS::exactly_once}, std::tuple{"sub-b", "ack/b", QoS::at_least_once}}) {
    RawClient s(broker.port(), version());
    EXPECT_FALSE(connect_persistent(s, id).session_present);
    s.subscribe(filter, qos);
    s.disconnect();
    s.expect_closed();
  }
  auto pub = std::make_unique<RawClient>(broker.port(), version());
  connect_persistent(*pub, "pub");
  for (int i = 1; i <= 4; ++i) {
    pub->publish("ack/a", "a" + std::to_string(i), QoS::at_least_once);
    pub->publish("ack/b", "b" + std::to_string(i), QoS::exactly_once);
  }
  Publish last;
  last.topic = "ack/b";
  last.payload = "b5";
  last.qos = QoS::exactly_once;
  last.packet_id = pub->next_packet_id();
  pub->send(last);
  const auto rec = pub->expect<protocol::Pubrec>();
  ASSERT_EQ(rec.packet_id, last.packet_id);
  ASSERT_FALSE(protocol::is_error(rec.reason_code)) << describe(rec);
  kill_broker(broker);  // at once: everything acknowledged so far must be committed
  pub.reset();
  broker.restart();

  RawClient pub2(broker.port(), version());
  EXPECT_TRUE(connect_persistent(pub2, "pub").session_present);
  pub2.send(protocol::Pubrel{last.packet_id, ReasonCode::success, {}});
  const auto comp = pub2.expect<protocol::Pubcomp>();
  EXPECT_EQ(comp.packet_id, last.packet_id);
  EXPECT_EQ(comp.reason_code, ReasonCode::success) << describe(comp);
  pub2.publish("ack/b", "end", QoS::at_least_once);  // routed by the restored subscriptions

  RawClient all(broker.port(), version());
  EXPECT_TRUE(connect_persistent(all, "sub-all").session_present);
  const auto got_all = receive_until(all, "end");
  EXPECT_EQ(payloads_on(got_all, "ack/a"), (std::vector<std::string>{"a1", "a2", "a3", "a4"}));
  EXPECT_EQ(payloads_on(got_all, "ack/b"), (std::vector<std::string>{"b1", "b2", "b3", "b4", "b5"}));
  EXPECT_EQ(got_all.size(), 9u);
  for (const auto& m : got_all) {
    EXPECT_EQ(m.qos, m.topic == "ack/a" ? QoS::at_least_once : QoS::exactly_once) << describe(m);
    EXPECT_FALSE(m.dup) << "never sent before, so DUP 0: " << describe(m);
  }
  all.expect_silence();

  RawClient b(broker.port(), version());
  EXPECT_TRUE(connect_persistent(b, "sub-b").session_present);
  const auto got_b = receive_until(b, "end");
  EXPECT_EQ(payloads_on(got_b, "ack/b"), (std::vector<std::string>{"b1", "b2", "b3", "b4", "b5"}));
  EXPECT_EQ(got_b.size(), 5u);
  for (const auto& m : got_b) EXPECT_EQ(m.qos, QoS::at_least_once) << "granted QoS 1: " << describe(m);
  b.expect_silence();
}

// The same after a clean shutdown (SIGTERM), twice: what the first restart loaded is still there after the
// second, and messages published between the restarts are queued behind it.
TEST_P(PersistenceTest, QueuedMessagesSurviveTwoCleanRestarts) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  leave_subscribed(broker.port(), version(), "offline", "q/#", QoS::exactly_once);
  {
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    pub.publish("q/x", "before-1", QoS::at_least_once);
    pub.publish("q/x", "before-2", QoS::exactly_once);
    pub.publish("q/x", "qos0", QoS::at_most_once);  // not queued (queue_qos0_messages false)
    pub.disconnect();
  }
  broker.restart();
  {
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    pub.publish("q/x", "between", QoS::at_least_once);
    pub.disconnect();
  }
  broker.restart();
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("q/x", "after", QoS::at_least_once);
  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "offline").session_present);
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) got.push_back(s.receive().payload);
  EXPECT_EQ(got, (std::vector<std::string>{"before-1", "before-2", "between", "after"}));
  s.expect_silence();
}

// In-flight outgoing state survives SIGKILL: a QoS 1 and a QoS 2 PUBLISH sent to the subscriber and not acknowledged
// are sent again with DUP 1 and their packet ids; a QoS 2 message the subscriber had PUBRECed continues with PUBREL
// (not a second PUBLISH). The barrier makes the subscriber's PUBREC durable before the kill.
// [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.3.3-*]
TEST_P(PersistenceTest, InflightOutgoingStateSurvivesSigkill) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  std::uint16_t id1 = 0;
  std::uint16_t id2 = 0;
  std::uint16_t id3 = 0;
  {
    RawClient s(broker.port(), version());
    connect_persistent(s, "inflight");
    s.subscribe("inf/#", QoS::exactly_once);
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    pub.publish("inf/1", "qos1", QoS::at_least_once);
    pub.publish("inf/2", "qos2", QoS::exactly_once);
    pub.publish("inf/3", "qos2 pubrec'd", QoS::exactly_once);
    const Publish p1 = s.receive(answer_timeout, false);
    const Publish p2 = s.receive(answer_timeout, false);
    const Publish p3 = s.receive(answer_timeout, false);
    ASSERT_EQ(p1.payload, "qos1");
    ASSERT_EQ(p2.payload, "qos2");
    ASSERT_EQ(p3.payload, "qos2 pubrec'd");
    id1 = p1.packet_id;
    id2 = p2.packet_id;
    id3 = p3.packet_id;
    s.send(protocol::Pubrec{id3, ReasonCode::success, {}});
    EXPECT_EQ(s.expect<protocol::Pubrel>().packet_id, id3);
    commit_barrier(broker.port(), version());
    kill_broker(broker);
  }
  broker.restart();
  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "inflight").session_present);
  bool saw1 = false;
  bool saw2 = false;
  bool saw_rel3 = false;
  for (int i = 0; i < 3; ++i) {
    auto r = s.read();
    ASSERT_EQ(r.status, RawClient::ReadResult::Status::packet) << describe(r);
    if (auto* p = std::get_if<Publish>(&r.packet)) {
      EXPECT_TRUE(p->dup) << "a redelivery has DUP 1: " << describe(*p);
      if (p->payload == "qos1") {
        EXPECT_FALSE(saw1) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, id1);
        EXPECT_EQ(p->qos, QoS::at_least_once);
        saw1 = true;
      } else {
        EXPECT_EQ(p->payload, "qos2") << "the PUBRECed message must continue with PUBREL: " << describe(*p);
        EXPECT_FALSE(saw2) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, id2);
        EXPECT_EQ(p->qos, QoS::exactly_once);
        saw2 = true;
      }
      s.acknowledge(*p);
    } else if (auto* rel = std::get_if<protocol::Pubrel>(&r.packet)) {
      EXPECT_EQ(rel->packet_id, id3);
      s.send(protocol::Pubcomp{id3, ReasonCode::success, {}});
      saw_rel3 = true;
    } else {
      ADD_FAILURE() << "unexpected " << describe(r.packet);
    }
  }
  EXPECT_TRUE(saw1) << "the unacknowledged QoS 1 message was not redelivered";
  EXPECT_TRUE(saw2) << "the unacknowledged QoS 2 message was not redelivered";
  EXPECT_TRUE(saw_rel3) << "no PUBREL for the PUBRECed QoS 2 message";
  s.expect_silence();
  // Completed flows stay completed after another restart.
  s.close();
  broker.restart();
  RawClient again(broker.port(), version());
  EXPECT_TRUE(connect_persistent(again, "inflight").session_present);
  again.expect_silence();
}

// Incoming QoS 2 state survives SIGKILL: two messages got PUBREC (not PUBREL) before the kill. After the restart the
// publisher (session present) sends the first one again (DUP 1, same packet id: PUBREC again, not a second copy)
// and PUBREL for both: PUBCOMP success each. The freed packet id then carries a new message, which is delivered.
// Each of the three reaches the (offline) persistent subscriber exactly once. [MQTT-4.3.3-*] [MQTT-4.4.0-1]
TEST_P(PersistenceTest, IncomingQos2StateSurvivesSigkill) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  leave_subscribed(broker.port(), version(), "sub", "in2/#", QoS::exactly_once);
  Publish resent;
  resent.topic = "in2/a";
  resent.payload = "resent";
  resent.qos = QoS::exactly_once;
  resent.packet_id = 10;
  Publish released;
  released.topic = "in2/b";
  released.payload = "released";
  released.qos = QoS::exactly_once;
  released.packet_id = 11;
  {
    RawClient pub(broker.port(), version());
    connect_persistent(pub, "pub");
    for (const Publish* p : {&resent, &released}) {
      pub.send(*p);
      const auto rec = pub.expect<protocol::Pubrec>();
      ASSERT_EQ(rec.packet_id, p->packet_id);
      ASSERT_FALSE(protocol::is_error(rec.reason_code)) << describe(rec);
    }
    kill_broker(broker);
  }
  broker.restart();
  RawClient pub(broker.port(), version());
  EXPECT_TRUE(connect_persistent(pub, "pub").session_present);
  resent.dup = true;
  pub.send(resent);
  const auto rec = pub.expect<protocol::Pubrec>();
  EXPECT_EQ(rec.packet_id, 10);
  EXPECT_FALSE(protocol::is_error(rec.reason_code)) << describe(rec);
  for (std::uint16_t id : {10, 11}) {
    pub.send(protocol::Pubrel{id, ReasonCode::success, {}});
    const auto comp = pub.expect<protocol::Pubcomp>();
    EXPECT_EQ(comp.packet_id, id);
    EXPECT_EQ(comp.reason_code, ReasonCode::success) << "the packet id was known before the kill: " << describe(comp);
  }
  Publish fresh = resent;
  fresh.payload = "fresh";
  fresh.dup = false;
  pub.send(fresh);  // packet id 10 again: a new message now
  EXPECT_EQ(pub.expect<protocol::Pubrec>().packet_id, 10);
  pub.send(protocol::Pubrel{10, ReasonCode::success, {}});
  EXPECT_EQ(pub.expect<protocol::Pubcomp>().packet_id, 10);
  pub.publish("in2/marker", "marker", QoS::at_least_once);

  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "sub").session_present);
  const auto got = receive_until(s, "marker");
  EXPECT_EQ(payloads_on(got, "in2/a"), (std::vector<std::string>{"resent", "fresh"}));
  EXPECT_EQ(payloads_on(got, "in2/b"), (std::vector<std::string>{"released"}));
  EXPECT_EQ(got.size(), 3u);
  s.expect_silence();
}

// Retained messages survive SIGKILL (QoS 0, 1 and 2; a replaced one keeps the newest; a cleared one stays cleared;
// 5.0: with their properties) and then a clean restart. The QoS 0 one has no acknowledgement: the QoS 1 publishes
// after it on the same connection are its barrier. [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-6] (3.1.1)
TEST_P(PersistenceTest, RetainedMessagesSurviveSigkillAndRestart) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  {
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    pub.publish("ret/q0", "zero", QoS::at_most_once, true);
    pub.publish("ret/q1", "one", QoS::at_least_once, true);
    pub.publish("ret/q2", "two", QoS::exactly_once, true);
    pub.publish("ret/replaced", "old", QoS::at_least_once, true);
    pub.publish("ret/replaced", "new", QoS::at_least_once, true);
    pub.publish("ret/cleared", "gone", QoS::at_least_once, true);
    pub.publish("ret/cleared", "", QoS::at_least_once, true);
    if (v5()) {
      Properties props;
      props.content_type = "text/plain";
      props.user_properties = {{"k", "v"}};
      pub.publish("ret/props", "with properties", QoS::at_least_once, true, props);
    }
    kill_broker(broker);
  }
  for (int restart = 0; restart < 2; ++restart) {
    SCOPED_TRACE(restart == 0 ? "after SIGKILL" : "after a clean restart");
    broker.restart();
    RawClient s(broker.port(), version());
    s.connect("reader");
    s.subscribe("ret/#", QoS::exactly_once);
    std::map<std::string, Publish> got;
    const std::size_t expected = v5() ? 5 : 4;
    for (std::size_t i = 0; i < expected; ++i) {
      Publish p = s.receive();
      EXPECT_TRUE(p.retain) << describe(p);
      EXPECT_FALSE(got.contains(p.topic)) << "twice: " << describe(p);
      got[p.topic] = p;
    }
    s.expect_silence();  // nothing for ret/cleared
    EXPECT_EQ(got["ret/q0"].payload, "zero");
    EXPECT_EQ(got["ret/q0"].qos, QoS::at_most_once);
    EXPECT_EQ(got["ret/q1"].payload, "one");
    EXPECT_EQ(got["ret/q1"].qos, QoS::at_least_once);
    EXPECT_EQ(got["ret/q2"].payload, "two");
    EXPECT_EQ(got["ret/q2"].qos, QoS::exactly_once);
    EXPECT_EQ(got["ret/replaced"].payload, "new");
    if (v5()) {
      EXPECT_EQ(got["ret/props"].payload, "with properties");
      EXPECT_EQ(got["ret/props"].properties.content_type, std::optional<std::string>("text/plain"));
      EXPECT_EQ(got["ret/props"].properties.user_properties, (protocol::UserProperties{{"k", "v"}}));
    }
    s.disconnect();
    broker.stop();
  }
}

// Subscriptions of a persistent session survive SIGKILL with their granted QoS (5.0: and subscription identifier);
// an unsubscribed filter stays gone; a non-persistent session (clean session 1 / session expiry 0) is not restored.
// The barrier makes the SUBSCRIBE and UNSUBSCRIBE durable before the kill. [MQTT-3.1.2-4] [MQTT-3.2.2-2]
TEST_P(PersistenceTest, SubscriptionsSurviveSigkill) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  {
    RawClient s(broker.port(), version());
    connect_persistent(s, "subs");
    s.subscribe("sub/one", QoS::at_least_once);
    s.subscribe("sub/two/+", QoS::exactly_once);
    s.subscribe("sub/gone", QoS::at_least_once);
    if (v5()) {
      Properties props;
      props.subscription_identifiers = {42};
      s.subscribe("sub/id", QoS::at_least_once, props);
    }
    s.unsubscribe({"sub/gone"});
    RawClient volatile_session(broker.port(), version());
    volatile_session.connect("volatile", true);
    volatile_session.subscribe("sub/one", QoS::at_least_once);
    commit_barrier(broker.port(), version());
    kill_broker(broker);  // "subs" is still connected: its session and subscriptions are restored all the same
  }
  broker.restart();
  RawClient v(broker.port(), version());
  EXPECT_FALSE(connect_persistent(v, "volatile").session_present) << "a clean session was restored";
  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "subs").session_present);
  s.expect_silence();
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("sub/gone", "unsubscribed", QoS::at_least_once);
  pub.publish("sub/one", "one", QoS::exactly_once);
  pub.publish("sub/two/x", "two", QoS::exactly_once);
  if (v5()) pub.publish("sub/id", "id", QoS::at_least_once);
  pub.publish("sub/one", "end", QoS::at_least_once);
  const auto got = receive_until(s, "end");
  ASSERT_EQ(got.size(), v5() ? 3u : 2u);
  EXPECT_EQ(got[0].payload, "one");
  EXPECT_EQ(got[0].qos, QoS::at_least_once) << "granted QoS 1";
  EXPECT_EQ(got[1].payload, "two");
  EXPECT_EQ(got[1].qos, QoS::exactly_once);
  if (v5()) {
    EXPECT_EQ(got[2].payload, "id");
    EXPECT_EQ(got[2].properties.subscription_identifiers, (std::vector<std::uint32_t>{42}));
  }
  s.expect_silence();
}

// A long offline queue (most of it kept only in the database: max_queued_in_memory 5) survives a SIGKILL in the
// middle of its delivery: the subscriber takes 25 of 60 messages, the barrier makes its acknowledgements durable,
// the broker is killed; after the restart the other 35 follow, then 10 published after the restart, each exactly
// once and in order per topic. [MQTT-4.6.0-*]
TEST_P(PersistenceTest, LongQueueSurvivesSigkillDuringDelivery) {
  StoreDir store;
  std::vector<std::string> extra;
  if (!testing_mosquitto()) extra.push_back("max_queued_in_memory 5");
  BrokerProcess broker(persistence_config(store, extra));
  leave_subscribed(broker.port(), version(), "long", "long/#", QoS::exactly_once);
  std::map<std::string, std::vector<std::string>> expected;  // topic -> payloads in order
  {
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    for (int i = 1; i <= 60; ++i) {
      const bool q2 = i % 3 == 0;
      const std::string topic = q2 ? "long/q2" : "long/q1";
      const std::string payload = "m" + std::to_string(i);
      pub.publish(topic, payload, q2 ? QoS::exactly_once : QoS::at_least_once);
      expected[topic].push_back(payload);
    }
  }
  std::map<std::string, std::vector<std::string>> got;
  {
    RawClient s(broker.port(), version());
    EXPECT_TRUE(connect_persistent(s, "long").session_present);
    for (int i = 0; i < 25; ++i) {
      const Publish p = s.receive();  // acknowledged (QoS 2: through PUBCOMP)
      got[p.topic].push_back(p.payload);
    }
    s.send(protocol::Pingreq{});  // PINGRESP: the broker has read every acknowledgement (PUBLISHes may come first)
    s.await<protocol::Pingresp>();
    commit_barrier(broker.port(), version());
    kill_broker(broker);
  }
  broker.restart();
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (int i = 61; i <= 70; ++i) {
    const std::string payload = "m" + std::to_string(i);
    pub.publish("long/q1", payload, QoS::at_least_once);
    expected["long/q1"].push_back(payload);
  }
  pub.publish("long/q1", "end", QoS::at_least_once);
  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "long").session_present);
  for (const Publish& p : receive_until(s, "end", 100)) got[p.topic].push_back(p.payload);
  EXPECT_EQ(got["long/q1"], expected["long/q1"]);
  EXPECT_EQ(got["long/q2"], expected["long/q2"]);
  s.expect_silence();
}

TERN_INSTANTIATE_VERSIONS(PersistenceTest);

// ---------------------------------------------------------------------------------------------------------------
// 5.0: session expiry and message expiry count the time the broker was down.

// "short" (session expiry 2 s) and "long" (300 s) disconnect; three messages are queued for both: message expiry 2 s,
// 300 s and none. The broker is killed and stays down until at least 3 s have passed, then restarts. "short" must be
// gone at once (if the broker counted only its running time, or restarted the clock at start-up, or lost the
// interval, it would still be there); "long" is present and gets the 300 s message with at most 297 s left and the
// one without expiry, not the 2 s one. The wait is a lower bound, so the verdict does not depend on timing.
// mosquitto 2.0.11 fails this on purpose: it counts the downtime for message expiry but restores "short" (its
// session expiry clock starts again at start-up). [MQTT-3.1.2-23] [MQTT-3.3.2-5] [MQTT-3.3.2-6]
TEST(PersistenceV5Test, SessionAndMessageExpiryCountDowntime) {
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  for (const auto& [id, expiry] : {std::pair{"short", 2u}, std::pair{"long", 300u}}) {
    RawClient s(broker.port(), Version::v5);
    connect_persistent(s, id, expiry);
    s.subscribe("exp/#", QoS::at_least_once);
    s.disconnect();
    s.expect_closed();
  }
  {
    RawClient pub(broker.port(), Version::v5);
    pub.connect("pub");
    for (const auto& [payload, expiry] :
         {std::pair{"expires", std::optional<std::uint32_t>(2)}, std::pair{"lasts", std::optional<std::uint32_t>(300)},
          std::pair{"forever", std::optional<std::uint32_t>()}}) {
      Properties props;
      props.message_expiry_interval = expiry;
      pub.publish("exp/m", payload, QoS::at_least_once, false, props);
    }
  }
  const auto down_since = Clock::now();
  kill_broker(broker);
  std::this_thread::sleep_until(down_since + 3s);  // a lower bound on the down time, not a verdict
  broker.restart();

  RawClient short_lived(broker.port(), Version::v5);
  EXPECT_FALSE(connect_persistent(short_lived, "short", 2).session_present)
      << "session expiry 2 s, broker down for 3 s: the session must have expired";
  short_lived.expect_silence();

  RawClient long_lived(broker.port(), Version::v5);
  EXPECT_TRUE(connect_persistent(long_lived, "long", 300).session_present);
  const Publish lasts = long_lived.receive();
  EXPECT_EQ(lasts.payload, "lasts") << "the 2 s message must have expired while the broker was down";
  ASSERT_TRUE(lasts.properties.message_expiry_interval.has_value());
  EXPECT_LE(*lasts.properties.message_expiry_interval, 297u) << "the 3 s down count against the message's expiry";
  EXPECT_GT(*lasts.properties.message_expiry_interval, 0u);
  const Publish forever = long_lived.receive();
  EXPECT_EQ(forever.payload, "forever");
  EXPECT_FALSE(forever.properties.message_expiry_interval.has_value());
  long_lived.expect_silence();
}

// ---------------------------------------------------------------------------------------------------------------
// A database file that is not a usable database is moved aside (renamed NAME.corrupt-YYYYMMDD-HHMMSS, logged), and
// the broker starts with an empty store that works (it keeps a message across SIGKILL).

struct CorruptCase {
  const char* name;
  const char* file;    // persistence_file, or nullptr for the default tern.db
  bool sqlite_header;  // begins like an SQLite file ("SQLite format 3\0"), then garbage
};

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }  // readable (and stable) ctest names

class PersistenceCorruptTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(PersistenceCorruptTest, CorruptDatabaseMovedAsideAndStoreStartsEmpty) {
  if (testing_mosquitto()) GTEST_SKIP() << "Tern's database file";
  const CorruptCase& param = GetParam();
  StoreDir store;
  const std::string file_name = param.file != nullptr ? param.file : "tern.db";
  std::string garbage;
  if (param.sqlite_header) garbage.append("SQLite format 3", 16);  // with its terminating NUL
  std::mt19937 rng(12345);
  while (garbage.size() < 64 * 1024) garbage.push_back(static_cast<char>(rng() & 0xff));
  {
    std::ofstream out(store.path() / file_name, std::ios::binary);
    out << garbage;
  }
  std::vector<std::string> extra;
  if (param.file != nullptr) extra.push_back(std::string("persistence_file ") + param.file);
  BrokerProcess broker(persistence_config(store, extra));  // must start (it throws if the broker exits)

  const std::regex aside_name(std::regex_replace(file_name, std::regex(R"(\.)"), R"(\.)") +
                              R"(\.corrupt-[0-9]{8}-[0-9]{6}(\.[0-9]+)?)");
  auto moved_aside = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(store.path())) {
      if (std::regex_match(entry.path().filename().string(), aside_name)) found.push_back(entry.path());
    }
    return found;
  };
  const auto found = moved_aside();
  ASSERT_EQ(found.size(), 1u) << "expected one " << file_name << ".corrupt-YYYYMMDD-HHMMSS in " << store.path();
  {
    std::ifstream in(found[0], std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    EXPECT_TRUE(content.str() == garbage) << "the file moved aside must be the old file, unchanged";
  }
  EXPECT_NE(broker.log().find(found[0].filename().string()), std::string::npos)
      << "the log must say where the file went";
  EXPECT_TRUE(fs::exists(store.path() / file_name)) << "a new database under the configured name";

  // Empty, and working.
  {
    RawClient s(broker.port(), Version::v311);
    EXPECT_FALSE(connect_persistent(s, "sub").session_present);
    s.subscribe("c/#", QoS::at_least_once);
    s.disconnect();
    s.expect_closed();
  }
  {
    RawClient pub(broker.port(), Version::v311);
    pub.connect("pub");
    pub.publish("c/x", "kept", QoS::at_least_once);
    kill_broker(broker);
  }
  broker.restart();
  RawClient s(broker.port(), Version::v311);
  EXPECT_TRUE(connect_persistent(s, "sub").session_present);
  EXPECT_EQ(s.receive().payload, "kept");
  s.expect_silence();
  EXPECT_EQ(moved_aside().size(), 1u) << "the new database was moved aside too";
}

INSTANTIATE_TEST_SUITE_P(Files, PersistenceCorruptTest,
                         ::testing::Values(CorruptCase{"garbage", nullptr, false},
                                           CorruptCase{"sqlite_header", nullptr, true},
                                           CorruptCase{"persistence_file", "custom.db", false}),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------------------------
// The crash test.
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

  const auto crash_start = Clock::now();
  int kills = 0;
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
      for (auto& p : publishers) {
        if (p->down()) p->begin_connect(port);  // closed by the broker (3.1.1: not durable): reconnect
      }
      if (param.subscriber_online && subscriber.down()) subscriber.begin_connect(port);
      const bool busy = pump_all(publishers, subscriber, budgets);
      for (int i = 0; i < kPublishers; ++i) started[i] = allowed - budgets[i];
      if (!busy) std::this_thread::sleep_for(1ms);
    }
    crash();
    ++kills;
    for (auto& p : publishers) p->drop();
    subscriber.drop();
    broker.restart();
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
      for (auto& p : publishers) {
        if (p->down()) p->begin_connect(port);  // a broker that closed a publisher: MQTT says reconnect
      }
      if (param.subscriber_online && subscriber.down()) subscriber.begin_connect(port);
      if (!pump_all(publishers, subscriber, no_budget)) std::this_thread::sleep_for(1ms);
    }
    for (const auto& p : publishers) {
      EXPECT_TRUE(p->up() && p->idle()) << "a publisher could not finish its flows within the budget ("
                                        << p->in_flight() << " in flight)";
    }
  }
  // Once more SIGKILL: what the subscriber gets from here on comes from the database.
  crash();
  ++kills;
  for (auto& p : publishers) p->drop();
  subscriber.drop();
  broker.restart();
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
