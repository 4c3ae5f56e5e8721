// The run job: validation, the trivial protocol that checks order, and the
// build/run/report sequence. Every per-packet write the protocol makes has a
// single writer at a time (a slot per workstream, a line per flow), so that
// the checker does not become the contended cache line the run measures.
#include "apps/run_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "apps/delivery_tally.h"
#include "apps/ingress_spec.h"
#include "apps/stack_run.h"
#include "apps/synthetic_source.h"
#include "netisr/netisr.h"
#include "proto/filter.h"
#include "sched_feedback/clock.h"

namespace netisr::apps {

namespace {

constexpr int64_t kMaxFlows = int64_t{1} << 20;  // order state is a cache line per flow
constexpr int64_t kMaxPackets = 1'000'000'000'000;
constexpr int64_t kMaxSources = 64;
constexpr int64_t kMaxHandlerNs = 1'000'000;
constexpr double kMaxRate = 1e9;  // packets per second
constexpr int64_t kMaxTraceUs = 10'000'000;
// --frame-size: Ethernet's minimum (60 B without FCS) to a standard
// 1514-byte frame; jumbo frames are for pcap traces.
constexpr int64_t kMinFrameBytes = 60;
constexpr int64_t kMaxFrameBytes = 1514;
constexpr int64_t kMaxLoops = 1'000'000'000;
constexpr int64_t kMaxIdleMs = 3'600'000;  // an hour
// --adaptive-* bounds, as netisr's Validate(Settings) has them, in us.
constexpr int64_t kMaxAdaptiveDelayUs = 1'000'000;
constexpr int64_t kMaxAdaptiveIntervalUs = 1'000'000;
constexpr int64_t kMinAdaptiveWindowUs = 10;
constexpr int64_t kMaxAdaptiveWindowUs = 100'000;
constexpr int64_t kMaxAdaptiveSettleWindows = 1000;
// Packets in flight across all sources, and the floor per source: a source
// needs a few bursts' worth to keep its worker busy while handlers free the
// previous ones.
constexpr uint32_t kPoolPackets = 65536;
constexpr uint32_t kMinPoolPacketsPerSource = 1024;
constexpr uint32_t kPacketBufBytes = 128;
// Per-thread pool cache, packets (PacketPool's cache_size): DPDK's usual
// 256 for bursts of 32, so a worker trades with a pool's shared ring once
// per 128 packets. It parks at most 256 x threads of a source's >= 1024
// packets (the pool size floor is 4 x this, as PacketPool requires).
constexpr uint32_t kPoolCache = 256;

// A flag that belongs to one mode or source kind.
struct OnlyWith {
  const char* flag;
  bool given;
  bool allowed;
  const char* where;  // "with --source synthetic", ...
};

// Flags of a dispatch mode or work model given with another one.
Status ValidateModeOptions(const RunOptions& o) {
  const AdaptiveOptions& a = o.adaptive;
  const std::pair<const char*, bool> adaptive_flags[] = {
      {"--adaptive-busy-high", a.busy_high.has_value()},
      {"--adaptive-busy-low", a.busy_low.has_value()},
      {"--adaptive-full-polls", a.full_polls.has_value()},
      {"--adaptive-room-busy", a.room_busy.has_value()},
      {"--adaptive-delay-low-us", a.delay_low_us.has_value()},
      {"--adaptive-delay-high-us", a.delay_high_us.has_value()},
      {"--adaptive-interval-us", a.interval_us.has_value()},
      {"--adaptive-window-us", a.window_us.has_value()},
      {"--adaptive-alpha", a.alpha.has_value()},
      {"--adaptive-backpressure", a.backpressure.has_value()},
      {"--adaptive-spill", a.spill.has_value()},
      {"--adaptive-settle-windows", a.settle_windows.has_value()},
  };
  for (const auto& [flag, given] : adaptive_flags) {
    if (given && o.dispatch != "adaptive")
      return Invalid(fmt::format("{} applies only with --dispatch adaptive", flag));
  }
  if (o.trace_us != 0 && o.model == "inline")
    return Invalid(
        "--trace-us applies only with a self-driven work model (threads, poll, fibers): inline "
        "runs the workers on the caller's thread, which has none left to sample with");
  return Status::Ok();
}

PoolReport PoolReportOf(std::string name, const PacketPool& pool) {
  return {std::move(name), pool.capacity(), pool.available()};
}

// The --source flags: the source syntax, the flags that only some sources
// take, the traffic mix's ranges and the filter's rule text.
Status ValidateSourceOptions(const RunOptions& o) {
  auto ingress = ParseIngress(o.source);
  if (!ingress.ok()) return ingress.status();
  const IngressKind kind = ingress->kind;
  const bool bench = kind == IngressKind::kBench;
  const bool synthetic = kind == IngressKind::kSynthetic;
  const OnlyWith only[] = {
      {"--distribution", o.distribution.has_value(), synthetic, "with --source synthetic"},
      {"--zipf-s", o.zipf_s.has_value(), synthetic && o.distribution == "zipf",
       "with --source synthetic --distribution zipf"},
      {"--attack", o.attack.has_value(), synthetic, "with --source synthetic"},
      {"--attack-share", o.attack_share.has_value(),
       synthetic && o.attack.value_or("none") != "none",
       "with --source synthetic --attack synflood|udpflood"},
      {"--ipv6-share", o.ipv6_share.has_value(), synthetic, "with --source synthetic"},
      {"--l4", o.l4.has_value(), synthetic, "with --source synthetic"},
      {"--frame-size", o.frame_size.has_value(), synthetic, "with --source synthetic"},
      {"--loops", o.loops.has_value(), kind == IngressKind::kPcap, "with --source pcap:FILE"},
      {"--idle-ms", o.idle_ms.has_value(), kind == IngressKind::kDpdk,
       "with --source dpdk:EAL-ARGS"},
      {"--filter", !o.filter.empty(), !bench,
       "with --source (the bench mode has no frames to match)"},
      {"--skew", o.skew.has_value(), bench, "in the bench mode (without --source)"},
      {"--rate", o.rate != 0, bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk run as fast as they "
       "are polled)"},
      {"--policy", o.policy.has_value(), bench,
       "in the bench mode (the parse chain's layers have their own policies: ether by "
       "source, ip and up by flow)"},
      {"--flows", o.flows.has_value(), bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk frames bring their own "
       "flows)"},
      {"--seed", o.seed.has_value(), bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk frames are not "
       "generated)"},
  };
  for (const OnlyWith& w : only) {
    if (w.given && !w.allowed) return Invalid(fmt::format("{} applies only {}", w.flag, w.where));
  }
  const std::string distribution = o.distribution.value_or("uniform");
  const std::string attack = o.attack.value_or("none");
  const std::string l4 = o.l4.value_or("tcp");
  const Choice choices[] = {
      {"--distribution", distribution, kDistributionChoices},
      {"--attack", attack, kAttackChoices},
      {"--l4", l4, kL4Choices},
  };
  for (const Choice& c : choices) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  const Bound bounds[] = {
      {"--frame-size", o.frame_size.value_or(kMinFrameBytes), kMinFrameBytes, kMaxFrameBytes},
      {"--loops", o.loops.value_or(0), 0, kMaxLoops},
      {"--idle-ms", o.idle_ms.value_or(0), 0, kMaxIdleMs},
  };
  for (const Bound& b : bounds) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  const RealBound reals[] = {
      {"--zipf-s", o.zipf_s, 1e-6, 10},
      {"--attack-share", o.attack_share, 0, 1, /*hi_open=*/true},
      {"--ipv6-share", o.ipv6_share, 0, 1},
  };
  for (const RealBound& b : reals) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if (!o.filter.empty()) {
    auto rules = proto::EarlyFilter::ParseRules(o.filter);
    if (!rules.ok()) {
      // The filter's messages open with "filter: "; the flag replaces it.
      std::string_view why = rules.status().message();
      if (why.starts_with("filter: ")) why.remove_prefix(8);
      return Invalid(fmt::format("--filter: {}", why));
    }
  }
  return Status::Ok();
}

// The trivial protocol: records each packet's latency (ingress to handler
// start), costs handler_ns per packet (DeliveryTally), checks per-flow
// order, counts, releases.
class SynthProtocol {
 public:
  SynthProtocol(int workstreams, uint32_t flows, uint64_t handler_ns,
                std::function<bool(const Packet&)> withhold)
      : tally_(workstreams, handler_ns), flows_(flows), withhold_(std::move(withhold)) {}

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
  // Padded: flows are spread over workstreams, and neighbouring flows' state
  // on one line would bounce between the CPUs handling them.
  struct alignas(64) FlowState {
    std::atomic<uint64_t> last_seq{0};
  };

