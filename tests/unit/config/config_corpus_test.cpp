// Configurations in the forms people run mosquitto with (tests/unit/config/corpus/, each file names where its form
// comes from), and Debian's stock file with its conf.d layout, loaded unchanged. The files name paths that need not
// exist: parsing reads only include_dir; the password, ACL and certificate files are read when the broker starts
// (tests/integration/23_operations_test.cpp starts some of these).
#include "broker/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "platform/text_file.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using platform::LogLevel;
using Dest = platform::LogSettings::Dest;

const std::string kCorpus = std::string(TERN_SOURCE_DIR) + "/tests/unit/config/corpus/";

Config load(const std::string& name) { return load_config_file(kCorpus + name); }

std::size_t warnings(const Config& c) {
  std::size_t n = 0;
  for (const auto& note : c.notes) n += note.level == LogLevel::warning ? 1 : 0;
  return n;
}

TEST(ConfigCorpus, EclipseMosquittoDockerImage) {
  const auto c = load("eclipse-mosquitto-docker.conf");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].port, 1883);
  EXPECT_EQ(c.listeners[0].bind_address, "");
  EXPECT_TRUE(c.broker.allow_anonymous);
  EXPECT_TRUE(c.persistence.enabled);
  EXPECT_EQ(c.persistence.location, "/mosquitto/data/");
  EXPECT_EQ(c.log.dests, Dest::file);
  EXPECT_EQ(c.log.file, "/mosquitto/log/mosquitto.log");
  EXPECT_TRUE(c.notes.empty());

  const auto open = load("eclipse-mosquitto-docker-no-auth.conf");
  ASSERT_EQ(open.listeners.size(), 1u);
  EXPECT_TRUE(open.broker.allow_anonymous);
  EXPECT_TRUE(open.notes.empty());
}

TEST(ConfigCorpus, Zigbee2MqttGuide) {
  const auto c = load("zigbee2mqtt-guide.conf");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_FALSE(c.broker.allow_anonymous);
  EXPECT_EQ(c.security.password_file, "/mosquitto/config/password.txt");
  EXPECT_TRUE(c.notes.empty());
}

TEST(ConfigCorpus, TlsAndPasswords) {
  const auto c = load("tls-password.conf");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].bind_address, "localhost");
  EXPECT_FALSE(c.listeners[0].tls.enabled());
  EXPECT_EQ(c.listeners[1].port, 8883);
  EXPECT_TRUE(c.listeners[1].tls.enabled());
  EXPECT_EQ(c.listeners[1].tls.cafile, "/etc/mosquitto/ca_certificates/ca.crt");
  EXPECT_EQ(c.security.password_file, "/etc/mosquitto/passwd");
  EXPECT_EQ(c.security.acl_file, "/etc/mosquitto/acl");
  EXPECT_EQ(c.log.timestamp_format, "%Y-%m-%dT%H:%M:%S");
  EXPECT_TRUE(c.notes.empty());
}

TEST(ConfigCorpus, Mosquitto1xStyle) {
  const auto c = load("mosquitto-1x-style.conf");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].port, 8883);  // the file's listener first, then the default listener, as mosquitto
  EXPECT_TRUE(c.listeners[0].tls.enabled());
  EXPECT_EQ(c.listeners[1].port, 1883);
  EXPECT_EQ(c.listeners[1].bind_address, "");
  EXPECT_FALSE(c.listeners[1].tls.enabled());
  EXPECT_EQ(c.user, "mosquitto");
  EXPECT_EQ(c.log.dests, Dest::syslog);
  EXPECT_EQ(c.log.syslog_facility, 5);
  EXPECT_EQ(c.sys_interval, 10u);
  // Each directive Tern cannot honour says so, with its line: allow_duplicate_messages, autosave_on_changes (a
  // note), dhparamfile, ciphers_tls1.3.
  ASSERT_EQ(c.notes.size(), 4u);
  EXPECT_EQ(warnings(c), 3u);
  EXPECT_THAT(c.notes[3].text, HasSubstr("ciphers_tls1.3 has no effect"));
}

