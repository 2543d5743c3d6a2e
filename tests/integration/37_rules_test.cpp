// Local rules end to end (broker/edge): republish, drop, aggregation windows, payloads that are not JSON, and a
// reload by SIGHUP while messages flow. Tern only (mosquitto has no rules).
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

using Json = nlohmann::json;

const std::vector<std::string> kHotRule = {
    "rule hot",
    R"(  sql SELECT payload.temp AS t, topic[2] AS room FROM "sensors/+/temp" WHERE payload.temp > 30)",
    "  republish alarms/${room} qos 1",
};

class RulesTest : public VersionedTest {
 protected:
  void SetUp() override {
    if (testing_mosquitto()) GTEST_SKIP() << "rules are Tern's own";
  }
};

// A message that matches is republished to the topic the template makes, with the selected fields as JSON, at the
// rule's QoS; the original is routed as well. One that does not match makes nothing.
TEST_P(RulesTest, Republish) {
  BrokerProcess broker(kHotRule);
  Subscriber alarms(broker.port(), version(), "alarms", "alarms/#", QoS::exactly_once);
  Subscriber raw(broker.port(), version(), "raw", "sensors/#");
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("sensors/kitchen/temp", R"({"temp":31.5})", QoS::at_least_once);
  const auto alarm = alarms.receive();
  EXPECT_EQ(alarm.topic, "alarms/kitchen");
  EXPECT_EQ(Json::parse(alarm.payload), Json::parse(R"({"t":31.5,"room":"kitchen"})"));
  EXPECT_EQ(alarm.qos, QoS::at_least_once);
  EXPECT_EQ(raw.receive().payload, R"({"temp":31.5})");
  pub.publish("sensors/hall/temp", R"({"temp":20})", QoS::at_least_once);
  EXPECT_EQ(raw.receive().topic, "sensors/hall/temp");
  alarms.expect_silence();
}

// mosquitto_pub and mosquitto_sub on both ends, a payload template and user properties (5.0).
TEST_P(RulesTest, PayloadTemplateThroughMosquittoClients) {
  BrokerProcess broker({"rule unit",
                        R"(  sql SELECT payload.v AS v FROM "m/#" WHERE user_property.unit = 'C' or qos = 2)",
                        "  republish out/${clientid}/${topic[2]} payload v=${v} unit=${user_property.unit}"});
  const std::string port = std::to_string(broker.port());
  const std::string proto = v5() ? "mqttv5" : "mqttv311";
  BackgroundCommand sub({"stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", port, "-V", proto, "-t",
                         "out/#", "-v", "-C", "1", "-W", "15"});
  ASSERT_TRUE(sub.wait_for_output("SUBACK")) << sub.output();
  std::vector<std::string> pub = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port,        "-V", proto, "-i",
                                  "dev7",          "-t", "m/room",    "-m", R"({"v":4})"};
  if (v5()) {
    for (const char* a : {"-D", "publish", "user-property", "unit", "C"}) pub.emplace_back(a);
  } else {
    for (const char* a : {"-q", "2"}) pub.emplace_back(a);  // no user properties in 3.1.1
  }
  ASSERT_EQ(run_command(pub, 10s).exit_code, 0);
  const auto r = sub.wait(15s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(v5() ? "out/dev7/room v=4 unit=C" : "out/dev7/room v=4 unit="), std::string::npos)
      << r.output;
}

