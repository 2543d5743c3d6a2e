#include "broker/auth/acl_match.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "broker/auth/acl_file.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::auth::acl {
namespace {

using Coverage = core::ClientAccess::Coverage;

// Every filter of up to `depth` levels over `levels`, with '#' also as a last level; invalid ones (the lone empty
// level) left out.
std::vector<std::string> all_filters(const std::vector<std::string>& levels, int depth) {
  std::vector<std::string> out;
  std::vector<std::string> prefixes{""};
  for (int d = 1; d <= depth; ++d) {
    std::vector<std::string> next;
    for (const auto& prefix : prefixes) {
      const std::string head = d == 1 ? "" : prefix + "/";
      out.push_back(head + "#");
      for (const auto& level : levels) next.push_back(head + level);
    }
    for (const auto& f : next) {
      if (protocol::valid_topic_filter(f)) out.push_back(f);
    }
    prefixes = std::move(next);
  }
  return out;
}

// Every topic of up to `depth` levels over `levels` (all valid topic names: "" alone is not one).
std::vector<std::string> all_topics(const std::vector<std::string>& levels, int depth) {
  std::vector<std::string> out;
  std::vector<std::string> prefixes{""};
  for (int d = 1; d <= depth; ++d) {
    std::vector<std::string> next;
    for (const auto& prefix : prefixes) {
      for (const auto& level : levels) next.push_back(d == 1 ? level : prefix + "/" + level);
    }
    for (const auto& t : next) {
      if (protocol::valid_topic_name(t)) out.push_back(t);
    }
    prefixes = next;
  }
  return out;
}

TEST(AclFilter, ValidAsPlainText) {
  for (const std::string_view f : {"a", "a/b", "#", "+", "a/+/b", "a/#", "/", "a//b", "$SYS/#", "$share/g",
                                   "$share/+/x", "$share/#", "$share/g/a", "a b/c d", "%c/#", "%u/%c/+"}) {
    EXPECT_TRUE(valid_acl_filter(f)) << f;
  }
  for (const std::string_view f : {"", "a/#/b", "a+", "+a/b", "a/b#", "##", "a/++", "#/a"}) {
    EXPECT_FALSE(valid_acl_filter(f)) << f;
  }
  EXPECT_TRUE(valid_acl_filter(std::string(65535, 'x')));
  EXPECT_FALSE(valid_acl_filter(std::string(65536, 'x')));
}

TEST(AclPattern, ExpandsLeftToRight) {
  const std::optional<std::string> alice = "alice";
  EXPECT_EQ(expand_pattern("d/%c/#", "s7", alice), "d/s7/#");
  EXPECT_EQ(expand_pattern("%u/%c", "s7", alice), "alice/s7");
  EXPECT_EQ(expand_pattern("%c%c/%u%u", "s", alice), "ss/alicealice");
  EXPECT_EQ(expand_pattern("%%c", "s7", alice), "%s7");  // the second '%' starts the %c, as in mosquitto
  EXPECT_EQ(expand_pattern("a%", "s7", alice), "a%");
  EXPECT_EQ(expand_pattern("%x/%", "s7", alice), "%x/%");
  EXPECT_EQ(expand_pattern("%u/%c", "s7", std::nullopt), "%u/s7");  // callers skip such a pattern
  EXPECT_EQ(expand_pattern("%u", "s7", std::string()), "");
  EXPECT_EQ(expand_pattern("x/%c", "%u", alice), "x/%u");  // a replacement is not scanned again
}

TEST(AclRelations, Covers) {
  struct Case {
    std::string_view a, f;
    bool expected;
  };
  // clang-format off
  for (const Case& c : std::initializer_list<Case>{
           {"a/b", "a/b", true},
           {"a/+", "a/b", true},
           {"a/+", "a/+", true},
           {"a/b", "a/+", false},
           {"a/#", "a", true},           // '#' takes the parent level
           {"a/#", "a/#", true},
           {"a/#", "a/+/c/#", true},
           {"a", "a/#", false},
           {"a/+", "a/#", false},        // a/# matches "a" and a/b/c
           {"a/+/#", "a/#", false},      // ... and "a", which a/+/# does not match
           {"a/+/#", "a/b", true},
           {"#", "+/#", true},
           {"+/#", "#", true},           // both: every topic not starting with '$'
           {"+/+/#", "#", false},
           {"#", "a/b", true},
           {"#", "$SYS/x", false},       // wildcard first: no '$' topic
           {"+/x", "$SYS/x", false},
           {"+/x", "+/x", true},
           {"$SYS/#", "$SYS/+", true},
           {"$SYS/#", "#", false},
           {"/+/#", "/#", true},         // "/#" also takes "", which is no topic name
           {"+/+/#", "/#", true},
           {"/+", "/#", false},
           {"a//b", "a/+/b", false},
           {"a/+/b", "a//b", true},      // '+' takes the empty level
           {"+", "b", true},
           {"+/#", "$x/#", false},
           {"#", "+", true},
       }) {
    // clang-format on
    EXPECT_EQ(covers(c.a, c.f), c.expected) << "covers(" << c.a << ", " << c.f << ")";
  }
}

TEST(AclRelations, Intersects) {
  struct Case {
    std::string_view a, f;
    bool expected;
  };
  // clang-format off
  for (const Case& c : std::initializer_list<Case>{
           {"a/b", "a/b", true},
           {"a/+", "+/b", true},
           {"a/b", "a/c", false},
           {"a", "a/#", true},           // on "a"
           {"a/b", "a", false},
           {"a/+", "a", false},
           {"+/#", "a", true},
           {"#", "$SYS/x", false},
           {"+/x", "$SYS/x", false},
           {"+", "$SYS", false},
           {"$SYS/#", "$SYS", true},
           {"$SYS/#", "#", false},
           {"+", "#", true},
           {"#", "#", true},
           {"a/+/#", "a", false},
           {"a/+/#", "+/b", true},
           {"+/+", "a/b/c", false},
           {"a//#", "a", false},
           {"a//#", "a/", true},
           {"+", "/#", false},           // only on "", which is no topic name
           {"+/#", "/#", true},
           {"/", "/#", true},
       }) {
    // clang-format on
    EXPECT_EQ(intersects(c.a, c.f), c.expected) << "intersects(" << c.a << ", " << c.f << ")";
    EXPECT_EQ(intersects(c.f, c.a), c.expected) << "intersects(" << c.f << ", " << c.a << ") (symmetric)";
  }
}

// covers and intersects are exact, not only safe: checked against every topic of up to four levels for every pair of
// filters of up to three levels over {a, $x, empty, +, #}. A difference needs at most one level more than the
// filters, and "b" (in no filter) stands for every other literal.
TEST(AclRelations, ExactOverEveryFilterPairUpToThreeLevels) {
  const auto filters = all_filters({"a", "$x", "", "+"}, 3);
  const auto topics = all_topics({"a", "$x", "", "b"}, 4);
  ASSERT_EQ(filters.size(), 4u + 20u + 80u);  // one level: #, a, $x, + (the empty level alone is no filter)
  ASSERT_EQ(topics.size(), 4u + 16u + 64u + 256u - 1u);
  std::vector<std::vector<bool>> matches(filters.size(), std::vector<bool>(topics.size()));
  for (std::size_t i = 0; i < filters.size(); ++i) {
    for (std::size_t t = 0; t < topics.size(); ++t) matches[i][t] = protocol::topic_matches(filters[i], topics[t]);
  }
  int covering = 0;
  int intersecting = 0;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    for (std::size_t j = 0; j < filters.size(); ++j) {
      bool subset = true;
      bool common = false;
      for (std::size_t t = 0; t < topics.size(); ++t) {
        if (matches[j][t] && !matches[i][t]) subset = false;
        if (matches[j][t] && matches[i][t]) common = true;
      }
      ASSERT_EQ(covers(filters[i], filters[j]), subset) << "covers(" << filters[i] << ", " << filters[j] << ")";
      ASSERT_EQ(intersects(filters[i], filters[j]), common) << "intersects(" << filters[i] << ", " << filters[j] << ")";
      covering += subset;
      intersecting += common;
    }
  }
  EXPECT_GT(covering, static_cast<int>(filters.size()));  // more than each filter covering itself
  EXPECT_GT(intersecting, covering);
}

