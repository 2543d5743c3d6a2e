// Broker process life cycle as the harness sees it: start-up log line, clean SIGTERM shutdown with clients
// connected, restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/integration/harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

class LifecycleTest : public VersionedTest {};

// SIGTERM with clients connected: the broker closes them and exits within 5 s (BrokerProcess::stop() fails the test
// otherwise); after a restart it accepts connections again.
TEST_P(LifecycleTest, StopsOnSigtermAndRestarts) {
  BrokerProcess broker;
  if (!testing_mosquitto()) {
    EXPECT_NE(broker.log().find("listening on 127.0.0.1:"), std::string::npos);
  }
  RawClient a(broker.port(), version());
  a.connect("a");
  a.subscribe("lc/#", QoS::at_least_once);
  RawClient b(broker.port(), version());
  b.connect("b");
  broker.stop();
  EXPECT_FALSE(broker.running());
  a.expect_closed();  // 5.0: a DISCONNECT (server shutting down) before the close is allowed
  b.expect_closed();

  broker.restart();
  ASSERT_TRUE(broker.running());
  RawClient c(broker.port(), version());
  EXPECT_EQ(static_cast<int>(c.connect("c").reason_code), 0);
  c.subscribe("lc/#", QoS::at_least_once);
  c.publish("lc/x", "after restart", QoS::at_least_once);
  EXPECT_EQ(c.receive().payload, "after restart");
}

// A listener given by host name is resolved (through glibc's NSS, which the static build loads at run time) and
// served on what the name resolves to.
TEST_P(LifecycleTest, AListenerGivenByHostNameIsServed) {
  // A port picked free can be taken by a parallel test before the broker binds it: a few attempts.
  std::uint16_t port = 0;
  std::unique_ptr<BrokerProcess> started;
  for (int attempt = 1; !started; ++attempt) {
    port = pick_free_port();
    try {
      started =
          std::make_unique<BrokerProcess>(std::vector<std::string>{"listener " + std::to_string(port) + " localhost"});
    } catch (const HarnessError& e) {
      if (attempt == 5 || std::string(e.what()).find("Address already in use") == std::string::npos) throw;
    }
  }
  BrokerProcess& broker = *started;
  if (!testing_mosquitto()) {
    // start() returns at the first listener; ports() waits for all of them (a slow emulated start binds the second
    // one later).
    const auto ports = broker.ports();
    EXPECT_NE(std::find(ports.begin(), ports.end(), port), ports.end()) << broker.log();
  }
  RawClient c(port, version());
  EXPECT_EQ(static_cast<int>(c.connect("named").reason_code), 0);
  c.subscribe("named/#", QoS::at_least_once);
  c.publish("named/x", "by name", QoS::at_least_once);
  EXPECT_EQ(c.receive().payload, "by name");
}

TERN_INSTANTIATE_VERSIONS(LifecycleTest);

// pid_file: the running broker's process id, removed when it stops (as mosquitto).
TEST(PidFile, WrittenAtStartRemovedAtExit) {
  testsupport::TempDir dir("tern-pid");
  const std::string pid_file = dir.file("broker.pid");
  BrokerProcess broker({"pid_file " + pid_file});
  std::string text;
  ASSERT_TRUE(wait_until([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(std::getline(in, text)) && !text.empty();
  })) << broker.log();
  ASSERT_TRUE(std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) << text;
  EXPECT_EQ(::kill(static_cast<pid_t>(std::stol(text)), 0), 0) << "no process " << text;
  broker.stop();
  EXPECT_FALSE(std::filesystem::exists(pid_file));
}

}  // namespace
}  // namespace tern::itest
