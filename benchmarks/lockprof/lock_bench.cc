// Uncontended lock+unlock cost of the profiled locks against the plain
// standard locks (std::mutex, std::shared_mutex; the adaptive wrappers the
// profiled types sit on differ from those only when contended: they retry
// before sleeping), with profiling on and switched off at run time, in one
// binary so the ratios come from one run:
//
//   bazel build -c opt //benchmarks/lockprof:lock_bench &&
//     bazel-bin/benchmarks/lockprof/lock_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//
// Compile-time off (the profiled types are the plain locks; the Profiled*
// rows should equal the Plain* rows):
//
//   bazel build -c opt --define=lockprof=off //benchmarks/lockprof:lock_bench && ...
//
// Figures: docs/architecture.md, "Lock profiling".
#include <benchmark/benchmark.h>

#include <mutex>
#include <shared_mutex>

#include "lockprof/lock.h"

namespace netisr::lockprof {
namespace {

constinit LockClass kBenchClass("bench.lock");

// Profiling on or off at run time for the length of one benchmark.
class EnabledScope {
 public:
  explicit EnabledScope(bool on) : was_(Enabled()) { SetEnabled(on); }
  ~EnabledScope() { SetEnabled(was_ || kCompiledIn); }

 private:
  bool was_;
};

template <class Lock>
void LockUnlock(benchmark::State& state, Lock& lock) {
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
}

template <class Lock>
void LockUnlockShared(benchmark::State& state, Lock& lock) {
  for (auto _ : state) {
    lock.lock_shared();
    lock.unlock_shared();
  }
}

void BM_PlainMutex(benchmark::State& state) {
  std::mutex mu;
  LockUnlock(state, mu);
}
void BM_ProfiledMutex(benchmark::State& state) {
  EnabledScope on(true);
  Mutex mu(kBenchClass);
  LockUnlock(state, mu);
}
void BM_ProfiledMutexRunTimeOff(benchmark::State& state) {
  EnabledScope off(false);
  Mutex mu(kBenchClass);
  LockUnlock(state, mu);
}

void BM_PlainSpin(benchmark::State& state) {
  internal::PlainSpinLock spin;
  LockUnlock(state, spin);
}
void BM_ProfiledSpin(benchmark::State& state) {
  EnabledScope on(true);
  SpinLock spin(kBenchClass);
  LockUnlock(state, spin);
}
void BM_ProfiledSpinRunTimeOff(benchmark::State& state) {
  EnabledScope off(false);
  SpinLock spin(kBenchClass);
  LockUnlock(state, spin);
}

void BM_PlainSharedMutexShared(benchmark::State& state) {
  std::shared_mutex rw;
  LockUnlockShared(state, rw);
}
void BM_ProfiledSharedMutexShared(benchmark::State& state) {
  EnabledScope on(true);
  SharedMutex rw(kBenchClass);
  LockUnlockShared(state, rw);
}
void BM_ProfiledSharedMutexSharedRunTimeOff(benchmark::State& state) {
  EnabledScope off(false);
  SharedMutex rw(kBenchClass);
  LockUnlockShared(state, rw);
}

void BM_PlainSharedMutexExclusive(benchmark::State& state) {
  std::shared_mutex rw;
  LockUnlock(state, rw);
}
void BM_ProfiledSharedMutexExclusive(benchmark::State& state) {
  EnabledScope on(true);
  SharedMutex rw(kBenchClass);
  LockUnlock(state, rw);
}
void BM_ProfiledSharedMutexExclusiveRunTimeOff(benchmark::State& state) {
  EnabledScope off(false);
  SharedMutex rw(kBenchClass);
  LockUnlock(state, rw);
}

BENCHMARK(BM_PlainMutex);
BENCHMARK(BM_ProfiledMutex);
BENCHMARK(BM_ProfiledMutexRunTimeOff);
BENCHMARK(BM_PlainSpin);
BENCHMARK(BM_ProfiledSpin);
BENCHMARK(BM_ProfiledSpinRunTimeOff);
BENCHMARK(BM_PlainSharedMutexShared);
BENCHMARK(BM_ProfiledSharedMutexShared);
BENCHMARK(BM_ProfiledSharedMutexSharedRunTimeOff);
BENCHMARK(BM_PlainSharedMutexExclusive);
BENCHMARK(BM_ProfiledSharedMutexExclusive);
BENCHMARK(BM_ProfiledSharedMutexExclusiveRunTimeOff);

}  // namespace
}  // namespace netisr::lockprof
