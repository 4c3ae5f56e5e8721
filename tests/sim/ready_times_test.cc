// ReadyTimes (sim/internal/ready_times.h) against the linear scan it
// replaced: after every Set, the same earliest worker (lowest index on
// ties), so that simulations stay bit for bit what they were.
#include "sim/internal/ready_times.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace netisr::sim::internal {
namespace {

size_t ScanEarliest(const std::vector<uint64_t>& t) {
  size_t w = 0;
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i] < t[w]) w = i;
  }
  return w;
}

TEST(ReadyTimes, PicksWhatALinearScanPicksAtEveryWorkerCount) {
  std::mt19937_64 rng(1);
  for (int n : {1, 2, 3, 5, 8, 63, 64, 65}) {
    ReadyTimes ready(n);
    std::vector<uint64_t> scan(static_cast<size_t>(n), ReadyTimes::kNeverReady);
    EXPECT_EQ(ready.Earliest(), 0u) << n;
    for (int step = 0; step < 5000; ++step) {
      const size_t w = rng() % static_cast<size_t>(n);
      // Few distinct values, so that ties are common; kNeverReady too.
      const uint64_t r = rng() % 9;
      const uint64_t t = r == 8 ? ReadyTimes::kNeverReady : r;
      ready.Set(w, t);
      scan[w] = t;
      ASSERT_EQ(ready.Earliest(), ScanEarliest(scan)) << "n " << n << " step " << step;
      ASSERT_EQ(ready[ready.Earliest()], scan[ScanEarliest(scan)]);
    }
    ASSERT_EQ(ready.size(), static_cast<size_t>(n));
  }
}

TEST(ReadyTimes, AllAsleepIsWorkerZeroAtNever) {
  ReadyTimes ready(6);
  ready.Set(3, 10);
  ready.Set(3, ReadyTimes::kNeverReady);
  EXPECT_EQ(ready.Earliest(), 0u);
  EXPECT_EQ(ready[0], ReadyTimes::kNeverReady);
}

}  // namespace
}  // namespace netisr::sim::internal
