// base::Counter: a statistic with one writer, read from any thread.
#include "base/counter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace netisr::base {
namespace {

TEST(Counter, AddsSubtractsAndResets) {
  Counter c;
  EXPECT_EQ(c.Get(), 0u);
  c.Add();
  c.Add(41);
  EXPECT_EQ(c.Get(), 42u);
  c.Sub();
  c.Sub(40);
  EXPECT_EQ(c.Get(), 1u);
  c.Reset();
  EXPECT_EQ(c.Get(), 0u);
}

TEST(Counter, GaugeWrapsLikeUnsignedArithmetic) {
  // A connection count that goes -1 then +1 (remove before insert is never
  // observed from one writer, but the arithmetic must not saturate).
  Counter c;
  c.Sub();
  EXPECT_EQ(c.Get(), ~uint64_t{0});
  c.Add();
  EXPECT_EQ(c.Get(), 0u);
}

TEST(Counter, MaxKeepsTheHighWaterMark) {
  Counter c;
  c.Max(5);
  c.Max(3);
  EXPECT_EQ(c.Get(), 5u);
  c.Max(9);
  EXPECT_EQ(c.Get(), 9u);
  c.MaxShared(7);
  EXPECT_EQ(c.Get(), 9u);
  c.MaxShared(11);
  EXPECT_EQ(c.Get(), 11u);
}

TEST(Counter, IsOneWordSoEightFillALine) { EXPECT_EQ(sizeof(Counter), 8u); }

// One writer, several readers: readers never see a value go backwards or
// past what was written, and the final value is exact. Run under TSan
// (tag `concurrency`): the relaxed load + store must be race free.
TEST(Counter, OneWriterManyReaders) {
  constexpr uint64_t kAdds = 200'000;
  Counter c;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!done.load(std::memory_order_acquire)) {
        const uint64_t v = c.Get();
        if (v < last || v > kAdds) bad.fetch_add(1, std::memory_order_relaxed);
        last = v;
      }
    });
  }
  std::thread writer([&] {
    for (uint64_t i = 0; i < kAdds; ++i) c.Add();
    done.store(true, std::memory_order_release);
  });
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(c.Get(), kAdds);
}

// Several writers through AddShared lose nothing.
TEST(Counter, SharedWritersLoseNoCount) {
  constexpr uint64_t kAdds = 50'000;
  constexpr int kWriters = 4;
  Counter c;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      for (uint64_t i = 0; i < kAdds; ++i) c.AddShared();
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(c.Get(), kAdds * kWriters);
}

}  // namespace
}  // namespace netisr::base
