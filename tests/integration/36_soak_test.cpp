// Soak (issue 22): clients churn for a while (connect, subscribe, publish at QoS 1, disconnect or vanish; some with
// persistent sessions and wills) while one persistent subscriber per worker accounts for every message. Afterwards
// the broker holds no more descriptors than before the churn, its RSS is back within 10 % of where it was after the
// warm-up (the first half of the churn), and every acknowledged message reached its accounting subscriber.
//
// TERN_SOAK_SECONDS sets the churn's length (default 60; bench/soak.sh runs it for 10 minutes and prints the
// figures).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/persistence_support.hpp"

// Under a sanitizer the RSS is mostly the runtime's (ASan's quarantine and shadow, TSan's shadow), growing with the
// work done, not the broker's.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TERN_SOAK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TERN_SOAK_SANITIZED 1
#endif
#endif
#ifndef TERN_SOAK_SANITIZED
#define TERN_SOAK_SANITIZED 0
#endif

namespace tern::itest {
namespace {

std::size_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

// Whether the broker runs under an emulator (qemu-user, as the ARM builds are tested): its RSS is then the
// emulator's, with its translation caches.
bool emulated(pid_t pid) {
  char exe[4096] = {};
  const ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1);
  return n > 0 && std::string_view(exe, static_cast<std::size_t>(n)).find("qemu") != std::string_view::npos;
}

int soak_seconds() {
  const char* text = std::getenv("TERN_SOAK_SECONDS");
  const int n = text != nullptr ? std::atoi(text) : 0;
  return n > 0 ? n : 60;
}

struct Worker {
  int index = 0;
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> connections{0};
  std::string error;
};

// One worker's churn: a client per cycle (ids reused, so sessions are resumed and taken over), half of them
// persistent, a third with a will, a quarter vanishing without DISCONNECT; each publishes a few QoS 1 messages to
// the worker's accounting topic.
void churn(std::uint16_t port, Worker& w, std::chrono::steady_clock::time_point until) {
  try {
    std::uint64_t seq = 0;
    for (std::uint64_t cycle = 0; std::chrono::steady_clock::now() < until && cycle < 10000000; ++cycle) {
      const bool v5 = cycle % 2 == 0;
      RawClient c(port, v5 ? Version::v5 : Version::v311);
      auto connect =
          RawClient::make_connect(v5 ? Version::v5 : Version::v311,
                                  "churn-" + std::to_string(w.index) + "-" + std::to_string(cycle % 64), cycle % 4 < 2);
      if (v5 && !connect.clean_start) connect.properties.session_expiry_interval = 30;
      if (cycle % 3 == 0) connect.will = protocol::Will{.topic = "will/" + std::to_string(w.index), .payload = "gone"};
      c.connect(std::move(connect));
      ++w.connections;
      if (cycle % 5 == 0) c.subscribe("churn/" + std::to_string(w.index) + "/#", QoS::at_least_once);
      for (int i = 0; i < 3; ++i) {
        c.publish("account/" + std::to_string(w.index), std::to_string(seq++), QoS::at_least_once);
        ++w.acked;
      }
      if (cycle % 4 == 3) {
        c.close();  // vanishes: the will, if any, is published
      } else {
        c.disconnect();
      }
    }
  } catch (const std::exception& e) {
    w.error = e.what();
  }
}

// What SQLite's files hold now (sizes and times): changed when a compaction moved the journal into the tables.
std::string database_state(const std::filesystem::path& dir) {
  std::string state;
  for (const char* name : {"tern.db", "tern.db-wal", "tern.db-journal"}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(dir / name, ec);
    const auto time = std::filesystem::last_write_time(dir / name, ec);
    state += std::to_string(ec ? 0 : size) + ":" + std::to_string(time.time_since_epoch().count()) + " ";
  }
  return state;
}

// Tern's store allocates its compaction's working memory (sized by the ops a compaction applies) at the first
// compaction, which comes after so many journalled ops: on a slow or busy machine only after the half of the churn
// that the RSS is compared with. Retained QoS 1 messages, a thousand in flight at a time, until SQLite's files change
// (bounded).
void until_first_compaction(std::uint16_t port, const std::filesystem::path& store) {
  const std::string before = database_state(store);
  RawClient c(port, Version::v311);
  c.connect("warm-up");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (int batch = 0; batch < 200 && database_state(store) == before; ++batch) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no compaction after " << batch << " thousand messages";
    for (std::uint16_t id = 1; id <= 1000; ++id) {
      c.send(protocol::Publish{.topic = "warm-up/" + std::to_string(id % 100),
                               .payload = "x",
                               .qos = QoS::at_least_once,
                               .retain = true,
                               .packet_id = id});
    }
    for (int acks = 0; acks < 1000;) {
      auto r = c.read(5s);
      ASSERT_EQ(r.status, RawClient::ReadResult::Status::packet);
      if (std::holds_alternative<protocol::Puback>(r.packet)) ++acks;
    }
  }
  EXPECT_NE(database_state(store), before);
  c.disconnect();
}

