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

TEST(SelectWorkstream, FlowUsesFlowidModuloWorkstreams) {
  Packet p;
  p.SetFlowId(7, HashType::kOpaque);
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kFlow), p, 0, 4), 3);
}

TEST(SelectWorkstream, FlowAsksM2flowThenFallsBackToSource) {
  ProtocolSpec s = Spec(Policy::kFlow);
  Packet p;
  EXPECT_EQ(SelectWorkstream(s, p, 5, 4), 1);  // no flowid, no m2flow: source
  s.m2flow = [](Packet& pkt) {
    pkt.SetFlowId(10, HashType::kIpv4);
    return true;
  };
  EXPECT_EQ(SelectWorkstream(s, p, 5, 4), 2);
  EXPECT_EQ(p.flowid, 10u);
  Packet q;
  s.m2flow = [](Packet&) { return false; };
  EXPECT_EQ(SelectWorkstream(s, q, 6, 4), 2);
}

TEST(SelectWorkstream, SourceIgnoresFlowid) {
  Packet p;
  p.SetFlowId(1, HashType::kOpaque);
  EXPECT_EQ(SelectWorkstream(Spec(Policy::kSource), p, 6, 4), 2);
}

TEST(SelectWorkstream, CpuPolicyTrustsOnlyValidAnswers) {
  ProtocolSpec s = Spec(Policy::kCpu);
  Packet p;
  s.m2cpuid = [](const Packet&, uint16_t) -> std::optional<int> { return 3; };
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4), 3);
  s.m2cpuid = [](const Packet&, uint16_t) -> std::optional<int> { return 4; };
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4), -1);
  s.m2cpuid = [](const Packet&, uint16_t) -> std::optional<int> { return std::nullopt; };
  EXPECT_EQ(SelectWorkstream(s, p, 0, 4), -1);
}

DispatchContext Ctx(DispatchMode m) {
  return {.mode = m, .target = 1, .here = 1, .here_draining = false, .lane_outstanding = 0,
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
  c.here_draining = true;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // workstream already running
  c = Ctx(DispatchMode::kHybrid);
  c.target_qlen = 1;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // protocol has work queued there
  c = Ctx(DispatchMode::kHybrid);
  c.here = -1;
  EXPECT_EQ(Decide(c), Decision::kQueue);  // caller is not a worker
}

}  // namespace
}  // namespace netisr::internal
