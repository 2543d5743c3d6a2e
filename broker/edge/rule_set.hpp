// Rules and the compiled, immutable set of them that the network layer evaluates for each PUBLISH.
//
// A rule is a SELECT statement (rule_sql.hpp) and its actions, run in order for every message the statement matches:
//   republish TOPIC [qos N] [retain] [payload TEXT]   a new message on TOPIC; its payload is TEXT, or the selected
//                                                     fields as a JSON object
//   drop                                              the original message is not routed (nor retained)
//   window SECONDS EXPR TOPIC [qos N] [retain]        per source topic, every SECONDS: {"count","min","max","mean",
//                                                     "last"} of the numeric EXPR over the window, on TOPIC
// TOPIC and TEXT are templates: ${EXPR} is replaced by the value of EXPR, a field of the rule language or a name
// the SELECT gave (rule_sql.hpp); `$${` is a literal "${". A window's TOPIC may use only topic and topic[N] (of the
// source message). A republished topic that comes out empty or holding + or # is not published, and is counted.
//
// Example:
//   rule hot
//     sql SELECT payload.temp AS t, topic[2] AS room FROM "sensors/+/temp" WHERE payload.temp > 30
//     republish alarms/${room} qos 1
//   -> PUBLISH sensors/kitchen/temp {"temp":31.5}  gives  alarms/kitchen {"t":31.5,"room":"kitchen"} at QoS 1
//
// A rule whose statement or templates look into the payload as JSON does not match a message whose payload is not
// JSON (counted in RuleStats::not_json). Derived messages never pass through the rules again (no loops).
//
// Thread safety: Rule and RuleSet are immutable once built and may be evaluated from any thread at once; RuleStats
// are atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/core/rule_outcome.hpp"
#include "broker/edge/rule_eval.hpp"
#include "broker/edge/rule_sql.hpp"

namespace tern::edge {

// A bad action line; what() says why (the config parser adds FILE:LINE).
class RuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "alarms/${topic[2]}": literal text and expressions, in order.
struct Template {
  struct Part {
    std::string text;            // when expr is null
    std::shared_ptr<Expr> expr;  // shared: Template is copied with its rule
  };
  std::vector<Part> parts;
  bool uses_payload_json = false;

  std::string render(Evaluation& evaluation) const;
};
// `statement`: the names ${...} may use besides the fields of the language. `topic_only`: only topic and topic[N].
// Throws RuleError.
Template parse_template(std::string_view text, const Statement* statement, bool topic_only = false);

struct Republish {
  Template topic;
  std::optional<Template> payload;  // none: the selected fields as JSON
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
};
struct Drop {};
struct Window {
  std::chrono::seconds period{60};
  std::shared_ptr<Expr> field;
  Template topic;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
};
// store [max_age DURATION] [max_rows N]: the matching message (its time, topic, payload and QoS) goes into the local
// history (persistence/history_store.hpp), kept for DURATION (N s|m|h|d) and as the newest N rows of this rule; 0 or
// absent: no such limit.
struct Store {
  std::chrono::seconds max_age{0};
  std::uint64_t max_rows = 0;
};

using Action = std::variant<Republish, Drop, Window, Store>;

// The values of action lines: "alarms/${room} qos 1", "60 payload.temp averages/${topic}". Throw RuleError.
Republish parse_republish(std::string_view args, const Statement& statement);
Window parse_window(std::string_view args, const Statement& statement);
Store parse_store(std::string_view args);

struct Rule {
  std::string name;
  std::string origin;  // "FILE:LINE" of its `rule` line, for the log
  std::shared_ptr<const Statement> statement;
  std::vector<Action> actions;
};

// What one evaluation counted (RuleSet::evaluate), added to the shared RuleStats once per read batch rather than
// once per message, so that shards do not contend on the counters' cache line.
struct RuleCounts {
  std::uint64_t evaluated = 0, matched = 0, not_json = 0, bad_topic = 0;
  bool empty() const noexcept { return evaluated == 0 && not_json == 0 && bad_topic == 0; }
};

struct RuleStats {
  std::atomic<std::uint64_t> evaluated{0};  // (message, rule) pairs whose FROM matched
  std::atomic<std::uint64_t> matched{0};    // ... and whose WHERE held
  std::atomic<std::uint64_t> not_json{0};   // ... skipped: the rule reads the payload as JSON and it is not
  std::atomic<std::uint64_t> bad_topic{0};  // republished topics that came out invalid (not published)
  std::atomic<std::uint64_t> windows_published{0};
  std::atomic<std::uint64_t> stored{0};         // records handed to the history
  std::atomic<std::uint64_t> store_dropped{0};  // records with no history to take them

