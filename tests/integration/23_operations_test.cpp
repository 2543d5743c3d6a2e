// mosquitto.conf's operational directives on the real broker: port and bind_address (the default listener),
// bind_interface, user, connection_messages, log_timestamp_format, the notes for directives Tern accepts but cannot
// honour, a plugin that fails closed, and configurations from tests/unit/config/corpus/ started as they are (with
// ports and paths rewritten to the test's own).
//
// These directives are Tern's reading of mosquitto's: with TERN_TEST_BROKER=mosquitto they are skipped, saying so.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/support/temp_dir.hpp"

namespace tern::itest {
namespace {

#define SKIP_FOR_MOSQUITTO() \
  if (testing_mosquitto()) GTEST_SKIP() << "checks Tern's handling of a mosquitto directive"

void expect_serves(std::uint16_t port) {
  RawClient sub(port, Version::v5);
  ASSERT_EQ(sub.connect("ops-sub").reason_code, ReasonCode::success);
  sub.subscribe("ops/#", QoS::at_least_once);
  publish_once(port, Version::v311, "ops/x", "served");
  EXPECT_EQ(sub.receive().payload, "served");
}

// The CONNACK code for `v5` as RawClient returns it (3.1.1 return codes are not mapped).
ReasonCode connack_code(Version v, ReasonCode v5, protocol::ConnackCode311 v311) {
  return v == Version::v5 ? v5 : static_cast<ReasonCode>(v311);
}

std::string start_failure(const std::vector<std::string>& config) {
  try {
    BrokerProcess broker(config);
  } catch (const HarnessError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the broker started";
  return {};
}

// The "Uid:" line of /proc/PID/status: real, effective, saved and file-system uid.
std::string uid_line(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("Uid:")) return line;
  }
  return {};
}

std::string read_pid(const std::string& pid_file) {
  std::string text;
  wait_until([&] {
    std::ifstream in(pid_file);
    return static_cast<bool>(std::getline(in, text)) && !text.empty();
  });
  return text;
}

TEST(Operations, PortAndBindAddressMakeTheDefaultListener) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"port 0", "bind_address 127.0.0.1"});
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u) << broker.log();  // the harness's listener, then the default listener
  expect_serves(ports[1]);
}

// accept_protocol_versions (mosquitto 2.1): a listener for 5.0 only refuses a 3.1.1 CONNECT with "unsupported
// protocol version" (0x01) and a 5.0 one with 0x84 on a 3.1.1-only listener; the harness's listener takes both.
TEST(Operations, AcceptProtocolVersions) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"listener 0 127.0.0.1", "accept_protocol_versions 5", "listener 0 127.0.0.1",
                        "accept_protocol_versions 3,4"});
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 3u) << broker.log();
  RawClient old_on_v5(ports[1], Version::v311);
  EXPECT_EQ(static_cast<int>(old_on_v5.connect("old").reason_code), 0x01);  // 3.1.1: unacceptable protocol version
  old_on_v5.expect_closed();
  RawClient v5_on_v5(ports[1], Version::v5);
  EXPECT_EQ(v5_on_v5.connect("new").reason_code, ReasonCode::success);
  RawClient v5_on_old(ports[2], Version::v5);
  EXPECT_EQ(v5_on_old.connect("new2").reason_code, ReasonCode::unsupported_protocol_version);
  RawClient old_on_old(ports[2], Version::v311);
  EXPECT_EQ(old_on_old.connect("old2").reason_code, ReasonCode::success);
  RawClient any(ports[0], Version::v311);
  EXPECT_EQ(any.connect("any").reason_code, ReasonCode::success);
  EXPECT_NE(broker.log().find("is not accepted on this listener (accept_protocol_versions)"), std::string::npos);
}

