#include "broker/edge/rule_set.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "broker/protocol/topic.hpp"

namespace tern::edge {
namespace {

// The next word of an action line; a ${...} counts as part of the word even when it holds spaces.
std::string_view next_word(std::string_view& rest) {
  std::size_t i = 0;
  while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\t')) ++i;
  const std::size_t start = i;
  while (i < rest.size() && rest[i] != ' ' && rest[i] != '\t') {
    if (rest.compare(i, 2, "${") == 0) {
      const auto close = rest.find('}', i);
      i = close == std::string_view::npos ? rest.size() : close + 1;
    } else {
      ++i;
    }
  }
  const std::string_view word = rest.substr(start, i - start);
  rest.remove_prefix(i);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  return word;
}

protocol::QoS parse_qos(std::string_view word) {
  if (word == "0" || word == "1" || word == "2") return static_cast<protocol::QoS>(word[0] - '0');
  throw RuleError("expected a QoS of 0, 1 or 2, got '" + std::string(word) + "'");
}

// [qos N] [retain] ... ; stops at a word it does not know, which it returns (empty at the end).
std::string_view options(std::string_view& rest, protocol::QoS& qos, bool& retain) {
  while (true) {
    const std::string_view word = next_word(rest);
    if (word == "qos") {
      qos = parse_qos(next_word(rest));
    } else if (word == "retain") {
      retain = true;
    } else {
      return word;
    }
  }
}

bool valid_output_topic(const std::string& topic) {
  return protocol::valid_topic_name(topic);  // not empty, no wildcard, at most 65,535 bytes
}

}  // namespace

Template parse_template(std::string_view text, const Statement* statement, bool topic_only) {
  Template t;
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      literal += text[i++];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) throw RuleError("'${' without its '}' in '" + std::string(text) + "'");
    if (!literal.empty()) t.parts.push_back({std::move(literal), nullptr});
    literal.clear();
    const std::string_view inner = text.substr(i + 2, close - i - 2);
    std::shared_ptr<Expr> expr;
    try {
      expr = parse_expression(inner, statement);
    } catch (const RuleSyntaxError& e) {
      throw RuleError("${" + std::string(inner) + "}: " + e.what());
    }
    if (topic_only && expr->kind != Expr::Kind::topic && expr->kind != Expr::Kind::topic_level)
      throw RuleError("${" + std::string(inner) + "}: a window's topic may use only ${topic} and ${topic[N]}");
    t.uses_payload_json |= expr->uses_payload_json();
    if (expr->kind == Expr::Kind::alias && statement)
      t.uses_payload_json |= statement->fields[expr->index].expr->uses_payload_json();
    t.parts.push_back({{}, std::move(expr)});
    i = close + 1;
  }
  if (!literal.empty()) t.parts.push_back({std::move(literal), nullptr});
  return t;
}

std::string Template::render(Evaluation& evaluation) const {
  std::string out;
  for (const Part& part : parts) out += part.expr ? to_text(evaluation.value(*part.expr)) : part.text;
  return out;
}

Republish parse_republish(std::string_view args, const Statement& statement) {
  Republish r;
  std::string_view rest = args;
  const std::string_view topic = next_word(rest);
  if (topic.empty()) throw RuleError("expected TOPIC [qos N] [retain] [payload TEXT]");
  r.topic = parse_template(topic, &statement);
  const std::string_view word = options(rest, r.qos, r.retain);
  if (word == "payload") {
    if (rest.empty()) throw RuleError("payload: expected the payload's text after it");
    r.payload = parse_template(rest, &statement);
  } else if (!word.empty()) {
    throw RuleError("unexpected '" + std::string(word) + "' (expected qos N, retain or payload TEXT)");
  }
  return r;
}

