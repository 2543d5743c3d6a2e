#include "broker/protocol/topic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tern::protocol {
namespace {

TEST(TopicName, Valid) {
  for (const std::string_view topic : {"a", "a/b/c", "/", "//", "a//b", "/a", "a/", "$SYS/broker/uptime", "$share/g/a",
                                       "sport/tennis player1", "\xc3\xa9t\xc3\xa9", " "}) {
    EXPECT_TRUE(valid_topic_name(topic)) << topic;
  }
  EXPECT_TRUE(valid_topic_name(std::string(65535, 'x')));
}

TEST(TopicName, Invalid) {
  for (const std::string_view topic : {"", "+", "#", "a/+", "a/#", "a+", "a#b", "+/a", "sport/tennis#"}) {
    EXPECT_FALSE(valid_topic_name(topic)) << topic;
  }
  EXPECT_FALSE(valid_topic_name(std::string(65536, 'x')));
}

TEST(TopicFilter, Valid) {
  for (const std::string_view filter : {"a",
                                        "a/b",
                                        "#",
                                        "+",
                                        "+/+",
                                        "/",
                                        "a//b",
                                        "a/+/b",
                                        "a/#",
                                        "+/#",
                                        "/#",
                                        "//",
                                        "+/",
                                        "/+",
                                        "$SYS/#",
                                        "$SYS",
                                        "sport/tennis/player1/#",
                                        "sport/+",
                                        "+/tennis/#",
                                        "$share",
                                        "$shared/x",
                                        "$share/g/a",
                                        "$share/g/#",
                                        "$share/g/+/b",
                                        "$share/group-1/a/b/#",
                                        "$share/g//",
                                        "$share/g/$SYS/#",
                                        "$share/g/$share/h/a"}) {
    EXPECT_TRUE(valid_topic_filter(filter)) << filter;
  }
  EXPECT_TRUE(valid_topic_filter(std::string(65533, 'x') + "/#"));  // 65535 bytes
}

TEST(TopicFilter, Invalid) {
  for (const std::string_view filter : {"",
                                        "a+",
                                        "+a",
                                        "a/b+",
                                        "a/+b/c",
                                        "#/a",
                                        "a/#/b",
                                        "a#",
                                        "#a",
                                        "a/#b",
                                        "##",
                                        "++",
                                        "sport/tennis#",
                                        "sport+",
                                        "$share/",
                                        "$share/g",
                                        "$share//x",
                                        "$share/g/",
                                        "$share/+/a",
                                        "$share/#/a",
                                        "$share/g+/a",
                                        "$share/g#/a",
                                        "$share/g/a#",
                                        "$share/g/#/a",
                                        "$share/g/a+"}) {
    EXPECT_FALSE(valid_topic_filter(filter)) << filter;
  }
  EXPECT_FALSE(valid_topic_filter(std::string(65536, 'x')));
  EXPECT_FALSE(valid_topic_filter("$share/g/" + std::string(65535, 'x')));
}

TEST(TopicFilter, ParseShared) {
  const auto shared = parse_shared("$share/g/a/+/c");
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->group, "g");
  EXPECT_EQ(shared->filter, "a/+/c");

  const auto hash = parse_shared("$share/consumers/#");
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->group, "consumers");
  EXPECT_EQ(hash->filter, "#");

  EXPECT_FALSE(parse_shared("a/b"));
  EXPECT_FALSE(parse_shared("$share"));
  EXPECT_FALSE(parse_shared("$shared/g/a"));
  EXPECT_FALSE(parse_shared("$SYS/#"));
  // Malformed but still shared, so nobody mistakes it for a plain filter.
  const auto bare = parse_shared("$share/g");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->group, "g");
  EXPECT_EQ(bare->filter, "");
}

TEST(TopicFilter, HasWildcard) {
  EXPECT_TRUE(has_wildcard("+"));
  EXPECT_TRUE(has_wildcard("a/#"));
  EXPECT_TRUE(has_wildcard("a/+/b"));
  EXPECT_FALSE(has_wildcard("a/b"));
  EXPECT_FALSE(has_wildcard("$SYS/x"));
  EXPECT_FALSE(has_wildcard("/"));
}

TEST(TopicLevels, NextLevel) {
  const auto split = [](std::string_view s) {
    std::vector<std::string> levels;
    for (std::size_t pos = 0; pos != std::string_view::npos;) levels.emplace_back(next_level(s, pos));
    return levels;
  };
  EXPECT_EQ(split("a"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(split("a/b/c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("/"), (std::vector<std::string>{"", ""}));
  EXPECT_EQ(split("a//b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("a/"), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(split(""), (std::vector<std::string>{""}));
}

struct MatchCase {
  const char* filter;
  const char* topic;
  bool matches;
};

TEST(TopicMatches, Table) {
  const MatchCase cases[] = {
      // Exact levels.
      {"a", "a", true},
      {"a/b", "a/b", true},
      {"a/b", "a", false},
      {"a", "a/b", false},
      {"a/b", "a/c", false},
      {"A", "a", false},  // case-sensitive
      {"a ", "a", false},
      // '+' fills exactly one level.
      {"+", "a", true},
      {"+", "a/b", false},
      {"a/+", "a/b", true},
      {"a/+", "a", false},
      {"a/+", "a/b/c", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a/b/d", false},
      {"+/+", "a/b", true},
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      // '#' matches the rest, including the parent level itself (4.7.1.2).
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a", true},
      {"a/#", "a/b", true},
      {"a/#", "a/b/c", true},
      {"a/#", "b", false},
      {"a/#", "ab", false},
      {"a/b/#", "a", false},
      {"+/#", "a", true},
      {"+/#", "a/b", true},
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      // Empty levels are real levels.
      {"/", "/", true},
      {"+/+", "/", true},
      {"+", "/", false},
      {"/+", "/", true},
      {"+/", "/", true},
      {"/+", "/finance", true},
      {"+/+", "/finance", true},
      {"+", "/finance", false},
      {"a/+/b", "a//b", true},
      {"a//b", "a//b", true},
      {"a/b", "a//b", false},
      {"a/+", "a/", true},
      {"a/#", "a/", true},
      {"/#", "/", true},
      {"/#", "a", false},
      {"#", "/a/b", true},
      // $-topics: not matched by a first-level wildcard [MQTT-4.7.2-1], matched explicitly.
      {"#", "$SYS", false},
      {"#", "$SYS/broker", false},
      {"+", "$SYS", false},
      {"+/#", "$SYS/broker", false},
      {"+/broker", "$SYS/broker", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/+", "$SYS/broker", true},
      {"$SYS/+/uptime", "$SYS/broker/uptime", true},
      {"$SYS", "$SYS", true},
      {"a/+", "a/$b", true},  // only the first level is special
      {"a/#", "a/$b/c", true},
      {"#", "a$", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(topic_matches(c.filter, c.topic), c.matches) << "filter '" << c.filter << "' topic '" << c.topic << "'";
  }
}

}  // namespace
}  // namespace tern::protocol
