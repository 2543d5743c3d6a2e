// MeasuredMutex (broker/net/measured_mutex.hpp): the core lock's hold time, longest hold and acquisitions, counted by
// the mutex itself.
#include "broker/net/measured_mutex.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace tern::net {
namespace {

using namespace std::chrono_literals;

void hold_for(MeasuredMutex& m, std::chrono::microseconds d) {
  std::lock_guard lock(m);
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

TEST(MeasuredMutex, CountsHoldsAndTheLongest) {
  MeasuredMutex m;
  const auto start = std::chrono::steady_clock::now();
  hold_for(m, 2ms);
  hold_for(m, 10ms);
  hold_for(m, 1ms);
  std::this_thread::sleep_for(20ms);  // not held: counts in the wall time only
  const auto wall = std::chrono::steady_clock::now() - start;
  const LockStats s = m.stats();
  EXPECT_EQ(s.acquisitions, 3u);
  // Busy-waits last at least as long as asked; a preempted thread may hold longer, never shorter.
  EXPECT_GE(s.held_ns, 12'900'000u);
  EXPECT_LT(s.held_ns, static_cast<std::uint64_t>(std::chrono::nanoseconds(wall).count()));
  EXPECT_GE(s.longest_hold_ns, 9'900'000u);
  EXPECT_LE(s.longest_hold_ns, s.held_ns);
  EXPECT_GE(s.wall_ns, static_cast<std::uint64_t>(std::chrono::nanoseconds(wall).count()) * 99 / 100);
  EXPECT_GT(s.hold_fraction(), 0.1);
  EXPECT_LT(s.hold_fraction(), 1.0);
}

TEST(MeasuredMutex, TryLockCountsOnlyWhenItTakesTheMutex) {
  MeasuredMutex m;
  ASSERT_TRUE(m.try_lock());
  std::thread other([&] { EXPECT_FALSE(m.try_lock()); });
  other.join();
  m.unlock();
  EXPECT_EQ(m.stats().acquisitions, 1u);
}

TEST(MeasuredMutex, ExcludesAndCountsEveryThread) {
  MeasuredMutex m;
  std::uint64_t counter = 0;  // guarded by m
  auto work = [&] {
    for (int i = 0; i < 10'000; ++i) {
      std::lock_guard lock(m);
      ++counter;
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(counter, 20'000u);
  const LockStats s = m.stats();
  EXPECT_EQ(s.acquisitions, 20'000u);
  EXPECT_LE(s.held_ns, s.wall_ns);
}

// A waiter spins a bounded while, then sleeps: held far longer than any spin, the mutex still goes to the waiter
// once released, and not before.
TEST(MeasuredMutex, AWaiterOutlastingItsSpinSleepsAndStillGetsIt) {
  MeasuredMutex m;
  std::atomic<bool> released{false};
  std::atomic<bool> waiter_in{false};
  m.lock();
  std::thread waiter([&] {
    std::lock_guard lock(m);
    waiter_in = true;
    EXPECT_TRUE(released.load());
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(waiter_in.load());
  released = true;
  m.unlock();
  waiter.join();
  EXPECT_TRUE(waiter_in.load());
  EXPECT_EQ(m.stats().acquisitions, 2u);
}

TEST(MeasuredMutex, AnUnusedMutexReportsNothingHeld) {
  MeasuredMutex m;
  const LockStats s = m.stats();
  EXPECT_EQ(s.acquisitions, 0u);
  EXPECT_EQ(s.held_ns, 0u);
  EXPECT_EQ(s.longest_hold_ns, 0u);
  EXPECT_EQ(s.hold_fraction(), 0.0);
}

}  // namespace
}  // namespace tern::net
