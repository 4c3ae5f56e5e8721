// RankingConflicts (apps/compare_command.h): the simulation must order the
// policies as the real runs do wherever the real runs can tell them apart.
#include "apps/compare_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace netisr::apps {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

RankedPolicy Real(std::string name, double lo, double hi, double sim) {
  return {std::move(name), lo, (lo + hi) / 2, hi, sim};
}

TEST(RankingConflicts, OverlappingRealRangesAreTiesEitherOrderAgrees) {
  // Real: a 5.0-5.3, b 5.1-5.2: the runs cannot tell them apart.
  EXPECT_THAT(RankingConflicts({Real("a", 5.0, 5.3, 4.0), Real("b", 5.1, 5.2, 6.0)}), IsEmpty());
  EXPECT_THAT(RankingConflicts({Real("a", 5.0, 5.3, 6.0), Real("b", 5.1, 5.2, 4.0)}), IsEmpty());
}

TEST(RankingConflicts, AnOrderBeyondTheNoiseMustBeTheSimulationsToo) {
  // Real: a's slowest run beats b's fastest.
  const std::vector<RankedPolicy> p = {Real("a", 5.5, 5.6, 4.0), Real("b", 5.0, 5.2, 4.5),
                                       Real("c", 4.0, 4.1, 3.0)};
  // The simulation puts b above a (a conflict) and keeps c last (none).
  EXPECT_THAT(RankingConflicts(p), ElementsAre("a > b"));
}

TEST(RankingConflicts, ASimulatedTieContradictsNothing) {
  EXPECT_THAT(RankingConflicts({Real("a", 5.5, 5.6, 5.0), Real("b", 5.0, 5.2, 5.0)}), IsEmpty());
}

TEST(RankingConflicts, SingleRunsAreTheStrictComparison) {
  // One run each: the ranges are points, so any real difference counts.
  EXPECT_THAT(RankingConflicts({Real("a", 5.01, 5.01, 4.0), Real("b", 5.0, 5.0, 4.1)}),
              ElementsAre("a > b"));
  EXPECT_THAT(RankingConflicts({Real("a", 5.01, 5.01, 4.2), Real("b", 5.0, 5.0, 4.1)}), IsEmpty());
}

// The per-burst split: two sizes, two unknowns; noise that makes one-packet
// bursts look cheaper than full ones gives no negative cost.
TEST(Calibration, PerBurstSplitRecoversBothParts) {
  // 44 ns a packet and 92 a burst: 46.875 at 32 a burst, 136 at one.
  const PerBurstSplit s = SplitPerBurst(44 + 92.0 / 32, 136, 32);
  EXPECT_NEAR(s.per_packet, 44, 1e-9);
  EXPECT_NEAR(s.per_burst, 92, 1e-9);
  const PerBurstSplit noisy = SplitPerBurst(50, 48, 32);
  EXPECT_EQ(noisy.per_burst, 0);
  EXPECT_EQ(noisy.per_packet, 50);
  const PerBurstSplit one = SplitPerBurst(50, 60, 1);  // no larger burst to compare
  EXPECT_EQ(one.per_burst, 0);
  EXPECT_EQ(one.per_packet, 50);
}