Window parse_window(std::string_view args, const Statement& statement) {
  Window w;
  std::string_view rest = args;
  const std::string_view seconds = next_word(rest);
  unsigned n = 0;
  const auto [p, ec] = std::from_chars(seconds.data(), seconds.data() + seconds.size(), n);
  if (seconds.empty() || ec != std::errc() || p != seconds.data() + seconds.size() || n < 1 || n > 86400)
    throw RuleError("expected SECONDS (1 to 86400) FIELD TOPIC [qos N] [retain], got '" + std::string(seconds) + "'");
  w.period = std::chrono::seconds(n);
  const std::string_view field = next_word(rest);
  const std::string_view topic = next_word(rest);
  if (field.empty() || topic.empty()) throw RuleError("expected SECONDS FIELD TOPIC [qos N] [retain]");
  try {
    w.field = parse_expression(field, &statement);
  } catch (const RuleSyntaxError& e) {
    throw RuleError(std::string(field) + ": " + e.what());
  }
  w.topic = parse_template(topic, &statement, true);
  if (const auto word = options(rest, w.qos, w.retain); !word.empty())
    throw RuleError("unexpected '" + std::string(word) + "' (expected qos N or retain)");
  return w;
}

Store parse_store(std::string_view args) {
  Store s;
  std::string_view rest = args;
  for (std::string_view word = next_word(rest); !word.empty(); word = next_word(rest)) {
    if (word != "max_age" && word != "max_rows") {
      throw RuleError("unexpected '" + std::string(word) + "' (expected max_age DURATION or max_rows N)");
    }
    const std::string_view value = next_word(rest);
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    const std::string_view unit = value.substr(static_cast<std::size_t>(p - value.data()));
    if (value.empty() || ec != std::errc() || p == value.data()) {
      throw RuleError("expected a number after '" + std::string(word) + "', got '" + std::string(value) + "'");
    }
    if (word == "max_rows") {
      if (!unit.empty()) throw RuleError("max_rows: expected a count, got '" + std::string(value) + "'");
      s.max_rows = n;
    } else {
      const std::uint64_t scale = unit.empty() || unit == "s" ? 1
                                  : unit == "m"               ? 60
                                  : unit == "h"               ? 3600
                                  : unit == "d"               ? 86400
                                                              : 0;
      if (scale == 0) throw RuleError("max_age: expected N, Ns, Nm, Nh or Nd, got '" + std::string(value) + "'");
      if (n > std::uint64_t{100} * 365 * 86400 / scale) throw RuleError("max_age: more than 100 years");
      s.max_age = std::chrono::seconds(n * scale);
    }
  }
  return s;
}

