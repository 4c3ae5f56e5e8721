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
#include <vector>

#include "apps/latency_histogram.h"
#include "apps/synthetic_source.h"
#include "netisr/netisr.h"
#include "sched_feedback/clock.h"

namespace netisr::apps {

namespace {

constexpr int64_t kMaxFlows = int64_t{1} << 20;  // order state is a cache line per flow
constexpr int64_t kMaxPackets = 1'000'000'000'000;
constexpr int64_t kMaxSources = 64;
constexpr int64_t kMaxHandlerNs = 1'000'000;
constexpr double kMaxRate = 1e9;  // packets per second
constexpr int64_t kMaxTraceUs = 10'000'000;
// --adaptive-* bounds, as netisr's Validate(Settings) has them, in us.
constexpr int64_t kMaxAdaptiveDelayUs = 1'000'000;
constexpr int64_t kMaxAdaptiveIntervalUs = 1'000'000;
constexpr int64_t kMinAdaptiveWindowUs = 10;
constexpr int64_t kMaxAdaptiveWindowUs = 100'000;
// Packets in flight across all sources, and the floor per source: a source
// needs a few bursts' worth to keep its worker busy while handlers free the
// previous ones.
constexpr uint32_t kPoolPackets = 65536;
constexpr uint32_t kMinPoolPacketsPerSource = 1024;
constexpr uint32_t kPacketBufBytes = 128;

Status Invalid(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}

struct Bound {
  const char* flag;
  int64_t value;
  int64_t lo;
  int64_t hi;
};

// A real-valued flag; `hi_open` excludes the upper bound. Unset passes.
struct RealBound {
  const char* flag;
  std::optional<double> value;
  double lo;
  double hi;
  bool hi_open = false;
};

// Two flags (or defaults) that must satisfy low <= high.
struct Ordered {
  const char* low_flag;
  double low;
  const char* high_flag;
  double high;
};

struct Choice {
  const char* flag;
  const std::string& value;
  std::span<const std::string_view> accepted;
};

Status Check(const Bound& b) {
  if (b.value >= b.lo && b.value <= b.hi) return Status::Ok();
  return Invalid(fmt::format("{} {} out of range [{}, {}]", b.flag, b.value, b.lo, b.hi));
}

Status Check(const RealBound& b) {
  if (!b.value) return Status::Ok();
  const double v = *b.value;
  // Written so that NaN fails.
  if (v >= b.lo && (b.hi_open ? v < b.hi : v <= b.hi)) return Status::Ok();
  return Invalid(
      fmt::format("{} {} out of range [{}, {}{}", b.flag, v, b.lo, b.hi, b.hi_open ? ")" : "]"));
}

Status Check(const Ordered& o) {
  if (o.low <= o.high) return Status::Ok();
  return Invalid(fmt::format("{} {} exceeds {} {}", o.low_flag, o.low, o.high_flag, o.high));
}

Status Check(const Choice& c) {
  if (std::find(c.accepted.begin(), c.accepted.end(), c.value) != c.accepted.end())
    return Status::Ok();
  return Invalid(
      fmt::format("{} '{}' is not one of: {}", c.flag, c.value, fmt::join(c.accepted, ", ")));
}

// The trivial protocol: records each packet's latency (ingress to handler
// start), costs handler_ns per packet, checks per-flow order, counts,
// releases.
//
// The cost is wall-clock time, spun on the TSC clock (a read is ~10 ns, so
// the cost is exact to about that), rather than a loop calibrated once: on
// a shared or SMT machine a fixed iteration count takes anywhere from 0.5x
// to 2x its calibrated time depending on what the sibling thread does,
// which showed up as 300 ns handlers running at 250 ns per packet.
class SynthProtocol {
 public:
  SynthProtocol(int workstreams, uint32_t flows, uint64_t handler_ns)
      : handler_ns_(handler_ns),
        clock_(sched::FastClock::Global()),
        flows_(flows),
        tallies_(workstreams),
        latency_(workstreams) {}

  void Handle(Burst burst) {
    const int ws = Netisr::CurrentWorkstream();
    uint64_t reordered = 0;
    for (Packet* pkt : burst) {
      const uint64_t start = clock_.NowNs();
      RecordLatency(ws, *pkt, start);
      if (handler_ns_ > 0) {
        while (clock_.NowNs() - start < handler_ns_) {
        }
      }
      reordered += InOrder(*pkt) ? 0 : 1;
      Release(pkt);
    }
    Count(ws, burst.size(), reordered);
  }

  // Exact once netisr has stopped (its Stop joins every handler thread).
  uint64_t delivered() const { return Sum(&Tally::delivered); }
  uint64_t reordered() const { return Sum(&Tally::reordered); }
  LatencySummary Latency() const {
    LatencyHistogram all;
    all.Merge(stray_latency_);
    for (const LatencyHistogram& h : latency_) all.Merge(h);
    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    return {all.count(), us(all.ValueAtQuantile(0.50)), us(all.ValueAtQuantile(0.99)),
            us(all.ValueAtQuantile(0.999)), us(all.max())};
  }

