// The rule language: a SELECT statement in the dialect of the EMQX and NanoMQ rule engines, parsed into a tree that
// rule_eval.hpp evaluates against one message.
//
//   SELECT payload.temp AS t, topic[2] AS room, clientid FROM "sensors/+/temp", "lab/#" WHERE payload.temp > 30
//
// Fields (the names EMQX uses):
//   payload          the payload as a string;  payload.a.b, payload.list[1]  a value of the payload as JSON
//   topic            the topic;                topic[N]  its N-th level, 1-based (topic "a/b/c": topic[2] is "b")
//   qos, retain      0, 1 or 2; true or false
//   clientid, username  the publisher's (username null when it gave none)
//   user_property.KEY   a 5.0 user property of the PUBLISH (the first with that name)
//   NAME             in WHERE and in templates: the SELECT field named NAME with AS (or by its text)
// Literals: numbers (42, -1.5), strings ('x' or "x"), true, false, null. Operators, loosest first: or; and; not;
// = != <> < <= > >=; + -; * /; unary -. Keywords are case-insensitive. `SELECT *` selects topic, qos, retain,
// clientid, username and payload (as JSON when it parses, else as a string).
//
// Errors are RuleSyntaxError with the 1-based column of the offending token ("at column 34: expected FROM").
//
// Thread safety: a parsed Statement is immutable and may be evaluated from any thread at once.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tern::edge {

using Json = nlohmann::ordered_json;  // objects keep the order of their members (SELECT order)

class RuleSyntaxError : public std::runtime_error {
 public:
  RuleSyntaxError(std::size_t column, const std::string& what)
      : std::runtime_error("at column " + std::to_string(column) + ": " + what), column_(column), message_(what) {}
  std::size_t column() const noexcept { return column_; }
  const std::string& message() const noexcept { return message_; }  // what() without the column

 private:
  std::size_t column_;
  std::string message_;
};

struct Expr {
  enum class Kind : std::uint8_t {
    literal,       // value
    payload,       // the payload string
    payload_path,  // path into the payload's JSON
    topic,         // the topic
    topic_level,   // index: 1-based level
    qos,
    retain,
    clientid,
    username,
    user_property,  // name
    alias,          // index: of the SELECT field
    negate,         // -args[0]
    logical_not,    // not args[0]
    binary,         // args[0] op args[1]
  };
  enum class Op : std::uint8_t { add, sub, mul, div, eq, ne, lt, le, gt, ge, logical_and, logical_or };
  // A step of a payload path: a member name, or (index != 0) a 1-based array index.
  struct Step {
    std::string name;
    std::size_t index = 0;
  };

  Kind kind = Kind::literal;
  Op op = Op::add;
  std::size_t index = 0;
  std::string name;
  Json value;
  std::vector<Step> path;
  std::vector<std::unique_ptr<Expr>> args;

  bool uses_payload_json() const;  // reads the payload as JSON (this node or below)
};

struct SelectField {
  std::unique_ptr<Expr> expr;
  std::string name;  // AS name, or the field's text ("payload.temp")
};

struct Statement {
  bool select_all = false;  // SELECT *
  std::vector<SelectField> fields;
  std::vector<std::string> from;   // topic filters
  std::unique_ptr<Expr> where;     // null: every message of `from`
  bool uses_payload_json = false;  // some field or the condition reads the payload as JSON

  // The index of the field called `name`; -1: none.
  int field_index(std::string_view name) const;
};

// Parses a whole statement. Throws RuleSyntaxError.
std::unique_ptr<const Statement> parse_statement(std::string_view text);

// Parses one expression that must span `text` (a template's ${...}), resolving NAMEs against `statement`'s fields
// (none when null). `column` is added to error columns. Throws RuleSyntaxError.
std::unique_ptr<Expr> parse_expression(std::string_view text, const Statement* statement, std::size_t column = 0);

}  // namespace tern::edge