// drop: the publisher's QoS 1 exchange completes as usual, no subscriber gets the message and it is not retained.
TEST_P(RulesTest, Drop) {
  BrokerProcess broker({"rule quiet", R"(  sql SELECT * FROM "debug/#" WHERE payload.level = 'trace')", "  drop"});
  Subscriber all(broker.port(), version(), "all", "#");
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  pub.publish("debug/x", R"({"level":"trace"})", QoS::at_least_once, true);
  pub.publish("debug/x", R"({"level":"error"})", QoS::at_least_once);
  const auto kept = all.receive();
  EXPECT_EQ(kept.payload, R"({"level":"error"})");
  all.expect_silence();
  Subscriber later(broker.port(), version(), "later", "debug/#");  // nothing retained
  later.expect_silence();
}

// A window of 1 s publishes count, min, max, mean and last per source topic; the test waits for the message.
TEST_P(RulesTest, AggregationWindow) {
  BrokerProcess broker(
      {"rule minute", R"(  sql SELECT payload.t AS t FROM "s/+/t")", "  window 1 t avg/${topic[2]} qos 1"});
  Subscriber avg(broker.port(), version(), "avg", "avg/#");
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  const double values[] = {20, 22, 27};
  for (const double v : values) pub.publish("s/a/t", Json{{"t", v}}.dump(), QoS::at_least_once);
  pub.publish("s/b/t", R"({"t":"not a number"})", QoS::at_least_once);  // no sample: avg/b never comes
  // The three normally fall in one window; on a loaded machine a window may close between them, so windows are
  // read until all three are counted (at most three windows), and checked together.
  std::uint64_t count = 0;
  double min = 1e9, max = -1e9, sum = 0, last = 0;
  for (int i = 0; i < 3 && count < 3; ++i) {
    const auto m = avg.receive(5s);
    EXPECT_EQ(m.topic, "avg/a");
    const Json j = Json::parse(m.payload);
    ASSERT_TRUE(j.contains("count") && j.contains("min") && j.contains("max") && j.contains("mean") &&
                j.contains("last"))
        << m.payload;
    const auto n = j["count"].get<std::uint64_t>();
    count += n;
    min = std::min(min, j["min"].get<double>());
    max = std::max(max, j["max"].get<double>());
    sum += j["mean"].get<double>() * static_cast<double>(n);
    last = j["last"].get<double>();
  }
  EXPECT_EQ(count, 3u);
  EXPECT_EQ(min, 20);
  EXPECT_EQ(max, 27);
  EXPECT_DOUBLE_EQ(sum / 3, 23);
  EXPECT_EQ(last, 27);
  avg.expect_silence(1500ms);  // no window for s/b, and none for a quiet s/a
}

// A payload that is not JSON makes a rule that reads it not match (and is counted); the message itself is routed,
// and the broker goes on.
TEST_P(RulesTest, PayloadThatIsNotJson) {
  auto config = kHotRule;
  config.push_back("http_listener 0 127.0.0.1");
  BrokerProcess broker(config);
  Subscriber alarms(broker.port(), version(), "alarms", "alarms/#");
  Subscriber raw(broker.port(), version(), "raw", "sensors/#");
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (const char* payload : {"31", "{\"temp\":", "\xff\xfe\x00", "hello", ""}) {
    pub.publish("sensors/kitchen/temp", payload, QoS::at_least_once);
    EXPECT_EQ(raw.receive().payload, payload);
  }
  alarms.expect_silence();
  pub.publish("sensors/kitchen/temp", R"({"temp":40})", QoS::at_least_once);
  EXPECT_EQ(alarms.receive().topic, "alarms/kitchen");
  const auto m = samples(body_of(get(http_port(broker), "/metrics")));
  EXPECT_EQ(m.at("tern_rule_not_json_total"), 4);  // "31" is JSON (a number without a temp: no match)
  EXPECT_EQ(m.at("tern_rule_evaluations_total"), 6);
  EXPECT_EQ(m.at("tern_rule_matches_total"), 1);
  EXPECT_EQ(m.at("tern_rule_messages_total"), 1);
}

TERN_INSTANTIATE_VERSIONS(RulesTest);

// Rules that a reload brings apply to clients connected before them, as to new ones. Such a connection kept nothing
// of its CONNECT for rules (there were none): it asks the broker for the client id and username, and a topic alias
// set before the reload still names its topic.
TEST(RulesReload, ReachClientsConnectedBeforeThem) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules are Tern's own";
  const testsupport::TempDir dir("tern-rules-late");
  const std::string rules = dir.file("rules.conf");
  std::ofstream(rules, std::ios::trunc) << "";
  BrokerProcess broker({"max_topic_alias 10", "rules_file " + rules});
  Subscriber who(broker.port(), Version::v5, "who", "who/#");
  RawClient pub(broker.port(), Version::v5);
  protocol::Connect connect = RawClient::make_connect(Version::v5, "dev9");
  connect.username = "carol";
  ASSERT_EQ(pub.connect(std::move(connect)).reason_code, protocol::ReasonCode::success);
  pub.publish("t/a", "before", QoS::at_least_once, false, Properties{.topic_alias = 1});

  std::ofstream(rules, std::ios::trunc) << "rule who\n  sql SELECT clientid AS c, username AS u FROM \"t/#\"\n"
                                           "  republish who/${c}/${u}/${topic} payload ${payload}\n";
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log_count("rules reloaded: 1 rule in force") >= 1; })) << broker.log();
  pub.publish("", "after", QoS::at_least_once, false, Properties{.topic_alias = 1});
  const auto m = who.receive();
  EXPECT_EQ(m.topic, "who/dev9/carol/t/a");
  EXPECT_EQ(m.payload, "after");
  who.expect_silence();
}

