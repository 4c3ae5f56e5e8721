// Multithreaded lockprof tests: exact counts on deterministic contention
// scenarios (a holder keeps the lock until the profiler itself shows the
// other thread's first try failed, then holds it a known time more), shared
// mode, failed tries, and blocks of exited threads. Tagged `concurrency`.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <latch>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "lockprof/lock.h"
#include "tests/lockprof/test_util.h"

namespace netisr::lockprof {
namespace {

using testing::StatsOf;
using namespace std::chrono_literals;

constexpr auto kHeld = 10ms;
constexpr uint64_t kHeldNs = 10'000'000;

// Blocks until Snapshot shows `contended` for `name`: the waiter's first try
// has failed and its wait has started (lock.h counts contention before
// blocking).
void AwaitContended(const char* name, uint64_t contended) {
  while (StatsOf(name).contended < contended) std::this_thread::yield();
}

// Exactly kUncontended + 2 * kRounds acquisitions, kRounds of them contended:
// in each round the holder thread takes the lock first, the main thread's
// try fails, and the holder keeps the lock kHeld after seeing that.
template <class Lock>
void ExactContention(const char* name) {
  static constexpr int kUncontended = 10;
  static constexpr int kRounds = 3;
  const LockClass cls(name);
  Lock lock(cls);
  for (int i = 0; i < kUncontended; ++i) {
    std::lock_guard<Lock> guard(lock);
  }
  std::atomic<int> go{-1};  // release/acquire: the round the holder has the lock in
  std::barrier round_end(2);
  std::thread holder([&] {
    for (int r = 0; r < kRounds; ++r) {
      lock.lock();
      go.store(r, std::memory_order_release);
      AwaitContended(name, r + 1);
      std::this_thread::sleep_for(kHeld);
      lock.unlock();
      round_end.arrive_and_wait();
    }
  });
  for (int r = 0; r < kRounds; ++r) {
    while (go.load(std::memory_order_acquire) != r) std::this_thread::yield();
    lock.lock();  // the holder has it: first try fails
    lock.unlock();
    round_end.arrive_and_wait();
  }
  holder.join();

  const ClassStats s = StatsOf(name);
  EXPECT_EQ(s.acquisitions, uint64_t{kUncontended + 2 * kRounds});
  EXPECT_EQ(s.contended, uint64_t{kRounds});
  EXPECT_EQ(s.shared_acquisitions, 0u);
  EXPECT_EQ(s.try_failures, 0u);
  EXPECT_GE(s.wait_ns, kRounds * kHeldNs);
  EXPECT_GE(s.max_wait_ns, kHeldNs);
  EXPECT_LE(s.max_wait_ns, s.wait_ns);
  EXPECT_GE(s.hold_ns, kRounds * kHeldNs);
  EXPECT_GE(s.max_hold_ns, kHeldNs);
  EXPECT_LE(s.max_hold_ns, s.hold_ns);
}

TEST(LockprofContention, MutexExactCounts) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  ExactContention<Mutex>("test.contention.mutex");
}

TEST(LockprofContention, SpinLockExactCounts) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  ExactContention<SpinLock>("test.contention.spin");
}

TEST(LockprofContention, SharedMutexExclusiveExactCounts) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  ExactContention<SharedMutex>("test.contention.rw_exclusive");
}