  // A flow's handlers never run concurrently, and netisr orders successive
  // ones (same thread, or the lane's release/acquire), so a relaxed load
  // sees the previous packet's store. Atomic anyway so that a netisr bug
  // shows up as a counted reorder rather than as undefined behaviour.
  bool InOrder(const Packet& pkt) {
    std::atomic<uint64_t>& last = flows_[FlowOfPayload(pkt)].last_seq;
    // A gap is a drop, which conservation accounts for; going back is not.
    if (pkt.seq <= last.load(std::memory_order_relaxed)) return false;
    last.store(pkt.seq, std::memory_order_relaxed);
    return true;
  }

  DeliveryTally tally_;
  std::vector<FlowState> flows_;                       // by flow index
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
    spec.m2cpuid = [cpus](const Packet& pkt, uint16_t) -> std::optional<int> {
      return static_cast<int>(((pkt.flowid * 2654435761u) >> 16) % cpus);
    };
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
  return AddSources(job, *proto);
}

TraceSample Sample(const Netisr& nisr, double t_us) {
  const Stats s = nisr.GetStats();
  TraceSample t;
  t.t_us = t_us;
  // Summed over protocols: the bench mode has one, the parse chain eight.
  for (size_t w = 0; w < s.workstreams.size(); ++w) {
    uint64_t handled = 0, queued = 0, qlen = 0;
    for (const WorkStats& cell : s.work[w]) {
      handled += cell.handled;
      queued += cell.queued;
      qlen += cell.qlen;
    }
    t.handled.push_back(handled);
    t.queued.push_back(queued);
    t.qlen.push_back(qlen);
    t.busy.push_back(s.workstreams[w].busy);
    t.queue_delay_ns.push_back(s.workstreams[w].queue_delay_ns);
    t.full_polls.push_back(s.workstreams[w].full_polls);
  }
  t.drops = s.TotalDrops();
  t.migrations = s.migrations;
  t.decisions = s.decisions;
  return t;
}

// RunUntilIdle, sampling statistics every trace_us on the way. Waits as
// RunUntilIdle does for self-driven models (a look every 50 us).
void RunTraced(Netisr& nisr, int64_t trace_us, std::chrono::steady_clock::time_point t0,
               std::vector<TraceSample>& trace) {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::microseconds(trace_us);
  auto next = t0 + period;
  while (!nisr.Idle()) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (const auto now = Clock::now(); now >= next) {
      trace.push_back(Sample(nisr, std::chrono::duration<double, std::micro>(now - t0).count()));
      next += period;
    }
  }
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

Settings NetisrSettingsFor(const RunOptions& o) {
  Settings s;
  s.max_threads = static_cast<int>(o.cpus);
  s.bind_threads = o.bind;
  s.max_external_producers = 0;  // only workers produce; saves their lanes
  s.adaptive = ResolveAdaptive(o.adaptive);
  return s;
}

Result<double> DriveToIdle(Netisr& nisr, const RunOptions& o, std::vector<TraceSample>& trace) {
  const bool traced = o.trace_us > 0 && o.model != "inline";
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = nisr.Start(); !st.ok()) return st;
  if (traced) {
    RunTraced(nisr, o.trace_us, t0, trace);
  } else {
    nisr.RunUntilIdle();
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  nisr.Stop();
  return took.count();
}

AdaptiveSettings ResolveAdaptive(const AdaptiveOptions& o) {
  AdaptiveSettings a;
  auto us = [](int64_t v) { return static_cast<uint64_t>(v) * 1000; };
  if (o.busy_high) a.busy_high = *o.busy_high;
  if (o.busy_low) a.busy_low = *o.busy_low;
  if (o.full_polls) a.full_polls_high = *o.full_polls;
  if (o.room_busy) a.room_busy = *o.room_busy;
  if (o.delay_low_us) a.delay_low_ns = us(*o.delay_low_us);
  if (o.delay_high_us) a.delay_high_ns = us(*o.delay_high_us);
  if (o.interval_us) a.migration_interval_ns = us(*o.interval_us);
  if (o.window_us) a.load_window_ns = us(*o.window_us);
  if (o.alpha) a.load_alpha = *o.alpha;
  if (o.backpressure) a.backpressure_fill = *o.backpressure;
  if (o.spill) a.spill_fill = *o.spill;
  if (o.settle_windows) a.settle_windows = static_cast<uint32_t>(*o.settle_windows);
  return a;
}

Status ValidateRunOptions(const RunOptions& o) {
  const std::string policy = o.policy_name();
  const Choice choices[] = {
      {"--dispatch", o.dispatch, kDispatchChoices},
      {"--policy", policy, kPolicyChoices},
      {"--model", o.model, kModelChoices},
  };
  for (const Choice& c : choices) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  const Bound bounds[] = {
      {"--cpus", o.cpus, 1, kMaxWorkstreams},
      {"--flows", o.flow_count(), 1, kMaxFlows},
      {"--packets", o.packets, 1, kMaxPackets},
      {"--sources", o.sources.value_or(1), 1, kMaxSources},
      {"--handler-ns", o.handler_ns, 0, kMaxHandlerNs},
      {"--qlimit", o.qlimit, 0, Settings{}.max_qlimit},
      {"--trace-us", o.trace_us, 0, kMaxTraceUs},
      {"--adaptive-delay-low-us", o.adaptive.delay_low_us.value_or(1), 1, kMaxAdaptiveDelayUs},
      {"--adaptive-delay-high-us", o.adaptive.delay_high_us.value_or(1), 1, kMaxAdaptiveDelayUs},
      {"--adaptive-interval-us", o.adaptive.interval_us.value_or(0), 0, kMaxAdaptiveIntervalUs},
      {"--adaptive-window-us", o.adaptive.window_us.value_or(kMinAdaptiveWindowUs),
       kMinAdaptiveWindowUs, kMaxAdaptiveWindowUs},
      {"--adaptive-settle-windows", o.adaptive.settle_windows.value_or(0), 0,
       kMaxAdaptiveSettleWindows},
  };
  for (const Bound& b : bounds) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  const RealBound reals[] = {
      {"--skew", o.skew, 0, 1, /*hi_open=*/true},
      {"--rate", o.rate, 0, kMaxRate},
      // Fractions in (0, 1]: a zero would make the rule's thresholds
      // meaningless, so the lower bound is the smallest positive step.
      {"--adaptive-busy-high", o.adaptive.busy_high, 1e-6, 1},
      {"--adaptive-busy-low", o.adaptive.busy_low, 1e-6, 1},
      {"--adaptive-full-polls", o.adaptive.full_polls, 1e-6, 1},
      {"--adaptive-room-busy", o.adaptive.room_busy, 1e-6, 1},
      {"--adaptive-alpha", o.adaptive.alpha, 1e-6, 1},
      {"--adaptive-backpressure", o.adaptive.backpressure, 1e-6, 1},
      {"--adaptive-spill", o.adaptive.spill, 1e-6, 1},
  };
  for (const RealBound& b : reals) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if (o.rate > 0 && static_cast<double>(o.packets) / o.rate > kMaxPacedSeconds) {
    return Invalid(fmt::format(
        "--rate {} paces --packets {} over {:.3g} s, more than the {:.0f} s bound (raise --rate "
        "or lower --packets)",
        o.rate, o.packets, static_cast<double>(o.packets) / o.rate, kMaxPacedSeconds));
  }
  // Low/high pairs, each side as given or netisr's default.
  const AdaptiveSettings a = ResolveAdaptive(o.adaptive);
  const Ordered pairs[] = {
      {"--adaptive-busy-low", a.busy_low, "--adaptive-busy-high", a.busy_high},
      {"--adaptive-delay-low-us", a.delay_low_ns / 1e3, "--adaptive-delay-high-us",
       a.delay_high_ns / 1e3},
  };
  for (const Ordered& p : pairs) {
    if (Status st = Check(p); !st.ok()) return st;
  }
  if (Status st = ValidateModeOptions(o); !st.ok()) return st;
  return ValidateSourceOptions(o);
}

Result<RunReport> RunSynthetic(const RunOptions& opts, const RunHooks& hooks) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) return st;
  Job job;
  job.options = Resolved(opts);
  job.hooks = hooks;
  if (Status st = Build(job); !st.ok()) return st;
  return Execute(job);
}

