// Rules with their actions: templates, republish, drop, window samples, payloads that are not JSON.
#include "broker/edge/rule_set.hpp"

#include <gtest/gtest.h>

#include "broker/protocol/topic.hpp"

namespace tern::edge {
namespace {

Rule make_rule(std::string name, std::string_view sql, std::vector<std::string> republish, bool drop = false) {
  Rule r;
  r.name = std::move(name);
  r.statement = parse_statement(sql);
  for (const auto& line : republish) r.actions.emplace_back(parse_republish(line, *r.statement));
  if (drop) r.actions.emplace_back(Drop{});
  return r;
}

RuleResult run(const RuleSet& set, std::string_view topic, std::string_view payload, RuleCounts& stats,
               std::string_view clientid = "dev1") {
  const MessageView m{.topic = topic, .payload = payload, .qos = protocol::QoS::at_least_once, .clientid = clientid};
  RuleResult result;
  set.evaluate(m, result, stats);
  return result;
}

std::string render(std::string_view text, std::string_view sql, std::string_view topic, std::string_view payload) {
  const auto s = parse_statement(sql);
  const Template t = parse_template(text, s.get());
  const MessageView m{.topic = topic, .payload = payload, .clientid = "dev1"};
  PayloadJson json;
  Evaluation e(*s, m, json);
  return t.render(e);
}

TEST(RuleTemplate, Placeholders) {
  const char* sql = R"(SELECT topic[2] AS room, payload.t AS t FROM "#")";
  EXPECT_EQ(render("alarms/${topic[2]}", sql, "s/kitchen/t", "{}"), "alarms/kitchen");
  EXPECT_EQ(render("alarms/${room}/${clientid}", sql, "s/kitchen/t", "{}"), "alarms/kitchen/dev1");
  EXPECT_EQ(render("${payload.x}", sql, "s", R"({"x":"v"})"), "v");  // strings without quotes
  EXPECT_EQ(render("${payload.x}", sql, "s", R"({"x":{"a":1}})"), R"({"a":1})");
  EXPECT_EQ(render("t=${t}, t+1=${t + 1}", sql, "s", R"({"t":2.5})"), "t=2.5, t+1=3.5");
  EXPECT_EQ(render("[${payload.none}]", sql, "s", "{}"), "[]");  // null is nothing
  EXPECT_EQ(render("$${literal}", sql, "s", "{}"), "${literal}");
  EXPECT_EQ(render("no placeholders", sql, "s", "{}"), "no placeholders");
}

TEST(RuleTemplate, Errors) {
  const auto s = parse_statement(R"(SELECT qos FROM "#")");
  EXPECT_THROW(parse_template("a/${topic[2]", s.get()), RuleError);
  EXPECT_THROW(parse_template("a/${nosuch}", s.get()), RuleError);
  try {
    parse_template("a/${payload.x}", s.get(), true);
    ADD_FAILURE();
  } catch (const RuleError& e) {
    EXPECT_STREQ(e.what(), "${payload.x}: a window's topic may use only ${topic} and ${topic[N]}");
  }
}

TEST(RuleActions, ParseRepublishAndWindow) {
  const auto s = parse_statement(R"(SELECT payload.t AS t FROM "#")");
  const Republish r = parse_republish("out/${topic} qos 2 retain payload {\"t\": ${t}} done", *s);
  EXPECT_EQ(r.qos, protocol::QoS::exactly_once);
  EXPECT_TRUE(r.retain);
  ASSERT_TRUE(r.payload);
  EXPECT_TRUE(r.payload->uses_payload_json);
  const Republish plain = parse_republish("out", *s);
  EXPECT_EQ(plain.qos, protocol::QoS::at_most_once);
  EXPECT_FALSE(plain.payload);
  EXPECT_THROW(parse_republish("out qos 3", *s), RuleError);
  EXPECT_THROW(parse_republish("out qos", *s), RuleError);
  EXPECT_THROW(parse_republish("out payload", *s), RuleError);
  EXPECT_THROW(parse_republish("out extra", *s), RuleError);
  const Window w = parse_window("60 t avg/${topic} qos 1", *s);
  EXPECT_EQ(w.period, std::chrono::seconds(60));
  EXPECT_EQ(w.qos, protocol::QoS::at_least_once);
  EXPECT_THROW(parse_window("0 t avg", *s), RuleError);
  EXPECT_THROW(parse_window("x t avg", *s), RuleError);
  EXPECT_THROW(parse_window("60 t", *s), RuleError);
  EXPECT_THROW(parse_window("60 nosuch avg", *s), RuleError);
  EXPECT_THROW(parse_window("60 t avg/${t}", *s), RuleError);
}

TEST(RuleSetTest, RepublishesTheSelectedFieldsAsJson) {
  RuleCounts stats;
  std::vector<Rule> rules;
  rules.push_back(
      make_rule("hot", R"(SELECT payload.temp AS t, topic[2] AS room FROM "sensors/+/temp" WHERE payload.temp > 30)",
                {"alarms/${room} qos 1"}));
  const RuleSet set(std::move(rules), 1);
  EXPECT_TRUE(set.wants("sensors/kitchen/temp"));
  EXPECT_FALSE(set.wants("sensors/kitchen/humidity"));
  auto r = run(set, "sensors/kitchen/temp", R"({"temp":31.5})", stats);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].topic, "alarms/kitchen");
  EXPECT_EQ(r.messages[0].payload, R"({"t":31.5,"room":"kitchen"})");
  EXPECT_EQ(r.messages[0].qos, protocol::QoS::at_least_once);
  EXPECT_FALSE(r.drop);
  EXPECT_TRUE(run(set, "sensors/kitchen/temp", R"({"temp":20})", stats).empty());
  EXPECT_EQ(stats.evaluated, 2u);
  EXPECT_EQ(stats.matched, 1u);
}

TEST(RuleSetTest, DropAndSeveralRulesInOrder) {
  RuleCounts stats;
  std::vector<Rule> rules;
  rules.push_back(make_rule("noise", R"(SELECT * FROM "s/#" WHERE payload.ok = false)", {}, true));
  rules.push_back(make_rule("copy", R"(SELECT clientid FROM "s/#")", {"copy/${topic} payload ${payload}"}));
  const RuleSet set(std::move(rules), 1);
  auto r = run(set, "s/a", R"({"ok":false})", stats);
  EXPECT_TRUE(r.drop);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].topic, "copy/s/a");
  EXPECT_EQ(r.messages[0].payload, R"({"ok":false})");
  EXPECT_FALSE(run(set, "s/a", R"({"ok":true})", stats).drop);
}

TEST(RuleSetTest, APayloadThatIsNotJsonDoesNotMatchARuleThatReadsIt) {
  RuleCounts stats;
  std::vector<Rule> rules;
  rules.push_back(make_rule("reads", R"(SELECT payload.t AS t FROM "s/#")", {"out/json"}));
  rules.push_back(make_rule("raw", R"(SELECT payload AS p FROM "s/#")", {"out/raw"}));
  const RuleSet set(std::move(rules), 1);
  for (const char* payload : {"not json", "{\"t\":", "\xff\xfe", ""}) {
    auto r = run(set, "s/a", payload, stats);
    ASSERT_EQ(r.messages.size(), 1u) << payload;
    EXPECT_EQ(r.messages[0].topic, "out/raw");
  }
  EXPECT_EQ(stats.not_json, 4u);
}

TEST(RuleSetTest, AnInvalidRenderedTopicIsNotPublished) {
  RuleCounts stats;
  std::vector<Rule> rules;
  rules.push_back(make_rule("bad", R"(SELECT payload.to AS to FROM "s/#")", {"out/${to}"}));
  const RuleSet set(std::move(rules), 1);
  EXPECT_TRUE(run(set, "s/a", R"({"to":"a/#"})", stats).messages.empty());
  EXPECT_TRUE(run(set, "s/a", R"({"to":"+"})", stats).messages.empty());
  EXPECT_EQ(run(set, "s/a", R"({"to":"x/y"})", stats).messages.at(0).topic, "out/x/y");
  EXPECT_EQ(stats.bad_topic, 2u);
}

TEST(RuleSetTest, WindowSamplesAreNumbersOnly) {
  RuleCounts stats;
  Rule rule = make_rule("avg", R"(SELECT payload.t AS t FROM "s/#")", {});
  rule.actions.emplace_back(parse_window("10 t avg/${topic}", *rule.statement));
  std::vector<Rule> rules;
  rules.push_back(std::move(rule));
  const RuleSet set(std::move(rules), 7);
  auto r = run(set, "s/a", R"({"t":4})", stats);
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].generation, 7u);
  EXPECT_EQ(r.samples[0].topic, "s/a");
  EXPECT_EQ(r.samples[0].value, 4.0);
  EXPECT_TRUE(run(set, "s/a", R"({"t":"4"})", stats).samples.empty());
  EXPECT_TRUE(run(set, "s/a", R"({})", stats).samples.empty());
}

}  // namespace
}  // namespace tern::edge

namespace tern::edge {
namespace {

// The rule set's own filter matching (levels split once per message) agrees with protocol::topic_matches.
TEST(RuleSetTest, FromFiltersMatchAsSubscriptionsDo) {
  const char* filters[] = {"#", "+", "a", "a/#", "a/+", "+/b", "a/b/c", "+/+/+", "a/+/#", "$SYS/#", "+/#", "/a", "a/"};
  const char* topics[] = {"a", "a/b", "a/b/c", "a/b/c/d", "b", "/a", "a/", "$SYS/x", "$SYS", "x/b", "", "a//c"};
  for (const char* filter : filters) {
    Rule r;
    r.name = "r";
    r.statement = parse_statement(std::string("SELECT qos FROM \"") + filter + "\"");
    r.actions.emplace_back(Drop{});
    std::vector<Rule> rules;
    rules.push_back(std::move(r));
    const RuleSet set(std::move(rules), 1);
    for (const char* topic : topics) {
      EXPECT_EQ(set.wants(topic), protocol::topic_matches(filter, topic)) << filter << " vs " << topic;
      RuleResult result;
      RuleCounts counts;
      set.evaluate(MessageView{.topic = topic}, result, counts);
      EXPECT_EQ(result.drop, protocol::topic_matches(filter, topic)) << filter << " vs " << topic;
    }
  }
  // Deeper than the levels split at once: the same answer through the fallback.
  std::string deep = "d";
  for (int i = 0; i < 40; ++i) deep += "/d";
  Rule r;
  r.name = "deep";
  r.statement = parse_statement(R"(SELECT qos FROM "d/#", "+/+")");
  r.actions.emplace_back(Drop{});
  std::vector<Rule> rules;
  rules.push_back(std::move(r));
  const RuleSet set(std::move(rules), 1);
  EXPECT_TRUE(set.wants(deep));
  EXPECT_FALSE(set.wants("e" + deep.substr(1)));
}

}  // namespace
}  // namespace tern::edge
