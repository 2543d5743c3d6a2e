// rule blocks and rules_file: what they make, and errors that name the line (and, in sql, the column).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "broker/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using testing::config_error_of;
using testing::expect_config_error;

TEST(ConfigRules, ABlockMakesARule) {
  const auto c = parse_config(R"(listener 1883
allow_anonymous true

# Hot rooms raise an alarm.
rule hot
  sql SELECT payload.temp AS t, topic[2] AS room FROM "sensors/+/temp" WHERE payload.temp > 30
  republish alarms/${room} qos 1 retain
  drop

rule avg
  sql SELECT payload.temp AS t FROM "sensors/#"
  window 60 t averages/${topic}
max_qos 2
)",
                              "tern.conf");
  ASSERT_EQ(c.rules.size(), 2u);
  EXPECT_EQ(c.rules[0].name, "hot");
  EXPECT_EQ(c.rules[0].origin, "tern.conf:5");
  ASSERT_EQ(c.rules[0].actions.size(), 2u);
  const auto& republish = std::get<edge::Republish>(c.rules[0].actions[0]);
  EXPECT_EQ(republish.qos, protocol::QoS::at_least_once);
  EXPECT_TRUE(republish.retain);
  EXPECT_TRUE(std::holds_alternative<edge::Drop>(c.rules[0].actions[1]));
  EXPECT_EQ(std::get<edge::Window>(c.rules[1].actions[0]).period, std::chrono::seconds(60));
  EXPECT_EQ(c.broker.max_qos, protocol::QoS::exactly_once);  // the block ended at the next global directive
}

TEST(ConfigRules, Store) {
  const Config c = parse_config(
      "rule all\n  sql SELECT * FROM \"#\"\n  store\nrule some\n  sql SELECT * FROM \"s/#\"\n"
      "  store max_age 7d max_rows 1000\n",
      "tern.conf");
  ASSERT_EQ(c.rules.size(), 2u);
  const auto& forever = std::get<edge::Store>(c.rules[0].actions[0]);
  EXPECT_EQ(forever.max_age, std::chrono::seconds(0));
  EXPECT_EQ(forever.max_rows, 0u);
  const auto& bounded = std::get<edge::Store>(c.rules[1].actions[0]);
  EXPECT_EQ(bounded.max_age, std::chrono::seconds(7 * 86400));
  EXPECT_EQ(bounded.max_rows, 1000u);
}

TEST(ConfigRules, ErrorsNameTheirLine) {
  expect_config_error("sql SELECT qos FROM \"t\"\n", 1, "sql: must follow a 'rule' line");
  expect_config_error("rule a\n  republish x\n", 2, "republish: the rule's sql line must come first");
  expect_config_error("rule a\n  sql SELECT qos FORM \"t\"\n", 2, "sql: at column 18: expected from, got 'FORM'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  sql SELECT qos FROM \"u\"\n", 3, "one sql line per rule");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  republish x/${nosuch}\n", 3,
                      "republish: ${nosuch}: at column 1: unknown field 'nosuch'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  republish x qos 5\n", 3,
                      "republish: expected a QoS of 0, 1 or 2, got '5'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  window 0 qos avg\n", 3, "window: expected SECONDS");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  drop now\n", 3, "drop: takes no value, got 'now'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  store 7d\n", 3,
                      "store: unexpected '7d' (expected max_age DURATION or max_rows N)");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  store max_age 7w\n", 3,
                      "store: max_age: expected N, Ns, Nm, Nh or Nd, got '7w'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  store max_rows 1k\n", 3,
                      "store: max_rows: expected a count, got '1k'");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  store max_rows\n", 3,
                      "store: expected a number after 'max_rows', got ''");
  expect_config_error("\n\nrule a\n  sql SELECT qos FROM \"t\"\nmax_qos 1\n", 3, "rule a: no action");
  expect_config_error("rule a\n  drop\n", 2, "drop: the rule's sql line must come first");
  expect_config_error("rule a\n  sql SELECT qos FROM \"t\"\n  drop\nrule a\n", 4,
                      "rule: a rule named 'a' is already defined");
  expect_config_error("windw 60 t x\n", 1, "unknown directive 'windw' (did you mean 'window'?)");
  expect_config_error("rule\n", 1, "missing value for rule");
}

class ConfigRulesFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tern_rules_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigRulesFile, AddsItsRulesAfterThoseBeforeIt) {
  const auto path = write("rules.conf", "# rules\nrule b\n  sql SELECT * FROM \"b/#\"\n  drop\n");
  const auto c =
      parse_config("rule a\n  sql SELECT * FROM \"a\"\n  drop\nrules_file " + path + "\nmax_qos 1\n", "tern.conf");
  ASSERT_EQ(c.rules.size(), 2u);
  EXPECT_EQ(c.rules[1].name, "b");
  EXPECT_EQ(c.rules[1].origin, path + ":2");
}

TEST_F(ConfigRulesFile, ErrorsNameTheRulesFileAndItsLine) {
  const auto bad_sql = write("bad.conf", "rule b\n  sql SELECT * FROM b\n");
  EXPECT_EQ(config_error_of("rules_file " + bad_sql + "\n"),
            bad_sql + ":2: sql: at column 21: expected a topic filter in quotes (FROM \"sensors/#\"), got 'b'");
  const auto other = write("other.conf", "max_qos 1\n");
  EXPECT_EQ(
      config_error_of("rules_file " + other + "\n"),
      other +
          ":1: 'max_qos' is not a rule directive (a rules_file holds rule, sql, republish, drop, store and window "
          "lines)");
  // A block does not continue into the file.
  const auto orphan = write("orphan.conf", "drop\n");
  EXPECT_EQ(config_error_of("rule a\n  sql SELECT * FROM \"a\"\nrules_file " + orphan + "\n"),
            orphan + ":1: drop: must follow a 'rule' line");
  const auto empty_rule = write("empty.conf", "rule c\n");
  EXPECT_EQ(config_error_of("rules_file " + empty_rule + "\n"), empty_rule + ":1: rule c: no sql line");
  EXPECT_EQ(config_error_of("rules_file " + (dir_ / "missing.conf").string() + "\n").substr(0, 25),
            "tern.conf:1: rules_file: ");
}

TEST_F(ConfigRulesFile, LoadConfigFileRemembersItsSource) {
  const auto path = write("tern.conf", "rule a\n  sql SELECT * FROM \"a\"\n  drop\n");
  const auto c = load_config_file(path);
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.rules.size(), 1u);
}

}  // namespace
}  // namespace tern
