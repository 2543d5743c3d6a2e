// The broker state machine, driven without sockets: QoS flows, routing, retained messages, flow control and the
// 5.0 delivery properties.
#include "broker/core/broker.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

struct Pair {
  explicit Pair(Broker& b, p::Version v = p::Version::v311, p::Properties sub_props = {})
      : pub(b, v, t0), sub(b, v, t0) {
    pub.connect("pub", true, t0);
    sub.connect("sub", true, t0, std::move(sub_props));
  }
  TestClient pub;
  TestClient sub;
};

TEST(BrokerQos, Qos1IsAcknowledgedAndDelivered) {
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("a/+", p::QoS::at_least_once, t0);
  EXPECT_EQ(x.sub.received_of<p::Suback>().at(0).reason_codes.at(0), p::ReasonCode::granted_qos1);
  x.pub.publish("a/b", "hello", p::QoS::at_least_once, t0);
  auto acks = x.pub.received_of<p::Puback>();
  ASSERT_EQ(acks.size(), 1u);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "hello");
  EXPECT_EQ(msgs[0].qos, p::QoS::at_least_once);
  EXPECT_NE(msgs[0].packet_id, 0);
}

TEST(BrokerQos, DowngradedToGrantedQos) {
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("t", p::QoS::at_most_once, t0);
  x.pub.publish("t", "m", p::QoS::exactly_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].qos, p::QoS::at_most_once);
}

// upgrade_outgoing_qos (mosquitto's option against MQTT's rule): the subscription's QoS, for live and retained
// messages.
TEST(BrokerQos, UpgradeOutgoingQos) {
  BrokerOptions o = anonymous();
  o.upgrade_outgoing_qos = true;
  Broker b(o);
  Pair x(b);
  x.pub.publish("kept", "r", p::QoS::at_most_once, t0, true);
  x.sub.subscribe("#", p::QoS::at_least_once, t0);
  x.pub.publish("t", "m", p::QoS::at_most_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].topic, "kept");
  EXPECT_EQ(msgs[0].qos, p::QoS::at_least_once);
  EXPECT_EQ(msgs[1].qos, p::QoS::at_least_once);
  EXPECT_NE(msgs[1].packet_id, 0);
}

// message_size_limit: a larger payload is not accepted; its QoS flow completes (5.0 says why: 0x83).
TEST(BrokerQos, MessageSizeLimit) {
  for (const p::Version v : {p::Version::v311, p::Version::v5}) {
    BrokerOptions o = anonymous();
    o.message_size_limit = 4;
    Broker b(o);
    Pair x(b, v);
    x.sub.subscribe("t", p::QoS::exactly_once, t0);
    x.sub.received();
    x.pub.publish("t", "12345", p::QoS::at_least_once, t0);
    const auto acks = x.pub.received_of<p::Puback>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].reason_code,
              v == p::Version::v5 ? p::ReasonCode::implementation_specific_error : p::ReasonCode::success);
    x.pub.send(p::Publish{.topic = "t", .payload = "123456", .qos = p::QoS::exactly_once, .packet_id = 9}, t0);
    const auto recs = x.pub.received_of<p::Pubrec>();
    ASSERT_EQ(recs.size(), 1u);
    if (v == p::Version::v311) {  // the exchange goes on to PUBCOMP, with nothing delivered
      x.pub.send(p::Pubrel{.packet_id = 9}, t0);
      const auto comps = x.pub.received_of<p::Pubcomp>();
      ASSERT_EQ(comps.size(), 1u);
      EXPECT_EQ(comps[0].reason_code, p::ReasonCode::success);
    } else {
      EXPECT_EQ(recs[0].reason_code, p::ReasonCode::implementation_specific_error);
    }
    EXPECT_TRUE(x.sub.received_of<p::Publish>().empty());
    x.pub.publish("t", "1234", p::QoS::at_least_once, t0);  // at the limit: delivered
    EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 1u);
  }
}

