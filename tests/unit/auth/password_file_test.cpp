// PasswordFile and PasswordHash: files written by Debian's mosquitto_passwd (fixed lines, and the real program run
// in a temporary directory), the tolerated layout (comments, blank lines, blanks, CRLF, duplicates), every error
// with its exact message, and check()'s four answers.
#include "broker/auth/password_file.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/auth/password_test_support.hpp"

namespace tern::auth {
namespace {

using test::TempDir;
using Check = PasswordFile::Check;

// Written by Debian 12's mosquitto_passwd 2.0.11: `-c -b x7 bob 'secret word'`, `-I 1000 -b x7 carol 'p@ss:w0rd'`,
// `-H sha512 -c -b x6 alice pw`.
constexpr const char* bob_line =
    "bob:$7$101$nKt4k3/Eh0CW6bVp$02avRfoCEsnArYmtJRm0KIMCf8gQD6E4fk9huXKW71wOvZC7vJ7GB138QBPmir2uEkRzRvsEBja5NM7yoEYj+A"
    "==";
constexpr const char* carol_line =
    "carol:$7$1000$qPefDmstaqbwt256$D7riO5RONc22IW/9nXk42uynAlumSz7el+xmXDAslXf8laXpyQpwc3zUX+XHvkbruRuK3ItY0pfVb0Esgh"
    "aBXg==";
constexpr const char* alice_line =
    "alice:$6$86ZHSpwaRDn3zB4+$wuSqsCs58X5VDcy7+VUzEStkD3BickRrQBqVVlKdJaPtOs5EEParNKxbnaTmcWOt4LPsATmuY6yXh3+WwqhzKA"
    "==";

constexpr const char* salt64 = "nKt4k3/Eh0CW6bVp";  // 12 bytes
constexpr const char* digest64 =
    "02avRfoCEsnArYmtJRm0KIMCf8gQD6E4fk9huXKW71wOvZC7vJ7GB138QBPmir2uEkRzRvsEBja5NM7yoEYj+A==";  // 64 bytes

std::string hash_of(const char* line) { return std::string(line).substr(std::string(line).find(':') + 1); }

TEST(PasswordFile, ReadsMosquittoPasswdLinesOfBothKinds) {
  const PasswordFile file =
      PasswordFile::parse(std::string(bob_line) + "\n" + carol_line + "\n" + alice_line + "\n", "passwd");
  EXPECT_EQ(file.size(), 3u);
  EXPECT_EQ(file.check("bob", "secret word"), Check::ok);
  EXPECT_EQ(file.check("carol", "p@ss:w0rd"), Check::ok);
  EXPECT_EQ(file.check("alice", "pw"), Check::ok);
  EXPECT_EQ(file.check("bob", "secret Word"), Check::wrong_password);
  EXPECT_EQ(file.check("carol", "p@ss"), Check::wrong_password);  // no cut at the ':'
  EXPECT_EQ(file.check("alice", "pw "), Check::wrong_password);
  EXPECT_EQ(file.check("alice", ""), Check::wrong_password);

  const PasswordHash* carol = file.find("carol");
  ASSERT_NE(carol, nullptr);
  EXPECT_EQ(carol->kind, PasswordHash::Kind::pbkdf2_sha512);
  EXPECT_EQ(carol->iterations, 1000u);
  EXPECT_EQ(carol->salt.size(), 12u);
  EXPECT_EQ(carol->digest.size(), 64u);
  EXPECT_EQ(carol->encode(), hash_of(carol_line));  // written back exactly as read
  const PasswordHash* alice = file.find("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->kind, PasswordHash::Kind::sha512);
  EXPECT_EQ(alice->encode(), hash_of(alice_line));
}

TEST(PasswordFile, SkipsCommentsAndBlankLinesAndTrimsBlanks) {
  const std::string text = std::string("# users of the plant\n") + "\n" + "   \t\n" + "   # indented comment\n" +
                           "  bob \t:  " + hash_of(bob_line) + " \t\r\n" +  // blanks and a CRLF ending
                           "#alice:" + hash_of(alice_line) + "\n" +         // a commented-out user
                           carol_line;                                      // no final newline
  const PasswordFile file = PasswordFile::parse(text, "passwd");
  EXPECT_EQ(file.size(), 2u);
  EXPECT_EQ(file.check("bob", "secret word"), Check::ok);
  EXPECT_EQ(file.check("carol", "p@ss:w0rd"), Check::ok);
  EXPECT_EQ(file.check("alice", "pw"), Check::unknown_user);
  EXPECT_EQ(file.check("#alice", "pw"), Check::unknown_user);
  EXPECT_EQ(file.find(" bob "), nullptr);
}

TEST(PasswordFile, EmptyTextHasNoUsers) {
  EXPECT_EQ(PasswordFile::parse("", "passwd").size(), 0u);
  EXPECT_EQ(PasswordFile::parse("# nobody yet\n\n", "passwd").size(), 0u);
}

TEST(PasswordFile, TheLastLineOfAUserWins) {
  const PasswordHash first = PasswordHash::make("first", 3);
  const PasswordHash second = PasswordHash::make("second", 4);
  const PasswordFile file = PasswordFile::parse(
      "dave:" + first.encode() + "\nbob:" + hash_of(bob_line) + "\ndave:" + second.encode() + "\n", "passwd");
  EXPECT_EQ(file.size(), 2u);
  EXPECT_EQ(file.check("dave", "second"), Check::ok);
  EXPECT_EQ(file.check("dave", "first"), Check::wrong_password);
  ASSERT_NE(file.find("dave"), nullptr);
  EXPECT_EQ(*file.find("dave"), second);
}

TEST(PasswordFile, CheckAnswers) {
  const PasswordFile file = PasswordFile::parse(std::string(bob_line) + "\n", "passwd");
  EXPECT_EQ(file.check("bob", std::string("secret word")), Check::ok);
  EXPECT_EQ(file.check("bob", std::nullopt), Check::no_password);
  EXPECT_EQ(file.check("bob", std::string("secret")), Check::wrong_password);
  EXPECT_EQ(file.check("Bob", std::string("secret word")), Check::unknown_user);  // usernames are case-sensitive
  EXPECT_EQ(file.check("eve", std::nullopt), Check::unknown_user);
  EXPECT_EQ(file.check("", std::string("secret word")), Check::unknown_user);
}

// Each row: the file's text and the whole message, "FILE:LINE: reason".
struct BadFile {
  std::string text;
  std::string message;
};

TEST(PasswordFile, EveryUnusableLineIsAnErrorNamingFileAndLine) {
  const std::string s = salt64;
  const std::string d = digest64;
  const std::string ok = std::string(bob_line) + "\n";
  const std::vector<BadFile> rows = {
      {"alice\n", "passwd:1: expected USERNAME:HASH"},
      {"# comment\n\n" + ok + "alice $7$101$" + s + "$" + d + "\n", "passwd:4: expected USERNAME:HASH"},
      {":$7$101$" + s + "$" + d + "\n", "passwd:1: empty username"},
      {"  \t:$7$101$" + s + "$" + d + "\n", "passwd:1: empty username"},
      {std::string(65536, 'u') + ":$7$101$" + s + "$" + d + "\n", "passwd:1: username longer than 65535 bytes"},
      {std::string("al\0ce:$7$101$", 13) + s + "$" + d + "\n", "passwd:1: the line contains a NUL byte"},
      {"alice:\n", "passwd:1: user 'alice' has no password hash"},
      {"alice:  \t\r\n", "passwd:1: user 'alice' has no password hash"},
      {ok + "alice:secret\n",
       "passwd:2: user 'alice' has a plain-text password: hash the file with `tern passwd -U passwd`"},
      {"alice:$secret\n",
       "passwd:1: user 'alice' has a plain-text password: hash the file with `tern passwd -U passwd`"},
      {"alice:$5$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': unsupported hash type '$5$' (Tern reads $7$, "
       "PBKDF2-SHA512, and $6$, SHA-512)"},
      {"alice:$argon2id$v=19$m=65536$x$y\n",
       "passwd:1: invalid password hash for user 'alice': unsupported hash type '$argon2id$' (Tern reads $7$, "
       "PBKDF2-SHA512, and $6$, SHA-512)"},
      {"alice:$7$101$" + s + "\n",
       "passwd:1: invalid password hash for user 'alice': expected $7$ITERATIONS$SALT$DIGEST"},
      {"alice:$7$101$" + s + "$" + d + "$\n",
       "passwd:1: invalid password hash for user 'alice': expected $7$ITERATIONS$SALT$DIGEST"},
      {"alice:$6$" + s + "\n", "passwd:1: invalid password hash for user 'alice': expected $6$SALT$DIGEST"},
      {"alice:$6$101$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': expected $6$SALT$DIGEST"},
      {"alice:$7$0$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': invalid iteration count '0': expected 1 to 2147483647"},
      {"alice:$7$2147483648$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': invalid iteration count '2147483648': expected 1 to "
       "2147483647"},
      {"alice:$7$-1$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': invalid iteration count '-1': expected 1 to 2147483647"},
      {"alice:$7$10x$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': invalid iteration count '10x': expected 1 to 2147483647"},
      {"alice:$7$$" + s + "$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': invalid iteration count '': expected 1 to 2147483647"},
      {"alice:$7$101$nKt4k3/Eh0CW6bV*$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': the salt is not base64"},
      {"alice:$7$101$AAECAwQFBgcICQo=$" + d + "\n",
       "passwd:1: invalid password hash for user 'alice': the salt is 11 bytes, expected 12"},
      {"alice:$7$101$" + s + "$" + d.substr(1) + "\n",
       "passwd:1: invalid password hash for user 'alice': the digest is not base64"},
      {"alice:$6$" + s + "$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+\n",
       "passwd:1: invalid password hash for user 'alice': the digest is 63 bytes, expected 64"},
      {"alice:$7$101$" + s + "$" + d + ":extra\n",
       "passwd:1: invalid password hash for user 'alice': the digest is not base64"},
  };
  for (const BadFile& row : rows) {
    SCOPED_TRACE(row.message);
    try {
      PasswordFile::parse(row.text, "passwd");
      ADD_FAILURE() << "parsed";
    } catch (const AuthFileError& e) {
      EXPECT_EQ(std::string(e.what()), row.message);
    }
  }
}

TEST(PasswordFile, LoadNamesThePathInMessages) {
  TempDir dir;
  const std::string path = dir.file("passwd");
  test::write_file(path, std::string(bob_line) + "\nalice:plain\n");
  try {
    PasswordFile::load(path);
    ADD_FAILURE() << "loaded";
  } catch (const AuthFileError& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ":2: user 'alice' has a plain-text password: hash the file with `tern passwd -U " + path + "`");
  }
  try {
    PasswordFile::load(dir.file("missing"));
    ADD_FAILURE() << "loaded";
  } catch (const AuthFileError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read " + dir.file("missing") + ": No such file or directory");
  }
  test::write_file(path, std::string(bob_line) + "\n");
  EXPECT_EQ(PasswordFile::load(path).check("bob", "secret word"), Check::ok);
}

TEST(PasswordHash, MakeUsesAFreshSaltAndTheIterationsAsked) {
  const PasswordHash a = PasswordHash::make("right");
  const PasswordHash b = PasswordHash::make("right");
  EXPECT_EQ(a.kind, PasswordHash::Kind::pbkdf2_sha512);
  EXPECT_EQ(a.iterations, 101u);
  EXPECT_EQ(a.salt.size(), 12u);
  EXPECT_EQ(a.digest.size(), 64u);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.digest, b.digest);
  EXPECT_TRUE(a.matches("right"));
  EXPECT_TRUE(b.matches("right"));
  EXPECT_FALSE(a.matches("wrong"));
  EXPECT_EQ(PasswordHash::make("x", 7).iterations, 7u);
  EXPECT_THROW(PasswordHash::make("x", 0), std::invalid_argument);

