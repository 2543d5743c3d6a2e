// The core with persistence on, driven without sockets: which changes become StoreOps, what is held until the store
// commits, and what a new Broker rebuilt from the store (MemoryStore: the same tables as SQLite) gives the clients.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "broker/core/sys_tree.hpp"
#include "persistence/memory_store.hpp"
#include "tests/unit/core/broker_test_support.hpp"

namespace tern::core::testing {
namespace {

// Applies each batch to a MemoryStore at once, but reports nothing to the Broker: the test decides when a batch
// counts as committed (on_committed), as the writer thread would. `crashed`: the process is gone, nothing more
// reaches the store.
class RecordingSubmitter final : public StorePort {
 public:
  void submit(StoreBatch& batch_ops, std::uint64_t batch) override {
    if (crashed) {
      batch_ops.clear();
      return;
    }
    std::vector<StoreOp> ops;
    core::decode_store_ops(batch_ops.bytes(), ops);
    ops_seen += ops.size();
    for (const StoreOp& o : ops) {
      if (const auto* put = std::get_if<store_op::PutQueueEntry>(&o)) queue_puts.push_back(*put);
    }
    store.submit(std::move(batch_ops), {});
    batch_ops.clear();  // left empty, as the port's contract says
    batches.push_back(batch);
  }
  bool crashed = false;
  // The page is read at once, so that it holds exactly the batches submitted before the request, as the writer's
  // would; the test hands it to the Broker (on_queue_page) when it chooses.
  void request_queue_page(const std::string& client_id, std::uint64_t after_seq, std::size_t limit,
                          std::uint64_t token) override {
    if (crashed) return;
    ++pages_read;
    page_limits.push_back(limit);
    pages.push_back({client_id, after_seq, token, store.load_queue(client_id, after_seq, limit)});
  }
  std::uint64_t last() const { return batches.empty() ? 0 : batches.back(); }
  int pages_read = 0;
  std::vector<std::size_t> page_limits;  // of each request
  struct Page {
    std::string client_id;
    std::uint64_t after_seq;
    std::uint64_t token;
    QueuePage page;
  };
  std::deque<Page> pages;  // requested, not yet handed back

  persistence::MemoryStore store;
  std::vector<std::uint64_t> batches;
  std::size_t ops_seen = 0;
  std::vector<store_op::PutQueueEntry> queue_puts;
};

constexpr UnixMillis wall_start = 1'700'000'000'000;

class BrokerPersistence : public ::testing::TestWithParam<p::Version> {
 protected:
  BrokerPersistence() { start(); }

  // The broker "crashes" (what it has not submitted is lost; its clients' sockets die with it) and a new one is
  // built from what the store holds, `downtime` later on the wall clock.
  void start(std::chrono::milliseconds downtime = 0ms) {
    submitter_.crashed = true;
    submitter_.pages.clear();
    clients_.clear();
    broker_.reset();
    submitter_.crashed = false;
    const StoreSnapshot snapshot = submitter_.store.load();
    broker_ = std::make_unique<Broker>(options_);
    submitter_.batches.clear();
    broker_->restore(snapshot, submitter_, now_, wall_start + wall_offset_ + downtime.count());
    wall_offset_ += downtime.count();
  }

  static BrokerOptions default_options() {
    BrokerOptions o;
    o.allow_anonymous = true;
    return o;
  }

  // A client whose every packet is committed at once, unless auto_commit_ is off.
  TestClient& client() {
    TestClient& c = *clients_.emplace_back(std::make_unique<TestClient>(*broker_, GetParam(), now_));
    c.after_send = [this] {
      if (auto_commit_) commit_all();
      if (auto_pages_) serve_pages();
    };
    return c;
  }

