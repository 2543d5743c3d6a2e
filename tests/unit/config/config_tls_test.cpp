// The TLS directives: values, scope and the checks made once a listener section is complete. The files they name
// are only read at start-up (tests/unit/tls, tests/integration/16_tls_test.cpp).
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

TEST(ConfigTls, MixedListeners) {
  const Config c = parse_config(
      "psk_file /etc/tern/psk.txt\n"
      "listener 1883\n"
      "listener 8883\n"
      "certfile /etc/tern/my server.crt\n"  // paths are the rest of the line
      "keyfile /etc/tern/server.key\n"
      "cafile /etc/tern/ca.crt\n"
      "capath /etc/tern/ca.d\n"
      "crlfile /etc/tern/ca.crl\n"
      "require_certificate true\n"
      "use_identity_as_username true\n"
      "tls_version tlsv1.2\n"
      "ciphers TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256:TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256\n"
      "listener 8884\n"
      "psk_hint tern hint\n",
      "tern.conf");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_FALSE(c.listeners[0].tls.enabled());
  const TlsSettings& t = c.listeners[1].tls;
  EXPECT_TRUE(t.enabled());
  EXPECT_EQ(t.certfile, "/etc/tern/my server.crt");
  EXPECT_EQ(t.keyfile, "/etc/tern/server.key");
  EXPECT_EQ(t.cafile, "/etc/tern/ca.crt");
  EXPECT_EQ(t.capath, "/etc/tern/ca.d");
  EXPECT_EQ(t.crlfile, "/etc/tern/ca.crl");
  EXPECT_TRUE(t.require_certificate);
  EXPECT_TRUE(t.use_identity_as_username);
  EXPECT_EQ(t.tls_version, "tlsv1.2");
  EXPECT_EQ(t.ciphers, "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256:TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256");
  EXPECT_TRUE(t.psk_file.empty());  // no psk_hint on this one
  const TlsSettings& p = c.listeners[2].tls;
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(p.psk_hint, "tern hint");
  EXPECT_EQ(p.psk_file, "/etc/tern/psk.txt");  // the global psk_file, given before the listener
}

TEST(ConfigTls, VersionErrors) {
  const std::string head = "listener 8883\ncertfile a\nkeyfile b\n";
  EXPECT_THAT(error_of(head + "tls_version tlsv1.3\n"),
              StartsWith("tern.conf:4: tls_version tlsv1.3 is not supported: the mbedTLS 2.28"));
  EXPECT_EQ(error_of(head + "tls_version tlsv1.1\n"),
            "tern.conf:4: tls_version tlsv1.1 is refused as insecure; use tlsv1.2");
  EXPECT_EQ(error_of(head + "tls_version tls1.2\n"), "tern.conf:4: tls_version: expected tlsv1.2, got 'tls1.2'");
  EXPECT_EQ(error_of(head + "require_certificate yes\n"),
            "tern.conf:4: require_certificate: expected true or false, got 'yes'");
}

TEST(ConfigTls, ListenerChecksPointAtTheListenerLine) {
  EXPECT_EQ(error_of("listener 1883\nlistener 8883\ncertfile a\n"),
            "tern.conf:2: listener 8883: certfile is set but keyfile is not");
  EXPECT_EQ(error_of("listener 8883\nkeyfile b\n"), "tern.conf:1: listener 8883: keyfile is set but certfile is not");
  EXPECT_THAT(error_of("listener 1883\ncafile /ca.crt\n"),
              StartsWith("tern.conf:1: listener 1883: cafile, capath, crlfile, require_certificate"));
  EXPECT_EQ(error_of("listener 8883\ncertfile a\nkeyfile b\nrequire_certificate true\n"),
            "tern.conf:1: listener 8883: require_certificate needs cafile or capath to verify client certificates "
            "against");
  EXPECT_THAT(error_of("listener 8883\ncertfile a\nkeyfile b\nuse_identity_as_username true\n"),
              HasSubstr("use_identity_as_username needs require_certificate true"));
  EXPECT_EQ(error_of("listener 8883\npsk_hint x\n"),
            "tern.conf:1: listener 8883: psk_hint is set but no psk_file is configured");
  // Before the first listener line: mosquitto's default listener, named so.
  EXPECT_EQ(error_of("port 8883\ncertfile a\n"),
            "tern.conf:1: the default listener (port 8883, set before the first 'listener' line): certfile is set "
            "but keyfile is not");
}

}  // namespace
}  // namespace tern
