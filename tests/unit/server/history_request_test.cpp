// The history query's JSON (broker/server/history_service.hpp): requests read, or refused with a reason; answers
// with payloads that are JSON given as JSON and the others as strings.
#include <gtest/gtest.h>

#include "broker/server/history_service.hpp"

namespace tern::server {
namespace {

TEST(HistoryRequest, EveryField) {
  const HistoryRequest r = parse_history_request(
      R"({"filter": "sensors/#", "rule": "temps", "from": "2026-12-06T00:00:00Z", "to": 1796600000000,
          "limit": 5, "order": "newest", "reply_to": "me/answers", "correlation": 42})");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.query.filter, "sensors/#");
  EXPECT_EQ(r.query.rule, "temps");
  EXPECT_EQ(r.query.from_ms, 1796515200000);
  EXPECT_EQ(r.query.to_ms, 1796600000000);
  EXPECT_EQ(r.query.limit, 5u);
  EXPECT_TRUE(r.query.newest_first);
  EXPECT_EQ(r.reply_to, "me/answers");
  EXPECT_EQ(r.correlation, "42");
}

TEST(HistoryRequest, DefaultsAndTimesWithMilliseconds) {
  HistoryRequest r = parse_history_request("{}");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.query.filter, "#");
  EXPECT_EQ(r.query.limit, 100u);
  EXPECT_FALSE(r.query.newest_first);
  r = parse_history_request(R"({"from": "1970-01-01T00:00:01.5Z", "to": "1970-01-01T00:01:00.123Z"})");
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.query.from_ms, 1500);
  EXPECT_EQ(r.query.to_ms, 60123);
}

TEST(HistoryRequest, RefusedWithAReason) {
  EXPECT_EQ(parse_history_request("not json").error, "the request is not a JSON object");
  EXPECT_EQ(parse_history_request("[1]").error, "the request is not a JSON object");
  EXPECT_EQ(parse_history_request(R"({"filter": "a/#/b"})").error, "\"filter\" is not a topic filter: a/#/b");
  EXPECT_EQ(parse_history_request(R"({"filter": 3})").error, "\"filter\" must be a string");
  EXPECT_EQ(parse_history_request(R"({"from": "yesterday"})").error,
            "\"from\" must be Unix milliseconds or an RFC 3339 UTC time");
  EXPECT_EQ(parse_history_request(R"({"to": "2026-12-06T00:00:00+01:00"})").error,
            "\"to\" must be Unix milliseconds or an RFC 3339 UTC time");
  EXPECT_EQ(parse_history_request(R"({"limit": 0})").error, "\"limit\" must be a positive integer");
  EXPECT_EQ(parse_history_request(R"({"limit": -3})").error, "\"limit\" must be a positive integer");
  EXPECT_EQ(parse_history_request(R"({"order": "random"})").error, "\"order\" must be \"oldest\" or \"newest\"");
}

TEST(HistoryAnswer, PayloadsAsJsonOrText) {
  persistence::HistoryResult result;
  result.rows.push_back({.rule = "r", .time_ms = 1500, .topic = "a", .payload = R"({"t": 21.5})", .qos = 1});
  result.rows.push_back({.rule = "r", .time_ms = 2000, .topic = "b", .payload = "on", .qos = 0});
  result.rows.push_back({.rule = "r", .time_ms = 2001, .topic = "c", .payload = std::string("\xff\x01", 2), .qos = 2});
  EXPECT_EQ(history_answer_json(result, std::nullopt),
            R"({"rows":[{"payload":{"t":21.5},"qos":1,"rule":"r","time":"1970-01-01T00:00:01.500Z","time_ms":1500,)"
            R"("topic":"a"},{"payload":"on","qos":0,"rule":"r","time":"1970-01-01T00:00:02.000Z","time_ms":2000,)"
            R"("topic":"b"},{"payload":")"
            "\xEF\xBF\xBD"
            R"(\u0001","qos":2,"rule":"r","time":"1970-01-01T00:00:02.001Z",)"
            R"("time_ms":2001,"topic":"c"}],"truncated":false})");
  EXPECT_EQ(history_answer_json({.error = "no"}, "7"), R"({"correlation":"7","error":"no"})");
}

}  // namespace
}  // namespace tern::server
