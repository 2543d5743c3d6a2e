// Authentication verdicts and the ACL in the broker core, without sockets: CONNACK codes, PUBLISH / SUBSCRIBE /
// delivery / retained / will / shared-subscription checks, the per-topic cache, and a reload.
#include <algorithm>
#include <map>
#include <set>

#include "broker/core/broker.hpp"
#include "broker/protocol/topic.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

// A rule set for tests: per username, filters readable and filters writable (protocol::topic_matches). readable()
// answers `all` for a filter listed in read_all, `none` when no read filter could match, else `some`. It counts
// the questions asked, to prove the broker's cache.
struct FakeRules {
  std::vector<std::string> read, write, read_all;
};

class FakePolicy;

class FakeAccess final : public ClientAccess {
 public:
  FakeAccess(FakeRules rules, int* questions) : rules_(std::move(rules)), questions_(questions) {}
  bool may_publish(std::string_view topic) const override { return match(rules_.write, topic); }
  bool may_read(std::string_view topic) const override { return match(rules_.read, topic); }
  Coverage readable(std::string_view filter) const override {
    for (const auto& f : rules_.read_all)
      if (f == filter) return Coverage::all;
    return rules_.read.empty() ? Coverage::none : Coverage::some;
  }

 private:
  bool match(const std::vector<std::string>& filters, std::string_view topic) const {
    ++*questions_;
    for (const auto& f : filters)
      if (p::topic_matches(f, topic)) return true;
    return false;
  }
  FakeRules rules_;
  int* questions_;
};

class FakePolicy final : public AccessPolicy {
 public:
  std::map<std::string, FakeRules> users;  // by username; "" for anonymous
  std::map<std::string, FakeRules> ids;    // by client id, before `users` (as a %c pattern would)
  std::set<std::string> revoked;           // still_accepts() is false for these
  bool no_acl = false;                     // client() gives no rights object to anyone: everything allowed
  mutable int questions = 0;

  std::shared_ptr<const ClientAccess> client(std::string_view client_id,
                                             const std::optional<std::string>& username) const override {
    if (no_acl) return nullptr;
    if (auto by_id = ids.find(std::string(client_id)); by_id != ids.end())
      return std::make_shared<FakeAccess>(by_id->second, &questions);
    auto it = users.find(username.value_or(""));
    return std::make_shared<FakeAccess>(it == users.end() ? FakeRules{} : it->second, &questions);
  }
  bool still_accepts(const AccessPolicy&, const std::optional<std::string>& username, bool) const override {
    return !revoked.contains(username.value_or(""));
  }
};

Authentication accepted(std::string user, std::shared_ptr<const AccessPolicy> policy) {
  return Authentication{Authentication::Result::accepted, std::move(user), std::move(policy), true, {}};
}

// Connects `c` as `user` under `policy`.
p::Connack connect_as(Broker& b, TestClient& c, std::string id, std::string user,
                      std::shared_ptr<const AccessPolicy> policy, bool clean = true,
                      std::optional<p::Will> will = std::nullopt) {
  b.authenticate(c.id(), accepted(std::move(user), std::move(policy)));
  return c.connect(std::move(id), clean, t0, {}, std::move(will));
}

std::vector<std::string> topics_of(TestClient& c) {
  std::vector<std::string> out;
  for (auto& pub : c.received_of<p::Publish>()) out.push_back(pub.topic);
  return out;
}

TEST(BrokerAuth, RefusalsGetTheirConnackCodes) {
  Broker b(BrokerOptions{});
  for (auto version : {p::Version::v311, p::Version::v5}) {
    const bool v5 = version == p::Version::v5;
    TestClient bad(b, version, t0);
    b.authenticate(bad.id(), Authentication{Authentication::Result::bad_credentials, "alice", nullptr, false, {}});
    EXPECT_EQ(static_cast<int>(bad.connect("a", true, t0).reason_code), v5 ? 0x86 : 4);
    EXPECT_TRUE(bad.closed());
    TestClient anon(b, version, t0);
    b.authenticate(anon.id(), Authentication{Authentication::Result::not_authorized, {}, nullptr, false, {}});
    EXPECT_EQ(static_cast<int>(anon.connect("b", true, t0).reason_code), v5 ? 0x87 : 5);
    EXPECT_TRUE(anon.closed());
  }
  EXPECT_EQ(b.stats().sessions, 0u);
}

