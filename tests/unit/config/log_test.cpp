#include "platform/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace tern::platform {
namespace {

// What the log wrote to `path`, once its thread has written every line logged so far.
std::string read_file(const std::string& path) {
  EXPECT_TRUE(flush_log(std::chrono::seconds(10)));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Each test logs to its own file and puts the default (stderr) back afterwards.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "tern_log_test_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
            ".log";
    std::remove(path_.c_str());
  }
  void TearDown() override {
    std::string error;
    EXPECT_TRUE(configure_log(LogSettings{}, error));
    std::remove(path_.c_str());
  }
  void configure(unsigned levels, bool timestamp) {
    LogSettings settings;
    settings.levels = levels;
    settings.dests = LogSettings::Dest::file;
    settings.file = path_;
    settings.timestamp = timestamp;
    std::string error;
    ASSERT_TRUE(configure_log(settings, error)) << error;
  }
  std::string path_;
};

TEST_F(LogTest, WritesEnabledLevelsOnly) {
  configure(unsigned(LogLevel::error) | unsigned(LogLevel::information), false);
  EXPECT_TRUE(log_enabled(LogLevel::error));
  EXPECT_TRUE(log_enabled(LogLevel::information));
  EXPECT_FALSE(log_enabled(LogLevel::warning));
  EXPECT_FALSE(log_enabled(LogLevel::debug));
  TERN_LOG(error, "disk ", "full");
  TERN_LOG(debug, "not written");
  log(LogLevel::information, "client ", 42, " connected");
  log(LogLevel::warning, "not written either");
  log_line(LogLevel::debug, "nor this");
  log_line(LogLevel::error, "raw line");
  EXPECT_EQ(read_file(path_), "disk full\nclient 42 connected\nraw line\n");
}

TEST_F(LogTest, TimestampIsUnixSeconds) {
  configure(unsigned(LogLevel::notice), true);
  const auto before = std::time(nullptr);
  TERN_LOG(notice, "listening on 0.0.0.0:1883");
  const auto after = std::time(nullptr);
  const auto text = read_file(path_);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(text, m, std::regex("([0-9]+): listening on 0\\.0\\.0\\.0:1883\n"))) << text;
  const auto stamp = std::stoll(m[1]);
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, after);
}

TEST_F(LogTest, AppendsToAnExistingFile) {
  std::ofstream(path_) << "old line\n";
  configure(unsigned(LogLevel::error), false);
  TERN_LOG(error, "new line");
  EXPECT_EQ(read_file(path_), "old line\nnew line\n");
}

TEST_F(LogTest, LinesFromManyThreadsDoNotInterleave) {
  configure(unsigned(LogLevel::information), false);
  const std::string payload(200, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) TERN_LOG(information, "thread ", t, ' ', payload);
    });
  }
  for (auto& t : threads) t.join();
  std::istringstream in(read_file(path_));
  std::string line;
  int lines = 0;
  const std::regex whole("thread [0-3] x{200}");
  while (std::getline(in, line)) {
    EXPECT_TRUE(std::regex_match(line, whole)) << line;
    ++lines;
  }
  EXPECT_EQ(lines, 800);
}

TEST_F(LogTest, DestNoneDisablesEverything) {
  LogSettings settings;
  settings.levels = 31;
  settings.dests = 0;
  std::string error;
  ASSERT_TRUE(configure_log(settings, error));
  EXPECT_FALSE(log_enabled(LogLevel::error));
  EXPECT_FALSE(log_enabled(LogLevel::debug));
}

// logrotate moves the file away and sends SIGHUP: the next lines go to a new file of the same name.
TEST_F(LogTest, ReopenAfterTheFileWasMoved) {
  configure(unsigned(LogLevel::notice), false);
  TERN_LOG(notice, "before");
  const std::string moved = path_ + ".1";
  ASSERT_EQ(std::rename(path_.c_str(), moved.c_str()), 0);
  TERN_LOG(notice, "still the old file");
  std::string error;
  ASSERT_TRUE(reopen_log_file(error)) << error;
  TERN_LOG(notice, "after");
  EXPECT_EQ(read_file(moved), "before\nstill the old file\n");
  EXPECT_EQ(read_file(path_), "after\n");
  std::remove(moved.c_str());
}