// 5.0 topic aliases (the rules see the topic an alias stands for) and a listener's mount_point (the rules see the
// broker's topic, with the prefix).
TEST(RulesTopics, AliasesAndMountPoints) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules are Tern's own";
  BrokerProcess broker({"max_topic_alias 10", "rule echo", R"(  sql SELECT payload AS p FROM "site1/#", "a/#")",
                        "  republish echo/${topic} payload ${p}", "listener 0 127.0.0.1", "mount_point site1/"});
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  Subscriber echo(ports[0], Version::v5, "echo", "echo/#");
  RawClient pub(ports[0], Version::v5);
  pub.connect("pub");
  pub.publish("a/b", "first", QoS::at_least_once, false, Properties{.topic_alias = 1});
  pub.publish("", "second", QoS::at_least_once, false, Properties{.topic_alias = 1});
  for (const char* payload : {"first", "second"}) {
    const auto m = echo.receive();
    EXPECT_EQ(m.topic, "echo/a/b");
    EXPECT_EQ(m.payload, payload);
  }
  RawClient mounted(ports[1], Version::v311);
  mounted.connect("mounted");
  mounted.publish("x", "third", QoS::at_least_once);
  const auto m = echo.receive();
  EXPECT_EQ(m.topic, "echo/site1/x");
  EXPECT_EQ(m.payload, "third");
}

// SIGHUP reads the rules again while a publisher keeps publishing: every message reaches its subscriber, each is
// republished exactly once under the rules in force when its connection evaluated it (the old, then the new, never
// back), and messages after the reload's log line get the new rules only. A broken rules file keeps the rules.
TEST(RulesReload, WhileMessagesFlow) {
  if (testing_mosquitto()) GTEST_SKIP() << "rules are Tern's own";
  const testsupport::TempDir dir("tern-rules-reload");
  const std::string rules = dir.file("rules.conf");
  auto write_rules = [&](const std::string& text) { std::ofstream(rules, std::ios::trunc) << text; };
  const std::string v1 = "rule copy\n  sql SELECT payload.n AS n FROM \"flow/#\"\n  republish v1/${n}\n";
  const std::string v2 = "rule copy\n  sql SELECT payload.n AS n FROM \"flow/#\"\n  republish v2/${n}\n";
  write_rules(v1);
  BrokerProcess broker({"rules_file " + rules});
  RawClient sub(broker.port(), Version::v5);
  sub.connect("sub");
  sub.subscribe({{.filter = "flow/#", .max_qos = QoS::at_least_once},
                 {.filter = "v1/#", .max_qos = QoS::at_least_once},
                 {.filter = "v2/#", .max_qos = QoS::at_least_once}});
  RawClient pub(broker.port(), Version::v5);
  pub.connect("pub");

  constexpr int total = 120, reload_at = 40, after_log = 100;
  for (int n = 0; n < total; ++n) {
    if (n == reload_at) {
      write_rules(v2);
      broker.signal(SIGHUP);
    }
    if (n == after_log) {
      ASSERT_TRUE(wait_until([&] { return broker.log_count("rules reloaded: 1 rule in force") >= 1; })) << broker.log();
    }
    pub.publish("flow/x", Json{{"n", n}}.dump(), QoS::at_least_once);
  }
  std::vector<int> originals, derived_version(total, 0);
  for (int i = 0; i < 2 * total; ++i) {
    const auto m = sub.receive();
    const int n = m.topic == "flow/x" ? Json::parse(m.payload)["n"].get<int>() : std::stoi(m.topic.substr(3));
    if (m.topic == "flow/x") {
      originals.push_back(n);
      continue;
    }
    ASSERT_TRUE(n >= 0 && n < total) << m.topic;
    EXPECT_EQ(derived_version[n], 0) << "republished twice: " << n;
    derived_version[n] = m.topic[1] - '0';
  }
  sub.expect_silence();
  ASSERT_EQ(originals.size(), static_cast<std::size_t>(total));
  for (int n = 0; n < total; ++n) EXPECT_EQ(originals[n], n);
  int switched = -1;
  for (int n = 0; n < total; ++n) {
    ASSERT_NE(derived_version[n], 0) << "not republished: " << n;
    if (n < reload_at) {
      EXPECT_EQ(derived_version[n], 1) << n;
    }
    if (n >= after_log) {
      EXPECT_EQ(derived_version[n], 2) << n;
    }
    if (derived_version[n] == 2 && switched < 0) switched = n;
    if (switched >= 0) {
      EXPECT_EQ(derived_version[n], 2) << "back to the old rules at " << n;
    }
  }

  // A rules file with an error: the log says so and the rules in force stay.
  write_rules("rule copy\n  sql SELECT FROM\n");
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return broker.log_count("rules: reload failed") >= 1; })) << broker.log();
  pub.publish("flow/x", R"({"n":7})", QoS::at_least_once);
  std::set<std::string> topics;
  for (int i = 0; i < 2; ++i) topics.insert(sub.receive().topic);
  EXPECT_EQ(topics, (std::set<std::string>{"flow/x", "v2/7"}));
}

}  // namespace
}  // namespace tern::itest
