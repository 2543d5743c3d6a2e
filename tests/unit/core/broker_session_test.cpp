// The broker state machine, driven without sockets: CONNECT rules, sessions, wills and timers.
#include "broker/core/broker.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

// A client "w" subscribed to `filter` (QoS 0) with its SUBACK read: what it receives next is the wills the test
// causes.
class Watcher : public TestClient {
 public:
  Watcher(Broker& b, p::Version v, std::string filter, std::uint16_t keep_alive = 60) : TestClient(b, v, t0) {
    connect("w", true, t0, {}, std::nullopt, keep_alive);
    subscribe(std::move(filter), p::QoS::at_most_once, t0);
    received();
  }

  // The will published since the last look: there must be exactly one.
  p::Publish one_will() {
    auto wills = received_of<p::Publish>();
    EXPECT_EQ(wills.size(), 1u) << "wills published";
    return wills.empty() ? p::Publish{} : wills[0];
  }
};

// Leaves an offline session `id` (clean start 0, `props` in its CONNECT) subscribed to `filter` at QoS 1.
void leave_offline_session(Broker& b, p::Version v, const std::string& id, const std::string& filter,
                           p::Properties props = {}) {
  TestClient c(b, v, t0);
  c.connect(id, false, t0, std::move(props));
  c.subscribe(filter, p::QoS::at_least_once, t0);
  c.drop(t0);
}

TEST(BrokerConnect, AcceptsAndReportsNoSessionOnCleanStart) {  // [MQTT-3.2.2-1]
  Broker b(anonymous());
  TestClient c(b, p::Version::v311, t0);
  auto ack = c.connect("a", true, t0);
  EXPECT_EQ(ack.reason_code, p::ReasonCode::success);
  EXPECT_FALSE(ack.session_present);
  EXPECT_FALSE(c.closed());
}

TEST(BrokerConnect, EmptyClientIdWithPersistentSessionRefusedIn311) {  // [MQTT-3.1.3-8]
  Broker b(anonymous());
  TestClient c(b, p::Version::v311, t0);
  auto ack = c.connect("", false, t0);
  EXPECT_EQ(static_cast<int>(ack.reason_code), 2);  // 3.1.1 "identifier rejected"
  EXPECT_TRUE(c.closed());
}

TEST(BrokerConnect, EmptyClientIdAssignedIn5) {
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  auto ack = c.connect("", true, t0);
  EXPECT_EQ(ack.reason_code, p::ReasonCode::success);
  ASSERT_TRUE(ack.properties.assigned_client_identifier);
  EXPECT_FALSE(ack.properties.assigned_client_identifier->empty());
}

TEST(BrokerConnect, AnonymousRefusedWhenNotAllowed) {
  Broker b(BrokerOptions{});
  TestClient c5(b, p::Version::v5, t0);
  EXPECT_EQ(c5.connect("a", true, t0).reason_code, p::ReasonCode::not_authorized);
  EXPECT_TRUE(c5.closed());
  TestClient c3(b, p::Version::v311, t0);
  EXPECT_EQ(static_cast<int>(c3.connect("b", true, t0).reason_code), 5);
  EXPECT_TRUE(c3.closed());
}

TEST(BrokerConnect, FirstPacketMustBeConnect) {  // [MQTT-3.1.0-1]
  Broker b(anonymous());
  TestClient c(b, p::Version::v311, t0);
  c.send(p::Pingreq{}, t0);
  EXPECT_TRUE(c.closed());
  EXPECT_TRUE(c.received().empty());
}

TEST(BrokerConnect, SecondConnectIsProtocolError) {  // [MQTT-3.1.0-2]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("a", true, t0);
  c.send(p::Connect{.version = p::Version::v5, .client_id = "a"}, t0);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::protocol_error);
  EXPECT_TRUE(c.closed());
}

