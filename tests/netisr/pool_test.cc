// PacketPool: bounded, recycling, safe across threads; Packet wraps foreign
// buffers through its release hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "netisr/packet.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

TEST(PacketPool, RejectsBadSizes) {
  EXPECT_EQ(PacketPool::Create(0, 64).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(PacketPool::Create(0, 64).status().message().find("count 0"), std::string::npos);
  EXPECT_FALSE(PacketPool::Create(16, 70000).ok());
}

TEST(PacketPool, ExhaustsAndRecycles) {
  auto pool = MakePool(8);
  std::vector<Packet*> pkts(10);
  EXPECT_EQ(pool->AllocBulk(pkts), 8u);
  EXPECT_EQ(pool->Alloc(), nullptr);
  EXPECT_EQ(pool->available(), 0u);
  for (int i = 0; i < 8; ++i) {
    pkts[i]->len = 3;
    pkts[i]->SetFlowId(5, HashType::kOpaque);
    Release(pkts[i]);
  }
  EXPECT_EQ(pool->available(), 8u);
  Packet* p = pool->Alloc();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->len, 0u);
  EXPECT_FALSE(p->has_flowid());
  Release(p);
}

TEST(PacketPool, BuffersDoNotOverlap) {
  auto pool = std::move(PacketPool::Create(4, 128)).value();
  std::vector<Packet*> pkts(4);
  ASSERT_EQ(pool->AllocBulk(pkts), 4u);
  for (int i = 0; i < 4; ++i) std::memset(pkts[i]->data, i, 128);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(pkts[i]->data[0], i);
    EXPECT_EQ(pkts[i]->data[127], i);
    Release(pkts[i]);
  }
}

// Debug builds stop at the second Release of a packet (with a cache, too),
// before its index sits on the free list twice.
TEST(PacketPoolDeathTest, SecondReleaseOfOnePacketAborts) {
#ifdef NDEBUG
  GTEST_SKIP() << "the ownership check is compiled into debug builds only";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (uint32_t cache : {0u, 4u}) {
    auto pool = std::move(PacketPool::Create(16, 64, cache)).value();
    Packet* p = pool->Alloc();
    ASSERT_NE(p, nullptr);
    Release(p);
    EXPECT_DEATH(Release(p), "PacketPool: packet [0-9]+ released twice") << cache;
    Packet* q = pool->Alloc();
    std::vector<Packet*> bulk = {q, q};
    EXPECT_DEATH(ReleaseBulk(bulk), "released twice") << cache;
    Release(q);
    EXPECT_EQ(pool->available(), 16u) << "the parent's pool is whole";
  }
#endif
}

