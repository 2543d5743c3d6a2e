#include "broker/auth/acl_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace tern::auth {
namespace {

using Coverage = core::ClientAccess::Coverage;
const std::optional<std::string> anonymous;

std::shared_ptr<const AclFile> parse(std::string_view text) { return AclFile::parse(text, "acl"); }

std::string parse_error(std::string_view text) {
  try {
    AclFile::parse(text, "acl");
  } catch (const AuthFileError& e) {
    return e.what();
  }
  return "(no error)";
}

struct RuleView {
  std::string filter;
  AclFile::Access access;
  int line;
  bool operator==(const RuleView&) const = default;
};
std::vector<RuleView> view(const std::vector<AclFile::Rule>* rules) {
  std::vector<RuleView> out;
  if (rules == nullptr) return out;
  for (const auto& r : *rules) out.push_back({r.filter, r.access, r.line});
  return out;
}
std::ostream& operator<<(std::ostream& os, const RuleView& r) {
  return os << "{" << r.filter << ", " << int(r.access) << ", line " << r.line << "}";
}

// --- Parsing ---

TEST(AclFileParse, EveryDirectiveForm) {
  const auto acl = parse(
      "# comment\n"
      "topic a/anon\n"       // 2: anonymous, readwrite
      "topic read $SYS/#\n"  // 3
      "\n"
      "   # an indented comment\n"
      "pattern write d/%c/#\n"       // 6
      "user alice\n"                 // 7
      "topic readwrite a/#\n"        // 8
      "topic\twrite\tcmd/+\n"        // 9: tabs separate tokens too
      "  topic deny   a/secret  \n"  // 10: blanks around are trimmed
      "topic read a b/c d \r\n"      // 11: the filter is the rest of the line; CRLF
      "pattern deny %u/private\n"    // 12
      "user   bob smith \n"          // 13: the username is the rest of the line
      "topic read b/#\n"             // 14
      "user alice\n"                 // 15: alice again: her list goes on
      "topic write $share/g/x\n"     // 16: plain text in an ACL
      "pattern readwrite %u/%c");    // 17: no final newline
  EXPECT_EQ(view(acl->user_rules(anonymous)),
            (std::vector<RuleView>{{"a/anon", AclFile::readwrite, 2}, {"$SYS/#", AclFile::read, 3}}));
  EXPECT_EQ(view(acl->user_rules("alice")), (std::vector<RuleView>{{"a/#", AclFile::readwrite, 8},
                                                                   {"cmd/+", AclFile::write, 9},
                                                                   {"a/secret", AclFile::none, 10},
                                                                   {"a b/c d", AclFile::read, 11},
                                                                   {"$share/g/x", AclFile::write, 16}}));
  EXPECT_EQ(view(acl->user_rules("bob smith")), (std::vector<RuleView>{{"b/#", AclFile::read, 14}}));
  EXPECT_EQ(view(&acl->patterns()),
            (std::vector<RuleView>{
                {"d/%c/#", AclFile::write, 6}, {"%u/private", AclFile::none, 12}, {"%u/%c", AclFile::readwrite, 17}}));
  EXPECT_EQ(acl->user_rules("bob"), nullptr);
  EXPECT_EQ(acl->user_rules("Alice"), nullptr);  // names are case-sensitive, as in mosquitto
  EXPECT_TRUE(acl->warnings().empty());
}

TEST(AclFileParse, NoAnonymousRulesAndEmptyFiles) {
  EXPECT_EQ(parse("user alice\ntopic a\n")->user_rules(anonymous), nullptr);
  EXPECT_EQ(parse("user alice\n")->user_rules("alice"), nullptr);  // a user without rules has none, as in mosquitto
  for (const std::string_view text : {"", "\n\n", "# only\n  \t \n"}) {
    const auto acl = parse(text);
    EXPECT_EQ(acl->user_rules(anonymous), nullptr);
    EXPECT_TRUE(acl->patterns().empty());
  }
}

TEST(AclFileParse, WarnsOfPatternWithoutClientIdOrUsername) {
  const auto acl = parse("pattern read d/%c/#\npattern read public/#\npattern write %u\ntopic read x/#\n");
  ASSERT_EQ(acl->warnings().size(), 1u);
  EXPECT_EQ(acl->warnings()[0],
            "acl:2: pattern 'public/#' contains neither %c nor %u: it gives every client the "
            "same access");
  EXPECT_EQ(acl->patterns().size(), 3u);  // accepted all the same
}

TEST(AclFileParse, ErrorsNameTheLine) {
  struct Case {
    std::string_view text, error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"topic a\ntopics read b\n", "acl:2: unknown keyword 'topics' (expected topic, pattern or user)"},
           {"Topic a\n", "acl:1: unknown keyword 'Topic' (expected topic, pattern or user)"},
           {"# ok\n\nusers alice\n", "acl:3: unknown keyword 'users' (expected topic, pattern or user)"},
           {"topic\n", "acl:1: topic: missing filter"},
           {"pattern  \t \n", "acl:1: pattern: missing filter"},
           {"topic read\n", "acl:1: topic: missing filter after 'read'"},
           {"pattern deny  \n", "acl:1: pattern: missing filter after 'deny'"},
           {"topic reed a/b\n",
            "acl:1: topic: unknown access 'reed' (expected read, write, readwrite or deny; a filter with spaces needs "
            "one before it)"},
           {"topic a b\n",
            "acl:1: topic: unknown access 'a' (expected read, write, readwrite or deny; a filter with spaces needs one "
            "before it)"},
           {"user\n", "acl:1: user: missing username"},
           {"user alice\nuser \t\n", "acl:2: user: missing username"},
           {"topic a/#/b\n", "acl:1: topic: invalid topic filter 'a/#/b'"},
           {"topic read sport#\n", "acl:1: topic: invalid topic filter 'sport#'"},
           {"pattern write %c+\n", "acl:1: pattern: invalid topic filter '%c+'"},
           {"topic\r\ntopic read a+ b\r\n", "acl:1: topic: missing filter"},
       }) {
    EXPECT_EQ(parse_error(c.text), c.error) << c.text;
  }
}

