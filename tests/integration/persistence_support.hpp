// Helpers shared by the persistence integration tests (18_persistence_test.cpp, 19_persistence_crash_test.cpp): a
// directory for the database, the config that turns persistence on there, a "kill" that also works for mosquitto,
// persistent sessions, and a commit barrier.
//
// TERN_TEST_BROKER=mosquitto: mosquitto saves its database only at shutdown (or every autosave_interval), so
// kill_broker() stops it with SIGTERM where it kills tern: run against mosquitto, these tests check their own logic
// (what a restart must restore), not durability.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest::durability {

namespace fs = std::filesystem;

// A directory for the database, removed at the end unless the test failed (then kept next to the broker's).
class StoreDir {
 public:
  StoreDir() {
    std::string tmpl = (fs::temp_directory_path() / "tern-it-store-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw HarnessError("mkdtemp failed");
    path_ = tmpl;
  }
  ~StoreDir() {
    if (::testing::Test::HasFailure() || std::uncaught_exceptions() > 0) {
      std::cerr << "---- database directory kept: " << path_.string() << " ----\n";
    } else {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  StoreDir(const StoreDir&) = delete;
  StoreDir& operator=(const StoreDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The config lines that turn persistence on in `dir`, followed by `extra`. `sync` ("full", "normal"; empty: the
// default) is Tern's own directive and left out for mosquitto.
inline std::vector<std::string> persistence_config(const StoreDir& dir, std::vector<std::string> extra = {},
                                            const std::string& sync = "") {
  std::vector<std::string> lines{"persistence true"};
  if (testing_mosquitto()) {
    lines.push_back("persistence_location " + dir.path().string() + "/");  // mosquitto wants the trailing slash
    if (::geteuid() == 0) lines.push_back("user root");  // else it drops to "mosquitto", who cannot write there
  } else {
    lines.push_back("persistence_location " + dir.path().string());
    if (!sync.empty()) lines.push_back("persistence_sync " + sync);
  }
  lines.insert(lines.end(), extra.begin(), extra.end());
  return lines;
}

// SIGKILL. mosquitto saves its database only at shutdown (or every autosave_interval): SIGTERM there, so that running
// these tests against it checks their own logic (what a restart must restore), not durability.
inline void kill_broker(BrokerProcess& broker) {
  if (testing_mosquitto()) {
    broker.stop();
  } else {
    broker.kill();
  }
}

// Session properties of a persistent session: 5.0 session expiry (3.1.1: clean session 0 is enough).
inline Properties persistent_properties(Version v, std::uint32_t expiry = 600) {
  Properties p;
  if (v == Version::v5) p.session_expiry_interval = expiry;
  return p;
}

inline protocol::Connack connect_persistent(RawClient& c, const std::string& id, std::uint32_t expiry = 600) {
  return c.connect(id, false, 60, persistent_properties(c.version(), expiry));
}

// A retained QoS 1 message: its PUBACK comes only after its batch is committed, and batches commit in order, so
// every change the broker made before it (subscriptions, in-flight state) is on disk once this returns.
inline void commit_barrier(std::uint16_t port, Version v) {
  RawClient c(port, v);
  c.connect("barrier");
  c.publish("barrier/retained", "barrier", QoS::at_least_once, true);
  c.disconnect();
}

}  // namespace tern::itest::durability
