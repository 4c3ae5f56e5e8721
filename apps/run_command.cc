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
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

#include "apps/synthetic_source.h"
#include "netisr/netisr.h"

namespace netisr::apps {

namespace {

constexpr int64_t kMaxFlows = int64_t{1} << 20;  // order state is a cache line per flow
constexpr int64_t kMaxPackets = 1'000'000'000'000;
constexpr int64_t kMaxSources = 64;
constexpr int64_t kMaxHandlerNs = 1'000'000;
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

struct Choice {
  const char* flag;
  const std::string& value;
  std::initializer_list<std::string_view> accepted;
};

Status Check(const Bound& b) {
  if (b.value >= b.lo && b.value <= b.hi) return Status::Ok();
  return Invalid(fmt::format("{} {} out of range [{}, {}]", b.flag, b.value, b.lo, b.hi));
}

Status Check(const Choice& c) {
  if (std::find(c.accepted.begin(), c.accepted.end(), c.value) != c.accepted.end())
    return Status::Ok();
  return Invalid(
      fmt::format("{} '{}' is not one of: {}", c.flag, c.value, fmt::join(c.accepted, ", ")));
}

// Busy work of a given length. Reading the clock per packet would itself
// cost tens of nanoseconds and make short handler costs coarse, so a loop is
// timed once against steady_clock and afterwards only counts iterations.
class Spinner {
 public:
  explicit Spinner(bool calibrate) : iters_per_ns_(calibrate ? Calibrate() : 0) {}
  void Spin(uint64_t ns) const {
    Loop(static_cast<uint64_t>(static_cast<double>(ns) * iters_per_ns_));
  }

 private:
  static void Loop(uint64_t iters) {
    // The empty asm makes each iteration observable, so it is not folded.
    for (uint64_t i = 0; i < iters; ++i) asm volatile("" : : "r"(i));
  }
  static double Calibrate() {
    // Doubling until one run lasts 5 ms amortises the clock reads and lets
    // the core leave any low-frequency state first.
    for (uint64_t iters = uint64_t{1} << 16;; iters *= 2) {
      const auto t0 = std::chrono::steady_clock::now();
      Loop(iters);
      const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - t0;
      if (took.count() >= 5e6) return static_cast<double>(iters) / took.count();
    }
  }

  const double iters_per_ns_;
};

// The trivial protocol: costs handler_ns per packet, checks per-flow order,
// counts, releases.
class SynthProtocol {
 public:
  SynthProtocol(int workstreams, uint32_t flows, uint64_t handler_ns)
      : handler_ns_(handler_ns), spinner_(handler_ns > 0), flows_(flows), tallies_(workstreams) {}

  void Handle(Burst burst) {
    uint64_t reordered = 0;
    for (Packet* pkt : burst) {
      if (handler_ns_ > 0) spinner_.Spin(handler_ns_);
      reordered += InOrder(*pkt) ? 0 : 1;
      Release(pkt);
    }
    Count(burst.size(), reordered);
  }

  // Exact once netisr has stopped (its Stop joins every handler thread).
  uint64_t delivered() const { return Sum(&Tally::delivered); }
  uint64_t reordered() const { return Sum(&Tally::reordered); }

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

  // Each workstream's slot is written only by the thread acting as that
  // workstream (also when it dispatches directly), so a relaxed load+store
  // suffices: no contended read-modify-write per burst. A thread acting as
  // no workstream would be a netisr bug; it still gets counted, atomically.
  void Count(uint64_t delivered, uint64_t reordered) {
    const int ws = Netisr::CurrentWorkstream();
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
  const Spinner spinner_;
  std::vector<FlowState> flows_;  // by flow index
  std::vector<Tally> tallies_;    // by workstream
  Tally stray_;
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
  for (uint16_t i = 0; i < nsources; ++i) {
    auto pool = PacketPool::Create(pool_size, kPacketBufBytes);
    if (!pool.ok()) return pool.status();
    SourceSpec spec;
    spec.id = i;
    spec.num_sources = nsources;
    spec.num_flows = static_cast<uint32_t>(o.flows);
    spec.packets = SourceQuota(static_cast<uint64_t>(o.packets), spec.num_flows, nsources, i);
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

Result<RunReport> Execute(Job& job) {
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = job.nisr->Start(); !st.ok()) return st;
  job.nisr->RunUntilIdle();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  job.nisr->Stop();

  RunReport r;
  r.options = job.options;
  for (const auto& src : job.sources) r.packets_in += src->emitted();
  r.delivered = job.protocol->delivered();
  r.reordered = job.protocol->reordered();
  r.seconds = took.count();
  r.mpps = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds / 1e6 : 0;
  r.stats = job.nisr->GetStats();
  return r;
}

}  // namespace

Status ValidateRunOptions(const RunOptions& o) {
  const Choice choices[] = {
      {"--dispatch", o.dispatch, {"direct", "deferred", "hybrid"}},
      {"--policy", o.policy, {"flow", "source", "cpu"}},
      {"--model", o.model, {"threads", "inline"}},
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
  };
  for (const Bound& b : bounds) {
    if (Status st = Check(b); !st.ok()) return st;
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
             "model={} dispatch={} policy={} cpus={}\n",
             r.packets_in, r.delivered, r.dropped_total(), r.reordered, r.mpps, r.seconds, o.model,
             o.dispatch, o.policy, o.cpus);
}

nlohmann::json ToJson(const RunReport& r) {
  const RunOptions& o = r.options;
  return {
      {"packets_in", r.packets_in},
      {"delivered", r.delivered},
      {"dropped", nlohmann::json(r.stats.drops)},
      {"dropped_total", r.dropped_total()},
      {"reordered", r.reordered},
      {"mpps", r.mpps},
      {"seconds", r.seconds},
      {"config",
       {{"cpus", o.cpus},
        {"dispatch", o.dispatch},
        {"policy", o.policy},
        {"model", o.model},
        {"flows", o.flows},
        {"packets", o.packets},
        {"sources", o.sources.value_or(o.cpus)},
        {"handler_ns", o.handler_ns},
        {"qlimit", o.qlimit},
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
