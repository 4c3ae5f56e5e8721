// Single-threaded lockprof tests: class registry, the standard lock guards,
// the run-time switch, Reset, and the reports.
#include "lockprof/lock.h"

#include <gtest/gtest.h>

#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>

#include "lockprof/report.h"
#include "tests/lockprof/test_util.h"

namespace netisr::lockprof {
namespace {

using testing::StatsOf;

TEST(LockClassTest, IdsAreDenseAndSharedByName) {
  static constinit LockClass a("test.class.a");
  static constinit LockClass b("test.class.b");
  static constinit LockClass a_again("test.class.a");
  EXPECT_LT(a.id(), kMaxClasses);
  EXPECT_LT(b.id(), kMaxClasses);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(a.id(), a_again.id());
  EXPECT_STREQ(a.name(), "test.class.a");
}

TEST(LockClassTest, EmptyNameIsCountedAsUnnamed) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constinit LockClass empty("");
  Mutex mu(empty);
  { std::lock_guard<Mutex> guard(mu); }
  EXPECT_EQ(StatsOf("lockprof.unnamed").acquisitions, 1u);
}

// Every type works with the standard guards and counts each acquisition once.
TEST(LockprofTest, StandardGuardsCountAcquisitions) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constinit LockClass cls("test.guards");
  Mutex mu(cls);
  SpinLock spin(cls);
  SharedMutex rw(cls);
  { std::lock_guard<Mutex> g(mu); }
  { std::unique_lock<SpinLock> g(spin); }
  { std::scoped_lock g(mu, spin); }
  { std::unique_lock<SharedMutex> g(rw); }
  { std::shared_lock<SharedMutex> g(rw); }
  {
    std::unique_lock<SpinLock> g(spin, std::try_to_lock);
    EXPECT_TRUE(g.owns_lock());
    EXPECT_FALSE(spin.try_lock());  // held by this thread: a failed try
  }
  const ClassStats s = StatsOf("test.guards");
  EXPECT_EQ(s.acquisitions, 7u);
  EXPECT_EQ(s.shared_acquisitions, 1u);
  EXPECT_EQ(s.contended, 0u);
  EXPECT_EQ(s.try_failures, 1u);
  EXPECT_EQ(s.wait_ns, 0u);
}

TEST(LockprofTest, RunTimeDisableStopsCounting) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constinit LockClass cls("test.disable");
  Mutex mu(cls);
  SpinLock spin(cls);
  SharedMutex rw(cls);
  { std::lock_guard<Mutex> g(mu); }
  ASSERT_EQ(StatsOf("test.disable").acquisitions, 1u);

  SetEnabled(false);
  EXPECT_FALSE(Enabled());
  for (int i = 0; i < 100; ++i) {
    { std::lock_guard<Mutex> g(mu); }
    { std::lock_guard<SpinLock> g(spin); }
    { std::lock_guard<SharedMutex> g(rw); }
    { std::shared_lock<SharedMutex> g(rw); }
    // Not ASSERT_TRUE(mu.try_lock()): the thread-safety analysis cannot see
    // the try's result through the macro.
    if (!mu.try_lock()) FAIL() << "try_lock of a free mutex failed";
    mu.unlock();
  }
  // Taken while off, released while on: not counted, no hold recorded.
  mu.lock();
  rw.lock_shared();
  SetEnabled(true);
  rw.unlock_shared();
  mu.unlock();
  ClassStats s = StatsOf("test.disable");
  EXPECT_EQ(s.acquisitions, 1u);
  EXPECT_EQ(s.shared_acquisitions, 0u);

  // Taken while on, released while off: counted, hold measured to the end.
  const uint64_t hold_before = s.hold_ns;
  mu.lock();
  rw.lock_shared();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  SetEnabled(false);
  rw.unlock_shared();
  mu.unlock();
  SetEnabled(true);
  s = StatsOf("test.disable");
  EXPECT_EQ(s.acquisitions, 3u);
  EXPECT_EQ(s.shared_acquisitions, 1u);
  EXPECT_GE(s.hold_ns - hold_before, 2 * 2'000'000u);
}

TEST(LockprofTest, ResetZeroesCounts) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constinit LockClass cls("test.reset");
  Mutex mu(cls);
  for (int i = 0; i < 5; ++i) std::lock_guard<Mutex> g(mu);
  EXPECT_EQ(StatsOf("test.reset").acquisitions, 5u);
  Reset();
  for (const ClassStats& s : Snapshot()) ADD_FAILURE() << "after Reset: " << s.name;
  { std::lock_guard<Mutex> g(mu); }
  EXPECT_EQ(StatsOf("test.reset").acquisitions, 1u);
}

namespace {

// A run-time number of locks is beyond the thread-safety analysis.
void LockAllShared(std::vector<std::unique_ptr<SharedMutex>>& locks) NO_THREAD_SAFETY_ANALYSIS {
  for (auto& l : locks) l->lock_shared();
}
void UnlockAllShared(std::vector<std::unique_ptr<SharedMutex>>& locks) NO_THREAD_SAFETY_ANALYSIS {
  for (auto& l : locks) l->unlock_shared();
}

}  // namespace

