// BrokerProcess and the harness's general helpers (see harness_detail.hpp for how the harness is split).
#include "tests/integration/harness.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "tests/integration/harness_detail.hpp"

extern char** environ;

// Weak: present only in a sanitizer build (compiler-rt's common interface).
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace tern::itest {
using detail::Clock;
using detail::remaining;
using detail::tcp_connect;
using detail::to_argv;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string first_word(const std::string& line) {
  const auto start = line.find_first_not_of(" \t");
  if (start == std::string::npos) return {};
  const auto end = line.find_first_of(" \t", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The brokers this process started and has not reaped. A test binary that dies (a sanitizer's report, a crash, an
// abort) would leave them running for the rest of a CI run: they are killed from the death callback the sanitizers
// call and from the fatal signals' handlers. (PR_SET_PDEATHSIG does not fit: it fires when the *thread* that forked
// exits, and tests start brokers from short-lived threads.) Lock-free slots, as a signal handler may read them.
std::array<std::atomic<pid_t>, 512> live_brokers{};

void kill_live_brokers() {
  for (auto& slot : live_brokers) {
    const pid_t pid = slot.load(std::memory_order_relaxed);
    if (pid > 0) ::kill(pid, SIGKILL);
  }
}

extern "C" void kill_live_brokers_on_signal(int number) {
  kill_live_brokers();
  ::signal(number, SIG_DFL);
  ::raise(number);
}

void watch_for_death() {
  static const bool once = [] {
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(kill_live_brokers);
    for (const int number : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) {
      struct sigaction current {};
      // Leave a handler that is already there (a sanitizer's) alone: the death callback covers it.
      if (::sigaction(number, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
        struct sigaction action {};
        action.sa_handler = kill_live_brokers_on_signal;
        ::sigaction(number, &action, nullptr);
      }
    }
    return true;
  }();
  (void)once;
}

void adopt(pid_t pid) {
  watch_for_death();
  for (auto& slot : live_brokers) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void release(pid_t pid) {
  for (auto& slot : live_brokers) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

// Directives tern has and mosquitto 2.0.11 does not: dropped when the tests run against mosquitto.
const std::set<std::string>& tern_only_directives() {
  static const std::set<std::string> names = {"threads", "max_outgoing_buffer"};
  return names;
}

}  // namespace

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw HarnessError("bind port 0 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool testing_mosquitto() {
  const char* v = std::getenv("TERN_TEST_BROKER");
  return v != nullptr && std::string_view(v) == "mosquitto";
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

std::size_t open_descriptors(pid_t pid) {
  std::size_t n = 0;
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (const dirent* entry = ::readdir(dir)) n += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// BrokerProcess

BrokerProcess::BrokerProcess(std::vector<std::string> extra_config)
    : BrokerProcess(std::move(extra_config), testing_mosquitto() ? Kind::mosquitto : Kind::tern) {}

BrokerProcess::BrokerProcess(std::vector<std::string> extra_config, Kind kind)
    : extra_config_(std::move(extra_config)), mosquitto_(kind == Kind::mosquitto) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tern-it-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw HarnessError("mkdtemp failed");
  dir_ = tmpl;
  config_path_ = dir_ / "broker.conf";
  log_path_ = dir_ / "broker.log";
  start();
}

BrokerProcess::~BrokerProcess() {
  try {
    stop();
  } catch (...) {
  }
  check_sanitizer_report();
  if (::testing::Test::HasFailure()) {
    std::string text = log();
    constexpr std::size_t max_shown = 20000;
    if (text.size() > max_shown) text = "...\n" + text.substr(text.size() - max_shown);
    std::cerr << "---- broker log (" << log_path_.string() << ") ----\n" << text << "---- end of broker log ----\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string BrokerProcess::log() const { return read_file(log_path_); }

void BrokerProcess::check_sanitizer_report() const {
  // The sanitizers write to the broker's stderr, which is its log here. A report ends the broker at once
  // (halt_on_error, the presets' test environment) or, for leaks, at its exit; either way the test sees it here.
  static constexpr std::string_view markers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                                 "WARNING: ThreadSanitizer", ": runtime error: "};
  const std::string text = log();
  for (const std::string_view marker : markers) {
    if (text.find(marker) != std::string::npos) {
      ADD_FAILURE() << "sanitizer report (\"" << marker << "\") in the broker's log " << log_path_.string();
      return;
    }
  }
}

void BrokerProcess::write_config() {
  std::ofstream out(config_path_, std::ios::trunc);
  bool anonymous_set = false;
  for (const auto& line : extra_config_) anonymous_set |= first_word(line) == "allow_anonymous";
  // per_listener_settings must come before the first listener (in mosquitto and in tern).
  for (const auto& line : extra_config_) {
    if (first_word(line) == "per_listener_settings") out << line << "\n";
  }
  if (mosquitto_) {
    if (port_ == 0) port_ = pick_free_port();
    out << "listener " << port_ << " 127.0.0.1\n";
    out << "log_dest stderr\n";
    out << "log_type all\n";
    // Started as root, mosquitto would switch to its own user and could not read the tests' private files.
    if (const passwd* me = ::getpwuid(::geteuid()); me != nullptr) out << "user " << me->pw_name << "\n";
  } else {
    out << "listener 0 127.0.0.1\n";
  }
  if (!anonymous_set) out << "allow_anonymous true\n";
  for (const auto& line : extra_config_) {
    if (first_word(line) == "per_listener_settings") continue;
    if (mosquitto_ && tern_only_directives().contains(first_word(line))) continue;
    out << line << "\n";
  }
}

std::size_t BrokerProcess::log_count(std::string_view text) const {
  const std::string all = log();
  std::size_t n = 0;
  for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
  return n;
}

void BrokerProcess::start() {
  write_config();
  // Only what this start writes is searched for the "listening on" line (a restart appends to the same log).
  std::error_code ec;
  log_offset_ = std::filesystem::exists(log_path_) ? std::filesystem::file_size(log_path_, ec) : 0;
  std::string binary = mosquitto_ ? "/usr/sbin/mosquitto" : TERN_BINARY;
  // A cross-built tern runs under an emulator (cross-toolchains/test-arm.sh): TERN_TEST_BINARY names the broker and
  // TERN_TEST_BROKER_WRAPPER the command put in front of it, split at spaces ("qemu-aarch64 -L
  // /usr/aarch64-linux-gnu").
  if (const char* v = std::getenv("TERN_TEST_BINARY"); v != nullptr && *v != '\0' && !mosquitto_) binary = v;
  std::vector<std::string> args;
  if (const char* v = std::getenv("TERN_TEST_BROKER_WRAPPER"); v != nullptr) {
    std::istringstream words(v);
    for (std::string word; words >> word;) args.push_back(word);
  }
  args.insert(args.end(), {binary, "-c", config_path_.string()});

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto argv = to_argv(args);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw HarnessError("posix_spawn " + args[0] + ": " + std::strerror(rc));
  pid_ = pid;
  adopt(pid);
  try {
    port_ = wait_for_port(Clock::now() + 10s);
  } catch (...) {
    kill();  // a constructor that throws has no destructor to stop it
    throw;
  }
}

std::uint16_t BrokerProcess::wait_for_port(Clock::time_point deadline) {
  static const std::regex listening(R"(listening on 127\.0\.0\.1:([0-9]+))");
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      release(std::exchange(pid_, -1));
      throw HarnessError("the broker exited during start-up (status " + std::to_string(status) + "); log:\n" + log());
    }
    if (mosquitto_) {
      const int fd = tcp_connect(port_);
      if (fd >= 0) {
        ::close(fd);
        return port_;
      }
    } else {
      std::smatch m;
      const std::string all = log();
      const std::string text = all.size() > log_offset_ ? all.substr(log_offset_) : std::string();
      if (std::regex_search(text, m, listening)) return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }
    if (Clock::now() >= deadline) throw HarnessError("the broker did not start listening within 10 s; log:\n" + log());
    std::this_thread::sleep_for(10ms);
  }
}

void BrokerProcess::reap(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return;
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      release(std::exchange(pid_, -1));
      return;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  release(std::exchange(pid_, -1));
  ADD_FAILURE() << "the broker did not exit within " << timeout.count() << " ms of SIGTERM; killed";
}

void BrokerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  reap(5s);
}

std::vector<std::uint16_t> BrokerProcess::ports() const {
  static const std::regex listening(R"(listening on 127\.0\.0\.1:([0-9]+))");
  std::string text;
  // Every listener is announced before the "running N network threads" line.
  wait_until([&] {
    const std::string all = log();
    text = all.size() > log_offset_ ? all.substr(log_offset_) : std::string();
    return text.find(" network thread") != std::string::npos;
  });
  std::vector<std::uint16_t> result;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), listening); it != std::sregex_iterator(); ++it) {
    result.push_back(static_cast<std::uint16_t>(std::stoi((*it)[1].str())));
  }
  return result;
}

void BrokerProcess::signal(int number) const {
  if (pid_ > 0) ::kill(pid_, number);
}

void BrokerProcess::limit_file_size(std::uint64_t bytes) const {
  const rlimit limit{bytes, bytes};
  if (pid_ <= 0 || ::prlimit(pid_, RLIMIT_FSIZE, &limit, nullptr) != 0) {
    throw HarnessError(std::string("prlimit RLIMIT_FSIZE: ") + std::strerror(errno));
  }
}

void BrokerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  release(std::exchange(pid_, -1));
}

void BrokerProcess::restart() {
  stop();
  start();
}

std::string version_name(const ::testing::TestParamInfo<Version>& info) {
  return info.param == Version::v5 ? "v5" : "v311";
}

// ---------------------------------------------------------------------------------------------------------------
const std::filesystem::path& test_certs() {
  static const std::filesystem::path dir = [] {
    const auto path = std::filesystem::temp_directory_path() / ("tern-tls-it-" + std::to_string(::getpid()));
    const std::string command =
        std::string(TERN_SOURCE_DIR) + "/tests/unit/tls/make_test_certs.sh '" + path.string() + "'";
    if (std::system(command.c_str()) != 0) throw HarnessError("cannot make test certificates: " + command);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(
          std::filesystem::temp_directory_path() / ("tern-tls-it-" + std::to_string(::getpid())), ignored);
    });
    return path;
  }();
  return dir;
}

}  // namespace tern::itest
