// A log destination that blocks (issue 22): Tern's log goes to a pipe that nobody reads. Its lines are written by
// the log's own thread, so the clients are served all the same; past the log's queue lines are dropped, and a line
// says how many once the pipe is read again.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

// Whether a broker started in the background accepts TCP connections on `port` within `timeout`.
bool accepts_connections(std::uint16_t port, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        try {
          RawClient probe(port, Version::v311);
          return true;
        } catch (const HarnessError&) {
          return false;
        }
      },
      timeout);
}

TEST(BlockedLog, AFullPipeDoesNotStopTheBroker) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto writes its log from the thread that routes";
  testsupport::TempDir dir{"tern-blocked-log"};
  const std::uint16_t port = pick_free_port();
  const auto conf = dir.path() / "tern.conf";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\nlog_dest stdout\n";
  auto argv = tern_command();
  argv.insert(argv.end(), {"-c", conf.string()});
  BackgroundCommand broker(argv);  // its output is a pipe this test does not read until the end
  ASSERT_TRUE(accepts_connections(port, 10s));

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

std::size_t count_in_file(const std::filesystem::path& path, const std::string& needle) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

// A log file on a disk that takes half a second per write (tests/support/slow_write_shim.cpp, preloaded: not with
// the static or sanitized brokers, whose runs leave SlowDisk* out). The first slow write at start-up sends the file's
// lines through the log's queue, so clients are answered without waiting for their lines: when the tenth client has
// its CONNACK, its line is not in the file yet (each line a direct write would have put there first). Every line
// arrives in the end, in order.
TEST(SlowDiskLog, ClientsAreServedAheadOfTheirLogLines) {
  if (testing_mosquitto()) GTEST_SKIP() << "mosquitto writes its log from the thread that routes";
  testsupport::TempDir dir{"tern-slow-log"};
  const std::uint16_t port = pick_free_port();
  const auto log = dir.path() / "tern.log";
  const auto conf = dir.path() / "tern.conf";
  std::ofstream(conf) << "listener " << port << " 127.0.0.1\nallow_anonymous true\nlog_dest file " << log.string()
                      << "\n";
  ::setenv("LD_PRELOAD", TERN_SLOW_WRITE_SHIM, 1);
  ::setenv("TERN_TEST_SLOW_WRITE_PATH", log.c_str(), 1);
  ::setenv("TERN_TEST_SLOW_WRITE_MS", "500", 1);
  auto argv = tern_command();
  argv.insert(argv.end(), {"-c", conf.string()});
  BackgroundCommand broker(argv);
  ::unsetenv("LD_PRELOAD");
  ::unsetenv("TERN_TEST_SLOW_WRITE_PATH");
  ::unsetenv("TERN_TEST_SLOW_WRITE_MS");
  ASSERT_TRUE(accepts_connections(port, 20s));
  ASSERT_TRUE(wait_until([&] { return count_in_file(log, "starting") == 1; }, 20s)) << "the broker's first line";

  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(std::make_unique<RawClient>(port, Version::v311));
    EXPECT_EQ(static_cast<int>(clients.back()->connect("slow-disk-" + std::to_string(i)).reason_code), 0);
  }
  EXPECT_EQ(count_in_file(log, "as slow-disk-9 "), 0u) << "the last client was answered after its line was written";
  EXPECT_TRUE(wait_until([&] { return count_in_file(log, "as slow-disk-9 ") == 1; }, 60s));
  std::ifstream in(log);
  int next = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("as slow-disk-" + std::to_string(next) + " ") != std::string::npos) ++next;
  }
  EXPECT_EQ(next, 10) << "the clients' lines in order";
}

}  // namespace
}  // namespace tern::itest
