// A hand-written lexer and recursive-descent parser for the rule language (rule_sql.hpp).
#include "broker/edge/rule_sql.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "broker/protocol/topic.hpp"

namespace tern::edge {
namespace {

struct Token {
  enum class Type { end, ident, number, string, symbol } type = Type::end;
  std::string text;  // ident as written; string without quotes; symbol ("<=")
  Json number;
  std::size_t column = 0;  // 1-based
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<Token> lex(std::string_view text, std::size_t base) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    Token t;
    t.column = base + i + 1;
    if (i == text.size()) {
      out.push_back(std::move(t));
      return out;
    }
    const char c = text[i];
    if (ident_start(c)) {
      // A name with other characters (a user property "x-unit") is given in quotes: user_property.'x-unit'.
      std::size_t j = i + 1;
      while (j < text.size() && ident_char(text[j])) ++j;
      t.type = Token::Type::ident;
      t.text = std::string(text.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      bool fraction = false;
      while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) {
        fraction |= text[j] == '.';
        ++j;
      }
      const std::string_view digits = text.substr(i, j - i);
      t.type = Token::Type::number;
      if (fraction) {
        double d = 0;
        const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
        if (ec != std::errc() || p != digits.data() + digits.size()) throw RuleSyntaxError(t.column, "bad number");
        t.number = d;
      } else {
        std::int64_t n = 0;
        const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc() || p != digits.data() + digits.size()) throw RuleSyntaxError(t.column, "bad number");
        t.number = n;
      }
      t.text = std::string(digits);
      i = j;
    } else if (c == '\'' || c == '"') {
      const std::size_t close = text.find(c, i + 1);
      if (close == std::string_view::npos) throw RuleSyntaxError(t.column, "unterminated string");
      t.type = Token::Type::string;
      t.text = std::string(text.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      static constexpr std::string_view two[] = {"!=", "<>", "<=", ">="};
      t.type = Token::Type::symbol;
      const std::string_view rest = text.substr(i);
      const auto* match = std::find_if(std::begin(two), std::end(two), [&](auto s) { return rest.starts_with(s); });
      if (match != std::end(two)) {
        t.text = std::string(*match);
        i += 2;
      } else if (std::string_view("=<>+-*/(),.[]").find(c) != std::string_view::npos) {
        t.text = std::string(1, c);
        ++i;
      } else {
        throw RuleSyntaxError(t.column, std::string("unexpected character '") + c + "'");
      }
    }
    out.push_back(std::move(t));
  }
}

constexpr std::string_view kReserved[] = {"select", "from", "where", "as", "and", "or", "not"};

class Parser {
 public:
  Parser(std::vector<Token> tokens, const Statement* statement) : tokens_(std::move(tokens)), statement_(statement) {}

  const Token& peek() const { return tokens_[pos_]; }
  bool at_end() const { return peek().type == Token::Type::end; }
  bool is_keyword(std::string_view word) const {
    return peek().type == Token::Type::ident && iequals(peek().text, word);
  }
  bool is_symbol(std::string_view s) const { return peek().type == Token::Type::symbol && peek().text == s; }
  Token take() { return tokens_[pos_ == tokens_.size() - 1 ? pos_ : pos_++]; }
  [[noreturn]] void fail(const std::string& what) const {
    const Token& t = peek();
    throw RuleSyntaxError(t.column, what + (t.type == Token::Type::end ? ", got the end" : ", got '" + t.text + "'"));
  }
  void expect_keyword(std::string_view word) {
    if (!is_keyword(word)) fail("expected " + std::string(word));
    take();
  }
  void expect_symbol(std::string_view s) {
    if (!is_symbol(s)) fail("expected '" + std::string(s) + "'");
    take();
  }
  // Where the tokens of the expression parsed last began and ended, as offsets into the source.
  std::size_t column() const { return peek().column; }

  void set_statement(const Statement* statement) { statement_ = statement; }