// Found by tests/fuzz/fuzz_broker.cpp: a refused CONNECT's CONNACK carried its Reason String past the Maximum Packet
// Size the same CONNECT announced.
TEST(BrokerConnect, RefusalFitsTheClientsMaximumPacketSize) {  // [MQTT-3.2.2-19]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  p::Connect connect{.version = p::Version::v5, .client_id = "a", .will = p::Will{.topic = "a/+"}};
  connect.properties.maximum_packet_size = 8;
  c.send(std::move(connect), t0);
  EXPECT_LE(c.sink().bytes_.size(), 8u);
  auto acks = c.received_of<p::Connack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].reason_code, p::ReasonCode::topic_name_invalid);
  EXPECT_FALSE(acks[0].properties.reason_string) << "the Reason String goes first [MQTT-3.1.2-25]";
  EXPECT_TRUE(c.closed());
}

// Found by tests/fuzz/fuzz_broker.cpp: a connected 5.0 client's second CONNECT with an unknown protocol level (the
// decoder's unsupported_protocol_version) was answered with DISCONNECT 0x84, which is no DISCONNECT reason code.
TEST(BrokerConnect, SecondConnectWithAnUnknownLevelIsAProtocolError) {  // [MQTT-3.1.0-2]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("a", true, t0);
  b.on_decode_error(c.id(), p::ReasonCode::unsupported_protocol_version, t0);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::protocol_error);
  EXPECT_TRUE(c.closed());
}

TEST(BrokerConnect, MaxKeepaliveAnnouncedTo5AndRefusedFor311) {
  BrokerOptions o = anonymous();
  o.max_keepalive = 10;
  Broker b(o);
  TestClient c5(b, p::Version::v5, t0);
  auto ack = c5.connect("a", true, t0, {}, std::nullopt, 60);
  EXPECT_EQ(ack.reason_code, p::ReasonCode::success);
  EXPECT_EQ(ack.properties.server_keep_alive, 10);
  TestClient c3(b, p::Version::v311, t0);
  EXPECT_EQ(static_cast<int>(c3.connect("b", true, t0, {}, std::nullopt, 60).reason_code), 2);
}

// The broker's own clients (a bridge's local half, the history service) have no socket to go quiet: max_keepalive
// imposes no keep alive on them, so an idle bridge is not closed every 1.5 x max_keepalive.
TEST(BrokerConnect, MaxKeepaliveSparesTheBrokersOwnClients) {
  BrokerOptions o = anonymous();
  o.max_keepalive = 10;
  Broker b(o);
  TestClient local(b, p::Version::v5, t0);
  p::Connect connect;
  connect.version = p::Version::v5;
  connect.client_id = "bridge-local";
  connect.local = true;
  local.send(std::move(connect), t0);
  const auto acks = local.received_of<p::Connack>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].properties.server_keep_alive);
  TestClient remote(b, p::Version::v5, t0);
  remote.connect("remote", true, t0, {}, std::nullopt, 0);
  b.tick(t0 + 1h);
  EXPECT_FALSE(local.closed());
  EXPECT_TRUE(remote.closed()) << "a remote client asking for no keep alive still gets max_keepalive's";
}

// A client from the network cannot take over, nor resume, the session of one of the broker's own clients (a bridge's
// local half, the history service).
TEST(BrokerConnect, TheBrokersOwnSessionsCannotBeTakenOver) {
  Broker b(anonymous());
  TestClient local(b, p::Version::v5, t0);
  p::Connect connect;
  connect.version = p::Version::v5;
  connect.client_id = "bridge-local";
  connect.clean_start = false;
  connect.properties.session_expiry_interval = 3600;
  connect.local = true;
  local.send(std::move(connect), t0);
  local.received();
  TestClient intruder(b, p::Version::v5, t0);
  EXPECT_EQ(intruder.connect("bridge-local", false, t0).reason_code, p::ReasonCode::client_identifier_not_valid);
  EXPECT_FALSE(local.closed());
  local.drop(t0);  // offline: still the broker's own
  TestClient later(b, p::Version::v311, t0);
  EXPECT_EQ(static_cast<int>(later.connect("bridge-local", false, t0).reason_code), 2);
}

