// The rule language's parser: statements that parse, and errors that name their column.
#include "broker/edge/rule_sql.hpp"

#include <gtest/gtest.h>

namespace tern::edge {
namespace {

std::string error_of(std::string_view text) {
  try {
    parse_statement(text);
  } catch (const RuleSyntaxError& e) {
    return e.what();
  }
  return "no error";
}

TEST(RuleSql, SelectFromWhere) {
  const auto s = parse_statement(
      R"(SELECT payload.temp as t, clientid, topic[2] AS room FROM "sensors/+/temp", "lab/#" WHERE payload.temp > 30)");
  ASSERT_EQ(s->fields.size(), 3u);
  EXPECT_EQ(s->fields[0].name, "t");
  EXPECT_EQ(s->fields[0].expr->kind, Expr::Kind::payload_path);
  ASSERT_EQ(s->fields[0].expr->path.size(), 1u);
  EXPECT_EQ(s->fields[0].expr->path[0].name, "temp");
  EXPECT_EQ(s->fields[1].name, "clientid");
  EXPECT_EQ(s->fields[2].name, "room");
  EXPECT_EQ(s->fields[2].expr->kind, Expr::Kind::topic_level);
  EXPECT_EQ(s->fields[2].expr->index, 2u);
  EXPECT_EQ(s->from, (std::vector<std::string>{"sensors/+/temp", "lab/#"}));
  ASSERT_TRUE(s->where);
  EXPECT_EQ(s->where->op, Expr::Op::gt);
  EXPECT_TRUE(s->uses_payload_json);
}

TEST(RuleSql, KeywordsAreCaseInsensitiveAndWhereIsOptional) {
  const auto s = parse_statement(R"(select * from 't/#')");
  EXPECT_TRUE(s->select_all);
  EXPECT_FALSE(s->where);
  EXPECT_FALSE(s->uses_payload_json);
}

TEST(RuleSql, PrecedenceAndParentheses) {
  // not binds tighter than and, and tighter than or; * tighter than +.
  const auto s = parse_statement(R"(SELECT 1 + 2 * 3 AS x FROM "t" WHERE not qos = 0 or retain and (qos > 1))");
  const Expr& x = *s->fields[0].expr;
  EXPECT_EQ(x.op, Expr::Op::add);
  EXPECT_EQ(x.args[1]->op, Expr::Op::mul);
  EXPECT_EQ(s->where->op, Expr::Op::logical_or);
  EXPECT_EQ(s->where->args[0]->kind, Expr::Kind::logical_not);
  EXPECT_EQ(s->where->args[1]->op, Expr::Op::logical_and);
}

TEST(RuleSql, WhereMayNameSelectedFields) {
  const auto s =
      parse_statement(R"(SELECT payload.a.b[2] AS v FROM "t" WHERE v >= 1 and user_property.'x-unit' = 'C')");
  EXPECT_EQ(s->where->args[0]->args[0]->kind, Expr::Kind::alias);
  EXPECT_EQ(s->where->args[1]->args[0]->kind, Expr::Kind::user_property);
  EXPECT_EQ(s->where->args[1]->args[0]->name, "x-unit");
  const auto& path = s->fields[0].expr->path;
  ASSERT_EQ(path.size(), 3u);
  EXPECT_EQ(path[2].index, 2u);
}

TEST(RuleSql, FieldsWithoutAsAreNamedByTheirText) {
  const auto s = parse_statement(R"(SELECT payload.temp, topic[1], payload.t - 1 FROM "t")");
  EXPECT_EQ(s->fields[0].name, "payload.temp");
  EXPECT_EQ(s->fields[1].name, "topic[1]");
  EXPECT_EQ(s->fields[2].name, "payload.t - 1");
}

TEST(RuleSql, ErrorsNameTheColumn) {
  EXPECT_EQ(error_of("SELEC x FROM \"t\""), "at column 1: expected select, got 'SELEC'");
  EXPECT_EQ(error_of("SELECT qos FORM \"t\""), "at column 12: expected from, got 'FORM'");
  EXPECT_EQ(error_of("SELECT qos FROM t"),
            "at column 17: expected a topic filter in quotes (FROM \"sensors/#\"), got 't'");
  EXPECT_EQ(error_of("SELECT qos FROM \"a/#/b\""), "at column 17: 'a/#/b' is not a valid topic filter");
  EXPECT_EQ(error_of("SELECT qos FROM \"t\" WHERE"), "at column 26: expected a value, got the end");
  EXPECT_EQ(error_of("SELECT nosuch FROM \"t\""), "at column 8: unknown field 'nosuch'");
  EXPECT_EQ(error_of("SELECT qos FROM \"t\" WHERE t > 1"), "at column 27: unknown field 't'");
  EXPECT_EQ(error_of("SELECT topic[0] FROM \"t\""), "at column 14: expected an index from 1, got '0'");
  EXPECT_EQ(error_of("SELECT 'open FROM \"t\""), "at column 8: unterminated string");
  EXPECT_EQ(error_of("SELECT qos FROM \"t\" WHERE qos = 1 1"),
            "at column 35: expected the end of the statement, got '1'");
  EXPECT_EQ(error_of("SELECT qos FROM \"t\" WHERE qos ; 1"), "at column 31: unexpected character ';'");
  EXPECT_EQ(error_of("SELECT qos AS a, clientid AS a FROM \"t\""),
            "at column 32: field 'a' is selected twice, got 'FROM'");
  EXPECT_EQ(error_of("SELECT (qos FROM \"t\""), "at column 13: expected ')', got 'FROM'");
}

TEST(RuleSql, ExpressionsForTemplates) {
  const auto s = parse_statement(R"(SELECT topic[2] AS room FROM "t/+")");
  EXPECT_EQ(parse_expression("room", s.get())->kind, Expr::Kind::alias);
  EXPECT_EQ(parse_expression("payload.x", s.get())->kind, Expr::Kind::payload_path);
  EXPECT_THROW(parse_expression("", s.get()), RuleSyntaxError);
  EXPECT_THROW(parse_expression("room room", s.get()), RuleSyntaxError);
  EXPECT_THROW(parse_expression("nosuch", s.get()), RuleSyntaxError);
}

}  // namespace
}  // namespace tern::edge