// Measured through netisr's bench mode: one-packet runs of both modes,
// and figures that are the split of what was measured (how much a burst
// costs here is for calibrate to say, not a test: timing is noisy).
TEST(Calibration, PerBurstCostsAreMeasured) {
  auto c = MeasureDispatchCosts(2, 100'000, 0, 1, 0.05, /*per_burst=*/true);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->direct_single.size(), 1u);
  ASSERT_EQ(c->deferred_single.size(), 1u);
  const PerBurstSplit rx =
      SplitPerBurst(std::max(0.0, c->direct.front()), c->direct_single.front(), Settings{}.burst);
  EXPECT_EQ(c->rx_pkt_ns, rx.per_packet);
  EXPECT_EQ(c->rx_burst_ns, rx.per_burst);
  EXPECT_GE(c->handoff_burst_ns, 0);
  EXPECT_LE(c->handoff_producer_ns, c->handoff_pkt_ns);
  auto folded = MeasureDispatchCosts(2, 100'000, 0, 1, 0.05);
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_TRUE(folded->direct_single.empty());
  EXPECT_EQ(folded->rx_burst_ns, 0);
  EXPECT_EQ(folded->handoff_burst_ns, 0);
}

// calibrate's measurements through their functions: a lookup under every
// strategy costs something and less than a microsecond (one thread, no
// contention); an unknown strategy is refused by name; one CPU has no
// worker to wake.
TEST(Calibration, LookupsAreMeasuredUnderEveryStrategy) {
  for (const char* s : {"global", "groups", "epoch", "partitioned"}) {
    auto ns = MeasureLookupNs(s);
    ASSERT_TRUE(ns.ok()) << s << ": " << ns.status().message();
    EXPECT_GT(*ns, 1.0) << s;
    EXPECT_LT(*ns, 1000.0) << s;
  }
  EXPECT_FALSE(MeasureLookupNs("sharded").ok());
  auto one = MeasureWakeupNs(1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, 0.0);
}

// One CPU's stalls: `n` of `len` ns, one every `every` ns from `first`,
// over `n` x `every` ns of looking.
StallTally Periodic(uint64_t first, uint64_t every, uint64_t len, int n) {
  StallTally t;
  for (int i = 0; i < n; ++i) {
    const uint64_t b = first + static_cast<uint64_t>(i) * every;
    t.spans.push_back({b, b + len});
  }
  t.count = static_cast<uint64_t>(n);
  t.lost_ns = len * t.count;
  t.span_ns = every * t.count;
  return t;
}

// MeasureStalls' arithmetic: the rate, median and lost share of the
// stalls, and the share that took both CPUs at once beyond what chance
// gives independent CPUs; measurements in slices pool.
TEST(Stalls, SharedAreThoseThatMeetBeyondChance) {
  DispatchCosts same;
  AddStalls({Periodic(0, 1'000'000, 20'000, 100), Periodic(5'000, 1'000'000, 20'000, 100)}, same);
  EXPECT_EQ(same.stall_gap_ns, 1'000'000);
  EXPECT_EQ(same.stall_ns, 20'000);
  EXPECT_DOUBLE_EQ(same.stall_lost, 0.02);
  EXPECT_EQ(same.stall_met, 200u);
  EXPECT_GT(same.stall_shared, 0.95);

  DispatchCosts apart;  // never at once: none shared
  AddStalls({Periodic(0, 1'000'000, 20'000, 100), Periodic(500'000, 1'000'000, 20'000, 100)},
            apart);
  EXPECT_EQ(apart.stall_met, 0u);
  EXPECT_EQ(apart.stall_shared, 0);

  DispatchCosts half;  // every other stall of CPU 1 meets one of CPU 0
  StallTally one = Periodic(0, 1'000'000, 20'000, 100);
  for (size_t i = 1; i < one.spans.size(); i += 2) {
    one.spans[i].begin += 500'000;
    one.spans[i].end += 500'000;
  }
  AddStalls({Periodic(0, 1'000'000, 20'000, 100), one}, half);
  EXPECT_EQ(half.stall_met, 100u);
  EXPECT_NEAR(half.stall_shared, 0.5, 0.03);

  // A second slice pools: the same figures from twice the stalls.
  AddStalls({Periodic(0, 1'000'000, 20'000, 100), Periodic(5'000, 1'000'000, 20'000, 100)}, same);
  EXPECT_EQ(same.stall_count, 400u);
  EXPECT_EQ(same.stall_lengths.size(), 400u);
  EXPECT_EQ(same.stall_gap_ns, 1'000'000);
  EXPECT_GT(same.stall_shared, 0.95);
  sim::CostProfile p;
  same.ApplyStalls(p);
  EXPECT_EQ(p.stall_gap_ns, 1'000'000);
  EXPECT_EQ(p.stall_ns, 20'000);
  EXPECT_EQ(p.stall_max_ns, 20'000);
  EXPECT_EQ(p.stall_shared, same.stall_shared);

  DispatchCosts single;  // one CPU: nothing to meet
  AddStalls({Periodic(0, 1'000'000, 20'000, 100)}, single);
  EXPECT_EQ(single.stall_shared, 0);
  EXPECT_EQ(single.stall_gap_ns, 1'000'000);
}

// A machine loaded beyond its CPUs: stalls of 90 us every 101 us, and 11
// of 1 ms among them. The sample's mean (100 us) stays below the gap (111
// us), the quantiles' interpolated mean (~140 us) does not; the profile
// keeps its gap just above that mean, so the file calibrate writes is one
// ParseProfile reads back.
TEST(Stalls, ALoadedMachineStillGivesAValidProfile) {
  StallTally t = Periodic(0, 101'000, 90'000, 989);
  const StallTally tail = Periodic(100'000'000, 1'010'000, 1'000'000, 11);
  t.spans.insert(t.spans.end(), tail.spans.begin(), tail.spans.end());
  t.count += tail.count;
  t.lost_ns += tail.lost_ns;
  t.span_ns += tail.span_ns;
  DispatchCosts c;
  AddStalls({t}, c);
  sim::CostProfile raw = sim::DefaultProfile();
  raw.stall_gap_ns = c.stall_gap_ns;
  raw.SetStallLengths(c.stall_lengths);
  ASSERT_GE(raw.MeanStallNs(), raw.stall_gap_ns) << "the case this test is about";
  sim::CostProfile p = sim::DefaultProfile();
  c.ApplyStalls(p);
  EXPECT_LT(p.MeanStallNs(), p.stall_gap_ns);
  EXPECT_GT(p.stall_gap_ns, c.stall_gap_ns);
  auto back = sim::ParseProfile(sim::FormatProfile(p), "loaded");
  EXPECT_TRUE(back.ok()) << back.status().message();
}

// The measurement itself, briefly: on this machine something stalls now
// and then or nothing does; either way the figures are consistent.
TEST(Stalls, MeasuredFiguresAreConsistent) {
  DispatchCosts c;
  ASSERT_TRUE(MeasureStalls(2, 0.05, c).ok());
  EXPECT_GE(c.stall_lost, 0);
  EXPECT_LT(c.stall_lost, 1);
  EXPECT_GE(c.stall_shared, 0);
  EXPECT_LE(c.stall_shared, 1);
  EXPECT_TRUE(std::is_sorted(c.stall_lengths.begin(), c.stall_lengths.end()));
  for (uint64_t len : c.stall_lengths) EXPECT_GT(len, kStallThresholdNs);
  if (c.stall_gap_ns > 0) {
    sim::CostProfile p;
    c.ApplyStalls(p);
    EXPECT_EQ(p.stall_ns, c.stall_ns);  // one median, nearest rank
  }
}

}  // namespace
}  // namespace netisr::apps