TEST(BrokerSession, TakeoverClosesTheOldConnection) {  // [MQTT-3.1.4-3]
  Broker b(anonymous());
  TestClient first(b, p::Version::v5, t0);
  first.connect("same", true, t0);
  TestClient second(b, p::Version::v5, t0);
  EXPECT_EQ(second.connect("same", true, t0).reason_code, p::ReasonCode::success);
  auto d = first.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::session_taken_over);
  EXPECT_TRUE(first.closed());
  EXPECT_FALSE(second.closed());
}

TEST(BrokerSession, PersistentSessionKeepsSubscriptionsAndQueuesQos1) {
  Broker b(anonymous());
  leave_offline_session(b, p::Version::v311, "sub", "a/#");
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  pub.publish("a/1", "x", p::QoS::at_least_once, t0);
  pub.publish("a/2", "y", p::QoS::at_most_once, t0);  // not queued: queue_qos0_messages is off
  pub.publish("a/3", "z", p::QoS::exactly_once, t0);

  TestClient again(b, p::Version::v311, t0 + 1s);
  EXPECT_TRUE(again.connect("sub", false, t0 + 1s).session_present);
  auto msgs = again.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].topic, "a/1");
  EXPECT_EQ(msgs[1].topic, "a/3");
  EXPECT_EQ(msgs[1].qos, p::QoS::at_least_once);  // downgraded to the granted QoS
}

TEST(BrokerSession, UnacknowledgedMessagesAreResentWithDup) {  // [MQTT-4.4.0-1]
  Broker b(anonymous());
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  std::uint16_t id = 0;
  {
    TestClient sub(b, p::Version::v311, t0);
    sub.connect("sub", false, t0);
    sub.subscribe("t", p::QoS::at_least_once, t0);
    sub.received();
    pub.publish("t", "m", p::QoS::at_least_once, t0);
    auto msgs = sub.received_of<p::Publish>();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_FALSE(msgs[0].dup);
    id = msgs[0].packet_id;
    sub.drop(t0);
  }
  TestClient sub(b, p::Version::v311, t0);
  sub.connect("sub", false, t0);
  auto msgs = sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_TRUE(msgs[0].dup);
  EXPECT_EQ(msgs[0].packet_id, id);
}

// Found by tests/fuzz/fuzz_broker.cpp: a session resumed by a client with a smaller Receive Maximum got every
// PUBLISH in flight from the last connection at once.
TEST(BrokerSession, ResendHonoursTheNewReceiveMaximum) {  // [MQTT-3.3.4-9], [MQTT-4.4.0-1]
  Broker b(anonymous());
  TestClient pub(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  p::Properties expiry;
  expiry.session_expiry_interval = 60;
  std::vector<std::uint16_t> ids;
  {
    TestClient sub(b, p::Version::v5, t0);
    sub.connect("sub", false, t0, expiry);
    sub.subscribe("t", p::QoS::at_least_once, t0);
    sub.received();
    for (const char* m : {"1", "2", "3"}) pub.publish("t", m, p::QoS::at_least_once, t0);
    for (const auto& msg : sub.received_of<p::Publish>()) ids.push_back(msg.packet_id);
    ASSERT_EQ(ids.size(), 3u);
    sub.drop(t0);
  }
  p::Properties small = expiry;
  small.receive_maximum = 1;
  TestClient sub(b, p::Version::v5, t0);
  EXPECT_TRUE(sub.connect("sub", false, t0, small).session_present);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto msgs = sub.received_of<p::Publish>();
    ASSERT_EQ(msgs.size(), 1u) << "one in flight at a time, message " << i;
    EXPECT_TRUE(msgs[0].dup);
    EXPECT_EQ(msgs[0].packet_id, ids[i]);
    EXPECT_EQ(msgs[0].payload, std::to_string(i + 1));
    sub.send(p::Puback{.packet_id = msgs[0].packet_id}, t0);
  }
  EXPECT_TRUE(sub.received().empty());
}