TEST(BrokerQos, IncomingQos2DeliversOnceAcrossResends) {  // [MQTT-4.3.3-9]
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("t", p::QoS::exactly_once, t0);
  x.sub.received();
  p::Publish pub{.topic = "t", .payload = "once", .qos = p::QoS::exactly_once, .packet_id = 7};
  x.pub.send(pub, t0);
  pub.dup = true;
  x.pub.send(pub, t0);
  auto recs = x.pub.received_of<p::Pubrec>();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].packet_id, 7);
  x.pub.send(p::Pubrel{.packet_id = 7}, t0);
  auto comps = x.pub.received_of<p::Pubcomp>();
  ASSERT_EQ(comps.size(), 1u);
  EXPECT_EQ(comps[0].packet_id, 7);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 1u);
  // After PUBREL the id is free: the same id is a new message.
  pub.dup = false;
  x.pub.send(pub, t0);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 1u);
}

TEST(BrokerQos, OutgoingQos2Handshake) {
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("t", p::QoS::exactly_once, t0);
  x.sub.received();
  x.pub.publish("t", "m", p::QoS::exactly_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  x.sub.send(p::Pubrec{.packet_id = msgs[0].packet_id}, t0);
  auto rels = x.sub.received_of<p::Pubrel>();
  ASSERT_EQ(rels.size(), 1u);
  EXPECT_EQ(rels[0].packet_id, msgs[0].packet_id);
  x.sub.send(p::Pubcomp{.packet_id = msgs[0].packet_id}, t0);
  EXPECT_TRUE(x.sub.received().empty());
}

TEST(BrokerOutput, OneSendPerConnectionPerBatch) {
  // Cost model (DESIGN.md): a read of many PUBLISHes must not become one write per message per subscriber.
  Broker b(anonymous());
  Pair x(b);
  TestClient other(b, p::Version::v5, t0);
  other.connect("other", true, t0);
  x.sub.subscribe("t/#", p::QoS::at_least_once, t0);
  other.subscribe("t/#", p::QoS::at_most_once, t0);
  x.sub.received();
  other.received();
  x.sub.sink().sends = other.sink().sends = x.pub.sink().sends = 0;

  std::vector<p::Packet> batch;
  for (std::uint16_t i = 1; i <= 50; ++i)
    batch.push_back(
        p::Publish{.topic = "t/x", .payload = std::to_string(i), .qos = p::QoS::at_least_once, .packet_id = i});
  b.on_packets(x.pub.id(), batch, t0);

  EXPECT_EQ(x.sub.sink().sends, 1);
  EXPECT_EQ(other.sink().sends, 1);
  EXPECT_EQ(x.pub.sink().sends, 1);  // the 50 PUBACKs
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 20u);  // the in-flight window (max_inflight_messages 20); the rest is queued
  EXPECT_EQ(msgs.front().payload, "1");
  EXPECT_EQ(other.received_of<p::Publish>().size(), 50u);
  EXPECT_EQ(x.pub.received_of<p::Puback>().size(), 50u);
}

TEST(BrokerRouting, DollarTopicsNotMatchedByLeadingWildcards) {  // [MQTT-4.7.2-1]
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("#", p::QoS::at_most_once, t0);
  x.sub.subscribe("+/x", p::QoS::at_most_once, t0);
  x.sub.received();
  x.pub.publish("$SYS/x", "m", p::QoS::at_most_once, t0);
  EXPECT_TRUE(x.sub.received_of<p::Publish>().empty());
  x.pub.publish("a/x", "m", p::QoS::at_most_once, t0);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 1u);  // one copy for two matching filters
}

TEST(BrokerRouting, Overlapping311OneCopyAtHighestQos) {
  Broker b(anonymous());
  Pair x(b);
  x.sub.subscribe("a/#", p::QoS::at_most_once, t0);
  x.sub.subscribe("a/+", p::QoS::exactly_once, t0);
  x.sub.received();
  x.pub.publish("a/b", "m", p::QoS::exactly_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].qos, p::QoS::exactly_once);
}