TEST(BrokerAuth, AcceptedVerdictLetsInWithoutAllowAnonymous) {
  Broker b(BrokerOptions{});  // allow_anonymous false: the verdict decides
  TestClient c(b, p::Version::v5, t0);
  b.authenticate(c.id(), accepted("alice", nullptr));
  EXPECT_EQ(c.connect("a", true, t0).reason_code, p::ReasonCode::success);
}

// What the network layer asks when rules come after a client's CONNECT: its client id (the assigned one for an empty
// one) and the username it authenticated as.
TEST(BrokerAuth, IdentityIsTheSessionsClientIdAndUsername) {
  Broker b(BrokerOptions{});
  TestClient alice(b, p::Version::v5, t0);
  EXPECT_EQ(b.identity(alice.id()).client_id, "") << "before CONNECT";
  b.authenticate(alice.id(), accepted("alice", nullptr));
  const p::Connack connack = alice.connect("", true, t0);
  const Broker::Identity who = b.identity(alice.id());
  EXPECT_FALSE(who.client_id.empty()) << "the assigned client id";
  EXPECT_EQ(who.client_id, connack.properties.assigned_client_identifier.value_or(""));
  EXPECT_EQ(who.username, std::optional<std::string>("alice"));
  TestClient anon(b, p::Version::v311, t0);
  b.authenticate(anon.id(), Authentication{Authentication::Result::accepted, {}, nullptr, false, {}});
  anon.connect("anon", true, t0);
  EXPECT_EQ(b.identity(anon.id()).client_id, "anon");
  EXPECT_EQ(b.identity(anon.id()).username, std::nullopt);
}

class BrokerAcl : public ::testing::Test {
 protected:
  BrokerAcl() {
    policy->users["alice"] = {.read = {"a/#"}, .write = {"a/#"}, .read_all = {"a/#"}};
    policy->users["bob"] = {.read = {"a/public/#"}, .write = {}, .read_all = {}};
  }
  std::shared_ptr<FakePolicy> policy = std::make_shared<FakePolicy>();
  Broker b{BrokerOptions{}};
};

TEST_F(BrokerAcl, DeniedPublishIsNotRoutedAndTellsWhyIn5) {
  TestClient alice(b, p::Version::v5, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.subscribe("#", p::QoS::at_least_once, t0);  // partly readable: a/... only
  alice.received();
  for (auto version : {p::Version::v311, p::Version::v5}) {
    const bool v5 = version == p::Version::v5;
    TestClient bob(b, version, t0);
    connect_as(b, bob, "bob", "bob", policy);
    bob.publish("a/public/x", "0", p::QoS::at_most_once, t0);
    bob.publish("a/public/x", "1", p::QoS::at_least_once, t0);
    auto acks = bob.received_of<p::Puback>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].reason_code, v5 ? p::ReasonCode::not_authorized : p::ReasonCode::success);
    bob.publish("a/public/x", "2", p::QoS::exactly_once, t0, /*retain=*/true);
    auto recs = bob.received_of<p::Pubrec>();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].reason_code, v5 ? p::ReasonCode::not_authorized : p::ReasonCode::success);
    if (!v5) {  // 3.1.1: the exchange completes as if delivered
      bob.send(p::Pubrel{.packet_id = recs[0].packet_id}, t0);
      EXPECT_EQ(bob.received_of<p::Pubcomp>().size(), 1u);
    }
    bob.drop(t0);
  }
  EXPECT_TRUE(alice.received().empty()) << "a denied PUBLISH reached a subscriber";
  EXPECT_EQ(b.stats().retained, 0u) << "a denied retained PUBLISH was kept";
}

TEST_F(BrokerAcl, SubscribeRefusedWhereNothingIsReadable) {
  policy->users["carol"] = {};
  for (auto version : {p::Version::v311, p::Version::v5}) {
    TestClient carol(b, version, t0);
    connect_as(b, carol, "carol", "carol", policy);
    carol.subscribe("a/#", p::QoS::at_least_once, t0);
    auto acks = carol.received_of<p::Suback>();
    ASSERT_EQ(acks.size(), 1u);
    ASSERT_EQ(acks[0].reason_codes.size(), 1u);
    EXPECT_EQ(static_cast<int>(acks[0].reason_codes[0]), version == p::Version::v5 ? 0x87 : 0x80);
    carol.drop(t0);
  }
  EXPECT_EQ(b.stats().subscriptions, 0u);
}