// A client with a large window coming back to a long queue is sent at most 256 PUBLISHes from it per call into the
// broker (a call holds the core's lock): then its connection is woken and each Broker::resume() sends the next 256, in
// order, acknowledged or not. Until then neither its PUBACKs nor new messages for it overtake the queue.
TEST(BrokerSession, ALongQueueGoesToALargeWindowAFewHundredPerCall) {
  BrokerOptions options = anonymous();
  options.max_queued_messages = 2000;
  Broker b(options);
  const p::Properties expiry{.session_expiry_interval = 60};  // 5.0 without Receive Maximum: a window of 65,535
  leave_offline_session(b, p::Version::v5, "sub", "t", expiry);
  TestClient pub(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  for (int i = 0; i < 1000; ++i) pub.publish("t", std::to_string(i), p::QoS::at_least_once, t0);
  TestClient sub(b, p::Version::v5, t0);
  EXPECT_TRUE(sub.connect("sub", false, t0, expiry).session_present);
  std::vector<p::Publish> got = sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 256u) << "one call's share, not the whole queue";
  EXPECT_EQ(sub.sink().wakes, 1);

  // Stopped: an acknowledgement frees room but sends nothing; a new message waits behind the queue.
  sub.send(p::Puback{.packet_id = got.front().packet_id}, t0);
  pub.publish("t", "new", p::QoS::at_least_once, t0);
  EXPECT_TRUE(sub.received_of<p::Publish>().empty());
  EXPECT_EQ(sub.sink().wakes, 1);

  for (int wakes = 1; wakes < 10 && got.size() < 1001; ++wakes) {
    ASSERT_EQ(sub.sink().wakes, wakes);
    b.resume(sub.id(), t0);
    const auto more = sub.received_of<p::Publish>();
    EXPECT_LE(more.size(), 256u);
    got.insert(got.end(), more.begin(), more.end());
  }
  ASSERT_EQ(got.size(), 1001u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i].payload, std::to_string(i));
  EXPECT_EQ(got.back().payload, "new");
  EXPECT_EQ(sub.sink().wakes, 3);  // 1,001 = 256 + 256 + 256 + 233: the last call empties the queue
  b.resume(sub.id(), t0);          // not woken: nothing
  EXPECT_TRUE(sub.received_of<p::Publish>().empty());
}

TEST(BrokerSession, CleanStartDiscardsTheOldSession) {  // [MQTT-3.1.2-4]
  Broker b(anonymous());
  leave_offline_session(b, p::Version::v311, "c", "t");
  TestClient c(b, p::Version::v311, t0);
  EXPECT_FALSE(c.connect("c", true, t0).session_present);
  EXPECT_EQ(b.stats().subscriptions, 0u);
}

TEST(BrokerSession, SessionExpiresAfterItsInterval) {
  Broker b(anonymous());
  leave_offline_session(b, p::Version::v5, "c", "t", p::Properties{.session_expiry_interval = 10});
  EXPECT_EQ(b.tick(t0 + 5s), t0 + 10s);
  EXPECT_EQ(b.stats().sessions, 1u);
  b.tick(t0 + 10s);
  EXPECT_EQ(b.stats().sessions, 0u);
  TestClient c(b, p::Version::v5, t0 + 11s);
  EXPECT_FALSE(c.connect("c", false, t0 + 11s).session_present);
}

TEST(BrokerSession, DisconnectCannotSetExpiryWhenConnectHadZero) {  // [MQTT-3.14.2-2]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0);
  c.send(p::Disconnect{.properties = p::Properties{.session_expiry_interval = 30}}, t0);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::protocol_error);
}

TEST(BrokerSession, DisconnectChangesExpiry) {
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0, p::Properties{.session_expiry_interval = 100});
  c.send(p::Disconnect{.properties = p::Properties{.session_expiry_interval = 0}}, t0);
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(b.stats().sessions, 0u);
}

