// The pure decision functions the dispatcher (and later the simulator) run.
#include <gtest/gtest.h>

#include "netisr/internal/select.h"

namespace netisr::internal {
namespace {

ProtocolSpec Spec(Policy p) {
  ProtocolSpec s;
  s.name = "t";
  s.policy = p;
  return s;
}

TEST(SelectWorkstream, FlowUsesTheFlowBucketsWorkstream) {
  Packet p;
  p.SetFlowId(7, HashType::kOpaque);
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kFlow), p, 0, 4, 256), 3);
  // Flow 263 is in flow 7's bucket (263 & 255): on 3 workstreams both go
  // to 7 % 3 = 1, not 263 % 3 = 2.
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kFlow), p, 0, 3, 256), 1);
  p.SetFlowId(263, HashType::kOpaque);
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kFlow), p, 0, 3, 256), 1);
}

TEST(SelectWorkstream, FlowAsksM2flowThenFallsBackToSource) {
  ProtocolSpec s = Spec(Policy::kFlow);
  Packet p;
  EXPECT_EQ(SelectWorkstream(s, p, 5, 4, 256), 1);  // no flowid, no m2flow: source
  s.m2flow = [](Packet& pkt) {
    pkt.SetFlowId(10, HashType::kIpv4);
    return true;
  };
  EXPECT_EQ(SelectWorkstream(s, p, 5, 4, 256), 2);
  EXPECT_EQ(p.flowid, 10u);
  Packet q;
  s.m2flow = [](Packet&) { return false; };
  EXPECT_EQ(SelectWorkstream(s, q, 6, 4, 256), 2);
}

TEST(SelectWorkstream, SourceIgnoresFlowid) {
  Packet p;
  p.SetFlowId(1, HashType::kOpaque);
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kSource), p, 6, 4, 256), 2);
}

TEST(SelectWorkstream, CpuPolicyTrustsOnlyValidAnswers) {
  ProtocolSpec s = Spec(Policy::kCpu);
  Packet p;
  s.m2cpuid = M2CpuEach([](const Packet&, uint16_t) { return 3; });
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4, 256), 3);
  s.m2cpuid = M2CpuEach([](const Packet&, uint16_t) { return 4; });
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4, 256), -1);
  s.m2cpuid = M2CpuEach([](const Packet&, uint16_t) { return kNoWorkstream; });
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4, 256), -1);
}

DispatchContext Ctx(DispatchMode m) {
  return {.mode = m,
          .target = 1,
          .here = 1,
          .here_dispatching = false,
          .lane_outstanding = 0,
          .target_qlen = 0};
}

TEST(Decide, DeferredAlwaysQueues) {
  EXPECT_EQ(Decide(Ctx(DispatchMode::kDeferred)), Decision::kQueue);
}

TEST(Decide, DirectRunsHereUnlessOwnPacketsAreStillInFlight) {
  DispatchContext c = Ctx(DispatchMode::kDirect);
  c.target = 0;  // another workstream: direct still runs here
  EXPECT_EQ(Decide(c), Decision::kDirect);
  c.target_qlen = 5;  // others' packets queued there do not matter
  EXPECT_EQ(Decide(c), Decision::kDirect);
  c.lane_outstanding = 1;  // ours do: queue behind them
  EXPECT_EQ(Decide(c), Decision::kQueue);
}

TEST(Decide, HybridFollowsFreeBsd) {
  EXPECT_EQ(Decide(Ctx(DispatchMode::kHybrid)), Decision::kHybridDirect);
  DispatchContext c = Ctx(DispatchMode::kHybrid);
  c.target = 0;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // not this CPU
  c = Ctx(DispatchMode::kHybrid);
  c.here_dispatching = true;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // workstream already running
  c = Ctx(DispatchMode::kHybrid);
  c.target_qlen = 1;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // protocol has work queued there
  c = Ctx(DispatchMode::kHybrid);
  c.here = -1;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // caller is not a worker
}

// --- The adaptive rule ------------------------------------------------------

sched::LoadSample Load(double busy, uint64_t delay_ns, bool asleep = false, bool stale = false) {
  sched::LoadSample l;
  l.busy = busy;
  l.queue_delay_ns = static_cast<uint32_t>(delay_ns);
  l.asleep = asleep;
  l.stale = stale;
  return l;
}