TEST_F(BrokerAcl, DeliveriesFilteredPerTopicAndCached) {
  TestClient bob(b, p::Version::v311, t0);
  connect_as(b, bob, "bob", "bob", policy);
  bob.subscribe("a/#", p::QoS::at_most_once, t0);  // `some`: checked per topic
  bob.received();
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  const int before = policy->questions;
  for (int i = 0; i < 3; ++i) {
    alice.publish("a/public/x", "p", p::QoS::at_most_once, t0);
    alice.publish("a/private/y", "s", p::QoS::at_most_once, t0);
  }
  EXPECT_EQ(topics_of(bob), (std::vector<std::string>{"a/public/x", "a/public/x", "a/public/x"}));
  // alice's two publish checks and bob's two read checks, each once: the rest came from the caches.
  EXPECT_EQ(policy->questions - before, 4);
}

// More topics than the per-session cache holds: every answer stays right as it empties and fills again.
TEST_F(BrokerAcl, ManyTopicsThroughTheBoundedCache) {
  TestClient bob(b, p::Version::v311, t0);
  connect_as(b, bob, "bob", "bob", policy);
  bob.subscribe("a/#", p::QoS::at_most_once, t0);
  bob.received();
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  std::vector<std::string> expected;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1500; ++i) {
      const std::string topic = (i % 3 == 0 ? "a/public/" : "a/private/") + std::to_string(i);
      alice.publish(topic, "x", p::QoS::at_most_once, t0);
      if (i % 3 == 0) expected.push_back(topic);
    }
  }
  EXPECT_EQ(topics_of(bob), expected);
}

TEST_F(BrokerAcl, WhollyReadableSubscriptionCostsNoCheck) {
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.subscribe("a/#", p::QoS::at_most_once, t0);  // `all`
  alice.received();
  const int before = policy->questions;
  alice.publish("a/1", "x", p::QoS::at_most_once, t0);
  alice.publish("a/2", "x", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(alice).size(), 2u);
  EXPECT_EQ(policy->questions - before, 2);  // the two publish checks only
}

TEST_F(BrokerAcl, RetainedMessagesFilteredOnSubscribe) {
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.publish("a/public/r", "1", p::QoS::at_most_once, t0, true);
  alice.publish("a/private/r", "2", p::QoS::at_most_once, t0, true);
  TestClient bob(b, p::Version::v5, t0);
  connect_as(b, bob, "bob", "bob", policy);
  bob.subscribe("a/#", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(bob), (std::vector<std::string>{"a/public/r"}));
}

TEST_F(BrokerAcl, WillOnForbiddenTopicDropped) {
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.subscribe("a/#", p::QoS::at_most_once, t0);
  alice.received();
  TestClient bob(b, p::Version::v311, t0);
  p::Will will;
  will.topic = "a/public/will";
  will.payload = "gone";
  EXPECT_EQ(connect_as(b, bob, "bob", "bob", policy, true, will).reason_code, p::ReasonCode::success);
  bob.drop(t0);  // abnormal: the will would go now
  EXPECT_TRUE(alice.received().empty()) << "bob may not write a/public/will";
}

// mount_point: the ACL sees the prefixed topic (mosquitto checks after prefixing), for a PUBLISH, a SUBSCRIBE, the
// deliveries and the will of a mounted client: dave, mounted at "a/", may write a/dave/# and read a/public/#.
TEST_F(BrokerAcl, MountedClientCheckedOnPrefixedTopics) {
  policy->users["dave"] = {.read = {"a/public/#"}, .write = {"a/dave/#"}, .read_all = {"a/public/#"}};
  TestClient alice(b, p::Version::v5, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.subscribe("a/#", p::QoS::at_least_once, t0);
  alice.received();
  TestClient dave(b, p::Version::v5, t0, "a/");
  p::Will will;
  will.topic = "dave/will";
  will.payload = "gone";
  connect_as(b, dave, "dave", "dave", policy, true, will);
  dave.publish("dave/x", "allowed", p::QoS::at_least_once, t0);  // a/dave/x
  dave.publish("x", "denied", p::QoS::at_least_once, t0);        // a/x
  auto acks = dave.received_of<p::Puback>();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[0].reason_code, p::ReasonCode::success);
  EXPECT_EQ(acks[1].reason_code, p::ReasonCode::not_authorized);
  EXPECT_EQ(topics_of(alice), std::vector<std::string>{"a/dave/x"});

  dave.subscribe("public/#", p::QoS::at_least_once, t0);  // a/public/#: wholly readable (read_all)
  dave.subscribe("#", p::QoS::at_least_once, t0);         // a/#: checked per topic
  auto subacks = dave.received_of<p::Suback>();
  ASSERT_EQ(subacks.size(), 2u);
  EXPECT_EQ(subacks[0].reason_codes.at(0), p::ReasonCode::granted_qos1);
  EXPECT_EQ(subacks[1].reason_codes.at(0), p::ReasonCode::granted_qos1);
  const int before = policy->questions;
  alice.publish("a/public/news", "n", p::QoS::at_least_once, t0);
  alice.publish("a/private/y", "p", p::QoS::at_least_once, t0);
  EXPECT_EQ(topics_of(dave), std::vector<std::string>{"public/news"});
  // alice's two publish checks and dave's read check of a/private/y: a/public/news needed none, so the SUBSCRIBE
  // was checked as a/public/#.
  EXPECT_EQ(policy->questions - before, 3);

  alice.received();
  dave.drop(t0);
  EXPECT_EQ(topics_of(alice), std::vector<std::string>{"a/dave/will"});  // its will, on the prefixed topic
}

