#include "sched_feedback/clock.h"

#include <cpuid.h>
#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

namespace netisr::sched {
namespace {

using Source = FastClock::Source;

// What the CPU itself says, independently of FastClock's own check. RDTSCP
// is not needed for the TSC to be used (LFENCE; RDTSC orders without it).
bool CpuHasInvariantTsc() {
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007) return false;
  return __get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) != 0 && (edx & (1u << 8));
}
bool CpuHasRdtscp() {
  unsigned int eax, ebx, ecx, edx;
  return __get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) != 0 && (edx & (1u << 27));
}

// Reads the clock bracketed by two CLOCK_MONOTONIC reads, keeping the
// tightest of a few tries so that a preemption does not skew a comparison.
struct Bracketed {
  uint64_t clock_ns;
  uint64_t mono_ns;  // midpoint of the bracket
  uint64_t width_ns;
};
Bracketed ReadBracketed(const FastClock& c) {
  Bracketed best{0, 0, UINT64_MAX};
  for (int i = 0; i < 16; ++i) {
    const uint64_t before = FastClock::MonotonicNs();
    const uint64_t now = c.NowNs();
    const uint64_t after = FastClock::MonotonicNs();
    if (after - before < best.width_ns) best = {now, before + (after - before) / 2, after - before};
  }
  return best;
}

uint64_t AbsDiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