TEST(PacketPool, ConcurrentAllocFreeLosesNothing) {
  auto pool = MakePool(256);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        Packet* p = pool->Alloc();
        if (p != nullptr) {
          p->seq = i;
          Release(p);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(pool->available(), 256u);
  std::vector<Packet*> all(256);
  EXPECT_EQ(pool->AllocBulk(all), 256u);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
  for (Packet* p : all) Release(p);
}

// --- Per-thread caches -----------------------------------------------------

std::unique_ptr<PacketPool> MakeCachedPool(uint32_t n, uint32_t cache) {
  auto pool = PacketPool::Create(n, 64, cache);
  EXPECT_TRUE(pool.ok()) << pool.status().message();
  return std::move(pool).value();
}

TEST(PacketPoolCache, RejectsBadCacheSizes) {
  for (uint32_t bad : {1u, 513u, 65u}) {
    auto r = PacketPool::Create(256, 64, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("cache size " + std::to_string(bad)), std::string::npos)
        << r.status().message();
  }
  EXPECT_TRUE(PacketPool::Create(256, 64, 64).ok());  // count / 4
  EXPECT_TRUE(PacketPool::Create(256, 64, 0).ok());   // off
}

TEST(PacketPoolCache, ExhaustsWhenEverythingIsAllocatedAndCountsCachedPackets) {
  auto pool = MakeCachedPool(64, 16);
  std::vector<Packet*> pkts(70);
  EXPECT_EQ(pool->AllocBulk(pkts), 64u);
  EXPECT_EQ(pool->Alloc(), nullptr);
  EXPECT_EQ(pool->available(), 0u);
  std::sort(pkts.begin(), pkts.begin() + 64);
  EXPECT_EQ(std::unique(pkts.begin(), pkts.begin() + 64), pkts.begin() + 64);
  // Released one by one: the cache fills to 16, then flushes half to the
  // shared stack each time it is full; every packet is counted wherever it is.
  for (int i = 0; i < 40; ++i) Release(pkts[i]);
  EXPECT_EQ(pool->available(), 40u);
  ReleaseBulk({pkts.data() + 40, 24});
  EXPECT_EQ(pool->available(), 64u);
  // All of it is reachable again from this thread (cache + shared stack).
  EXPECT_EQ(pool->AllocBulk(pkts), 64u);
  EXPECT_EQ(pool->available(), 0u);
  ReleaseBulk({pkts.data(), 64});
  pool->FlushCache();
  EXPECT_EQ(pool->available(), 64u);
}

TEST(PacketPoolCache, PacketsCachedByAnotherThreadAreInvisibleUntilFlushed) {
  auto pool = MakeCachedPool(64, 16);
  std::vector<Packet*> pkts(64);
  ASSERT_EQ(pool->AllocBulk(pkts), 64u);
  std::thread other([&] {
    ReleaseBulk({pkts.data(), 8});  // 8 < 16: all stay in this thread's cache
    EXPECT_EQ(pool->available(), 8u);
  });
  other.join();
  // The exited thread's slot keeps its cache: counted, but not allocatable
  // from here (DPDK's documented mempool-cache behaviour).
  EXPECT_EQ(pool->available(), 8u);
  EXPECT_EQ(pool->Alloc(), nullptr);
  std::thread flusher([&] {
    ReleaseBulk({pkts.data() + 8, 8});
    pool->FlushCache();
  });
  flusher.join();
  // The flusher either inherited the exited thread's slot (and flushed all
  // 16) or had a slot of its own (and flushed its 8).
  Packet* got[16];
  const size_t n = pool->AllocBulk(got);
  EXPECT_TRUE(n == 16 || n == 8) << n;
  EXPECT_EQ(pool->available(), 16u - n);
  ReleaseBulk({got, n});
  ReleaseBulk({pkts.data() + 16, 48});
  EXPECT_EQ(pool->available(), 64u);
}

// A producer allocates in bursts and hands packets to a consumer thread,
// which frees them in bursts (the cross-CPU dispatch pattern the cache is
// for). Nothing is lost or handed out twice; after both threads flush and
// exit, the whole pool can be allocated again.
TEST(PacketPoolCache, CrossThreadAllocAndReleaseConserve) {
  constexpr uint32_t kCount = 1024;
  auto pool = MakeCachedPool(kCount, 64);
  constexpr size_t kRing = 4096;
  std::vector<std::atomic<Packet*>> handoff(kRing);
  constexpr uint64_t kPackets = 200000;
  std::atomic<uint64_t> in_use{0};
  std::atomic<uint64_t> bad{0};
  std::thread producer([&] {
    uint64_t n = 0;
    Packet* burst[32];
    while (n < kPackets) {
      const size_t want = std::min<uint64_t>(32, kPackets - n);
      const size_t got = pool->AllocBulk({burst, want});
      for (size_t i = 0; i < got; ++i) {
        burst[i]->seq = n + i;
        if (in_use.fetch_add(1, std::memory_order_relaxed) >= kCount) bad.fetch_add(1);
        while (handoff[(n + i) % kRing].load(std::memory_order_acquire) != nullptr)
          std::this_thread::yield();
        handoff[(n + i) % kRing].store(burst[i], std::memory_order_release);
      }
      n += got;
      if (got == 0) std::this_thread::yield();
    }
    pool->FlushCache();
  });
  std::thread consumer([&] {
    uint64_t n = 0;
    Packet* burst[32];
    while (n < kPackets) {
      size_t k = 0;
      while (k < 32 && n + k < kPackets) {
        Packet* p = handoff[(n + k) % kRing].load(std::memory_order_acquire);
        if (p == nullptr) break;
        if (p->seq != n + k) bad.fetch_add(1);
        handoff[(n + k) % kRing].store(nullptr, std::memory_order_release);
        burst[k++] = p;
      }
      if (k == 0) {
        std::this_thread::yield();
        continue;
      }
      in_use.fetch_sub(k, std::memory_order_relaxed);
      ReleaseBulk({burst, k});
      n += k;
    }
    pool->FlushCache();
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(pool->available(), kCount);
  std::vector<Packet*> all(kCount);
  ASSERT_EQ(pool->AllocBulk(all), kCount);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
  ReleaseBulk(all);
  EXPECT_EQ(pool->available(), kCount);
}

// Several threads allocating and freeing at once through caches and the
// shared stack's bulk transfers (TSan checks the handover of indices and
// buffers).
TEST(PacketPoolCache, ConcurrentBulkAllocFreeLosesNothing) {
  constexpr uint32_t kCount = 512;
  auto pool = MakeCachedPool(kCount, 32);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Packet* held[48];
      for (int i = 0; i < 5000; ++i) {
        const size_t n = pool->AllocBulk({held, static_cast<size_t>(1 + (i + t) % 48)});
        for (size_t k = 0; k < n; ++k) {
          held[k]->data[0] = static_cast<uint8_t>(t);
          held[k]->seq = static_cast<uint64_t>(i);
        }
        if (i % 3 == 0) {
          for (size_t k = 0; k < n; ++k) Release(held[k]);
        } else {
          ReleaseBulk({held, n});
        }
      }
      pool->FlushCache();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(pool->available(), kCount);
  std::vector<Packet*> all(kCount);
  EXPECT_EQ(pool->AllocBulk(all), kCount);
  ReleaseBulk(all);
}

// The most recently freed packet is handed out first, so a pool far larger
// than what is in flight keeps reusing the same few (cache-warm) buffers;
// through the FIFO it had until 2026-12-06, each allocation got the
// coldest buffer of the pool. Cached or not, and across threads.
TEST(PacketPool, HandsOutTheMostRecentlyFreedFirst) {
  auto pool = MakePool(4096);
  Packet* a = pool->Alloc();
  Packet* b = pool->Alloc();
  ASSERT_TRUE(a != nullptr && b != nullptr);
  EXPECT_LT(a->data, b->data);  // a fresh pool in address order
  Release(a);
  Release(b);
  EXPECT_EQ(pool->Alloc(), b);
  EXPECT_EQ(pool->Alloc(), a);
  Release(a);
  Release(b);
  auto working_set = [](PacketPool& p, bool across_threads) {
    std::vector<const uint8_t*> seen;
    Packet* held[8];
    for (int i = 0; i < 2000; ++i) {
      const size_t n = p.AllocBulk(held);
      for (size_t k = 0; k < n; ++k) seen.push_back(held[k]->data);
      if (across_threads) {
        std::thread([&] { ReleaseBulk({held, n}); }).join();
      } else {
        ReleaseBulk({held, n});
      }
    }
    std::sort(seen.begin(), seen.end());
    return std::unique(seen.begin(), seen.end()) - seen.begin();
  };
  EXPECT_EQ(working_set(*pool, false), 8);
  EXPECT_LE(working_set(*pool, true), 8);
  // Cached: what another thread frees comes back through the shared stack.
  // Every helper thread takes the same lowest free cache slot and inherits
  // its cache, so packets circulate through this thread's cache (at most
  // 32 refilled), the helper slot's (at most 64) and the stack's top: at
  // most 127 distinct ones; the FIFO ring cycled through all 4096.
  auto cached = MakeCachedPool(4096, 64);
  EXPECT_LE(working_set(*cached, false), 64);
  EXPECT_LE(working_set(*cached, true), 2 * 64 + 8);
}

TEST(PacketPoolCache, ReleaseBulkSendsEachPacketToItsOwner) {
  auto a = MakeCachedPool(64, 16);
  auto b = MakePool(8);  // uncached
  int foreign_released = 0;
  Packet foreign;
  foreign.release_ctx = &foreign_released;
  foreign.release = [](Packet* pkt) { ++*static_cast<int*>(pkt->release_ctx); };
  std::vector<Packet*> mixed;
  Packet* pa[3];
  Packet* pb[2];
  ASSERT_EQ(a->AllocBulk(pa), 3u);
  ASSERT_EQ(b->AllocBulk(pb), 2u);
  mixed = {pa[0], pb[0], &foreign, pa[1], pa[2], pb[1]};
  ReleaseBulk(mixed);
  EXPECT_EQ(foreign_released, 1);
  EXPECT_EQ(a->available(), 64u);
  EXPECT_EQ(b->available(), 8u);
}

TEST(Packet, WrapsAForeignBufferWithoutCopying) {
  uint8_t frame[60] = {1, 2, 3};
  int released = 0;
  Packet p;
  p.data = frame;
  p.len = sizeof(frame);
  p.release_ctx = &released;
  p.release = [](Packet* pkt) { ++*static_cast<int*>(pkt->release_ctx); };
  EXPECT_EQ(p.data[2], 3);
  Release(&p);
  EXPECT_EQ(released, 1);
}

// Bulk release hands each run of packets sharing a release_bulk to it in one
// call (in order), and every other packet to its own release: each packet is
// released exactly once, whatever the mix.
TEST(Packet, ReleaseBulkGroupsRunsOfOneOwner) {
  static std::vector<std::vector<uint64_t>> calls;  // bulk calls, by seq
  calls.clear();
  auto pool = MakePool(4);
  std::vector<Packet> own(5);
  for (size_t i = 0; i < own.size(); ++i) {
    own[i].seq = 10 + i;
    own[i].release = [](Packet*) { FAIL() << "per-packet release of a bulk packet"; };
    own[i].release_bulk = [](std::span<Packet* const> pkts) {
      calls.emplace_back();
      for (Packet* p : pkts) calls.back().push_back(p->seq);
    };
  }
  Packet* a = pool->Alloc();
  Packet* b = pool->Alloc();
  std::vector<Packet*> mix = {&own[0], &own[1], a, &own[2], b, &own[3], &own[4]};
  EXPECT_EQ(pool->available(), 2u);
  ReleaseBulk(mix);
  EXPECT_EQ(pool->available(), 4u);  // a and b through PacketPool's release
  EXPECT_EQ(calls, (std::vector<std::vector<uint64_t>>{{10, 11}, {12}, {13, 14}}));
  ReleaseBulk({});  // nothing to do
  EXPECT_EQ(calls.size(), 3u);
}

}  // namespace
}  // namespace netisr::testing
