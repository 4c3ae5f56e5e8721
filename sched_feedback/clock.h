// A monotonic nanosecond clock cheap enough to read per packet.
//
// Guarantees: NowNs() is on CLOCK_MONOTONIC's timeline (nanoseconds since
// boot) at calibration time, never decreases within a thread, and compiles
// inline to RDTSC, one MUL (64x64->128) and a SHRD: 9.7 ns per read, the
// same as bare RDTSC (the conversion hides under its latency), against
// 24.4 ns for clock_gettime(CLOCK_MONOTONIC) through the vDSO (2.5x) and
// 21 ns for NowNsOrdered() (RDTSCP). CPU time per read, 2-vCPU AMD EPYC
// KVM guest at 2.596 GHz, benchmarks/sched_feedback/clock_bench.cc.
//
// Source: the TSC, only when the CPU says it is invariant (CPUID 0x80000007
// EDX bit 8: constant rate across P-/C-states, which is also what Linux needs
// to use it as a clocksource), and only if two back-to-back calibration
// windows against CLOCK_MONOTONIC agree on its rate within 0.1%. Ordered
// reads use RDTSCP where the CPU has it, else LFENCE; RDTSC (the SDM's and
// APM's documented way to keep RDTSC after earlier instructions and loads,
// and Linux's rdtsc_ordered on CPUs with a dispatch-serializing LFENCE:
// every Intel, and AMD since Linux sets DE_CFG[1] or CPUID 0x80000021 EAX[2]
// says so). Some KVM guests (this one, Zen 5) hide RDTSCP but expose an
// invariant TSC; requiring RDTSCP sent them to the vDSO on every read.
// Otherwise the fallback is CLOCK_MONOTONIC itself (vDSO, ~25 ns when the
// kernel's clocksource is tsc or kvm-clock; a syscall, typically ~0.5-1 us
// and not measured here, when it is hpet or acpi_pm), not CLOCK_MONOTONIC_COARSE: coarse costs 5 ns
// but only ticks every jiffy (4 ms at HZ=250), three orders of magnitude coarser than the
// microsecond service times the scheduler feedback measures.
//
// Conversion: ns = ns0 + ((tsc - tsc0) * mult) >> 32 with the product in
// unsigned __int128, so it cannot overflow for any 64-bit tick delta (no
// rebasing needed); mult = 2^32 * 1e9 / hz keeps >= 28 significant bits for
// any TSC up to 10 GHz, a quantisation error < 4e-9, far under the
// calibration error (bounded at ~10 ppm; 10 calibrations here beside four
// CPU hogs on two vCPUs spread over 0.6 ppm).
//
// Trade-offs and limits:
//  * First use calibrates for ~20 ms (two 10 ms windows; up to 3 attempts,
//    60 ms worst case). Call FastClock::Global() at init, not on the packet
//    path.
//  * The rate is fixed at calibration. CLOCK_MONOTONIC is NTP-slewed (at most
//    500 ppm), so over long spans NowNs drifts from clock_gettime by the slew
//    change plus the calibration error (typically a few ppm: a few us per
//    second). Use NowNs for intervals; do not mix its stamps with
//    clock_gettime stamps.
//  * NowNs uses plain RDTSC, which the CPU may execute before earlier loads
//    complete. Within one thread it never goes backwards; across threads a
//    stamp taken after an acquire load may precede (by up to the
//    out-of-order window, ~100 ns) a stamp the releasing thread took before
//    its store. NowNsOrdered (RDTSCP or LFENCE; RDTSC: waits for all earlier
//    instructions and loads) closes that window at twice the cost; callers that subtract a
//    stamp from another thread should use it or saturate at zero.
//  * Cross-core consistency relies on the TSCs of all cores being in sync,
//    which invariant-TSC hardware provides and Linux verifies at boot (it
//    demotes the tsc clocksource otherwise).
//
// Follows the Linux vDSO's clock_gettime (mult/shift over a TSC delta,
// rdtsc_ordered) and FreeBSD's tsc timecounter (invariant-TSC check before
// use). Knows nothing of netisr.
#pragma once