  // A persistent session: 3.1.1 clean session 0, 5.0 session expiry `expiry` (default: an hour).
  p::Connack connect_persistent(TestClient& c, const std::string& id, std::uint32_t expiry = 3600,
                                std::optional<p::Will> will = std::nullopt) {
    p::Properties props;
    if (GetParam() == p::Version::v5) props.session_expiry_interval = expiry;
    return c.connect(id, false, now_, props, std::move(will));
  }
  // A connected persistent session subscribed to `filter`, its CONNACK and SUBACK read.
  TestClient& persistent_subscriber(const std::string& id, const std::string& filter,
                                    p::QoS qos = p::QoS::at_least_once) {
    TestClient& c = client();
    connect_persistent(c, id);
    c.subscribe(filter, qos, now_);
    c.received();
    return c;
  }
  void commit_all(bool durable = true) {
    if (submitter_.last() != 0) broker_->on_committed(submitter_.last(), durable, now_);
  }
  // Hands the requested pages back, as the store's writer would, until no more are asked for.
  void serve_pages() {
    while (!submitter_.pages.empty()) {
      auto page = std::move(submitter_.pages.front());
      submitter_.pages.pop_front();
      broker_->on_queue_page(page.client_id, page.token, std::move(page.page), now_);
      if (auto_commit_) commit_all();
    }
  }

  BrokerOptions options_ = default_options();
  RecordingSubmitter submitter_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::unique_ptr<TestClient>> clients_;
  TimePoint now_{std::chrono::hours(1)};
  UnixMillis wall_offset_ = 0;
  bool auto_commit_ = true;
  bool auto_pages_ = true;
};

TEST_P(BrokerPersistence, PubackWaitsForTheCommitOfTheQueueEntry) {
  auto_commit_ = false;
  TestClient& sub = client();
  p::Properties props;
  if (GetParam() == p::Version::v5) props.session_expiry_interval = 3600;
  p::Connect connect;
  connect.version = GetParam();
  connect.client_id = "s";
  connect.clean_start = false;
  connect.properties = props;
  sub.send(std::move(connect), now_);
  EXPECT_TRUE(sub.received().empty()) << "CONNACK of a new persistent session before its PutSession committed";
  commit_all();
  ASSERT_EQ(sub.received_of<p::Connack>().size(), 1u);
  sub.subscribe("a", p::QoS::at_least_once, now_);
  commit_all();
  ASSERT_EQ(sub.received_of<p::Suback>().size(), 1u);

  TestClient& pub = client();
  pub.connect("p", true, now_);  // a clean session: nothing stored, no wait
  const std::size_t batches_before = submitter_.batches.size();
  pub.publish("a", "m1", p::QoS::at_least_once, now_);
  ASSERT_EQ(submitter_.batches.size(), batches_before + 1) << "the message and S's queue entry form one batch";
  EXPECT_TRUE(pub.received().empty()) << "PUBACK before the commit";
  // A QoS 1 delivery need not wait: were the broker to die now, the publisher would send again (a duplicate is
  // within QoS 1).
  auto got = sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "m1");

  commit_all();
  EXPECT_EQ(pub.received_of<p::Puback>().size(), 1u);
}

TEST_P(BrokerPersistence, OnlyTheFirstPutOfAQueueEntryIsMarkedFresh) {
  // `fresh` lets the SQLite store skip the lookup of a replaced row, and drop a put and its delete that meet in one
  // transaction (transaction_plan.hpp): it must be set exactly when no row for the entry can exist yet.
  persistent_subscriber("s", "a").drop(now_);
  TestClient& pub = client();
  pub.connect("p", true, now_);
  pub.publish("a", "m1", p::QoS::at_least_once, now_);  // queued for the offline "s": packet id 0
  TestClient& again = client();
  connect_persistent(again, "s");                       // sent now: the same entry gets its packet id
  const auto got = again.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 1u);
  pub.publish("a", "m2", p::QoS::at_least_once, now_);  // online: queued and sent in one go

  const auto& puts = submitter_.queue_puts;
  ASSERT_EQ(puts.size(), 3u);
  EXPECT_TRUE(puts[0].fresh);
  EXPECT_EQ(puts[0].entry.packet_id, 0);
  EXPECT_FALSE(puts[1].fresh);
  EXPECT_EQ(puts[1].entry.seq, puts[0].entry.seq);
  EXPECT_EQ(puts[1].entry.packet_id, got[0].packet_id);
  EXPECT_TRUE(puts[2].fresh);
  EXPECT_GT(puts[2].entry.seq, puts[0].entry.seq);
  EXPECT_NE(puts[2].entry.packet_id, 0);
}

