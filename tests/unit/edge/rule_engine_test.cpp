// Aggregation windows driven with time as an argument, and a reload that closes the old set's windows.
#include "broker/edge/rule_engine.hpp"

#include <gtest/gtest.h>

namespace tern::edge {
namespace {

using namespace std::chrono_literals;
const core::TimePoint t0 = core::TimePoint{} + 1000s;

std::vector<Rule> window_rules(std::string_view period) {
  Rule r;
  r.name = "avg";
  r.statement = parse_statement(R"(SELECT payload.t AS t FROM "s/#")");
  r.actions.emplace_back(parse_window(std::string(period) + " t avg/${topic[2]} qos 1", *r.statement));
  std::vector<Rule> rules;
  rules.push_back(std::move(r));
  return rules;
}

WindowSample sample(const RuleSet& set, std::string topic, double v) {
  return WindowSample{set.generation(), 0, 0, std::move(topic), v};
}

TEST(RuleWindow, PayloadFormat) {
  EXPECT_EQ(window_payload(2, 20, 22, 42, 22), R"({"count":2,"min":20,"max":22,"mean":21,"last":22})");
  EXPECT_EQ(window_payload(2, 0.5, 1, 1.5, 1), R"({"count":2,"min":0.5,"max":1,"mean":0.75,"last":1})");
}

TEST(RuleWindow, PublishesPerTopicWhenThePeriodEnds) {
  RuleEngine engine;
  EXPECT_TRUE(engine.rules()->empty());
  const auto set = engine.make_set(window_rules("60"));
  EXPECT_TRUE(engine.replace(set, t0).empty());
  const std::vector<WindowSample> first{sample(*set, "s/a", 20), sample(*set, "s/b", 5)};
  engine.add_samples(first, t0);
  const std::vector<WindowSample> second{sample(*set, "s/a", 22)};
  engine.add_samples(second, t0 + 30s);
  EXPECT_EQ(engine.next_due(), t0 + 60s);
  EXPECT_TRUE(engine.due(t0 + 59s).empty());
  const auto out = engine.due(t0 + 60s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "avg/a");
  EXPECT_EQ(out[0].payload, R"({"count":2,"min":20,"max":22,"mean":21,"last":22})");
  EXPECT_EQ(out[0].qos, protocol::QoS::at_least_once);
  EXPECT_EQ(out[1].topic, "avg/b");
  EXPECT_EQ(out[1].payload, R"({"count":1,"min":5,"max":5,"mean":5,"last":5})");
  // Nothing more until a new sample opens a new window; a quiet topic publishes nothing.
  EXPECT_EQ(engine.next_due(), core::TimePoint::max());
  EXPECT_TRUE(engine.due(t0 + 200s).empty());
  const std::vector<WindowSample> third{sample(*set, "s/a", -1.5)};
  engine.add_samples(third, t0 + 300s);
  EXPECT_EQ(engine.next_due(), t0 + 360s);
  const auto later = engine.due(t0 + 400s);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].payload, R"({"count":1,"min":-1.5,"max":-1.5,"mean":-1.5,"last":-1.5})");
  EXPECT_EQ(engine.stats().windows_published.load(), 3u);
}

TEST(RuleWindow, AReloadClosesTheOldWindowsAndIgnoresTheirLateSamples) {
  RuleEngine engine;
  const auto old_set = engine.make_set(window_rules("60"));
  engine.replace(old_set, t0);
  const std::vector<WindowSample> samples{sample(*old_set, "s/a", 1), sample(*old_set, "s/a", 3)};
  engine.add_samples(samples, t0);
  const auto new_set = engine.make_set(window_rules("10"));
  EXPECT_NE(new_set->generation(), old_set->generation());
  const auto flushed = engine.replace(new_set, t0 + 5s);
  ASSERT_EQ(flushed.size(), 1u);
  EXPECT_EQ(flushed[0].payload, R"({"count":2,"min":1,"max":3,"mean":2,"last":3})");
  EXPECT_EQ(engine.rules(), new_set);
  const std::vector<WindowSample> late{sample(*old_set, "s/a", 100)};  // evaluated under the old set
  engine.add_samples(late, t0 + 6s);
  EXPECT_EQ(engine.next_due(), core::TimePoint::max());
  const std::vector<WindowSample> fresh{sample(*new_set, "s/a", 7)};
  engine.add_samples(fresh, t0 + 6s);
  EXPECT_EQ(engine.next_due(), t0 + 16s);
  EXPECT_EQ(engine.due(t0 + 16s).size(), 1u);
}

}  // namespace
}  // namespace tern::edge
