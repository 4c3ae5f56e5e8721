// Handlers run where the policy says, nested dispatch chains work, and a
// sleeping worker is woken once per burst rather than once per packet.
#include <gtest/gtest.h>
#include <sched.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

// Records, for every packet, the workstream and OS CPU its handler ran on.
struct Where {
  std::mutex mu;  // guards `seen`; handlers on both workers append
  std::vector<std::tuple<uint32_t, uint16_t, int, int>> seen;  // flow, source, ws, cpu
  HandlerFn handler() {
    return [this](Burst b) {
      std::lock_guard<std::mutex> lock(mu);
      for (Packet* p : b) {
        seen.emplace_back(p->flowid, p->source, Netisr::CurrentWorkstream(), sched_getcpu());
        Release(p);
      }
    };
  }
};

struct PlacementCase {
  Policy policy;
  int (*expected)(uint32_t flow, uint16_t source);
};

class Placement : public ::testing::TestWithParam<PlacementCase> {};

TEST_P(Placement, DeferredHandlersRunOnThePolicysWorkstreamAndCpu) {
  Settings s;
  s.max_threads = 2;
  s.bind_threads = true;
  auto nisr = MakeNetisr("threads", s);
  ASSERT_NE(nisr, nullptr);
  Where where;
  ProtocolSpec spec;
  spec.name = "placed";
  spec.handler = where.handler();
  spec.policy = GetParam().policy;
  spec.dispatch = DispatchMode::kDeferred;
  spec.m2cpuid =
      M2CpuEach([](const Packet& p, uint16_t) { return static_cast<int>(p.flowid / 3) % 2; });
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  auto pool = MakePool(1024);
  SeqSource a(*pool, *proto, 0, Range(0, 12), 3000);
  SeqSource b(*pool, *proto, 1, Range(20, 12), 3000);
  ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
  ASSERT_TRUE(nisr->AttachSource(1, &b).ok());
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  ASSERT_EQ(where.seen.size() + st.TotalDrops(), 6000u);
  ASSERT_GT(where.seen.size(), 0u);
  for (const auto& [flow, source, ws, cpu] : where.seen) {
    const int want = GetParam().expected(flow, source);
    ASSERT_EQ(ws, want) << "flow " << flow << " source " << source;
    ASSERT_EQ(cpu, st.workstreams[want].cpu) << "flow " << flow;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Policies, Placement,
    ::testing::Values(
        PlacementCase{Policy::kFlow, [](uint32_t f, uint16_t) { return static_cast<int>(f % 2); }},
        PlacementCase{Policy::kSource, [](uint32_t, uint16_t s) { return s % 2; }},
        PlacementCase{Policy::kCpu,
                      [](uint32_t f, uint16_t) { return static_cast<int>((f / 3) % 2); }}),
    [](const auto& info) { return std::string(ToString(info.param.policy)); });

// Policy kCpu: m2cpuid is asked once per chunk (64 packets) with the chunk,
// each packet goes where its answer says, and a packet whose answer names
// no workstream is dropped and counted under `no_cpu`. Deferred mode takes
// its own loop in Enter, hybrid the per-packet rule (Classify).
class CpuPolicy : public ::testing::TestWithParam<DispatchMode> {};

TEST_P(CpuPolicy, M2cpuidIsAskedOncePerChunkAndItsRefusalsAreCounted) {
  auto nisr = MakeNetisr("threads", UnboundWorkers(2));
  ASSERT_NE(nisr, nullptr);
  Where where;
  std::vector<size_t> asked;  // burst sizes m2cpuid saw; the producer thread only
  ProtocolSpec spec;
  spec.name = "cpu";
  spec.handler = where.handler();
  spec.policy = Policy::kCpu;
  spec.dispatch = GetParam();
  spec.qlimit = 256;
  // flowid % 3: 0 and 1 name a workstream, 2 names none (7, out of range).
  spec.m2cpuid = [&asked](Burst pkts, uint16_t, std::span<int> ws) {
    asked.push_back(pkts.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      const int answer = static_cast<int>(pkts[i]->flowid % 3);
      ws[i] = answer == 2 ? 7 : answer;
    }
  };
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  auto pool = MakePool(256);
  ASSERT_TRUE(nisr->Start().ok());
  constexpr uint32_t kPackets = 100;
  {
    Netisr::ProducerScope scope(*nisr);
    ASSERT_TRUE(scope.status().ok());
    std::vector<Packet*> pkts(kPackets);
    ASSERT_EQ(pool->AllocBulk(pkts), kPackets);
    for (uint32_t i = 0; i < kPackets; ++i) pkts[i]->SetFlowId(i, HashType::kOpaque);
    // DispatchBurst, so that the protocol's own mode decides (QueueBurst
    // would take the deferred branch whatever the mode).
    const BurstOutcome r = nisr->DispatchBurst(0, *proto, pkts);
    EXPECT_EQ(r.dropped, 33u);  // flowids 2, 5, ..., 98
    EXPECT_EQ(r.queued + r.handled, kPackets - 33);
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(asked, (std::vector<size_t>{64, 36}));
  const Stats st = nisr->GetStats();
  EXPECT_EQ(st.drops.at("no_cpu"), 33u);
  ASSERT_EQ(where.seen.size(), kPackets - 33);
  for (const auto& [flow, source, ws, cpu] : where.seen) {
    EXPECT_EQ(ws, static_cast<int>(flow % 3)) << "flow " << flow;
  }
  EXPECT_EQ(pool->available(), 256u);  // every buffer back
}

INSTANTIATE_TEST_SUITE_P(Modes, CpuPolicy,
                         ::testing::Values(DispatchMode::kDeferred, DispatchMode::kHybrid),
                         [](const auto& info) { return std::string(ToString(info.param)); });

// What two bound workers' handlers found: the CPU each workstream reports
// (Stats), where its handler ran (sched_getcpu) and its thread's affinity
// masks there.
struct BoundRun {
  struct Seen {
    int cpu = -1;                   // Stats::workstreams[w].cpu
    std::set<int> ran_on;           // sched_getcpu() in the handler
    std::set<std::set<int>> masks;  // the thread's affinity mask there
  };
  // Written by both workers' handlers under RunTwoBoundWorkers' `mu`; read
  // after Stop.
  std::vector<Seen> seen = std::vector<Seen>(2);
};

BoundRun RunTwoBoundWorkers(Settings s) {
  s.max_threads = 2;
  s.bind_threads = true;
  BoundRun run;
  auto created = Netisr::Create(s, MakeWorkModel("threads").value());
  EXPECT_TRUE(created.ok()) << created.status().message();
  if (!created.ok()) return run;
  std::unique_ptr<Netisr> nisr = std::move(*created);
  std::mutex mu;  // guards run.seen; handlers of both workers record
  ProtocolSpec spec;
  spec.name = "bound";
  spec.dispatch = DispatchMode::kDeferred;
  spec.handler = [&](Burst b) {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::set<int> mask;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &set)) mask.insert(c);
      }
    }
    const int ws = Netisr::CurrentWorkstream();
    std::lock_guard<std::mutex> lock(mu);
    if (ws >= 0 && ws < 2) {
      run.seen[ws].ran_on.insert(sched_getcpu());
      run.seen[ws].masks.insert(mask);
    }
    for (Packet* p : b) Release(p);
  };
  auto proto = nisr->Register(spec);
  EXPECT_TRUE(proto.ok()) << proto.status().message();
  if (!proto.ok()) return run;
  auto pool = MakePool(1024);
  if (Status st = nisr->Start(); !st.ok()) {
    ADD_FAILURE() << st.message();
    return run;
  }
  {
    Netisr::ProducerScope scope(*nisr);
    EXPECT_TRUE(scope.status().ok());
    // Flows 0 and 1 land on workstreams 0 and 1 (flowid % 2).
    EXPECT_EQ(QueueBurstsToTwoWorkstreams(*nisr, *pool, *proto, 10), 320u);
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  const Stats st = nisr->GetStats();
  for (int w = 0; w < 2; ++w) run.seen[w].cpu = st.workstreams[w].cpu;
  EXPECT_EQ(pool->available(), pool->capacity());
  return run;
}