// A client cannot forge a log line: the newline in its client id is written escaped, on the line that names it.
TEST(Operations, ClientTextIsEscapedInTheLog) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker;
  RawClient evil(broker.port(), Version::v311);
  EXPECT_EQ(evil.connect("evil\n1796570562: Client admin connected\x1b[2J").reason_code, ReasonCode::success);
  evil.disconnect();
  ASSERT_TRUE(wait_until([&] { return broker.log().find("as evil\\x0a") != std::string::npos; })) << broker.log();
  EXPECT_NE(broker.log().find("as evil\\x0a1796570562: Client admin connected\\x1b[2J (p2"), std::string::npos);
  EXPECT_EQ(broker.log().find("\n1796570562: Client admin"), std::string::npos);
  EXPECT_EQ(broker.log().find('\x1b'), std::string::npos);
}

TEST(Operations, BindInterfaceLoopback) {
  SKIP_FOR_MOSQUITTO();
  // Linux >= 5.7 lets anyone bind an unbound socket to an interface; older kernels need CAP_NET_RAW, and then the
  // broker must refuse to start saying so.
  try {
    BrokerProcess broker({"listener 0 127.0.0.1", "bind_interface lo"});
    const auto ports = broker.ports();
    ASSERT_EQ(ports.size(), 2u);
    expect_serves(ports[1]);
  } catch (const HarnessError& e) {
    EXPECT_NE(std::string(e.what()).find("bind_interface lo: Operation not permitted (this kernel lets only root"),
              std::string::npos)
        << e.what();
  }
}

// A listener bound to another interface does not accept what arrives on the loopback.
TEST(Operations, BindInterfaceRefusesOtherInterfaces) {
  SKIP_FOR_MOSQUITTO();
  std::string other;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    if (entry.path().filename() != "lo") other = entry.path().filename().string();
  }
  if (other.empty()) GTEST_SKIP() << "this machine has no network interface besides lo";
  BrokerProcess broker({"listener 0 127.0.0.1", "bind_interface " + other});
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_THROW(RawClient(ports[1], Version::v5), HarnessError) << "connected through lo to a listener on " << other;
  expect_serves(ports[0]);
}

TEST(Operations, BindInterfaceUnknownStopsTheStart) {
  SKIP_FOR_MOSQUITTO();
  const auto error = start_failure({"listener 0 127.0.0.1", "bind_interface nosuch0"});
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:0: bind_interface nosuch0: no network interface of that name"),
            std::string::npos)
      << error;
}

// As root: the process runs as the user once it has started, and still serves. Not as root: the line is ignored,
// as in mosquitto.
TEST(Operations, UserDropsPrivileges) {
  SKIP_FOR_MOSQUITTO();
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "no user nobody on this machine";
  const std::string nobody_uid = std::to_string(nobody->pw_uid);
  testsupport::TempDir dir("tern-user");
  const std::string pid_file = dir.file("tern.pid");
  BrokerProcess broker({"user nobody", "pid_file " + pid_file});
  const std::string pid = read_pid(pid_file);
  ASSERT_FALSE(pid.empty()) << broker.log();
  std::string uid = uid_line(pid);
  if (::geteuid() == 0) {
    // The drop follows the pid file: wait for it.
    const std::string expected = "Uid:\t" + nobody_uid + '\t' + nobody_uid + '\t' + nobody_uid + '\t' + nobody_uid;
    wait_until([&] { return (uid = uid_line(pid)) == expected; });
    EXPECT_EQ(uid, expected) << uid;
    // The line comes after the pid file (the drop follows opening it).
    EXPECT_TRUE(wait_until([&] { return broker.log_count("running as user nobody (uid " + nobody_uid) == 1; }))
        << broker.log();
  } else {
    const std::string me = std::to_string(::geteuid());
    EXPECT_NE(uid.find('\t' + me + '\t'), std::string::npos) << uid;
  }
  expect_serves(broker.port());
}

// The user is looked up after the listeners are bound (the harness would see the broker start), so this runs tern
// itself and waits for its exit.
TEST(Operations, UnknownUserStopsTheStart) {
  SKIP_FOR_MOSQUITTO();
  if (::geteuid() != 0) GTEST_SKIP() << "not root: tern ignores user, as mosquitto does (UserDropsPrivileges checks it)";
  testsupport::TempDir dir("tern-user");
  std::ofstream(dir / "tern.conf") << "listener 0 127.0.0.1\nuser no-such-user-tern\n";
  auto command = tern_command();
  command.insert(command.end(), {"-c", dir.file("tern.conf")});
  const auto result = run_command(command, 10s);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("user no-such-user-tern: user no-such-user-tern does not exist"), std::string::npos)
      << result.output;
}

