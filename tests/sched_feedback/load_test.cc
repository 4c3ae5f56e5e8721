// LoadMeter: windows, the time-weighted EWMA and the publication stamp.
#include "sched_feedback/load.h"

#include <gtest/gtest.h>

#include <cmath>

namespace netisr::sched {
namespace {

constexpr uint64_t kWindow = 100'000;

TEST(LoadMeterTest, PublishesOncePerWindowWithItsTime) {
  CpuLoad out;
  LoadMeter m(&out, {kWindow, 0.5});
  m.Tick(1'000'000, 0);  // starts the first window
  m.AddBusy(kWindow / 2);
  m.Tick(1'000'000 + kWindow / 2, 3);  // window not over: nothing published
  EXPECT_EQ(out.Read().windows, 0u);
  EXPECT_EQ(out.Read().published_ns, 0u);
  m.Tick(1'000'000 + kWindow, 3);
  const LoadSample l = out.Read();
  EXPECT_EQ(l.windows, 1u);
  EXPECT_EQ(l.published_ns, 1'000'000 + kWindow);
  EXPECT_NEAR(l.busy, 0.25, 1e-6);  // 50% busy at weight 0.5 from 0
  EXPECT_EQ(l.queue_depth, 3u);
}

// A window k times the nominal length weighs 1 - (1 - alpha)^k: a worker
// that slept through it reports what k idle windows would have left, not
// (1 - alpha) of its old load.
TEST(LoadMeterTest, LongWindowsWeighAsManyNominalOnes) {
  CpuLoad out;
  const double alpha = 0.25;
  LoadMeter m(&out, {kWindow, alpha});
  uint64_t t = 1'000'000;
  m.Tick(t, 0);
  for (int i = 0; i < 40; ++i) {  // fully busy until the EWMA is ~1
    m.AddBusy(kWindow);
    t += kWindow;
    m.Tick(t, 0);
  }
  const double before = out.Read().busy;
  EXPECT_GT(before, 0.99);
  t += 8 * kWindow;  // slept through 8 windows, no work
  m.Tick(t, 0);
  EXPECT_NEAR(out.Read().busy, before * std::pow(1 - alpha, 8), 1e-3);
  EXPECT_LT(out.Read().busy, 0.11);  // a nominal-weight blend would say 0.75
}

TEST(LoadMeterTest, QueueDelayIsTheWindowMeanBlended) {
  CpuLoad out;
  LoadMeter m(&out, {kWindow, 1.0});
  m.Tick(1, 0);
  m.AddQueueDelay(10'000);
  m.AddQueueDelay(30'000);
  m.Tick(1 + kWindow, 0);
  EXPECT_EQ(out.Read().queue_delay_ns, 20'000u);
  m.Tick(1 + 2 * kWindow, 0);  // nothing dequeued: nothing waited
  EXPECT_EQ(out.Read().queue_delay_ns, 0u);
}

// The share of full polls starts at 1 (no evidence of keeping up), blends
// each window that polled, and holds through windows that did not.
TEST(LoadMeterTest, FullPollShareBlendsWindowsThatPolled) {
  CpuLoad out;
  LoadMeter m(&out, {kWindow, 0.5});
  EXPECT_EQ(out.Read().full_polls, 1.0);
  m.Tick(1, 0);
  m.AddPoll(true);
  for (int i = 0; i < 3; ++i) m.AddPoll(false);
  m.Tick(1 + kWindow, 0);
  EXPECT_NEAR(out.Read().full_polls, 0.625, 1e-6);  // 1 blended with 1/4 at 0.5
  m.Tick(1 + 2 * kWindow, 0);                       // slept: no polls, share held
  EXPECT_NEAR(out.Read().full_polls, 0.625, 1e-6);
  m.AddPoll(false);
  m.Tick(1 + 3 * kWindow, 0);
  EXPECT_NEAR(out.Read().full_polls, 0.3125, 1e-6);
  // Full again: the blend only approaches 1, but publishes it (a bound of
  // 1, AdaptiveSettings::full_polls_high's top, must be reachable).
  for (uint64_t w = 4; w < 60; ++w) {
    m.AddPoll(true);
    m.Tick(1 + w * kWindow, 0);
  }
  EXPECT_EQ(out.Read().full_polls, 1.0);
}

}  // namespace
}  // namespace netisr::sched
