#include "broker/core/retained_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "broker/protocol/topic.hpp"

namespace tern::core {
namespace {

MessagePtr message(std::string topic, std::string payload) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->retain = true;
  return m;
}

// Matching messages as sorted "topic=payload" strings; also fails on a message visited twice.
std::vector<std::string> match(const RetainedIndex& index, std::string_view filter) {
  std::vector<std::string> out;
  std::vector<const Message*> seen;
  index.match(filter, [&](const MessagePtr& m, const RetainSourcePtr&) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), m.get()), 0) << "visited twice: " << m->topic;
    seen.push_back(m.get());
    out.push_back(m->topic + "=" + m->payload);
  });
  std::sort(out.begin(), out.end());
  return out;
}

using Strings = std::vector<std::string>;

TEST(RetainedIndex, SetReplaceClear) {
  RetainedIndex index;
  EXPECT_EQ(index.size(), 0u);
  index.set(message("a/b", "1"));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(match(index, "a/b"), Strings{"a/b=1"});

  index.set(message("a/b", "2"));  // replace
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(match(index, "a/b"), Strings{"a/b=2"});

  index.set(message("a/b", ""));  // an empty payload clears
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(match(index, "a/b").empty());
  EXPECT_TRUE(match(index, "#").empty());

  index.set(message("a/c", ""));  // clearing what is not there is harmless
  EXPECT_EQ(index.size(), 0u);
}

// Each message keeps the source it was set with (check_retain_source), shared by the topics of one publisher; a
// replacement takes its own, and a removed message's goes with it.
TEST(RetainedIndex, KeepsEachMessagesSource) {
  RetainedIndex index;
  const auto alice = std::make_shared<RetainSource>(RetainSource{"alice", "al", nullptr});
  index.set(message("a/1", "1"), alice);
  index.set(message("a/2", "2"), alice);
  index.set(message("a/3", "3"));
  const auto sources = [&] {
    std::map<std::string, std::string> out;
    index.match("#", [&](const MessagePtr& m, const RetainSourcePtr& source) {
      out[m->topic] = source ? source->client_id : "-";
    });
    return out;
  };
  EXPECT_EQ(sources(), (std::map<std::string, std::string>{{"a/1", "alice"}, {"a/2", "alice"}, {"a/3", "-"}}));
  EXPECT_EQ(alice.use_count(), 3);  // here and in two nodes

  index.set(message("a/2", "two"), std::make_shared<RetainSource>(RetainSource{"bob", std::nullopt, nullptr}));
  index.erase("a/1");
  EXPECT_EQ(sources(), (std::map<std::string, std::string>{{"a/2", "bob"}, {"a/3", "-"}}));
  EXPECT_EQ(alice.use_count(), 1);

  std::vector<std::string> seen;
  index.for_each_source([&](RetainSource& source) {
    seen.push_back(source.client_id);
    source.username = "renamed";
  });
  EXPECT_EQ(seen, std::vector<std::string>{"bob"});
  index.match("a/2", [&](const MessagePtr&, const RetainSourcePtr& source) { EXPECT_EQ(source->username, "renamed"); });
}

TEST(RetainedIndex, Erase) {
  RetainedIndex index;
  index.set(message("a/b", "1"));
  index.set(message("a/c", "2"));
  index.erase("a/b");
  index.erase("a/b");
  index.erase("a");        // an inner node without a message
  index.erase("a/c/d");    // below a message
  index.erase("nothing");  // no such path
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(match(index, "#"), Strings{"a/c=2"});
  index.erase("a/c");
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(match(index, "#").empty());
}

TEST(RetainedIndex, Wildcards) {
  RetainedIndex index;
  index.set(message("a/b/c", "1"));
  index.set(message("a/x/c", "2"));
  index.set(message("a/x/d", "3"));
  index.set(message("b", "4"));

  EXPECT_EQ(match(index, "a/+/c"), (Strings{"a/b/c=1", "a/x/c=2"}));
  EXPECT_EQ(match(index, "a/#"), (Strings{"a/b/c=1", "a/x/c=2", "a/x/d=3"}));
  EXPECT_EQ(match(index, "a/x/#"), (Strings{"a/x/c=2", "a/x/d=3"}));
  EXPECT_EQ(match(index, "+"), Strings{"b=4"});
  EXPECT_EQ(match(index, "+/+/+"), (Strings{"a/b/c=1", "a/x/c=2", "a/x/d=3"}));
  EXPECT_EQ(match(index, "+/+/d"), Strings{"a/x/d=3"});
  EXPECT_EQ(match(index, "#"), (Strings{"a/b/c=1", "a/x/c=2", "a/x/d=3", "b=4"}));
  EXPECT_EQ(match(index, "+/#"), (Strings{"a/b/c=1", "a/x/c=2", "a/x/d=3", "b=4"}));
  EXPECT_TRUE(match(index, "a").empty());
  EXPECT_TRUE(match(index, "a/+").empty());
  EXPECT_TRUE(match(index, "c/#").empty());
  EXPECT_TRUE(match(index, "a/b/c/+").empty());
}