TEST_F(BrokerAcl, SharedGroupSkipsMembersThatMayNotRead) {
  policy->users["dave"] = {.read = {"a/private/#"}, .write = {}, .read_all = {}};
  TestClient bob(b, p::Version::v5, t0), dave(b, p::Version::v5, t0);
  connect_as(b, bob, "bob", "bob", policy);
  connect_as(b, dave, "dave", "dave", policy);
  bob.subscribe("$share/g/a/#", p::QoS::at_most_once, t0);
  dave.subscribe("$share/g/a/#", p::QoS::at_most_once, t0);
  bob.received();
  dave.received();
  TestClient alice(b, p::Version::v5, t0);
  connect_as(b, alice, "alice", "alice", policy);
  for (int i = 0; i < 4; ++i) {
    alice.publish("a/public/x", "p", p::QoS::at_most_once, t0);
    alice.publish("a/private/x", "s", p::QoS::at_most_once, t0);
  }
  const auto to_bob = topics_of(bob), to_dave = topics_of(dave);
  EXPECT_EQ(to_bob, std::vector<std::string>(4, "a/public/x"));
  EXPECT_EQ(to_dave, std::vector<std::string>(4, "a/private/x"));
}

TEST_F(BrokerAcl, ReloadDisconnectsRevokedAndNarrowsTheRest) {
  TestClient alice(b, p::Version::v5, t0), bob(b, p::Version::v5, t0);
  connect_as(b, alice, "alice", "alice", policy);
  connect_as(b, bob, "bob", "bob", policy);
  alice.subscribe("a/#", p::QoS::at_most_once, t0);
  alice.received();
  bob.received();

  auto next = std::make_shared<FakePolicy>();
  next->users["alice"] = {.read = {"a/1"}, .write = {"a/#"}, .read_all = {}};  // a/# now only partly readable
  next->revoked.insert("bob");
  b.replace_policy(*policy, next, t0);

  auto to_bob = bob.received_of<p::Disconnect>();
  ASSERT_EQ(to_bob.size(), 1u);
  EXPECT_EQ(to_bob[0].reason_code, p::ReasonCode::not_authorized);
  EXPECT_TRUE(bob.closed());
  EXPECT_FALSE(alice.closed());
  alice.publish("a/1", "x", p::QoS::at_most_once, t0);
  alice.publish("a/2", "x", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(alice), (std::vector<std::string>{"a/1"}));

  // A filter no longer readable at all is unsubscribed.
  auto last = std::make_shared<FakePolicy>();
  last->users["alice"] = {.read = {}, .write = {"a/#"}, .read_all = {}};
  b.replace_policy(*next, last, t0);
  EXPECT_EQ(b.stats().subscriptions, 0u);
}

