#include "broker/core/subscription_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/protocol/topic.hpp"

namespace tern::core {
namespace {

using protocol::QoS;

SubscriptionOptions with_id(std::uint32_t id, QoS qos = QoS::at_most_once) {
  SubscriptionOptions options;
  options.qos = qos;
  options.subscription_id = id;
  return options;
}

// What one match() call visited: plain subscribers as (session, subscription id), shared groups by name with their
// members' sessions.
struct Visited {
  std::vector<std::pair<SessionId, std::uint32_t>> plain;
  std::vector<std::pair<std::string, std::vector<SessionId>>> groups;
  std::vector<const SharedGroup*> group_addresses;
};

Visited match(SubscriptionIndex& index, std::string_view topic) {
  Visited v;
  index.match(
      topic, [&](const Subscriber& s) { v.plain.emplace_back(s.session, s.options.subscription_id); },
      [&](SharedGroup& g) {
        std::vector<SessionId> members;
        for (const auto& m : g.members) members.push_back(m.session);
        v.groups.emplace_back(g.name, std::move(members));
        v.group_addresses.push_back(&g);
      });
  std::sort(v.plain.begin(), v.plain.end());
  std::sort(v.groups.begin(), v.groups.end());
  return v;
}

std::vector<std::pair<SessionId, std::uint32_t>> plain(std::initializer_list<std::pair<SessionId, std::uint32_t>> l) {
  std::vector<std::pair<SessionId, std::uint32_t>> v(l);
  std::sort(v.begin(), v.end());
  return v;
}

TEST(SubscriptionIndex, EmptyMatchesNothing) {
  SubscriptionIndex index;
  EXPECT_EQ(index.size(), 0u);
  const auto v = match(index, "a/b");
  EXPECT_TRUE(v.plain.empty());
  EXPECT_TRUE(v.groups.empty());
}

TEST(SubscriptionIndex, SubscribeMatchUnsubscribe) {
  SubscriptionIndex index;
  EXPECT_FALSE(index.subscribe("a/b", 1, with_id(11)));
  EXPECT_FALSE(index.subscribe("a/+", 2, with_id(21)));
  EXPECT_FALSE(index.subscribe("#", 3, with_id(31)));
  EXPECT_EQ(index.size(), 3u);

  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}, {2, 21}, {3, 31}}));
  EXPECT_EQ(match(index, "a/c").plain, plain({{2, 21}, {3, 31}}));
  EXPECT_EQ(match(index, "a").plain, plain({{3, 31}}));
  EXPECT_EQ(match(index, "a/b/c").plain, plain({{3, 31}}));

  EXPECT_TRUE(index.unsubscribe("a/+", 2));
  EXPECT_FALSE(index.unsubscribe("a/+", 2));
  EXPECT_FALSE(index.unsubscribe("a/b", 2));    // another session's filter
  EXPECT_FALSE(index.unsubscribe("x/y/z", 1));  // no such path
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(match(index, "a/c").plain, plain({{3, 31}}));
}

TEST(SubscriptionIndex, ResubscribeReplacesOptions) {
  SubscriptionIndex index;
  EXPECT_FALSE(index.subscribe("a/b", 1, with_id(1, QoS::at_most_once)));
  EXPECT_TRUE(index.subscribe("a/b", 1, with_id(2, QoS::exactly_once)));
  EXPECT_EQ(index.size(), 1u);
  std::vector<Subscriber> seen;
  index.match(
      "a/b", [&](const Subscriber& s) { seen.push_back(s); }, [](SharedGroup&) {});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].session, 1u);
  EXPECT_EQ(seen[0].options, with_id(2, QoS::exactly_once));
}

TEST(SubscriptionIndex, UnsubscribeAllLeavesNothing) {
  SubscriptionIndex index;
  const std::vector<std::string> filters = {"a", "a/b", "a/b/c",  "a/+/c",        "a/#",          "#",         "+",
                                            "/", "//",  "$SYS/#", "$share/g/a/b", "$share/h/a/b", "$share/g/#"};
  for (SessionId s = 1; s <= 3; ++s) {
    for (const auto& f : filters) EXPECT_FALSE(index.subscribe(f, s, with_id(1)));
  }
  EXPECT_EQ(index.size(), 3 * filters.size());
  // Unsubscribe in a different order than subscribed, so pruning sees nodes with remaining siblings and children.
  for (SessionId s = 1; s <= 3; ++s) {
    for (auto f = filters.rbegin(); f != filters.rend(); ++f) EXPECT_TRUE(index.unsubscribe(*f, s)) << *f;
  }
  EXPECT_EQ(index.size(), 0u);
  for (const auto* topic : {"a", "a/b", "a/b/c", "/", "$SYS/x"}) {
    const auto v = match(index, topic);
    EXPECT_TRUE(v.plain.empty()) << topic;
    EXPECT_TRUE(v.groups.empty()) << topic;
  }
  // The pruned trie is still usable.
  EXPECT_FALSE(index.subscribe("a/b", 9, with_id(9)));
  EXPECT_EQ(match(index, "a/b").plain, plain({{9, 9}}));
}