TEST(AclFileLoad, ReadsAFileAndNamesItInErrors) {
  char path[] = "/tmp/tern-acl-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "topic read a/#\nuser alice\ntopic a+\n";
  }
  try {
    AclFile::load(path);
    ADD_FAILURE() << "no error";
  } catch (const AuthFileError& e) {
    EXPECT_EQ(std::string(e.what()), std::string(path) + ":3: topic: invalid topic filter 'a+'");
  }
  {
    std::ofstream out(path);
    out << "topic read a/#\n";
  }
  EXPECT_TRUE(AclFile::load(path)->client("c", anonymous)->may_read("a/b"));
  std::remove(path);
  try {
    AclFile::load(path);
    ADD_FAILURE() << "no error";
  } catch (const AuthFileError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read " + std::string(path) + ": No such file or directory");
  }
}

// --- Decisions: mosquitto's table ---

TEST(AclFileDecide, AnonymousRulesAreForClientsWithoutUsername) {
  const auto acl = parse("topic read public/#\nuser alice\ntopic alice/#\n");
  const auto anon = acl->client("c1", anonymous);
  EXPECT_TRUE(anon->may_read("public/x"));
  EXPECT_TRUE(anon->may_read("public"));  // '#' takes the parent level
  EXPECT_FALSE(anon->may_publish("public/x"));
  EXPECT_FALSE(anon->may_read("alice/x"));
  const auto alice = acl->client("c2", "alice");
  EXPECT_TRUE(alice->may_read("alice/x"));
  EXPECT_TRUE(alice->may_publish("alice/x"));
  EXPECT_FALSE(alice->may_read("public/x"));  // the anonymous rules are not hers
  const auto bob = acl->client("c3", "bob");  // no rules, no patterns: nothing
  EXPECT_FALSE(bob->may_read("public/x"));
  EXPECT_FALSE(bob->may_read("alice/x"));
  EXPECT_EQ(bob->readable("#"), Coverage::none);
}

TEST(AclFileDecide, EmptyFileDeniesEverything) {
  const auto access = parse("# nothing\n")->client("c", anonymous);
  EXPECT_FALSE(access->may_read("a"));
  EXPECT_FALSE(access->may_publish("a"));
  EXPECT_EQ(access->readable("#"), Coverage::none);
}

TEST(AclFileDecide, DenyComesFirstWhereverItIsWritten) {
  const auto access = parse("user alice\ntopic readwrite a/#\ntopic deny a/secret/#\n")->client("c", "alice");
  EXPECT_TRUE(access->may_read("a/public"));
  EXPECT_FALSE(access->may_read("a/secret"));
  EXPECT_FALSE(access->may_publish("a/secret/x"));
  EXPECT_EQ(access->readable("a/public/#"), Coverage::all);
  EXPECT_EQ(access->readable("a/secret/+"), Coverage::none);
  EXPECT_EQ(access->readable("a/#"), Coverage::some);
}