TEST_P(BrokerPersistence, CleanSessionsWaitForNothing) {
  TestClient& sub = client();
  sub.connect("s", true, now_);
  sub.subscribe("a", p::QoS::exactly_once, now_);
  TestClient& pub = client();
  pub.connect("p", true, now_);
  pub.publish("a", "m1", p::QoS::at_least_once, now_);
  EXPECT_EQ(pub.received_of<p::Puback>().size(), 1u);
  EXPECT_EQ(sub.received_of<p::Publish>().size(), 1u);
  EXPECT_EQ(submitter_.ops_seen, 0u);
}

TEST_P(BrokerPersistence, LaterOutputWaitsBehindHeldOutput) {
  TestClient& sub = persistent_subscriber("s", "a", p::QoS::exactly_once);
  TestClient& pub = client();
  pub.connect("p", true, now_);
  auto_commit_ = false;
  pub.publish("a", "m1", p::QoS::exactly_once, now_);  // held: S's in-flight record is not committed
  sub.send(p::Pingreq{}, now_);                        // nothing stored, but it must not overtake the PUBLISH
  EXPECT_TRUE(sub.received().empty());
  commit_all();
  auto packets = sub.received();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<p::Publish>(packets[0]));
  EXPECT_TRUE(std::holds_alternative<p::Pingresp>(packets[1]));
}

TEST_P(BrokerPersistence, AFailedCommitDisconnectsWithoutTheAcknowledgement) {
  TestClient& sub = persistent_subscriber("s", "a", p::QoS::exactly_once);
  TestClient& pub = client();
  pub.connect("p", true, now_);
  auto_commit_ = false;
  pub.publish("a", "m1", p::QoS::exactly_once, now_);
  commit_all(false);
  commit_all();  // the disconnections are themselves stored (S goes offline): their batch commits
  EXPECT_TRUE(pub.received_of<p::Pubrec>().empty());
  EXPECT_TRUE(pub.closed());
  EXPECT_TRUE(sub.closed()) << "S's delivery was not stored either";
}

TEST_P(BrokerPersistence, QueuedMessagesSurviveARestartInOrder) {
  {
    TestClient& sub = client();
    connect_persistent(sub, "s");
    sub.subscribe("a/#", p::QoS::exactly_once, now_);
    commit_all();
    sub.send(p::Disconnect{}, now_);
    commit_all();
    TestClient& pub = client();
    pub.connect("p", true, now_);
    pub.publish("a/1", "m1", p::QoS::at_least_once, now_);
    pub.publish("a/1", "m2", p::QoS::exactly_once, now_);
    pub.publish("a/2", "m3", p::QoS::at_most_once, now_);  // QoS 0 to an offline session: not queued (default)
    pub.publish("r", "kept", p::QoS::at_least_once, now_, true);
    commit_all();
    EXPECT_EQ(pub.received_of<p::Puback>().size(), 2u);
  }
  start(5s);

  TestClient& sub = client();
  const auto ack = connect_persistent(sub, "s");
  EXPECT_TRUE(ack.session_present);
  commit_all();
  auto got = sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "m1");
  EXPECT_EQ(got[0].qos, p::QoS::at_least_once);
  EXPECT_EQ(got[1].payload, "m2");
  EXPECT_EQ(got[1].qos, p::QoS::exactly_once);

  TestClient& other = client();
  other.connect("o", true, now_);
  other.subscribe("r", p::QoS::at_least_once, now_);
  auto retained = other.received_of<p::Publish>();
  ASSERT_EQ(retained.size(), 1u);
  EXPECT_EQ(retained[0].payload, "kept");
  EXPECT_TRUE(retained[0].retain);
}

// $SYS is republished every sys_interval: the retained index keeps it, the store does not (nor does mosquitto), so
// an idle broker writes nothing to disk for it. A client's retained message beside it is stored as ever.
TEST_P(BrokerPersistence, SysRetainedMessagesAreNotStored) {
  TestClient& c = client();
  c.connect("c", true, now_);
  c.publish("r", "kept", p::QoS::at_least_once, now_, /*retain=*/true);
  const std::size_t ops_before = submitter_.ops_seen;
  SysSample sample;
  sample.version = "0.1.0";
  sample.started = now_;
  broker_->publish_sys(sample, now_);
  broker_->publish_sys(sample, now_ + 10s);
  EXPECT_EQ(submitter_.ops_seen, ops_before);
  EXPECT_GT(broker_->stats().retained, 1u);

  start();  // a restart brings back the client's retained message alone
  EXPECT_EQ(broker_->stats().retained, 1u);
}