// connection_messages false: no line for a client connecting or disconnecting. The core logs the connect line
// before the CONNACK leaves, so once the CONNACK is here the line would be in the log.
TEST(Operations, ConnectionMessages) {
  SKIP_FOR_MOSQUITTO();
  for (const bool on : {true, false}) {
    SCOPED_TRACE(on ? "connection_messages true" : "connection_messages false");
    BrokerProcess broker({on ? "connection_messages true" : "connection_messages false"});
    {
      RawClient c(broker.port(), Version::v5);
      ASSERT_EQ(c.connect("chatty").reason_code, ReasonCode::success);
      EXPECT_EQ(broker.log_count("New client connected from"), on ? 1u : 0u) << broker.log();
      c.disconnect();
    }
    broker.stop();
    EXPECT_EQ(broker.log_count("Client chatty disconnected"), on ? 1u : 0u) << broker.log();
    // Who went, from where, with which protocol, and why, in one line.
    EXPECT_EQ(broker.log_count("Client chatty disconnected: client sent DISCONNECT (from 127.0.0.1:"), on ? 1u : 0u);
    EXPECT_EQ(broker.log_count(", p5)."), on ? 1u : 0u);
    EXPECT_EQ(broker.log_count("tern 0"), 2u);  // other lines are still written ("starting", "stopped")
  }
}

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// log_dest file and log_dest stderr together: every line in both. logrotate's way: the file is moved away, SIGHUP,
// and the broker writes to a new file of the old name.
TEST(Operations, LogFileBesideStderrReopenedOnSighup) {
  SKIP_FOR_MOSQUITTO();
  testsupport::TempDir dir("tern-log");
  const auto log = dir / "tern.log";
  BrokerProcess broker({"log_dest file " + log.string(), "log_dest stderr"});
  EXPECT_NE(file_text(log).find("listening on 127.0.0.1:"), std::string::npos) << file_text(log);
  std::filesystem::rename(log, dir / "tern.log.1");
  broker.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return file_text(log).find("log file reopened") != std::string::npos; }))
      << broker.log();
  {
    RawClient c(broker.port(), Version::v5);
    ASSERT_EQ(c.connect("after-rotation").reason_code, ReasonCode::success);
  }
  ASSERT_TRUE(wait_until([&] { return file_text(log).find("as after-rotation") != std::string::npos; }));
  EXPECT_EQ(file_text(dir / "tern.log.1").find("after-rotation"), std::string::npos);
  EXPECT_EQ(broker.log_count("as after-rotation"), 1u);  // and on stderr
}

TEST(Operations, LogTimestampFormat) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"log_timestamp_format %Y-%m-%dT%H:%M:%S"});
  const std::regex stamped(R"(\n?[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}: listening on 127\.0\.0\.1:)");
  EXPECT_TRUE(std::regex_search(broker.log(), stamped)) << broker.log();
}

// A directive Tern cannot honour is logged at start-up with its file and line, and what Tern does instead.
TEST(Operations, NotesAreLogged) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"set_tcp_nodelay false", "sys_interval 10"});
  const std::string log = broker.log();
  EXPECT_NE(log.find(":3: set_tcp_nodelay false: Tern always sets TCP_NODELAY"), std::string::npos) << log;
  EXPECT_EQ(log.find("sys_interval"), std::string::npos) << log;  // implemented: no note
  expect_serves(broker.port());
}