TEST(BrokerRouting, Overlapping5CarriesEverySubscriptionId) {  // [MQTT-3.3.4-3], [MQTT-3.3.4-5]
  Broker b(anonymous());
  Pair x(b, p::Version::v5);
  x.sub.subscribe("a/#", p::QoS::at_least_once, t0, 11);
  x.sub.subscribe("a/+", p::QoS::at_most_once, t0, 22);
  x.sub.received();
  x.pub.publish("a/b", "m", p::QoS::at_least_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].qos, p::QoS::at_least_once);
  auto ids = msgs[0].properties.subscription_identifiers;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{11, 22}));
}

// One message to subscribers whose PUBLISH differs (version, RETAIN as published, a subscription identifier, a
// topic alias, a Maximum Packet Size, a mount point) and to several whose PUBLISH is the same: route() encodes the
// shared bytes once, and each subscriber still gets exactly its own packet.
TEST(BrokerRouting, EachSubscriberGetsItsOwnPacketWhenOthersShareTheirBytes) {
  Broker b(anonymous());
  TestClient pub(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  TestClient v311(b, p::Version::v311, t0), v311_too(b, p::Version::v311, t0), v31(b, p::Version::v31, t0);
  TestClient v5(b, p::Version::v5, t0), v5_too(b, p::Version::v5, t0), with_id(b, p::Version::v5, t0);
  TestClient aliases(b, p::Version::v5, t0), as_published(b, p::Version::v5, t0), small(b, p::Version::v5, t0);
  TestClient mounted(b, p::Version::v311, t0, "m/");
  p::Properties alias_props;
  alias_props.topic_alias_maximum = 5;
  p::Properties small_props;
  small_props.maximum_packet_size = 20;
  v311.connect("v311", true, t0);
  v311_too.connect("v311_too", true, t0);
  v31.connect("v31", true, t0);
  v5.connect("v5", true, t0);
  v5_too.connect("v5_too", true, t0);
  with_id.connect("with_id", true, t0);
  aliases.connect("aliases", true, t0, alias_props);
  as_published.connect("as_published", true, t0);
  small.connect("small", true, t0, small_props);
  mounted.connect("mounted", true, t0);
  for (TestClient* c : {&v311, &v311_too, &v31, &v5, &v5_too, &aliases, &small})
    c->subscribe("m/t/#", p::QoS::at_most_once, t0);
  with_id.subscribe("m/t/#", p::QoS::at_most_once, t0, 7);
  as_published.subscribe("m/t/#", p::QoS::at_most_once, t0, 0, p::Subscription{.retain_as_published = true});
  mounted.subscribe("t/#", p::QoS::at_most_once, t0);
  for (TestClient* c : {&v311, &v311_too, &v31, &v5, &v5_too, &with_id, &aliases, &as_published, &small, &mounted})
    c->received();

  p::Properties props;
  props.message_expiry_interval = 100;
  props.user_properties = {{"k", "v"}};
  for (int round = 0; round < 2; ++round) {
    const std::string payload = "payload " + std::to_string(round);
    pub.publish("m/t/x", payload, p::QoS::at_least_once, t0 + std::chrono::seconds(round), true, props);
    pub.received();
    const auto expect = [&](TestClient& c, std::string_view topic, bool retain, std::uint32_t expiry,
                            std::vector<std::uint32_t> ids, std::optional<std::uint16_t> alias, const char* who) {
      const auto got = c.received_of<p::Publish>();
      ASSERT_EQ(got.size(), 1u) << who << " round " << round;
      EXPECT_EQ(got[0].topic, topic) << who << " round " << round;
      EXPECT_EQ(got[0].payload, payload) << who;
      EXPECT_EQ(got[0].qos, p::QoS::at_most_once) << who;
      EXPECT_EQ(got[0].retain, retain) << who;
      EXPECT_EQ(got[0].packet_id, 0) << who;
      if (expiry == 0) return;  // 3.1.1 and 3.1: no properties
      EXPECT_EQ(got[0].properties.message_expiry_interval, expiry) << who;
      EXPECT_EQ(got[0].properties.user_properties, props.user_properties) << who;
      EXPECT_EQ(got[0].properties.subscription_identifiers, ids) << who;
      EXPECT_EQ(got[0].properties.topic_alias, alias) << who << " round " << round;
    };
    const std::uint32_t expiry = 100;  // delivered at once: none of it has passed [MQTT-3.3.2-6]
    expect(v311, "m/t/x", false, 0, {}, {}, "v311");
    expect(v311_too, "m/t/x", false, 0, {}, {}, "v311_too");
    expect(v31, "m/t/x", false, 0, {}, {}, "v31");
    expect(v5, "m/t/x", false, expiry, {}, {}, "v5");
    expect(v5_too, "m/t/x", false, expiry, {}, {}, "v5_too");
    expect(with_id, "m/t/x", false, expiry, {7}, {}, "with_id");
    // The alias is set with the topic the first time and replaces it after [MQTT-3.3.2-7..].
    expect(aliases, round == 0 ? "m/t/x" : "", false, expiry, {}, std::uint16_t{1}, "aliases");
    expect(as_published, "m/t/x", true, expiry, {}, {}, "as_published");
    expect(mounted, "t/x", false, 0, {}, {}, "mounted");
    EXPECT_TRUE(small.received_of<p::Publish>().empty()) << "larger than its Maximum Packet Size [MQTT-3.1.2-25]";
  }
}

TEST(BrokerRouting, NoLocal) {  // [MQTT-3.8.3-3]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0);
  c.subscribe("t", p::QoS::at_most_once, t0, 0, p::Subscription{.no_local = true});
  c.subscribe("u", p::QoS::at_most_once, t0);
  c.received();
  c.publish("t", "m", p::QoS::at_most_once, t0);
  c.publish("u", "m", p::QoS::at_most_once, t0);
  auto msgs = c.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].topic, "u");
}