  void add(const RuleCounts& c) noexcept {
    evaluated.fetch_add(c.evaluated, std::memory_order_relaxed);
    matched.fetch_add(c.matched, std::memory_order_relaxed);
    not_json.fetch_add(c.not_json, std::memory_order_relaxed);
    bad_topic.fetch_add(c.bad_topic, std::memory_order_relaxed);
  }
};

// A numeric value for a window, from the evaluation of one message; added once the core accepted the message.
struct WindowSample {
  std::uint64_t generation = 0;  // of the RuleSet that made it
  std::uint32_t rule = 0;
  std::uint32_t action = 0;
  std::string topic;
  double value = 0;
};

// A message a rule's `store` keeps; handed to the history once the core accepted the message.
struct HistoryEntry {
  std::string rule;
  std::string topic;
  std::string payload;
  protocol::QoS qos = protocol::QoS::at_most_once;
};

// What the rules made of one message.
struct RuleResult {
  bool drop = false;
  std::vector<core::DerivedMessage> messages;
  std::vector<WindowSample> samples;
  std::vector<HistoryEntry> stores;
  bool empty() const noexcept { return !drop && messages.empty() && samples.empty() && stores.empty(); }
};

class RuleSet {
 public:
  RuleSet(std::vector<Rule> rules, std::uint64_t generation);

  bool empty() const noexcept { return rules_.empty(); }
  const std::vector<Rule>& rules() const noexcept { return rules_; }
  std::uint64_t generation() const noexcept { return generation_; }

  // Whether any rule's FROM matches `topic`: messages for which it is false cost nothing more.
  bool wants(std::string_view topic) const noexcept;
  // Runs every rule whose FROM matches, in order, adding to `result` and `counts`.
  void evaluate(const MessageView& message, RuleResult& result, RuleCounts& counts) const;

 private:
  // A FROM filter split into its levels once, so that a message's topic is split once and compared level by level.
  // Filters are indexed by their first level: a topic is compared only with the filters whose first level is its
  // own or a wildcard (with rules on sensors/... and meters/..., a message on meters/x never meets the sensors ones).
  struct Filter {
    struct Level {
      std::string text;
      bool plus = false;  // '+'
    };
    std::uint32_t rule = 0;
    std::vector<Level> levels;    // without a trailing '#'
    bool multi = false;           // ended with '#'
    bool wildcard_first = false;  // starts with '+' or '#': does not match $-topics [MQTT-4.7.2-1]
  };
  static bool filter_matches(const Filter& f, std::span<const std::string_view> topic, bool dollar) noexcept;
  // Bit r set: rule r's FROM matches `topic`. nullopt for sets of more than 64 rules and topics deeper than the
  // levels split at once; then every rule is checked with protocol::topic_matches.
  std::optional<std::uint64_t> match_mask(std::string_view topic) const noexcept;
  bool rule_matches(std::size_t rule, std::string_view topic) const noexcept;  // the slow path of match_mask

  std::vector<Rule> rules_;
  std::vector<bool> needs_json_;  // per rule: its statement or an action reads the payload as JSON
  std::vector<Filter> filters_;
  std::vector<std::pair<std::string, std::vector<std::uint32_t>>> by_first_;  // sorted by first level
  std::vector<std::uint32_t> wildcard_first_;                                 // filters starting with + or #
  std::uint64_t generation_;
};

}  // namespace tern::edge
