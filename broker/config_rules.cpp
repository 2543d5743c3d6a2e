// Tern's local rules (broker/edge): `rule NAME` starts a rule block and the directives after it (sql, republish,
// drop, window) make up that rule; `rules_file PATH` reads more rule blocks from a file of their own. rule_set.hpp
// describes what each action does.
//
//   rule hot
//     sql SELECT payload.temp AS t, topic[2] AS room FROM "sensors/+/temp" WHERE payload.temp > 30
//     republish alarms/${room} qos 1
//
// Each line is checked when it is read, so an error names its own line, and in sql the column in it
// ("tern.conf:12: sql: at column 34: expected from, got 'FORM'"); a block without sql or without an action is an error
// at its `rule` line.
#include <algorithm>
#include <string>

#include "broker/config_context.hpp"
#include "platform/text_file.hpp"

namespace tern::config_detail {
namespace {

edge::Rule& current(Context& c) {
  if (c.config().rules.size() <= c.rule_floor) c.fail(std::string(c.directive()) + ": must follow a 'rule' line");
  return c.config().rules.back();
}

const edge::Statement& statement_of(Context& c, edge::Rule& rule) {
  if (!rule.statement) c.fail(std::string(c.directive()) + ": the rule's sql line must come first");
  return *rule.statement;
}

void apply_rule(Context& c, std::string_view value) {
  const auto name = c.single(value);
  for (const auto& other : c.config().rules) {
    if (other.name == name) c.fail("rule: a rule named '" + std::string(name) + "' is already defined");
  }
  edge::Rule rule;
  rule.name = std::string(name);
  rule.origin = c.file() + ':' + std::to_string(c.line());
  c.config().rules.push_back(std::move(rule));
  c.rule_lines.emplace_back(c.file(), c.line());
}

void apply_sql(Context& c, std::string_view value) {
  auto& rule = current(c);
  if (rule.statement) c.fail("sql: the rule already has its statement (one sql line per rule)");
  try {
    rule.statement = edge::parse_statement(value);
  } catch (const edge::RuleSyntaxError& e) {
    // The column in the line, as an editor shows it.
    const std::size_t column = c.column_of(value, e.column());
    if (column == 0) c.fail(std::string("sql: ") + e.what());
    c.fail("sql: at column " + std::to_string(column) + ": " + e.message());
  }
}

void apply_republish(Context& c, std::string_view value) {
  auto& rule = current(c);
  const auto& statement = statement_of(c, rule);
  try {
    rule.actions.emplace_back(edge::parse_republish(value, statement));
  } catch (const edge::RuleError& e) {
    c.fail(std::string("republish: ") + e.what());
  }
}

void apply_drop(Context& c, std::string_view value) {
  auto& rule = current(c);
  statement_of(c, rule);
  if (!value.empty()) c.fail("drop: takes no value, got '" + std::string(value) + "'");
  rule.actions.emplace_back(edge::Drop{});
}

void apply_window(Context& c, std::string_view value) {
  auto& rule = current(c);
  const auto& statement = statement_of(c, rule);
  try {
    rule.actions.emplace_back(edge::parse_window(value, statement));
  } catch (const edge::RuleError& e) {
    c.fail(std::string("window: ") + e.what());
  }
}

void apply_store(Context& c, std::string_view value) {
  auto& rule = current(c);
  statement_of(c, rule);
  try {
    rule.actions.emplace_back(edge::parse_store(value));
  } catch (const edge::RuleError& e) {
    c.fail(std::string("store: ") + e.what());
  }
}

std::span<const Directive> block_directives();

// rules_file PATH: rule blocks only (and comments); a block does not continue across files.
void apply_rules_file(Context& c, std::string_view value) {
  const std::string path = std::string(platform::trim(value));
  std::string read_error;
  const auto text = platform::read_whole_file(path, read_error);
  if (!text) c.fail("rules_file: " + read_error);
  const std::string outer_file = c.file();
  const int outer_line = c.line();
  const std::size_t outer_floor = c.rule_floor;
  c.rule_floor = c.config().rules.size();
  c.in_file(path);
  int number = 0;
  for (const std::string_view raw : platform::split_lines(*text)) {
    c.at(++number, {});
    c.raw_line = raw;
    const auto line = platform::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto rest = line;
    const auto name = platform::next_token(rest);
    c.at(number, name);
    const auto rows = block_directives();
    const auto row = std::find_if(rows.begin(), rows.end(), [&](const Directive& d) { return d.name == name; });
    if (row == rows.end())
      c.fail("'" + std::string(name) +
             "' is not a rule directive (a rules_file holds rule, sql, republish, drop, store "
             "and window lines)");
    if (rest.empty() && !takes_no_value(name)) c.fail("missing value for " + std::string(name));
    row->apply(c, rest);
  }
  c.in_file(outer_file);
  c.at(outer_line, "rules_file");
  c.raw_line = {};
  c.rule_floor = outer_floor;
}

// clang-format off
constexpr Directive kRuleDirectives[] = {
  {"rule", Scope::global, apply_rule,
   "NAME: start a rule (Tern's local rules): the sql, republish, drop and window lines after it make it up"},
  {"sql", Scope::global, apply_sql,
   "SELECT FIELDS FROM \"FILTER\"[, \"FILTER\"...] [WHERE CONDITION]: the rule's statement, in the EMQX / NanoMQ "
   "rule language over the payload as JSON (payload.a.b), topic, topic[N], qos, retain, clientid, username and "
   "user_property.KEY"},
  {"republish", Scope::global, apply_republish,
   "TOPIC [qos N] [retain] [payload TEXT]: publish a message for each match; TOPIC and TEXT may hold ${FIELD}; "
   "without payload, the selected fields as a JSON object (default QoS 0, not retained)"},
  {"drop", Scope::global, apply_drop,
   "(no value): a matching message is acknowledged but not delivered to subscribers nor retained"},
  {"window", Scope::global, apply_window,
   "SECONDS FIELD TOPIC [qos N] [retain]: every SECONDS, per source topic, publish "
   "{\"count\",\"min\",\"max\",\"mean\",\"last\"} of the numeric FIELD on TOPIC (which may hold ${topic} and "
   "${topic[N]})"},
  {"store", Scope::global, apply_store,
   "[max_age N[s|m|h|d]] [max_rows N]: keep each matching message (time, topic, payload, QoS) in the local history "
   "(persistence_location/tern-history.db), queried on $tern/history/query; the rule's rows older than max_age or "
   "beyond its newest max_rows are removed (default: kept)"},
};
// clang-format on

std::span<const Directive> block_directives() { return kRuleDirectives; }

// clang-format off
constexpr Directive kRulesFile[] = {
  {"rules_file", Scope::global, apply_rules_file,
   "PATH: read rule blocks (rule, sql, republish, drop, window lines) from PATH; read again on SIGHUP with the "
   "rest of the rules"},
};
// clang-format on

}  // namespace

std::vector<Directive> rule_directives() {
  std::vector<Directive> all(std::begin(kRuleDirectives), std::end(kRuleDirectives));
  all.insert(all.end(), std::begin(kRulesFile), std::end(kRulesFile));
  return all;
}

bool takes_no_value(std::string_view directive) { return directive == "drop" || directive == "store"; }

void finish_rules(Context& c) {
  for (std::size_t i = 0; i < c.config().rules.size(); ++i) {
    const auto& rule = c.config().rules[i];
    c.in_file(c.rule_lines[i].first);
    c.at(c.rule_lines[i].second, "rule");
    if (!rule.statement) c.fail("rule " + rule.name + ": no sql line");
    if (rule.actions.empty()) c.fail("rule " + rule.name + ": no action (republish, drop or window)");
  }
}

}  // namespace tern::config_detail
