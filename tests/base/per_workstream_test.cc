// base::PerWorkstream: a slot per workstream, and one shared slot for
// threads that are no worker.
#include "base/per_workstream.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "base/counter.h"

namespace netisr::base {
namespace {

TEST(PerWorkstream, EachWorkstreamHasItsOwnSlot) {
  PerWorkstream<int> p(3);
  EXPECT_EQ(p.workstreams(), 3u);
  for (int ws = 0; ws < 3; ++ws) p.For(ws) = 10 + ws;
  for (int ws = 0; ws < 3; ++ws) EXPECT_EQ(p.For(ws), 10 + ws);
  EXPECT_EQ(p.Shared(), 0);  // value-initialised, untouched by the workers
  for (int ws = 0; ws < 3; ++ws) EXPECT_NE(&p.For(ws), &p.Shared());
}

TEST(PerWorkstream, NonWorkersShareTheExtraSlot) {
  PerWorkstream<int> p(2);
  EXPECT_TRUE(p.IsWorker(0));
  EXPECT_TRUE(p.IsWorker(1));
  // -1 is Netisr::CurrentWorkstream() on a thread that is no worker; an
  // index past the end must not reach beyond the array either.
  for (int ws : {-1, -7, 2, 1000}) {
    EXPECT_FALSE(p.IsWorker(ws)) << ws;
    EXPECT_EQ(&p.For(ws), &p.Shared()) << ws;
  }
}

TEST(PerWorkstream, ForEachVisitsTheSharedSlotAndEveryWorkstream) {
  PerWorkstream<int> p(4);
  p.Shared() = 1;
  for (int ws = 0; ws < 4; ++ws) p.For(ws) = 10;
  int sum = 0, slots = 0;
  const auto& cp = p;
  cp.ForEach([&](const int& v) {
    sum += v;
    ++slots;
  });
  EXPECT_EQ(slots, 5);
  EXPECT_EQ(sum, 41);
}

TEST(PerWorkstream, SlotsAreOnCacheLinesOfTheirOwn) {
  PerWorkstream<uint64_t> p(3);
  const auto line = [](const void* a) { return reinterpret_cast<uintptr_t>(a) / 64; };
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&p.Shared()) % 64, 0u);
  EXPECT_NE(line(&p.Shared()), line(&p.For(0)));
  EXPECT_NE(line(&p.For(0)), line(&p.For(1)));
  EXPECT_NE(line(&p.For(1)), line(&p.For(2)));
}

TEST(PerWorkstream, ZeroWorkstreamsIsJustTheSharedSlot) {
  PerWorkstream<int> p(0);
  EXPECT_FALSE(p.IsWorker(0));
  EXPECT_EQ(&p.For(0), &p.Shared());
  int slots = 0;
  p.ForEach([&](int&) { ++slots; });
  EXPECT_EQ(slots, 1);
}

// The pattern the users follow: each worker writes its slot with Add, the
// non-workers write the shared slot with AddShared; the sum is exact. Run
// under TSan (tag `concurrency`).
TEST(PerWorkstream, WorkersAndNonWorkersCountExactly) {
  constexpr int kWorkers = 2, kNonWorkers = 2;
  constexpr uint64_t kAdds = 50'000;
  PerWorkstream<Counter> counts(kWorkers);
  auto add = [&](int ws) {
    Counter& c = counts.For(ws);
    for (uint64_t i = 0; i < kAdds; ++i) {
      if (counts.IsWorker(ws)) {
        c.Add();
      } else {
        c.AddShared();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int ws = 0; ws < kWorkers; ++ws) threads.emplace_back(add, ws);
  for (int i = 0; i < kNonWorkers; ++i) threads.emplace_back(add, -1);
  for (auto& t : threads) t.join();
  uint64_t sum = 0;
  counts.ForEach([&](const Counter& c) { sum += c.Get(); });
  EXPECT_EQ(sum, kAdds * (kWorkers + kNonWorkers));
  EXPECT_EQ(counts.Shared().Get(), kAdds * kNonWorkers);
  EXPECT_EQ(counts.For(0).Get(), kAdds);
}

}  // namespace
}  // namespace netisr::base