// The Home Assistant add-on's file loads unchanged: MQTT and WebSocket listeners, each plain and with TLS (the
// plugin is ignored with a warning and, having no password_file beside it, every username is refused rather than
// let in).
TEST(ConfigCorpus, HomeAssistantAddon) {
  const auto c = load("home-assistant-addon.conf");
  ASSERT_EQ(c.listeners.size(), 4u);
  using Protocol = ListenerConfig::Protocol;
  EXPECT_EQ(c.listeners[0].protocol, Protocol::mqtt);
  EXPECT_EQ(c.listeners[1].protocol, Protocol::websockets);
  EXPECT_EQ(c.listeners[1].port, 1884);
  EXPECT_FALSE(c.listeners[1].tls.enabled());
  EXPECT_EQ(c.listeners[2].protocol, Protocol::mqtt);
  EXPECT_TRUE(c.listeners[2].tls.enabled());
  EXPECT_EQ(c.listeners[3].protocol, Protocol::websockets);
  EXPECT_TRUE(c.listeners[3].tls.enabled());  // wss://
  EXPECT_EQ(c.listeners[3].websockets.headers_size, 4096u);
  EXPECT_FALSE(c.broker.allow_anonymous);
  EXPECT_FALSE(c.log.timestamp);
  EXPECT_EQ(c.log.dests, Dest::stdout_);
  EXPECT_EQ(c.security.password_file, "/dev/null");
  ASSERT_EQ(c.notes.size(), 2u);
  EXPECT_THAT(c.notes[0].text, HasSubstr(":21: plugin /usr/share/mosquitto/go-auth.so: Tern cannot load"));
  EXPECT_THAT(c.notes[1].text, HasSubstr("every client with a username is refused"));
}

// Debian's /etc/mosquitto/mosquitto.conf unchanged, with conf.d holding Debian's README and a local.conf of the kind
// its first line asks for; include_dir is pointed at a copy of that layout.
TEST(ConfigCorpus, DebianStockWithConfD) {
  const std::string stock = "/etc/mosquitto/mosquitto.conf";
  ASSERT_TRUE(std::filesystem::exists(stock)) << stock << " is missing: scripts/install-deps.sh test installs mosquitto";
  std::string error;
  auto text = platform::read_whole_file(stock, error);
  ASSERT_TRUE(text) << error;
  testsupport::TempDir dir("tern-debian");
  const auto conf_d = dir / "conf.d";
  std::filesystem::create_directories(conf_d);
  std::ofstream(conf_d / "README") << "Any files placed in this directory must end with .conf\n";
  std::ofstream(conf_d / "local.conf") << "listener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n"
                                          "listener 8883\ncertfile /etc/mosquitto/certs/server.crt\n"
                                          "keyfile /etc/mosquitto/certs/server.key\n";
  const std::string include = "include_dir /etc/mosquitto/conf.d";
  const auto at = text->find(include);
  ASSERT_NE(at, std::string::npos) << *text;
  text->replace(at, include.size(), "include_dir " + conf_d.string());
  std::ofstream(dir / "mosquitto.conf") << *text;
  const auto c = load_config_file(dir.file("mosquitto.conf"));
  EXPECT_EQ(c.pid_file, "/run/mosquitto/mosquitto.pid");
  EXPECT_TRUE(c.persistence.enabled);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_TRUE(c.listeners[1].tls.enabled());
  EXPECT_EQ(c.security.password_file, "/etc/mosquitto/passwd");
  EXPECT_TRUE(c.notes.empty());
}

// Debian's example file (mosquitto's full mosquitto.conf, every directive commented out): local only mode.
TEST(ConfigCorpus, DebianExampleFile) {
  const std::string example = "/usr/share/doc/mosquitto/examples/mosquitto.conf";
  ASSERT_TRUE(std::filesystem::exists(example)) << example << " is missing (Debian's mosquitto package)";
  const auto c = load_config_file(example);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].bind_address, "127.0.0.1");
}

}  // namespace
}  // namespace tern