Result<RunReport> Run(const RunOptions& opts, const RunHooks& hooks) {
  // Both validate.
  return opts.source.empty() ? RunSynthetic(opts, hooks) : RunStack(opts, hooks);
}

namespace {

std::string JoinCounts(const std::map<std::string, uint64_t>& counts) {
  std::string out;
  for (const auto& [name, n] : counts) out += fmt::format(" {}={}", name, n);
  return out.empty() ? " none" : out;
}

// The --source lines between the table and the summary: ports, deliveries
// by layer, drops by reason, filter hits.
std::string FormatSource(const RunReport& r) {
  std::string out;
  for (const PortReport& p : r.ports)
    out += fmt::format("port {}: rx_packets={}{}\n", p.name, p.rx_packets,
                       p.rx_drops.empty() ? "" : JoinCounts(p.rx_drops));
  out += "delivered:" + JoinCounts(r.delivered_by_layer) + "\n";
  out += "dropped:" + JoinCounts(r.drops) + "\n";
  if (r.filter) {
    for (size_t i = 0; i < r.filter->rules.size(); ++i) {
      const proto::FilterStats::Rule& rule = r.filter->rules[i];
      out += fmt::format("filter rule {} '{}': hits={} dropped={}\n", i, rule.text, rule.hits,
                         rule.dropped);
    }
    out += fmt::format("filter: passed={} unclassified={}\n", r.filter->passed,
                       r.filter->unclassified);
  }
  return out;
}

}  // namespace

