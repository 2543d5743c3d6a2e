// The rest of the platform layer: each call answers plausibly on the machine (or emulator) the tests run on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.hpp"
#include "platform/cpu.hpp"
#include "platform/entropy.hpp"
#include "platform/fs.hpp"
#include "platform/log.hpp"
#include "platform/privileges.hpp"
#include "platform/signals.hpp"
#include "platform/sysinfo.hpp"

namespace tern::platform {
namespace {

namespace fs = std::filesystem;

// What clients send cannot forge or flood a log line (issue 22): control characters are escaped, long lines cut.
TEST(Log, ClientTextCannotForgeOrFloodALine) {
  std::string scratch;
  EXPECT_EQ(safe_log_text("New client connected as sensor-1 (p2).", scratch), "New client connected as sensor-1 (p2).");
  EXPECT_EQ(safe_log_text("tabs\tand UTF-8 \xC3\xA9 stay", scratch), "tabs\tand UTF-8 \xC3\xA9 stay");
  EXPECT_EQ(safe_log_text("as evil\n1796570562: Client admin connected", scratch),
            "as evil\\x0a1796570562: Client admin connected");
  EXPECT_EQ(safe_log_text(std::string("a\x1b[2Jb\rc\x7f\0d", 11), scratch), "a\\x1b[2Jb\\x0dc\\x7f\\x00d");
  const std::string topic(65535, 't');
  const std::string line(safe_log_text("Denied PUBLISH to " + topic, scratch));
  const std::string note = " ... (" + std::to_string(18 + 65535 - max_log_line) + " more bytes)";
  EXPECT_EQ(line.size(), max_log_line + note.size());
  EXPECT_TRUE(line.ends_with(note)) << line.substr(4000);
  // The line as written: one line whatever the text.
  std::vector<std::string> written;
  static std::vector<std::string>* sink = nullptr;
  sink = &written;
  set_log_backend(unsigned(LogLevel::notice), [](LogLevel, std::string_view text) { sink->emplace_back(text); });
  log(LogLevel::notice, "id ", "x\ny");
  set_log_backend(LogSettings{}.levels, [](LogLevel, std::string_view text) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  });
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0], "id x\\x0ay");
}

TEST(Clock, MonotonicAndBootClocksMove) {
  const auto a = monotonic_now();
  const auto boot_a = since_boot();
  std::this_thread::sleep_for(std::chrono::milliseconds{20});
  EXPECT_GE(monotonic_now() - a, std::chrono::milliseconds{20});
  EXPECT_GT(boot_a, std::chrono::milliseconds{0});
  EXPECT_GE(since_boot() - boot_a, std::chrono::milliseconds{19});
  EXPECT_GT(wall_now().time_since_epoch(), std::chrono::hours{24 * 365 * 50});  // after 2020
}

TEST(Cpu, CountAndPinning) {
  const unsigned n = cpu_count();
  ASSERT_GE(n, 1u);
  EXPECT_LE(n, std::max(1u, std::thread::hardware_concurrency()));
  // Pinning another thread leaves this one (and the process mask, and so cpu_count) alone.
  std::error_code ec = std::make_error_code(std::errc::io_error);
  std::thread([&] { ec = pin_current_thread(n + 1); }).join();  // taken modulo the count
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(cpu_count(), n);
}

TEST(Entropy, FillsAndDiffers) {
  std::array<std::byte, 64> a{}, b{};
  fill_random(a);
  fill_random(b);
  EXPECT_NE(a, b);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_u64());
  EXPECT_EQ(seen.size(), 100u);
  fill_random({});  // nothing to do
}

TEST(Fs, SyncsFilesAndDirectories) {
  const fs::path dir = fs::temp_directory_path() / ("tern-platform-fs-" + std::to_string(random_u64()));
  fs::create_directories(dir);
  const fs::path file = dir / "data";
  std::ofstream(file) << "durable";
  EXPECT_FALSE(fsync_file(file));
  EXPECT_FALSE(fsync_dir(dir));
  EXPECT_FALSE(fsync_dir(""));  // the current directory

  EXPECT_EQ(fsync_file(dir / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(fsync_dir(dir / "missing"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(fsync_dir(file), std::errc::not_a_directory);
  fs::remove_all(dir);
}

TEST(Signals, IgnoringSigpipeMakesAWriteToAClosedPipeAnError) {
  ignore_write_signals();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  EXPECT_EQ(::write(fds[1], "x", 1), -1);
  EXPECT_EQ(errno, EPIPE);
  ::close(fds[1]);
}

TEST(Signals, IgnoringSigxfszMakesAWritePastTheFileSizeLimitAnError) {
  ignore_write_signals();
  const fs::path file = fs::temp_directory_path() / ("tern-fsize-" + std::to_string(::getpid()));
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limit = saved;
  limit.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  const std::string block(4096, 'x');
  const auto first = ::write(fd, block.data(), block.size());  // up to the limit
  errno = 0;
  const auto second = ::write(fd, "x", 1);  // past it: EFBIG, and the process lives on
  const int error = errno;
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::close(fd);
  fs::remove(file);
  EXPECT_EQ(first, 4096);
  EXPECT_EQ(second, -1);
  EXPECT_EQ(error, EFBIG);
}

TEST(SysInfo, SystemFiguresArePlausible) {
  const auto info = system_info();
  ASSERT_TRUE(info.has_value());
  EXPECT_GT(info->uptime, std::chrono::seconds{0});
  EXPECT_GT(info->memory_total, 16u << 20);
  EXPECT_GT(info->memory_available, 0u);
  EXPECT_LE(info->memory_available, info->memory_total);
  for (double l : info->load) EXPECT_GE(l, 0.0);
  EXPECT_EQ(info->cpus, cpu_count());
}

TEST(SysInfo, ProcessFiguresArePlausible) {
  const auto before = process_info();
  ASSERT_TRUE(before.has_value());
  EXPECT_GT(before->resident_bytes, 100u << 10);
  volatile std::uint64_t sink = 0;
  const auto until = monotonic_now() + std::chrono::milliseconds{50};
  while (monotonic_now() < until) sink = sink + 1;  // burn CPU time
  const auto after = process_info();
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(after->cpu_time, before->cpu_time);
}

}  // namespace
}  // namespace tern::platform

namespace tern::platform {
namespace {

// The static build's own reading of passwd(5) and group(5) (privileges.hpp).
TEST(Privileges, AccountsAndGroupsFromTheFiles) {
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/bash\n"
      "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
      "broken:x:notanumber:1::/:/bin/false\n"
      "mosquitto:x:102:105::/var/lib/mosquitto:/usr/sbin/nologin\n";
  const auto m = find_account(passwd, "mosquitto");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->uid, 102u);
  EXPECT_EQ(m->gid, 105u);
  EXPECT_FALSE(find_account(passwd, "mosq").has_value());     // whole names only
  EXPECT_FALSE(find_account(passwd, "broken").has_value());   // an unreadable line is no account
  EXPECT_FALSE(find_account(passwd, "").has_value());

  const std::string group =
      "root:x:0:\n"
      "adm:x:4:syslog,mosquitto\n"
      "tern:x:990:mosquitto\n"
      "mosquitto:x:105:\n"
      "users:x:100:mosquittoX,other\n";
  EXPECT_EQ(find_groups(group, "mosquitto", 105), (std::vector<gid_t>{105, 4, 990}));
  EXPECT_EQ(find_groups(group, "nobody", 65534), (std::vector<gid_t>{65534}));
  EXPECT_EQ(find_groups("", "mosquitto", 105), (std::vector<gid_t>{105}));
}

}  // namespace
}  // namespace tern::platform