  const PasswordHash old = PasswordHash::make_sha512("right");
  EXPECT_EQ(old.kind, PasswordHash::Kind::sha512);
  EXPECT_EQ(old.salt.size(), 12u);
  EXPECT_TRUE(old.matches("right"));
  EXPECT_FALSE(old.matches("Right"));
}

TEST(PasswordHash, EncodeAndDecodeRoundTrip) {
  for (const PasswordHash& hash :
       {PasswordHash::make("pw", 101), PasswordHash::make("pw", 12345), PasswordHash::make_sha512("pw")}) {
    const std::string text = hash.encode();
    EXPECT_EQ(text.substr(0, 3), hash.kind == PasswordHash::Kind::sha512 ? "$6$" : "$7$");
    std::string error;
    const auto decoded = PasswordHash::decode(text, error);
    ASSERT_TRUE(decoded.has_value()) << error;
    EXPECT_EQ(*decoded, hash);
    EXPECT_TRUE(decoded->matches("pw"));
  }
  std::string error;
  EXPECT_FALSE(PasswordHash::decode("plain", error).has_value());
  EXPECT_EQ(error, "expected $7$ITERATIONS$SALT$DIGEST or $6$SALT$DIGEST");
}

// Debian's mosquitto_passwd writes the files; Tern must read them as mosquitto does.
TEST(PasswordFile, ReadsFilesWrittenByTheRealMosquittoPasswd) {
  const std::string tool = "/usr/bin/mosquitto_passwd";
  ASSERT_EQ(::access(tool.c_str(), X_OK), 0)
      << tool << " is missing: install Debian's package `mosquitto` (scripts/install-deps.sh test)";
  TempDir dir;
  const std::string path = dir.file("passwd");
  ASSERT_EQ(test::run_program({tool, "-c", "-b", path, "alice", "right horse"}), 0);
  ASSERT_EQ(test::run_program({tool, "-H", "sha512", "-b", path, "bob", "battery:staple"}), 0);
  ASSERT_EQ(test::run_program({tool, "-I", "7", "-b", path, "carol", "x"}), 0);

  const PasswordFile file = PasswordFile::load(path);
  EXPECT_EQ(file.size(), 3u);
  EXPECT_EQ(file.check("alice", "right horse"), Check::ok);
  EXPECT_EQ(file.check("alice", "wrong horse"), Check::wrong_password);
  EXPECT_EQ(file.check("bob", "battery:staple"), Check::ok);
  EXPECT_EQ(file.check("bob", "battery"), Check::wrong_password);
  EXPECT_EQ(file.check("carol", "x"), Check::ok);
  EXPECT_EQ(file.check("carol", "y"), Check::wrong_password);
  ASSERT_NE(file.find("alice"), nullptr);
  EXPECT_EQ(file.find("alice")->kind, PasswordHash::Kind::pbkdf2_sha512);
  EXPECT_EQ(file.find("alice")->iterations, 101u);
  ASSERT_NE(file.find("bob"), nullptr);
  EXPECT_EQ(file.find("bob")->kind, PasswordHash::Kind::sha512);
  ASSERT_NE(file.find("carol"), nullptr);
  EXPECT_EQ(file.find("carol")->iterations, 7u);
}

}  // namespace
}  // namespace tern::auth