TEST(BrokerRouting, SharedSubscriptionGoesToOneMember) {
  Broker b(anonymous());
  TestClient pub(b, p::Version::v5, t0), m1(b, p::Version::v5, t0), m2(b, p::Version::v5, t0),
      plain(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  m1.connect("m1", true, t0);
  m2.connect("m2", true, t0);
  plain.connect("plain", true, t0);
  m1.subscribe("$share/g/s/#", p::QoS::at_most_once, t0);
  m2.subscribe("$share/g/s/#", p::QoS::at_most_once, t0);
  plain.subscribe("s/#", p::QoS::at_most_once, t0);
  for (int i = 0; i < 10; ++i) pub.publish("s/x", std::to_string(i), p::QoS::at_most_once, t0);
  const auto n1 = m1.received_of<p::Publish>().size(), n2 = m2.received_of<p::Publish>().size();
  EXPECT_EQ(n1 + n2, 10u);
  EXPECT_EQ(n1, 5u);  // round robin
  EXPECT_EQ(plain.received_of<p::Publish>().size(), 10u);
}

TEST(BrokerRetained, SetReplaceClearAndDeliverOnSubscribe) {  // [MQTT-3.3.1-5..8]
  Broker b(anonymous());
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  pub.publish("r/1", "old", p::QoS::at_most_once, t0, true);
  pub.publish("r/1", "new", p::QoS::at_most_once, t0, true);
  pub.publish("r/2", "gone", p::QoS::at_most_once, t0, true);
  pub.publish("r/2", "", p::QoS::at_most_once, t0, true);
  TestClient sub(b, p::Version::v311, t0);
  sub.connect("sub", true, t0);
  sub.subscribe("r/#", p::QoS::at_least_once, t0);
  auto packets = sub.received();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<p::Suback>(packets[0]));  // SUBACK before the retained messages
  auto& m = std::get<p::Publish>(packets[1]);
  EXPECT_EQ(m.payload, "new");
  EXPECT_TRUE(m.retain);
  EXPECT_EQ(m.qos, p::QoS::at_most_once);
  // A live message is sent without RETAIN to an existing subscription (3.1.1) [MQTT-3.3.1-9].
  pub.publish("r/1", "live", p::QoS::at_most_once, t0, true);
  auto live = sub.received_of<p::Publish>();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_FALSE(live[0].retain);
}