// Several destinations at once: every line reaches each.
TEST_F(LogTest, SeveralDestinations) {
  LogSettings settings;
  settings.levels = unsigned(LogLevel::notice);
  settings.dests = LogSettings::Dest::file | LogSettings::Dest::stdout_;
  settings.file = path_;
  settings.timestamp = false;
  std::string error;
  testing::internal::CaptureStdout();  // first: the log looks at what stdout is when it is configured
  ASSERT_TRUE(configure_log(settings, error)) << error;
  TERN_LOG(notice, "to both");
  EXPECT_TRUE(flush_log(std::chrono::seconds(10)));
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "to both\n");
  EXPECT_EQ(read_file(path_), "to both\n");
}

TEST_F(LogTest, UnopenableFileIsAnError) {
  LogSettings settings;
  settings.dests = LogSettings::Dest::file;
  settings.file = "/nonexistent/dir/tern.log";
  std::string error;
  EXPECT_FALSE(configure_log(settings, error));
  EXPECT_EQ(error, "cannot open log file /nonexistent/dir/tern.log: No such file or directory");
}

TEST_F(LogTest, DefaultsAfterConfigure) {
  std::string error;
  ASSERT_TRUE(configure_log(LogSettings{}, error));
  EXPECT_TRUE(log_enabled(LogLevel::error));
  EXPECT_TRUE(log_enabled(LogLevel::warning));
  EXPECT_TRUE(log_enabled(LogLevel::notice));
  EXPECT_TRUE(log_enabled(LogLevel::information));
  EXPECT_FALSE(log_enabled(LogLevel::debug));
}

// log_timestamp_format: strftime of the local time; empty again: seconds since the epoch.
TEST_F(LogTest, TimestampFormat) {
  LogSettings settings;
  settings.levels = unsigned(LogLevel::notice);
  settings.dests = LogSettings::Dest::file;
  settings.file = path_;
  settings.timestamp_format = "%Y-%m-%d %H:%M:%S";
  std::string error;
  ASSERT_TRUE(configure_log(settings, error)) << error;
  TERN_LOG(notice, "formatted");
  settings.timestamp_format = "";
  ASSERT_TRUE(configure_log(settings, error));
  TERN_LOG(notice, "epoch");
  const auto text = read_file(path_);
  EXPECT_TRUE(std::regex_match(
      text, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}: formatted\n[0-9]+: epoch\n")))
      << text;
}

TEST_F(LogTest, ConnectionMessagesOff) {
  LogSettings settings;
  settings.levels = unsigned(LogLevel::notice) | unsigned(LogLevel::information);
  settings.dests = LogSettings::Dest::file;
  settings.file = path_;
  settings.timestamp = false;
  settings.connection_messages = false;
  std::string error;
  ASSERT_TRUE(configure_log(settings, error)) << error;
  // Lines as the broker core writes them (broker/core/broker_connect.cpp, broker.cpp), then others that must stay.
  TERN_LOG_CONNECTION(notice, "New client connected from 127.0.0.1:5000 as c1 (p5, c1, k60).");
  TERN_LOG_CONNECTION(notice, "Client c1 disconnected: client sent DISCONNECT.");
  TERN_LOG_CONNECTION(information, "Connection from 127.0.0.1:5001 closed: no CONNECT in time.");
  TERN_LOG(notice, "Client c2 from 127.0.0.1:5002 (username 'eve') refused: bad username or password.");
  TERN_LOG(notice, "listening on 0.0.0.0:1883");
  EXPECT_EQ(read_file(path_),
            "Client c2 from 127.0.0.1:5002 (username 'eve') refused: bad username or password.\n"
            "listening on 0.0.0.0:1883\n");
}

}  // namespace
}  // namespace tern::platform