TEST(SubscriptionIndex, PrefixFilterSurvivesUnsubscribeOfLongerOne) {
  SubscriptionIndex index;
  index.subscribe("a", 1, with_id(1));
  index.subscribe("a/b/c", 1, with_id(2));
  EXPECT_TRUE(index.unsubscribe("a/b/c", 1));
  EXPECT_EQ(match(index, "a").plain, plain({{1, 1}}));
  EXPECT_TRUE(match(index, "a/b/c").plain.empty());
  index.subscribe("a/b/c", 1, with_id(3));
  EXPECT_TRUE(index.unsubscribe("a", 1));
  EXPECT_EQ(match(index, "a/b/c").plain, plain({{1, 3}}));
  EXPECT_TRUE(match(index, "a").plain.empty());
}

TEST(SubscriptionIndex, OverlappingFiltersVisitedOncePerFilter) {
  SubscriptionIndex index;
  index.subscribe("a/b", 1, with_id(1));
  index.subscribe("a/+", 1, with_id(2));
  index.subscribe("a/#", 1, with_id(3));
  index.subscribe("#", 1, with_id(4));
  index.subscribe("+/b", 1, with_id(5));
  index.subscribe("+/+", 1, with_id(6));
  index.subscribe("a/b/#", 1, with_id(7));  // matches "a/b" through the parent level
  index.subscribe("a/c", 1, with_id(8));    // does not match
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 5}, {1, 6}, {1, 7}}));
}

TEST(SubscriptionIndex, HashMatchesParentLevel) {
  SubscriptionIndex index;
  index.subscribe("a/#", 1, with_id(1));
  index.subscribe("sport/tennis/player1/#", 2, with_id(2));
  EXPECT_EQ(match(index, "a").plain, plain({{1, 1}}));
  EXPECT_EQ(match(index, "a/").plain, plain({{1, 1}}));
  EXPECT_EQ(match(index, "sport/tennis/player1").plain, plain({{2, 2}}));
  EXPECT_TRUE(match(index, "sport/tennis").plain.empty());
}

TEST(SubscriptionIndex, EmptyLevels) {
  SubscriptionIndex index;
  index.subscribe("+", 1, with_id(1));
  index.subscribe("+/+", 2, with_id(2));
  index.subscribe("/", 3, with_id(3));
  index.subscribe("a/+/b", 4, with_id(4));
  index.subscribe("/+", 5, with_id(5));
  EXPECT_EQ(match(index, "/").plain, plain({{2, 2}, {3, 3}, {5, 5}}));
  EXPECT_EQ(match(index, "a//b").plain, plain({{4, 4}}));
  EXPECT_EQ(match(index, "/finance").plain, plain({{2, 2}, {5, 5}}));
  EXPECT_EQ(match(index, "x").plain, plain({{1, 1}}));
}

TEST(SubscriptionIndex, DollarTopicsSkipRootWildcards) {
  SubscriptionIndex index;
  index.subscribe("#", 1, with_id(1));
  index.subscribe("+/broker", 2, with_id(2));
  index.subscribe("+/#", 3, with_id(3));
  index.subscribe("$SYS/#", 4, with_id(4));
  index.subscribe("$SYS/+", 5, with_id(5));
  index.subscribe("$SYS/broker", 6, with_id(6));
  index.subscribe("$share/g/#", 7, with_id(7));
  index.subscribe("$share/g/$SYS/#", 8, with_id(8));
  index.subscribe("+", 9, with_id(9));

  const auto sys = match(index, "$SYS/broker");
  EXPECT_EQ(sys.plain, plain({{4, 4}, {5, 5}, {6, 6}}));
  ASSERT_EQ(sys.groups.size(), 1u);
  EXPECT_EQ(sys.groups[0].second, std::vector<SessionId>{8});

  EXPECT_EQ(match(index, "$SYS").plain, plain({{4, 4}}));

  const auto normal = match(index, "x/broker");
  EXPECT_EQ(normal.plain, plain({{1, 1}, {2, 2}, {3, 3}}));
  ASSERT_EQ(normal.groups.size(), 1u);
  EXPECT_EQ(normal.groups[0].second, std::vector<SessionId>{7});
}