TEST(BrokerRetained, RetainHandlingAndRetainAsPublished) {
  Broker b(anonymous());
  TestClient pub(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  pub.publish("r", "x", p::QoS::at_most_once, t0, true);
  TestClient sub(b, p::Version::v5, t0);
  sub.connect("sub", true, t0);
  sub.subscribe("r", p::QoS::at_most_once, t0, 0, p::Subscription{.retain_handling = 1});
  EXPECT_EQ(sub.received_of<p::Publish>().size(), 1u);
  sub.subscribe("r", p::QoS::at_most_once, t0, 0, p::Subscription{.retain_handling = 1});
  EXPECT_TRUE(sub.received_of<p::Publish>().empty());  // not new: nothing sent
  sub.subscribe("r", p::QoS::at_most_once, t0, 0, p::Subscription{.retain_handling = 2});
  EXPECT_TRUE(sub.received_of<p::Publish>().empty());
  sub.subscribe("r", p::QoS::at_most_once, t0, 0, p::Subscription{.retain_as_published = true, .retain_handling = 2});
  sub.received();
  pub.publish("r", "y", p::QoS::at_most_once, t0, true);
  auto live = sub.received_of<p::Publish>();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_TRUE(live[0].retain);
}

TEST(BrokerFlow, NeverMoreInFlightThanTheClientsReceiveMaximum) {  // [MQTT-3.3.4-7]
  Broker b(anonymous());
  Pair x(b, p::Version::v5, p::Properties{.receive_maximum = 2});
  x.sub.subscribe("t", p::QoS::at_least_once, t0);
  x.sub.received();
  for (int i = 0; i < 5; ++i) x.pub.publish("t", std::to_string(i), p::QoS::at_least_once, t0);
  auto first = x.sub.received_of<p::Publish>();
  ASSERT_EQ(first.size(), 2u);
  x.sub.send(p::Puback{.packet_id = first[0].packet_id}, t0);
  auto next = x.sub.received_of<p::Publish>();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload, "2");  // in order
}

// max_inflight_bytes: a PUBLISH goes out while the payload bytes in flight are below the limit (mosquitto's rule: the
// check is made before a message goes, so the last one may pass the limit); the rest waits queued and follows, in
// order, as acknowledgements free bytes.
TEST(BrokerFlow, InflightBytesBoundTheWindow) {
  BrokerOptions o = anonymous();
  o.max_inflight_bytes = 100;
  Broker b(o);
  Pair x(b);
  x.sub.subscribe("t", p::QoS::at_least_once, t0);
  x.sub.received();
  for (int i = 0; i < 6; ++i)
    x.pub.publish("t", std::string(40, static_cast<char>('a' + i)), p::QoS::at_least_once, t0);
  auto first = x.sub.received_of<p::Publish>();
  ASSERT_EQ(first.size(), 3u);  // 0, 40, 80 bytes in flight before each: 120 after the third
  EXPECT_EQ(first[2].payload[0], 'c');
  x.sub.send(p::Puback{.packet_id = first[0].packet_id}, t0);  // 80 left: room for one more
  auto next = x.sub.received_of<p::Publish>();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload[0], 'd');
  x.sub.send(p::Puback{.packet_id = first[1].packet_id}, t0);
  x.sub.send(p::Puback{.packet_id = first[2].packet_id}, t0);  // 40 left: two more (40, then 80, before each)
  auto last = x.sub.received_of<p::Publish>();
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].payload[0], 'e');
  EXPECT_EQ(last[1].payload[0], 'f');
  EXPECT_EQ(b.stats().queued_messages, 0u);
}