 private:
  struct alignas(64) Tally {
    std::atomic<uint64_t> delivered{0};
    std::atomic<uint64_t> reordered{0};
  };
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

  // Ingress stamps come from the source's thread: a stamp taken there may
  // read up to ~100 ns later than this one (unordered RDTSC; see
  // sched_feedback/clock.h), so the difference saturates at 0.
  void RecordLatency(int ws, const Packet& pkt, uint64_t now) {
    const uint64_t ns = now > pkt.ingress_ns ? now - pkt.ingress_ns : 0;
    if (ws < 0) {
      stray_latency_.RecordShared(ns);
    } else {
      latency_[ws].Record(ns);
    }
  }

  // Each workstream's slot is written only by the thread acting as that
  // workstream (also when it dispatches directly), so a relaxed load+store
  // suffices: no contended read-modify-write per burst. A thread acting as
  // no workstream would be a netisr bug; it still gets counted, atomically.
  void Count(int ws, uint64_t delivered, uint64_t reordered) {
    if (ws < 0) {
      stray_.delivered.fetch_add(delivered, std::memory_order_relaxed);
      stray_.reordered.fetch_add(reordered, std::memory_order_relaxed);
      return;
    }
    Tally& t = tallies_[ws];
    t.delivered.store(t.delivered.load(std::memory_order_relaxed) + delivered,
                      std::memory_order_relaxed);
    t.reordered.store(t.reordered.load(std::memory_order_relaxed) + reordered,
                      std::memory_order_relaxed);
  }

  uint64_t Sum(std::atomic<uint64_t> Tally::*field) const {
    uint64_t n = (stray_.*field).load(std::memory_order_relaxed);
    for (const Tally& t : tallies_) n += (t.*field).load(std::memory_order_relaxed);
    return n;
  }

  const uint64_t handler_ns_;
  const sched::FastClock& clock_;
  std::vector<FlowState> flows_;  // by flow index
  std::vector<Tally> tallies_;    // by workstream
  Tally stray_;
  std::vector<LatencyHistogram> latency_;  // by workstream, same single-writer rule as tallies_
  LatencyHistogram stray_latency_;
};

// Everything one run owns. Members are destroyed in reverse order, so the
// dispatcher goes first: its Stop may still run handlers and release packets
// into the pools.
struct Job {
  RunOptions options;
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

Settings SettingsFor(const RunOptions& o) {
  Settings s;
  s.max_threads = static_cast<int>(o.cpus);
  s.bind_threads = o.bind;
  s.max_external_producers = 0;  // only workers produce; saves their lanes
  s.adaptive = ResolveAdaptive(o.adaptive);
  return s;
}

ProtocolSpec SpecFor(const RunOptions& o, SynthProtocol& protocol) {
  ProtocolSpec spec;
  spec.name = "synth";
  spec.handler = [&protocol](Burst burst) { protocol.Handle(burst); };
  spec.policy = *ParsePolicy(o.policy);
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
      SourceQuotas(total, static_cast<uint32_t>(o.flows), nsources, o.skew);
  for (uint16_t i = 0; i < nsources; ++i) {
    auto pool = PacketPool::Create(pool_size, kPacketBufBytes);
    if (!pool.ok()) return pool.status();
    SourceSpec spec;
    spec.id = i;
    spec.num_sources = nsources;
    spec.num_flows = static_cast<uint32_t>(o.flows);
    spec.packets = quotas[i];
    // Each source's share of the rate follows its share of the packets, so
    // all of them finish together.
    spec.rate_pps = o.rate * static_cast<double>(quotas[i]) / static_cast<double>(total);
    spec.seed = o.seed;
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
  auto nisr = Netisr::Create(SettingsFor(o), std::move(*model));
  if (!nisr.ok()) return nisr.status();
  job.nisr = std::move(*nisr);
  job.protocol =
      std::make_unique<SynthProtocol>(static_cast<int>(o.cpus), static_cast<uint32_t>(o.flows),
                                      static_cast<uint64_t>(o.handler_ns));
  auto proto = job.nisr->Register(SpecFor(o, *job.protocol));
  if (!proto.ok()) return proto.status();
  return AddSources(job, *proto);
}

TraceSample Sample(const Netisr& nisr, double t_us) {
  const Stats s = nisr.GetStats();
  TraceSample t;
  t.t_us = t_us;
  for (size_t w = 0; w < s.workstreams.size(); ++w) {
    t.handled.push_back(s.work[w][0].handled);
    t.queued.push_back(s.work[w][0].queued);
    t.qlen.push_back(s.work[w][0].qlen);
    t.busy.push_back(s.workstreams[w].busy);
    t.queue_delay_ns.push_back(s.workstreams[w].queue_delay_ns);
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
  const bool traced = job.options.trace_us > 0 && job.options.model != "inline";
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = job.nisr->Start(); !st.ok()) return st;
  if (traced) {
    RunTraced(*job.nisr, job.options.trace_us, t0, r.trace);
  } else {
    job.nisr->RunUntilIdle();
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  job.nisr->Stop();

  r.options = job.options;
  for (const auto& src : job.sources) {
    r.source_packets.push_back(src->emitted());
    r.packets_in += src->emitted();
  }
  r.delivered = job.protocol->delivered();
  r.latency = job.protocol->Latency();
  r.reordered = job.protocol->reordered();
  r.seconds = took.count();
  r.mpps = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds / 1e6 : 0;
  r.stats = job.nisr->GetStats();
  return r;
}

}  // namespace

std::string DescribeChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

AdaptiveSettings ResolveAdaptive(const AdaptiveOptions& o) {
  AdaptiveSettings a;
  auto us = [](int64_t v) { return static_cast<uint64_t>(v) * 1000; };
  if (o.busy_high) a.busy_high = *o.busy_high;
  if (o.busy_low) a.busy_low = *o.busy_low;
  if (o.room_busy) a.room_busy = *o.room_busy;
  if (o.delay_low_us) a.delay_low_ns = us(*o.delay_low_us);
  if (o.delay_high_us) a.delay_high_ns = us(*o.delay_high_us);
  if (o.interval_us) a.migration_interval_ns = us(*o.interval_us);
  if (o.window_us) a.load_window_ns = us(*o.window_us);
  if (o.alpha) a.load_alpha = *o.alpha;
  return a;
}

Status ValidateRunOptions(const RunOptions& o) {
  const Choice choices[] = {
      {"--dispatch", o.dispatch, kDispatchChoices},
      {"--policy", o.policy, kPolicyChoices},
      {"--model", o.model, kModelChoices},
  };
  for (const Choice& c : choices) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  const Bound bounds[] = {
      {"--cpus", o.cpus, 1, kMaxWorkstreams},
      {"--flows", o.flows, 1, kMaxFlows},
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
      {"--adaptive-room-busy", o.adaptive.room_busy, 1e-6, 1},
      {"--adaptive-alpha", o.adaptive.alpha, 1e-6, 1},
  };
  for (const RealBound& b : reals) {
    if (Status st = Check(b); !st.ok()) return st;
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
  return Status::Ok();
}

Result<RunReport> RunSynthetic(const RunOptions& opts) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) return st;
  Job job;
  job.options = Resolved(opts);
  if (Status st = Build(job); !st.ok()) return st;
  return Execute(job);
}

std::string FormatHuman(const RunReport& r) {
  const RunOptions& o = r.options;
  return FormatTable(r.stats) +
         fmt::format(
             "packets_in={} delivered={} dropped={} reordered={} mpps={:.2f} seconds={:.3f} "
             "p50_us={:.1f} p99_us={:.1f} migrations={} model={} dispatch={} policy={} cpus={}\n",
             r.packets_in, r.delivered, r.dropped_total(), r.reordered, r.mpps, r.seconds,
             r.latency.p50_us, r.latency.p99_us, r.stats.migrations, o.model, o.dispatch, o.policy,
             o.cpus);
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
                   {"drops", t.drops},
                   {"migrations", t.migrations},
                   {"decisions",
                    t.decisions.empty() ? nlohmann::json::object() : nlohmann::json(t.decisions)}});
  }
  return out;
}

}  // namespace