TEST(SubscriptionIndex, SharedGroups) {
  SubscriptionIndex index;
  EXPECT_FALSE(index.subscribe("$share/g/a/b", 1, with_id(1)));
  EXPECT_FALSE(index.subscribe("$share/g/a/b", 2, with_id(2)));
  EXPECT_FALSE(index.subscribe("$share/h/a/b", 1, with_id(3)));  // another group on the same filter
  EXPECT_FALSE(index.subscribe("$share/g/a/+", 3, with_id(4)));  // same group name, another filter
  EXPECT_FALSE(index.subscribe("a/b", 1, with_id(5)));           // plain next to shared
  EXPECT_TRUE(index.subscribe("$share/g/a/b", 2, with_id(6)));   // replace
  EXPECT_EQ(index.size(), 5u);

  auto v = match(index, "a/b");
  EXPECT_EQ(v.plain, plain({{1, 5}}));
  ASSERT_EQ(v.groups.size(), 3u);
  EXPECT_EQ(v.groups[0], (std::pair<std::string, std::vector<SessionId>>{"g", {1, 2}}));
  EXPECT_EQ(v.groups[1], (std::pair<std::string, std::vector<SessionId>>{"g", {3}}));
  EXPECT_EQ(v.groups[2], (std::pair<std::string, std::vector<SessionId>>{"h", {1}}));

  // The broker mutates a group's cursor through the reference it gets.
  index.match(
      "a/b", [](const Subscriber&) {},
      [](SharedGroup& g) {
        if (g.name == "h") g.next = 0;
        if (g.name == "g" && g.members.size() == 2) g.next = 1;
      });

  EXPECT_TRUE(index.unsubscribe("$share/g/a/b", 1));
  EXPECT_FALSE(index.unsubscribe("$share/g/a/b", 1));
  EXPECT_FALSE(index.unsubscribe("$share/x/a/b", 2));  // no such group
  EXPECT_FALSE(index.unsubscribe("a/b", 2));           // 2 is only a shared member
  EXPECT_EQ(index.size(), 4u);
  v = match(index, "a/b");
  ASSERT_EQ(v.groups.size(), 3u);
  EXPECT_EQ(v.groups[0].second, std::vector<SessionId>{2});
  // Member 1 was before the cursor (1), so the cursor moved back to keep pointing at member 2.
  index.match(
      "a/b", [](const Subscriber&) {},
      [](SharedGroup& g) {
        if (g.name == "g" && g.members.size() == 1 && g.members[0].session == 2) {
          EXPECT_EQ(g.next, 0u);
        }
      });

  EXPECT_TRUE(index.unsubscribe("$share/g/a/b", 2));  // group g on a/b is gone
  v = match(index, "a/b");
  ASSERT_EQ(v.groups.size(), 2u);
  EXPECT_EQ(v.groups[0], (std::pair<std::string, std::vector<SessionId>>{"g", {3}}));
  EXPECT_EQ(v.groups[1], (std::pair<std::string, std::vector<SessionId>>{"h", {1}}));

  EXPECT_TRUE(index.unsubscribe("$share/h/a/b", 1));
  EXPECT_TRUE(index.unsubscribe("$share/g/a/+", 3));
  EXPECT_TRUE(index.unsubscribe("a/b", 1));
  EXPECT_EQ(index.size(), 0u);
  v = match(index, "a/b");
  EXPECT_TRUE(v.plain.empty());
  EXPECT_TRUE(v.groups.empty());
}

TEST(SubscriptionIndex, SharedCursorWrapsWhenLastMemberLeaves) {
  SubscriptionIndex index;
  for (SessionId s = 1; s <= 3; ++s) index.subscribe("$share/g/t", s, with_id(0));
  index.match(
      "t", [](const Subscriber&) {}, [](SharedGroup& g) { g.next = 2; });
  EXPECT_TRUE(index.unsubscribe("$share/g/t", 3));
  index.match(
      "t", [](const Subscriber&) {},
      [](SharedGroup& g) {
        EXPECT_EQ(g.members.size(), 2u);
        EXPECT_LT(g.next, g.members.size());
      });
}

