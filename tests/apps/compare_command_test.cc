// RankingConflicts (apps/compare_command.h): the simulation must order the
// policies as the real runs do wherever the real runs can tell them apart.
#include "apps/compare_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace netisr::apps