TEST(RetainedIndex, PrefixTopics) {
  RetainedIndex index;
  index.set(message("a", "1"));
  index.set(message("a/b", "2"));
  index.set(message("a/b/c", "3"));
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(match(index, "a"), Strings{"a=1"});
  EXPECT_EQ(match(index, "a/#"), (Strings{"a/b/c=3", "a/b=2", "a=1"}));  // '#' includes the parent level
  EXPECT_EQ(match(index, "a/b/#"), (Strings{"a/b/c=3", "a/b=2"}));
  EXPECT_EQ(match(index, "a/+"), Strings{"a/b=2"});

  index.erase("a/b");  // the node stays for "a/b/c"
  EXPECT_EQ(match(index, "a/#"), (Strings{"a/b/c=3", "a=1"}));
  index.set(message("a", ""));  // the node stays for its children
  EXPECT_EQ(match(index, "a/#"), Strings{"a/b/c=3"});
  index.set(message("a/b", "4"));
  EXPECT_EQ(match(index, "#"), (Strings{"a/b/c=3", "a/b=4"}));
  EXPECT_EQ(index.size(), 2u);
}

TEST(RetainedIndex, EmptyLevels) {
  RetainedIndex index;
  index.set(message("/", "1"));
  index.set(message("a//b", "2"));
  index.set(message("a/", "3"));
  index.set(message("/finance", "4"));
  EXPECT_EQ(match(index, "+/+"), (Strings{"/=1", "/finance=4", "a/=3"}));
  EXPECT_TRUE(match(index, "+").empty());
  EXPECT_EQ(match(index, "a/+/b"), Strings{"a//b=2"});
  EXPECT_EQ(match(index, "a/+"), Strings{"a/=3"});
  EXPECT_EQ(match(index, "/+"), (Strings{"/=1", "/finance=4"}));
  EXPECT_EQ(match(index, "/#"), (Strings{"/=1", "/finance=4"}));
  EXPECT_EQ(match(index, "/"), Strings{"/=1"});
}

TEST(RetainedIndex, DollarTopics) {
  RetainedIndex index;
  index.set(message("$SYS/broker/uptime", "1"));
  index.set(message("$SYS", "2"));
  index.set(message("a/$b", "3"));
  index.set(message("x", "4"));

  EXPECT_EQ(match(index, "#"), (Strings{"a/$b=3", "x=4"}));
  EXPECT_EQ(match(index, "+"), Strings{"x=4"});
  EXPECT_EQ(match(index, "+/#"), (Strings{"a/$b=3", "x=4"}));
  EXPECT_TRUE(match(index, "+/broker/uptime").empty());
  EXPECT_EQ(match(index, "$SYS/#"), (Strings{"$SYS/broker/uptime=1", "$SYS=2"}));
  EXPECT_EQ(match(index, "$SYS/+/uptime"), Strings{"$SYS/broker/uptime=1"});
  EXPECT_EQ(match(index, "$SYS"), Strings{"$SYS=2"});
  EXPECT_EQ(match(index, "a/+"), Strings{"a/$b=3"});  // only the first level is special
}

TEST(RetainedIndex, DeepTopic) {
  RetainedIndex index;
  std::string topic = "a";
  for (int i = 0; i < 20000; ++i) topic += "/x";
  index.set(message(topic, "1"));
  EXPECT_EQ(match(index, "#").size(), 1u);
  EXPECT_EQ(match(index, "a/#").size(), 1u);
  index.set(message(topic + "/y", "2"));
  index.erase(topic);
  EXPECT_EQ(index.size(), 1u);
  // The destructor tears down the remaining 20,000-level chain.
}

// Randomized comparison against the reference matcher.
TEST(RetainedIndexRandom, AgreesWithReferenceMatcher) {
  std::mt19937 rng(7);
  const auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  const auto random_levels = [&](const std::vector<std::string>& levels, std::size_t max_levels) {
    const std::size_t n = 1 + pick(max_levels);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      if (i) s += '/';
      const std::string& level = levels[pick(levels.size())];
      s += level;
      if (level == "#") break;
    }
    return s.empty() ? std::string("/") : s;
  };
  const std::vector<std::string> topic_levels = {"", "$SYS", "a", "b"};
  const std::vector<std::string> filter_levels = {"", "+", "#", "$SYS", "a", "b"};

  RetainedIndex index;
  std::map<std::string, std::string> live;  // topic -> payload
  const auto check = [&](int filters) {
    std::size_t hits = 0;  // so that a generator producing no matches cannot pass vacuously
    for (int i = 0; i < filters; ++i) {
      const std::string filter = random_levels(filter_levels, 5);
      ASSERT_TRUE(protocol::valid_topic_filter(filter)) << filter;
      std::vector<std::string> expected;
      for (const auto& [topic, payload] : live) {
        if (protocol::topic_matches(filter, topic)) expected.push_back(topic + "=" + payload);
      }
      std::sort(expected.begin(), expected.end());
      ASSERT_EQ(match(index, filter), expected) << "filter '" << filter << "'";
      hits += expected.size();
    }
    if (live.size() > 10) {
      EXPECT_GT(hits, static_cast<std::size_t>(filters));
    }
  };

  for (int i = 0; i < 600; ++i) {
    const std::string topic = random_levels(topic_levels, 5);
    ASSERT_TRUE(protocol::valid_topic_name(topic)) << topic;
    const int action = static_cast<int>(pick(6));
    if (action == 0) {
      index.set(message(topic, ""));
      live.erase(topic);
    } else if (action == 1) {
      index.erase(topic);
      live.erase(topic);
    } else {
      const std::string payload = std::to_string(i);
      index.set(message(topic, payload));
      live[topic] = payload;
    }
    ASSERT_EQ(index.size(), live.size());
    if (i % 100 == 99) check(500);
  }
  for (const auto& [topic, payload] : live) index.erase(topic);
  EXPECT_EQ(index.size(), 0u);
  live.clear();
  check(100);
}

}  // namespace
}  // namespace tern::core
