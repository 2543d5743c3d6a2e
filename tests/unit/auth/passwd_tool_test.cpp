// `tern passwd` run in-process (run_passwd writing into strings, with typed lines given): creating, adding, updating,
// deleting and upgrading users; the lines it must keep byte for byte; mosquitto_passwd's messages and exit codes;
// the file's mode whatever the umask; no temporary file left behind, whether the edit succeeds or fails.
#include "broker/auth/passwd_tool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/auth/password_file.hpp"
#include "tests/unit/auth/password_test_support.hpp"

namespace tern::auth {
namespace {

using test::TempDir;
using Check = PasswordFile::Check;

struct PasswdRun {
  int code = -1;
  std::string out;
  std::string err;
};

// `tern passwd ARGS`, answering the password prompts with `typed` in order (nullopt: end of input).
PasswdRun passwd(std::vector<std::string> args, std::vector<std::optional<std::string>> typed = {}) {
  PasswdRun run;
  std::size_t next = 0;
  const PasswdIo io{[&](std::string_view text) { run.out += text; }, [&](std::string_view text) { run.err += text; },
                    [&]() -> std::optional<std::string> {
                      if (next >= typed.size()) return std::nullopt;
                      return typed[next++];
                    }};
  args.insert(args.begin(), "passwd");
  run.code = run_passwd(args, io);
  return run;
}

// Sets the umask for a scope.
class Umask {
 public:
  explicit Umask(mode_t mask) : old_(::umask(mask)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

constexpr const char* bob_line =  // mosquitto_passwd -b FILE bob 'secret word'
    "bob:$7$101$nKt4k3/Eh0CW6bVp$02avRfoCEsnArYmtJRm0KIMCf8gQD6E4fk9huXKW71wOvZC7vJ7GB138QBPmir2uEkRzRvsEBja5NM7yoEYj+A"
    "==";

class PasswdTool : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string path_ = dir_.file("passwd");

  PasswordFile load() const { return PasswordFile::load(path_); }
  // Only the password file: no temporary file was left behind.
  void expect_only_the_file() const { EXPECT_EQ(dir_.names(), std::vector<std::string>{"passwd"}); }
};

TEST_F(PasswdTool, CreateWritesOneHashedLineWithMode0600) {
  const Umask umask(022);
  const PasswdRun r = passwd({"-c", "-b", path_, "alice", "right"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  const std::vector<std::string> lines = lines_of(test::read_file(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("alice:$7$101$", 0), 0u) << lines[0];
  EXPECT_EQ(load().check("alice", "right"), Check::ok);
  EXPECT_EQ(load().check("alice", "wrong"), Check::wrong_password);
  EXPECT_EQ(test::file_mode(path_), 0600u);
  expect_only_the_file();
}

// 0600 whatever the umask; an edit keeps the group's read permission (a service account's group reads the file)
// and never gives anything to others, whatever the file had before.
TEST_F(PasswdTool, ModeIs0600OrGroupReadableWhateverTheUmask) {
  {
    const Umask umask(0277);  // would make a new file read-only for its owner
    ASSERT_EQ(passwd({"-c", "-b", path_, "alice", "right"}).code, 0);
    EXPECT_EQ(test::file_mode(path_), 0600u);
  }
  const Umask umask(0);
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  ASSERT_EQ(passwd({"-b", path_, "bob", "pw"}).code, 0);
  EXPECT_EQ(test::file_mode(path_), 0640u);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  ASSERT_EQ(passwd({"-D", path_, "bob"}).code, 0);
  EXPECT_EQ(test::file_mode(path_), 0640u);
  ASSERT_EQ(::chmod(path_.c_str(), 0604), 0);
  ASSERT_EQ(passwd({"-b", path_, "carol", "pw"}).code, 0);
  EXPECT_EQ(test::file_mode(path_), 0600u);
  expect_only_the_file();
}

TEST_F(PasswdTool, CreateOverwritesAndHonoursHashTypeAndIterations) {
  test::write_file(path_, std::string(bob_line) + "\n# old\n");
  ASSERT_EQ(passwd({"-H", "sha512", "-c", "-b", path_, "alice", "right"}).code, 0);
  std::vector<std::string> lines = lines_of(test::read_file(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("alice:$6$", 0), 0u) << lines[0];
  EXPECT_EQ(load().check("alice", "right"), Check::ok);

  ASSERT_EQ(passwd({"-I", "5", "-c", "-b", path_, "alice", "right"}).code, 0);
  lines = lines_of(test::read_file(path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("alice:$7$5$", 0), 0u) << lines[0];
  EXPECT_EQ(load().check("alice", "right"), Check::ok);
}

TEST_F(PasswdTool, AddAndUpdateKeepEveryOtherLineAsItWas) {
  const std::string before = std::string("# plant users\n") + "\n" + bob_line + "\n  # indented note\r\n" +
                             "alice:" + PasswordHash::make("old").encode() + "\n" + "   \n";
  test::write_file(path_, before);

  ASSERT_EQ(passwd({"-b", path_, "carol", "c-pw"}).code, 0);  // a new user goes at the end
  std::string text = test::read_file(path_);
  ASSERT_EQ(text.substr(0, before.size()), before);
  EXPECT_EQ(text.substr(before.size()).rfind("carol:$7$101$", 0), 0u);
  EXPECT_EQ(text.back(), '\n');

  ASSERT_EQ(passwd({"-b", path_, "alice", "new"}).code, 0);  // an existing user is changed where it is
  const std::vector<std::string> old_lines = lines_of(text);
  const std::vector<std::string> new_lines = lines_of(test::read_file(path_));
  ASSERT_EQ(new_lines.size(), old_lines.size());
  for (std::size_t i = 0; i < old_lines.size(); ++i) {
    if (old_lines[i].rfind("alice:", 0) == 0) {
      EXPECT_NE(new_lines[i], old_lines[i]);
      EXPECT_EQ(new_lines[i].rfind("alice:$7$101$", 0), 0u);
    } else {
      EXPECT_EQ(new_lines[i], old_lines[i]) << "line " << i + 1;
    }
  }
  const PasswordFile file = load();
  EXPECT_EQ(file.check("alice", "new"), Check::ok);
  EXPECT_EQ(file.check("alice", "old"), Check::wrong_password);
  EXPECT_EQ(file.check("bob", "secret word"), Check::ok);
  EXPECT_EQ(file.check("carol", "c-pw"), Check::ok);
  expect_only_the_file();
}

TEST_F(PasswdTool, UpdateReplacesEveryLineOfTheUserAndEndsTheLastLine) {
  test::write_file(path_, "dave:" + PasswordHash::make("a").encode() + "\n" + bob_line +
                              "\ndave:" + PasswordHash::make("b").encode());  // no final newline
  ASSERT_EQ(passwd({"-b", path_, "dave", "c"}).code, 0);
  const std::string text = test::read_file(path_);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(lines_of(text).size(), 3u);
  EXPECT_EQ(lines_of(text)[1], bob_line);
  EXPECT_EQ(load().check("dave", "c"), Check::ok);

  test::write_file(path_, bob_line);  // a new user after a last line without newline
  ASSERT_EQ(passwd({"-b", path_, "erin", "e"}).code, 0);
  EXPECT_EQ(lines_of(test::read_file(path_)).size(), 2u);
  EXPECT_EQ(load().check("erin", "e"), Check::ok);
  EXPECT_EQ(load().check("bob", "secret word"), Check::ok);
}

TEST_F(PasswdTool, DeleteRemovesTheUserOnly) {
  const std::string alice = "alice:" + PasswordHash::make("a").encode() + "\n";
  test::write_file(path_, "# users\n" + alice + bob_line + "\n" + alice);
  const PasswdRun r = passwd({"-D", path_, "alice"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(test::read_file(path_), "# users\n" + std::string(bob_line) + "\n");
  expect_only_the_file();
}

TEST_F(PasswdTool, DeletingAnUnknownUserWarnsAndLeavesTheFile) {
  const std::string before = "# users\n" + std::string(bob_line) + "\n";
  test::write_file(path_, before);
  const PasswdRun r = passwd({"-D", path_, "mallory"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Warning: User mallory not found in password file.\n");
  EXPECT_EQ(test::read_file(path_), before);
  expect_only_the_file();
}

TEST_F(PasswdTool, UpgradeHashesPlainTextPasswordsAndKeepsHashes) {
  test::write_file(path_, std::string("# converted from 1.x\n") + "alice:right\n" + " bob : two words \n" + bob_line +
                              "\n" + "carol:p@ss:w0rd\n");
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);  // as a 1.x file might be
  const PasswdRun r = passwd({"-U", path_});
  EXPECT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> lines = lines_of(test::read_file(path_));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "# converted from 1.x");
  EXPECT_EQ(lines[1].rfind("alice:$7$101$", 0), 0u);
  EXPECT_EQ(lines[2].rfind("bob:$7$101$", 0), 0u);  // the name as the broker reads it: trimmed
  EXPECT_EQ(lines[3], bob_line);                    // already hashed: kept (mosquitto_passwd would hash the hash)
  EXPECT_EQ(lines[4].rfind("carol:$7$101$", 0), 0u);
  const PasswordFile file = load();
  EXPECT_EQ(file.check("alice", "right"), Check::ok);
  EXPECT_EQ(file.check("carol", "p@ss:w0rd"), Check::ok);
  EXPECT_EQ(file.check("bob", "secret word"), Check::ok);  // the last bob line wins
  EXPECT_EQ(test::file_mode(path_), 0640u);  // it was written 0644: its group still reads it, others no longer

  // Once more: nothing is plain any more, so nothing changes.
  const std::string upgraded = test::read_file(path_);
  ASSERT_EQ(passwd({"-U", path_}).code, 0);
  EXPECT_EQ(test::read_file(path_), upgraded);

  test::write_file(path_, "dave:pw\n");
  ASSERT_EQ(passwd({"-H", "sha512", "-U", path_}).code, 0);
  EXPECT_EQ(test::read_file(path_).rfind("dave:$6$", 0), 0u);
  EXPECT_EQ(load().check("dave", "pw"), Check::ok);
  expect_only_the_file();
}

TEST_F(PasswdTool, PromptsTwiceAndWritesTheTypedPassword) {
  PasswdRun r = passwd({"-c", path_, "alice"}, {"typed secret", "typed secret"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Password: \nReenter password: \n");
  EXPECT_EQ(load().check("alice", "typed secret"), Check::ok);

  r = passwd({path_, "bob"}, {"b", "b"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(load().check("bob", "b"), Check::ok);
  EXPECT_EQ(load().check("alice", "typed secret"), Check::ok);
}

TEST_F(PasswdTool, PromptErrorsAreMosquittoPasswds) {
  ASSERT_EQ(passwd({"-c", "-b", path_, "alice", "right"}).code, 0);
  const std::string before = test::read_file(path_);

  PasswdRun r = passwd({path_, "alice"}, {"one", "two"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "Error: Passwords do not match.\n");
  r = passwd({path_, "alice"}, {""});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: Empty password.\n");
  r = passwd({path_, "alice"}, {"one", ""});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: Empty password.\n");
  r = passwd({"-c", path_, "alice"}, {});  // end of input
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: Empty password.\n");
  r = passwd({path_, "alice"}, {std::string(65536, 'p'), std::string(65536, 'p')});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: Password must be less than 65536 characters long.\n");

  EXPECT_EQ(test::read_file(path_), before);
  expect_only_the_file();
}

TEST_F(PasswdTool, UsernamesTheFileCannotHoldAreRefused) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"al:ice", "Error: Username must not contain the ':' character.\n"},
      {"al\tice", "Error: Username must not contain control characters.\n"},
      {"alice\n", "Error: Username must not contain control characters.\n"},
      {std::string("al\x7f") + "ice", "Error: Username must not contain control characters.\n"},
      {std::string(65536, 'u'), "Error: Username must be less than 65536 characters long.\n"},
      {"", "Error: Username must not be empty.\n"},
      {" alice", "Error: Username must not start or end with a space.\n"},
      {"alice ", "Error: Username must not start or end with a space.\n"},
      {"#alice", "Error: Username must not start with '#'.\n"},
  };
  for (const auto& [name, message] : rows) {
    SCOPED_TRACE(message);
    const PasswdRun r = passwd({"-c", "-b", path_, name, "pw"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, message);
  }
  EXPECT_TRUE(dir_.names().empty());
  // Long but allowed, and any UTF-8.
  EXPECT_EQ(passwd({"-c", "-b", path_, std::string(65535, 'u'), "pw"}).code, 0);
  const std::string utf8 = "z\u00fcrich sensor 7";
  EXPECT_EQ(passwd({"-b", path_, utf8, "pw"}).code, 0);
  EXPECT_EQ(load().check(utf8, "pw"), Check::ok);
}

TEST_F(PasswdTool, ArgumentErrorsAreMosquittoPasswds) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> rows = {
      {{"-c", "-D", path_, "alice"}, "Error: -c and -D cannot be used together.\n"},
      {{"-c", "-U", path_}, "Error: -c and -U cannot be used together.\n"},
      {{"-D", "-U", path_}, "Error: -D and -U cannot be used together.\n"},
      {{"-b", "-D", path_, "alice"}, "Error: -b and -D cannot be used together.\n"},
      {{"-H", "md5", path_, "alice"}, "Error: Unknown hash type 'md5'\n"},
      {{"-H"}, "Error: -H argument given but not enough other arguments.\n"},
      {{"-I"}, "Error: -I argument given but not enough other arguments.\n"},
      {{"-I", "0", path_, "alice"}, "Error: Number of iterations must be > 0.\n"},
      {{"-I", "many", path_, "alice"}, "Error: Number of iterations must be > 0.\n"},
      {{"-c", "-b", path_, "alice"}, "Error: -c argument given but password file, username, or password missing.\n"},
      {{"-c", path_}, "Error: -c argument given but password file or username missing.\n"},
      {{"-D", path_}, "Error: -D argument given but password file or username missing.\n"},
      {{"-U", path_, "alice"}, "Error: -U argument given but password file missing.\n"},
      {{"-U"}, "Error: -U argument given but password file missing.\n"},
      {{"-b", path_, "alice", std::string(65536, 'p')}, "Error: Password must be less than 65536 characters long.\n"},
  };
  for (const auto& [args, message] : rows) {
    SCOPED_TRACE(message);
    const PasswdRun r = passwd(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, message);
    EXPECT_EQ(r.out, "");
  }
  // Wrong counts of positional arguments: the usage, on stdout.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {path_}, {path_, "alice", "extra"}, {"-b", path_, "alice"}, {"-b", path_, "a", "pw", "extra"}}) {
    const PasswdRun r = passwd(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("Usage: tern passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n"),
              std::string::npos);
    EXPECT_NE(r.out.find("       tern passwd -U passwordfile\n"), std::string::npos);
  }
  EXPECT_TRUE(dir_.names().empty());
}

TEST_F(PasswdTool, MissingOrCorruptFilesAreNotEdited) {
  PasswdRun r = passwd({"-b", path_, "alice", "pw"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Error: Unable to open password file " + path_ + ". No such file or directory.\n");
  r = passwd({"-D", path_, "alice"});
  EXPECT_EQ(r.code, 1);
  r = passwd({"-U", path_});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(dir_.names().empty());

  const std::string corrupt = std::string(bob_line) + "\n# fine\n\nalice\n";
  test::write_file(path_, corrupt);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"-b", path_, "carol", "pw"}, {"-D", path_, "bob"}, {"-U", path_}}) {
    r = passwd(args);
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "Error: Corrupt password file at line 4.\n");
  }
  test::write_file(path_, "alice:\n");
  r = passwd({"-b", path_, "carol", "pw"});
  EXPECT_EQ(r.err, "Error: Corrupt password file at line 1.\n");
  expect_only_the_file();

  r = passwd({"-c", "-b", dir_.file("no/such/dir/passwd"), "alice", "pw"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("Error: Unable to write password file " + dir_.file("no/such/dir/passwd") + ": ", 0), 0u)
      << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
}

TEST_F(PasswdTool, ASymbolicLinkIsFollowed) {
  ASSERT_EQ(passwd({"-c", "-b", path_, "alice", "right"}).code, 0);
  const std::string link = dir_.file("link");
  std::filesystem::create_symlink("passwd", link);
  ASSERT_EQ(passwd({"-b", link, "bob", "pw"}).code, 0);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(load().check("bob", "pw"), Check::ok);
  EXPECT_EQ(load().check("alice", "right"), Check::ok);
  EXPECT_EQ(dir_.names(), (std::vector<std::string>{"link", "passwd"}));
}

}  // namespace
}  // namespace tern::auth