TEST(SubscriptionIndex, DeepFilterDoesNotOverflowTheStack) {
  SubscriptionIndex index;
  std::string filter = "a";
  std::string topic = "a";
  for (int i = 0; i < 20000; ++i) {
    filter += "/+";
    topic += "/x";
  }
  index.subscribe(filter, 1, with_id(1));
  index.subscribe(filter + "/#", 2, with_id(2));
  EXPECT_EQ(match(index, topic).plain, plain({{1, 1}, {2, 2}}));
  EXPECT_TRUE(index.unsubscribe(filter, 1));
  EXPECT_EQ(index.size(), 1u);
  // The destructor tears down the remaining 20,000-level chain.
}

// A topic matched again is answered from the route cache: every change to the subscriptions in between must show.
TEST(SubscriptionIndex, RouteCacheSeesEveryChange) {
  SubscriptionIndex index;
  index.subscribe("a/b", 1, with_id(11));
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}}));
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}}));  // from the cache

  index.subscribe("a/+", 2, with_id(21));  // a filter the cached route did not reach
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}, {2, 21}}));
  index.subscribe("a/b", 3, with_id(31));  // a node the cached route reached gains a subscriber
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}, {2, 21}, {3, 31}}));
  index.subscribe("a/+", 2, with_id(22));  // new options
  EXPECT_EQ(match(index, "a/b").plain, plain({{1, 11}, {2, 22}, {3, 31}}));

  index.subscribe("$share/g/a/#", 4, with_id(41));
  auto v = match(index, "a/b");
  ASSERT_EQ(v.groups.size(), 1u);
  EXPECT_EQ(v.groups[0].first, "g");

  EXPECT_TRUE(index.unsubscribe("$share/g/a/#", 4));
  EXPECT_TRUE(index.unsubscribe("a/b", 1));
  EXPECT_TRUE(index.unsubscribe("a/b", 3));  // prunes the node "a/b": the cached route must not visit it
  v = match(index, "a/b");
  EXPECT_EQ(v.plain, plain({{2, 22}}));
  EXPECT_TRUE(v.groups.empty());
  EXPECT_TRUE(index.unsubscribe("a/+", 2));
  EXPECT_TRUE(match(index, "a/b").plain.empty());
}

// Past route_cache_entries topics, and for topics longer than route_cache_topic_bytes, match() walks the trie: the
// answers are the same, cached or not.
TEST(SubscriptionIndex, RouteCacheFullOrTopicTooLongStillMatches) {
  SubscriptionIndex index;
  index.subscribe("t/+", 1, with_id(11));
  index.subscribe("#", 2, with_id(21));
  const std::size_t topics = SubscriptionIndex::route_cache_entries + 10;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < topics; ++i) {
      const std::string topic = "t/" + std::to_string(i);
      ASSERT_EQ(match(index, topic).plain, plain({{1, 11}, {2, 21}})) << topic << " round " << round;
    }
  }
  const std::string long_topic = "t/" + std::string(SubscriptionIndex::route_cache_topic_bytes, 'x');
  for (int round = 0; round < 2; ++round) EXPECT_EQ(match(index, long_topic).plain, plain({{1, 11}, {2, 21}}));
  // A change still reaches the topics that were cached and those that were not.
  index.subscribe("t/" + std::to_string(topics - 1), 3, with_id(31));
  EXPECT_EQ(match(index, "t/" + std::to_string(topics - 1)).plain, plain({{1, 11}, {2, 21}, {3, 31}}));
  EXPECT_TRUE(index.unsubscribe("t/+", 1));
  EXPECT_EQ(match(index, "t/0").plain, plain({{2, 21}}));
  EXPECT_EQ(match(index, long_topic).plain, plain({{2, 21}}));
}

// Randomized comparison against the reference matcher. Every (session, filter) pair carries a unique subscription id
// so a visit identifies the filter it came from.
class SubscriptionIndexRandom : public ::testing::Test {
 protected:
  std::mt19937 rng{20240601};

  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

  std::string random_filter() {
    static const std::vector<std::string> levels = {"", "+", "#", "$SYS", "a", "b"};
    const std::size_t n = 1 + pick(4);
    std::string filter;
    for (std::size_t i = 0; i < n; ++i) {
      if (i) filter += '/';
      const std::string& level = levels[pick(levels.size())];
      filter += level;
      if (level == "#") break;  // '#' only as the last level
    }
    if (pick(5) == 0) filter = std::string("$share/") + (pick(2) ? "g" : "h") + "/" + filter;
    // A lone empty level ("" or "$share/g/") is not a valid filter; "/a" and "$share/g//a" are.
    if (!protocol::valid_topic_filter(filter)) filter += "/a";
    return filter;
  }