// The CPUs this process may run on, ascending.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// Bound workers run on their CPUs: each worker's handler finds its thread's
// affinity mask to be exactly its workstream's CPU, and runs there, and the
// two workers have distinct CPUs where the machine has two.
TEST(Placement, WorkersAreBoundToDistinctCpus) {
  const BoundRun run = RunTwoBoundWorkers(Settings{});
  std::set<int> cpus;
  for (int w = 0; w < 2; ++w) {
    SCOPED_TRACE("workstream " + std::to_string(w));
    const BoundRun::Seen& seen = run.seen[w];
    ASSERT_GE(seen.cpu, 0);
    cpus.insert(seen.cpu);
    EXPECT_EQ(seen.masks, (std::set<std::set<int>>{{seen.cpu}}));
    EXPECT_EQ(seen.ran_on, (std::set<int>{seen.cpu}));
  }
  EXPECT_EQ(cpus.size(), std::min<size_t>(2, std::thread::hardware_concurrency()));
}

// Settings::worker_cpus overrides the topology's order: both workers on
// the last CPU the process may use (workstream w on worker_cpus[w % 1]),
// which the default order would give to the second worker at most.
TEST(Placement, WorkerCpusPinsEachWorkerWhereTheyName) {
  const std::vector<int> allowed = AllowedCpus();
  // On one CPU the default order would give the same answer.
  if (allowed.size() < 2) GTEST_SKIP() << "needs two CPUs to tell worker_cpus from the default";
  Settings s;
  s.worker_cpus = {allowed.back()};
  const BoundRun run = RunTwoBoundWorkers(s);
  for (int w = 0; w < 2; ++w) {
    SCOPED_TRACE("workstream " + std::to_string(w));
    EXPECT_EQ(run.seen[w].cpu, allowed.back());
    EXPECT_EQ(run.seen[w].masks, (std::set<std::set<int>>{{allowed.back()}}));
    EXPECT_EQ(run.seen[w].ran_on, (std::set<int>{allowed.back()}));
  }
}

