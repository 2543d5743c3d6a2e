// memory_limit in the broker core, without sockets: the heap figure comes in through Broker::set_heap_in_use(), as
// the network layer's ticker hands it. Over the limit: QoS 1/2 PUBLISHes refused (5.0: 0x97; 3.1.1: no
// acknowledgement, not routed), QoS 0 dropped and counted, new connections refused (0x88 / 3); back to normal under
// 95 % of the limit.
#include "broker/core/broker.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

constexpr std::uint64_t limit = 1'000'000;

BrokerOptions limited() {
  BrokerOptions o;
  o.allow_anonymous = true;
  o.memory_limit = limit;
  return o;
}

struct Limited {
  explicit Limited(p::Version v) : b(limited()), pub(b, v, t0), sub(b, v, t0) {
    pub.connect("pub", false, t0);
    sub.connect("sub", true, t0);
    sub.subscribe("t", p::QoS::exactly_once, t0);
    sub.received();
  }
  Broker b;
  TestClient pub;
  TestClient sub;
};

std::uint64_t dropped_for_memory(const Broker& b) {
  return b.stats().dropped[static_cast<unsigned>(DropReason::memory_limit)];
}

TEST(BrokerMemoryLimit, Over5RefusesWithQuotaExceeded) {
  Limited x(p::Version::v5);
  x.b.set_heap_in_use(limit + 1);
  x.pub.publish("t", "q1", p::QoS::at_least_once, t0);
  x.pub.publish("t", "q2", p::QoS::exactly_once, t0);
  x.pub.publish("t", "q0", p::QoS::at_most_once, t0);
  const auto out = x.pub.received();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(std::get<p::Puback>(out[0]).reason_code, p::ReasonCode::quota_exceeded);
  const auto rec = std::get<p::Pubrec>(out[1]);
  EXPECT_EQ(rec.reason_code, p::ReasonCode::quota_exceeded);
  x.pub.send(p::Pubrel{.packet_id = rec.packet_id}, t0);  // the exchange ended at the PUBREC: nothing awaits it
  EXPECT_EQ(x.pub.received_of<p::Pubcomp>().at(0).reason_code, p::ReasonCode::packet_identifier_not_found);
  EXPECT_TRUE(x.sub.received().empty());
  EXPECT_EQ(dropped_for_memory(x.b), 1u);
  EXPECT_EQ(x.b.stats().messages_received, 0u);

  TestClient late(x.b, p::Version::v5, t0);
  EXPECT_EQ(late.connect("late", true, t0).reason_code, p::ReasonCode::server_unavailable);
  EXPECT_TRUE(late.closed());
}

// 3.1.1 cannot say why: no acknowledgement at all, nothing routed, so the client keeps the message and sends it
// again (here on reconnection, with DUP) once the broker is back under the limit; the CONNACK says 3.
TEST(BrokerMemoryLimit, Over311NotAcknowledgedThenResent) {
  Limited x(p::Version::v311);
  x.b.set_heap_in_use(limit + 1);
  p::Publish q1{.topic = "t", .payload = "q1", .qos = p::QoS::at_least_once, .packet_id = 41};
  p::Publish q2{.topic = "t", .payload = "q2", .qos = p::QoS::exactly_once, .packet_id = 42};
  x.pub.send(q1, t0);
  x.pub.send(q2, t0);
  x.pub.publish("t", "q0", p::QoS::at_most_once, t0);
  EXPECT_TRUE(x.pub.received().empty());
  EXPECT_TRUE(x.sub.received().empty());
  EXPECT_EQ(dropped_for_memory(x.b), 1u);
  {
    TestClient late(x.b, p::Version::v311, t0);
    EXPECT_EQ(static_cast<int>(late.connect("late", true, t0).reason_code), 3);
  }

  x.b.set_heap_in_use(limit / 2);
  x.pub.drop(t0);
  TestClient again(x.b, p::Version::v311, t0);
  EXPECT_TRUE(again.connect("pub", false, t0).session_present);
  q1.dup = true;
  q2.dup = true;
  again.send(q1, t0);
  again.send(q2, t0);
  const auto acks = again.received();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(std::get<p::Puback>(acks[0]).packet_id, 41);
  EXPECT_EQ(std::get<p::Pubrec>(acks[1]).packet_id, 42);
  again.send(p::Pubrel{.packet_id = 42}, t0);
  EXPECT_EQ(again.received_of<p::Pubcomp>().size(), 1u);
  auto got = x.sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "q1");
  EXPECT_EQ(got[1].payload, "q2");
}

