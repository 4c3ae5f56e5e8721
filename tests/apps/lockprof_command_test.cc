// `netisr lockprof` through its library interface: every strategy and
// workload runs real workers against the table and must account for every
// segment; the lock profile must show each strategy's locking exactly (the
// table operations are counted by the harness, the acquisitions by the
// profiler, and they must agree); bad options are refused by name.
#include "apps/lockprof_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>

#include "apps/run_command.h"
#include "lockprof/report.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;

LockprofOptions Short(const std::string& strategy, const std::string& workload) {
  LockprofOptions o;
  o.strategy = strategy;
  o.workload = workload;
  o.workers = 2;
  o.connections = 256;
  o.duration_s = 0.15;
  o.bind = false;  // the test machine's CPUs are shared
  return o;
}

std::optional<lockprof::ClassStats> Class(const LockprofReport& r, const std::string& name) {
  for (const lockprof::ClassStats& c : r.locks)
    if (c.name == name) return c;
  return std::nullopt;
}

LockprofReport RunOk(const LockprofOptions& o) {
  auto r = RunLockprof(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : LockprofReport{};
}

// Every segment in was handled (or dropped by netisr with a reason); no
// segment missed its connection; what churn opened and did not close is
// what the table still holds.
void ExpectAccounted(const LockprofReport& r) {
  EXPECT_TRUE(r.Conserved()) << r.packets_in << " in, " << r.ops << " handled";
  EXPECT_EQ(r.segments.lost, 0u);
  EXPECT_GT(r.ops, 0u);
  EXPECT_EQ(r.live_connections, r.segments.opened - r.segments.closed);
}

class LockprofStrategyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LockprofStrategyTest, ChurnOpensUsesAndClosesEveryConnection) {
  const LockprofReport r = RunOk(Short(GetParam(), "churn"));
  ExpectAccounted(r);
  EXPECT_GT(r.segments.opened, 0u);
  EXPECT_GT(r.segments.closed, 0u);
  EXPECT_GT(r.segments.data, r.segments.opened);  // --segments 4 per connection
  EXPECT_EQ(r.segments.flood_syns, 0u);
}

TEST_P(LockprofStrategyTest, SteadyOpensEachConnectionOnceAndNeverCloses) {
  LockprofOptions o = Short(GetParam(), "steady");
  o.duration_s = 0.05;
  const LockprofReport r = RunOk(o);
  ExpectAccounted(r);
  EXPECT_EQ(r.segments.opened, 256u);
  EXPECT_EQ(r.segments.closed, 0u);
  EXPECT_GT(r.segments.data, 0u);
}

TEST_P(LockprofStrategyTest, SynFloodHitsTheListenerAndInsertsNothing) {
  LockprofOptions o = Short(GetParam(), "synflood");
  o.flood_share = 0.5;
  const LockprofReport r = RunOk(o);
  ExpectAccounted(r);
  EXPECT_GT(r.segments.flood_syns, 0u);
  // Roughly half the segments; generous bounds, the share is random.
  EXPECT_GT(r.segments.flood_syns * 3, r.ops);
  EXPECT_LT(r.segments.flood_syns * 3, r.ops * 2);
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, LockprofStrategyTest,
                         ::testing::Values("global", "groups", "epoch", "partitioned"));

// Table operations per segment: a data segment looks up (1), a SYN looks up
// the listener and inserts (2), a FIN looks up and removes (2), a flood SYN
// looks up (1).
uint64_t TableOps(const SegmentCounts& s) {
  return s.data + s.flood_syns + 2 * (s.opened + s.closed);
}

TEST(LockprofProfileTest, GlobalTakesTheInfoLockForEveryTableOperation) {
  const LockprofReport r = RunOk(Short("global", "synflood"));
  ExpectAccounted(r);
  const auto info = Class(r, "inpcb.info");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->acquisitions, TableOps(r.segments));
  // Inserts and removes are the writers; every lookup is a reader.
  EXPECT_EQ(info->acquisitions - info->shared_acquisitions, r.segments.opened + r.segments.closed);
}

