// Sessions: takeover, persistent subscriptions, queued messages while offline, redelivery with DUP, queue limits.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Connack;
using protocol::Publish;

class SessionTest : public VersionedTest {
 protected:
  // A persistent session: clean session 0 (3.1.1) / clean start 0 and a session expiry (5.0).
  Connack connect_persistent(RawClient& c, const std::string& id) {
    Properties p;
    if (v5()) p.session_expiry_interval = 300;
    return c.connect(id, false, 60, p);
  }

  // Leaves an offline persistent session `id` subscribed to `filter`: connect, subscribe, DISCONNECT.
  void leave_offline_session(const BrokerProcess& broker, const std::string& id, const std::string& filter, QoS qos) {
    RawClient s(broker.port(), version());
    connect_persistent(s, id);
    s.subscribe(filter, qos);
    s.disconnect();
    s.expect_closed();
  }

  struct Message {
    std::string topic, payload;
    QoS qos;
  };
  // One client publishes `messages` in order, each with its QoS handshake, and disconnects.
  void publish_all(const BrokerProcess& broker, const std::vector<Message>& messages) {
    RawClient pub(broker.port(), version());
    pub.connect("pub");
    for (const auto& m : messages) pub.publish(m.topic, m.payload, m.qos);
    pub.disconnect();
  }
};

// A second connection with the same client id takes over: the old one is closed, 5.0 with DISCONNECT 0x8E.
// [MQTT-3.1.4-2] (3.1.1) [MQTT-3.1.4-3] (5.0)
TEST_P(SessionTest, TakeoverClosesOldConnection) {
  BrokerProcess broker;
  RawClient old(broker.port(), version());
  old.connect("same");
  RawClient fresh(broker.port(), version());
  EXPECT_EQ(static_cast<int>(fresh.connect("same").reason_code), 0);
  if (v5()) {
    old.expect_disconnect(ReasonCode::session_taken_over);
  } else {
    old.expect_closed();
  }
  fresh.ping();
}

// Offline persistent session: subscriptions kept, QoS 1 and 2 queued, QoS 0 not (queue_qos0_messages false), and
// delivered in order on reconnect. [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.2.2-2] [MQTT-4.6.0-6] (3.1.1)
// [MQTT-3.1.2-5] [MQTT-4.6.0-6] (5.0)
TEST_P(SessionTest, QueuesQos1And2WhileOffline) {
  BrokerProcess broker;
  leave_offline_session(broker, "offline", "off/#", QoS::exactly_once);
  publish_all(broker, {{"off/0", "q0", QoS::at_most_once},
                       {"off/1", "q1", QoS::at_least_once},
                       {"off/2", "q2", QoS::exactly_once},
                       {"off/1", "q1b", QoS::at_least_once}});

  RawClient s(broker.port(), version());
  EXPECT_TRUE(connect_persistent(s, "offline").session_present);
  EXPECT_EQ(s.receive().payload, "q1");
  EXPECT_EQ(s.receive().payload, "q2");
  EXPECT_EQ(s.receive().payload, "q1b");
  s.expect_silence();
}

// queue_qos0_messages true: QoS 0 messages are queued for offline persistent sessions too.
TEST_P(SessionTest, QueuesQos0WhenConfigured) {
  BrokerProcess broker({"queue_qos0_messages true"});
  leave_offline_session(broker, "offline", "off/#", QoS::at_least_once);
  publish_all(broker, {{"off/0", "q0", QoS::at_most_once}, {"off/1", "q1", QoS::at_least_once}});
  RawClient s(broker.port(), version());
  connect_persistent(s, "offline");
  const Publish first = s.receive();
  EXPECT_EQ(first.payload, "q0");
  EXPECT_EQ(first.qos, QoS::at_most_once);
  EXPECT_EQ(s.receive().payload, "q1");
  s.expect_silence();
}

// max_queued_messages 3: an offline session keeps at most 3 messages; the newest beyond the limit are dropped.
TEST_P(SessionTest, MaxQueuedMessagesBoundsOfflineQueue) {
  BrokerProcess broker({"max_queued_messages 3"});
  leave_offline_session(broker, "bounded", "mq/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (int i = 1; i <= 8; ++i) pub.publish("mq/x", "m" + std::to_string(i), QoS::at_least_once);
  RawClient s(broker.port(), version());
  connect_persistent(s, "bounded");
  std::vector<std::string> got;
  while (true) {
    auto r = s.read(quiet_period);
    if (r.status != RawClient::ReadResult::Status::packet) break;
    auto* p = std::get_if<Publish>(&r.packet);
    ASSERT_NE(p, nullptr) << describe(r.packet);
    got.push_back(p->payload);
    s.acknowledge(*p);
    ASSERT_LE(got.size(), 8u);
  }
  s.ping();
  EXPECT_EQ(got, (std::vector<std::string>{"m1", "m2", "m3"}));
}

// A long queue and a large window (max_inflight_messages 0: 65,535 for 3.1.1; 65,535 for a 5.0 client that sets no
// Receive Maximum): the broker sends a few hundred of them per turn of its loop (Broker::resume()), and every one
// arrives, in order, without the client acknowledging any.
TEST_P(SessionTest, ALongQueueArrivesWholeThroughALargeWindow) {
  BrokerProcess broker({"max_queued_messages 0", "max_inflight_messages 0"});
  leave_offline_session(broker, "long", "lq/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  constexpr int count = 2000;
  for (int i = 0; i < count; ++i) pub.publish("lq/x", std::to_string(i), QoS::at_least_once);
  RawClient s(broker.port(), version());
  connect_persistent(s, "long");
  for (int i = 0; i < count; ++i) ASSERT_EQ(s.receive(answer_timeout, false).payload, std::to_string(i));
  s.expect_silence();
}

TERN_INSTANTIATE_VERSIONS(SessionTest);

}  // namespace
}  // namespace tern::itest
