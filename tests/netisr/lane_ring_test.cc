// LaneRing (netisr/internal/lane_ring.h), directly: capacity, short pushes,
// wraparound with split copies, and FIFO across two threads (run under
// TSan: the test is tagged concurrency).
#include "netisr/internal/lane_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace netisr::internal {
namespace {

// Distinct fake pointers standing for packets: never dereferenced.
Packet* Tag(uintptr_t i) { return reinterpret_cast<Packet*>((i + 1) * alignof(Packet)); }
uintptr_t Untag(Packet* p) { return reinterpret_cast<uintptr_t>(p) / alignof(Packet) - 1; }

TEST(LaneRing, HoldsCapacityAndAShortPushSaysHowMany) {
  for (uint32_t cap : {1u, 2u, 3u, 7u, 64u}) {
    LaneRing ring(cap);
    std::vector<Packet*> in(cap + 5);
    for (size_t i = 0; i < in.size(); ++i) in[i] = Tag(i);
    EXPECT_EQ(ring.push(in.data(), in.size()), cap) << cap;
    EXPECT_EQ(ring.push(in.data(), 1), 0u) << cap;  // full
    std::vector<Packet*> out(in.size());
    EXPECT_EQ(ring.pop(out.data(), out.size()), cap) << cap;
    for (size_t i = 0; i < cap; ++i) EXPECT_EQ(out[i], in[i]);
    EXPECT_EQ(ring.pop(out.data(), out.size()), 0u) << cap;  // empty
  }
}

TEST(LaneRing, BurstsThatWrapKeepTheirOrder) {
  constexpr uint32_t kCap = 7;  // 8 slots: bursts of 3 and 5 split at the end
  LaneRing ring(kCap);
  uintptr_t next_in = 0, next_out = 0;
  for (int round = 0; round < 100; ++round) {
    const size_t n = 1 + round % kCap;
    std::vector<Packet*> in(n);
    for (auto& p : in) p = Tag(next_in++);
    ASSERT_EQ(ring.push(in.data(), n), n);
    std::vector<Packet*> out(kCap);
    const size_t got = ring.pop(out.data(), round % 2 == 0 ? n : kCap);
    ASSERT_EQ(got, n);
    for (size_t i = 0; i < got; ++i) ASSERT_EQ(Untag(out[i]), next_out++);
  }
}

// A pop asked for more than the consumer's cached count sees what the
// producer pushed since: bursts do not shrink to an old remainder.
TEST(LaneRing, APopLooksAgainWhenItsCountIsShort) {
  LaneRing ring(64);
  std::vector<Packet*> in(64), out(64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = Tag(i);
  ASSERT_EQ(ring.push(in.data(), 40), 40u);
  ASSERT_EQ(ring.pop(out.data(), 32), 32u);  // caches 40, 8 left by its copy
  ASSERT_EQ(ring.push(in.data() + 40, 24), 24u);
  EXPECT_EQ(ring.pop(out.data(), 32), 32u);  // 8 + 24, not 8
}

TEST(LaneRing, TwoThreadsKeepFifoOrder) {
  constexpr uintptr_t kPackets = 300000;
  for (uint32_t cap : {1u, 3u, 64u}) {
    LaneRing ring(cap);
    std::thread producer([&] {
      std::mt19937 rng(cap);
      uintptr_t sent = 0;
      std::vector<Packet*> burst(40);
      while (sent < kPackets) {
        const size_t n = std::min<uintptr_t>(1 + rng() % 40, kPackets - sent);
        for (size_t i = 0; i < n; ++i) burst[i] = Tag(sent + i);
        size_t done = 0;
        while (done < n) {
          done += ring.push(burst.data() + done, n - done);
          if (done < n) std::this_thread::yield();
        }
        sent += n;
      }
    });
    std::mt19937 rng(cap + 1);
    std::vector<Packet*> out(40);
    uintptr_t expect = 0;
    bool in_order = true;
    while (expect < kPackets) {
      const size_t got = ring.pop(out.data(), 1 + rng() % 40);
      if (got == 0) std::this_thread::yield();
      for (size_t i = 0; i < got; ++i) in_order &= Untag(out[i]) == expect++;
    }
    producer.join();
    EXPECT_TRUE(in_order) << cap;
    EXPECT_EQ(ring.pop(out.data(), out.size()), 0u) << cap;
  }
}

}  // namespace
}  // namespace netisr::internal
