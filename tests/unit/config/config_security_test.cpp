// The security directives: allow_anonymous, password_file, acl_file, per_listener_settings, the client id rules,
// psk_file per listener and use_subject_as_username. The files they name are read at start-up (tests/unit/auth,
// tests/integration/22_auth_test.cpp).
#include <gtest/gtest.h>

#include <string>

#include "broker/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

constexpr const char* kName = "tern.conf";

std::string error_of(const std::string& text) { return testing::config_error_of(text); }

TEST(ConfigSecurity, GlobalSettingsApplyToEveryListener) {
  const auto c = parse_config(
      "password_file /etc/tern/pass words\nacl_file /etc/tern/acl\nlistener 1883\nlistener 8883\n", kName);
  EXPECT_FALSE(c.per_listener_settings);
  EXPECT_EQ(c.security.password_file, "/etc/tern/pass words");  // the rest of the line, as mosquitto
  EXPECT_EQ(c.security.acl_file, "/etc/tern/acl");
  EXPECT_FALSE(c.security.allow_anonymous);  // listeners configured: refused unless allowed
  for (const auto& l : c.listeners) {
    EXPECT_FALSE(l.security.has_value());
    EXPECT_EQ(&c.security_of(l), &c.security);
  }
  const auto local = parse_config("password_file /p\n", kName);  // local only mode: anonymous allowed
  EXPECT_TRUE(local.security.allow_anonymous);
  EXPECT_EQ(local.security.password_file, "/p");
}

TEST(ConfigSecurity, PerListenerSettings) {
  const auto c = parse_config(
      "per_listener_settings true\nlistener 1883\nallow_anonymous true\n"
      "listener 8883\npassword_file /p\nacl_file /a\n",
      kName);
  ASSERT_TRUE(c.per_listener_settings);
  ASSERT_EQ(c.listeners.size(), 2u);
  ASSERT_TRUE(c.listeners[0].security && c.listeners[1].security);
  EXPECT_TRUE(c.listeners[0].security->allow_anonymous);
  EXPECT_EQ(c.listeners[0].security->password_file, "");
  EXPECT_FALSE(c.listeners[1].security->allow_anonymous);
  EXPECT_EQ(c.listeners[1].security->password_file, "/p");
  EXPECT_EQ(c.listeners[1].security->acl_file, "/a");
  EXPECT_EQ(c.security_of(c.listeners[1]).acl_file, "/a");

  EXPECT_EQ(error_of("listener 1883\nper_listener_settings true\n"),
            "tern.conf:2: per_listener_settings must come before the first listener");
  EXPECT_EQ(error_of("\nacl_file /a\nper_listener_settings true\n"),
            "tern.conf:3: per_listener_settings must come before acl_file (line 2)");
  EXPECT_EQ(error_of("per_listener_settings true\npassword_file /p\n"),
            "tern.conf:2: password_file applies to a listener when per_listener_settings is true, and must follow a "
            "'listener' line");
}

TEST(ConfigSecurity, PskFilePerListener) {
  const auto global = parse_config(
      "psk_file /keys\nlistener 8883\npsk_hint a\nlistener 8884\npsk_hint b\n", kName);
  EXPECT_EQ(global.listeners[0].tls.psk_file, "/keys");
  EXPECT_EQ(global.listeners[1].tls.psk_file, "/keys");
  const auto own = parse_config(
      "per_listener_settings true\nlistener 8883\npsk_hint a\npsk_file /a-keys\nlistener 8884\npsk_hint b\n"
      "psk_file /b-keys\n",
      kName);
  EXPECT_EQ(own.listeners[0].tls.psk_file, "/a-keys");
  EXPECT_EQ(own.listeners[1].tls.psk_file, "/b-keys");
  EXPECT_EQ(error_of("per_listener_settings true\nlistener 8883\npsk_hint a\nlistener 8884\npsk_hint b\n"
                     "psk_file /b-keys\n"),
            "tern.conf:2: listener 8883: psk_hint is set but no psk_file is configured");
}

TEST(ConfigSecurity, SubjectAsUsername) {
  const auto c = parse_config(
      "listener 8883\ncertfile /c\nkeyfile /k\ncafile /ca\nrequire_certificate true\n"
      "use_subject_as_username true\n",
      kName);
  EXPECT_TRUE(c.listeners[0].tls.use_subject_as_username);
  EXPECT_EQ(error_of("listener 8883\ncertfile /c\nkeyfile /k\nuse_subject_as_username true\n"),
            "tern.conf:1: listener 8883: use_subject_as_username needs require_certificate true");
}

TEST(ConfigSecurity, ClientIdRules) {
  const auto c = parse_config(
      "allow_zero_length_clientid false\nauto_id_prefix gw1-\nuse_username_as_clientid true\n"
      "clientid_prefixes sensor-\n",
      kName);
  EXPECT_FALSE(c.security.allow_zero_length_clientid);
  EXPECT_EQ(c.security.auto_id_prefix, "gw1-");
  EXPECT_TRUE(c.security.use_username_as_clientid);
  EXPECT_EQ(c.security.clientid_prefixes, "sensor-");
  const auto d = parse_config("", kName);
  EXPECT_TRUE(d.security.allow_zero_length_clientid);
  EXPECT_EQ(d.security.auto_id_prefix, "auto-");
  EXPECT_FALSE(d.security.use_username_as_clientid);
  EXPECT_EQ(d.security.clientid_prefixes, "");
  EXPECT_EQ(error_of("auto_id_prefix " + std::string(33, 'x') + "\n"),
            "tern.conf:1: auto_id_prefix: expected at most 32 characters, got '" + std::string(33, 'x') + "'");
}

}  // namespace
}  // namespace tern
