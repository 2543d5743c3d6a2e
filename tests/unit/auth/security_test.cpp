// ListenerSecurity (the verdict on a CONNECT, client id rules, what a reload keeps) and LoginThrottle (the delays
// after failed logins), without sockets: files in a temporary directory, time as an argument.
#include "broker/auth/security.hpp"

#include <gtest/gtest.h>

#include "broker/auth/login_throttle.hpp"
#include "tests/unit/auth/password_test_support.hpp"

namespace tern::auth {
namespace {

using core::Authentication;
using Result = Authentication::Result;
using test::TempDir;
using namespace std::chrono_literals;

std::string password_line(const std::string& user, const std::string& password) {
  return user + ":" + PasswordHash::make(password, 1).encode() + "\n";
}

class SecurityTest : public ::testing::Test {
 protected:
  SecuritySettings with_passwords(const std::string& text) {
    test::write_file(dir.file("passwd"), text);
    SecuritySettings s;
    s.password_file = (dir.path() / "passwd").string();
    return s;
  }
  TempDir dir;
};

TEST_F(SecurityTest, AnonymousOnlyWhenAllowed) {
  SecuritySettings s;
  EXPECT_EQ(ListenerSecurity::load(s)->authenticate("c", std::nullopt, std::nullopt, false).result,
            Result::not_authorized);
  s.allow_anonymous = true;
  EXPECT_EQ(ListenerSecurity::load(s)->authenticate("c", std::nullopt, std::nullopt, false).result, Result::accepted);
  // Without a password file any username is accepted, as mosquitto.
  s.allow_anonymous = false;
  const auto a = ListenerSecurity::load(s)->authenticate("c", "anyone", "anything", false);
  EXPECT_EQ(a.result, Result::accepted);
  EXPECT_FALSE(a.password_checked);
}

TEST_F(SecurityTest, PasswordsChecked) {
  const auto security = ListenerSecurity::load(with_passwords(password_line("alice", "secret")));
  const auto ok = security->authenticate("c", "alice", "secret", false);
  EXPECT_EQ(ok.result, Result::accepted);
  EXPECT_TRUE(ok.password_checked);
  EXPECT_EQ(ok.username, "alice");
  for (const auto& [user, password, reason] :
       {std::tuple<std::string, std::optional<std::string>, std::string>{"alice", "wrong", "wrong password"},
        {"alice", std::nullopt, "no password given"},
        {"bob", "secret", "unknown username"}}) {
    const auto a = security->authenticate("c", user, password, false);
    EXPECT_EQ(a.result, Result::bad_credentials) << user;
    EXPECT_EQ(a.reason, reason);
  }
  // A certificate or PSK identity is not checked against the password file (as mosquitto).
  EXPECT_EQ(security->authenticate("c", "device-cn", std::nullopt, true).result, Result::accepted);
}

TEST_F(SecurityTest, ClientIdRules) {
  SecuritySettings s;
  s.allow_anonymous = true;
  s.allow_zero_length_clientid = false;
  EXPECT_EQ(ListenerSecurity::load(s)->authenticate("", std::nullopt, std::nullopt, false).result,
            Result::client_id_not_valid);
  s.allow_zero_length_clientid = true;
  s.auto_id_prefix = "gw-";
  EXPECT_EQ(ListenerSecurity::load(s)->authenticate("", std::nullopt, std::nullopt, false).auto_id_prefix, "gw-");

  s.clientid_prefixes = "sensor-";
  const auto prefixed = ListenerSecurity::load(s);
  EXPECT_EQ(prefixed->authenticate("sensor-1", std::nullopt, std::nullopt, false).result, Result::accepted);
  EXPECT_EQ(prefixed->authenticate("camera-1", std::nullopt, std::nullopt, false).result, Result::not_authorized);
  EXPECT_EQ(prefixed->authenticate("", std::nullopt, std::nullopt, false).result, Result::not_authorized)
      << "the id it would be given (gw-...) does not begin with sensor-";

  s.clientid_prefixes.clear();
  s.use_username_as_clientid = true;
  const auto by_name = ListenerSecurity::load(s);
  EXPECT_EQ(by_name->authenticate("whatever", "alice", std::nullopt, false).client_id, "alice");
  EXPECT_EQ(by_name->authenticate("whatever", std::nullopt, std::nullopt, false).result, Result::not_authorized);
}

TEST_F(SecurityTest, ReloadKeepsOnlyUnchangedCredentials) {
  const std::string alice = password_line("alice", "a"), bob = password_line("bob", "b");
  const auto before = ListenerSecurity::load(with_passwords(alice + bob));
  const auto same = ListenerSecurity::load(with_passwords(alice + bob));
  EXPECT_TRUE(same->still_accepts(*before, "alice", true));
  const auto bob_gone = ListenerSecurity::load(with_passwords(alice));
  EXPECT_FALSE(bob_gone->still_accepts(*before, "bob", true));
  EXPECT_TRUE(bob_gone->still_accepts(*before, "alice", true));
  const auto bob_changed = ListenerSecurity::load(with_passwords(alice + password_line("bob", "b")));  // new salt
  EXPECT_FALSE(bob_changed->still_accepts(*before, "bob", true));
  // Certificate identities do not depend on the file; anonymous clients on allow_anonymous.
  EXPECT_TRUE(bob_gone->still_accepts(*before, "bob", false));
  EXPECT_FALSE(bob_gone->still_accepts(*before, std::nullopt, false));
  SecuritySettings open;
  open.allow_anonymous = true;
  EXPECT_TRUE(ListenerSecurity::load(open)->still_accepts(*before, std::nullopt, false));
}

TEST_F(SecurityTest, BadFilesNameFileAndLine) {
  test::write_file(dir.file("acl"), "topic read a/#\nuser\n");
  SecuritySettings s;
  s.acl_file = (dir.path() / "acl").string();
  try {
    ListenerSecurity::load(s);
    FAIL() << "a broken ACL file was accepted";
  } catch (const AuthFileError& e) {
    EXPECT_NE(std::string(e.what()).find(s.acl_file + ":2:"), std::string::npos) << e.what();
  }
  s.acl_file = (dir.path() / "missing").string();
  EXPECT_THROW(ListenerSecurity::load(s), AuthFileError);
}

TEST_F(SecurityTest, AclAnswersThroughThePolicy) {
  test::write_file(dir.file("acl"), "user alice\ntopic readwrite a/#\n");
  SecuritySettings s;
  s.acl_file = (dir.path() / "acl").string();
  const auto security = ListenerSecurity::load(s);
  const auto rights = security->client("c", "alice");
  ASSERT_NE(rights, nullptr);
  EXPECT_TRUE(rights->may_read("a/b"));
  EXPECT_FALSE(rights->may_read("b"));
  EXPECT_EQ(ListenerSecurity::load(SecuritySettings{})->client("c", "alice"), nullptr) << "no ACL: no checks";
}

TEST(LoginThrottle, DelaysGrowPerAddressAndReset) {
  LoginThrottle t;
  const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
  const std::chrono::milliseconds expected[] = {0ms, 250ms, 500ms, 1000ms, 2000ms, 4000ms, 4000ms, 4000ms};
  for (auto want : expected) EXPECT_EQ(t.failed("192.0.2.1", t0), want);
  EXPECT_EQ(t.failed("192.0.2.2", t0), 0ms) << "another address starts at 0";
  EXPECT_EQ(t.failed("192.0.2.1", t0 + LoginThrottle::forget_after + 1s), 0ms) << "forgotten after a quiet minute";
  EXPECT_EQ(t.failed("192.0.2.1", t0 + LoginThrottle::forget_after + 2s), 250ms);
}

TEST(LoginThrottle, MemoryIsBounded) {
  LoginThrottle t;
  const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
  for (std::size_t i = 0; i < LoginThrottle::max_addresses + 10; ++i) {
    t.failed("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), t0 + std::chrono::milliseconds(i));
  }
  // The newest address is still remembered (its second failure waits), the oldest was forgotten.
  const std::size_t last = LoginThrottle::max_addresses + 9;
  const auto t1 = t0 + std::chrono::milliseconds(last + 1);
  EXPECT_EQ(t.failed("10.0." + std::to_string(last / 256) + "." + std::to_string(last % 256), t1), 250ms);
  EXPECT_EQ(t.failed("10.0.0.0", t1), 0ms);
}

}  // namespace
}  // namespace tern::auth