TEST(LockprofProfileTest, AlignedGroupsAreNeverContended) {
  const LockprofReport r = RunOk(Short("groups", "churn"));
  ExpectAccounted(r);
  const auto group = Class(r, "inpcb.group");
  ASSERT_TRUE(group.has_value());
  EXPECT_EQ(group->acquisitions, TableOps(r.segments));
  // Each source only generates flows of its own workstream, and a group is
  // a set of flow buckets: no group is ever touched by two workers.
  EXPECT_EQ(group->contended, 0u);
  EXPECT_FALSE(Class(r, "inpcb.info").has_value());
}

TEST(LockprofProfileTest, EpochLookupsTakeNoTableLock) {
  const LockprofReport r = RunOk(Short("epoch", "synflood"));
  ExpectAccounted(r);
  const auto writer = Class(r, "inpcb.epoch.writer");
  ASSERT_TRUE(writer.has_value());
  // Only inserts and removes write; lookups (data, every SYN's listener
  // lookup, the flood) take no table lock at all.
  EXPECT_EQ(writer->acquisitions, r.segments.opened + r.segments.closed);
  EXPECT_FALSE(Class(r, "inpcb.info").has_value());
  EXPECT_FALSE(Class(r, "inpcb.group").has_value());
}

TEST(LockprofProfileTest, PartitionedTakesNoLockAtAll) {
  const LockprofReport r = RunOk(Short("partitioned", "churn"));
  ExpectAccounted(r);
  EXPECT_TRUE(r.locks.empty()) << lockprof::FormatTable(r.locks);
}

TEST(LockprofJsonTest, HasTheDocumentedKeys) {
  const LockprofReport r = RunOk(Short("global", "churn"));
  const nlohmann::json j = ToJson(r);
  EXPECT_EQ(j["strategy"], "global");
  EXPECT_EQ(j["workload"], "churn");
  EXPECT_EQ(j["workers"], 2);
  EXPECT_GT(j["ops_per_s"].get<double>(), 0);
  const nlohmann::json& info = j["locks"]["inpcb.info"];
  for (const char* key : {"acquisitions", "contended", "wait_ns", "hold_ns"})
    EXPECT_TRUE(info.contains(key)) << key;
}

struct BadCase {
  LockprofOptions options;
  std::string message;
};

TEST(LockprofOptionsTest, RefusesBadOptionsByName) {
  std::vector<BadCase> cases;
  auto add = [&](auto mutate, std::string message) {
    LockprofOptions o;
    mutate(o);
    cases.push_back({o, std::move(message)});
  };
  add([](LockprofOptions& o) { o.strategy = "rcu"; }, "--strategy 'rcu' is not one of");
  add([](LockprofOptions& o) { o.workload = "burst"; }, "--workload 'burst' is not one of");
  add([](LockprofOptions& o) { o.model = "inline"; }, "--model 'inline' is not one of");
  add([](LockprofOptions& o) { o.workers = 0; }, "--workers 0 out of range");
  add([](LockprofOptions& o) { o.connections = -5; }, "--connections -5 out of range");
  add([](LockprofOptions& o) { o.segments = 0; }, "--segments 0 out of range");
  add([](LockprofOptions& o) { o.duration_s = 0; }, "--duration 0 out of range");
  add([](LockprofOptions& o) { o.flood_share = 1; }, "--flood-share 1 out of range");
  add([](LockprofOptions& o) { o.groups = 48; }, "--groups 48 is not a power of two");
  add(
      [](LockprofOptions& o) {
        o.workers = 4;
        o.connections = 3;
      },
      "--connections 3 is below --workers 4");
  for (const BadCase& c : cases) {
    std::ostringstream out, err;
    EXPECT_EQ(LockprofCommand(c.options, out, err), kExitUsage) << c.message;
    EXPECT_THAT(err.str(), HasSubstr(c.message));
    EXPECT_TRUE(out.str().empty());
  }
}

TEST(LockprofCommandTest, PrintsTheTableAndConservation) {
  std::ostringstream out, err;
  EXPECT_EQ(LockprofCommand(Short("global", "churn"), out, err), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("inpcb.info"));
  EXPECT_THAT(out.str(), HasSubstr("conserved"));
}

}  // namespace
}  // namespace netisr::apps
