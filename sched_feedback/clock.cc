#include "sched_feedback/clock.h"

#include <cpuid.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace netisr::sched {

namespace {

__extension__ using Uint128 = unsigned __int128;

// Length of one calibration window, ns. Each window's rate is measured
// between two (TSC, CLOCK_MONOTONIC) pairs whose pairing error is ~50 ns, so
// 10 ms gives ~10 ppm per window: 100x finer than kMaxDisagreement, while
// keeping the first-use stall (two windows) at ~20 ms.
constexpr auto kWindow = std::chrono::milliseconds(10);

// Largest relative difference allowed between the two windows' rates. An
// invariant TSC agrees to ~10 ppm (the measurement error); 0.1% admits that
// with 100x margin yet rejects a TSC that changes rate with P-states (tens
// of percent) or a guest whose TSC jumps across a migration.
constexpr double kMaxDisagreement = 1e-3;

// Calibration attempts before falling back; a pairing disturbed in every try
// of every attempt means the machine is too noisy for the TSC to be trusted.
constexpr int kAttempts = 3;

// Reads per (TSC, CLOCK_MONOTONIC) pair; the tightest bracket wins. 8 makes
// a preemption or SMI hitting all of them negligible; costs ~0.5 us.
constexpr int kPairTries = 8;

// A pair whose bracket exceeds this, ns, was disturbed in all its tries (a
// clean one is ~50-100 ns). At 2 us each end is off by at most 1 us, so a
// window's rate by at most 2e-4, 5x under kMaxDisagreement; wider pairs make
// the attempt retry rather than be trusted.
constexpr uint64_t kMaxBracketNs = 2'000;

// Plausible TSC rates, Hz. No x86-64 has shipped an invariant TSC outside
// ~1-5 GHz; below 100 MHz or above 10 GHz the calibration is wrong.
constexpr uint64_t kMinHz = 100'000'000;
constexpr uint64_t kMaxHz = 10'000'000'000;

struct Pair {
  uint64_t tsc;
  uint64_t ns;     // CLOCK_MONOTONIC at the bracket's midpoint
  uint64_t width;  // bracket width, ns: the pairing's uncertainty
};

Pair ReadPair(bool rdtscp) {
  Pair best{0, 0, UINT64_MAX};
  for (int i = 0; i < kPairTries; ++i) {
    const uint64_t before = FastClock::MonotonicNs();
    const uint64_t tsc = FastClock::ReadTscOrdered(rdtscp);
    const uint64_t after = FastClock::MonotonicNs();
    if (after - before < best.width) best = {tsc, before + (after - before) / 2, after - before};
  }
  return best;
}

// Ticks per second between two pairs; 0 if the span is empty or reversed.
uint64_t RateHz(const Pair& a, const Pair& b) {
  if (b.ns <= a.ns || b.tsc <= a.tsc) return 0;
  return static_cast<uint64_t>(static_cast<Uint128>(b.tsc - a.tsc) * 1'000'000'000u /
                               (b.ns - a.ns));
}

// Empty if the CPU offers an invariant TSC, else why not. RDTSCP is not
// required: without it ordered reads are LFENCE; RDTSC (see clock.h).
std::string TscUnsupportedReason() {
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007) {
    return "CPUID has no leaf 0x80000007 (invariant TSC unknown)";
  }
  if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0 || (edx & (1u << 8)) == 0) {
    return "TSC is not invariant (CPUID 0x80000007 EDX bit 8 clear)";
  }
  return "";
}

bool CpuHasRdtscp() {
  unsigned int eax, ebx, ecx, edx;
  return __get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) != 0 && (edx & (1u << 27)) != 0;
}

}  // namespace

FastClock::FastClock(Source want) {
  if (want == Source::kMonotonic) return;
  fallback_reason_ = TscUnsupportedReason();
  if (!fallback_reason_.empty()) return;
  rdtscp_ = CpuHasRdtscp();
  if (CalibrateTsc()) {
    source_ = Source::kTsc;
    fallback_reason_.clear();
  }
}

bool FastClock::CalibrateTsc() {
  char why[160] = "";
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const Pair p0 = ReadPair(rdtscp_);
    std::this_thread::sleep_for(kWindow);
    const Pair p1 = ReadPair(rdtscp_);
    std::this_thread::sleep_for(kWindow);
    const Pair p2 = ReadPair(rdtscp_);
    if (p0.width > kMaxBracketNs || p1.width > kMaxBracketNs || p2.width > kMaxBracketNs) {
      std::snprintf(why, sizeof(why), "TSC/CLOCK_MONOTONIC pairing disturbed (bracket > %llu ns)",
                    static_cast<unsigned long long>(kMaxBracketNs));
      continue;
    }
    const uint64_t hz1 = RateHz(p0, p1);
    const uint64_t hz2 = RateHz(p1, p2);
    const uint64_t hz = RateHz(p0, p2);
    if (hz < kMinHz || hz > kMaxHz) {
      std::snprintf(why, sizeof(why), "implausible TSC rate %llu Hz",
                    static_cast<unsigned long long>(hz));
      continue;
    }
    const double diff = hz1 > hz2 ? static_cast<double>(hz1 - hz2) : static_cast<double>(hz2 - hz1);
    if (diff / static_cast<double>(hz) > kMaxDisagreement) {
      std::snprintf(why, sizeof(why), "TSC rate unstable: %llu Hz then %llu Hz",
                    static_cast<unsigned long long>(hz1), static_cast<unsigned long long>(hz2));
      continue;
    }
    // Anchor at the first pair: any core's TSC is then ~20 ms past tsc0_, so
    // (tsc - tsc0_) cannot wrap unless cores disagree by more than that.
    tsc0_ = p0.tsc;
    ns0_ = p0.ns;
    mult_ =
        static_cast<uint64_t>((static_cast<Uint128>(p2.ns - p0.ns) << kShift) / (p2.tsc - p0.tsc));
    tsc_hz_ = hz;
    return true;
  }
  fallback_reason_ = why;
  return false;
}

}  // namespace netisr::sched