  std::string random_topic() {
    static const std::vector<std::string> levels = {"", "$SYS", "a", "b"};
    const std::size_t n = 1 + pick(5);
    std::string topic;
    for (std::size_t i = 0; i < n; ++i) {
      if (i) topic += '/';
      topic += levels[pick(levels.size())];
    }
    return topic.empty() ? "/" : topic;  // "" is not a topic name
  }
};

TEST_F(SubscriptionIndexRandom, AgreesWithReferenceMatcher) {
  SubscriptionIndex index;
  // (filter, session) -> current subscription id.
  std::map<std::pair<std::string, SessionId>, std::uint32_t> live;
  std::uint32_t next_id = 1;

  const auto check = [&](int topics) {
    std::size_t hits = 0;  // so that a generator producing no matches cannot pass vacuously
    for (int t = 0; t < topics; ++t) {
      const std::string topic = random_topic();
      ASSERT_TRUE(protocol::valid_topic_name(topic)) << topic;

      std::multiset<std::uint32_t> expected_plain;
      std::map<std::pair<std::string, std::string>, std::set<SessionId>> expected_groups;  // (group, filter)
      for (const auto& [key, id] : live) {
        const auto shared = protocol::parse_shared(key.first);
        const std::string_view filter = shared ? shared->filter : std::string_view(key.first);
        if (!protocol::topic_matches(filter, topic)) continue;
        if (shared) {
          expected_groups[{std::string(shared->group), std::string(filter)}].insert(key.second);
        } else {
          expected_plain.insert(id);
        }
      }

      std::multiset<std::uint32_t> seen_plain;
      std::multiset<std::pair<std::string, std::set<SessionId>>> seen_groups;
      std::set<const SharedGroup*> seen_addresses;
      index.match(
          topic, [&](const Subscriber& s) { seen_plain.insert(s.options.subscription_id); },
          [&](SharedGroup& g) {
            EXPECT_TRUE(seen_addresses.insert(&g).second) << "group visited twice for " << topic;
            std::set<SessionId> members;
            for (const auto& m : g.members) members.insert(m.session);
            seen_groups.emplace(g.name, std::move(members));
          });

      std::multiset<std::pair<std::string, std::set<SessionId>>> expected_group_members;
      for (const auto& [key, members] : expected_groups) expected_group_members.emplace(key.first, members);
      ASSERT_EQ(seen_plain, expected_plain) << "topic '" << topic << "'";
      ASSERT_EQ(seen_groups, expected_group_members) << "topic '" << topic << "'";
      hits += seen_plain.size() + seen_groups.size();
    }
    if (!live.empty()) {
      EXPECT_GT(hits, static_cast<std::size_t>(topics));
    }
  };

  for (int i = 0; i < 400; ++i) {
    const std::string filter = random_filter();
    ASSERT_TRUE(protocol::valid_topic_filter(filter)) << filter;
    const SessionId session = 1 + pick(8);
    const std::uint32_t id = next_id++;
    const bool existed = live.contains({filter, session});
    EXPECT_EQ(index.subscribe(filter, session, with_id(id)), existed) << filter;
    live[{filter, session}] = id;
    ASSERT_EQ(index.size(), live.size());
  }
  check(3000);

  // Remove about half, including some never subscribed, and compare again.
  for (int i = 0; i < 300; ++i) {
    const std::string filter = random_filter();
    const SessionId session = 1 + pick(8);
    const bool existed = live.erase({filter, session}) > 0;
    EXPECT_EQ(index.unsubscribe(filter, session), existed) << filter;
    ASSERT_EQ(index.size(), live.size());
  }
  for (auto it = live.begin(); it != live.end();) {
    if (pick(2) == 0) {
      EXPECT_TRUE(index.unsubscribe(it->first.first, it->first.second));
      it = live.erase(it);
    } else {
      ++it;
    }
  }
  ASSERT_EQ(index.size(), live.size());
  check(2000);

  for (const auto& [key, id] : live) EXPECT_TRUE(index.unsubscribe(key.first, key.second));
  EXPECT_EQ(index.size(), 0u);
  live.clear();
  check(200);
}

}  // namespace
}  // namespace tern::core
