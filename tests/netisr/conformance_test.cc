// One conformance suite for every work model and dispatch mode: packets are
// conserved, flows stay in order under several producers and under run-time
// mode changes, queue limits drop and count, handlers run where the policy
// says, stats add up, and shutdown leaves nothing behind.
//
// Built twice (tests/netisr/BUILD): without defines for the inline, threads
// and poll models, which ThreadSanitizer can check, and with
// NETISR_TEST_MODELS_FIBERS for the fibers model, which it cannot (Boost
// 1.74 switches fiber stacks behind its back). Nothing here depends on
// timing: self-driven models are waited for with RunUntilIdle, and poll
// workers spinning on a 2-core machine only slow the suite down.
#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <initializer_list>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

struct Param {
  const char* model;
  DispatchMode mode;
};

std::string Name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(info.param.model) + "_" + std::string(ToString(info.param.mode));
}

class Conformance : public ::testing::TestWithParam<Param> {
 protected:
  Settings BaseSettings(int nws) const { return UnboundWorkers(nws); }
  ProtocolSpec Spec(Checker& c, Policy policy = Policy::kFlow) const {
    ProtocolSpec spec;
    spec.name = "test";
    spec.handler = c.handler();
    spec.policy = policy;
    spec.dispatch = GetParam().mode;
    spec.qlimit = 1024;
    return spec;
  }
};

// Sources on every worker, disjoint flows each; every packet accounted for
// and in order.
TEST_P(Conformance, ConservesAndOrdersWithSeveralProducers) {
  auto pool = MakePool(4096);
  Checker checker(1000);
  auto nisr = MakeNetisr(GetParam().model, BaseSettings(2));
  ASSERT_NE(nisr, nullptr);
  auto proto = nisr->Register(Spec(checker));
  ASSERT_TRUE(proto.ok()) << proto.status().message();
  constexpr uint64_t kPerSource = 20000;
  std::vector<std::unique_ptr<SeqSource>> sources;
  for (int s = 0; s < 4; ++s) {
    sources.push_back(
        std::make_unique<SeqSource>(*pool, *proto, s, Range(s * 100, 37), kPerSource));
    ASSERT_TRUE(nisr->AttachSource(s % 2, sources.back().get()).ok());
  }
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  EXPECT_EQ(checker.delivered() + st.TotalDrops(), 4 * kPerSource);
  EXPECT_EQ(st.TotalDrops(), st.Total(*proto).qdrops);
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(st.Total(*proto).handled, checker.delivered());
  EXPECT_EQ(pool->available(), pool->capacity());
}

// The global override flips between all modes while sources and an
// external producer run: no flow may be reordered.
TEST_P(Conformance, OrderHoldsAcrossRuntimeModeChanges) {
  auto pool = MakePool(8192);
  Checker checker(2000);
  auto nisr = MakeNetisr(GetParam().model, BaseSettings(2));
  ASSERT_NE(nisr, nullptr);
  auto proto = nisr->Register(Spec(checker));
  ASSERT_TRUE(proto.ok());
  constexpr uint64_t kPerSource = 30000;
  SeqSource a(*pool, *proto, 0, Range(0, 50), kPerSource);
  SeqSource b(*pool, *proto, 1, Range(100, 50), kPerSource);
  ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
  ASSERT_TRUE(nisr->AttachSource(1, &b).ok());
  ASSERT_TRUE(nisr->Start().ok());

  const DispatchMode modes[] = {DispatchMode::kDirect, DispatchMode::kDeferred,
                                DispatchMode::kHybrid, DispatchMode::kAdaptive};
  constexpr size_t kModes = std::size(modes);
  uint64_t external_sent = 0;
  // Packets the external producer sent under each override.
  uint64_t sent_in_mode[kModes] = {};
  {
    Netisr::ProducerScope scope(*nisr);
    ASSERT_TRUE(scope.status().ok());
    SeqSource ext(*pool, *proto, 2, Range(1000, 20), 20000);
    for (size_t i = 0; !ext.Exhausted(); ++i) {
      nisr->SetDispatchOverride(modes[i % kModes]);
      const size_t n = ext.Poll(*nisr, 16);
      external_sent += n;
      sent_in_mode[i % kModes] += n;
      nisr->Step();  // caller-driven models make progress here
    }
  }
  for (size_t m = 0; m < kModes; ++m)
    EXPECT_GT(sent_in_mode[m], 0u) << "no traffic under " << ToString(modes[m]);
  nisr->SetDispatchOverride(std::nullopt);
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  EXPECT_EQ(external_sent, 20000u);
  EXPECT_EQ(checker.delivered() + st.TotalDrops(), 2 * kPerSource + external_sent);
  EXPECT_EQ(checker.reordered(), 0u);
}