// Thresholds are taken from the settings, so the tests follow the defaults.
TEST(Adaptive, SaturationHasHysteresis) {
  const AdaptiveSettings s;
  const uint64_t lo = s.delay_low_ns, hi = s.delay_high_ns;
  EXPECT_FALSE(UpdateSaturation(false, Load(0.85, 0), s));           // below high
  EXPECT_TRUE(UpdateSaturation(false, Load(0.95, 0), s));            // above high
  EXPECT_TRUE(UpdateSaturation(true, Load(0.80, 0), s));             // between: stays
  EXPECT_FALSE(UpdateSaturation(true, Load(0.70, 0), s));            // below low
  EXPECT_TRUE(UpdateSaturation(false, Load(0.1, hi + 1), s));        // queueing delay alone
  EXPECT_TRUE(UpdateSaturation(true, Load(0.1, (lo + hi) / 2), s));  // delay not yet low
  EXPECT_FALSE(UpdateSaturation(true, Load(0.1, lo - 1), s));
}

// Busy counts only while the CPU is behind its sources (most polls full):
// one that keeps up spends its spare time on more, smaller polls.
TEST(Adaptive, ACpuThatKeepsUpWithItsSourcesIsNotSaturated) {
  const AdaptiveSettings s;
  const auto load = [](double busy, double full_polls, uint64_t delay_ns = 0) {
    sched::LoadSample l = Load(busy, delay_ns);
    l.full_polls = full_polls;
    return l;
  };
  const double high = s.full_polls_high;
  EXPECT_FALSE(UpdateSaturation(false, load(0.99, high - 0.01), s));           // keeps up
  EXPECT_TRUE(UpdateSaturation(false, load(0.99, high), s));                   // behind
  EXPECT_TRUE(UpdateSaturation(false, load(0.1, 0, s.delay_high_ns + 1), s));  // delay alone
  EXPECT_TRUE(UpdateSaturation(true, load(0.99, high / 2 + 0.01), s));         // between: stays
  EXPECT_FALSE(UpdateSaturation(true, load(0.99, high / 2 - 0.01), s));        // keeps up again
  // ... but not while its queues still make packets wait.
  EXPECT_TRUE(UpdateSaturation(true, load(0.99, 0, s.delay_low_ns + 1), s));
  // A CPU that never polled keeps the initial share, 1: judged by busy.
  EXPECT_TRUE(UpdateSaturation(false, Load(0.99, 0), s));
}

TEST(Adaptive, PicksLeastLoadedWithRoomPreferringCachePeers) {
  const AdaptiveSettings s;
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.5, 0), Load(0.2, 0), Load(0.9, 0)};
  std::vector<float> fill(4, 0.0f);
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), 2);
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0b0010, s), 1);     // 1 shares the cache
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0b1000, s), 2);     // 3 has no room
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s, 0b0100), 1);  // 2 is excluded
  fill[2] = 0.5f;  // its queue is filling right now, whatever the averages say
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), 1);
  fill[2] = 0.0f;
  loads[2] = Load(0.2, s.delay_low_ns + 1);  // queueing delay building up
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), 1);
  EXPECT_EQ(PickRoomyWorkstream({loads.data(), 1}, {fill.data(), 1}, 0, 0, s), -1);
}

// A sleeping worker is judged by what it published unless that is stale;
// asleep with stale values, it is idle whatever they say.
TEST(Adaptive, SleepersAreIdleOnlyWhenTheirLoadIsStale) {
  const AdaptiveSettings s;
  const std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.99, 0, /*asleep=*/true)};
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), -1);  // busy, sleeping between bursts
  loads[1] = Load(0.99, 0, /*asleep=*/false, /*stale=*/true);
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), -1);  // stale but running
  loads[1] = Load(0.99, 0, /*asleep=*/true, /*stale=*/true);
  EXPECT_EQ(PickRoomyWorkstream(loads, fill, 0, 0, s), 1);
  // Nor is a stale sleeper overloaded by its old queueing delay.
  loads[1] = Load(0.99, s.delay_high_ns + 1, true, true);
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  loads[1] = Load(0.99, s.delay_high_ns + 1, true, false);
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill}, s).reason,
            AdaptiveReason::kMigrateHome);
}

TEST(Adaptive, DirectWhileThereIsRoomHere) {
  const AdaptiveSettings s;
  const std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(0.5, 0), Load(0.1, 0)};
  const AdaptiveChoice c = DecideAdaptive({0, 0, false, true, loads, 0, fill}, s);
  EXPECT_EQ(c.placement, 0);
  EXPECT_EQ(c.reason, AdaptiveReason::kHasRoom);
}

