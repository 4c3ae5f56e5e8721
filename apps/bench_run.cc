// The bench-mode job (bench_run.h): the trivial protocol that checks order,
// and the build/run/report sequence. Every per-packet write the protocol
// makes has a single writer at a time (a slot per workstream, a line per
// flow), so that the checker does not become the contended cache line the
// run measures.
#include "apps/bench_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "harness/delivery_tally.h"
#include "harness/order_check.h"
#include "harness/synthetic_source.h"
#include "netisr/netisr.h"
#include "sched_feedback/clock.h"

namespace netisr::apps {

namespace {

using harness::DeliveryTally;
using harness::FlowOfPayload;
using harness::FlowOrderCheck;
using harness::SourceQuotas;
using harness::SourceSpec;
using harness::SyntheticSource;

// Packets in flight across all sources, and the floor per source: a source
// needs a few bursts' worth to keep its worker busy while handlers free the
// previous ones.
constexpr uint32_t kPoolPackets = 65536;
constexpr uint32_t kMinPoolPacketsPerSource = 1024;
constexpr uint32_t kPacketBufBytes = 128;
// Per-thread pool cache, packets (PacketPool's cache_size): DPDK's usual
// 256 for bursts of 32, so a worker trades with a pool's shared stack once
// per 128 packets. It parks at most 256 x threads of a source's >= 1024
// packets (the pool size floor is 4 x this, as PacketPool requires).
constexpr uint32_t kPoolCache = 256;

// The trivial protocol: records each packet's latency (ingress to handler
// start), costs handler_ns per packet (DeliveryTally), checks per-flow
// order (exact: a cache line per flow), counts, releases.
class SynthProtocol {
 public:
  SynthProtocol(int workstreams, uint32_t flows, uint64_t handler_ns,
                std::function<bool(const Packet&)> withhold)
      : tally_(workstreams, handler_ns),
        order_(FlowOrderCheck::Exact(flows)),
        withhold_(std::move(withhold)) {}

  void Handle(Burst burst) {
    const int ws = Netisr::CurrentWorkstream();
    uint64_t reordered = 0;
    for (size_t i = 0; i < burst.size(); ++i) {
      Packet* pkt = burst[i];
      // The next packet's payload (its flow index) and descriptor were
      // written on the producer's CPU when it crossed: fetch them while
      // this one's cost is spent, as a protocol parsing headers would
      // (DPDK's l3fwd prefetches the next packets' headers alike).
      if (i + 1 < burst.size()) __builtin_prefetch(burst[i + 1]->data);
      tally_.Serve(ws, *pkt);
      reordered += InOrder(*pkt) ? 0 : 1;
    }
    // One cache operation for the whole burst rather than one per packet.
    if (withhold_) {
      ReleaseUnlessWithheld(burst, withhold_);
    } else {
      ReleaseBulk(burst);
    }
    tally_.Count(ws, 0, burst.size(), reordered);
  }

  const DeliveryTally& tally() const { return tally_; }

 private:
  bool InOrder(const Packet& pkt) { return order_.InOrder(FlowOfPayload(pkt), pkt.seq); }