TEST(AclFileDecide, RuleGrantingOnlyTheOtherAccessIsPassedOver) {
  const auto acl = parse("topic write a/+\ntopic read a/#\ntopic read r/#\ntopic write w/#\n");
  const auto access = acl->client("c", anonymous);
  EXPECT_TRUE(access->may_read("a/x"));     // write a/+ matches, grants no read: passed over to read a/#
  EXPECT_TRUE(access->may_publish("a/x"));  // write a/+
  EXPECT_FALSE(access->may_publish("a/x/y"));
  EXPECT_TRUE(access->may_read("r/x"));
  EXPECT_FALSE(access->may_publish("r/x"));
  EXPECT_FALSE(access->may_read("w/x"));
  EXPECT_TRUE(access->may_publish("w/x"));
  EXPECT_EQ(access->readable("a/+"), Coverage::all);
  EXPECT_EQ(access->readable("w/#"), Coverage::none);
}

TEST(AclFileDecide, UserRulesComeBeforePatterns) {
  const auto acl = parse(
      "pattern deny d/%c/locked\n"
      "pattern readwrite d/%c/#\n"
      "user alice\n"
      "topic read d/+/locked\n"
      "topic deny d/s7/private\n");
  const auto alice = acl->client("s7", "alice");
  EXPECT_TRUE(alice->may_read("d/s7/locked"));      // her rule before the pattern deny
  EXPECT_FALSE(alice->may_publish("d/s7/locked"));  // read only: passed over, then the pattern denies
  EXPECT_FALSE(alice->may_read("d/s7/private"));    // her deny before the pattern's grant
  EXPECT_TRUE(alice->may_publish("d/s7/led"));      // pattern
  EXPECT_FALSE(alice->may_publish("d/s8/led"));     // another client's place
  const auto anon = acl->client("s8", anonymous);
  EXPECT_FALSE(anon->may_read("d/s8/locked"));
  EXPECT_TRUE(anon->may_read("d/s8/led"));
  EXPECT_EQ(anon->readable("d/s8/#"), Coverage::some);
  EXPECT_EQ(anon->readable("d/s8/+/x"), Coverage::all);
  EXPECT_EQ(anon->readable("d/s8/locked"), Coverage::none);
  EXPECT_EQ(anon->readable("d/+/led"), Coverage::some);
}

TEST(AclFileDecide, PatternsWithUsername) {
  const auto acl = parse("pattern readwrite home/%u/#\npattern read shared/%u/%c\npattern read %u\n");
  const auto alice = acl->client("c1", "alice");
  EXPECT_TRUE(alice->may_publish("home/alice/x"));
  EXPECT_FALSE(alice->may_publish("home/bob/x"));
  EXPECT_TRUE(alice->may_read("shared/alice/c1"));
  EXPECT_FALSE(alice->may_read("shared/alice/c2"));
  EXPECT_TRUE(alice->may_read("alice"));
  const auto anon = acl->client("c1", anonymous);  // %u patterns do not apply: nothing left
  EXPECT_FALSE(anon->may_read("home/%u/x"));
  EXPECT_FALSE(anon->may_read("shared/%u/c1"));
  EXPECT_EQ(anon->readable("#"), Coverage::none);
  const auto empty = acl->client("c1", std::string());  // "" is a username: home//# and an empty pattern
  EXPECT_TRUE(empty->may_publish("home//x"));
  EXPECT_TRUE(empty->may_read("shared//c1"));
}

TEST(AclFileDecide, DangerousClientIdOrUsernameGetsNoPatterns) {
  const auto acl = parse("pattern readwrite d/%c/#\npattern read u/%u\ntopic read pub/#\nuser a#\ntopic read x\n");
  for (const auto& [id, name] : std::initializer_list<std::pair<std::string, std::optional<std::string>>>{
           {"+", anonymous}, {"s#", anonymous}, {"a+b", "alice"}, {"s7", "a#"}, {"s7", "+"}}) {
    SCOPED_TRACE(id + " / " + name.value_or("(none)"));
    const auto access = acl->client(id, name);
    EXPECT_FALSE(access->may_publish("d/s7/led"));  // d/+/# would have allowed it
    EXPECT_FALSE(access->may_read("u/alice"));
  }
  // Their own rules still decide, as in mosquitto.
  EXPECT_TRUE(acl->client("+", anonymous)->may_read("pub/x"));
  EXPECT_TRUE(acl->client("s7", "a#")->may_read("x"));
  EXPECT_EQ(acl->client("+", anonymous)->readable("pub/#"), Coverage::all);
  EXPECT_EQ(acl->client("+", anonymous)->readable("d/#"), Coverage::none);
  // Without patterns nothing is expanded, so nothing is dangerous.
  EXPECT_TRUE(parse("topic read pub/#\n")->client("+", anonymous)->may_read("pub/x"));
  // An ordinary client still has the patterns.
  EXPECT_TRUE(acl->client("s7", anonymous)->may_publish("d/s7/led"));
}

