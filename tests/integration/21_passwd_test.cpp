// `tern passwd` as a command (broker/auth/passwd_tool.hpp): batch mode, the prompt with the password piped on stdin,
// mosquitto_passwd's messages and exit codes; and the files it writes, of both hash kinds, accepted by Debian's real
// mosquitto broker (/usr/sbin/mosquitto, started here on 127.0.0.1) for the right password only. Tern reading files
// written by mosquitto_passwd is covered by tests/unit/auth/password_file_test.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

namespace fs = std::filesystem;

CommandResult tern_passwd(const std::vector<std::string>& args) {
  std::vector<std::string> command = tern_command();
  command.emplace_back("passwd");
  command.insert(command.end(), args.begin(), args.end());
  return run_command(command, 20s);
}

// `tern passwd ARGS` with `first` and `second` piped on its stdin, one per line: the prompt path, without a terminal.
CommandResult tern_passwd_typed(const std::string& first, const std::string& second,
                                const std::vector<std::string>& args) {
  std::vector<std::string> command = {
      "/bin/sh", "-c", R"(p1=$1; p2=$2; shift 2; printf '%s\n%s\n' "$p1" "$p2" | "$@")", "sh", first, second};
  for (const std::string& word : tern_command()) command.push_back(word);
  command.emplace_back("passwd");
  command.insert(command.end(), args.begin(), args.end());
  return run_command(command, 20s);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

class PasswdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tern-passwd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    file_ = (dir_ / "passwd").string();
  }
  void TearDown() override {
    if (!HasFailure()) {
      std::error_code ignored;
      fs::remove_all(dir_, ignored);
    }
  }

  fs::path dir_;
  std::string file_;
};

TEST_F(PasswdTest, UsageAndArgumentErrors) {
  CommandResult r = tern_passwd({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("Usage: tern passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n"),
            std::string::npos)
      << r.output;
  r = tern_passwd({"-H", "md5", file_, "alice"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "Error: Unknown hash type 'md5'\n");
  r = tern_passwd({"-c", "-b", file_, "al:ice", "pw"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "Error: Username must not contain the ':' character.\n");
  EXPECT_FALSE(fs::exists(file_));

  std::vector<std::string> help = tern_command();
  help.emplace_back("--help");
  r = run_command(help, 10s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("tern passwd"), std::string::npos) << r.output;
}

TEST_F(PasswdTest, BatchPromptAndDelete) {
  CommandResult r = tern_passwd({"-c", "-b", file_, "alice", "right"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "");

  r = tern_passwd_typed("typed pw", "typed pw", {file_, "bob"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "Password: \nReenter password: \n");

  r = tern_passwd_typed("one", "two", {file_, "carol"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("Error: Passwords do not match.\n"), std::string::npos) << r.output;
  r = tern_passwd_typed("", "", {file_, "carol"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("Error: Empty password.\n"), std::string::npos) << r.output;

  std::vector<std::string> lines = lines_of(read_text(file_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("alice:$7$101$", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("bob:$7$101$", 0), 0u) << lines[1];
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  r = tern_passwd({"-D", file_, "alice"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = tern_passwd({"-D", file_, "alice"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "Warning: User alice not found in password file.\n");
  lines = lines_of(read_text(file_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("bob:", 0), 0u);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"passwd"});  // no temporary file left
}

// Debian's mosquitto 2.0 accepts the users of a file written by `tern passwd`, with the right password only.
TEST_F(PasswdTest, MosquittoAcceptsTheFile) {
  const std::string broker_binary = "/usr/sbin/mosquitto";
  ASSERT_EQ(::access(broker_binary.c_str(), X_OK), 0)
      << broker_binary << " is missing: install Debian's package `mosquitto` (scripts/install-deps.sh test)";

  ASSERT_EQ(tern_passwd({"-c", "-b", file_, "alice", "right"}).exit_code, 0);                // $7$, 101 iterations
  ASSERT_EQ(tern_passwd_typed("typed pw", "typed pw", {file_, "bob"}).exit_code, 0);         // prompted
  ASSERT_EQ(tern_passwd({"-H", "sha512", "-b", file_, "carol", "old style"}).exit_code, 0);  // $6$
  ASSERT_EQ(tern_passwd({"-I", "1000", "-b", file_, "dave", "p@ss:w0rd"}).exit_code, 0);
  {
    // mosquitto_passwd would call a comment corrupt, but mosquitto itself skips it: so does `tern passwd`.
    std::ofstream out(file_, std::ios::app);
    out << "# erin: plain-text, then -U\nerin:plain one\n";
  }
  ASSERT_EQ(tern_passwd({"-U", file_}).exit_code, 0);

  const std::uint16_t port = pick_free_port();
  const fs::path conf = dir_ / "mosquitto.conf";
  {
    std::ofstream out(conf);
    out << "listener " << port << " 127.0.0.1\n"
        << "allow_anonymous false\n"
        << "password_file " << file_ << "\n"
        << "log_dest stderr\n";
    // Started as root, mosquitto switches to the user `mosquitto` before reading the password file, which is 0600
    // in a 0700 directory: it stays the user running the test.
    if (const passwd* me = ::getpwuid(::geteuid()); me != nullptr) out << "user " << me->pw_name << "\n";
  }
  BackgroundCommand mosquitto({broker_binary, "-c", conf.string()});  // SIGKILLed when the test ends
  ASSERT_TRUE(mosquitto.wait_for_output(" running", 10s)) << mosquitto.output();
  ASSERT_TRUE(wait_until([&] { return accepts_connections(port); }, 10s)) << mosquitto.output();

  const auto publish = [&](const std::string& user, const std::string& password, const std::string& version) {
    return run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-V", version, "-u", user, "-P",
                        password, "-t", "t", "-m", "x"},
                       10s);
  };
  const std::vector<std::pair<std::string, std::string>> users = {
      {"alice", "right"}, {"bob", "typed pw"}, {"carol", "old style"}, {"dave", "p@ss:w0rd"}, {"erin", "plain one"}};
  for (const auto& [user, password] : users) {
    for (const std::string version : {"mqttv311", "mqttv5"}) {
      SCOPED_TRACE(user + " " + version);
      const CommandResult ok = publish(user, password, version);
      EXPECT_EQ(ok.exit_code, 0) << ok.output;
      const CommandResult wrong = publish(user, password + "x", version);
      EXPECT_NE(wrong.exit_code, 0) << wrong.output;
      EXPECT_NE(wrong.exit_code, -1) << "mosquitto_pub hung";
      if (version == "mqttv311") {
        EXPECT_NE(wrong.output.find("not authorised"), std::string::npos) << wrong.output;
      } else {
        EXPECT_NE(lowercase(wrong.output).find("not authorized"), std::string::npos) << wrong.output;
      }
    }
  }
  const CommandResult unknown = publish("mallory", "right", "mqttv311");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("not authorised"), std::string::npos) << unknown.output;
}

}  // namespace
}  // namespace tern::itest
