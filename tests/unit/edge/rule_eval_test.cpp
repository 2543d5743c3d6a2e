// Evaluation against a table of payloads: JSON of every type, missing fields, type mismatches, division by zero,
// payloads that are not JSON.
#include "broker/edge/rule_eval.hpp"

#include <gtest/gtest.h>

namespace tern::edge {
namespace {

struct Row {
  const char* payload;
  const char* expression;  // evaluated in SELECT <expression> AS v FROM "#"
  const char* expected;    // the value as JSON; "null" for null
};

Json eval(std::string_view payload, std::string_view expression, std::string_view topic = "s/kitchen/temp") {
  const auto s = parse_statement("SELECT " + std::string(expression) + " AS v FROM \"#\"");
  const std::optional<std::string> user = "ann";
  const protocol::UserProperties props{{"unit", "C"}, {"unit", "F"}};
  const MessageView m{.topic = topic,
                      .payload = payload,
                      .qos = protocol::QoS::at_least_once,
                      .retain = true,
                      .clientid = "dev1",
                      .username = &user,
                      .user_properties = &props};
  PayloadJson json;
  Evaluation e(*s, m, json);
  return e.selected()["v"];
}

TEST(RuleEval, Table) {
  const Row rows[] = {
      {R"({"t":31})", "payload.t", "31"},
      {R"({"t":31})", "payload.t > 30", "true"},
      {R"({"t":31})", "payload.t > 30.5 and payload.t < 31.5", "true"},
      {R"({"t":31})", "payload.t + 1", "32"},
      {R"({"t":31})", "payload.t * 2 - 2", "60"},
      {R"({"t":3})", "payload.t / 2", "1.5"},
      {R"({"t":3})", "payload.t / 0", "null"},       // division by zero
      {R"({"t":3})", "payload.t / 0 > 1", "false"},  // null compares false
      {R"({"t":3})", "-payload.t", "-3"},
      {R"({"t":"hot"})", "payload.t + 1", "null"},   // a string is not a number
      {R"({"t":"hot"})", "payload.t > 1", "false"},  // nor ordered against one
      {R"({"t":"hot"})", "payload.t = 'hot'", "true"},
      {R"({"t":"hot"})", "payload.t != 1", "true"},  // different types are unequal
      {R"({"t":"b"})", "payload.t > 'a'", "true"},
      {R"({"t":1})", "payload.t = 1.0", "true"},
      {R"({"t":null})", "payload.t = null", "false"},
      {R"({"t":true})", "payload.t", "true"},
      {R"({"t":true})", "not payload.t", "false"},
      {R"({"t":true})", "payload.t and qos = 1", "true"},
      {R"({"t":1})", "not payload.t", "null"},    // not of a number is unknown
      {R"({"t":1})", "payload.missing", "null"},  // a missing field
      {R"({"t":1})", "payload.missing > 0", "false"},
      {R"({"t":1})", "payload.missing != 0", "false"},
      {R"({"t":1})", "payload.missing > 0 or payload.t = 1", "true"},
      {R"({"t":1})", "payload.t.deeper", "null"},  // into a number
      {R"({"a":{"b":[5,6,7]}})", "payload.a.b[2]", "6"},
      {R"({"a":{"b":[5,6,7]}})", "payload.a.b[4]", "null"},
      {R"({"a":{"b":[5,6,7]}})", "payload.a", R"({"b":[5,6,7]})"},
      {R"([1,2])", "payload[1]", "1"},
      {R"({"n":9223372036854775807})", "payload.n + 1", "9.223372036854776e+18"},  // overflow leaves integers
      {R"({"n":18446744073709551615})", "payload.n > 1", "true"},                  // beyond int64
      {"31", "payload + 1", "null"},                                               // payload alone is a string
      {"not json", "payload", R"("not json")"},
      {"not json", "payload.t", "null"},
      {"", "payload.t", "null"},
      {"{}", "topic", R"("s/kitchen/temp")"},
      {"{}", "topic[2]", R"("kitchen")"},
      {"{}", "topic[3]", R"("temp")"},
      {"{}", "topic[4]", "null"},
      {"{}", "qos", "1"},
      {"{}", "retain", "true"},
      {"{}", "clientid", R"("dev1")"},
      {"{}", "username", R"("ann")"},
      {"{}", "user_property.unit", R"("C")"},  // the first with the name
      {"{}", "user_property.other", "null"},
      {"{}", "(1 + 2) * 3", "9"},
      {"{}", "'a' = \"a\"", "true"},
      {"{}", "1 <> 2", "true"},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(eval(row.payload, row.expression).dump(), Json::parse(row.expected).dump())
        << row.expression << " on " << row.payload;
  }
}

TEST(RuleEval, TopicLevels) {
  EXPECT_EQ(topic_level("a/b/c", 1), "a");
  EXPECT_EQ(topic_level("a//c", 2), "");
  EXPECT_EQ(topic_level("/x", 1), "");
  EXPECT_EQ(topic_level("a", 2), std::nullopt);
}

TEST(RuleEval, WhereHoldsOnlyWhenTrue) {
  const auto s = parse_statement(R"(SELECT payload.t AS t FROM "#" WHERE t > 30)");
  for (const auto& [payload, expected] : std::vector<std::pair<std::string, bool>>{
           {R"({"t":31})", true}, {R"({"t":30})", false}, {R"({"t":"31"})", false}, {"31", false}, {"[", false}}) {
    const MessageView m{.topic = "s", .payload = payload};
    PayloadJson json;
    Evaluation e(*s, m, json);
    EXPECT_EQ(e.matches(), expected) << payload;
  }
}

TEST(RuleEval, ThePayloadIsParsedOnceAndOnlyWhenNeeded) {
  const auto s = parse_statement(R"(SELECT topic AS t, payload.a AS a FROM "#" WHERE topic = 'x')");
  const MessageView m{.topic = "y", .payload = R"({"a":1})"};
  PayloadJson json;
  Evaluation e(*s, m, json);
  EXPECT_FALSE(e.matches());
  EXPECT_FALSE(json.parsed());  // the WHERE never looked into it
  EXPECT_EQ(e.selected().dump(), R"({"t":"y","a":1})");
  EXPECT_TRUE(json.parsed());
}

TEST(RuleEval, SelectStar) {
  const auto s = parse_statement(R"(SELECT * FROM "#")");
  const MessageView m{.topic = "a/b", .payload = "\xff raw", .qos = protocol::QoS::exactly_once, .clientid = "c"};
  PayloadJson json;
  Evaluation e(*s, m, json);
  // A payload that is not JSON is a string; bytes that are not UTF-8 are replaced when written out.
  EXPECT_EQ(dump(e.selected()),
            "{\"topic\":\"a/b\",\"qos\":2,\"retain\":false,\"clientid\":\"c\",\"username\":null,"
            "\"payload\":\"\xEF\xBF\xBD raw\"}");
}

}  // namespace
}  // namespace tern::edge
