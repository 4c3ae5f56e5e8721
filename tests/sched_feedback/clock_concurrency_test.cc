// FastClock read from several threads at once, including the racing first
// use that calibrates the process-wide clock. Its own binary so that the
// race on FastClock::Global()'s initialisation is real.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "sched_feedback/clock.h"

namespace netisr::sched {
namespace {

using Source = FastClock::Source;

constexpr int kThreads = 4;
constexpr int kReads = 300'000;

struct Result {
  const FastClock* global = nullptr;
  uint64_t backwards = 0;      // NowNs below this thread's previous read
  uint64_t before_causal = 0;  // NowNsOrdered below a stamp it had seen
};

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
      const FastClock* c = fixed != nullptr ? fixed : &FastClock::Global();
      r.global = fixed != nullptr ? nullptr : &FastClock::Global();
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
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& th : threads) th.join();
}

TEST(FastClockConcurrencyTest, RacingFirstUseCalibratesOnceAndReadsStayMonotonic) {
  std::vector<Result> results(kThreads);
  ReadConcurrently(nullptr, &results);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t].global, &FastClock::Global()) << "thread " << t;
    EXPECT_EQ(results[t].backwards, 0u) << "thread " << t;
    EXPECT_EQ(results[t].before_causal, 0u) << "thread " << t;
  }
}

TEST(FastClockConcurrencyTest, FallbackReadsStayMonotonic) {
  FastClock fallback(Source::kMonotonic);
  std::vector<Result> results(kThreads);
  ReadConcurrently(&fallback, &results);
  for (int t = 0; t < kThreads; ++t) {
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
