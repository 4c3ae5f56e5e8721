// PacketPool: bounded, recycling, safe across threads; Packet wraps foreign
// buffers through its release hook.
#include <gtest/gtest.h>

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