TEST(Adaptive, SaturatedMovesOutOnlyWhenAllowedAndRoomExists) {
  const AdaptiveSettings s;
  std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.1, 0)};
  EXPECT_EQ(DecideAdaptive({0, 0, true, true, loads, 0, fill}, s).reason,
            AdaptiveReason::kMigrateOut);
  EXPECT_EQ(DecideAdaptive({0, 0, true, true, loads, 0, fill}, s).placement, 1);
  // Not drained / too soon after the last move: stays.
  EXPECT_EQ(DecideAdaptive({0, 0, true, false, loads, 0, fill}, s).reason, AdaptiveReason::kNoRoom);
  // The target still settling from the last move, or holding this
  // producer back: stays.
  EXPECT_EQ(DecideAdaptive({0, 0, true, true, loads, 0, fill, /*settling=*/0b10}, s).reason,
            AdaptiveReason::kNoRoom);
  EXPECT_EQ(DecideAdaptive({0, 0, true, true, loads, 0, fill, 0, /*pressured=*/0b10}, s).reason,
            AdaptiveReason::kNoRoom);
  loads[1] = Load(0.95, 0);
  EXPECT_EQ(DecideAdaptive({0, 0, true, true, loads, 0, fill}, s).reason, AdaptiveReason::kNoRoom);
}

// A producer deeply behind its sources may move another bucket to a target
// still settling from its last move, while half the target's room covers
// what it moved there since (pending) and this bucket; one briefly behind
// waits for the target to show its last move.
TEST(Adaptive, DeeplyBehindFillsASettlingTargetUpToHalfItsRoom) {
  const AdaptiveSettings s;
  const std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.25, 0)};
  loads[0].full_polls = 1;
  std::vector<float> pending = {0, 0.1f};
  AdaptiveView v{0, 0, true, true, loads, 0, fill, /*settling=*/0b10};
  v.pending = pending;
  v.move_load = 0.05;
  // Room 0.85 - 0.25 = 0.6; half of it is 0.3 >= 0.1 + 0.05.
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kMigrateOut);
  EXPECT_EQ(DecideAdaptive(v, s).placement, 1);
  pending[1] = 0.26f;  // 0.26 + 0.05 is over half the room
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kNoRoom);
  pending[1] = 0.1f;
  loads[0].full_polls = kDeeplyBehind - 0.01;  // saturated, not deeply behind
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kNoRoom);
  loads[0].full_polls = 1;
  v.pending = {};  // no capacity model: a settling target takes nothing
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kNoRoom);
  v.pending = pending;
  v.pressured = 0b10;  // holding this producer back: nothing, whatever the room
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kNoRoom);
}

TEST(Adaptive, PlacedBucketsComeHomeWhenTheirCpuOverloads) {
  const AdaptiveSettings s;
  std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.9, s.delay_low_ns + 1)};
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  // Backpressure from there within the last window: overloaded.
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill, 0, /*pressured=*/0b10}, s).reason,
            AdaptiveReason::kMigrateHome);
  loads[1] = Load(1, s.delay_high_ns + 1);
  const AdaptiveChoice c = DecideAdaptive({0, 1, true, true, loads, 0, fill}, s);
  EXPECT_EQ(c.reason, AdaptiveReason::kMigrateHome);
  EXPECT_EQ(c.placement, 0);
  EXPECT_EQ(DecideAdaptive({0, 1, true, false, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  loads[0] = Load(1, s.delay_high_ns + 2);  // home is no better
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  loads = {Load(1, 0), Load(0.5, 0)};
  fill[1] = 0.9f;  // averages look fine, but the queue is nearly full now
  EXPECT_EQ(DecideAdaptive({0, 1, true, true, loads, 0, fill}, s).reason,
            AdaptiveReason::kMigrateHome);
}

// Direct dispatch while this CPU has capacity: a bucket moved out while it
// was saturated comes back once this CPU is light (busy under busy_low, no
// queueing delay), the bucket's own load fits under busy_high, and the last
// return shows in this CPU's load (settling); never sooner than the
// migration interval allows.
TEST(Adaptive, PlacedBucketsReturnOnceThisCpuHasRoomAgain) {
  const AdaptiveSettings s;
  std::vector<float> fill(2, 0.0f);
  std::vector<sched::LoadSample> loads = {Load(0.5, 0), Load(0.5, 0)};
  AdaptiveView v{0, 1, false, true, loads, 0, fill};
  AdaptiveChoice c = DecideAdaptive(v, s);
  EXPECT_EQ(c.reason, AdaptiveReason::kReturn);
  EXPECT_EQ(c.placement, 0);
  EXPECT_STREQ(ToString(AdaptiveReason::kReturn), "return");
  // Too soon after the last move: stays.
  v.may_migrate = false;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  v.may_migrate = true;
  // The last return here not yet in this CPU's load: stays.
  v.settling = 0b01;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  v.settling = 0;
  // The bucket would take this CPU past busy_high: stays (it would only
  // move straight back out); one that fits under it returns.
  v.bucket_load = s.busy_high - 0.5;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  v.bucket_load = s.busy_high - 0.5 - 0.01;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kReturn);
  v.bucket_load = 0;
  // Not light: busy between busy_low and room_busy (room for a move out
  // to here, but not for a return), or a queueing delay here: stays.
  loads[0] = Load((s.busy_low + s.room_busy) / 2, 0);
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  loads[0] = Load(0.5, s.delay_low_ns + 1);
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  loads[0] = Load(0.5, 0);
  // Order of the rules for a bucket placed elsewhere: its CPU overloaded
  // brings it home as migrate_home, not return; a queue past spill_fill
  // there does not stop a return (the bucket comes home for good rather
  // than spilling one packet).
  loads[1] = Load(1, s.delay_high_ns + 1);
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kMigrateHome);
  loads[1] = Load(0.9, 0);
  fill[1] = static_cast<float>(s.spill_fill);
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kReturn);
}

