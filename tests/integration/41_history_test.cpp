// Local history (issue 24): a rule's `store` keeps matching messages in SQLite, queried over MQTT on
// $tern/history/query (5.0 request/response with correlation data, and 3.1.1 with reply_to in the payload); what was
// stored before a kill -9 is there after the restart; max_rows removes the oldest of a rule's rows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/persistence_support.hpp"

namespace tern::itest {
namespace {

using nlohmann::json;

std::vector<std::string> history_config(const durability::StoreDir& dir, const std::string& store = "store") {
  return {"persistence_location " + dir.path().string(), "rule temps", "  sql SELECT * FROM \"sensors/+/temp\"",
          "  " + store};
}

// 5.0: a request with Response Topic and Correlation Data; the answer's JSON.
json query5(std::uint16_t port, const std::string& request, const std::string& correlation = "c-1") {
  RawClient c(port, Version::v5);
  c.connect("asker");
  c.subscribe("answers/asker", QoS::at_least_once);
  Properties p;
  p.response_topic = "answers/asker";
  p.correlation_data = correlation;
  c.publish("$tern/history/query", request, QoS::at_least_once, false, p);
  const protocol::Publish answer = c.receive(10s);
  EXPECT_EQ(answer.topic, "answers/asker");
  EXPECT_EQ(answer.properties.correlation_data, correlation);
  return json::parse(answer.payload);
}

std::vector<std::string> payload_texts(const json& answer) {
  std::vector<std::string> out;
  for (const json& row : answer.at("rows")) out.push_back(row.at("payload").dump());
  return out;
}

void publish_temps(std::uint16_t port, const std::vector<std::string>& payloads) {
  RawClient p(port, Version::v311);
  p.connect("sensor");
  for (const auto& payload : payloads) p.publish("sensors/kitchen/temp", payload, QoS::at_least_once);
  p.publish("other/topic", "not stored", QoS::at_least_once);
}

// Records are written a batch at a time: a query asked right after the publishes may come before them.
json query_until(std::uint16_t port, const std::string& request, std::size_t rows) {
  json answer;
  wait_until(
      [&] {
        answer = query5(port, request);
        return answer.contains("rows") && answer["rows"].size() == rows;
      },
      20s);
  return answer;
}

TEST(History, StoreAndQueryOver5) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules and history are Tern's own";
  durability::StoreDir dir;
  auto config = history_config(dir);
  config.push_back("http_listener 0 127.0.0.1");
  BrokerProcess broker(config);
  publish_temps(broker.port(), {R"({"t":21.5})", R"({"t":22})", "cold"});
  const json all = query_until(broker.port(), R"({"filter": "sensors/#"})", 3);
  EXPECT_EQ(payload_texts(all), (std::vector<std::string>{R"({"t":21.5})", R"({"t":22})", R"("cold")"}));
  EXPECT_EQ(all["rows"][0]["topic"], "sensors/kitchen/temp");
  EXPECT_EQ(all["rows"][0]["rule"], "temps");
  EXPECT_EQ(all["rows"][0]["qos"], 1);
  EXPECT_EQ(all["truncated"], false);
  const json newest = query5(broker.port(), R"({"limit": 1, "order": "newest"})");
  EXPECT_EQ(payload_texts(newest), (std::vector<std::string>{R"("cold")"}));
  EXPECT_EQ(newest["truncated"], true);
  const json none = query5(broker.port(), R"({"filter": "other/#"})");
  EXPECT_TRUE(none["rows"].empty()) << "only what a rule stores is kept";
  const json bad = query5(broker.port(), R"({"limit": "lots"})");
  EXPECT_EQ(bad["error"], "\"limit\" must be a positive integer");
  const auto m = samples(body_of(get(http_port(broker), "/metrics")));
  EXPECT_EQ(m.at("tern_history_records_total{result=\"written\"}"), 3);
  EXPECT_EQ(m.at("tern_history_records_total{result=\"dropped\"}"), 0);
}

TEST(History, QueryOver311WithReplyTo) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules and history are Tern's own";
  durability::StoreDir dir;
  BrokerProcess broker(history_config(dir));
  publish_temps(broker.port(), {"1", "2"});
  query_until(broker.port(), "{}", 2);
  RawClient c(broker.port(), Version::v311);
  c.connect("old-asker");
  c.subscribe("answers/old", QoS::at_least_once);
  c.publish("$tern/history/query", R"({"reply_to": "answers/old", "correlation": "n-7", "filter": "sensors/+/temp"})",
            QoS::at_least_once);
  const json answer = json::parse(c.receive(10s).payload);
  EXPECT_EQ(answer["correlation"], "n-7");
  EXPECT_EQ(payload_texts(answer), (std::vector<std::string>{"1", "2"}));
}

TEST(History, StoredBeforeAKillIsThereAfter) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules and history are Tern's own";
  durability::StoreDir dir;
  BrokerProcess broker(history_config(dir));
  publish_temps(broker.port(), {"a", "b", "c"});
  query_until(broker.port(), "{}", 3);  // written: the query saw them
  broker.kill();
  broker.restart();
  const json after = query5(broker.port(), "{}");
  EXPECT_EQ(payload_texts(after), (std::vector<std::string>{R"("a")", R"("b")", R"("c")"}));
}

// Real clients on both ends: Paho 5.0 publishes the readings, Debian's mosquitto_rr asks (Response Topic and
// Correlation Data are its own) and prints the answer.
TEST(History, PahoPublishesMosquittoRrQueries) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules and history are Tern's own";
  durability::StoreDir dir;
  BrokerProcess broker(history_config(dir));
  PahoClient sensor(broker.port(), "paho-sensor", Version::v5);
  sensor.connect();
  sensor.publish("sensors/hall/temp", R"({"t":19.5})", 1);
  sensor.publish("sensors/hall/temp", R"({"t":19.75})", 1);
  query_until(broker.port(), "{}", 2);
  const auto r = run_command(
      {"mosquitto_rr", "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-V", "5", "-t", "$tern/history/query",
       "-e", "replies/rr", "-W", "10", "-m", R"({"filter": "sensors/hall/#", "order": "newest", "limit": 1})"},
      20s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json answer = json::parse(r.output);
  EXPECT_EQ(payload_texts(answer), (std::vector<std::string>{R"({"t":19.75})"}));
  EXPECT_EQ(answer["rows"][0]["topic"], "sensors/hall/temp");
}

// max_rows 3: the retention pass (every 10 s) leaves the rule's newest three rows.
TEST(History, RetentionKeepsTheNewestRows) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules and history are Tern's own";
  durability::StoreDir dir;
  BrokerProcess broker(history_config(dir, "store max_rows 3"));
  publish_temps(broker.port(), {"1", "2", "3", "4", "5"});
  const json kept = query_until(broker.port(), "{}", 3);
  EXPECT_EQ(payload_texts(kept), (std::vector<std::string>{"3", "4", "5"}));
}

}  // namespace
}  // namespace tern::itest