// --- Randomized soundness of readable(), and may_read / may_publish against a plain oracle ---

struct RandomRule {
  bool pattern = false;
  std::optional<std::string> user;  // for a `topic` rule: nullopt is anonymous
  std::uint8_t access = 3;
  std::string filter;
};

// mosquitto's decision written as plainly as possible, from the rule lines: the oracle for AclFile.
bool oracle(const std::vector<RandomRule>& rules, const std::string& id, const std::optional<std::string>& username,
            const std::string& topic, std::uint8_t asked) {
  struct Entry {
    std::string filter;
    std::uint8_t access;
    bool user_rule;
  };
  std::vector<Entry> list;
  for (const bool denies : {true, false}) {
    for (const auto& r : rules) {
      if (!r.pattern && r.user == username && (r.access == 0) == denies) list.push_back({r.filter, r.access, true});
    }
  }
  bool has_patterns = false;
  for (const auto& r : rules) has_patterns = has_patterns || r.pattern;
  const auto dangerous = [](const std::string& s) { return s.find_first_of("+#") != std::string::npos; };
  if (has_patterns && !dangerous(id) && !(username && dangerous(*username))) {
    for (const bool denies : {true, false}) {
      for (const auto& r : rules) {
        if (!r.pattern || (r.access == 0) != denies) continue;
        if (r.filter.find("%u") != std::string::npos && !username) continue;
        std::string f;
        for (std::size_t i = 0; i < r.filter.size(); ++i) {
          if (r.filter.compare(i, 2, "%c") == 0) {
            f += id;
            ++i;
          } else if (r.filter.compare(i, 2, "%u") == 0) {
            f += *username;
            ++i;
          } else {
            f += r.filter[i];
          }
        }
        list.push_back({f, r.access, false});
      }
    }
  }
  for (const auto& e : list) {
    if (e.user_rule && topic[0] == '$' && e.filter[0] != '$') continue;
    if (!protocol::topic_matches(e.filter, topic)) continue;
    if (e.access == 0) return false;
    if (e.access & asked) return true;
  }
  return false;
}

