// Cost of one clock read on the per-packet path: FastClock on the TSC and on
// its CLOCK_MONOTONIC fallback, against clock_gettime (MONOTONIC and
// MONOTONIC_COARSE) and the bare RDTSC/RDTSCP they are built on. One binary so
// that the ratios come from one run:
//
//   bazel run -c opt //benchmarks/sched_feedback:clock_bench --
//     --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// (one command line). Read the CPU column: on a shared or oversubscribed
// machine the Time column also counts time the thread was not running.
//
// Each iteration is one read fed to DoNotOptimize, so the figure is the
// read's throughput cost in a tight loop (back-to-back reads; a read
// amid packet work overlaps more of its latency).
#include <benchmark/benchmark.h>
#include <cpuid.h>
#include <time.h>
#include <x86intrin.h>

#include <cstdint>

#include "sched_feedback/clock.h"

namespace netisr::sched {
namespace {

void BM_RawRdtsc(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(__rdtsc());
}
BENCHMARK(BM_RawRdtsc);

void BM_RawRdtscp(benchmark::State& state) {
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) == 0 || (edx & (1u << 27)) == 0) {
    state.SkipWithError("CPU lacks RDTSCP");  // it would fault (#UD)
  }
  unsigned int aux;
  for (auto _ : state) benchmark::DoNotOptimize(__rdtscp(&aux));
}
BENCHMARK(BM_RawRdtscp);

// The ordered read where RDTSCP is missing (FastClock::ReadTscOrdered).
void BM_RawLfenceRdtsc(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(FastClock::ReadTscOrdered(false));
}
BENCHMARK(BM_RawLfenceRdtsc);

void BM_FastClockNowNs(benchmark::State& state) {
  const FastClock& c = FastClock::Global();
  if (c.source() != FastClock::Source::kTsc) state.SkipWithError(c.fallback_reason().c_str());
  for (auto _ : state) benchmark::DoNotOptimize(c.NowNs());
  state.counters["tsc_hz"] = static_cast<double>(c.tsc_hz());
}
BENCHMARK(BM_FastClockNowNs);

// Through the free function: adds the function-local static's guard check.
void BM_FreeNowNs(benchmark::State& state) {
  FastClock::Global();  // calibrate outside the timed loop
  for (auto _ : state) benchmark::DoNotOptimize(NowNs());
}
BENCHMARK(BM_FreeNowNs);

void BM_FastClockNowNsOrdered(benchmark::State& state) {
  const FastClock& c = FastClock::Global();
  for (auto _ : state) benchmark::DoNotOptimize(c.NowNsOrdered());
}
BENCHMARK(BM_FastClockNowNsOrdered);

void BM_FastClockFallbackNowNs(benchmark::State& state) {
  static const FastClock c(FastClock::Source::kMonotonic);
  for (auto _ : state) benchmark::DoNotOptimize(c.NowNs());
}
BENCHMARK(BM_FastClockFallbackNowNs);

uint64_t ReadClock(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void BM_ClockGettimeMonotonic(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ReadClock(CLOCK_MONOTONIC));
}
BENCHMARK(BM_ClockGettimeMonotonic);

void BM_ClockGettimeMonotonicCoarse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ReadClock(CLOCK_MONOTONIC_COARSE));
}
BENCHMARK(BM_ClockGettimeMonotonicCoarse);

}  // namespace
}  // namespace netisr::sched
