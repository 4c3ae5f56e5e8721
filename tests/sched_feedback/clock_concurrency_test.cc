// FastClock read from several threads at once, including the racing first
// use that calibrates the process-wide clock. Its own binary so that the
// race on FastClock::Global()'s initialisation is real.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "sched_feedback/clock.h"

namespace netisr::sched {
namespace {

using Source = FastClock::Source;

constexpr int kThreads = 4;
constexpr int kReads = 300'000;

// How far an ordered read of `c` falls outside the CLOCK_MONOTONIC readings
// taken just before and after it, ns (0 inside). A clock seen before its
// calibration finished (zero fields, a half-written anchor) reads seconds
// off; a calibrated one within its pairing error plus rate error since
// calibration (~us).
uint64_t OffMonotonic(const FastClock& c) {
  const uint64_t before = FastClock::MonotonicNs();
  const uint64_t now = c.NowNsOrdered();
  const uint64_t after = FastClock::MonotonicNs();
  return now < before ? before - now : now > after ? now - after : 0;
}

struct Result {
  // What this thread saw of the clock at its first use: the calibration
  // (source, rate) and its first and last reads against CLOCK_MONOTONIC.
  FastClock::Source source = FastClock::Source::kMonotonic;
  uint64_t tsc_hz = 0;
  uint64_t first_off_ns = UINT64_MAX;
  uint64_t last_off_ns = UINT64_MAX;
  uint64_t backwards = 0;      // NowNs below this thread's previous read
  uint64_t before_causal = 0;  // NowNsOrdered below a stamp it had seen
};

// Off CLOCK_MONOTONIC by more than this is wrong, ns: pairing (< 2 us),
// calibration error (~10 ppm) and NTP slew (<= 500 ppm) over the test's
// second or so stay under it; an uncalibrated or mis-anchored clock is
// seconds off (it reads 0, or ns since boot from the wrong anchor).
constexpr uint64_t kMaxOffNs = 1'000'000;

// Every thread reads in a loop and checks (1) its own reads never go back,
// and (2) an ordered read taken after acquiring another thread's published
// stamp is not below it (causality across cores: needs the TSCs in sync).
void ReadConcurrently(const FastClock* fixed, std::vector<Result>* results) {
  std::atomic<bool> go{false};
  // Largest stamp published so far. Stores are release (in the CAS), loads
  // acquire: a thread that sees a stamp has also seen its writer's rdtscp
  // complete, so its own later NowNsOrdered must not be smaller.
  std::atomic<uint64_t> latest{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Result& r = (*results)[t];
      // Relaxed would do for a start flag; acquire pairs with the release
      // store below only to keep the start line obvious.
      while (!go.load(std::memory_order_acquire)) {
      }
      // The racing first use: every thread's first look at the clock, and
      // its first read, happen while the others may still be calibrating.
      const FastClock* c = fixed != nullptr ? fixed : &FastClock::Global();
      r.first_off_ns = OffMonotonic(*c);
      r.source = c->source();
      r.tsc_hz = c->tsc_hz();
      uint64_t prev = c->NowNs();
      for (int i = 0; i < kReads; ++i) {
        const uint64_t now = c->NowNs();
        r.backwards += now < prev;
        prev = now;
        if (i % 16 == 0) {
          uint64_t seen = latest.load(std::memory_order_acquire);
          const uint64_t stamp = c->NowNsOrdered();
          r.before_causal += stamp < seen;
          while (seen < stamp &&
                 !latest.compare_exchange_weak(seen, stamp, std::memory_order_release,
                                               std::memory_order_acquire)) {
          }
        }
      }
      r.last_off_ns = OffMonotonic(*c);
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& th : threads) th.join();
}

// Threads racing to the first use of FastClock::Global() all get one
// finished calibration: the same source and rate as the clock ends up with,
// reads on CLOCK_MONOTONIC's timeline from their very first one, never
// going back, and ordered across threads. A lazy initialisation that let a
// racer through before the calibration was written (or wrote it piecemeal)
// fails the first-read and rate checks.
TEST(FastClockConcurrencyTest, RacingFirstUsersAllSeeOneFinishedCalibration) {
  std::vector<Result> results(kThreads);
  ReadConcurrently(nullptr, &results);
  const FastClock& global = FastClock::Global();
  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(results[t].source, global.source());
    EXPECT_EQ(results[t].tsc_hz, global.tsc_hz());
    EXPECT_LE(results[t].first_off_ns, kMaxOffNs);
    EXPECT_LE(results[t].last_off_ns, kMaxOffNs);
    EXPECT_EQ(results[t].backwards, 0u);
    EXPECT_EQ(results[t].before_causal, 0u);
  }
}

TEST(FastClockConcurrencyTest, FallbackReadsStayMonotonic) {
  FastClock fallback(Source::kMonotonic);
  std::vector<Result> results(kThreads);
  ReadConcurrently(&fallback, &results);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t].source, Source::kMonotonic) << "thread " << t;
    EXPECT_EQ(results[t].first_off_ns, 0u) << "thread " << t;
    EXPECT_EQ(results[t].backwards, 0u) << "thread " << t;
    EXPECT_EQ(results[t].before_causal, 0u) << "thread " << t;
  }
}

TEST(FastClockConcurrencyTest, ClocksBuiltConcurrentlyAllCalibrate) {
  std::vector<std::thread> threads;
  std::vector<Source> sources(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sources, t] { sources[t] = FastClock(Source::kTsc).source(); });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(sources[t], FastClock::Global().source());
}

}  // namespace
}  // namespace netisr::sched