TEST(Soak, ChurnLeavesNoLeakAndLosesNothing) {
  durability::StoreDir store;
  BrokerProcess broker(durability::persistence_config(store, {"max_queued_messages 0"}));
  const pid_t pid = broker.pid();
  // Only where the RSS is checked (not under an emulator or a sanitizer, below).
  const bool rss_checked = !emulated(pid) && !TERN_SOAK_SANITIZED;
  if (!testing_mosquitto() && rss_checked) until_first_compaction(broker.port(), store.path());
  constexpr int kWorkers = 4;
  std::vector<std::unique_ptr<Subscriber>> accounts;
  for (int i = 0; i < kWorkers; ++i) {
    accounts.push_back(std::make_unique<Subscriber>(broker.port(), Version::v311, "account-" + std::to_string(i),
                                                    "account/" + std::to_string(i), QoS::at_least_once));
  }
  const std::size_t fds_before = open_descriptors(pid);

  std::vector<Worker> workers(kWorkers);
  std::vector<std::set<std::uint64_t>> got(kWorkers);
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::seconds(soak_seconds());
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) {
    workers[i].index = i;
    threads.emplace_back(churn, broker.port(), std::ref(workers[i]), until);
  }
  // The accounting subscribers read on this thread meanwhile; RSS is sampled at each tenth of the churn, the
  // reference being the sample at half of it (after the warm-up: the store's page cache and the allocator's arenas
  // grown to their working size).
  std::vector<std::size_t> rss_samples;
  while (std::chrono::steady_clock::now() < until + 2s) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (rss_samples.size() < 10 && elapsed > std::chrono::seconds(soak_seconds()) * rss_samples.size() / 10) {
      rss_samples.push_back(rss_kib(pid));
    }
    for (int i = 0; i < kWorkers; ++i) {
      for (int n = 0; n < 1000; ++n) {
        auto r = accounts[i]->read(1ms);
        if (r.status != RawClient::ReadResult::Status::packet) break;
        if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
          accounts[i]->acknowledge(*p);
          got[i].insert(std::stoull(p->payload));
        }
      }
    }
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWorkers; ++i) {  // the rest
    while (got[i].size() < workers[i].acked) {
      auto r = accounts[i]->read(5s);
      if (r.status != RawClient::ReadResult::Status::packet) break;
      if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
        accounts[i]->acknowledge(*p);
        got[i].insert(std::stoull(p->payload));
      }
    }
  }

  std::uint64_t connections = 0, acked = 0;
  for (int i = 0; i < kWorkers; ++i) {
    EXPECT_EQ(workers[i].error, "");
    EXPECT_EQ(got[i].size(), workers[i].acked) << "worker " << i;  // every acknowledged message, once counted
    connections += workers[i].connections;
    acked += workers[i].acked;
  }
  // Settled: what the churn opened is closed (persistent sessions without a client hold no descriptor).
  EXPECT_TRUE(wait_until([&] { return open_descriptors(pid) <= fds_before; }, 10s))
      << open_descriptors(pid) << " descriptors open, " << fds_before << " before the churn";
  const std::size_t rss_after = rss_kib(pid);
  const std::size_t rss_warm = rss_samples.size() > 5 ? rss_samples[5] : 0;
  std::string trail;
  for (const auto kib : rss_samples) trail += std::to_string(kib) + " ";
  std::cout << "soak: " << soak_seconds() << " s, " << connections << " connections, " << acked
            << " QoS 1 messages acknowledged and received; RSS (KiB) at each tenth " << trail << "- after " << rss_after
            << "; descriptors " << fds_before << " before, " << open_descriptors(pid) << " after\n";
  if (rss_checked) {
    EXPECT_LE(rss_after, rss_warm + rss_warm / 10) << "RSS grew from " << rss_warm << " KiB to " << rss_after;
  }
  EXPECT_GT(connections, 1000u);
}

}  // namespace
}  // namespace tern::itest
