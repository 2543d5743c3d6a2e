// Evaluation of the rule language (rule_sql.hpp) against one message.
//
// Values are JSON values (nlohmann::json). A missing field, a payload path that leads nowhere, a topic level past
// the last and arithmetic that makes no sense (a string plus a number, a division by zero) give null. Comparisons
// follow SQL's NULL: with null on either side every comparison is false; `=` and `!=` compare values of any type
// (1 = 1.0; different types are unequal); `<`, `<=`, `>`, `>=` compare two numbers or two strings (bytewise), and are
// false for anything else. `and`, `or` and `not` take true and false; anything else is unknown (null), and a WHERE
// holds only when it is true. Examples, with payload {"t":31,"unit":"C"}:
//   payload.t > 30                 true      payload.t / 0 > 1        false (null > 1)
//   payload.unit = 'C' and qos < 2 true      payload.missing != 1     false (null)
//   payload.t + 1                  32        payload.unit + 1         null
//
// The payload is parsed as JSON at most once per message (PayloadJson), and only when a rule whose FROM matched
// looks into it.
//
// Thread safety: PayloadJson belongs to one evaluation; everything else is stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "broker/edge/rule_sql.hpp"
#include "broker/protocol/packets.hpp"
#include "broker/protocol/properties.hpp"

namespace tern::edge {

// One message as the rules see it. Views into the caller's storage.
struct MessageView {
  std::string_view topic;
  std::string_view payload;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  std::string_view clientid;
  const std::optional<std::string>* username = nullptr;       // null or empty optional: none
  const protocol::UserProperties* user_properties = nullptr;  // null: none
};

// The payload as JSON, parsed on first use.
class PayloadJson {
 public:
  // Null when the payload is not JSON.
  const Json* get(std::string_view payload);
  bool parsed() const noexcept { return state_ != State::unparsed; }

 private:
  enum class State : std::uint8_t { unparsed, valid, invalid } state_ = State::unparsed;
  Json value_;
};

// A value while a rule is evaluated. It never owns: a string is a view into the message (topic, payload, client
// id, a user property), the statement (a literal) or the payload's parsed JSON, and an object or array points into
// that JSON; arithmetic makes only numbers. So evaluating a condition allocates nothing; a Value becomes JSON
// (to_json) only when a message is made.
struct Value {
  enum class Kind : std::uint8_t { null, boolean, integer, real, text, json };  // json: an object or an array
  Kind kind = Kind::null;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view text;
  const Json* json = nullptr;

  static Value of(const Json& j);  // integers beyond int64 become reals
  static Value of_bool(bool b) { return {.kind = Kind::boolean, .boolean = b}; }
  static Value of_text(std::string_view s) { return {.kind = Kind::text, .text = s}; }
  bool is_number() const noexcept { return kind == Kind::integer || kind == Kind::real; }
  double as_double() const noexcept { return kind == Kind::integer ? static_cast<double>(integer) : real; }
  bool is_true() const noexcept { return kind == Kind::boolean && boolean; }
  bool is_false() const noexcept { return kind == Kind::boolean && !boolean; }
};
Json to_json(const Value& v);

// One evaluation: the message, its payload's JSON, and the SELECT fields computed so far (an alias is computed
// once, when first needed). Values it returns are views valid while the Evaluation, the message and the statement
// live.
class Evaluation {
 public:
  Evaluation(const Statement& statement, const MessageView& message, PayloadJson& payload)
      : statement_(statement), message_(message), payload_(payload) {}

  Value value(const Expr& e);
  Json evaluate(const Expr& e) { return to_json(value(e)); }
  // WHERE (true without one).
  bool matches();
  // The selected fields as a JSON object (SELECT *: the message's fields).
  Json selected();
  const MessageView& message() const noexcept { return message_; }

 private:
  const Value& field(std::size_t index);

  const Statement& statement_;
  const MessageView& message_;
  PayloadJson& payload_;
  std::vector<std::optional<Value>> fields_;
};

// The topic's N-th level (1-based); nullopt past the last.
std::optional<std::string_view> topic_level(std::string_view topic, std::size_t n);

// Compact JSON; bytes that are not UTF-8 (a raw payload) become U+FFFD.
std::string dump(const Json& value);
// How a value reads in a template: strings as they are, null as nothing, numbers and the rest as JSON.
std::string to_text(const Json& value);
std::string to_text(const Value& value);

}  // namespace tern::edge