  std::unique_ptr<Expr> expression() { return or_expr(); }

 private:
  static std::unique_ptr<Expr> binary(Expr::Op op, std::unique_ptr<Expr> a, std::unique_ptr<Expr> b) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::binary;
    e->op = op;
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }
  std::unique_ptr<Expr> or_expr() {
    auto e = and_expr();
    while (is_keyword("or")) {
      take();
      e = binary(Expr::Op::logical_or, std::move(e), and_expr());
    }
    return e;
  }
  std::unique_ptr<Expr> and_expr() {
    auto e = not_expr();
    while (is_keyword("and")) {
      take();
      e = binary(Expr::Op::logical_and, std::move(e), not_expr());
    }
    return e;
  }
  std::unique_ptr<Expr> not_expr() {
    if (!is_keyword("not")) return comparison();
    take();
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::logical_not;
    e->args.push_back(not_expr());
    return e;
  }
  std::unique_ptr<Expr> comparison() {
    auto e = additive();
    static constexpr std::pair<std::string_view, Expr::Op> ops[] = {
        {"=", Expr::Op::eq},  {"!=", Expr::Op::ne}, {"<>", Expr::Op::ne}, {"<", Expr::Op::lt},
        {"<=", Expr::Op::le}, {">", Expr::Op::gt},  {">=", Expr::Op::ge}};
    for (const auto& [symbol, op] : ops) {
      if (is_symbol(symbol)) {
        take();
        return binary(op, std::move(e), additive());
      }
    }
    return e;
  }
  std::unique_ptr<Expr> additive() {
    auto e = multiplicative();
    while (is_symbol("+") || is_symbol("-")) {
      const auto op = take().text == "+" ? Expr::Op::add : Expr::Op::sub;
      e = binary(op, std::move(e), multiplicative());
    }
    return e;
  }
  std::unique_ptr<Expr> multiplicative() {
    auto e = unary();
    while (is_symbol("*") || is_symbol("/")) {
      const auto op = take().text == "*" ? Expr::Op::mul : Expr::Op::div;
      e = binary(op, std::move(e), unary());
    }
    return e;
  }
  std::unique_ptr<Expr> unary() {
    if (is_symbol("-")) {
      take();
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::negate;
      e->args.push_back(unary());
      return e;
    }
    return primary();
  }
  std::size_t index_suffix() {  // [N], N >= 1
    expect_symbol("[");
    if (peek().type != Token::Type::number || !peek().number.is_number_integer() ||
        peek().number.get<std::int64_t>() < 1)
      fail("expected an index from 1");
    const auto n = static_cast<std::size_t>(take().number.get<std::int64_t>());
    expect_symbol("]");
    return n;
  }
  std::unique_ptr<Expr> primary() {
    auto e = std::make_unique<Expr>();
    const Token& t = peek();
    if (t.type == Token::Type::number || t.type == Token::Type::string) {
      e->value = t.type == Token::Type::number ? t.number : Json(t.text);
      take();
      return e;
    }
    if (is_symbol("(")) {
      take();
      e = expression();
      expect_symbol(")");
      return e;
    }
    if (t.type != Token::Type::ident) fail("expected a value");
    if (is_keyword("true") || is_keyword("false") || is_keyword("null")) {
      e->value = is_keyword("null") ? Json() : Json(iequals(t.text, "true"));
      take();
      return e;
    }
    for (auto word : kReserved) {
      if (is_keyword(word)) fail("expected a value");
    }
    const std::size_t column = t.column;
    const std::string name = take().text;
    if (name == "payload") {
      e->kind = Expr::Kind::payload;
      while (is_symbol(".") || is_symbol("[")) {
        e->kind = Expr::Kind::payload_path;
        if (is_symbol("[")) {
          e->path.push_back({.index = index_suffix()});
          continue;
        }
        take();
        if (peek().type != Token::Type::ident && peek().type != Token::Type::string) fail("expected a field name");
        e->path.push_back({.name = take().text});
      }
      return e;
    }
    if (name == "topic") {
      e->kind = Expr::Kind::topic;
      if (is_symbol("[")) {
        e->kind = Expr::Kind::topic_level;
        e->index = index_suffix();
      }
      return e;
    }
    if (name == "user_property" || name == "user_properties") {
      expect_symbol(".");
      if (peek().type != Token::Type::ident && peek().type != Token::Type::string) fail("expected a property name");
      e->kind = Expr::Kind::user_property;
      e->name = take().text;
      return e;
    }
    static constexpr std::pair<std::string_view, Expr::Kind> simple[] = {{"qos", Expr::Kind::qos},
                                                                         {"retain", Expr::Kind::retain},
                                                                         {"clientid", Expr::Kind::clientid},
                                                                         {"username", Expr::Kind::username}};
    for (const auto& [word, kind] : simple) {
      if (name == word) {
        e->kind = kind;
        return e;
      }
    }
    const int field = statement_ ? statement_->field_index(name) : -1;
    if (field < 0) throw RuleSyntaxError(column, "unknown field '" + name + "'");
    e->kind = Expr::Kind::alias;
    e->index = static_cast<std::size_t>(field);
    return e;
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  const Statement* statement_;
};

}  // namespace