RuleSet::RuleSet(std::vector<Rule> rules, std::uint64_t generation)
    : rules_(std::move(rules)), generation_(generation) {
  for (const Rule& rule : rules_) {
    const Statement& statement = *rule.statement;
    bool needs_json = statement.uses_payload_json;
    for (const Action& action : rule.actions) {
      if (const auto* rp = std::get_if<Republish>(&action)) {
        needs_json |= rp->topic.uses_payload_json || (rp->payload && rp->payload->uses_payload_json);
      } else if (const auto* w = std::get_if<Window>(&action)) {
        needs_json |= w->field->uses_payload_json() || (w->field->kind == Expr::Kind::alias &&
                                                        statement.fields[w->field->index].expr->uses_payload_json());
      }
    }
    needs_json_.push_back(needs_json);
    for (const std::string& text : statement.from) {
      Filter f;
      f.rule = static_cast<std::uint32_t>(needs_json_.size() - 1);
      std::string_view rest = text;
      while (true) {
        const auto slash = rest.find('/');
        const std::string_view level = rest.substr(0, slash);
        f.levels.push_back({std::string(level), level == "+"});
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
      }
      f.wildcard_first = f.levels.front().plus || f.levels.front().text == "#";
      if (f.levels.back().text == "#") {
        f.multi = true;
        f.levels.pop_back();
      }
      const auto index = static_cast<std::uint32_t>(filters_.size());
      if (f.wildcard_first) {
        wildcard_first_.push_back(index);
      } else {
        const std::string& first = f.levels.front().text;
        auto it = std::find_if(by_first_.begin(), by_first_.end(), [&](const auto& e) { return e.first == first; });
        if (it == by_first_.end()) it = by_first_.insert(by_first_.end(), {first, {}});
        it->second.push_back(index);
      }
      filters_.push_back(std::move(f));
    }
  }
  std::sort(by_first_.begin(), by_first_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

namespace {

// A topic's levels, split once per message; deeper topics than this fall back to protocol::topic_matches.
constexpr std::size_t kMaxLevels = 32;

std::size_t split_levels(std::string_view topic, std::array<std::string_view, kMaxLevels>& out) {
  std::size_t n = 0;
  while (n < kMaxLevels) {
    const auto slash = topic.find('/');
    out[n++] = topic.substr(0, slash);
    if (slash == std::string_view::npos) return n;
    topic.remove_prefix(slash + 1);
  }
  return kMaxLevels + 1;  // too deep
}

}  // namespace

bool RuleSet::filter_matches(const Filter& f, std::span<const std::string_view> topic, bool dollar) noexcept {
  if (dollar && f.wildcard_first) return false;
  const std::size_t n = f.levels.size();
  if (f.multi ? topic.size() < n : topic.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (!f.levels[i].plus && f.levels[i].text != topic[i]) return false;
  }
  return true;
}

std::optional<std::uint64_t> RuleSet::match_mask(std::string_view topic) const noexcept {
  if (rules_.size() > 64) return std::nullopt;
  std::array<std::string_view, kMaxLevels> levels;
  const std::size_t n = split_levels(topic, levels);
  if (n > kMaxLevels) return std::nullopt;
  const std::span<const std::string_view> split(levels.data(), n);
  const bool dollar = topic.starts_with('$');
  std::uint64_t mask = 0;
  auto check = [&](std::uint32_t index) {
    const Filter& f = filters_[index];
    if ((mask >> f.rule & 1) == 0 && filter_matches(f, split, dollar)) mask |= std::uint64_t{1} << f.rule;
  };
  for (const std::uint32_t index : wildcard_first_) check(index);
  const auto it = std::lower_bound(by_first_.begin(), by_first_.end(), levels[0],
                                   [](const auto& e, std::string_view first) { return e.first < first; });
  if (it != by_first_.end() && it->first == levels[0]) {
    for (const std::uint32_t index : it->second) check(index);
  }
  return mask;
}

bool RuleSet::rule_matches(std::size_t rule, std::string_view topic) const noexcept {
  const auto& from = rules_[rule].statement->from;
  return std::any_of(from.begin(), from.end(), [&](const std::string& f) { return protocol::topic_matches(f, topic); });
}

bool RuleSet::wants(std::string_view topic) const noexcept {
  if (const auto mask = match_mask(topic)) return *mask != 0;
  for (std::size_t r = 0; r < rules_.size(); ++r) {
    if (rule_matches(r, topic)) return true;
  }
  return false;
}

void RuleSet::evaluate(const MessageView& message, RuleResult& result, RuleCounts& counts) const {
  const auto mask = match_mask(message.topic);
  if (mask && *mask == 0) return;  // the common case for most topics: nothing more to do
  PayloadJson payload;
  for (std::size_t r = 0; r < rules_.size(); ++r) {
    const Rule& rule = rules_[r];
    const Statement& statement = *rule.statement;
    if (mask ? (*mask >> r & 1) == 0 : !rule_matches(r, message.topic)) continue;
    ++counts.evaluated;
    if (needs_json_[r] && !payload.get(message.payload)) {
      ++counts.not_json;
      continue;
    }
    Evaluation evaluation(statement, message, payload);
    if (!evaluation.matches()) continue;
    ++counts.matched;
    for (std::size_t a = 0; a < rule.actions.size(); ++a) {
      const Action& action = rule.actions[a];
      if (std::holds_alternative<Drop>(action)) {
        result.drop = true;
      } else if (const auto* rp = std::get_if<Republish>(&action)) {
        std::string topic = rp->topic.render(evaluation);
        if (!valid_output_topic(topic)) {
          ++counts.bad_topic;
          continue;
        }
        std::string body = rp->payload ? rp->payload->render(evaluation) : dump(evaluation.selected());
        result.messages.push_back({std::move(topic), std::move(body), rp->qos, rp->retain});
      } else if (std::holds_alternative<Store>(action)) {
        result.stores.push_back({rule.name, std::string(message.topic), std::string(message.payload), message.qos});
      } else {
        const Window& w = std::get<Window>(action);
        const Value value = evaluation.value(*w.field);
        if (!value.is_number()) continue;
        result.samples.push_back({generation_, static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(a),
                                  std::string(message.topic), value.as_double()});
      }
    }
  }
}

}  // namespace tern::edge