// A message larger than the limit still goes, alone; a QoS 2 one counts until its PUBCOMP, as in mosquitto.
TEST(BrokerFlow, InflightBytesLargeMessageGoesAloneQos2UntilPubcomp) {
  BrokerOptions o = anonymous();
  o.max_inflight_bytes = 10;
  Broker b(o);
  Pair x(b, p::Version::v5);
  x.sub.subscribe("t", p::QoS::exactly_once, t0);
  x.sub.received();
  x.pub.publish("t", std::string(50, 'a'), p::QoS::exactly_once, t0);
  x.pub.publish("t", "b", p::QoS::exactly_once, t0);
  auto first = x.sub.received_of<p::Publish>();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].payload.size(), 50u);
  x.sub.send(p::Pubrec{.packet_id = first[0].packet_id}, t0);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 0u);  // PUBREL phase: still counted
  x.sub.send(p::Pubcomp{.packet_id = first[0].packet_id}, t0);
  auto next = x.sub.received_of<p::Publish>();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].payload, "b");
}

// The byte limit and the count (here the client's Receive Maximum): whichever is reached first closes the window.
TEST(BrokerFlow, InflightBytesAndCountWhicheverFirst) {
  BrokerOptions o = anonymous();
  o.max_inflight_bytes = 1000;
  Broker b(o);
  Pair x(b, p::Version::v5, p::Properties{.receive_maximum = 2});
  x.sub.subscribe("t", p::QoS::at_least_once, t0);
  x.sub.received();
  for (int i = 0; i < 4; ++i) x.pub.publish("t", "small", p::QoS::at_least_once, t0);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 2u);  // the count, long before the bytes
}

TEST(BrokerFlow, ClientExceedingTernsReceiveMaximumIsDisconnected) {  // [MQTT-3.3.4-9]
  BrokerOptions o = anonymous();
  o.max_inflight_messages = 2;
  Broker b(o);
  TestClient c(b, p::Version::v5, t0);
  EXPECT_EQ(c.connect("c", true, t0).properties.receive_maximum, 2);
  for (int i = 0; i < 3; ++i) c.publish("t", "m", p::QoS::exactly_once, t0);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::receive_maximum_exceeded);
}

TEST(BrokerFlow, QueueLimitDropsTheNewest) {
  BrokerOptions o = anonymous();
  o.max_queued_messages = 3;
  Broker b(o);
  {
    TestClient sub(b, p::Version::v311, t0);
    sub.connect("sub", false, t0);
    sub.subscribe("t", p::QoS::at_least_once, t0);
    sub.drop(t0);
  }
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  for (int i = 0; i < 10; ++i) pub.publish("t", std::to_string(i), p::QoS::at_least_once, t0);
  TestClient sub(b, p::Version::v311, t0);
  sub.connect("sub", false, t0);
  auto msgs = sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[2].payload, "2");
  EXPECT_EQ(b.stats().messages_dropped, 7u);
}

TEST(BrokerFlow, MessagesTooLargeForTheClientAreDroppedForIt) {  // [MQTT-3.1.2-25]
  Broker b(anonymous());
  Pair x(b, p::Version::v5, p::Properties{.maximum_packet_size = 64});
  x.sub.subscribe("t", p::QoS::at_least_once, t0);
  x.sub.received();
  x.pub.publish("t", std::string(100, 'x'), p::QoS::at_least_once, t0);
  x.pub.publish("t", "small", p::QoS::at_least_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "small");
}

TEST(BrokerExpiry, CountsDownWhileQueued) {  // [MQTT-3.3.2-5], [MQTT-3.3.2-6]
  Broker b(anonymous());
  {
    TestClient sub(b, p::Version::v5, t0);
    sub.connect("sub", false, t0, p::Properties{.session_expiry_interval = 100});
    sub.subscribe("t", p::QoS::at_least_once, t0);
    sub.drop(t0);
  }
  TestClient pub(b, p::Version::v5, t0);
  pub.connect("pub", true, t0);
  pub.publish("t", "long", p::QoS::at_least_once, t0, false, p::Properties{.message_expiry_interval = 10});
  pub.publish("t", "short", p::QoS::at_least_once, t0, false, p::Properties{.message_expiry_interval = 2});
  TestClient sub(b, p::Version::v5, t0 + 4s);
  sub.connect("sub", false, t0 + 4s, p::Properties{.session_expiry_interval = 100});
  auto msgs = sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].payload, "long");
  EXPECT_EQ(msgs[0].properties.message_expiry_interval, 6u);
}