TEST(ScaleTest, NoOverflowForAnyTickCount) {
  // 2^32 is 1.0 in the fixed point: the identity, even at the largest delta.
  static_assert(FastClock::Scale(UINT64_MAX, uint64_t{1} << FastClock::kShift) == UINT64_MAX);
  // A year of ticks at 10 GHz (3.15e17, well past where a 64-bit product of
  // ticks * mult would overflow) converts to a year of nanoseconds.
  const uint64_t hz = 10'000'000'000;
  const uint64_t year_s = 365ull * 24 * 3600;
  const uint64_t mult = ((uint64_t{1000000000} << FastClock::kShift) + hz / 2) / hz;
  const uint64_t ns = FastClock::Scale(year_s * hz, mult);
  EXPECT_LT(AbsDiff(ns, year_s * 1'000'000'000), year_s * 1'000'000'000 / 100'000'000);
}

TEST(FastClockTest, GlobalUsesTscWhenTheCpuHasAnInvariantOne) {
  const FastClock& c = FastClock::Global();
  std::printf("FastClock::Global(): source=%s tsc_hz=%llu fallback_reason='%s'\n",
              c.source() == Source::kTsc ? "tsc" : "monotonic",
              static_cast<unsigned long long>(c.tsc_hz()), c.fallback_reason().c_str());
  RecordProperty("tsc_hz", std::to_string(c.tsc_hz()));
  std::printf("CPU: invariant TSC %d, RDTSCP %d; ordered reads by %s\n", CpuHasInvariantTsc(),
              CpuHasRdtscp(), c.uses_rdtscp() ? "RDTSCP" : "LFENCE; RDTSC");
  if (CpuHasInvariantTsc()) {
    // With or without RDTSCP (some KVM guests hide it).
    EXPECT_EQ(c.source(), Source::kTsc) << c.fallback_reason();
    EXPECT_EQ(c.uses_rdtscp(), CpuHasRdtscp());
  } else {
    EXPECT_EQ(c.source(), Source::kMonotonic);
    EXPECT_FALSE(c.fallback_reason().empty());
  }
  EXPECT_EQ(&c, &FastClock::Global());
}

TEST(FastClockTest, ReportedFrequencyIsPlausible) {
  const FastClock& c = FastClock::Global();
  if (!CpuHasInvariantTsc()) {
    EXPECT_EQ(c.tsc_hz(), 0u);
    return;
  }
  ASSERT_EQ(c.source(), Source::kTsc) << c.fallback_reason();
  EXPECT_GT(c.tsc_hz(), 100'000'000u);
  EXPECT_LT(c.tsc_hz(), 10'000'000'000u);
  EXPECT_TRUE(c.fallback_reason().empty());
}

TEST(FastClockTest, ForcedFallbackReportsMonotonic) {
  FastClock c(Source::kMonotonic);
  EXPECT_EQ(c.source(), Source::kMonotonic);
  EXPECT_EQ(c.tsc_hz(), 0u);
  EXPECT_TRUE(c.fallback_reason().empty());  // asked for, not fallen back to
}

// Both sources through the same checks: the global (TSC where available)
// and a forced fallback.
class ClockSourceTest : public ::testing::TestWithParam<Source> {
 protected:
  void SetUp() override {
    if (GetParam() == Source::kMonotonic) {
      owned_ = std::make_unique<FastClock>(Source::kMonotonic);
      clock_ = owned_.get();
    } else {
      clock_ = &FastClock::Global();
    }
  }
  const FastClock* clock_ = nullptr;
  std::unique_ptr<FastClock> owned_;
};

TEST_P(ClockSourceTest, NeverDecreasesAcrossManyReads) {
  uint64_t prev = clock_->NowNs();
  uint64_t backwards = 0;
  for (int i = 0; i < 2'000'000; ++i) {
    const uint64_t now = clock_->NowNs();
    backwards += now < prev;
    prev = now;
  }
  EXPECT_EQ(backwards, 0u);
}

TEST_P(ClockSourceTest, OrderedReadNeverDecreasesAndInterleavesWithNowNs) {
  uint64_t prev = clock_->NowNsOrdered();
  uint64_t backwards = 0;
  for (int i = 0; i < 500'000; ++i) {
    const uint64_t a = clock_->NowNs();
    const uint64_t b = clock_->NowNsOrdered();
    backwards += (a < prev) + (b < a);
    prev = b;
  }
  EXPECT_EQ(backwards, 0u);
}

// Both ordered reads the CPU may offer never run behind a plain RDTSC that
// precedes them, whichever one FastClock picked here.
TEST(FastClockTest, BothOrderedTscReadsFollowPlainReads) {
  const bool modes[] = {false, true};
  for (const bool rdtscp : modes) {
    if (rdtscp && !CpuHasRdtscp()) continue;  // would fault: #UD
    uint64_t backwards = 0;
    uint64_t prev = FastClock::ReadTscOrdered(rdtscp);
    for (int i = 0; i < 200'000; ++i) {
      const uint64_t a = __rdtsc();
      const uint64_t b = FastClock::ReadTscOrdered(rdtscp);
      backwards += (a < prev) + (b < a);
      prev = b;
    }
    EXPECT_EQ(backwards, 0u) << (rdtscp ? "RDTSCP" : "LFENCE; RDTSC");
  }
}

TEST_P(ClockSourceTest, AgreesWithClockMonotonicOverASleep) {
  const Bracketed a = ReadBracketed(*clock_);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Bracketed b = ReadBracketed(*clock_);
  ASSERT_GT(b.clock_ns, a.clock_ns);
  const uint64_t clock_span = b.clock_ns - a.clock_ns;
  const uint64_t mono_span = b.mono_ns - a.mono_ns;
  ASSERT_GE(mono_span, 50'000'000u);
  // 1% of the span, plus the pairing uncertainty of each end.
  const uint64_t tolerance = mono_span / 100 + a.width_ns + b.width_ns;
  EXPECT_LE(AbsDiff(clock_span, mono_span), tolerance)
      << "clock " << clock_span << " ns vs CLOCK_MONOTONIC " << mono_span << " ns";
}

TEST_P(ClockSourceTest, StaysOnTheClockMonotonicTimeline) {
  // Anchored to CLOCK_MONOTONIC at calibration; drift since then is the
  // calibration error (ppm) times the seconds this process has run, far
  // below this 5 ms bound.
  const Bracketed r = ReadBracketed(*clock_);
  EXPECT_LE(AbsDiff(r.clock_ns, r.mono_ns), 5'000'000u + r.width_ns)
      << "clock " << r.clock_ns << " vs CLOCK_MONOTONIC " << r.mono_ns;
}

INSTANTIATE_TEST_SUITE_P(Sources, ClockSourceTest,
                         ::testing::Values(Source::kTsc, Source::kMonotonic),
                         [](const ::testing::TestParamInfo<Source>& info) {
                           return info.param == Source::kTsc ? "Global" : "ForcedMonotonic";
                         });

TEST(FastClockTest, IndependentCalibrationsAgree) {
  // A second kTsc clock calibrates on its own; both anchor to
  // CLOCK_MONOTONIC, so they read within a millisecond of each other.
  FastClock other(Source::kTsc);
  EXPECT_EQ(other.source(), FastClock::Global().source());
  const uint64_t a = FastClock::Global().NowNs();
  const uint64_t b = other.NowNs();
  const uint64_t c = FastClock::Global().NowNs();
  EXPECT_LE(AbsDiff(b, a + (c - a) / 2), 1'000'000u + (c - a));
  if (other.source() == Source::kTsc) {
    // Two calibrations of the same TSC: within 0.1% (typically ~10 ppm).
    EXPECT_LE(AbsDiff(other.tsc_hz(), FastClock::Global().tsc_hz()), other.tsc_hz() / 1000);
  }
}

TEST(FastClockTest, FreeNowNsReadsTheGlobalClock) {
  const uint64_t a = FastClock::Global().NowNs();
  const uint64_t b = NowNs();
  const uint64_t c = FastClock::Global().NowNs();
  EXPECT_LE(a, b);
  EXPECT_LE(b, c);
}

}  // namespace
}  // namespace netisr::sched