bool Expr::uses_payload_json() const {
  if (kind == Kind::payload_path) return true;
  return std::any_of(args.begin(), args.end(), [](const auto& a) { return a->uses_payload_json(); });
}

int Statement::field_index(std::string_view name) const {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::unique_ptr<const Statement> parse_statement(std::string_view text) {
  auto statement = std::make_unique<Statement>();
  const auto tokens = lex(text, 0);
  Parser p(tokens, nullptr);
  p.expect_keyword("select");
  if (p.is_symbol("*")) {
    p.take();
    statement->select_all = true;
  } else {
    while (true) {
      const std::size_t start = p.peek().column - 1;
      SelectField field;
      field.expr = p.expression();
      const std::size_t end = p.peek().column - 1;
      if (p.is_keyword("as")) {
        p.take();
        if (p.peek().type != Token::Type::ident && p.peek().type != Token::Type::string)
          p.fail("expected a name after AS");
        field.name = p.take().text;
      } else {
        std::string_view source = text.substr(start, end - start);
        while (!source.empty() && std::isspace(static_cast<unsigned char>(source.back()))) source.remove_suffix(1);
        field.name = std::string(source);
      }
      if (statement->field_index(field.name) >= 0) p.fail("field '" + field.name + "' is selected twice");
      statement->uses_payload_json |= field.expr->uses_payload_json();
      statement->fields.push_back(std::move(field));
      if (!p.is_symbol(",")) break;
      p.take();
    }
  }
  p.expect_keyword("from");
  while (true) {
    if (p.peek().type != Token::Type::string) p.fail("expected a topic filter in quotes (FROM \"sensors/#\")");
    const std::size_t column = p.peek().column;
    std::string filter = p.take().text;
    if (filter.empty() || !protocol::valid_topic_filter(filter))
      throw RuleSyntaxError(column, "'" + filter + "' is not a valid topic filter");
    statement->from.push_back(std::move(filter));
    if (!p.is_symbol(",")) break;
    p.take();
  }
  if (p.is_keyword("where")) {
    p.take();
    p.set_statement(statement.get());  // WHERE may name the fields selected
    statement->where = p.expression();
    statement->uses_payload_json |= statement->where->uses_payload_json();
  }
  if (!p.at_end()) p.fail("expected the end of the statement");
  return statement;
}

std::unique_ptr<Expr> parse_expression(std::string_view text, const Statement* statement, std::size_t column) {
  Parser p(lex(text, column), statement);
  if (p.at_end()) throw RuleSyntaxError(column + 1, "empty expression");
  auto e = p.expression();
  if (!p.at_end()) p.fail("expected the end of the expression");
  return e;
}

}  // namespace tern::edge