  DeliveryTally tally_;
  FlowOrderCheck order_;                               // Exact, by flow index
  const std::function<bool(const Packet&)> withhold_;  // RunHooks::withhold
};

// Everything one run owns. Members are destroyed in reverse order, so the
// dispatcher goes first: its Stop may still run handlers and release packets
// into the pools.
struct Job {
  RunOptions options;
  RunHooks hooks;
  std::unique_ptr<SynthProtocol> protocol;
  std::vector<std::unique_ptr<PacketPool>> pools;
  std::vector<std::unique_ptr<SyntheticSource>> sources;
  std::unique_ptr<Netisr> nisr;
};

RunOptions Resolved(const RunOptions& in) {
  RunOptions o = in;
  if (!o.sources) o.sources = o.cpus;
  return o;
}

ProtocolSpec SpecFor(const RunOptions& o, SynthProtocol& protocol) {
  ProtocolSpec spec;
  spec.name = "synth";
  spec.handler = [&protocol](Burst burst) { protocol.Handle(burst); };
  spec.policy = *ParsePolicy(o.policy_name());
  spec.dispatch = *ParseDispatchMode(o.dispatch);
  spec.qlimit = static_cast<uint32_t>(o.qlimit);
  if (spec.policy == Policy::kCpu) {
    // A connection's "home CPU": stable per flow, but a different spread
    // from the flow policy's flowid % cpus (Knuth's multiplicative hash).
    const auto cpus = static_cast<uint32_t>(o.cpus);
    spec.m2cpuid = M2CpuEach([cpus](const Packet& pkt, uint16_t) {
      return static_cast<int>(((pkt.flowid * 2654435761u) >> 16) % cpus);
    });
  }
  return spec;
}

// One pool and one source per ingress source, source i on worker i % cpus.
Status AddSources(Job& job, ProtocolId proto) {
  const RunOptions& o = job.options;
  const auto nsources = static_cast<uint16_t>(*o.sources);
  const uint32_t pool_size = std::max(kPoolPackets / nsources, kMinPoolPacketsPerSource);
  const auto total = static_cast<uint64_t>(o.packets);
  const std::vector<uint64_t> quotas =
      SourceQuotas(total, static_cast<uint32_t>(o.flow_count()), nsources, o.skew);
  for (uint16_t i = 0; i < nsources; ++i) {
    auto pool = PacketPool::Create(pool_size, kPacketBufBytes, kPoolCache);
    if (!pool.ok()) return pool.status();
    SourceSpec spec;
    spec.id = i;
    spec.num_sources = nsources;
    spec.num_flows = static_cast<uint32_t>(o.flow_count());
    spec.packets = quotas[i];
    // Each source's share of the rate follows its share of the packets, so
    // all of them finish together.
    spec.rate_pps = o.rate * static_cast<double>(quotas[i]) / static_cast<double>(total);
    spec.seed = o.seed_value();
    spec.proto = proto;
    spec.pool = pool->get();
    job.pools.push_back(std::move(*pool));
    job.sources.push_back(std::make_unique<SyntheticSource>(spec));
    if (Status st = job.nisr->AttachSource(i % static_cast<int>(o.cpus), job.sources.back().get());
        !st.ok())
      return st;
  }
  return Status::Ok();
}

Status Build(Job& job) {
  const RunOptions& o = job.options;
  // Calibrates the clock (~20 ms) now, not inside the timed run. Create
  // would do it too; this keeps the order explicit.
  (void)sched::FastClock::Global();
  auto model = MakeWorkModel(o.model);
  if (!model.ok()) return model.status();
  auto nisr = Netisr::Create(NetisrSettingsFor(o), std::move(*model));
  if (!nisr.ok()) return nisr.status();
  job.nisr = std::move(*nisr);
  if (job.hooks.created) job.hooks.created(*job.nisr);
  job.protocol = std::make_unique<SynthProtocol>(
      static_cast<int>(o.cpus), static_cast<uint32_t>(o.flow_count()),
      static_cast<uint64_t>(o.handler_ns), job.hooks.withhold);
  auto proto = job.nisr->Register(SpecFor(o, *job.protocol));
  if (!proto.ok()) return proto.status();
  if (job.hooks.registered) {
    if (Status st = job.hooks.registered(*job.nisr, *proto); !st.ok()) return st;
  }
  return AddSources(job, *proto);
}

Result<RunReport> Execute(Job& job) {
  RunReport r;
  auto took = DriveToIdle(*job.nisr, job.options, r.trace);
  if (!took.ok()) return took.status();
  // Conservation of buffers (RunCommand checks it): once every handler has
  // returned, each pool holds all its packets again.
  for (size_t i = 0; i < job.pools.size(); ++i)
    r.pools.push_back(PoolReportOf(fmt::format("source{}", i), *job.pools[i]));

  r.options = job.options;
  for (const auto& src : job.sources) {
    r.source_packets.push_back(src->emitted());
    r.packets_in += src->emitted();
  }
  r.delivered = job.protocol->tally().delivered();
  r.latency = job.protocol->tally().Latency();
  for (int w = 0; w < job.nisr->num_workstreams(); ++w)
    r.latency_by_workstream.push_back(job.protocol->tally().Latency(w));
  r.reordered = job.protocol->tally().reordered();
  r.seconds = *took;
  r.mpps = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds / 1e6 : 0;
  r.stats = job.nisr->GetStats();
  r.drops = r.stats.drops;
  return r;
}

}  // namespace

Result<RunReport> RunSynthetic(const RunOptions& opts, const RunHooks& hooks) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) return st;
  Job job;
  job.options = Resolved(opts);
  job.hooks = hooks;
  if (Status st = Build(job); !st.ok()) return st;
  return Execute(job);
}

std::function<Status(Netisr&, ProtocolId)> AffinityHints(std::vector<int> placement) {
  return [placement = std::move(placement)](Netisr& nisr, ProtocolId proto) -> Status {
    for (size_t b = 0; b < placement.size(); ++b) {
      if (Status st = nisr.SetFlowAffinity(proto, static_cast<uint32_t>(b), placement[b]); !st.ok())
        return st;
    }
    return Status::Ok();
  };
}

}  // namespace netisr::apps
