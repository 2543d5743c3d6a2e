// Persistence (`persistence true`): the durability contract (DESIGN.md, "Durability contract") seen from outside.
// A PUBACK (QoS 1) or PUBREC (QoS 2) goes out only once the message and every queue entry it created for persistent
// sessions are committed, so whatever was acknowledged survives SIGKILL; a restart restores sessions (with their
// expiry, counting the time the broker was down), subscriptions, queued and in-flight messages in both directions
// and retained messages; a database that cannot be used is moved aside and the broker starts with an empty one.
//
// The database lives in a directory of its own (StoreDir), made before the broker so that its path can go into the
// config. Tests that kill the broker do so only after something the contract says is durable (a PUBACK or PUBREC,
// or a "barrier": a retained QoS 1 message whose PUBACK means every earlier batch is committed, since the store
// commits batches in order); no test relies on timing for its verdict. The kills at random moments are
// 19_persistence_crash_test.cpp's.
//
// TERN_TEST_BROKER=mosquitto: see persistence_support.hpp; the tests of Tern's database file (corrupt file moved
// aside) are skipped there.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
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

namespace fs = std::filesystem;
using namespace durability;
using Clock = std::chrono::steady_clock;
using protocol::Connack;
using protocol::Publish;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

// Leaves `id` behind as an offline persistent session subscribed to `filter`.
void leave_subscribed(std::uint16_t port, Version v, const std::string& id, const std::string& filter, QoS qos) {
  RawClient s(port, v);
  connect_persistent(s, id);
  s.subscribe(filter, qos);
  s.disconnect();
  s.expect_closed();
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
  UnfinishedFlows flows;
  {
    RawClient s(broker.port(), version());
    connect_persistent(s, "inflight");
    s.subscribe("inf/#", QoS::exactly_once);
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    flows = leave_unfinished_flows(s, pub, "inf");
    commit_barrier(broker.port(), version());
    kill_broker(broker);
  }
  broker.restart();
  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "inflight").session_present);
  expect_flows_resumed(s, flows);
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
// A write that fails, as on a full disk (here the file size limit, RLIMIT_FSIZE: the commit log's first 4 MiB fit,
// growing it further fails with EFBIG), is not acknowledged: the publisher is disconnected (5.0: DISCONNECT
// "unspecified error") without the PUBACKs of what was not stored, so that it sends those again. The broker keeps
// running, and every message it did acknowledge is delivered after a restart, in order (store.hpp, "Failure").

TEST(PersistenceDiskFullTest, AFailedWriteIsNotAcknowledgedAndWhatWasAcknowledgedIsKept) {
  if (testing_mosquitto()) GTEST_SKIP() << "Tern's store, and how it answers a write that fails";
  StoreDir store;
  BrokerProcess broker(persistence_config(store));
  leave_subscribed(broker.port(), Version::v5, "sub", "full/#", QoS::at_least_once);
  broker.limit_file_size(6 << 20);

  RawClient pub(broker.port(), Version::v5);
  connect_persistent(pub, "pub");
  // 16 KiB messages, 8 in flight: the log's 4 MiB hold ~250 of them, so 1,000 cannot all be stored.
  const std::string filler(16 << 10, 'x');
  std::map<std::uint16_t, int> in_flight;  // packet id -> message number
  std::vector<int> acked;                  // message numbers, in PUBACK order
  std::optional<RawClient::ReadResult> end;
  for (int next = 0; !end;) {
    for (; in_flight.size() < 8 && next < 1000; ++next) {
      Publish p;
      p.topic = "full/t";
      p.payload = std::to_string(next) + " " + filler;
      p.qos = QoS::at_least_once;
      p.packet_id = pub.next_packet_id();
      in_flight[p.packet_id] = next;
      pub.send(p);
    }
    ASSERT_FALSE(in_flight.empty()) << "1,000 messages of 16 KiB acknowledged past a 6 MiB file size limit";
    // Each PUBACK waits for a group commit of 16 KiB messages with persistence_sync full: on a loaded machine that
    // can take longer than the usual answer time.
    auto r = pub.read(30s);
    const auto* ack = r.status == RawClient::ReadResult::Status::packet ? std::get_if<protocol::Puback>(&r.packet)
                                                                         : nullptr;
    if (ack == nullptr) {
      end = std::move(r);
      break;
    }
    ASSERT_EQ(ack->reason_code, ReasonCode::success) << describe(*ack);
    ASSERT_EQ(in_flight.count(ack->packet_id), 1u) << describe(*ack);
    acked.push_back(in_flight[ack->packet_id]);
    in_flight.erase(ack->packet_id);
  }
  ASSERT_EQ(end->status, RawClient::ReadResult::Status::packet) << describe(*end);
  const auto* disconnect = std::get_if<protocol::Disconnect>(&end->packet);
  ASSERT_NE(disconnect, nullptr) << describe(*end);
  EXPECT_EQ(disconnect->reason_code, ReasonCode::unspecified_error) << describe(*end);
  pub.expect_closed();
  ASSERT_FALSE(acked.empty()) << "the log's first 4 MiB had room for some";
  EXPECT_NE(broker.log().find("could not commit"), std::string::npos) << broker.log();

  RawClient probe(broker.port(), Version::v5);  // still serving
  probe.connect("probe");
  probe.ping();
  probe.disconnect();

  kill_broker(broker);
  broker.restart();  // without the limit
  RawClient sub(broker.port(), Version::v5);
  EXPECT_TRUE(connect_persistent(sub, "sub").session_present);
  for (const int number : acked) {
    const Publish m = sub.receive();
    ASSERT_EQ(m.payload.substr(0, m.payload.find(' ')), std::to_string(number)) << "acknowledged, so stored";
    ASSERT_EQ(m.payload.size(), std::to_string(number).size() + 1 + filler.size());
  }
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

}  // namespace
}  // namespace tern::itest
