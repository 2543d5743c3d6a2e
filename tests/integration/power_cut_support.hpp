// Helpers of the power-cut test (31_power_cut_test.cpp): the environment that runs a broker under the power-cut
// shim (tests/powercut/shim.cpp), the directories a cut is rebuilt in, and the verdict over what a subscriber got.
//
//   PowerCutDirs dirs(root);               // root/store (the broker's), root/snapshot (the store at its start)
//   shim_environment(dirs.store, log);     // the next BrokerProcess started runs under the shim
//   ... broker.kill();
//   auto ops = logged_ops(log);
//   tern::powercut::rebuild(dirs.snapshot, ops, dirs.state(cut, k), choice);
//   dirs.continue_from(dirs.state(cut, k)); // store and snapshot become that state
//
// Thread safety: none (the environment is the process's).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/crash_clients.hpp"
#include "tests/integration/harness.hpp"
#include "tests/powercut/op_log.hpp"
#include "tests/powercut/rebuild.hpp"

namespace tern::itest::durability {

// Brokers started from now on run under the shim, logging the changes to `store` into `log`.
inline void shim_environment(const std::filesystem::path& store, const std::filesystem::path& log) {
  ::setenv("LD_PRELOAD", TERN_POWERCUT_SHIM, 1);
  ::setenv(powercut::kEnvDirectory, store.c_str(), 1);
  ::setenv(powercut::kEnvLog, log.c_str(), 1);
}

// Brokers started from now on run without it.
inline void no_shim_environment() {
  ::unsetenv("LD_PRELOAD");
  ::unsetenv(powercut::kEnvDirectory);
  ::unsetenv(powercut::kEnvLog);
}

// The operations the shim logged, or none if it never wrote its log (it was not loaded).
inline std::vector<powercut::LogOp> logged_ops(const std::filesystem::path& log) {
  return std::filesystem::exists(log) ? powercut::read_op_log(log) : std::vector<powercut::LogOp>{};
}

class PowerCutDirs {
 public:
  explicit PowerCutDirs(const std::filesystem::path& root)
      : root_(root), store_(root / "store"), snapshot_(root / "snapshot") {
    std::filesystem::create_directories(store_);
    std::filesystem::create_directories(snapshot_);
  }

  const std::filesystem::path& store() const { return store_; }
  const std::filesystem::path& snapshot() const { return snapshot_; }
  std::filesystem::path log(int cut) const { return root_ / ("ops-" + std::to_string(cut) + ".log"); }
  std::filesystem::path state(int cut, int k) const {
    return root_ / ("state-" + std::to_string(cut) + "-" + std::to_string(k));
  }

  // The rebuilt `state` is what the disk holds at the next start: the broker's directory and the next snapshot.
  void continue_from(const std::filesystem::path& state) {
    for (const auto* dir : {&store_, &snapshot_}) {
      std::filesystem::remove_all(*dir);
      std::filesystem::copy(state, *dir);
    }
    std::filesystem::remove_all(state);
  }

 private:
  std::filesystem::path root_, store_, snapshot_;
};

// The persistence config of a broker on `dir`: every queue unbounded, so that nothing acknowledged is dropped for
// room.
inline std::vector<std::string> power_cut_config(const std::filesystem::path& dir,
                                                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> lines{"persistence true", "persistence_location " + dir.string(), "max_queued_messages 0"};
  lines.insert(lines.end(), extra.begin(), extra.end());
  return lines;
}

struct Verdict {
  int acked = 0;
  int lost = 0;        // acknowledged, never delivered
  int dup_qos1 = 0;    // allowed: counted
  int dup_qos2 = 0;    // QoS 2 delivered more than once
  int unexpected = 0;  // delivered, never sent
  std::vector<std::string> examples;
  bool good() const { return lost == 0 && dup_qos2 == 0 && unexpected == 0; }
};

// Every message acknowledged so far against what the subscriber got (topic, payload) in all.
inline Verdict judge(const std::vector<CrashMessage>& messages,
                     const std::vector<std::pair<std::string, std::string>>& deliveries) {
  Verdict v;
  std::map<std::string, std::size_t> by_payload;
  for (std::size_t i = 0; i < messages.size(); ++i) by_payload[messages[i].payload] = i;
  std::vector<int> copies(messages.size(), 0);
  for (const auto& [topic, payload] : deliveries) {
    const auto it = by_payload.find(payload);
    if (it == by_payload.end() || messages[it->second].topic != topic) {
      ++v.unexpected;
      if (v.examples.size() < 10) v.examples.push_back("unexpected " + topic + " '" + payload + "'");
      continue;
    }
    ++copies[it->second];
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const CrashMessage& m = messages[i];
    if (m.acked) ++v.acked;
    if (m.acked && copies[i] == 0) {
      ++v.lost;
      if (v.examples.size() < 10) {
        v.examples.push_back("lost " + m.payload + " (acknowledged in round " + std::to_string(m.acked_in_round) + ")");
      }
    }
    if (copies[i] > 1) {
      if (m.qos == QoS::exactly_once) {
        v.dup_qos2 += copies[i] - 1;
        if (v.examples.size() < 10) v.examples.push_back("QoS 2 twice: " + m.payload);
      } else {
        v.dup_qos1 += copies[i] - 1;
      }
    }
  }
  return v;
}

}  // namespace tern::itest::durability