// A queue at its limit drops the excess and counts it; conservation holds.
TEST_P(Conformance, QueueLimitDropsAreCounted) {
  auto pool = MakePool(256);
  Checker checker(10);
  auto nisr = MakeNetisr(GetParam().model, BaseSettings(2));
  ASSERT_NE(nisr, nullptr);
  ProtocolSpec spec = Spec(checker);
  spec.qlimit = 8;
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  // Queued before Start, so nothing drains while we fill the queue.
  {
    Netisr::ProducerScope scope(*nisr);
    std::vector<Packet*> pkts(20);
    ASSERT_EQ(pool->AllocBulk(pkts), 20u);
    for (Packet*& p : pkts) p->SetFlowId(1, HashType::kOpaque);  // all to workstream 1
    for (size_t i = 0; i < pkts.size(); ++i) pkts[i]->seq = i + 1;
    const BurstOutcome r = nisr->QueueBurst(0, *proto, pkts);
    EXPECT_EQ(r.queued, 8u);
    EXPECT_EQ(r.dropped, 12u);
  }
  Stats st = nisr->GetStats();
  EXPECT_EQ(st.work[1][*proto].qdrops, 12u);
  EXPECT_EQ(st.work[1][*proto].qlen, 8u);
  EXPECT_EQ(st.work[1][*proto].watermark, 8u);
  EXPECT_EQ(st.drops.at("queue_full"), 12u);
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();
  st = nisr->GetStats();
  EXPECT_EQ(checker.delivered(), 8u);
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(st.work[1][*proto].handled, 8u);
  EXPECT_EQ(st.work[1][*proto].qlen, 0u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

// Stats per workstream add up to what was sent, split by how it was run.
TEST_P(Conformance, StatsMatchWhatWasSent) {
  auto pool = MakePool(4096);
  Checker checker(200);
  auto nisr = MakeNetisr(GetParam().model, BaseSettings(2));
  ASSERT_NE(nisr, nullptr);
  auto proto = nisr->Register(Spec(checker));
  ASSERT_TRUE(proto.ok());
  SeqSource a(*pool, *proto, 0, Range(0, 64), 10000);
  ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  for (int w = 0; w < 2; ++w) {
    const WorkStats& c = st.work[w][*proto];
    // Flows 0..63 split evenly by flowid % 2 (adaptive places by load).
    if (GetParam().mode != DispatchMode::kAdaptive) {
      EXPECT_EQ(c.handled + c.qdrops, 5000u) << "workstream " << w;
    }
    EXPECT_EQ(c.dispatched + c.hybrid_dispatched + c.queued, c.handled);
    EXPECT_EQ(c.qlen, 0u);
    // Each drained burst is one handler call of at most Settings::burst of
    // the queued packets, and at least one of them.
    EXPECT_GE(c.bursts * Settings{}.burst, c.queued) << "workstream " << w;
    EXPECT_LE(c.bursts, c.queued) << "workstream " << w;
    if (c.queued > 0) EXPECT_GT(c.bursts, 0u) << "workstream " << w;
  }
  // Only worker 0's source sent, and its handler dispatches nothing: what
  // workstream 1 queued is what worker 0's producer pushed elsewhere.
  EXPECT_EQ(nisr->QueuedElsewhere(0), st.work[1][*proto].queued);
  EXPECT_EQ(nisr->QueuedElsewhere(1), 0u);
  EXPECT_EQ(nisr->QueuedElsewhere(2), 0u);  // out of range
  const WorkStats total = st.Total(*proto);
  switch (GetParam().mode) {
    case DispatchMode::kDirect:
      EXPECT_EQ(total.dispatched, 10000u);
      break;
    case DispatchMode::kDeferred:
      EXPECT_EQ(total.queued + total.qdrops, 10000u);
      EXPECT_EQ(total.dispatched + total.hybrid_dispatched, 0u);
      break;
    case DispatchMode::kHybrid:
      // The source runs on workstream 0: its own flows may run in place,
      // workstream 1's must be queued.
      EXPECT_EQ(st.work[1][*proto].hybrid_dispatched, 0u);
      EXPECT_GT(st.work[0][*proto].hybrid_dispatched, 0u);
      break;
    case DispatchMode::kAdaptive: {
      // Every packet came from a worker with a flowid: one decision each.
      uint64_t decisions = 0;
      for (const auto& [reason, n] : st.decisions) decisions += n;
      EXPECT_EQ(decisions, 10000u);
      EXPECT_EQ(total.dispatched + total.queued + total.qdrops, 10000u);
      break;
    }
  }
}

// Stop with packets still queued: drained (handlers run) or dropped and
// counted, and every packet goes back to the pool either way.
TEST_P(Conformance, ShutdownDrainsOrDropsQueuedPackets) {
  for (ShutdownMode sm : {ShutdownMode::kDrain, ShutdownMode::kDrop}) {
    auto pool = MakePool(512);
    Checker checker(100);
    Settings s = BaseSettings(2);
    s.shutdown = sm;
    auto nisr = MakeNetisr(GetParam().model, s);
    ASSERT_NE(nisr, nullptr);
    auto proto = nisr->Register(Spec(checker));
    ASSERT_TRUE(proto.ok());
    {
      Netisr::ProducerScope scope(*nisr);
      std::vector<Packet*> pkts(300);
      ASSERT_EQ(pool->AllocBulk(pkts), 300u);
      for (size_t i = 0; i < pkts.size(); ++i) {
        pkts[i]->SetFlowId(static_cast<uint32_t>(i % 10), HashType::kOpaque);
        pkts[i]->seq = i / 10 + 1;
      }
      EXPECT_EQ(nisr->QueueBurst(0, *proto, pkts).queued, 300u);
    }
    nisr->Stop();  // never started: everything is still queued
    const Stats st = nisr->GetStats();
    if (sm == ShutdownMode::kDrain) {
      EXPECT_EQ(checker.delivered(), 300u);
      EXPECT_EQ(checker.reordered(), 0u);
    } else {
      EXPECT_EQ(checker.delivered(), 0u);
      EXPECT_EQ(st.drops.at("shutdown"), 300u);
    }
    EXPECT_EQ(st.Total(*proto).qlen, 0u);
    EXPECT_EQ(pool->available(), pool->capacity());
  }
}

// Stop while traffic is in flight on running workers.
TEST_P(Conformance, StopUnderLoadConserves) {
  auto pool = MakePool(4096);
  Checker checker(100);
  Settings s = BaseSettings(2);
  s.shutdown = ShutdownMode::kDrop;
  auto nisr = MakeNetisr(GetParam().model, s);
  ASSERT_NE(nisr, nullptr);
  auto proto = nisr->Register(Spec(checker));
  ASSERT_TRUE(proto.ok());
  SeqSource a(*pool, *proto, 0, Range(0, 10), 1000000);
  ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
  ASSERT_TRUE(nisr->Start().ok());
  // Let self-driven workers get going, so Stop meets traffic in flight.
  if (std::string(GetParam().model) != "inline") {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  nisr->Stop();
  const Stats st = nisr->GetStats();
  EXPECT_EQ(checker.delivered() + st.TotalDrops(), a.sent());
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(st.Total(*proto).qlen, 0u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

std::vector<Param> AllModes(std::initializer_list<const char*> models) {
  std::vector<Param> params;
  for (const char* model : models) {
    for (DispatchMode mode : {DispatchMode::kDirect, DispatchMode::kDeferred, DispatchMode::kHybrid,
                              DispatchMode::kAdaptive})
      params.push_back({model, mode});
  }
  return params;
}

#ifdef NETISR_TEST_MODELS_FIBERS
INSTANTIATE_TEST_SUITE_P(AllModelsAndModes, Conformance, ::testing::ValuesIn(AllModes({"fibers"})),
                         Name);
#else
INSTANTIATE_TEST_SUITE_P(AllModelsAndModes, Conformance,
                         ::testing::ValuesIn(AllModes({"inline", "threads", "poll"})), Name);
#endif

}  // namespace
}  // namespace netisr::testing
