// The poll model's own promise, beyond the conformance suite: its workers
// spin instead of sleeping, so producers never have to wake them.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

// An external producer queues bursts to both workstreams, pausing now and
// then so that a sleeping model's workers would fall asleep (the threads
// model wakes them, see placement_test's Wakeups). Poll workers never
// advertise sleeping, so not one Wake is made, and every packet still
// arrives, in order. Nothing depends on timing: the pauses only give a
// broken model the chance to fail.
TEST(PollModel, WorkersAreNeverWoken) {
  Settings s;
  s.max_threads = 2;
  s.bind_threads = false;
  auto nisr = MakeNetisr("poll", s);
  ASSERT_NE(nisr, nullptr);
  EXPECT_EQ(nisr->model_name(), "poll");
  Checker checker(10);
  ProtocolSpec spec;
  spec.name = "p";
  spec.handler = checker.handler();
  spec.dispatch = DispatchMode::kDeferred;
  spec.qlimit = 4096;
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  ASSERT_TRUE(nisr->Start().ok());
  auto pool = MakePool(4096);
  constexpr int kBursts = 100;
  {
    Netisr::ProducerScope scope(*nisr);
    ASSERT_TRUE(scope.status().ok());
    EXPECT_EQ(QueueBurstsToTwoWorkstreams(*nisr, *pool, *proto, kBursts), kBursts * 32u);
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  EXPECT_EQ(checker.delivered(), kBursts * 32u);
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(st.Total(*proto).queued, kBursts * 32u);
  ASSERT_EQ(st.workstreams.size(), 2u);
  for (const auto& w : st.workstreams) EXPECT_EQ(w.wakeups, 0u) << "workstream " << w.index;
  EXPECT_EQ(pool->available(), pool->capacity());
}

}  // namespace
}  // namespace netisr::testing
