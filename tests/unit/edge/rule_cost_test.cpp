// A measurement run by hand (DISABLED_: not a check): what the 20 rules of bench/run.py's rules-fanin row cost per
// message, without sockets. tern_edge_tests --gtest_also_run_disabled_tests --gtest_filter='*RuleCost*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "broker/edge/rule_set.hpp"

namespace tern::edge {
namespace {

std::vector<Rule> bench_rules() {
  const std::pair<const char*, const char*> matching[] = {{"\"bench/all\"", "topic[3] = 'never'"},
                                                          {"\"bench/+\"", "qos > 1"},
                                                          {"\"+/all\"", "clientid = 'nobody' and qos = 0"},
                                                          {"\"bench/#\"", "payload.t > 30"},
                                                          {"\"#\"", "payload.alarm = true or payload.level >= 5"}};
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < 5; ++i) {
    Rule r;
    r.name = "match" + std::to_string(i);
    r.statement = parse_statement(std::string("SELECT payload.t AS t, topic[2] AS room FROM ") + matching[i].first +
                                  " WHERE " + matching[i].second);
    r.actions.emplace_back(parse_republish("alarms/${room}/" + std::to_string(i) + " qos 1", *r.statement));
    rules.push_back(std::move(r));
  }
  for (int i = 0; i < 15; ++i) {
    Rule r;
    r.name = "other" + std::to_string(i);
    r.statement = parse_statement("SELECT payload.temp AS t FROM \"sensors/+/temp" + std::to_string(i) +
                                  "\" WHERE payload.temp > " + std::to_string(i));
    r.actions.emplace_back(parse_republish("alarms/" + std::to_string(i) + "/${topic[2]}", *r.statement));
    rules.push_back(std::move(r));
  }
  return rules;
}

TEST(RuleCost, DISABLED_TwentyRulesPerMessage) {
  const RuleSet set(bench_rules(), 1);
  const std::string payload("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16);
  const MessageView m{.topic = "bench/all", .payload = payload, .clientid = "p0"};
  RuleCounts counts;
  constexpr int n = 1'000'000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    RuleResult result;
    if (set.wants(m.topic)) set.evaluate(m, result, counts);
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
  std::printf("20 rules, 5 matching: %.0f ns per message\n", ns);
  EXPECT_EQ(counts.evaluated, 5u * n);
}

}  // namespace
}  // namespace tern::edge
