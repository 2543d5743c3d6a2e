// A log destination that blocks (issue 22): Tern's log goes to a pipe that nobody reads. Its lines are written by
// the log's own thread, so the clients are served all the same; past the log's queue lines are dropped, and a line
// says how many once the pipe is read again.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

TEST(BlockedLog, AFullPipeDoesNotStopTheBroker) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto writes its log from the thread that routes";
  testsupport::TempDir dir{"tern-blocked-log"};
  const std::uint16_t port = pick_free_port();
  const auto conf = dir.path() / "tern.conf";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\nlog_dest stdout\n";
  auto argv = tern_command();
  argv.insert(argv.end(), {"-c", conf.string()});
  BackgroundCommand broker(argv);  // its output is a pipe this test does not read until the end
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          RawClient probe(port, Version::v311);
          return true;
        } catch (const HarnessError&) {
          return false;
        }
      },
      10s));

  // Each connection logs a line of about 4 KiB (its client id, cut in the log): 1,100 of them are more than the
  // pipe (64 KiB) and the log's queue (4 MiB) hold.
  Subscriber bystander(port, Version::v311, "bystander", "ok/#");
  for (int i = 0; i < 1100; ++i) {
    RawClient c(port, Version::v311);
    c.connect(std::string(4000, 'a' + i % 26) + std::to_string(i));
    c.disconnect();
  }
  expect_still_served(port, bystander);

  EXPECT_TRUE(broker.wait_for_output("log line(s) dropped: the log destination did not keep up", 20s))
      << broker.output().substr(0, 2000);
}

}  // namespace
}  // namespace tern::itest