// One read with many publishes is one batch: one buffer of encoded ops (core::StoreBatch), grown as it fills. Every
// payload, small or large, reaches the store intact.
TEST_P(BrokerPersistence, ManyPublishesInOneReadReachTheStoreIntact) {
  persistent_subscriber("s", "a/#").drop(now_);
  TestClient& pub = client();
  pub.connect("p", true, now_);
  std::vector<p::Packet> packets;
  std::vector<std::string> payloads;
  for (int i = 0; i < 120; ++i) {
    // ~40 KB in all, most of 100 to 500 bytes, every tenth of 2,000
    std::string payload(i % 10 == 9 ? 2000 : 100 + (i * 37) % 400, static_cast<char>('a' + i % 26));
    payload += std::to_string(i);
    p::Publish publish;
    publish.topic = "a/" + std::to_string(i);
    publish.payload = payload;
    publish.qos = p::QoS::at_least_once;
    publish.packet_id = static_cast<std::uint16_t>(i + 1);
    packets.emplace_back(std::move(publish));
    payloads.push_back(std::move(payload));
  }
  const std::size_t batches_before = submitter_.batches.size();
  broker_->on_packets(pub.id(), packets, now_);
  commit_all();
  EXPECT_EQ(submitter_.batches.size(), batches_before + 1);  // one read, one batch
  EXPECT_EQ(pub.received_of<p::Puback>().size(), 120u);

  std::map<std::string, std::string> stored;  // topic -> payload
  for (const StoredMessage& m : submitter_.store.load().messages) stored[m.topic] = m.payload;
  ASSERT_EQ(stored.size(), 120u);
  for (int i = 0; i < 120; ++i) EXPECT_EQ(stored["a/" + std::to_string(i)], payloads[static_cast<std::size_t>(i)]) << i;
}

TEST_P(BrokerPersistence, UnacknowledgedDeliveriesAreResentWithDupAfterARestart) {
  std::uint16_t packet_id = 0;
  {
    TestClient& sub = persistent_subscriber("s", "a");
    TestClient& pub = client();
    pub.connect("p", true, now_);
    pub.publish("a", "m1", p::QoS::at_least_once, now_);
    commit_all();
    auto got = sub.received_of<p::Publish>();
    ASSERT_EQ(got.size(), 1u);
    packet_id = got[0].packet_id;
    // No PUBACK: the broker "crashes" here.
  }
  start(1s);
  TestClient& sub = client();
  EXPECT_TRUE(connect_persistent(sub, "s").session_present);
  commit_all();
  auto again = sub.received_of<p::Publish>();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, "m1");
  EXPECT_EQ(again[0].packet_id, packet_id);
  EXPECT_TRUE(again[0].dup);
  sub.send(p::Puback{.packet_id = packet_id}, now_);
  commit_all();

  start(1s);  // acknowledged: nothing comes a third time
  TestClient& third = client();
  EXPECT_TRUE(connect_persistent(third, "s").session_present);
  commit_all();
  EXPECT_TRUE(third.received_of<p::Publish>().empty());
}

