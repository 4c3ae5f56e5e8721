// IndexStack (netisr/internal/index_stack.h), directly: LIFO order, bulk
// push and pop, and no index lost or duplicated across threads (run under
// TSan: the test is tagged concurrency).
#include "netisr/internal/index_stack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace netisr::internal {
namespace {

TEST(IndexStack, PopsTheLastPushedFirst) {
  IndexStack s(16);
  uint32_t out[16];
  EXPECT_EQ(s.PopBulk(out, 4), 0u);  // empty
  const uint32_t a[] = {3, 7, 5};
  s.PushBulk(a, 3);
  EXPECT_EQ(s.size(), 3u);
  ASSERT_EQ(s.PopBulk(out, 1), 1u);
  EXPECT_EQ(out[0], 5u);  // v[n - 1] on top
  const uint32_t b[] = {9};
  s.PushBulk(b, 1);  // onto a node a pop left: its depth is the base
  EXPECT_EQ(s.size(), 3u);
  ASSERT_EQ(s.PopBulk(out, 16), 3u);  // a short pop says how many
  EXPECT_EQ(out[0], 9u);
  EXPECT_EQ(out[1], 7u);
  EXPECT_EQ(out[2], 3u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.PopBulk(out, 1), 0u);
}

// Threads pop runs of 1-37 indices, push them back in runs, and repeat;
// at the end every index is on the stack exactly once. With 256 indices the
// stack never empties; with 8 it empties often (pushes onto an empty stack,
// short pops, pops that find nothing).
void ConcurrentBulkOps(uint32_t count) {
  IndexStack s(count);
  std::vector<uint32_t> all(count);
  for (uint32_t i = 0; i < count; ++i) all[i] = i;
  s.PushBulk(all.data(), count);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t] {
      uint32_t held[37];
      for (int i = 0; i < 20000; ++i) {
        const size_t n = s.PopBulk(held, static_cast<size_t>(1 + (i * 7 + t) % 37));
        const size_t first = n / 2;
        s.PushBulk(held, first);
        s.PushBulk(held + first, n - first);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(s.size(), count);
  std::vector<uint32_t> out(count + 1);
  ASSERT_EQ(s.PopBulk(out.data(), count + 1), count);
  out.resize(count);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, all);
}

TEST(IndexStack, ConcurrentBulkOpsLoseAndDuplicateNothing) {
  ConcurrentBulkOps(256);
  ConcurrentBulkOps(8);
}

}  // namespace
}  // namespace netisr::internal
