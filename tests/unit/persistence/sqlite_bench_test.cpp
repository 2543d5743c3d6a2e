// Not a test: a measurement to tune SqliteOptions::commit_delay, run on demand (DISABLED_ by default):
//   build-store/tests/tern_persistence_tests --gtest_also_run_disabled_tests --gtest_filter='SqliteBench.*'
// C clients each keep one QoS 1 publish in flight (the next is submitted from the previous one's callback, as a
// client waits for its PUBACK); each publish is PutMessage + 2 queue entries + the delete of an older entry.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <thread>

#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double per_second = 0;
  double mean_latency_us = 0;
  std::uint64_t transactions = 0;
};

Result run(std::chrono::microseconds delay, SyncMode sync, int clients, int per_client) {
  TempDir dir;
  SqliteStore store({.directory = dir.path(), .sync = sync, .commit_delay = delay});
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<long long> latency_ns{0};
  std::atomic<int> remaining{clients * per_client};

  struct Client {
    std::string id;
    int left = 0;
    std::uint64_t seq = 0;
  };
  std::vector<Client> all(static_cast<std::size_t>(clients));
  std::function<void(Client&)> publish = [&](Client& c) {
    const auto id = next_id++;
    const auto started = Clock::now();
    auto ops =
        batch(op::PutMessage{message(id, "sensors/" + c.id, std::string(200, 'x'))},
              op::PutQueueEntry{entry(c.id + "-a", c.seq, id)}, op::PutQueueEntry{entry(c.id + "-b", c.seq, id)});
    if (c.seq >= 2) ops.emplace_back(op::DeleteQueueEntry{c.id + "-a", c.seq - 2});
    ++c.seq;
    store.submit(std::move(ops), [&, started](bool) {
      latency_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count();
      --remaining;
      if (--c.left > 0) publish(c);
    });
  };
  const auto t0 = Clock::now();
  for (int i = 0; i < clients; ++i) {
    all[i].id = "c" + std::to_string(i);
    all[i].left = per_client;
    publish(all[i]);
  }
  for (int spins = 0; remaining.load() > 0 && spins < 600'000; ++spins)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  store.flush();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double total = clients * per_client;
  return {total / seconds, latency_ns.load() / total / 1000.0, store.transactions()};
}

TEST(SqliteBench, DISABLED_CommitDelay) {
  for (auto sync : {SyncMode::full, SyncMode::normal}) {
    for (int clients : {1, 8, 64}) {
      for (int delay_us : {0, 200, 1000, 2000}) {
        const int per_client = std::max(20, 2000 / clients);
        const auto r = run(std::chrono::microseconds(delay_us), sync, clients, per_client);
        std::printf("sync %-6s clients %3d delay %5d us: %8.0f publishes/s, mean latency %7.0f us, %5llu tx\n",
                    sync == SyncMode::full ? "full" : "normal", clients, delay_us, r.per_second, r.mean_latency_us,
                    static_cast<unsigned long long>(r.transactions));
      }
    }
  }
}

// Like the broker under the pairs benchmark (50 publisher/subscriber pairs, QoS 1, 64 B, a window of 64 publishes
// each): each publish is PutMessage + a fresh queue entry; the subscriber acknowledges 16 publishes later. The
// next publish is submitted from the callback, so the writer's CPU per message is what limits. To tune
// SqliteOptions::journal_compact_ops.
TEST(SqliteBench, DISABLED_JournalCompactOps) {
  for (std::size_t compact_ops : {5'000, 20'000, 50'000, 100'000, 200'000}) {
    TempDir dir;
    SqliteStore store({.directory = dir.path(),
                       .sync = SyncMode::full,
                       .journal_compact_ops = compact_ops,
                       .journal_keep_ops = compact_ops / 4});
    constexpr int kClients = 50, kWindow = 64, kPerClient = 6000, kAckLag = 16;
    std::uint64_t next_id = 1;  // publish() runs on the writer thread only
    std::atomic<int> remaining{kClients * kPerClient};
    std::vector<std::uint64_t> seq(kClients, 0);
    std::function<void(int)> publish = [&](int c) {
      if (seq[c] >= kPerClient) return;
      const auto id = next_id++;
      const auto n = ++seq[c];
      const std::string sub = "sub" + std::to_string(c);
      auto ops = batch(op::PutMessage{message(id, "pairs/" + std::to_string(c), std::string(64, 'x'))},
                       op::PutQueueEntry{entry(sub, n, id, static_cast<std::uint16_t>(n % 65535 + 1)), true});
      if (n > kAckLag) ops.emplace_back(op::DeleteQueueEntry{sub, n - kAckLag});
      store.submit(std::move(ops), [&, c](bool) {
        --remaining;
        publish(c);
      });
    };
    const auto cpu0 = std::clock();
    const auto t0 = Clock::now();
    for (int w = 0; w < kWindow; ++w) {  // each window slot starts a chain on the writer thread
      for (int c = 0; c < kClients; ++c) store.submit(core::StoreBatch{}, [&, c](bool) { publish(c); });
    }
    while (remaining.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    store.flush();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu_us = 1e6 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
    const double total = kClients * kPerClient;
    std::printf("journal_compact_ops %7zu: %8.0f publishes/s, %.2f us CPU each, %llu tx\n", compact_ops,
                total / seconds, cpu_us / total, static_cast<unsigned long long>(store.transactions()));
  }
}

}  // namespace
}  // namespace tern::persistence::test