TEST_P(BrokerPersistence, IncomingQos2IsNotDeliveredTwiceAcrossARestart) {
  {
    TestClient& sub = client();
    connect_persistent(sub, "s");
    sub.subscribe("a", p::QoS::exactly_once, now_);
    sub.send(p::Disconnect{}, now_);
    TestClient& pub = client();
    connect_persistent(pub, "p");
    commit_all();
    pub.received();
    pub.publish("a", "once", p::QoS::exactly_once, now_);  // packet id 1
    commit_all();
    ASSERT_EQ(pub.received_of<p::Pubrec>().size(), 1u);
    // The publisher never saw the PUBREC (the broker crashed after sending it): it sends the PUBLISH again.
  }
  start(1s);
  TestClient& pub = client();
  EXPECT_TRUE(connect_persistent(pub, "p").session_present);
  commit_all();
  pub.received();
  p::Publish again;
  again.topic = "a";
  again.payload = "once";
  again.qos = p::QoS::exactly_once;
  again.packet_id = 1;
  again.dup = true;
  pub.send(std::move(again), now_);
  commit_all();
  ASSERT_EQ(pub.received_of<p::Pubrec>().size(), 1u);
  pub.send(p::Pubrel{.packet_id = 1}, now_);
  commit_all();
  auto comp = pub.received_of<p::Pubcomp>();
  ASSERT_EQ(comp.size(), 1u);
  EXPECT_EQ(comp[0].reason_code, p::ReasonCode::success);

  TestClient& sub = client();
  connect_persistent(sub, "s");
  commit_all();
  auto got = sub.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 1u) << "the QoS 2 message must arrive exactly once";
  EXPECT_EQ(got[0].payload, "once");
}

// A long offline queue lives in the store: beyond max_queued_in_memory entries it is not held in memory, and it
// is read back a page at a time, in order, as the client takes its messages.
class BrokerSpill : public BrokerPersistence {
 protected:
  BrokerSpill() {
    options_.max_queued_in_memory = 3;
    options_.max_queued_messages = 0;
    options_.max_inflight_messages = 2;  // the 3.1.1 window; 5.0 clients get 65535 unless they say less
    start();
  }

  // Publishes "m0".."m{n-1}" at QoS 1 to "q" from a clean publisher.
  void publish_numbered(int n) {
    TestClient& pub = client();
    pub.connect("pub", true, now_);
    for (int i = 0; i < n; ++i) pub.publish("q", "m" + std::to_string(i), p::QoS::at_least_once, now_);
    EXPECT_EQ(pub.received_of<p::Puback>().size(), static_cast<std::size_t>(n));
  }

  // Reconnects "s" with a receive maximum of 2 and acknowledges what comes until nothing more does; the payloads
  // in arrival order.
  std::vector<std::string> drain(TestClient& sub) {
    p::Properties props;
    if (GetParam() == p::Version::v5) {
      props.session_expiry_interval = 3600;
      props.receive_maximum = 2;
    }
    EXPECT_TRUE(sub.connect("s", false, now_, props).session_present);
    std::vector<std::string> got;
    acknowledge_all(sub, got);
    return got;
  }

  // Connects `c` as "s" again, resuming its session, with these 5.0 properties; whether the session was present.
  bool resume(TestClient& c, std::uint32_t session_expiry, std::uint16_t receive_maximum) {
    p::Properties props;
    props.session_expiry_interval = session_expiry;
    props.receive_maximum = receive_maximum;
    return c.connect("s", false, now_, props).session_present;
  }

  // Acknowledges what `c` receives, appending the payloads to `got`, until nothing more comes (bounded); no more
  // than the window (2) is ever in flight.
  void acknowledge_all(TestClient& c, std::vector<std::string>& got) {
    for (int round = 0; round < 200; ++round) {
      auto batch = c.received_of<p::Publish>();
      if (batch.empty()) return;
      EXPECT_LE(batch.size(), 2u) << "more in flight than the window";
      for (const auto& m : batch) {
        got.push_back(m.payload);
        c.send(p::Puback{.packet_id = m.packet_id}, now_);
      }
    }
    ADD_FAILURE() << "still receiving after 200 rounds";
  }

  static std::vector<std::string> numbered(int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back("m" + std::to_string(i));
    return v;
  }
};

TEST_P(BrokerSpill, AnOfflineQueueBeyondTheMemoryLimitComesBackInOrder) {
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(20);
  EXPECT_EQ(submitter_.pages_read, 0);
  TestClient& again = client();
  EXPECT_EQ(drain(again), numbered(20));
  EXPECT_GE(submitter_.pages_read, 17 / 3) << "the tail was read back from the store in pages";
  EXPECT_TRUE(submitter_.store.load().queue.empty()) << "every entry acknowledged and deleted";
}