TEST(BrokerAlias, OutgoingAliasesReplaceTheTopic) {
  Broker b(anonymous());
  Pair x(b, p::Version::v5, p::Properties{.topic_alias_maximum = 5});
  x.sub.subscribe("t/#", p::QoS::at_most_once, t0);
  x.sub.received();
  x.pub.publish("t/long/topic", "1", p::QoS::at_most_once, t0);
  x.pub.publish("t/long/topic", "2", p::QoS::at_most_once, t0);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].topic, "t/long/topic");
  ASSERT_TRUE(msgs[0].properties.topic_alias);
  EXPECT_TRUE(msgs[1].topic.empty());
  EXPECT_EQ(msgs[1].properties.topic_alias, msgs[0].properties.topic_alias);
}

TEST(BrokerAlias, IncomingAliasesAndInvalidOnes) {  // [MQTT-3.3.2-8]
  Broker b(anonymous());
  Pair x(b, p::Version::v5);
  x.sub.subscribe("t", p::QoS::at_most_once, t0);
  x.sub.received();
  x.pub.publish("t", "1", p::QoS::at_most_once, t0, false, p::Properties{.topic_alias = 1});
  x.pub.publish("", "2", p::QoS::at_most_once, t0, false, p::Properties{.topic_alias = 1});
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 2u);
  x.pub.publish("t", "3", p::QoS::at_most_once, t0, false, p::Properties{.topic_alias = 0});
  auto d = x.pub.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::topic_alias_invalid);
}

TEST(BrokerProperties, ForwardedUnchanged) {  // [MQTT-3.3.2-15..20]
  Broker b(anonymous());
  Pair x(b, p::Version::v5);
  x.sub.subscribe("t", p::QoS::at_most_once, t0);
  x.sub.received();
  p::Properties props{.payload_format_indicator = 1,
                      .content_type = "text/plain",
                      .response_topic = "reply",
                      .correlation_data = std::string("\x00\x01", 2),
                      .user_properties = {{"k", "v"}, {"k", "w"}}};
  x.pub.publish("t", "m", p::QoS::at_most_once, t0, false, props);
  auto msgs = x.sub.received_of<p::Publish>();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].properties, props);
}

TEST(BrokerMalformed, WildcardInPublishTopic) {  // [MQTT-3.3.2-2]
  Broker b(anonymous());
  Pair x(b, p::Version::v5);
  x.pub.publish("a/+", "m", p::QoS::at_most_once, t0);
  auto d = x.pub.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::topic_name_invalid);
  EXPECT_FALSE(x.sub.closed());
}

TEST(BrokerMalformed, ReasonStringDroppedToFitTheClientsMaximumPacketSize) {  // [MQTT-3.1.2-24], [MQTT-3.14.2-3]
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0, p::Properties{.maximum_packet_size = 16});
  c.publish("", "m", p::QoS::at_most_once, t0);  // empty topic without an alias: protocol error
  EXPECT_LE(c.sink().bytes_.size(), 16u);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::protocol_error);
  EXPECT_FALSE(d[0].properties.reason_string);
}

TEST(BrokerMalformed, DecodeErrorDisconnectsWithItsReason) {
  Broker b(anonymous());
  TestClient c(b, p::Version::v5, t0);
  c.connect("c", true, t0);
  b.on_decode_error(c.id(), p::ReasonCode::packet_too_large, t0);
  auto d = c.received_of<p::Disconnect>();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason_code, p::ReasonCode::packet_too_large);
  EXPECT_TRUE(c.closed());
}

}  // namespace
}  // namespace tern::core::testing