nlohmann::json ToJson(const RunReport& r) {
  const RunOptions& o = r.options;
  const AdaptiveSettings a = ResolveAdaptive(o.adaptive);
  return {
      {"packets_in", r.packets_in},
      {"delivered", r.delivered},
      {"dropped", nlohmann::json(r.stats.drops)},
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
      {"migrations", r.stats.migrations},
      // nlohmann turns an empty std::map into null, hence the explicit object.
      {"decisions",
       r.stats.decisions.empty() ? nlohmann::json::object() : nlohmann::json(r.stats.decisions)},
      {"trace", TraceJson(r.trace)},
      {"config",
       {{"cpus", o.cpus},
        {"dispatch", o.dispatch},
        {"policy", o.policy},
        {"model", o.model},
        {"flows", o.flows},
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
          {"room_busy", a.room_busy},
          {"delay_low_us", a.delay_low_ns / 1e3},
          {"delay_high_us", a.delay_high_ns / 1e3},
          {"interval_us", a.migration_interval_ns / 1e3},
          {"window_us", a.load_window_ns / 1e3},
          {"alpha", a.load_alpha}}},
        {"bind", o.bind},
        {"seed", o.seed}}},
      {"netisr", netisr::ToJson(r.stats)},
  };
}

int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) {
    err << "netisr run: " << st.message() << "\n";
    return kExitUsage;
  }
  Result<RunReport> report = RunSynthetic(opts);
  if (!report.ok()) {
    err << "netisr run: " << report.status().message() << "\n";
    return kExitFailure;
  }
  out << (opts.json ? ToJson(*report).dump(2) + "\n" : FormatHuman(*report));
  if (!report->Conserved()) {
    err << fmt::format(
        "netisr run: conservation violated: packets_in={} != delivered={} + dropped={}\n",
        report->packets_in, report->delivered, report->dropped_total());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace netisr::apps
