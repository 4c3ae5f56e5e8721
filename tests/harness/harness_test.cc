// The measurement harness's pieces on their own: source quotas, the latency
// histogram, the per-flow order check and the open-loop pacer. The runs that
// use them together are tested through `netisr run` (tests/apps).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "harness/latency_histogram.h"
#include "harness/order_check.h"
#include "harness/pacer.h"
#include "harness/synthetic_source.h"

namespace netisr::harness {
namespace {

TEST(SourceQuotaTest, QuotasFollowOwnedFlowsAndSumToTotal) {
  for (const std::optional<double> skew : {std::optional<double>{}, {0.0}, {0.3}, {0.9}}) {
    for (const auto& [total, flows, sources] :
         {std::tuple<uint64_t, uint32_t, uint16_t>{1000000, 64, 2},
          {7, 5, 3},
          {10, 3, 5},
          {1, 1, 64},
          {1000, 64, 1}}) {
      const std::vector<uint64_t> q = SourceQuotas(total, flows, sources, skew);
      ASSERT_EQ(q.size(), sources);
      uint64_t sum = 0;
      for (uint16_t s = 0; s < sources; ++s) {
        if (s >= flows) {
          EXPECT_EQ(q[s], 0u) << "source " << s << " owns no flow";
        }
        sum += q[s];
      }
      EXPECT_EQ(sum, total);
    }
  }
}

TEST(SourceQuotaTest, SkewGivesSourceZeroItsShareAndSpreadsTheRest) {
  EXPECT_EQ(SourceQuotas(1000, 64, 2, 0.9), (std::vector<uint64_t>{900, 100}));
  EXPECT_EQ(SourceQuotas(1000, 64, 4, 0.7), (std::vector<uint64_t>{700, 100, 100, 100}));
  EXPECT_EQ(SourceQuotas(10, 64, 4, 0.0), (std::vector<uint64_t>{0, 3, 3, 4}));
  // Sources 2 and 3 own no flow: the rest goes to source 1 alone.
  EXPECT_EQ(SourceQuotas(1000, 2, 4, 0.9), (std::vector<uint64_t>{900, 100, 0, 0}));
  // No other source owns a flow: everything comes in at source 0.
  EXPECT_EQ(SourceQuotas(1000, 1, 2, 0.5), (std::vector<uint64_t>{1000, 0}));
  EXPECT_EQ(SourceQuotas(1000, 64, 1, 0.5), (std::vector<uint64_t>{1000}));
}

TEST(LatencyHistogramTest, BucketsKeepTwoSignificantDigits) {
  size_t prev = 0;
  for (uint64_t v = 0; v < 2'000'000; v = v < 1000 ? v + 1 : v + v / 97) {
    const size_t i = LatencyHistogram::Index(v);
    ASSERT_LT(i, LatencyHistogram::kBuckets);
    EXPECT_GE(i, prev) << v;  // monotonic
    prev = i;
    const uint64_t hi = LatencyHistogram::HighestEquivalent(i);
    EXPECT_GE(hi, v);
    EXPECT_LE(static_cast<double>(hi - v), static_cast<double>(v) / 128) << v;
    if (i > 0) {
      EXPECT_LT(LatencyHistogram::HighestEquivalent(i - 1), v) << v;
    }
  }
  EXPECT_EQ(LatencyHistogram::Index(uint64_t{1} << 62), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogramTest, QuantilesMergeAndMax) {
  LatencyHistogram a, b;
  EXPECT_EQ(a.ValueAtQuantile(0.5), 0u);
  for (uint64_t v = 1; v <= 500; ++v) a.Record(v * 1000);
  for (uint64_t v = 501; v <= 1000; ++v) b.RecordShared(v * 1000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 1000u);
  EXPECT_EQ(a.max(), 1'000'000u);
  EXPECT_NEAR(static_cast<double>(a.ValueAtQuantile(0.5)), 500e3, 500e3 / 128);
  EXPECT_NEAR(static_cast<double>(a.ValueAtQuantile(0.99)), 990e3, 990e3 / 128);
  EXPECT_EQ(a.ValueAtQuantile(1.0), 1'000'000u);  // capped at the exact max
  EXPECT_NEAR(static_cast<double>(a.ValueAtQuantile(0.0)), 1000, 1000.0 / 128);  // the least
  a.Record(20'000'000'000);  // beyond 10 s: clamped into the last bucket, max exact
  EXPECT_EQ(a.max(), 20'000'000'000u);
}

TEST(FlowOrderCheckTest, ExactCountsEveryStepBackPerKey) {
  FlowOrderCheck c = FlowOrderCheck::Exact(4);
  EXPECT_TRUE(c.InOrder(0, 1));
  EXPECT_TRUE(c.InOrder(1, 1));   // its own key
  EXPECT_TRUE(c.InOrder(0, 5));   // a gap is a drop, not a reorder
  EXPECT_FALSE(c.InOrder(0, 5));  // a repeat is
  EXPECT_FALSE(c.InOrder(0, 3));  // and going back
  EXPECT_TRUE(c.InOrder(0, 6));
  EXPECT_TRUE(c.InOrder(3, uint64_t{1} << 40));  // 64-bit seqs
  EXPECT_FALSE(c.InOrder(3, (uint64_t{1} << 40) - 1));
  EXPECT_TRUE(c.InOrder(2, 0));  // unnumbered
  EXPECT_TRUE(c.InOrder(2, 0));
}

TEST(FlowOrderCheckTest, HashedChecksModulo32BitsAndNeverReportsACollision) {
  FlowOrderCheck c = FlowOrderCheck::Hashed(4);  // 16 slots: many keys share one
  // 1000 keys, each rising: whatever they evict, nothing is reported.
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    for (uint64_t key = 0; key < 1000; ++key) EXPECT_TRUE(c.InOrder(key * 977, seq)) << key;
  }
  FlowOrderCheck d = FlowOrderCheck::Hashed(16);
  EXPECT_TRUE(d.InOrder(42, 10));
  EXPECT_FALSE(d.InOrder(42, 9));
  EXPECT_TRUE(d.InOrder(42, 11));
  // Across the 32-bit wrap: 0xffffffff then 0x1'00000001 still rises.
  EXPECT_TRUE(d.InOrder(7, 0xffffffffull));
  EXPECT_TRUE(d.InOrder(7, 0x100000001ull));
  EXPECT_FALSE(d.InOrder(7, 0xfffffffeull));
}

TEST(OpenLoopPacerTest, ArrivalsFollowTheScheduleNotThePolls) {
  OpenLoopPacer unpaced(0);
  EXPECT_FALSE(unpaced.paced());
  EXPECT_EQ(unpaced.Arrived(123), UINT64_MAX);
  EXPECT_EQ(unpaced.StampNs(7, 123), 123u);

  OpenLoopPacer p(1e6);  // one packet per microsecond
  ASSERT_TRUE(p.paced());
  EXPECT_EQ(p.ns_per_packet(), 1000.0);
  const uint64_t t0 = 5'000'000;
  EXPECT_EQ(p.Arrived(t0), 1u);  // packet 0 arrives at the first look
  EXPECT_EQ(p.Arrived(t0 + 999), 1u);
  EXPECT_EQ(p.Arrived(t0 + 1000), 2u);
  EXPECT_EQ(p.Arrived(t0 + 10'500), 11u);  // a late poll finds the backlog
  // Stamps are the scheduled arrivals, never after now: a late poll's wait
  // counts as latency.
  EXPECT_EQ(p.StampNs(3, t0 + 10'500), t0 + 3000);
  EXPECT_EQ(p.StampNs(20, t0 + 10'500), t0 + 10'500);
}

}  // namespace
}  // namespace netisr::harness