TEST_P(BrokerSpill, MessagesArrivingWhileTheTailIsInTheStoreQueueBehindIt) {
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(10);
  TestClient& again = client();
  p::Properties props;
  if (GetParam() == p::Version::v5) {
    props.session_expiry_interval = 3600;
    props.receive_maximum = 2;
  }
  again.connect("s", false, now_, props);
  auto first = again.received_of<p::Publish>();  // the window's worth
  ASSERT_EQ(first.size(), 2u);
  TestClient& pub = client();
  pub.connect("late", true, now_);
  pub.publish("q", "late", p::QoS::at_least_once, now_);  // must not overtake m2..m9
  std::vector<std::string> got{first[0].payload, first[1].payload};
  for (const auto& m : first) again.send(p::Puback{.packet_id = m.packet_id}, now_);
  acknowledge_all(again, got);
  auto expected = numbered(10);
  expected.push_back("late");
  EXPECT_EQ(got, expected);
}

TEST_P(BrokerSpill, ARestartLoadsOnlyTheHeadOfALongQueue) {
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(30);
  start(1s);
  EXPECT_EQ(submitter_.store.load().queue.size(), 30u);
  TestClient& again = client();
  EXPECT_EQ(drain(again), numbered(30));
  EXPECT_GE(submitter_.pages_read, 27 / 3);
}

// Paging in is asynchronous (broker_store.cpp): the request goes to the store, the page comes back later through
// Broker::on_queue_page(), and the session's deliveries wait for it only when its in-memory queue is empty.
TEST_P(BrokerSpill, APageIsRequestedOnceWhileOneIsOnItsWay) {
  auto_pages_ = false;
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(20);  // seqs 1..20: 1..3 in memory, 4..20 only in the store
  EXPECT_TRUE(submitter_.pages.empty()) << "nothing is read while the session is offline";
  TestClient& again = client();
  p::Properties props;
  if (GetParam() == p::Version::v5) {
    props.session_expiry_interval = 3600;
    props.receive_maximum = 2;
  }
  again.connect("s", false, now_, props);
  ASSERT_EQ(submitter_.pages.size(), 1u) << "m0, m1 sent; one left in memory: the next page is asked for";
  EXPECT_EQ(submitter_.pages.front().after_seq, 3u);
  std::vector<std::string> got;
  for (int round = 0; round < 3; ++round) {  // m0 m1, then m2, then nothing: the page is not there yet
    for (const auto& m : again.received_of<p::Publish>()) {
      got.push_back(m.payload);
      again.send(p::Puback{.packet_id = m.packet_id}, now_);
    }
  }
  EXPECT_EQ(got, numbered(3));
  EXPECT_EQ(submitter_.pages.size(), 1u) << "no second request while one is on its way";
  EXPECT_EQ(submitter_.pages_read, 1);
  auto_pages_ = true;
  serve_pages();
  acknowledge_all(again, got);
  EXPECT_EQ(got, numbered(20));
  EXPECT_TRUE(submitter_.store.load().queue.empty());
}

TEST_P(BrokerSpill, MessagesArrivingWhileAPageIsOnItsWayStayBehindIt) {
  auto_pages_ = false;
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(10);
  TestClient& again = client();
  p::Properties props;
  if (GetParam() == p::Version::v5) {
    props.session_expiry_interval = 3600;
    props.receive_maximum = 2;
  }
  again.connect("s", false, now_, props);
  ASSERT_EQ(submitter_.pages.size(), 1u);
  TestClient& pub = client();
  pub.connect("late", true, now_);
  pub.publish("q", "late1", p::QoS::at_least_once, now_);
  pub.publish("q", "late2", p::QoS::at_least_once, now_);
  auto_pages_ = true;
  serve_pages();
  std::vector<std::string> got;
  acknowledge_all(again, got);
  auto expected = numbered(10);
  expected.push_back("late1");
  expected.push_back("late2");
  EXPECT_EQ(got, expected);
}

TEST_P(BrokerSpill, APageThatComesBackAfterItsSessionEndedIsDropped) {
  auto_pages_ = false;
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(10);
  TestClient& again = client();
  connect_persistent(again, "s");
  ASSERT_EQ(submitter_.pages.size(), 1u);
  TestClient& fresh = client();
  fresh.connect("s", true, now_);  // takes the session over and starts a new one: the old one ends
  EXPECT_TRUE(again.closed());
  serve_pages();  // the page asked for by the old session
  EXPECT_TRUE(fresh.received_of<p::Publish>().empty());
  const StoreSnapshot stored = submitter_.store.load();
  EXPECT_TRUE(stored.queue.empty()) << "the old session's tail went with it";
}