TEST(AclFileDecide, DollarTopicsNeedDollarRules) {
  const auto acl = parse(
      "topic read #\n"
      "topic read +/broker/#\n"
      "topic read $SYS/broker/load/#\n"
      "pattern read %c/#\n");
  const auto access = acl->client("$dev", anonymous);
  EXPECT_TRUE(access->may_read("a/b"));
  EXPECT_FALSE(access->may_read("$SYS/broker/uptime"));  // neither # nor +/broker/# reaches a '$' topic
  EXPECT_TRUE(access->may_read("$SYS/broker/load/1min"));
  EXPECT_TRUE(access->may_read("$dev/x"));          // a pattern expanding to a '$' filter
  EXPECT_EQ(access->readable("#"), Coverage::all);  // "#" does not match '$' topics either
  EXPECT_EQ(access->readable("$SYS/#"), Coverage::some);
  EXPECT_EQ(access->readable("$SYS/broker/load/+"), Coverage::all);
  EXPECT_EQ(access->readable("$SYS/broker/+"), Coverage::some);  // $SYS/broker/load: '#' takes the parent level
  EXPECT_EQ(access->readable("$SYS/other/+"), Coverage::none);
  EXPECT_EQ(access->readable("$dev/#"), Coverage::all);
  EXPECT_EQ(access->readable("$other/#"), Coverage::none);
}

TEST(AclFileDecide, SharePrefixIsPlainTopicText) {
  const auto access = parse("topic read $share/g/#\n")->client("c", anonymous);
  EXPECT_TRUE(access->may_read("$share/g/x"));
  EXPECT_FALSE(access->may_read("x"));
  EXPECT_EQ(access->readable("x"), Coverage::none);
}

TEST(AclFileDecide, EmptyClientIdEmptiesAPatternWhichMatchesNothing) {
  const auto access = parse("pattern readwrite %c\npattern read x/%c\n")->client("", anonymous);
  EXPECT_FALSE(access->may_read("a"));
  EXPECT_TRUE(access->may_read("x/"));
  EXPECT_EQ(access->readable("+"), Coverage::none);
}

// 1,000 rules: 480 users with two rules each, 30 anonymous rules and 10 patterns. Each client walks its own rules and
// the patterns only; the answers show the right list was picked for every user.
TEST(AclFileScale, ThousandRuleFile) {
  std::string text;
  for (int i = 0; i < 30; ++i) text += "topic read public/" + std::to_string(i) + "/#\n";
  for (int i = 0; i < 10; ++i) text += "pattern readwrite p" + std::to_string(i) + "/%c/#\n";
  for (int u = 0; u < 480; ++u) {
    const std::string n = std::to_string(u);
    text += "user user" + n + "\ntopic readwrite home/" + n + "/#\ntopic deny home/" + n + "/secret\n";
  }
  const auto acl = parse(text);
  std::size_t rules = acl->patterns().size() + acl->user_rules(anonymous)->size();
  for (int u = 0; u < 480; ++u) {
    const auto* own = acl->user_rules("user" + std::to_string(u));
    ASSERT_NE(own, nullptr);
    ASSERT_EQ(own->size(), 2u);
    rules += own->size();
  }
  EXPECT_EQ(rules, 1000u);
  for (int u = 0; u < 480; u += 7) {
    const std::string n = std::to_string(u);
    const std::string other = std::to_string((u + 1) % 480);
    const auto access = acl->client("dev" + n, "user" + n);
    EXPECT_TRUE(access->may_publish("home/" + n + "/x")) << n;
    EXPECT_FALSE(access->may_read("home/" + n + "/secret")) << n;
    EXPECT_FALSE(access->may_read("home/" + other + "/x")) << n;
    EXPECT_FALSE(access->may_read("public/3/x")) << n;  // anonymous
    EXPECT_TRUE(access->may_read("p9/dev" + n + "/x")) << n;
    EXPECT_EQ(access->readable("home/" + n + "/+/y"), Coverage::all) << n;
    EXPECT_EQ(access->readable("home/" + other + "/#"), Coverage::none) << n;
  }
  const auto anon = acl->client("dev", anonymous);
  EXPECT_TRUE(anon->may_read("public/29/x"));
  EXPECT_FALSE(anon->may_read("home/1/x"));
  EXPECT_FALSE(acl->client("dev", "user480")->may_read("home/480/x"));  // no such user
}

}  // namespace
}  // namespace tern::auth