TEST(Placement, WorkerCpusMisuseIsRefusedByName) {
  const std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  const int absent = allowed.back() + 1000;
  struct Case {
    std::vector<int> cpus;
    bool bind;
    std::string want;
  };
  for (const Case& c : {Case{{absent}, true, "worker_cpus: CPU " + std::to_string(absent)},
                        Case{{-1}, true, "worker_cpus: CPU -1 is negative"},
                        Case{{allowed[0]}, false, "bind_threads false"}}) {
    Settings s;
    s.max_threads = 1;
    s.bind_threads = c.bind;
    s.worker_cpus = c.cpus;
    auto nisr = Netisr::Create(s, MakeWorkModel("threads").value());
    ASSERT_FALSE(nisr.ok()) << c.want;
    EXPECT_EQ(nisr.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(nisr.status().message().find(c.want), std::string::npos) << nisr.status().message();
  }
}

// With max_threads 0, one workstream per worker_cpus entry, not one per
// CPU: one more entry than the machine has CPUs (all the first CPU).
TEST(Placement, WorkerCpusSetTheWorkstreamCountWhenMaxThreadsIsZero) {
  const std::vector<int> allowed = AllowedCpus();
  ASSERT_FALSE(allowed.empty());
  Settings s;
  s.worker_cpus.assign(allowed.size() + 1, allowed[0]);
  auto nisr = Netisr::Create(s, MakeWorkModel("threads").value());
  ASSERT_TRUE(nisr.ok()) << nisr.status().message();
  EXPECT_EQ((*nisr)->num_workstreams(), static_cast<int>(allowed.size()) + 1);
}

// The flow policy places flow buckets, not flowids: on 3 workstreams
// (not a power of two) every flow of bucket b runs on b % 3, so a packet
// queued behind its bucket's outstanding one never runs on a workstream its
// flow would not otherwise use (base/flow_bucket.h).
TEST(Placement, FlowsOfOneBucketShareAWorkstreamAtEveryCount) {
  auto nisr = MakeNetisr("inline", UnboundWorkers(3));
  ASSERT_NE(nisr, nullptr);
  Where where;
  ProtocolSpec spec;
  spec.name = "placed";
  spec.handler = where.handler();
  spec.dispatch = DispatchMode::kDeferred;
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  auto pool = MakePool(64);
  ASSERT_TRUE(nisr->Start().ok());
  // Bucket 7 (flows 7, 263, 519) and bucket 8 (flows 8, 264); 263 % 3 = 2
  // and 264 % 3 = 0 would have split them.
  // Each runs before the next is queued: its bucket has drained, so nothing
  // but the policy decides where the next one goes.
  for (uint32_t f : {7u, 263u, 519u, 8u, 264u}) {
    {
      Netisr::ProducerScope scope(*nisr);
      ASSERT_TRUE(scope.status().ok());
      Packet* p = pool->Alloc();
      ASSERT_NE(p, nullptr);
      p->SetFlowId(f, HashType::kOpaque);
      EXPECT_EQ(nisr->QueueBurst(0, *proto, {&p, 1}).queued, 1u);
    }
    nisr->RunUntilIdle();
  }
  nisr->Stop();
  std::map<uint32_t, int> ws_of;
  for (const auto& [flow, source, ws, cpu] : where.seen) ws_of[flow] = ws;
  EXPECT_EQ(ws_of, (std::map<uint32_t, int>{{7, 1}, {8, 2}, {263, 1}, {264, 2}, {519, 1}}));
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST(Placement, FewerFlowBucketsThanWorkstreamsIsRefused) {
  Settings s = UnboundWorkers(4);
  s.flow_buckets = 2;
  auto m = MakeWorkModel("inline");
  ASSERT_TRUE(m.ok());
  auto n = Netisr::Create(s, std::move(m).value());
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().message(),
            "flow_buckets 2 is fewer than the 4 workstreams; each workstream needs a bucket");
}

// ether -> ip: the first handler dispatches each packet to the second.
// Hybrid nested dispatch queues (the workstream is running) and the chain
// still conserves and keeps order.
TEST(Chain, NestedDispatchConservesAndKeepsOrder) {
  for (const char* model : {"inline", "threads"}) {
    for (DispatchMode mode :
         {DispatchMode::kDirect, DispatchMode::kDeferred, DispatchMode::kHybrid}) {
      auto nisr = MakeNetisr(model, UnboundWorkers(2));
      ASSERT_NE(nisr, nullptr);
      Checker checker(100);
      ProtocolSpec ip;
      ip.name = "ip";
      ip.handler = checker.handler();
      ip.dispatch = mode;
      auto ip_id = nisr->Register(ip);
      ASSERT_TRUE(ip_id.ok());
      ProtocolSpec ether;
      ether.name = "ether";
      ether.policy = Policy::kSource;
      ether.dispatch = mode;
      ether.handler = [&](Burst b) { nisr->DispatchBurst(b[0]->source, *ip_id, b); };
      auto ether_id = nisr->Register(ether);
      ASSERT_TRUE(ether_id.ok());
      auto pool = MakePool(2048);
      SeqSource a(*pool, *ether_id, 0, Range(0, 16), 20000);
      SeqSource b(*pool, *ether_id, 1, Range(50, 16), 20000);
      ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
      ASSERT_TRUE(nisr->AttachSource(1, &b).ok());
      ASSERT_TRUE(nisr->Start().ok());
      nisr->RunUntilIdle();
      nisr->Stop();
      const Stats st = nisr->GetStats();
      EXPECT_EQ(checker.delivered() + st.TotalDrops(), 40000u) << model << " " << ToString(mode);
      EXPECT_EQ(checker.reordered(), 0u) << model << " " << ToString(mode);
      EXPECT_EQ(pool->available(), pool->capacity());
    }
  }
}

// An external producer queueing bursts of 32 to a sleeping worker wakes it
// at most once per burst.
TEST(Wakeups, AtMostOncePerBurst) {
  Checker checker(10);
  constexpr int kBursts = 100;
  const Stats st = RunExternalBursts("threads", checker, kBursts);
  EXPECT_EQ(checker.delivered(), kBursts * 32u);
  EXPECT_EQ(checker.reordered(), 0u);
  for (const auto& w : st.workstreams) EXPECT_LE(w.wakeups, static_cast<uint64_t>(kBursts));
  EXPECT_GT(st.workstreams[0].wakeups + st.workstreams[1].wakeups, 0u);
}

// Direct mode's bursts (a kFlow chunk runs whole when this producer has
// nothing of the protocol in any lane, else packet by packet): every packet
// is counted on the lane of its hint or policy workstream, a packet without
// a flowid gets one from m2flow in order, a flow with packets still queued
// is queued behind them, and once they drain the flow runs directly again.
TEST(DirectBursts, CountOnThePolicyLaneAndWaitBehindQueuedPackets) {
  auto pool = MakePool(1024);
  Checker checker(100);
  auto nisr = MakeNetisr("inline", UnboundWorkers(2));
  ASSERT_NE(nisr, nullptr);
  ProtocolSpec spec;
  spec.name = "direct";
  spec.handler = checker.handler();
  spec.policy = Policy::kFlow;
  spec.dispatch = DispatchMode::kDirect;
  spec.m2flow = [](Packet& p) {
    p.SetFlowId(static_cast<uint32_t>(p.seq >> 32), HashType::kOpaque);  // flow in seq's top half
    p.seq &= 0xffffffffu;
    return true;
  };
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  // Flow 5 (policy workstream 1) hinted to workstream 0.
  ASSERT_TRUE(nisr->SetFlowAffinity(*proto, 5, 0).ok());
  ASSERT_TRUE(nisr->Start().ok());
  Netisr::ProducerScope scope(*nisr);
  ASSERT_TRUE(scope.status().ok());
  uint64_t seq[8] = {};
  auto make = [&](uint32_t flow, bool with_flowid) {
    Packet* p = pool->Alloc();
    if (with_flowid) {
      p->SetFlowId(flow, HashType::kOpaque);
      p->seq = ++seq[flow];
    } else {
      p->seq = uint64_t{flow} << 32 | ++seq[flow];  // m2flow gives flow back
    }
    return p;
  };
  auto dispatched = [&](int ws) { return nisr->GetStats().work[ws][*proto].dispatched; };

  // 1. Flows 0..7, 64 packets, each chunk whole (nothing outstanding).
  std::vector<Packet*> burst;
  uint64_t want[2] = {};
  for (int i = 0; i < 64; ++i) {
    const uint32_t f = static_cast<uint32_t>(i % 8);
    burst.push_back(make(f, true));
    ++want[f == 5 ? 0 : f % 2];
  }
  EXPECT_EQ(nisr->DispatchBurst(0, *proto, burst).handled, 64u);
  EXPECT_EQ(dispatched(0), want[0]);
  EXPECT_EQ(dispatched(1), want[1]);
  // 2. One packet without a flowid in the chunk: m2flow, in order.
  burst = {make(2, true), make(3, false), make(3, true), make(4, true)};
  ++want[0], ++want[1], ++want[1], ++want[0];
  EXPECT_EQ(nisr->DispatchBurst(0, *proto, burst).handled, 4u);
  EXPECT_EQ(dispatched(0), want[0]);
  EXPECT_EQ(dispatched(1), want[1]);
  // 3. Flow 1 queued (not yet drained): its next packets wait behind it,
  // flow 2's run here.
  Packet* q[] = {make(1, true), make(1, true)};
  EXPECT_EQ(nisr->QueueBurst(0, *proto, q).queued, 2u);
  burst = {make(1, true), make(2, true), make(1, true)};
  const BurstOutcome r = nisr->DispatchBurst(0, *proto, burst);
  EXPECT_EQ(r.handled, 1u);
  EXPECT_EQ(r.queued, 2u);
  ++want[0];
  EXPECT_EQ(dispatched(0), want[0]);
  EXPECT_EQ(dispatched(1), want[1]);
  // 4. Drained: the whole chunk runs here again.
  nisr->RunUntilIdle();
  burst = {make(1, true), make(1, true), make(6, true)};
  EXPECT_EQ(nisr->DispatchBurst(0, *proto, burst).handled, 3u);
  want[1] += 2, ++want[0];
  EXPECT_EQ(dispatched(0), want[0]);
  EXPECT_EQ(dispatched(1), want[1]);
  nisr->RunUntilIdle();
  EXPECT_EQ(checker.delivered(), 64u + 4 + 2 + 3 + 3);
  EXPECT_EQ(checker.reordered(), 0u);
}

}  // namespace
}  // namespace netisr::testing
