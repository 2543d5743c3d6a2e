// http_listener (Tern's own): GET /metrics in the Prometheus text format, GET /healthz, and what bad HTTP gets.
// The counters must follow what the test's clients did; every line must parse as the text format says; a client
// that sends nothing, sends garbage or sends a body costs the others nothing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/persistence_support.hpp"

namespace tern::itest {
namespace {

#define SKIP_FOR_MOSQUITTO() \
  if (testing_mosquitto()) GTEST_SKIP() << "http_listener is Tern's own"


TEST(Metrics, CountersFollowTheClients) {
  SKIP_FOR_MOSQUITTO();
  // Without $SYS, whose retained messages would count too.
  BrokerProcess broker({"http_listener 0 127.0.0.1", "sys_interval 0"});
  const std::uint16_t http = http_port(broker);
  ASSERT_NE(http, 0) << broker.log();

  RawClient sub(broker.port(), Version::v5);
  ASSERT_EQ(sub.connect("metrics-sub").reason_code, ReasonCode::success);
  sub.subscribe("m/#", QoS::at_least_once);
  RawClient pub(broker.port(), Version::v311);
  ASSERT_EQ(pub.connect("metrics-pub").reason_code, ReasonCode::success);
  for (int i = 0; i < 3; ++i) pub.publish("m/" + std::to_string(i), "x", QoS::at_least_once, i == 0);
  for (int i = 0; i < 3; ++i) sub.receive();

  const std::string response = get(http, "/metrics");
  ASSERT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << response;
  const auto m = samples(body_of(response));
  EXPECT_EQ(m.at("tern_clients_connected"), 2);
  EXPECT_EQ(m.at("tern_connections"), 2);
  EXPECT_EQ(m.at("tern_sessions"), 2);
  EXPECT_EQ(m.at("tern_subscriptions"), 1);
  EXPECT_EQ(m.at("tern_retained_messages"), 1);
  EXPECT_EQ(m.at("tern_messages_received_total"), 3);
  EXPECT_EQ(m.at("tern_messages_sent_total"), 3);
  EXPECT_EQ(m.at("tern_listener_connections{listener=\"127.0.0.1:" + std::to_string(broker.port()) + "\"}"), 2);
  EXPECT_EQ(m.at("tern_build_info{version=\"" TERN_VERSION_FOR_TESTS "\"}"), 1);
  EXPECT_EQ(m.at("tern_publish_bytes_received_total"), 3);  // three one-byte payloads
  EXPECT_EQ(m.at("tern_publish_bytes_sent_total"), 3);
  EXPECT_EQ(m.at("tern_connects_total"), 2);
  EXPECT_GT(m.at("tern_bytes_received_total"), m.at("tern_publish_bytes_received_total"));
  EXPECT_GT(m.at("tern_bytes_sent_total"), m.at("tern_publish_bytes_sent_total"));
  EXPECT_GT(m.at("tern_packets_received_total"), 3);  // CONNECTs, SUBSCRIBE, PUBLISHes, PUBACKs
  EXPECT_GT(m.at("tern_heap_bytes"), 0);
  EXPECT_GT(m.at("tern_core_lock_acquisitions_total"), 0);
  EXPECT_EQ(m.at("tern_queued_messages"), 0);
  for (const char* reason :
       {"offline_qos0", "slow_client", "queue_full", "expired", "not_authorized", "too_large", "memory_limit"}) {
    EXPECT_EQ(m.at(std::string("tern_messages_dropped_total{reason=\"") + reason + "\"}"), 0) << reason;
  }
  EXPECT_EQ(m.at("tern_tls_handshake_failures_total"), 0);
  EXPECT_FALSE(m.contains("tern_persistence_commit_seconds_count"));  // persistence off
  EXPECT_GE(m.at("tern_uptime_seconds"), 0);
}

// A persistent session offline with max_queued_messages 2: two of three messages wait for it, one is dropped for a
// full queue; the store's commit histogram counts the batches and stays cumulative.
TEST(Metrics, QueuesDropsAndPersistence) {
  SKIP_FOR_MOSQUITTO();
  durability::StoreDir dir;
  BrokerProcess broker(durability::persistence_config(dir, {"http_listener 0 127.0.0.1", "sys_interval 0",
                                                "max_queued_messages 2"}));
  const std::uint16_t http = http_port(broker);
  ASSERT_NE(http, 0) << broker.log();
  {
    RawClient sub(broker.port(), Version::v311);
    ASSERT_EQ(sub.connect("queued", false).reason_code, ReasonCode::success);
    sub.subscribe("q/#", QoS::at_least_once);
    sub.disconnect();
  }
  RawClient pub(broker.port(), Version::v311);
  ASSERT_EQ(pub.connect("queue-filler").reason_code, ReasonCode::success);
  for (int i = 0; i < 3; ++i) pub.publish("q/" + std::to_string(i), "x", QoS::at_least_once);  // each acknowledged

  // The last batch may still count as waiting just after its acknowledgement left: the backlog must drain.
  std::map<std::string, double> m;
  EXPECT_TRUE(wait_until([&] {
    m = samples(body_of(get(http, "/metrics")));
    return m.at("tern_persistence_backlog_batches") == 0;
  }));
  EXPECT_EQ(m.at("tern_queued_messages"), 2);
  EXPECT_EQ(m.at("tern_queued_bytes"), 2 * (3 + 1));  // topic "q/N" and a one-byte payload each
  EXPECT_EQ(m.at("tern_messages_dropped_total{reason=\"queue_full\"}"), 1);
  EXPECT_EQ(m.at("tern_messages_dropped_total{reason=\"expired\"}"), 0);
  const double commits = m.at("tern_persistence_commit_seconds_count");
  EXPECT_GE(commits, 3);  // the session, the subscription, three publishes (some may share a batch)
  EXPECT_EQ(m.at("tern_persistence_commit_seconds_bucket{le=\"+Inf\"}"), commits);
  double previous = 0;
  for (const char* le : {"0.0005", "0.001", "0.01", "0.1", "1"}) {
    const double within = m.at(std::string("tern_persistence_commit_seconds_bucket{le=\"") + le + "\"}");
    EXPECT_GE(within, previous) << le;  // cumulative
    previous = within;
  }
  EXPECT_EQ(m.at("tern_persistence_commit_failures_total"), 0);
}

// dist/grafana/tern-dashboard.json asks only for metrics that a broker with persistence on serves.
TEST(Metrics, TheGrafanaDashboardUsesServedMetrics) {
  SKIP_FOR_MOSQUITTO();
  std::ifstream in(std::string(TERN_SOURCE_DIR) + "/dist/grafana/tern-dashboard.json");
  ASSERT_TRUE(in) << "dist/grafana/tern-dashboard.json";
  std::stringstream dashboard;
  dashboard << in.rdbuf();
  durability::StoreDir dir;
  // A bridge to where nothing listens: its metrics are served too (tern_bridge_up 0).
  BrokerProcess broker(durability::persistence_config(
      dir, {"http_listener 0 127.0.0.1", "connection nowhere", "address 127.0.0.1:" + std::to_string(pick_free_port()),
            "topic dashboard/# out 1", "restart_timeout 30"}));
  const std::uint16_t http = http_port(broker);
  ASSERT_NE(http, 0) << broker.log();
  const std::string served = body_of(get(http, "/metrics"));
  std::set<std::string> used;
  const std::string text = dashboard.str();
  const std::regex name(R"(\btern_[a-z_]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
    used.insert(it->str());
  }
  EXPECT_GE(used.size(), 10u);
  for (const std::string& metric : used) {
    EXPECT_NE(served.find("\n" + metric), std::string::npos) << metric << " is not served";
  }
}

TEST(Metrics, HealthAndWrongRequests) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"http_listener 0 127.0.0.1"});
  const std::uint16_t http = http_port(broker);
  ASSERT_NE(http, 0) << broker.log();
  RawClient bystander(broker.port(), Version::v5);
  ASSERT_EQ(bystander.connect("bystander").reason_code, ReasonCode::success);
  bystander.subscribe("ok/#", QoS::at_least_once);

  const std::string health = get(http, "/healthz");
  EXPECT_EQ(health.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << health;
  EXPECT_EQ(body_of(health), "ok\n");

  const std::string head = http_exchange(http, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(body_of(head), "");

  const std::string post = http_exchange(http, "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
  EXPECT_EQ(get(http, "/nothing").rfind("HTTP/1.1 404 ", 0), 0u);

  // Garbage, a body, headers over 8 KiB: 400, then the connection ends.
  EXPECT_EQ(http_exchange(http, "HELLO THERE\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(http_exchange(http, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").rfind("HTTP/1.1 400 ", 0),
            0u);
  EXPECT_EQ(http_exchange(http, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n")
                .rfind("HTTP/1.1 400 ", 0),
            0u);

  // A client that connects and says nothing holds no one up.
  const int idle = connect_to(http);
  EXPECT_EQ(get(http, "/healthz").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  ::close(idle);
  expect_still_served(broker.port(), bystander);
}

TEST(Metrics, KeepAliveServesSeveralRequests) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"http_listener 0 127.0.0.1"});
  const std::uint16_t http = http_port(broker);
  ASSERT_NE(http, 0) << broker.log();
  const std::string two = http_exchange(http, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                         "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t count = 0;
  for (std::size_t at = 0; (at = two.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++count;
  EXPECT_EQ(count, 2u) << two;
}

TEST(Metrics, HttpListenerPortInUseStopsTheStart) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess first({"http_listener 0 127.0.0.1"});
  const std::uint16_t http = http_port(first);
  ASSERT_NE(http, 0);
  try {
    BrokerProcess second({"http_listener " + std::to_string(http) + " 127.0.0.1"});
    ADD_FAILURE() << "started on a port in use";
  } catch (const HarnessError& e) {
    EXPECT_NE(std::string(e.what()).find("http_listener " + std::to_string(http)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tern::itest