TEST(LockprofContention, SharedModeCountsReadersAndTheirHolds) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constexpr const char* kName = "test.contention.rw_shared";
  static constinit LockClass cls(kName);
  SharedMutex rw(cls);

  // Two readers at once: both shared, neither contended.
  std::latch both_in(2);
  auto reader = [&] {
    std::shared_lock<SharedMutex> guard(rw);
    both_in.arrive_and_wait();
  };
  std::thread r1(reader), r2(reader);
  r1.join();
  r2.join();
  ClassStats s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, 2u);
  EXPECT_EQ(s.shared_acquisitions, 2u);
  EXPECT_EQ(s.contended, 0u);

  // A writer waits for a reader: contended exclusive; the reader's hold >= kHeld.
  std::atomic<bool> reading{false};
  std::thread holder([&] {
    rw.lock_shared();
    reading.store(true, std::memory_order_release);
    AwaitContended(kName, 1);
    std::this_thread::sleep_for(kHeld);
    rw.unlock_shared();
  });
  while (!reading.load(std::memory_order_acquire)) std::this_thread::yield();
  rw.lock();
  rw.unlock();
  holder.join();
  s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, 4u);
  EXPECT_EQ(s.shared_acquisitions, 3u);
  EXPECT_EQ(s.contended, 1u);
  EXPECT_GE(s.wait_ns, kHeldNs);
  EXPECT_GE(s.max_hold_ns, kHeldNs);

  // A reader waits for a writer: contended shared; a shared try fails.
  std::atomic<bool> writing{false};
  std::thread writer([&] {
    rw.lock();
    writing.store(true, std::memory_order_release);
    AwaitContended(kName, 2);
    std::this_thread::sleep_for(kHeld);
    rw.unlock();
  });
  while (!writing.load(std::memory_order_acquire)) std::this_thread::yield();
  EXPECT_FALSE(rw.try_lock_shared());
  rw.lock_shared();
  rw.unlock_shared();
  writer.join();
  s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, 6u);
  EXPECT_EQ(s.shared_acquisitions, 4u);
  EXPECT_EQ(s.contended, 2u);
  EXPECT_EQ(s.try_failures, 1u);
  EXPECT_GE(s.wait_ns, 2 * kHeldNs);
  EXPECT_GE(s.hold_ns, 2 * kHeldNs);
}

// A failed try is not an acquisition and not contention; it counts in
// try_failures. A successful try is an uncontended acquisition with a hold.
TEST(LockprofContention, TryLockFailuresAreCountedApart) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constexpr const char* kName = "test.contention.try";
  static constinit LockClass cls(kName);
  Mutex mu(cls);
  std::latch held(1), tried(1);
  std::thread holder([&] {
    std::lock_guard<Mutex> guard(mu);
    held.count_down();
    tried.wait();
  });
  held.wait();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(mu.try_lock());
  tried.count_down();
  holder.join();
  ClassStats s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, 1u);
  EXPECT_EQ(s.try_failures, 3u);
  EXPECT_EQ(s.contended, 0u);
  EXPECT_EQ(s.wait_ns, 0u);

  // Not ASSERT_TRUE(mu.try_lock()): the thread-safety analysis cannot see
  // the try's result through the macro.
  if (!mu.try_lock()) FAIL() << "try_lock of a free mutex failed";
  std::this_thread::sleep_for(kHeld);
  mu.unlock();
  s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, 2u);
  EXPECT_EQ(s.try_failures, 3u);
  EXPECT_GE(s.max_hold_ns, kHeldNs);
}

// Each thread counts in its own block; the blocks of exited threads are
// folded into the retired total, so a Snapshot after join is exact, and
// Reset clears the retired total too.
TEST(LockprofContention, ExitedThreadsKeepTheirCounts) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constexpr const char* kName = "test.contention.exited";
  static constinit LockClass cls(kName);
  static constexpr int kThreads = 4;
  static constexpr int kPerThread = 5000;
  Mutex mu(cls);
  SpinLock spin(cls);         // same class: counts add up
  uint64_t shared_total = 0;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        std::scoped_lock guard(mu);
        ++shared_total;
      }
      std::unique_lock<SpinLock> guard(spin);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(shared_total, uint64_t{kThreads * kPerThread});
  ClassStats s = StatsOf(kName);
  EXPECT_EQ(s.acquisitions, uint64_t{kThreads * kPerThread + kThreads});
  EXPECT_LE(s.contended, s.acquisitions);
  EXPECT_GT(s.hold_ns, 0u);

  Reset();
  EXPECT_EQ(StatsOf(kName).acquisitions, 0u);
  std::thread([&] { std::lock_guard<Mutex> guard(mu); }).join();
  EXPECT_EQ(StatsOf(kName).acquisitions, 1u);
}

}  // namespace
}  // namespace netisr::lockprof