std::string FormatHuman(const RunReport& r) {
  const RunOptions& o = r.options;
  const bool bench = r.source_kind == "bench";
  return FormatTable(r.stats) + (bench ? "" : FormatSource(r)) +
         fmt::format(
             "packets_in={} delivered={} dropped={} reordered={} mpps={:.2f} seconds={:.3f} "
             "p50_us={:.1f} p99_us={:.1f} migrations={} model={} dispatch={} policy={} cpus={} "
             "source={} buffers_out={}\n",
             r.packets_in, r.delivered, r.dropped_total(), r.reordered, r.mpps, r.seconds,
             r.latency.p50_us, r.latency.p99_us, r.stats.migrations, o.model, o.dispatch,
             bench ? o.policy_name() : "per-layer", o.cpus, r.source_kind, r.buffers_out());
}

namespace {

nlohmann::json TraceJson(const std::vector<TraceSample>& trace) {
  nlohmann::json out = nlohmann::json::array();
  for (const TraceSample& t : trace) {
    out.push_back({{"t_us", t.t_us},
                   {"handled", t.handled},
                   {"queued", t.queued},
                   {"qlen", t.qlen},
                   {"busy", t.busy},
                   {"queue_delay_ns", t.queue_delay_ns},
                   {"full_polls", t.full_polls},
                   {"drops", t.drops},
                   {"migrations", t.migrations},
                   {"decisions",
                    t.decisions.empty() ? nlohmann::json::object() : nlohmann::json(t.decisions)}});
  }
  return out;
}

nlohmann::json PoolsJson(const std::vector<PoolReport>& pools) {
  nlohmann::json a = nlohmann::json::array();
  for (const PoolReport& p : pools)
    a.push_back({{"name", p.name}, {"capacity", p.capacity}, {"free", p.free}});
  return a;
}

nlohmann::json LatencyJson(const std::vector<LatencySummary>& by_ws) {
  nlohmann::json a = nlohmann::json::array();
  for (const LatencySummary& l : by_ws) {
    a.push_back({{"samples", l.samples}, {"p50_us", l.p50_us}, {"p99_us", l.p99_us}});
  }
  return a;
}

// nlohmann turns an empty std::map into null; a report's maps are objects.
nlohmann::json Object(const std::map<std::string, uint64_t>& m) {
  return m.empty() ? nlohmann::json::object() : nlohmann::json(m);
}

nlohmann::json FilterJson(const proto::FilterStats& f) {
  nlohmann::json rules = nlohmann::json::array();
  for (size_t i = 0; i < f.rules.size(); ++i)
    rules.push_back({{"index", i},
                     {"rule", f.rules[i].text},
                     {"hits", f.rules[i].hits},
                     {"dropped", f.rules[i].dropped}});
  return {{"rules", rules},
          {"passed", f.passed},
          {"unclassified", f.unclassified},
          {"filtered", f.dropped[static_cast<size_t>(proto::FilterDrop::kFiltered)]},
          {"rate_limited", f.dropped[static_cast<size_t>(proto::FilterDrop::kRateLimited)]}};
}

}  // namespace

