// The TLS session resumption directives (config_tls.cpp): defaults, values per listener, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "broker/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace tern {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string error_of(const std::string& text) { return testing::config_error_of(text); }

const std::string kTls = "listener 8883\ncertfile a\nkeyfile b\n";

TEST(ConfigTlsSession, DefaultsAreOn) {
  const Config c = parse_config(kTls, "tern.conf");
  ASSERT_EQ(c.listeners.size(), 1u);
  const tls::ResumptionSettings& r = c.listeners[0].tls.resumption;
  EXPECT_TRUE(r.tickets);
  EXPECT_EQ(r.cache_size, 1000);
  EXPECT_EQ(r.lifetime, 86400u);
  EXPECT_TRUE(r.ticket_key_file.empty());
  EXPECT_TRUE(r.enabled());
}

TEST(ConfigTlsSession, ValuesPerListener) {
  const Config c = parse_config(kTls +
                                    "tls_session_tickets false\n"
                                    "tls_session_cache_size 0\n"
                                    "listener 8884\ncertfile a\nkeyfile b\n"
                                    "tls_session_cache_size 64\n"
                                    "tls_session_lifetime 3600\n"
                                    "tls_session_ticket_key_file /var/lib/tern/tickets 8884.key\n"
                                    "listener 8885\npsk_hint h\npsk_file /etc/tern/psk\n",
                                "tern.conf");
  ASSERT_EQ(c.listeners.size(), 3u);
  const tls::ResumptionSettings& off = c.listeners[0].tls.resumption;
  EXPECT_FALSE(off.tickets);
  EXPECT_EQ(off.cache_size, 0);
  EXPECT_FALSE(off.enabled());
  const tls::ResumptionSettings& set = c.listeners[1].tls.resumption;
  EXPECT_TRUE(set.tickets);
  EXPECT_EQ(set.cache_size, 64);
  EXPECT_EQ(set.lifetime, 3600u);
  EXPECT_EQ(set.ticket_key_file, "/var/lib/tern/tickets 8884.key");     // a path is the rest of the line
  EXPECT_EQ(c.listeners[2].tls.resumption, tls::ResumptionSettings{});  // the next listener has the defaults
}

TEST(ConfigTlsSession, BadValues) {
  EXPECT_EQ(error_of(kTls + "tls_session_tickets yes\n"),
            "tern.conf:4: tls_session_tickets: expected true or false, got 'yes'");
  EXPECT_EQ(error_of(kTls + "tls_session_cache_size -1\n"),
            "tern.conf:4: tls_session_cache_size: expected an integer from 0 to 10000, got '-1'");
  EXPECT_EQ(error_of(kTls + "tls_session_cache_size 10001\n"),
            "tern.conf:4: tls_session_cache_size: expected an integer from 0 to 10000, got '10001'");
  EXPECT_EQ(error_of(kTls + "tls_session_cache_size 10k\n"),
            "tern.conf:4: tls_session_cache_size: expected an integer from 0 to 10000, got '10k'");
  EXPECT_EQ(error_of(kTls + "tls_session_lifetime 0\n"),
            "tern.conf:4: tls_session_lifetime: expected an integer from 1 to 604800, got '0'");
  EXPECT_EQ(error_of(kTls + "tls_session_lifetime 604801\n"),
            "tern.conf:4: tls_session_lifetime: expected an integer from 1 to 604800, got '604801'");
  EXPECT_THAT(error_of(kTls + "tls_session_tickets true false\n"),
              StartsWith("tern.conf:4: tls_session_tickets: unexpected 'false' after the value"));
  EXPECT_EQ(error_of(kTls + "tls_session_tickets\n"), "tern.conf:4: missing value for tls_session_tickets");
}

TEST(ConfigTlsSession, OnlyOnTlsListeners) {
  EXPECT_THAT(error_of("listener 1883\ntls_session_cache_size 10\n"),
              HasSubstr("tern.conf:1: listener 1883: tls_session_tickets, tls_session_cache_size, "
                        "tls_session_lifetime and tls_session_ticket_key_file apply only to a TLS listener"));
  // Before the first listener line: mosquitto's default listener, which is plain here.
  EXPECT_THAT(error_of("tls_session_tickets false\nlistener 8883\ncertfile a\nkeyfile b\n"),
              HasSubstr("the default listener (port 1883, set before the first 'listener' line): tls_session_"));
}

TEST(ConfigTlsSession, KeyFileChecks) {
  EXPECT_THAT(error_of(kTls + "tls_session_tickets false\ntls_session_ticket_key_file /k\n"),
              HasSubstr("tern.conf:1: listener 8883: tls_session_ticket_key_file is set but tls_session_tickets is "
                        "false"));
  EXPECT_THAT(error_of(kTls + "tls_session_ticket_key_file /k\nlistener 8884\ncertfile a\nkeyfile b\n"
                              "tls_session_ticket_key_file /k\n"),
              HasSubstr("tern.conf:5: listener 8884: tls_session_ticket_key_file /k is already another listener's"));
}

}  // namespace
}  // namespace tern