// Anonymous clients under a policy without an ACL share one access (AccessRef). A reload to a policy with rules for
// them gives each its own rights (here by client id), and one without an ACL again lets them read everything.
TEST_F(BrokerAcl, SharedAnonymousAccessFollowsReloads) {
  auto open = std::make_shared<FakePolicy>();
  open->no_acl = true;
  TestClient anon1(b, p::Version::v311, t0), anon2(b, p::Version::v5, t0), alice(b, p::Version::v5, t0);
  for (auto [c, id] : {std::pair{&anon1, "anon1"}, std::pair{&anon2, "anon2"}}) {
    b.authenticate(c->id(), Authentication{Authentication::Result::accepted, {}, open, false, {}});
    ASSERT_EQ(c->connect(id, true, t0).reason_code, p::ReasonCode::success);
    c->subscribe("#", p::QoS::at_most_once, t0);
    c->received();
  }
  connect_as(b, alice, "alice", "alice", open);
  alice.publish("a/1", "x", p::QoS::at_most_once, t0);
  alice.publish("b/1", "x", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(anon1), (std::vector<std::string>{"a/1", "b/1"}));
  EXPECT_EQ(topics_of(anon2), (std::vector<std::string>{"a/1", "b/1"}));

  auto next = std::make_shared<FakePolicy>();
  next->ids["anon1"] = {.read = {"a/#"}, .write = {}, .read_all = {}};
  next->ids["anon2"] = {.read = {"b/#"}, .write = {}, .read_all = {}};
  next->users["alice"] = {.read = {"#"}, .write = {"#"}, .read_all = {"#"}};
  b.replace_policy(*open, next, t0);
  alice.publish("a/2", "x", p::QoS::at_most_once, t0);
  alice.publish("b/2", "x", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(anon1), (std::vector<std::string>{"a/2"}));
  EXPECT_EQ(topics_of(anon2), (std::vector<std::string>{"b/2"}));

  auto last = std::make_shared<FakePolicy>();
  last->no_acl = true;
  b.replace_policy(*next, last, t0);
  alice.publish("b/3", "x", p::QoS::at_most_once, t0);
  EXPECT_EQ(topics_of(anon1), (std::vector<std::string>{"b/3"}));
  EXPECT_EQ(topics_of(anon2), (std::vector<std::string>{"b/3"}));
  EXPECT_FALSE(anon1.closed());
  EXPECT_FALSE(anon2.closed());
}

TEST_F(BrokerAcl, QueuedMessagesRecheckedWhenTheyGoOut) {
  TestClient bob(b, p::Version::v311, t0);
  connect_as(b, bob, "bob", "bob", policy, false);
  bob.subscribe("a/public/#", p::QoS::at_least_once, t0);
  bob.received();
  bob.drop(t0);  // offline; its session queues
  TestClient alice(b, p::Version::v311, t0);
  connect_as(b, alice, "alice", "alice", policy);
  alice.publish("a/public/1", "x", p::QoS::at_least_once, t0);
  alice.publish("a/public/2", "x", p::QoS::at_least_once, t0);

  auto next = std::make_shared<FakePolicy>();
  next->users["bob"] = {.read = {"a/public/1"}, .write = {}, .read_all = {}};
  b.replace_policy(*policy, next, t0);

  TestClient again(b, p::Version::v311, t0);
  connect_as(b, again, "bob", "bob", next, false);
  EXPECT_EQ(topics_of(again), (std::vector<std::string>{"a/public/1"}));
}

// check_retain_source: a retained message whose publisher lost the right to write its topic is not sent to new
// subscribers; with the option off it is.
TEST(BrokerRetainSource, PublisherMustStillBeAllowed) {
  for (bool check : {true, false}) {
    BrokerOptions options;
    options.check_retain_source = check;
    Broker b(options);
    auto policy = std::make_shared<FakePolicy>();
    policy->users["alice"] = {.read = {"a/#"}, .write = {"a/#"}, .read_all = {"a/#"}};
    {
      TestClient alice(b, p::Version::v311, t0);
      connect_as(b, alice, "alice", "alice", policy);
      alice.publish("a/kept", "1", p::QoS::at_most_once, t0, true);
      alice.publish("a/withdrawn", "2", p::QoS::at_most_once, t0, true);
    }
    auto next = std::make_shared<FakePolicy>();
    next->users["alice"] = {.read = {"a/#"}, .write = {"a/kept"}, .read_all = {"a/#"}};
    b.replace_policy(*policy, next, t0);
    TestClient reader(b, p::Version::v311, t0);
    connect_as(b, reader, "reader", "alice", next);
    reader.subscribe("a/#", p::QoS::at_most_once, t0);
    auto got = topics_of(reader);
    std::sort(got.begin(), got.end());
    const std::vector<std::string> expected =
        check ? std::vector<std::string>{"a/kept"} : std::vector<std::string>{"a/kept", "a/withdrawn"};
    EXPECT_EQ(got, expected) << "check_retain_source " << check;
  }
}

}  // namespace
}  // namespace tern::core::testing
