// The rule language (broker/edge): parsing and evaluation. The input is NUL-separated: a statement, a republish
// line, a window line, then messages, each a topic and a payload separated by a newline. The statement and the
// action lines are accepted or refused with RuleSyntaxError / RuleError, never another exception; with an accepted
// statement, every message is evaluated (RuleSet::evaluate never throws), every republished topic is a valid topic
// name without wildcards, and the window samples run through a RuleEngine whose output is valid too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/edge/rule_engine.hpp"
#include "broker/protocol/topic.hpp"

namespace e = tern::edge;

namespace {

std::string_view next_part(std::string_view& rest, char separator) {
  const auto at = rest.find(separator);
  const std::string_view part = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view{} : rest.substr(at + 1);
  return part;
}

void check_topic(const std::string& topic) {
  if (topic.empty() || topic.find_first_of("+#") != std::string::npos || !tern::protocol::valid_topic_name(topic))
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view sql = next_part(rest, '\0');
  const std::string_view republish = next_part(rest, '\0');
  const std::string_view window = next_part(rest, '\0');
  e::Rule rule;
  rule.name = "fuzz";
  try {
    rule.statement = e::parse_statement(sql);
  } catch (const e::RuleSyntaxError&) {
    return 0;
  }
  try {
    rule.actions.emplace_back(e::parse_republish(republish, *rule.statement));
  } catch (const e::RuleError&) {
  }
  try {
    rule.actions.emplace_back(e::parse_window(window, *rule.statement));
  } catch (const e::RuleError&) {
  }
  rule.actions.emplace_back(e::Drop{});
  e::RuleEngine engine;
  std::vector<e::Rule> rules;
  rules.push_back(std::move(rule));
  const auto set = engine.make_set(std::move(rules));
  const tern::core::TimePoint t0{};
  engine.replace(set, t0);
  const std::optional<std::string> username = "user";
  const tern::protocol::UserProperties properties{{"unit", "C"}};
  int n = 0;
  while (!rest.empty() && n++ < 16) {
    std::string_view message = next_part(rest, '\0');
    const std::string topic(next_part(message, '\n'));
    if (topic.empty() || !tern::protocol::valid_topic_name(topic)) continue;
    const e::MessageView view{.topic = topic,
                              .payload = message,
                              .qos = static_cast<tern::protocol::QoS>(n % 3),
                              .retain = n % 2 == 0,
                              .clientid = "c",
                              .username = &username,
                              .user_properties = &properties};
    e::RuleResult result;
    e::RuleCounts counts;
    if (set->wants(topic)) set->evaluate(view, result, counts);
    for (const auto& m : result.messages) check_topic(m.topic);
    engine.add_samples(result.samples, t0 + std::chrono::seconds(n));
  }
  for (const auto& m : engine.due(t0 + std::chrono::hours(48))) check_topic(m.topic);
  return 0;
}
