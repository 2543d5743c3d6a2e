// run_command and BackgroundCommand: other programs (mosquitto_pub, mosquitto_sub, ...) with their output captured
// and a deadline (see harness_detail.hpp for how the harness is split).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tests/integration/harness.hpp"
#include "tests/integration/harness_detail.hpp"

extern char** environ;

namespace tern::itest {
using detail::Clock;
using detail::remaining;
using detail::to_argv;

// ---------------------------------------------------------------------------------------------------------------
// Commands

namespace {
pid_t spawn_with_pipe(const std::vector<std::string>& args, int& out_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw HarnessError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  auto argv = to_argv(args);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw HarnessError("posix_spawn " + args[0] + ": " + std::strerror(rc));
  }
  out_fd = fds[0];
  return pid;
}

// Reads the pipe until EOF and reaps the process, both within the deadline; kills it at the deadline.
CommandResult collect(pid_t pid, int fd, std::string output, Clock::time_point deadline) {
  CommandResult result;
  bool eof = false;
  while (!eof) {
    pollfd pfd{fd, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n == 0) break;
    if (n < 0) continue;
    char buf[4096];
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got <= 0) {
      eof = true;
    } else {
      output.append(buf, static_cast<std::size_t>(got));
    }
  }
  int status = 0;
  bool exited = false;
  while (!exited) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    result.exit_code = -1;
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::close(fd);
  result.output = std::move(output);
  return result;
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int fd = -1;
  const pid_t pid = spawn_with_pipe(argv, fd);
  return collect(pid, fd, {}, Clock::now() + timeout);
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& argv) { pid_ = spawn_with_pipe(argv, out_fd_); }

std::vector<std::string> tern_command() {
  std::vector<std::string> command;
  if (const char* v = std::getenv("TERN_TEST_BROKER_WRAPPER"); v != nullptr) {
    std::istringstream words(v);
    for (std::string word; words >> word;) command.push_back(word);
  }
  const char* binary = std::getenv("TERN_TEST_BINARY");
  command.emplace_back(binary != nullptr && *binary != '\0' ? binary : TERN_BINARY);
  return command;
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool BackgroundCommand::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (output_.find(needle) == std::string::npos) {
    pollfd pfd{out_fd_, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n == 0) return false;
    if (n < 0) continue;
    char buf[4096];
    const ssize_t got = ::read(out_fd_, buf, sizeof buf);
    if (got <= 0) return output_.find(needle) != std::string::npos;
    output_.append(buf, static_cast<std::size_t>(got));
  }
  return true;
}

CommandResult BackgroundCommand::wait(std::chrono::milliseconds timeout) {
  auto r = collect(pid_, out_fd_, std::move(output_), Clock::now() + timeout);
  pid_ = -1;
  out_fd_ = -1;
  return r;
}

}  // namespace tern::itest
