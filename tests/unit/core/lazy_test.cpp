// Lazy (a member made on its first change) and the size of what every connected client costs the core: an idle
// connection's memory is mostly these objects (bench/README.md, "KiB per idle connection").
#include "broker/core/lazy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "broker/core/session.hpp"
#include "broker/core/session_access.hpp"

namespace tern::core {
namespace {

TEST(Lazy, ReadsAsEmptyUntilChangedAndThenHoldsItsOwnValue) {
  Lazy<std::vector<int>> a;
  Lazy<std::vector<int>> b;
  EXPECT_TRUE(a->empty());
  EXPECT_EQ(a.if_made(), nullptr);
  a.mut().push_back(7);
  ASSERT_NE(a.if_made(), nullptr);
  EXPECT_EQ(*a, std::vector<int>{7});
  EXPECT_EQ(b.if_made(), nullptr);
  EXPECT_TRUE(b->empty()) << "the unmade ones share an empty value that no change reaches";
}

TEST(Lazy, AnUnmadeMapIteratesAsEmpty) {
  Lazy<std::map<std::string, int, std::less<>>> m;
  int seen = 0;
  for (const auto& entry : *m) seen += entry.second;
  EXPECT_EQ(seen, 0);
  EXPECT_EQ(m->find("x"), m->end());
  m.mut()["x"] = 2;
  EXPECT_NE(m->find("x"), m->end());
}

// Upper bounds on 64-bit targets (32-bit ones are smaller). A connected client costs one of each; malloc rounds each to
// a multiple of 16 with 8 bytes of its own, so these are 144, 128 and 96 bytes of heap. Growing one is a choice to
// make with bench/footprint.py's idle figure in hand, not by accident.
TEST(Footprint, PerClientObjectsStaySmall) {
  EXPECT_LE(sizeof(Session), 136u);
  EXPECT_LE(sizeof(Client), 120u);
  EXPECT_LE(sizeof(SessionAccess), 88u);
}

// The per-topic decision table: made on the first question, grown as topics come, emptied when it would pass
// max_entries and when the rights are bound again. Every answer is the rule's, and a topic asked again while it is in
// the table is not asked of the rules again.
class CountingAccess final : public ClientAccess {
 public:
  explicit CountingAccess(int* questions) : questions_(questions) {}
  bool may_publish(std::string_view topic) const override { return ask(topic); }
  bool may_read(std::string_view topic) const override { return ask(topic); }
  Coverage readable(std::string_view) const override { return Coverage::some; }

 private:
  bool ask(std::string_view topic) const {
    ++*questions_;
    return (topic.back() - '0') % 2 == 0;  // topics ending in an even digit
  }
  int* questions_;
};

class CountingPolicy final : public AccessPolicy {
 public:
  mutable int questions = 0;
  std::shared_ptr<const ClientAccess> client(std::string_view, const std::optional<std::string>&) const override {
    return std::make_shared<CountingAccess>(&questions);
  }
  bool still_accepts(const AccessPolicy&, const std::optional<std::string>&, bool) const override { return true; }
};

TEST(SessionAccessCache, AnswersAreTheRulesAndAskedOncePerTopicUntilFull) {
  auto policy = std::make_shared<CountingPolicy>();
  SessionAccess access("u", policy, true);
  access.bind("c");
  ASSERT_TRUE(access.restricted());
  const auto topic = [](int i) { return "t/" + std::to_string(i); };
  // 300 topics: the table grows from 8 slots to 1,024 while every earlier answer stays in it.
  for (int i = 0; i < 300; ++i) EXPECT_EQ(access.may_publish(topic(i)), i % 2 == 0) << i;
  EXPECT_EQ(policy->questions, 300);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(access.may_publish(topic(i)), i % 2 == 0) << i;
  EXPECT_EQ(policy->questions, 300) << "all 300 answered from the table";
  for (int i = 0; i < 300; ++i) {
    const std::string t = topic(i);
    EXPECT_EQ(access.may_read(t, SessionAccess::topic_hash(t)), i % 2 == 0) << i;
  }
  EXPECT_EQ(policy->questions, 600) << "reading is a question of its own, asked once per topic";
  // 300 more: the table passes max_entries (512) and is emptied once; what comes after is remembered again.
  for (int i = 300; i < 600; ++i) EXPECT_EQ(access.may_publish(topic(i)), i % 2 == 0) << i;
  EXPECT_EQ(policy->questions, 900);
  EXPECT_EQ(access.may_publish(topic(599)), false);
  EXPECT_EQ(policy->questions, 900) << "the newest topics are kept after the table was emptied";
  access.bind("c");
  EXPECT_EQ(access.may_publish(topic(599)), false);
  EXPECT_EQ(policy->questions, 901) << "a bind forgets every decision";
}

TEST(SessionAccessCache, WithoutAPolicyEverythingIsAllowed) {
  SessionAccess open(std::nullopt, nullptr, false);
  open.bind("c");
  EXPECT_FALSE(open.restricted());
  EXPECT_TRUE(open.may_publish("any/topic"));
}

}  // namespace
}  // namespace tern::core