// A QoS 2 PUBLISH sent again before its PUBREL was accepted before the limit was crossed: it is acknowledged again,
// and the exchange completes.
TEST(BrokerMemoryLimit, QoS2AcceptedBeforeCompletesWhileOver) {
  Limited x(p::Version::v5);
  p::Publish q2{.topic = "t", .payload = "q2", .qos = p::QoS::exactly_once, .packet_id = 7};
  x.pub.send(q2, t0);
  EXPECT_EQ(x.pub.received_of<p::Pubrec>().at(0).reason_code, p::ReasonCode::success);
  x.b.set_heap_in_use(limit + 1);
  q2.dup = true;
  x.pub.send(q2, t0);
  EXPECT_EQ(x.pub.received_of<p::Pubrec>().at(0).reason_code, p::ReasonCode::success);
  x.pub.send(p::Pubrel{.packet_id = 7}, t0);
  EXPECT_EQ(x.pub.received_of<p::Pubcomp>().at(0).reason_code, p::ReasonCode::success);
  EXPECT_EQ(x.sub.received_of<p::Publish>().size(), 1u);  // once
}

// Back to normal only under 95 % of the limit, so that a heap hovering at the limit does not flap.
TEST(BrokerMemoryLimit, BackUnderNinetyFivePercent) {
  Limited x(p::Version::v5);
  x.b.set_heap_in_use(limit);  // at the limit is not over it
  x.pub.publish("t", "a", p::QoS::at_least_once, t0);
  EXPECT_EQ(x.pub.received_of<p::Puback>().at(0).reason_code, p::ReasonCode::success);
  x.b.set_heap_in_use(limit + 1);
  x.b.set_heap_in_use(limit - limit / 20);  // 95 %: still refusing
  x.pub.publish("t", "b", p::QoS::at_least_once, t0);
  EXPECT_EQ(x.pub.received_of<p::Puback>().at(0).reason_code, p::ReasonCode::quota_exceeded);
  x.b.set_heap_in_use(limit - limit / 20 - 1);
  x.pub.publish("t", "c", p::QoS::at_least_once, t0);
  EXPECT_EQ(x.pub.received_of<p::Puback>().at(0).reason_code, p::ReasonCode::success);
  TestClient late(x.b, p::Version::v5, t0);
  EXPECT_EQ(late.connect("late", true, t0).reason_code, p::ReasonCode::success);
  auto got = x.sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "a");
  EXPECT_EQ(got[1].payload, "c");
}

// Without a limit the figure changes nothing.
TEST(BrokerMemoryLimit, NoLimitNoEffect) {
  BrokerOptions o;
  o.allow_anonymous = true;
  Broker b(o);
  b.set_heap_in_use(~std::uint64_t{0});
  TestClient c(b, p::Version::v5, t0);
  EXPECT_EQ(c.connect("c", true, t0).reason_code, p::ReasonCode::success);
  c.publish("t", "m", p::QoS::at_least_once, t0);
  EXPECT_EQ(c.received_of<p::Puback>().at(0).reason_code, p::ReasonCode::no_matching_subscribers);
}

// What the broker holds already keeps flowing while over the limit: that is how the heap comes back down.
TEST(BrokerMemoryLimit, HeldMessagesStillDelivered) {
  Limited x(p::Version::v5);
  TestClient slow(x.b, p::Version::v5, t0);
  slow.connect("slow", true, t0, p::Properties{.receive_maximum = 1});
  slow.subscribe("t", p::QoS::at_least_once, t0);
  slow.received();
  x.pub.publish("t", "first", p::QoS::at_least_once, t0);
  x.pub.publish("t", "second", p::QoS::at_least_once, t0);
  auto first = slow.received_of<p::Publish>();
  ASSERT_EQ(first.size(), 1u);  // the second waits in its queue
  x.b.set_heap_in_use(limit + 1);
  slow.send(p::Puback{.packet_id = first[0].packet_id}, t0);
  auto second = slow.received_of<p::Publish>();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].payload, "second");
}

}  // namespace
}  // namespace tern::core::testing
