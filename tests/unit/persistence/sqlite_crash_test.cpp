// Durability across process death: a child process submits batches and reports each batch number once its callback
// says it is durable; the parent SIGKILLs the child at a random moment, reopens the store and checks that every
// reported batch is there, whole, and that the batches present are exactly 1..m (atomic, in order). The next round
// continues on the same, recovered database.
//
// The child compacts its journal every kCompactOps ops (sqlite_journal.hpp), so a kill lands sometimes between a
// journal commit and the compaction that applies it (the reopen must apply the rows left), sometimes during a
// compaction (it must be all or nothing). Its commit log starts again from the front every kCommitLogBytes (about
// every 100 batches), so kills also land around rewinds and among stale records of earlier passes.
//
// Batch n: PutMessage{n}, queue entries ("c", 3n), ("c", 3n+1), ("c", 3n+2) -> n, SetRetained{"last" -> n}.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <semaphore>
#include <set>
#include <string>

#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

constexpr std::uint64_t kEntriesPerBatch = 3;
constexpr std::size_t kCompactOps = 500;             // about every 100 batches
constexpr std::uint64_t kCommitLogBytes = 64 << 10;  // about every 100 batches

std::vector<StoreOp> numbered_batch(std::uint64_t n) {
  auto ops = batch(op::PutMessage{message(n, "t/" + std::to_string(n), std::string(100 + n % 900, 'x'))});
  for (std::uint64_t i = 0; i < kEntriesPerBatch; ++i) ops.emplace_back(op::PutQueueEntry{entry("c", 3 * n + i, n)});
  ops.emplace_back(op::SetRetained{{"last", n}});
  return ops;
}

// The child: never returns. Writes "n\n" to `out` after batch n's callback reported it durable.
[[noreturn]] void run_child(const fs::path& dir, std::uint64_t first, int out) {
  {
    SqliteStore store({.directory = dir,
                       .sync = SyncMode::full,
                       .journal_compact_ops = kCompactOps,
                       .journal_keep_ops = kCompactOps / 2,
                       .commit_log_bytes = kCommitLogBytes,
                       .commit_log_grow_bytes = 16 << 10});
    std::counting_semaphore<> window(32);  // like clients waiting for PUBACK: at most 32 batches in flight
    for (std::uint64_t n = first; n < first + 20000; ++n) {
      window.acquire();
      store.submit(numbered_batch(n), [&window, n, out](bool durable) {
        if (durable) {
          char line[32];
          const int len = std::snprintf(line, sizeof line, "%llu\n", static_cast<unsigned long long>(n));
          if (::write(out, line, static_cast<std::size_t>(len)) != len) ::_exit(3);
        }
        window.release();
      });
    }
  }
  ::_exit(0);
}

struct Round {
  std::set<std::uint64_t> reported;
  bool timed_out = false;
};

// Reads the child's reports; after `kill_after` of them (and a further random pause) kills it. Every wait is
// bounded (30 s without a report ends the round as a failure).
Round supervise(pid_t child, int in, std::size_t kill_after, std::chrono::microseconds pause) {
  Round round;
  std::string partial;
  bool killed = false;
  const auto kill_child = [&] {
    if (pause.count() > 0) ::usleep(static_cast<useconds_t>(pause.count()));
    ::kill(child, SIGKILL);
    killed = true;
  };
  if (kill_after == 0) kill_child();
  for (;;) {
    pollfd pfd{in, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 30'000);
    if (ready == 0) {
      round.timed_out = true;
      ::kill(child, SIGKILL);
      break;
    }
    char buf[4096];
    const auto n = ::read(in, buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child is gone
    partial.append(buf, static_cast<std::size_t>(n));
    for (auto pos = partial.find('\n'); pos != std::string::npos; pos = partial.find('\n')) {
      round.reported.insert(std::stoull(partial.substr(0, pos)));
      partial.erase(0, pos + 1);
    }
    if (!killed && round.reported.size() >= kill_after) kill_child();
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return round;
}

TEST(SqliteCrash, NothingReportedDurableIsLostWhenTheProcessIsKilled) {
  TempDir dir;
  const auto seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kRounds = 20;
  std::uint64_t next = 1;
  std::size_t total_reported = 0;
  std::size_t total_recovered = 0;  // journalled ops a kill left uncompacted, applied by the reopen

  for (int r = 0; r < kRounds; ++r) {
    // Mostly mid-stream; sometimes before the first commit (while opening, recovering, migrating).
    const std::size_t kill_after = rng() % 8 == 0 ? 0 : 1 + rng() % 400;
    const auto pause = std::chrono::microseconds(rng() % 3000);

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      run_child(dir.path(), next, fds[1]);
    }
    ::close(fds[1]);
    const auto round = supervise(child, fds[0], kill_after, pause);
    ::close(fds[0]);
    ASSERT_FALSE(round.timed_out) << "round " << r;
    total_reported += round.reported.size();

    SqliteStore store({.directory = dir.path()});
    ASSERT_FALSE(store.moved_aside()) << "round " << r << ": the store was found unusable";
    total_recovered += store.recovered_journal_ops();
    const auto snap = store.load();
    std::map<std::uint64_t, std::uint64_t> entries_per_batch;
    for (const auto& e : snap.queue) ++entries_per_batch[e.message_id];
    std::uint64_t last = 0;  // batches present must be exactly 1..last, each whole
    for (const auto& [n, count] : entries_per_batch) {
      ASSERT_EQ(n, last + 1) << "round " << r << ": batch " << n << " present without batch " << last + 1;
      ASSERT_EQ(count, kEntriesPerBatch) << "round " << r << ": batch " << n << " is partial";
      last = n;
    }
    ASSERT_EQ(snap.messages.size(), last) << "round " << r;
    if (last > 0) {
      EXPECT_EQ(snap.retained, (std::vector<core::StoredRetained>{{"last", last}})) << "round " << r;
    }
    std::size_t lost = 0;
    for (auto n : round.reported) lost += n > last ? 1 : 0;
    EXPECT_EQ(lost, 0u) << "round " << r << ": reported up to " << *round.reported.rbegin() << ", present up to "
                        << last;
    std::printf(
        "round %2d: killed after %3zu reports (+%4lld us); reported %zu, store holds batches 1..%llu "
        "(%zu from the journal)\n",
        r, kill_after, static_cast<long long>(pause.count()), round.reported.size(),
        static_cast<unsigned long long>(last), store.recovered_journal_ops());
    next = last + 1;
  }
  EXPECT_GT(total_reported, 0u);
  EXPECT_GT(total_recovered, 0u);  // the kills did leave journal rows to recover
}

}  // namespace
}  // namespace tern::persistence::test