TEST(Decide, AdaptiveWithoutABucketIsHybrid) {
  DispatchContext c = Ctx(DispatchMode::kAdaptive);
  EXPECT_EQ(Decide(c), Decision::kHybridDirect);
  c.target = 0;
  EXPECT_EQ(Decide(c), Decision::kQueue);
}

// Spill: a drained bucket placed on a CPU whose queue is past spill_fill
// runs here this once (the caller keeps its placement); below the level,
// or with this CPU overloaded itself, it is queued there as usual.
TEST(Adaptive, DrainedBucketsSpillHereWhileTheirCpuHasAQueue) {
  const AdaptiveSettings s;
  std::vector<float> fill(2, 0.0f);
  const std::vector<sched::LoadSample> loads = {Load(1, 0), Load(0.9, 0)};
  EXPECT_EQ(DecideAdaptive({0, 1, true, false, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  fill[1] = static_cast<float>(s.spill_fill);
  AdaptiveChoice c = DecideAdaptive({0, 1, true, false, loads, 0, fill}, s);
  EXPECT_EQ(c.reason, AdaptiveReason::kSpill);
  EXPECT_EQ(c.placement, 0);
  fill[0] = 0.9f;  // home is overloaded: no relief there
  EXPECT_EQ(DecideAdaptive({0, 1, true, false, loads, 0, fill}, s).reason, AdaptiveReason::kPlaced);
  fill[0] = 0.0f;
  AdaptiveSettings off = s;
  off.spill_fill = 1.0;  // only a full queue, which backpressure prevents
  EXPECT_EQ(DecideAdaptive({0, 1, true, false, loads, 0, fill}, off).reason,
            AdaptiveReason::kPlaced);
  EXPECT_STREQ(ToString(AdaptiveReason::kSpill), "spill");
}

// Rebalance: a saturated producer whose bucket sits on a CPU busy past
// busy_high with a queue past spill_fill (or overloaded) moves it on to the
// roomiest third CPU, within its migration budget (may_rebalance); never to
// the placement itself, and not while this CPU has room (then the bucket
// returns or spills here as before).
TEST(Adaptive, ASaturatedProducerMovesAnOverfullPlacementsBucketOn) {
  const AdaptiveSettings s;
  std::vector<float> fill = {0.0f, static_cast<float>(s.spill_fill), 0.0f};
  std::vector<sched::LoadSample> loads = {Load(1, 0), Load(s.busy_high + 0.05, 0), Load(0.3, 0)};
  AdaptiveView v{0, 1, true, false, loads, 0, fill};
  v.may_rebalance = true;
  AdaptiveChoice c = DecideAdaptive(v, s);
  EXPECT_EQ(c.reason, AdaptiveReason::kRebalance);
  EXPECT_EQ(c.placement, 2);
  EXPECT_STREQ(ToString(AdaptiveReason::kRebalance), "rebalance");
  // Over the budget: it spills here as before.
  v.may_rebalance = false;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kSpill);
  v.may_rebalance = true;
  // No third CPU with room: spill.
  loads[2] = Load(s.room_busy + 0.01, 0);
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kSpill);
  loads[2] = Load(0.3, 0);
  // The placement is busy but keeps its queue short: placed, not moved.
  fill[1] = 0.0f;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kPlaced);
  fill[1] = static_cast<float>(s.spill_fill);
  // This CPU not saturated: the old rules (a spill here).
  v.here_saturated = false;
  EXPECT_EQ(DecideAdaptive(v, s).reason, AdaptiveReason::kSpill);
  v.here_saturated = true;
  // Overloaded placement and an overloaded home: on, not home.
  loads[1] = Load(1, s.delay_high_ns + 1);
  fill[0] = 0.9f;
  c = DecideAdaptive(v, s);
  EXPECT_EQ(c.reason, AdaptiveReason::kRebalance);
  EXPECT_EQ(c.placement, 2);
}

}  // namespace
}  // namespace netisr::internal