TEST_P(BrokerSpill, AnEndingSessionDeletesItsTailWithoutReadingIt) {
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(20);
  ASSERT_EQ(submitter_.store.load().queue.size(), 20u);
  TestClient& fresh = client();
  fresh.connect("s", true, now_);  // clean: the offline session ends
  EXPECT_EQ(submitter_.pages_read, 0);
  EXPECT_TRUE(submitter_.store.load().queue.empty());
  EXPECT_TRUE(fresh.received_of<p::Publish>().empty());
}

TEST_P(BrokerSpill, Qos2DeliveriesFromTheStoreKeepToTheWindow) {
  TestClient& sub = persistent_subscriber("s", "q", p::QoS::exactly_once);
  sub.send(p::Disconnect{}, now_);
  TestClient& pub = client();
  pub.connect("pub", true, now_);
  for (int i = 0; i < 12; ++i) {  // one at a time: the broker's receive maximum is 2
    pub.publish("q", "m" + std::to_string(i), p::QoS::exactly_once, now_);
    for (const auto& rec : pub.received_of<p::Pubrec>()) pub.send(p::Pubrel{.packet_id = rec.packet_id}, now_);
  }
  TestClient& again = client();
  p::Properties props;
  if (GetParam() == p::Version::v5) {
    props.session_expiry_interval = 3600;
    props.receive_maximum = 2;
  }
  again.connect("s", false, now_, props);
  std::vector<std::string> got;
  std::size_t open = 0;  // PUBLISHes received and not yet completed (PUBCOMP sent)
  for (int round = 0; round < 100; ++round) {
    auto packets = again.received();
    if (packets.empty()) break;
    for (auto& packet : packets) {
      if (auto* m = std::get_if<p::Publish>(&packet)) {
        EXPECT_EQ(m->qos, p::QoS::exactly_once);
        ++open;
        EXPECT_LE(open, 2u) << "more in flight than the window";
        got.push_back(m->payload);
        again.send(p::Pubrec{.packet_id = m->packet_id}, now_);
      } else if (auto* rel = std::get_if<p::Pubrel>(&packet)) {
        again.send(p::Pubcomp{.packet_id = rel->packet_id}, now_);
        --open;
      }
    }
  }
  EXPECT_EQ(got, numbered(12));
  EXPECT_EQ(open, 0u);
  EXPECT_TRUE(submitter_.store.load().queue.empty());
}

// 3.1.1 cannot resume a session and make it non-persistent.
class BrokerSpillV5 : public BrokerSpill {};

TEST_P(BrokerSpillV5, ASessionThatStopsBeingPersistentTakesItsTailBackFirst) {
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(8);
  TestClient& again = client();
  p::Properties props;
  props.session_expiry_interval = 0;  // resume, but end the session with this connection
  props.receive_maximum = 2;
  EXPECT_TRUE(again.connect("s", false, now_, props).session_present);
  std::vector<std::string> got;
  acknowledge_all(again, got);
  EXPECT_EQ(got, numbered(8));
  EXPECT_TRUE(submitter_.store.load().sessions.empty());
}

TEST_P(BrokerSpillV5, ASessionThatStopsBeingPersistentStaysStoredOnlyUntilItsTailIsBack) {
  auto_pages_ = false;
  TestClient& sub = persistent_subscriber("s", "q");
  sub.send(p::Disconnect{}, now_);
  publish_numbered(8);
  TestClient& again = client();
  EXPECT_TRUE(resume(again, 0, 2));
  ASSERT_EQ(submitter_.pages.size(), 1u);
  StoreSnapshot stored = submitter_.store.load();
  ASSERT_EQ(stored.sessions.size(), 1u) << "the tail is still in the store: so is the session";
  EXPECT_EQ(stored.sessions[0].expiry_interval, std::optional<std::uint32_t>(0));
  start(1s);  // a crash now: the session ends at the restart, as it would have with its connection
  stored = submitter_.store.load();
  EXPECT_TRUE(stored.sessions.empty());
  EXPECT_TRUE(stored.queue.empty());
}