nlohmann::json ToJson(const RunReport& r) {
  const RunOptions& o = r.options;
  const AdaptiveSettings a = ResolveAdaptive(o.adaptive);
  nlohmann::json j = {
      {"packets_in", r.packets_in},
      {"delivered", r.delivered},
      {"source", r.source_kind},
      {"dropped", Object(r.drops)},
      {"dropped_total", r.dropped_total()},
      {"reordered", r.reordered},
      {"mpps", r.mpps},
      {"seconds", r.seconds},
      {"source_packets", r.source_packets},
      {"latency_samples", r.latency.samples},
      {"p50_us", r.latency.p50_us},
      {"p99_us", r.latency.p99_us},
      {"p999_us", r.latency.p999_us},
      {"max_us", r.latency.max_us},
      {"latency_by_workstream", LatencyJson(r.latency_by_workstream)},
      {"migrations", r.stats.migrations},
      // nlohmann turns an empty std::map into null, hence the explicit object.
      {"decisions",
       r.stats.decisions.empty() ? nlohmann::json::object() : nlohmann::json(r.stats.decisions)},
      {"trace", TraceJson(r.trace)},
      {"buffers_out", r.buffers_out()},
      {"pools", PoolsJson(r.pools)},
      {"config",
       {{"cpus", o.cpus},
        {"dispatch", o.dispatch},
        {"policy", o.policy_name()},
        {"model", o.model},
        {"flows", o.flow_count()},
        {"packets", o.packets},
        {"sources", o.sources.value_or(o.cpus)},
        {"skew", o.skew ? nlohmann::json(*o.skew) : nlohmann::json(nullptr)},
        {"rate", o.rate},
        {"handler_ns", o.handler_ns},
        {"qlimit", o.qlimit},
        {"trace_us", o.trace_us},
        {"adaptive",
         {{"busy_high", a.busy_high},
          {"busy_low", a.busy_low},
          {"full_polls", a.full_polls_high},
          {"room_busy", a.room_busy},
          {"delay_low_us", a.delay_low_ns / 1e3},
          {"delay_high_us", a.delay_high_ns / 1e3},
          {"interval_us", a.migration_interval_ns / 1e3},
          {"window_us", a.load_window_ns / 1e3},
          {"alpha", a.load_alpha},
          {"backpressure", a.backpressure_fill},
          {"spill", a.spill_fill},
          {"settle_windows", a.settle_windows}}},
        {"bind", o.bind},
        {"seed", o.seed_value()}}},
      {"netisr", netisr::ToJson(r.stats)},
  };
  if (r.source_kind != "bench") {
    j["delivered_by_layer"] = Object(r.delivered_by_layer);
    nlohmann::json ports = nlohmann::json::array();
    for (const PortReport& p : r.ports)
      ports.push_back(
          {{"name", p.name}, {"rx_packets", p.rx_packets}, {"rx_drops", Object(p.rx_drops)}});
    j["ports"] = ports;
    j["filter"] = r.filter ? FilterJson(*r.filter) : nlohmann::json(nullptr);
    nlohmann::json& c = j["config"];
    c["source"] = o.source;
    c["filter"] = o.filter;
    c["policy"] = "per-layer";
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    c["distribution"] = opt(o.distribution);
    c["zipf_s"] = opt(o.zipf_s);
    c["attack"] = opt(o.attack);
    c["attack_share"] = opt(o.attack_share);
    c["ipv6_share"] = opt(o.ipv6_share);
    c["l4"] = opt(o.l4);
    c["frame_size"] = opt(o.frame_size);
    c["loops"] = opt(o.loops);
    c["idle_ms"] = opt(o.idle_ms);
  }
  return j;
}

int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err,
               const RunHooks& hooks) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) {
    err << "netisr run: " << st.message() << "\n";
    return kExitUsage;
  }
  Result<RunReport> report = Run(opts, hooks);
  if (!report.ok()) {
    err << "netisr run: " << report.status().message() << "\n";
    return kExitFailure;
  }
  out << (opts.json ? ToJson(*report).dump(2) + "\n" : FormatHuman(*report));
  int code = kExitOk;
  if (!report->Conserved()) {
    err << fmt::format(
        "netisr run: conservation violated: packets_in={} != delivered={} + dropped={}\n",
        report->packets_in, report->delivered, report->dropped_total());
    code = kExitFailure;
  }
  for (const PoolReport& p : report->pools) {
    if (p.free == p.capacity) continue;
    err << fmt::format(
        "netisr run: buffers not returned: pool {} has {} of {} packets free after Stop; the "
        "rest were never released\n",
        p.name, p.free, p.capacity);
    code = kExitFailure;
  }
  return code;
}

}  // namespace netisr::apps
