// Interoperability with the mosquitto command-line clients (mosquitto_pub / mosquitto_sub 2.0).
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

class MosquittoClientsTest : public VersionedTest {
 protected:
  std::string protocol_flag() const { return v5() ? "mqttv5" : "mqttv311"; }
  // stdbuf: mosquitto_sub's debug lines ("received SUBACK") are block-buffered into a pipe otherwise.
  std::vector<std::string> base(const std::string& tool, const BrokerProcess& broker) const {
    return {"stdbuf", "-oL", tool, "-h", "127.0.0.1", "-p", std::to_string(broker.port()), "-V", protocol_flag()};
  }
  void pub(const BrokerProcess& broker, std::vector<std::string> extra) const {
    auto args = base("mosquitto_pub", broker);
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_command(args, 10s);
    EXPECT_EQ(r.exit_code, 0) << "mosquitto_pub failed: " << r.output;
  }
};

// mosquitto_sub receives what mosquitto_pub sends at QoS 0, 1 and 2.
TEST_P(MosquittoClientsTest, PubSubAllQos) {
  BrokerProcess broker;
  auto sub_args = base("mosquitto_sub", broker);
  for (const char* a : {"-d", "-v", "-q", "2", "-t", "mc/#", "-C", "3", "-W", "15"}) sub_args.emplace_back(a);
  BackgroundCommand sub(sub_args);
  ASSERT_TRUE(sub.wait_for_output("SUBACK")) << sub.output();
  for (int q = 0; q <= 2; ++q) {
    pub(broker, {"-q", std::to_string(q), "-t", "mc/q" + std::to_string(q), "-m", "message " + std::to_string(q)});
  }
  const auto r = sub.wait(15s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (int q = 0; q <= 2; ++q) {
    EXPECT_NE(r.output.find("mc/q" + std::to_string(q) + " message " + std::to_string(q)), std::string::npos)
        << r.output;
  }
}

// A retained message published with mosquitto_pub -r reaches a later mosquitto_sub, flagged retained.
TEST_P(MosquittoClientsTest, RetainedMessage) {
  BrokerProcess broker;
  pub(broker, {"-r", "-q", "1", "-t", "mc/retained", "-m", "kept value"});
  auto sub_args = base("mosquitto_sub", broker);
  for (const char* a : {"-t", "mc/#", "-C", "1", "-W", "10", "-F", "%r %t %p"}) sub_args.emplace_back(a);
  const auto r = run_command(sub_args, 15s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 mc/retained kept value"), std::string::npos) << r.output;

  // An empty retained payload (-n) clears it: a new subscriber gets nothing within 1 s.
  pub(broker, {"-r", "-t", "mc/retained", "-n"});
  auto check = base("mosquitto_sub", broker);
  for (const char* a : {"-t", "mc/#", "-C", "1", "-W", "1"}) check.emplace_back(a);
  const auto none = run_command(check, 10s);
  EXPECT_NE(none.exit_code, 0) << "expected a timeout with nothing received, got: " << none.output;
  EXPECT_EQ(none.output.find("kept value"), std::string::npos) << none.output;
}

// 5.0 user properties set with mosquitto_pub -D reach mosquitto_sub (-F %P prints them).
TEST(MosquittoClientsV5, UserPropertyRoundTrip) {
  BrokerProcess broker;
  const std::string port = std::to_string(broker.port());
  BackgroundCommand sub({"stdbuf", "-oL", "mosquitto_sub", "-d", "-h", "127.0.0.1", "-p", port, "-V", "mqttv5", "-t",
                         "mp/#", "-C", "1", "-W", "15", "-F", "%t %p %P"});
  ASSERT_TRUE(sub.wait_for_output("SUBACK")) << sub.output();
  const auto p = run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", "mqttv5", "-q", "1", "-t", "mp/x",
                              "-m", "with props", "-D", "publish", "user-property", "colour", "blue"},
                             10s);
  EXPECT_EQ(p.exit_code, 0) << p.output;
  const auto r = sub.wait(15s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("mp/x with props colour:blue"), std::string::npos) << r.output;
}

TERN_INSTANTIATE_VERSIONS(MosquittoClientsTest);

}  // namespace
}  // namespace tern::itest