TEST(AclCoverage, RandomizedSoundness) {
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // Filters use a, b, $x (and %c / %u expanding to one of them); topics add "c", standing for every other literal.
  const std::vector<std::string> pattern_levels{"a", "b", "$x", "+", "%c", "%u"};
  const std::vector<std::string> filter_levels{"a", "b", "$x", "+"};
  const auto topics = all_topics({"a", "b", "$x", "c"}, 4);
  const std::vector<std::string> ids{"a", "b", "$x", "+"};
  const std::vector<std::optional<std::string>> names{std::nullopt, "a", "b", "a#"};
  // Rules end in '#' one time in two, SUBSCRIBE filters one in four: broad rules meet narrower filters often enough
  // for all three answers to come up.
  const auto random_filter = [&](const std::vector<std::string>& levels, int hash_one_in) {
    std::string f;
    const int depth = 1 + pick(3);
    for (int d = 0; d < depth; ++d) {
      if (d > 0) f += '/';
      if (d == depth - 1 && pick(hash_one_in) == 0) {
        f += '#';
      } else {
        f += levels[static_cast<std::size_t>(pick(static_cast<int>(levels.size())))];
      }
    }
    return f;
  };

  constexpr int acls = 2000;
  constexpr int filters_per_acl = 6;
  int answered[3] = {};  // none, some, all
  int truths[3] = {};
  int exact = 0;
  int checked = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int iteration = 0; iteration < acls; ++iteration) {
    std::vector<RandomRule> rules(static_cast<std::size_t>(1 + pick(5)));
    std::string text;
    std::optional<std::string> current_user;
    for (auto& r : rules) {
      if (pick(4) == 0) {
        current_user = names[static_cast<std::size_t>(1 + pick(3))];
        text += "user " + *current_user + "\n";
      }
      r.pattern = pick(3) == 0;
      r.user = current_user;
      static constexpr std::uint8_t accesses[] = {0, 1, 1, 2, 3, 3};  // deny, read, write, readwrite
      static constexpr const char* words[] = {"deny", "read", "write", "readwrite"};
      r.access = accesses[pick(6)];
      r.filter = random_filter(r.pattern ? pattern_levels : filter_levels, 2);
      text += std::string(r.pattern ? "pattern " : "topic ") + words[r.access] + " " + r.filter + "\n";
    }
    const std::string id = ids[static_cast<std::size_t>(pick(static_cast<int>(ids.size())))];
    // Mostly a client the file has rules for, sometimes any.
    const auto username = pick(4) != 0 ? rules[static_cast<std::size_t>(pick(static_cast<int>(rules.size())))].user
                                       : names[static_cast<std::size_t>(pick(static_cast<int>(names.size())))];
    SCOPED_TRACE("acl:\n" + text + "client " + id + " user " + username.value_or("(none)"));
    const auto access = AclFile::parse(text, "acl")->client(id, username);

    std::vector<bool> readable(topics.size());
    for (std::size_t t = 0; t < topics.size(); ++t) {
      readable[t] = access->may_read(topics[t]);
      ASSERT_EQ(readable[t], oracle(rules, id, username, topics[t], read_bit)) << "read " << topics[t];
      ASSERT_EQ(access->may_publish(topics[t]), oracle(rules, id, username, topics[t], write_bit))
          << "publish " << topics[t];
    }
    for (int k = 0; k < filters_per_acl; ++k) {
      const std::string filter = random_filter(filter_levels, 4);
      int matched = 0;
      int allowed = 0;
      for (std::size_t t = 0; t < topics.size(); ++t) {
        if (!protocol::topic_matches(filter, topics[t])) continue;
        ++matched;
        allowed += readable[t];
      }
      const Coverage answer = access->readable(filter);
      ++answered[static_cast<int>(answer)];
      ++checked;
      if (answer == Coverage::all) {
        ASSERT_EQ(allowed, matched) << "readable(" << filter << ") said all";
      } else if (answer == Coverage::none) {
        ASSERT_EQ(allowed, 0) << "readable(" << filter << ") said none";
      }
      const Coverage truth = allowed == 0 ? Coverage::none : allowed == matched ? Coverage::all : Coverage::some;
      ++truths[static_cast<int>(truth)];
      exact += answer == truth;
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  std::printf(
      "readable: %d filters; answered none %d, some %d, all %d; truly none %d, some %d, all %d; %d exact; "
      "%lld ms\n",
      checked, answered[0], answered[1], answered[2], truths[0], truths[1], truths[2], exact,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  // Soundness alone would let readable() always say `some`; it must also decide most cases.
  EXPECT_GT(answered[0], checked / 10);
  EXPECT_GT(answered[2], checked / 20);
  EXPECT_GT(exact, checked * 8 / 10);
}

}  // namespace
}  // namespace tern::auth::acl
