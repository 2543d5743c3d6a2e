// Dead letters (dead_letter_topic) in the broker core, without sockets: each reason a QoS 1/2 delivery is dropped
// for makes a message on PREFIX/<reason>/<topic> with the payload and, for 5.0, user properties naming the reason,
// the client and the time; QoS 0 drops make none; dead_letter_rate holds (time as an argument); a dead letter that is
// dropped in turn makes no other.
#include <algorithm>

#include "broker/core/broker.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

BrokerOptions with_dead_letters(std::uint32_t rate = 100) {
  BrokerOptions o;
  o.allow_anonymous = true;
  o.max_queued_messages = 2;
  o.dead_letter_topic = "dead";
  o.dead_letter_rate = rate;
  return o;
}

std::string user_property(const p::Publish& m, const std::string& key) {
  for (const auto& [k, v] : m.properties.user_properties)
    if (k == key) return v;
  return "(none)";
}

// A persistent 5.0 session "offline" subscribed to t at QoS 1, then gone; a watcher on dead/#.
struct World {
  explicit World(BrokerOptions o) : b(std::move(o)), pub(b, p::Version::v5, t0), watcher(b, p::Version::v5, t0) {
    TestClient offline(b, p::Version::v5, t0);
    p::Properties expiry;
    expiry.session_expiry_interval = 3600;
    offline.connect("offline", true, t0, expiry);
    offline.subscribe("t", p::QoS::at_least_once, t0);
    offline.drop(t0);
    pub.connect("pub", true, t0);
    watcher.connect("watcher", true, t0);
    watcher.subscribe("dead/#", p::QoS::at_least_once, t0);
    watcher.received();
  }
  Broker b;
  TestClient pub;
  TestClient watcher;
};

TEST(BrokerDeadLetters, AFullQueueMakesOneForTheMessageItDropped) {
  World w(with_dead_letters());
  for (const char* payload : {"one", "two", "three"}) w.pub.publish("t", payload, p::QoS::at_least_once, t0);
  const auto letters = w.watcher.received_of<p::Publish>();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].topic, "dead/queue_full/t");
  EXPECT_EQ(letters[0].payload, "three");
  EXPECT_EQ(letters[0].qos, p::QoS::at_least_once);
  EXPECT_EQ(user_property(letters[0], "reason"), "queue_full");
  EXPECT_EQ(user_property(letters[0], "client_id"), "offline");
  EXPECT_EQ(user_property(letters[0], "time").size(), std::string("1970-01-01T00:16:40.000Z").size());
  EXPECT_EQ(w.b.stats().dead_letters, 1u);
}

TEST(BrokerDeadLetters, ExpiredWhileQueued) {
  World w(with_dead_letters());
  p::Properties expiry;
  expiry.message_expiry_interval = 5;
  w.pub.publish("t", "short-lived", p::QoS::at_least_once, t0, false, expiry);
  TestClient offline(w.b, p::Version::v5, t0 + 10s);
  p::Properties session;
  session.session_expiry_interval = 3600;
  offline.connect("offline", false, t0 + 10s, session);
  EXPECT_TRUE(offline.received_of<p::Publish>().empty());
  const auto letters = w.watcher.received_of<p::Publish>();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].topic, "dead/expired/t");
  EXPECT_EQ(letters[0].payload, "short-lived");
  EXPECT_FALSE(letters[0].properties.message_expiry_interval) << "a dead letter does not expire with its message";
}

TEST(BrokerDeadLetters, TooLargeForTheClient) {
  World w(with_dead_letters());
  TestClient small(w.b, p::Version::v5, t0);
  p::Properties limit;
  limit.maximum_packet_size = 64;
  small.connect("small", true, t0, limit);
  small.subscribe("big", p::QoS::exactly_once, t0);
  small.received();
  w.pub.publish("big", std::string(200, 'x'), p::QoS::exactly_once, t0);
  EXPECT_TRUE(small.received_of<p::Publish>().empty());
  const auto letters = w.watcher.received_of<p::Publish>();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].topic, "dead/too_large/big");
  EXPECT_EQ(letters[0].payload, std::string(200, 'x'));
  EXPECT_EQ(user_property(letters[0], "client_id"), "small");
}

TEST(BrokerDeadLetters, QoS0DropsMakeNone) {
  World w(with_dead_letters());
  TestClient slow(w.b, p::Version::v5, t0);
  slow.connect("slow", true, t0);
  slow.subscribe("q0", p::QoS::at_most_once, t0);
  slow.sink().pending = 1 << 30;  // far over max_outgoing_buffer: QoS 0 to it is dropped
  w.pub.publish("q0", "x", p::QoS::at_least_once, t0);
  EXPECT_EQ(w.b.stats().dropped[static_cast<unsigned>(DropReason::slow_client)], 1u);
  EXPECT_TRUE(w.watcher.received_of<p::Publish>().empty());
  EXPECT_EQ(w.b.stats().dead_letters, 0u);
}

TEST(BrokerDeadLetters, OffByDefault) {
  BrokerOptions o = with_dead_letters();
  o.dead_letter_topic.clear();
  World w(o);
  for (int i = 0; i < 5; ++i) w.pub.publish("t", "x", p::QoS::at_least_once, t0);
  EXPECT_EQ(w.b.stats().dropped[static_cast<unsigned>(DropReason::queue_full)], 3u);
  EXPECT_TRUE(w.watcher.received_of<p::Publish>().empty());
}

TEST(BrokerDeadLetters, TheRateHoldsAndRefills) {
  World w(with_dead_letters(2));
  for (int i = 0; i < 12; ++i) w.pub.publish("t", std::to_string(i), p::QoS::at_least_once, t0);  // 10 dropped
  EXPECT_EQ(w.watcher.received_of<p::Publish>().size(), 2u);
  EXPECT_EQ(w.b.stats().dead_letters_suppressed, 8u);
  for (int i = 0; i < 5; ++i) w.pub.publish("t", "later", p::QoS::at_least_once, t0 + 1s);
  EXPECT_EQ(w.watcher.received_of<p::Publish>().size(), 2u) << "a second refills the bucket, no more";
  EXPECT_EQ(w.b.stats().dead_letters, 4u);
}

// The only subscriber of dead/# is an offline session whose queue is full: the dead letters dropped for it make no
// further dead letters.
TEST(BrokerDeadLetters, ADroppedDeadLetterMakesNoOther) {
  BrokerOptions o = with_dead_letters(0);
  Broker b(o);
  TestClient archive(b, p::Version::v5, t0);
  p::Properties expiry;
  expiry.session_expiry_interval = 3600;
  archive.connect("archive", true, t0, expiry);
  archive.subscribe("#", p::QoS::at_least_once, t0);
  archive.drop(t0);
  TestClient pub(b, p::Version::v311, t0);
  pub.connect("pub", true, t0);
  for (int i = 0; i < 10; ++i) pub.publish("t", "x", p::QoS::at_least_once, t0);
  // archive's queue takes 2 of "t"; the 8 others are dropped, each makes a dead letter, which archive's full queue
  // drops too, and those make none.
  EXPECT_EQ(b.stats().dead_letters, 8u);
  EXPECT_EQ(b.stats().dropped[static_cast<unsigned>(DropReason::queue_full)], 16u);
}

}  // namespace
}  // namespace tern::core::testing