// Nested shared holds past the per-thread bound still count as acquisitions;
// the holds inside the bound are still measured.
TEST(LockprofTest, DeepSharedNestingCountsEveryAcquisition) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  static constinit LockClass cls("test.shared_nesting");
  constexpr int kLocks = internal::kMaxHeldShared + 4;
  std::vector<std::unique_ptr<SharedMutex>> locks;
  for (int i = 0; i < kLocks; ++i) locks.push_back(std::make_unique<SharedMutex>(cls));
  LockAllShared(locks);
  UnlockAllShared(locks);
  EXPECT_EQ(internal::t_held_count, 0u);
  const ClassStats s = StatsOf("test.shared_nesting");
  EXPECT_EQ(s.acquisitions, uint64_t{kLocks});
  EXPECT_EQ(s.shared_acquisitions, uint64_t{kLocks});
}

// Default build: the types count. `bazel test --define=lockprof=off`: they
// are the plain locks, same size, and nothing is counted.
TEST(LockprofTest, CompileTimeSwitch) {
  static constinit LockClass cls("test.compile_time");
  Mutex mu(cls);
  SpinLock spin(cls);
  SharedMutex rw(cls);
  { std::scoped_lock g(mu, spin, rw); }
  { std::shared_lock<SharedMutex> g(rw); }
  if constexpr (kCompiledIn) {
    EXPECT_FALSE((std::is_base_of_v<std::mutex, Mutex>));
    EXPECT_EQ(StatsOf("test.compile_time").acquisitions, 4u);
  } else {
    EXPECT_TRUE((std::is_base_of_v<std::mutex, Mutex>));
    EXPECT_TRUE((std::is_base_of_v<std::shared_mutex, SharedMutex>));
    EXPECT_TRUE((std::is_base_of_v<internal::PlainSpinLock, SpinLock>));
    EXPECT_EQ(sizeof(Mutex), sizeof(std::mutex));
    EXPECT_EQ(sizeof(SharedMutex), sizeof(std::shared_mutex));
    EXPECT_EQ(sizeof(SpinLock), sizeof(internal::PlainSpinLock));
    EXPECT_FALSE(Enabled());
    SetEnabled(true);
    EXPECT_FALSE(Enabled());
    EXPECT_TRUE(Snapshot().empty());
  }
}

TEST(LockprofTest, SnapshotIsSortedByWait) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  const std::vector<ClassStats> snap = Snapshot();
  for (size_t i = 1; i < snap.size(); ++i) EXPECT_GE(snap[i - 1].wait_ns, snap[i].wait_ns);
}

std::vector<ClassStats> SampleStats() {
  ClassStats low{.name = "low.wait",
                 .acquisitions = 10,
                 .contended = 1,
                 .wait_ns = 5'000,
                 .max_wait_ns = 5'000,
                 .hold_ns = 20'000,
                 .max_hold_ns = 4'000};
  ClassStats high{.name = "high.wait",
                  .acquisitions = 100,
                  .contended = 50,
                  .wait_ns = 3'000'000,
                  .max_wait_ns = 200'000,
                  .hold_ns = 1'000'000,
                  .max_hold_ns = 90'000,
                  .shared_acquisitions = 60,
                  .try_failures = 7};
  return {low, high};  // not sorted: FormatTable sorts
}

TEST(ReportTest, TableIsSortedByTotalWaitWithLockstatColumns) {
  const std::string table = FormatTable(SampleStats());
  const size_t header = table.find("wait_total_us");
  const size_t high = table.find("high.wait");
  const size_t low = table.find("low.wait");
  ASSERT_NE(header, std::string::npos);
  ASSERT_NE(high, std::string::npos);
  ASSERT_NE(low, std::string::npos);
  EXPECT_LT(header, high);
  EXPECT_LT(high, low) << table;
  // high.wait: 3000 us total wait, 60000 ns average over 50 contended, 50% contended.
  const std::string high_row =
      table.substr(table.rfind('\n', high) + 1, high - table.rfind('\n', high));
  EXPECT_NE(high_row.find("3000.0"), std::string::npos) << high_row;
  EXPECT_NE(high_row.find("60000"), std::string::npos) << high_row;
  EXPECT_NE(high_row.find("50.00"), std::string::npos) << high_row;
}

TEST(ReportTest, JsonHasTheAgreedKeysPerClass) {
  const nlohmann::json j = ToJson(SampleStats());
  ASSERT_TRUE(j.contains("high.wait"));
  const nlohmann::json& h = j["high.wait"];
  EXPECT_EQ(h["acquisitions"], 100);
  EXPECT_EQ(h["contended"], 50);
  EXPECT_EQ(h["wait_ns"], 3'000'000);
  EXPECT_EQ(h["max_wait_ns"], 200'000);
  EXPECT_EQ(h["hold_ns"], 1'000'000);
  EXPECT_EQ(h["max_hold_ns"], 90'000);
  EXPECT_EQ(h["shared_acquisitions"], 60);
  EXPECT_EQ(h["try_failures"], 7);
  EXPECT_EQ(j["low.wait"]["wait_ns"], 5'000);
  EXPECT_TRUE(ToJson({}).is_object());
}

}  // namespace
}  // namespace netisr::lockprof
