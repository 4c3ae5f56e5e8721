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
  Checker checker(10);
  constexpr int kBursts = 100;
  const Stats st = RunExternalBursts("poll", checker, kBursts);
  EXPECT_EQ(checker.delivered(), kBursts * 32u);
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(st.Total(0).queued, kBursts * 32u);  // the one protocol registered
  ASSERT_EQ(st.workstreams.size(), 2u);
  for (const auto& w : st.workstreams) EXPECT_EQ(w.wakeups, 0u) << "workstream " << w.index;
}

// Producers skip the wakeup handshake (its seq_cst fence) only for models
// whose workers never sleep: a sleeping model that said otherwise would
// lose wakeups (SleepingModel's tests then hang or fail).
TEST(PollModel, OnlyModelsThatNeverSleepSaySo) {
  for (const char* name : {"poll", "inline"}) {
    EXPECT_FALSE(MakeWorkModel(name).value()->sleeps()) << name;
  }
  for (const char* name : {"threads", "fibers"}) {
    EXPECT_TRUE(MakeWorkModel(name).value()->sleeps()) << name;
  }
}

// Netisr's view of its model and of Stop, which tcp::Host reads to decide
// where engines may be made.
TEST(PollModel, NetisrSaysWhetherSelfDrivenAndStopping) {
  for (const char* name : {"poll", "threads", "inline"}) {
    auto nisr = Netisr::Create(UnboundWorkers(1), MakeWorkModel(name).value());
    ASSERT_TRUE(nisr.ok()) << name;
    EXPECT_EQ((*nisr)->self_driven(), std::string_view(name) != "inline") << name;
    EXPECT_FALSE((*nisr)->stopping()) << name;
    ASSERT_TRUE((*nisr)->Start().ok()) << name;
    EXPECT_FALSE((*nisr)->stopping()) << name;
    (*nisr)->Stop();
    EXPECT_TRUE((*nisr)->stopping()) << name;
  }
}

}  // namespace
}  // namespace netisr::testing