// A connected client takes pages as large as its in-flight window (at least max_queued_in_memory, 3 here, and at
// most 3 times it, 9), so that a draining session asks the store once per window, not every few deliveries.
TEST_P(BrokerSpillV5, PagesAreAsLargeAsTheClientsWindowUpToThreeTimesTheMemoryLimit) {
  for (const std::uint16_t window : {2, 5, 65535}) {
    SCOPED_TRACE(window);
    submitter_.page_limits.clear();
    TestClient& sub = persistent_subscriber("s", "q");
    sub.send(p::Disconnect{}, now_);
    publish_numbered(100);
    TestClient& again = client();
    EXPECT_TRUE(resume(again, 3600, window));
    std::vector<std::string> got;
    for (int round = 0; round < 200 && got.size() < 100; ++round) {
      for (const auto& m : again.received_of<p::Publish>()) {
        got.push_back(m.payload);
        again.send(p::Puback{.packet_id = m.packet_id}, now_);
      }
    }
    EXPECT_EQ(got, numbered(100));
    const std::size_t expected_limit = std::clamp<std::size_t>(window, 3, 9);
    ASSERT_FALSE(submitter_.page_limits.empty());
    for (std::size_t limit : submitter_.page_limits) EXPECT_EQ(limit, expected_limit);
    // 97 entries only in the store, read back in pages of the limit (the last one finds the end).
    EXPECT_LE(submitter_.page_limits.size(), 97 / expected_limit + 2);
    again.send(p::Disconnect{}, now_);
  }
  EXPECT_TRUE(submitter_.store.load().queue.empty());
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerSpill, ::testing::Values(p::Version::v311, p::Version::v5),
                         [](const auto& info) { return info.param == p::Version::v5 ? "v5" : "v311"; });
INSTANTIATE_TEST_SUITE_P(V5, BrokerSpillV5, ::testing::Values(p::Version::v5));

// Session expiry and will delay are 5.0's.
class BrokerPersistenceV5 : public BrokerPersistence {};

TEST_P(BrokerPersistenceV5, SessionExpiryCountsTheTimeTheBrokerWasDown) {
  {
    TestClient& sub = client();
    connect_persistent(sub, "short", 10);
    connect_persistent(client(), "long", 3600);
    sub.subscribe("a", p::QoS::at_least_once, now_);
    commit_all();
    for (auto& c : clients_) c->send(p::Disconnect{}, now_);
    commit_all();
  }
  start(20s);  // down for longer than "short"'s expiry of 10 s, not "long"'s
  TestClient& s1 = client();
  EXPECT_FALSE(connect_persistent(s1, "short", 10).session_present);
  TestClient& s2 = client();
  EXPECT_TRUE(connect_persistent(s2, "long", 3600).session_present);
}

TEST_P(BrokerPersistenceV5, AWillPendingAtTheCrashIsPublishedAfterTheRestart) {
  {
    TestClient& watcher = client();
    connect_persistent(watcher, "w");
    watcher.subscribe("will/#", p::QoS::at_least_once, now_);
    watcher.send(p::Disconnect{}, now_);
    p::Will will;
    will.topic = "will/dev";
    will.payload = "gone";
    will.qos = p::QoS::at_least_once;
    will.properties.will_delay_interval = 30;
    connect_persistent(client(), "dev", 3600, will);
    // The broker crashes with "dev" connected: its connection ended abnormally, so its will must go.
  }
  start(1s);
  now_ += 31s;
  broker_->tick(now_);
  commit_all();
  TestClient& watcher = client();
  EXPECT_TRUE(connect_persistent(watcher, "w").session_present);
  commit_all();
  auto got = watcher.received_of<p::Publish>();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "gone");
}

INSTANTIATE_TEST_SUITE_P(Versions, BrokerPersistence, ::testing::Values(p::Version::v311, p::Version::v5),
                         [](const auto& info) { return info.param == p::Version::v5 ? "v5" : "v311"; });
INSTANTIATE_TEST_SUITE_P(V5, BrokerPersistenceV5, ::testing::Values(p::Version::v5));

}  // namespace
}  // namespace tern::core::testing