// A plugin Tern cannot load, with no password file: clients with a username are refused, anonymous ones follow
// allow_anonymous.
TEST(Operations, PluginFailsClosed) {
  SKIP_FOR_MOSQUITTO();
  BrokerProcess broker({"plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                        "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json", "allow_anonymous true"});
  for (const Version v : {Version::v311, Version::v5}) {
    RawClient named(broker.port(), v);
    auto connect = RawClient::make_connect(v, "named");
    connect.username = "alice";
    connect.password = "secret";
    EXPECT_EQ(named.connect(std::move(connect)).reason_code,
              connack_code(v, ReasonCode::bad_user_name_or_password,
                           protocol::ConnackCode311::bad_user_name_or_password));
  }
  expect_serves(broker.port());  // anonymous
  EXPECT_NE(broker.log().find("Tern cannot load mosquitto plugins"), std::string::npos);
}

// ---- The corpus, started ------------------------------------------------------------------------------------

// A corpus file's lines for BrokerProcess: listeners on 127.0.0.1 with kernel-chosen ports, paths in `dir`, the log
// on the harness's stderr (where it finds the ports).
std::vector<std::string> corpus_lines(const std::string& name, const testsupport::TempDir& dir) {
  const std::string path = std::string(TERN_SOURCE_DIR) + "/tests/unit/config/corpus/" + name;
  std::ifstream in(path);
  if (!in) throw HarnessError("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("listener ")) {
      lines.push_back("listener 0 127.0.0.1");
    } else if (line.starts_with("port ")) {
      lines.push_back("port 0");
      lines.push_back("bind_address 127.0.0.1");
    } else if (line.starts_with("log_dest file ")) {
      continue;
    } else if (line.starts_with("persistence_location ")) {
      lines.push_back("persistence_location " + dir.file("data"));
    } else if (line.starts_with("password_file ")) {
      lines.push_back("password_file " + dir.file("passwd"));
    } else if (line.starts_with("pid_file ")) {
      lines.push_back("pid_file " + dir.file("pid"));
    } else {
      lines.push_back(line);
    }
  }
  return lines;
}

TEST(OperationsCorpus, EclipseMosquittoDockerImage) {
  SKIP_FOR_MOSQUITTO();
  testsupport::TempDir dir("tern-corpus");
  BrokerProcess broker(corpus_lines("eclipse-mosquitto-docker.conf", dir));
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  expect_serves(ports[1]);
  EXPECT_TRUE(std::filesystem::exists(dir / "data"));  // persistence on
}

TEST(OperationsCorpus, Zigbee2MqttGuide) {
  SKIP_FOR_MOSQUITTO();
  testsupport::TempDir dir("tern-corpus");
  auto passwd = tern_command();
  passwd.insert(passwd.end(), {"passwd", "-c", "-b", dir.file("passwd"), "z2m", "zigbee"});
  const auto made = run_command(passwd, 10s);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  BrokerProcess broker(corpus_lines("zigbee2mqtt-guide.conf", dir));
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  RawClient anonymous(ports[1], Version::v311);
  EXPECT_EQ(anonymous.connect("anon").reason_code,
            connack_code(Version::v311, ReasonCode::not_authorized, protocol::ConnackCode311::not_authorized));
  RawClient z2m(ports[1], Version::v311);
  auto connect = RawClient::make_connect(Version::v311, "zigbee2mqtt");
  connect.username = "z2m";
  connect.password = "zigbee";
  ASSERT_EQ(z2m.connect(std::move(connect)).reason_code, ReasonCode::success);
  z2m.subscribe("zigbee2mqtt/#", QoS::at_least_once);
  z2m.publish("zigbee2mqtt/bridge/state", "online", QoS::at_least_once, true);
  EXPECT_EQ(z2m.receive().payload, "online");
}

TEST(OperationsCorpus, Mosquitto1xStyleWithoutTls) {
  SKIP_FOR_MOSQUITTO();
  // The file's TLS listener needs certificates; the rest (port, user, the accepted-with-a-note lines) runs.
  testsupport::TempDir dir("tern-corpus");
  std::vector<std::string> lines;
  for (const std::string& line : corpus_lines("mosquitto-1x-style.conf", dir)) {
    if (line.starts_with("listener") || line == "log_dest syslog") break;
    lines.push_back(line);
  }
  BrokerProcess broker(lines);
  const auto ports = broker.ports();
  ASSERT_EQ(ports.size(), 2u);
  expect_serves(ports[1]);
  EXPECT_NE(broker.log().find("allow_duplicate_messages is deprecated in mosquitto"), std::string::npos);
}

}  // namespace
}  // namespace tern::itest