TEST(BrokerKeepAlive, ClosesAfterOneAndAHalfIntervals) {  // [MQTT-3.1.2-24]
  Broker b(anonymous());
  Watcher watcher(b, p::Version::v311, "will", 0);

  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0, {}, p::Will{.topic = "will", .payload = "gone"}, 10);
  EXPECT_EQ(b.tick(t0 + 14s), t0 + 15s);
  EXPECT_FALSE(c.closed());
  c.send(p::Pingreq{}, t0 + 14s);  // activity moves the deadline
  EXPECT_EQ(c.received_of<p::Pingresp>().size(), 1u);
  b.tick(t0 + 28s);
  EXPECT_FALSE(c.closed());
  b.tick(t0 + 29s);
  EXPECT_TRUE(c.closed());
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::keep_alive_timeout);
  EXPECT_EQ(watcher.one_will().payload, "gone");
}

TEST(BrokerWill, NotPublishedOnNormalDisconnect) {  // [MQTT-3.1.2-10]
  Broker b(anonymous());
  Watcher watcher(b, p::Version::v311, "will");
  TestClient c(b, p::Version::v311, t0);
  c.connect("c", true, t0, {}, p::Will{.topic = "will", .payload = "x"});
  c.send(p::Disconnect{}, t0);
  c.drop(t0);
  EXPECT_TRUE(watcher.received_of<p::Publish>().empty());
}

TEST(BrokerWill, DisconnectWithWillPublishesIt) {
  Broker b(anonymous());
  Watcher watcher(b, p::Version::v5, "will");
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0, {}, p::Will{.topic = "will", .payload = "x"});
  c.send(p::Disconnect{.reason_code = p::ReasonCode::disconnect_with_will}, t0);
  EXPECT_EQ(watcher.received_of<p::Publish>().size(), 1u);
}

TEST(BrokerWill, DelayedUntilTheEarlierOfDelayAndSessionExpiry) {
  Broker b(anonymous());
  Watcher watcher(b, p::Version::v5, "will/#");

  TestClient slow(b, p::Version::v5, t0);  // will delay 5 s, session lives 100 s: the will goes at 5 s
  slow.connect("slow", true, t0, p::Properties{.session_expiry_interval = 100},
               p::Will{.topic = "will/slow", .properties = p::Properties{.will_delay_interval = 5}});
  TestClient quick(b, p::Version::v5, t0);  // will delay 50 s, session lives 3 s: the will goes at 3 s
  quick.connect("quick", true, t0, p::Properties{.session_expiry_interval = 3},
                p::Will{.topic = "will/quick", .properties = p::Properties{.will_delay_interval = 50}});
  slow.drop(t0);
  quick.drop(t0);

  b.tick(t0 + 2s);
  EXPECT_TRUE(watcher.received_of<p::Publish>().empty());
  b.tick(t0 + 3s);
  EXPECT_EQ(watcher.one_will().topic, "will/quick");
  b.tick(t0 + 5s);
  EXPECT_EQ(watcher.one_will().topic, "will/slow");
}

TEST(BrokerWill, ReconnectWithinTheDelayCancelsIt) {  // [MQTT-3.1.3-9]
  Broker b(anonymous());
  Watcher watcher(b, p::Version::v5, "will");
  {
    TestClient c(b, p::Version::v5, t0);
    c.connect("c", true, t0, p::Properties{.session_expiry_interval = 100},
              p::Will{.topic = "will", .properties = p::Properties{.will_delay_interval = 5}});
    c.drop(t0);
  }
  TestClient c(b, p::Version::v5, t0 + 2s);
  EXPECT_TRUE(c.connect("c", false, t0 + 2s, p::Properties{.session_expiry_interval = 100}).session_present);
  b.tick(t0 + 10s);
  EXPECT_TRUE(watcher.received_of<p::Publish>().empty());
}

TEST(BrokerConnect, NoConnectWithinTheTimeoutCloses) {
  Broker b(anonymous());
  TestClient c(b, p::Version::v311, t0);
  b.tick(t0 + 5s);
  EXPECT_FALSE(c.closed());
  b.tick(t0 + 11s);
  EXPECT_TRUE(c.closed());
}

}  // namespace
}  // namespace tern::core::testing