#include <time.h>
#include <x86intrin.h>

#include <cstdint>
#include <string>

namespace netisr::sched {

class alignas(64) FastClock {
 public:
  enum class Source { kTsc, kMonotonic };

  // Calibrates now (blocks ~20 ms when `want` is kTsc). kTsc falls back to
  // kMonotonic if the TSC is not usable (see fallback_reason()); kMonotonic
  // forces the fallback, for tests and for comparison.
  explicit FastClock(Source want);

  FastClock(const FastClock&) = delete;
  FastClock& operator=(const FastClock&) = delete;

  // The process-wide clock, calibrated on the first call. C++ guarantees the
  // initialisation of a function-local static runs once even when threads
  // race to it: the compiler's guard variable is read with an acquire load
  // that pairs with the release store made once the constructor returns, so
  // every thread sees the calibrated (thereafter read-only) fields.
  static const FastClock& Global() {
    static const FastClock clock(Source::kTsc);
    return clock;
  }

  // Monotonic nanoseconds on CLOCK_MONOTONIC's timeline.
  uint64_t NowNs() const {
    if (source_ == Source::kTsc) [[likely]] {
      return ns0_ + Scale(__rdtsc() - tsc0_, mult_);
    }
    return MonotonicNs();
  }

  // Like NowNs, but not executed before earlier instructions (loads
  // included) complete: for stamps compared with stamps from other threads.
  uint64_t NowNsOrdered() const {
    if (source_ == Source::kTsc) [[likely]] {
      return ns0_ + Scale(ReadTscOrdered(rdtscp_) - tsc0_, mult_);
    }
    return MonotonicNs();  // clock_gettime already reads the TSC ordered
  }

  // The TSC, read after every earlier instruction (loads included) has
  // completed: RDTSCP when `rdtscp`, else LFENCE; RDTSC.
  static uint64_t ReadTscOrdered(bool rdtscp) {
    if (rdtscp) {
      unsigned int aux;
      return __rdtscp(&aux);
    }
    _mm_lfence();
    return __rdtsc();
  }
  // Whether ordered reads use RDTSCP (false: LFENCE; RDTSC).
  bool uses_rdtscp() const { return rdtscp_; }

  Source source() const { return source_; }
  // The calibrated TSC rate in Hz; 0 when the source is kMonotonic.
  uint64_t tsc_hz() const { return tsc_hz_; }
  // Why a kTsc request fell back to kMonotonic; empty otherwise.
  const std::string& fallback_reason() const { return fallback_reason_; }

  // ticks * mult / 2^kShift without overflow; exposed for tests.
  static constexpr int kShift = 32;
  static constexpr uint64_t Scale(uint64_t ticks, uint64_t mult) {
    __extension__ using Uint128 = unsigned __int128;
    return static_cast<uint64_t>((static_cast<Uint128>(ticks) * mult) >> kShift);
  }

  static uint64_t MonotonicNs() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }

 private:
  bool CalibrateTsc();

  // Read on every NowNs: kept together at the start of the (64-byte
  // aligned) object so one cache line serves the hot path. Written only in
  // the constructor.
  Source source_ = Source::kMonotonic;
  bool rdtscp_ = false;  // CPUID 0x80000001 EDX bit 27, for NowNsOrdered
  uint64_t tsc0_ = 0;    // TSC at the calibration anchor
  uint64_t ns0_ = 0;     // CLOCK_MONOTONIC ns at the same instant
  uint64_t mult_ = 0;    // ns per tick, fixed point with kShift fraction bits

  uint64_t tsc_hz_ = 0;
  std::string fallback_reason_;
};

// FastClock::Global().NowNs().
inline uint64_t NowNs() { return FastClock::Global().NowNs(); }

}  // namespace netisr::sched
