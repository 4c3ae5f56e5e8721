#include "netisr/netisr.h"

#include <chrono>
#include <string>
#include <thread>

#include "netisr/internal/select.h"
#include "netisr/internal/structures.h"
#include "sched_feedback/clock.h"
#include "sched_feedback/topology.h"

namespace netisr {

using internal::Lane;
using internal::Producer;
using internal::ProtocolEntry;
using internal::Workstream;

namespace {

// The calling thread's producer identity and workstream. Set permanently on
// worker threads, for the duration of RunOnce on caller-driven models, and
// by ProducerScope on external threads.
thread_local Producer* tls_producer = nullptr;
thread_local int tls_workstream = -1;

// Sets the thread's identity for a scope and restores the previous one.
class IdentityScope {
 public:
  IdentityScope(Producer* p, int ws) : prev_p_(tls_producer), prev_ws_(tls_workstream) {
    tls_producer = p;
    tls_workstream = ws;
  }
  ~IdentityScope() {
    tls_producer = prev_p_;
    tls_workstream = prev_ws_;
  }

 private:
  Producer* prev_p_;
  int prev_ws_;
};

// Chunk of a burst classified at once; bounds the stack arrays below.
constexpr size_t kChunk = 64;
// Bursts one lane may hand its handler per RunOnce, so that one busy lane
// cannot starve the worker's other lanes and its sources.
constexpr int kBurstsPerLanePerRound = 4;

uint64_t Now() { return sched::FastClock::Global().NowNs(); }

std::string Range(const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
  return std::string(what) + " " + std::to_string(v) + " out of range [" + std::to_string(lo) +
         ", " + std::to_string(hi) + "]";
}

Status ValidateAdaptive(const AdaptiveSettings& a) {
  auto bad = [](std::string m) {
    return Status(ErrorCode::kInvalidArgument, "adaptive." + std::move(m));
  };
  auto frac = [](double v) { return v > 0 && v <= 1; };
  if (!frac(a.busy_low) || !frac(a.busy_high) || a.busy_low > a.busy_high)
    return bad("busy_low/busy_high must satisfy 0 < low <= high <= 1 (got " +
               std::to_string(a.busy_low) + ", " + std::to_string(a.busy_high) + ")");
  if (a.delay_low_ns == 0 || a.delay_low_ns > a.delay_high_ns || a.delay_high_ns > 1'000'000'000)
    return bad("delay_low_ns/delay_high_ns must satisfy 0 < low <= high <= 1e9 (got " +
               std::to_string(a.delay_low_ns) + ", " + std::to_string(a.delay_high_ns) + ")");
  if (!frac(a.room_busy)) return bad("room_busy must be in (0, 1]");
  if (a.migration_interval_ns > 1'000'000'000)
    return bad(Range("migration_interval_ns", a.migration_interval_ns, 0, 1'000'000'000));
  if (a.load_window_ns < 10'000 || a.load_window_ns > 100'000'000)
    return bad(Range("load_window_ns", a.load_window_ns, 10'000, 100'000'000));
  if (!frac(a.load_alpha)) return bad("load_alpha must be in (0, 1]");
  if (a.settle_windows > 1000) return bad(Range("settle_windows", a.settle_windows, 0, 1000));
  if (!frac(a.backpressure_fill)) return bad("backpressure_fill must be in (0, 1]");
  if (!frac(a.spill_fill)) return bad("spill_fill must be in (0, 1]");
  if (!frac(a.full_polls_high)) return bad("full_polls_high must be in (0, 1]");
  return Status::Ok();
}

}  // namespace

Status Validate(const Settings& s) {
  auto bad = [](std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); };
  if (s.max_threads < 0 || s.max_threads > kMaxWorkstreams)
    return bad(Range("max_threads", s.max_threads, 0, kMaxWorkstreams));
  if (s.max_qlimit < 1 || s.max_qlimit > (1u << 20))
    return bad(Range("max_qlimit", s.max_qlimit, 1, 1u << 20));
  if (s.default_qlimit < 1 || s.default_qlimit > s.max_qlimit)
    return bad(Range("default_qlimit", s.default_qlimit, 1, s.max_qlimit));
  if (s.max_external_producers < 0 || s.max_external_producers > 64)
    return bad(Range("max_external_producers", s.max_external_producers, 0, 64));
  if (s.burst < 1 || s.burst > 256) return bad(Range("burst", s.burst, 1, 256));
  if (s.idle_sleep_us < 1 || s.idle_sleep_us > 1000000)
    return bad(Range("idle_sleep_us", s.idle_sleep_us, 1, 1000000));
  if (s.idle_spin > 1000000) return bad(Range("idle_spin", s.idle_spin, 0, 1000000));
  if (s.flow_buckets < 1 || s.flow_buckets > 65536 || (s.flow_buckets & (s.flow_buckets - 1)))
    return bad("flow_buckets " + std::to_string(s.flow_buckets) +
               " must be a power of two in [1, 65536]");
  if (s.max_memory_bytes < (uint64_t{1} << 20) || s.max_memory_bytes > (uint64_t{1} << 40))
    return bad(Range("max_memory_bytes", s.max_memory_bytes, uint64_t{1} << 20, uint64_t{1} << 40));
  return ValidateAdaptive(s.adaptive);
}

uint64_t ProtocolMemoryBytes(const Settings& s, int workstreams, uint32_t qlimit) {
  const uint64_t nws = static_cast<uint64_t>(std::max(workstreams, 0));
  const uint64_t nprod = nws + static_cast<uint64_t>(std::max(s.max_external_producers, 0));
  // boost's spsc_queue keeps one slot free: qlimit + 1 pointers.
  const uint64_t lane = sizeof(Lane) + (uint64_t{qlimit} + 1) * sizeof(Packet*);
  const uint64_t per_producer =
      nws * lane + uint64_t{s.flow_buckets} * sizeof(internal::Bucket) + sizeof(internal::Feedback);
  return sizeof(ProtocolEntry) + nprod * per_producer +
         uint64_t{s.flow_buckets} * sizeof(std::atomic<int16_t>);
}

namespace {

std::string Bytes(uint64_t n) {
  return std::to_string(n) + " bytes (" + std::to_string(n >> 20) + " MiB)";
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction and registration

Result<std::unique_ptr<Netisr>> Netisr::Create(const Settings& settings,
                                               std::unique_ptr<WorkModel> model) {
  if (Status st = Validate(settings); !st.ok()) return st;
  if (model == nullptr) return Status(ErrorCode::kInvalidArgument, "no work model given");
  sched::FastClock::Global();  // calibrates (~20 ms) here, not on the packet path
  int nws = settings.max_threads;
  std::vector<int> cpus;
  std::unique_ptr<sched::Topology> topo;
  if (settings.bind_threads || nws == 0) {
    std::string err;
    topo = sched::Topology::Discover(&err);
    if (topo == nullptr) return Status(ErrorCode::kUnavailable, "hwloc: " + err);
    cpus = topo->WorkerCpuOrder();
    if (nws == 0) nws = std::min<int>(static_cast<int>(cpus.size()), kMaxWorkstreams);
  }
  if (const uint64_t need = ProtocolMemoryBytes(settings, nws, settings.default_qlimit);
      need > settings.max_memory_bytes) {
    return Status(ErrorCode::kResourceExhausted,
                  "one protocol at default_qlimit " + std::to_string(settings.default_qlimit) +
                      " on " + std::to_string(nws) + " workstreams needs " + Bytes(need) +
                      ", over max_memory_bytes " + Bytes(settings.max_memory_bytes));
  }
  std::unique_ptr<Netisr> nisr;
  try {
    nisr.reset(new Netisr(settings, std::move(model), nws));
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kResourceExhausted,
                  "out of memory creating " + std::to_string(nws) + " workstreams");
  }
  if (settings.bind_threads) {
    for (int w = 0; w < nws; ++w) nisr->workstreams_[w]->cpu = cpus[w % cpus.size()];
    for (int a = 0; a < nws; ++a) {
      for (int b = 0; b < nws; ++b) {
        if (a != b && topo->SharesCache(nisr->workstreams_[a]->cpu, nisr->workstreams_[b]->cpu))
          nisr->workstreams_[a]->cache_peers |= uint64_t{1} << b;
      }
    }
  }
  return nisr;
}

Netisr::Netisr(const Settings& settings, std::unique_ptr<WorkModel> model, int nws)
    : settings_(settings), nws_(nws), model_(std::move(model)) {
  if (settings.dispatch_override) override_.store(static_cast<int>(*settings.dispatch_override));
  for (int w = 0; w < nws_; ++w) {
    auto ws = std::make_unique<Workstream>();
    ws->index = w;
    ws->meter = std::make_unique<sched::LoadMeter>(
        &ws->load,
        sched::LoadMeterConfig{settings.adaptive.load_window_ns, settings.adaptive.load_alpha});
    workstreams_.push_back(std::move(ws));
  }
  const int nprod = nws_ + settings.max_external_producers;
  for (int p = 0; p < nprod; ++p) {
    auto prod = std::make_unique<Producer>();
    prod->owner = this;
    prod->index = p;
    prod->home_ws = p < nws_ ? p : -1;
    producers_.push_back(std::move(prod));
  }
}

Netisr::~Netisr() { Stop(); }

Result<ProtocolId> Netisr::Register(const ProtocolSpec& spec) {
  auto bad = [&](ErrorCode c, const std::string& m) {
    return Status(c, "protocol '" + spec.name + "': " + m);
  };
  if (spec.name.empty() || spec.name.size() > 31)
    return bad(ErrorCode::kInvalidArgument, "name must be 1..31 characters");
  if (!spec.handler) return bad(ErrorCode::kInvalidArgument, "no handler");
  if (spec.policy == Policy::kCpu && !spec.m2cpuid)
    return bad(ErrorCode::kInvalidArgument, "policy cpu needs an m2cpuid function");
  const uint32_t qlimit = spec.qlimit == 0 ? settings_.default_qlimit : spec.qlimit;
  if (qlimit > settings_.max_qlimit)
    return bad(ErrorCode::kInvalidArgument, Range("qlimit", qlimit, 1, settings_.max_qlimit));

  std::lock_guard<lockprof::Mutex> lock(reg_mu_);
  const int n = num_protocols_.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) {
    if (protocols_[i]->spec.name == spec.name)
      return bad(ErrorCode::kAlreadyExists, "already registered as id " + std::to_string(i));
  }
  if (n == kMaxProtocols)
    return bad(ErrorCode::kResourceExhausted,
               "all " + std::to_string(kMaxProtocols) + " protocol slots are taken");
  const uint64_t need = ProtocolMemoryBytes(settings_, nws_, qlimit);
  if (need > settings_.max_memory_bytes - memory_bytes_) {
    return bad(ErrorCode::kResourceExhausted,
               "qlimit " + std::to_string(qlimit) + " on " + std::to_string(nws_) +
                   " workstreams needs " + Bytes(need) + ", and the " + std::to_string(n) +
                   " registered protocols take " + Bytes(memory_bytes_) + " of max_memory_bytes " +
                   Bytes(settings_.max_memory_bytes));
  }
  std::unique_ptr<ProtocolEntry> pe;
  try {
    pe = std::make_unique<ProtocolEntry>();
    pe->spec = spec;
    pe->qlimit = qlimit;
    for (size_t i = 0; i < producers_.size() * nws_; ++i)
      pe->lanes.push_back(std::make_unique<Lane>(qlimit));
    pe->buckets.assign(producers_.size(), std::vector<internal::Bucket>(settings_.flow_buckets));
    pe->feedback.resize(producers_.size());
    pe->hints = std::make_unique<std::atomic<int16_t>[]>(settings_.flow_buckets);
  } catch (const std::bad_alloc&) {
    return bad(ErrorCode::kResourceExhausted, "out of memory allocating " + Bytes(need));
  }
  for (uint32_t i = 0; i < settings_.flow_buckets; ++i) pe->hints[i].store(-1);
  memory_bytes_ += need;
  protocols_[n] = std::move(pe);
  // Publishes the entry: pairs with the acquire loads of num_protocols_.
  num_protocols_.store(n + 1, std::memory_order_release);
  return static_cast<ProtocolId>(n);
}

Result<ProtocolId> Netisr::Find(std::string_view name) const {
  const int n = num_protocols_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (protocols_[i]->spec.name == name) return static_cast<ProtocolId>(i);
  }
  return Status(ErrorCode::kNotFound, "no protocol named '" + std::string(name) + "'");
}

Status Netisr::AttachSource(int worker, IngressSource* source) {
  if (state_.load() != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition, "sources can only be attached before Start");
  if (worker < 0 || worker >= nws_)
    return Status(ErrorCode::kInvalidArgument, Range("source worker", worker, 0, nws_ - 1));
  if (source == nullptr) return Status(ErrorCode::kInvalidArgument, "null ingress source");
  workstreams_[worker]->sources.push_back(source);
  workstreams_[worker]->live_sources.store(static_cast<int>(workstreams_[worker]->sources.size()),
                                           std::memory_order_release);
  return Status::Ok();
}

void Netisr::SetDispatchOverride(std::optional<DispatchMode> mode) {
  override_.store(mode ? static_cast<int>(*mode) : -1, std::memory_order_relaxed);
}

Status Netisr::SetFlowAffinity(ProtocolId proto, uint32_t flowid, int ws) {
  if (proto >= num_protocols_.load(std::memory_order_acquire))
    return Status(ErrorCode::kNotFound, "no protocol with id " + std::to_string(proto));
  if (ws < 0 || ws >= nws_)
    return Status(ErrorCode::kInvalidArgument, Range("affinity workstream", ws, 0, nws_ - 1));
  protocols_[proto]->hints[flowid & (settings_.flow_buckets - 1)].store(static_cast<int16_t>(ws),
                                                                        std::memory_order_relaxed);
  return Status::Ok();
}

Status Netisr::ClearFlowAffinity(ProtocolId proto, uint32_t flowid) {
  if (proto >= num_protocols_.load(std::memory_order_acquire))
    return Status(ErrorCode::kNotFound, "no protocol with id " + std::to_string(proto));
  protocols_[proto]->hints[flowid & (settings_.flow_buckets - 1)].store(-1,
                                                                        std::memory_order_relaxed);
  return Status::Ok();
}

std::optional<DispatchMode> Netisr::dispatch_override() const {
  const int v = override_.load(std::memory_order_relaxed);
  if (v < 0) return std::nullopt;
  return static_cast<DispatchMode>(v);
}

// ---------------------------------------------------------------------------
// Producers

Netisr::ProducerScope::ProducerScope(Netisr& nisr) : nisr_(nisr) {
  std::lock_guard<lockprof::Mutex> lock(nisr.reg_mu_);
  for (size_t p = nisr.nws_; p < nisr.producers_.size(); ++p) {
    if (!nisr.producers_[p]->in_use) {
      producer_ = nisr.producers_[p].get();
      producer_->in_use = true;
      break;
    }
  }
  if (producer_ == nullptr) {
    status_ = Status(ErrorCode::kResourceExhausted,
                     "all " + std::to_string(nisr.settings_.max_external_producers) +
                         " external producer slots are in use (settings.max_external_producers)");
    return;
  }
  previous_ = tls_producer;
  tls_producer = producer_;
}

Netisr::ProducerScope::~ProducerScope() {
  if (producer_ == nullptr) return;
  nisr_.Flush();
  tls_producer = previous_;
  std::lock_guard<lockprof::Mutex> lock(nisr_.reg_mu_);
  producer_->in_use = false;
}

int Netisr::CurrentWorkstream() { return tls_workstream; }

// ---------------------------------------------------------------------------
// The packet path

Outcome Netisr::DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  if (TryDirectFastPath(source, proto, pkt)) return Outcome::kHandled;
  const BurstOutcome r = Enter<false>(source, proto, {&pkt, 1});
  return r.handled ? Outcome::kHandled : r.queued ? Outcome::kQueued : Outcome::kDropped;
}

Outcome Netisr::QueueSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  const BurstOutcome r = Enter<true>(source, proto, {&pkt, 1});
  return r.queued ? Outcome::kQueued : Outcome::kDropped;
}

BurstOutcome Netisr::DispatchBurst(uint16_t source, ProtocolId proto,
                                   std::span<Packet* const> pkts) {
  return Enter<false>(source, proto, pkts);
}

BurstOutcome Netisr::QueueBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts) {
  return Enter<true>(source, proto, pkts);
}

// The common case of direct dispatch without Enter's chunk machinery: a
// producer, a kFlow protocol in kDirect mode and a packet whose flow bucket
// has nothing queued, or a kSource protocol whose lane from this producer is
// empty (so nothing can be overtaken). Same effects and counters as the
// general path; anything else falls through to it.
bool Netisr::TryDirectFastPath(uint16_t source, ProtocolId proto, Packet* pkt) {
  Producer* const prod = tls_producer;
  // After Stop, Enter drops the packet (relaxed: Enter re-reads it).
  if (prod == nullptr || prod->owner != this ||
      proto >= num_protocols_.load(std::memory_order_acquire) ||
      state_.load(std::memory_order_relaxed) == State::kStopped) {
    return false;
  }
  ProtocolEntry& pe = *protocols_[proto];
  const int ov = override_.load(std::memory_order_relaxed);
  const DispatchMode mode = ov >= 0 ? static_cast<DispatchMode>(ov) : pe.spec.dispatch;
  if (mode != DispatchMode::kDirect) return false;
  int target;
  if (pe.spec.policy == Policy::kFlow && pkt->has_flowid()) {
    const uint32_t bi = pkt->flowid & (settings_.flow_buckets - 1);
    if (pe.buckets[prod->index][bi].queued_to >= 0) return false;
    const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
    target = (hint >= 0 && hint < nws_) ? hint : FlowWorkstream(pkt->flowid);
  } else if (pe.spec.policy == Policy::kSource) {
    target = FlowWorkstream(source);
    const Lane& lane = *pe.lanes[prod->index * nws_ + target];
    // Acquire: pairs with the consumer's release after the handler ran.
    if (lane.handled.load(std::memory_order_acquire) !=
        lane.enqueued.load(std::memory_order_relaxed)) {
      return false;
    }
  } else {
    return false;
  }
  if (pkt->proto != proto) pkt->proto = proto;
  if (pkt->source != source) pkt->source = source;
  pe.lanes[prod->index * nws_ + target]->dispatched.Add(1);
  Workstream* ws = prod->home_ws >= 0 ? workstreams_[prod->home_ws].get() : nullptr;
  const bool mark = ws != nullptr && !ws->draining;
  if (mark) ws->draining = true;
  pe.spec.handler({&pkt, 1});
  if (mark) ws->draining = false;
  return true;
}

int Netisr::FlowWorkstream(uint32_t flowid) const {
  // A mask instead of a division (~20-40 cycles) for power-of-two counts;
  // the same mapping as flowid % nws (and SelectWorkstream) either way.
  return (nws_ & (nws_ - 1)) == 0 ? static_cast<int>(flowid & static_cast<uint32_t>(nws_ - 1))
                                  : static_cast<int>(flowid % static_cast<uint32_t>(nws_));
}

void Netisr::Drop(Producer* prod, ProtocolId proto, DropReason why, Packet* pkt) {
  if (prod != nullptr) {
    prod->drops[static_cast<size_t>(why)].Add(1);
  } else {
    orphan_drops_[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
  Release(pkt);
}

// What one Enter call has classified so far in its current chunk. Packets
// to run here keep arrival order; queued ones are staged per target and
// pushed before the direct ones run, so that other workers start on them
// (and their latency does not include this chunk's direct work). A flow
// bucket with a packet filed to run here stays here for the rest of the
// chunk (Bucket::direct_chunk), so no later packet of it can be pushed
// elsewhere and overtake that one.
struct Netisr::Chunk {
  Packet* direct[kChunk];
  size_t ndirect = 0;
  Packet* staged[kChunk];
  uint8_t staged_ws[kChunk];
  size_t nstaged = 0;
  uint64_t staged_mask = 0;
  uint16_t staged_per_ws[kMaxWorkstreams];  // valid where staged_mask is set
};

// What one Enter call knows about its caller and the machine.
struct Netisr::CallContext {
  // What the adaptive rule reads (kAdaptive mode only, else nullptr): the
  // producer's snapshot for this protocol, see ReadLoads.
  using Feedback = internal::Feedback;
  Producer* prod;
  DispatchMode mode;
  int here;
  bool here_draining;
  Feedback* feedback = nullptr;
};

namespace {

// True once every packet a bucket queued to `lane` has been handled.
bool LaneDrainedTo(const Lane& lane, uint64_t tail_mark) {
  // Acquire: pairs with the consumer's release after the handler returned,
  // so the handler's effects happen-before anything this flow does next.
  const uint64_t handled = lane.handled.load(std::memory_order_acquire);
  const uint64_t enqueued = lane.enqueued.load(std::memory_order_relaxed);
  return handled >= std::min(tail_mark, enqueued);
}

}  // namespace

template <bool kQueueOnly>
BurstOutcome Netisr::Enter(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts) {
  BurstOutcome out;
  Producer* const prod =
      (tls_producer != nullptr && tls_producer->owner == this) ? tls_producer : nullptr;
  const bool known = proto < num_protocols_.load(std::memory_order_acquire);
  // Acquire: pairs with Stop's release store after its final drain.
  const bool stopped = state_.load(std::memory_order_acquire) == State::kStopped;
  if (prod == nullptr || !known || stopped) {
    const DropReason why = stopped ? DropReason::kShutdown
                           : known ? DropReason::kNoProducer
                                   : DropReason::kNoProtocol;
    for (Packet* p : pkts) Drop(prod, proto, why, p);
    out.dropped = static_cast<uint32_t>(pkts.size());
    return out;
  }
  ProtocolEntry& pe = *protocols_[proto];
  const int ov = override_.load(std::memory_order_relaxed);
  CallContext cc;
  cc.prod = prod;
  cc.mode = kQueueOnly ? DispatchMode::kDeferred
            : ov >= 0  ? static_cast<DispatchMode>(ov)
                       : pe.spec.dispatch;
  cc.here = prod->home_ws;
  cc.here_draining = cc.here >= 0 && workstreams_[cc.here]->draining;
  if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0) ReadLoads(cc, pe, proto);

  Chunk ch;
  for (size_t base = 0; base < pkts.size(); base += kChunk) {
    const size_t n = std::min(kChunk, pkts.size() - base);
    ch.ndirect = ch.nstaged = 0;
    ch.staged_mask = 0;
    ++prod->chunk;
    if (cc.feedback) cc.feedback->fill_fresh = 0;
    for (size_t i = 0; i < n; ++i) {
      Packet* pkt = pkts[base + i];
      // Stores only when the value changes: the packet's line may sit in
      // another core's cache, and a needless store takes it away.
      if (pkt->proto != proto) pkt->proto = proto;
      if (pkt->source != source) pkt->source = source;
      if (!Classify(cc, pe, proto, *pkt, ch)) {
        Drop(prod, proto, DropReason::kNoCpu, pkt);
        ++out.dropped;
      }
    }
    for (uint64_t m = ch.staged_mask; m != 0; m &= m - 1) {
      const auto [q, d] = EnqueueToWorkstream(cc, pe, proto, __builtin_ctzll(m), ch);
      out.queued += q;
      out.dropped += d;
    }
    if (ch.ndirect > 0) {
      // Wake whoever must run what was just pushed before spending the
      // time on the direct packets, not after.
      if (prod->wake_mask != 0) Flush();
      RunDirect(cc, pe, proto, {ch.direct, ch.ndirect});
      out.handled += static_cast<uint32_t>(ch.ndirect);
    }
  }
  if (cc.here < 0 && prod->wake_mask != 0) Flush();
  return out;
}

void Netisr::ReadLoads(CallContext& cc, ProtocolEntry& pe, ProtocolId proto) const {
  internal::Feedback& fb = pe.feedback[cc.prod->index];
  cc.feedback = &fb;
  fb.now_ns = Now();
  // Reading every workstream's load and queue fill costs a cache miss or
  // two each; a producer polling a paced source every microsecond would pay
  // them per packet or two. The published loads change once per window
  // anyway (docs/adaptive.md 6: paced at 4.2 Mpps, poll model, p50 4.2 ->
  // 2.6 us).
  RollBucketEpoch(fb, pe, cc.prod->index);
  if (fb.read_ns != 0 && fb.now_ns - fb.read_ns < internal::kFeedbackRefreshNs) return;
  fb.read_ns = fb.now_ns;
  fb.settling = 0;
  fb.pressured = 0;
  // Published values older than two windows are stale: a worker that runs
  // publishes every window, so only a sleeping (or descheduled) one lags.
  const uint64_t stale_ns = 2 * settings_.adaptive.load_window_ns;
  for (int w = 0; w < nws_; ++w) {
    const Workstream& ws = *workstreams_[w];
    sched::LoadSample& l = fb.loads[w];
    l = ws.load.Read();
    l.asleep = ws.signal.sleeping.load(std::memory_order_relaxed) != 0;
    // The clock is not ordered across CPUs (see FastClock): a publication
    // may read as slightly in the future.
    l.stale = fb.now_ns > l.published_ns && fb.now_ns - l.published_ns > stale_ns;
    fb.fill[w] = static_cast<float>(ws.protos[proto].qlen.load(std::memory_order_relaxed)) /
                 static_cast<float>(pe.qlimit);
    // A settling target that sleeps with stale load will not publish until
    // woken; it is idle, so the last move evidently did not fill it.
    if (l.windows < cc.prod->settle_until_windows[w] && !(l.asleep && l.stale))
      fb.settling |= uint64_t{1} << w;
    if (const uint64_t p = cc.prod->pressured_ns[w];
        p != 0 && fb.now_ns - std::min(fb.now_ns, p) < settings_.adaptive.load_window_ns)
      fb.pressured |= uint64_t{1} << w;
  }
  cc.prod->saturated =
      internal::UpdateSaturation(cc.prod->saturated, fb.loads[cc.here], settings_.adaptive);
}

void Netisr::RollBucketEpoch(internal::Feedback& fb, ProtocolEntry& pe, int producer) const {
  const uint64_t len = internal::kBucketEpochWindows * settings_.adaptive.load_window_ns;
  if (fb.epoch_start_ns == 0) fb.epoch_start_ns = fb.now_ns;
  if (fb.now_ns - fb.epoch_start_ns < len) return;
  // flow_buckets stores each epoch (256 by default, every 800 us).
  for (internal::Bucket& b : pe.buckets[producer]) {
    b.last_epoch_pkts = b.epoch_pkts;
    b.epoch_pkts = 0;
  }
  fb.last_epoch_ns = fb.now_ns - fb.epoch_start_ns;
  fb.epoch_start_ns = fb.now_ns;
}

double Netisr::BucketLoad(const internal::Feedback& fb, const internal::Bucket& b, ProtocolId proto,
                          int here) const {
  if (fb.last_epoch_ns == 0) return 0;
  // This CPU's service time per packet; one that never ran the protocol
  // borrows the bucket's CPU's.
  uint32_t svc = workstreams_[here]->load.ServiceNs(proto);
  if (svc == 0 && b.placement >= 0) svc = workstreams_[b.placement]->load.ServiceNs(proto);
  return static_cast<double>(b.last_epoch_pkts) * svc / static_cast<double>(fb.last_epoch_ns);
}

void Netisr::RefreshFill(internal::Feedback& fb, const ProtocolEntry& pe, ProtocolId proto, int t,
                         const Chunk& ch) const {
  const uint64_t bit = uint64_t{1} << t;
  if (!(fb.fill_fresh & bit)) {
    // One read of the shared qlen line per target and chunk.
    fb.fill_fresh |= bit;
    fb.qlen[t] = workstreams_[t]->protos[proto].qlen.load(std::memory_order_relaxed);
  }
  // What this producer staged for t so far in the chunk is not in qlen yet.
  const int64_t staged = ((ch.staged_mask >> t) & 1) ? ch.staged_per_ws[t] : 0;
  fb.fill[t] = static_cast<float>(fb.qlen[t] + staged) / static_cast<float>(pe.qlimit);
}

bool Netisr::Classify(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                      Chunk& ch) {
  Producer& prod = *cc.prod;
  const bool bucketed = pe.spec.policy == Policy::kFlow &&
                        (pkt.has_flowid() || (pe.spec.m2flow && pe.spec.m2flow(pkt)));
  int target;
  internal::Decision d;
  internal::Bucket* b = nullptr;
  if (bucketed) {
    const uint32_t bi = pkt.flowid & (settings_.flow_buckets - 1);
    b = &pe.buckets[prod.index][bi];
    if (cc.feedback) ++b->epoch_pkts;
    if (b->queued_to >= 0 &&
        (b->staged_chunk == prod.chunk ||
         !LaneDrainedTo(*pe.lanes[prod.index * nws_ + b->queued_to], b->tail_mark))) {
      // Earlier packets of this bucket are still queued or running: this
      // one goes behind them, whatever the mode or feedback says now.
      target = b->queued_to;
      d = internal::Decision::kQueue;
      if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
        prod.decisions[static_cast<size_t>(internal::AdaptiveReason::kInFlight)].Add(1);
    } else if (b->direct_chunk == prod.chunk) {
      // An earlier packet of this bucket runs here at the end of this
      // chunk: this one runs with it, whatever the feedback says now.
      target = b->direct_to;
      d = b->direct_decision;
      if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
        prod.decisions[static_cast<size_t>(b->last_reason)].Add(1);
    } else {
      b->queued_to = -1;  // drained: nothing of it is queued anywhere
      // The spill test wants the placed CPU's queue as of this chunk.
      if (cc.feedback && b->placement >= 0 && b->placement != cc.here)
        RefreshFill(*cc.feedback, pe, proto, b->placement, ch);
      target = PlaceBucket(cc, pe, proto, pkt, *b, bi, &d);
    }
  } else {
    target = internal::SelectWorkstream(pe.spec, pkt, pkt.source, nws_);
    if (target < 0) return false;
    d = cc.mode == DispatchMode::kDeferred ? internal::Decision::kQueue
                                           : DecideUnbucketed(cc, pe, proto, target, ch);
  }
  Lane& lane = *pe.lanes[prod.index * nws_ + target];
  if (b != nullptr && d != internal::Decision::kQueue) {
    b->direct_chunk = prod.chunk;
    b->direct_to = static_cast<int16_t>(target);
    b->direct_decision = d;
  }
  switch (d) {
    case internal::Decision::kDirect:
      lane.dispatched.Add(1);
      ch.direct[ch.ndirect++] = &pkt;
      return true;
    case internal::Decision::kHybridDirect:
      lane.hybrid_dispatched.Add(1);
      ch.direct[ch.ndirect++] = &pkt;
      return true;
    case internal::Decision::kQueue:
      break;
  }
  if (!((ch.staged_mask >> target) & 1)) {
    ch.staged_mask |= uint64_t{1} << target;
    ch.staged_per_ws[target] = 0;
  }
  ch.staged[ch.nstaged] = &pkt;
  ch.staged_ws[ch.nstaged++] = static_cast<uint8_t>(target);
  ++ch.staged_per_ws[target];
  if (b != nullptr) {
    b->queued_to = static_cast<int16_t>(target);
    b->staged_chunk = prod.chunk;
    b->tail_mark = lane.enqueued.load(std::memory_order_relaxed) + ch.staged_per_ws[target];
  }
  return true;
}

internal::Decision Netisr::DecideUnbucketed(const CallContext& cc, const ProtocolEntry& pe,
                                            ProtocolId proto, int target, const Chunk& ch) const {
  const Lane& lane = *pe.lanes[cc.prod->index * nws_ + target];
  const uint64_t staged = (ch.staged_mask >> target) & 1;
  const uint64_t outstanding = lane.enqueued.load(std::memory_order_relaxed) -
                               lane.handled.load(std::memory_order_acquire) + staged;
  // Only the hybrid rule looks at the queue length (a shared cache line).
  const int64_t qlen =
      cc.mode == DispatchMode::kDirect
          ? 0
          : workstreams_[target]->protos[proto].qlen.load(std::memory_order_relaxed) +
                static_cast<int64_t>(staged);
  return internal::Decide({cc.mode, target, cc.here, cc.here_draining, outstanding, qlen});
}

int Netisr::PlaceBucket(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                        internal::Bucket& b, uint32_t bi, internal::Decision* d) {
  Producer& prod = *cc.prod;
  const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
  const bool hinted = hint >= 0 && hint < nws_;
  if (cc.mode != DispatchMode::kAdaptive || cc.here < 0) {
    // The policy's CPU (or the hinted one), with FreeBSD's mode rules. The
    // bucket has drained, so nothing of ours is outstanding.
    const int target = hinted ? hint : FlowWorkstream(pkt.flowid);
    *d = internal::Decide(
        {cc.mode, target, cc.here, cc.here_draining, 0,
         workstreams_[target]->protos[proto].qlen.load(std::memory_order_relaxed)});
    return target;
  }
  internal::AdaptiveChoice choice;
  if (hinted) {
    choice = {hint, internal::AdaptiveReason::kHinted};
  } else {
    if (b.placement < 0 || b.placement >= nws_) b.placement = static_cast<int16_t>(cc.here);
    internal::Feedback& fb = *cc.feedback;
    const bool rate_ok =
        fb.now_ns - prod.last_migration_ns >= settings_.adaptive.migration_interval_ns;
    const internal::AdaptiveView view{
        cc.here,
        b.placement,
        prod.saturated,
        rate_ok,
        {fb.loads.data(), size_t(nws_)},
        workstreams_[cc.here]->cache_peers,
        {fb.fill.data(), size_t(nws_)},
        fb.settling,
        fb.pressured,
        b.placement != cc.here ? BucketLoad(fb, b, proto, cc.here) : 0.0};
    choice = internal::DecideAdaptive(view, settings_.adaptive);
    if (choice.reason == internal::AdaptiveReason::kSpill) {
      // Runs here this once; the bucket stays placed where it is.
    } else if (choice.placement != b.placement) {
      b.placement = static_cast<int16_t>(choice.placement);
      prod.migrations.Add(1);
      prod.last_migration_ns = fb.now_ns;
      // The CPU that gained the bucket must show it before it gains
      // another: the target of a move out, or this one after a return.
      if ((choice.reason == internal::AdaptiveReason::kMigrateOut ||
           choice.reason == internal::AdaptiveReason::kReturn) &&
          settings_.adaptive.settle_windows > 0) {
        const int t = choice.placement;
        prod.settle_until_windows[t] = fb.loads[t].windows + settings_.adaptive.settle_windows;
        fb.settling |= uint64_t{1} << t;
      }
    }
  }
  prod.decisions[static_cast<size_t>(choice.reason)].Add(1);
  b.last_reason = choice.reason;
  *d = choice.placement == cc.here ? internal::Decision::kDirect : internal::Decision::kQueue;
  return choice.placement;
}

void Netisr::RunDirect(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                       std::span<Packet* const> burst) {
  // Direct runs count as the workstream's own work, so nested dispatches
  // from the handler see it running (FreeBSD's NWS_DISPATCHING) and queue
  // rather than recurse.
  Workstream* ws = cc.here >= 0 ? workstreams_[cc.here].get() : nullptr;
  const bool mark = ws != nullptr && !cc.here_draining;
  if (mark) ws->draining = true;
  if (cc.mode == DispatchMode::kAdaptive && ws != nullptr) {
    // The adaptive rule wants this CPU's service time per protocol.
    const uint64_t t0 = Now();
    RunHandler(pe, burst);
    ws->meter->AddService(proto, Now() - t0, static_cast<uint32_t>(burst.size()));
  } else {
    RunHandler(pe, burst);
  }
  if (mark) ws->draining = false;
}

std::pair<uint32_t, uint32_t> Netisr::EnqueueToWorkstream(CallContext& cc, ProtocolEntry& pe,
                                                          ProtocolId proto, int t,
                                                          const Chunk& ch) {
  Packet* batch[kChunk];
  size_t k = 0;
  for (size_t i = 0; i < ch.nstaged; ++i) {
    if (ch.staged_ws[i] == t) batch[k++] = ch.staged[i];
  }
  // Reserve room under the workstream's queue limit; tail-drop the excess.
  auto& qlen = workstreams_[t]->protos[proto].qlen;
  const int64_t prev = qlen.fetch_add(static_cast<int64_t>(k), std::memory_order_relaxed);
  const int64_t room = std::max<int64_t>(0, static_cast<int64_t>(pe.qlimit) - prev);
  const size_t accepted = std::min<size_t>(k, static_cast<size_t>(room));
  if (accepted < k) qlen.fetch_sub(static_cast<int64_t>(k - accepted), std::memory_order_relaxed);

  Lane& lane = *pe.lanes[cc.prod->index * nws_ + t];
  if (accepted > 0) {
    if (cc.feedback) {
      // Queueing delay feeds the adaptive rule only; other modes skip the
      // stores (each one may pull a line from the consumer's cache).
      // Low 32 bits (Packet::queued_ns); 0 means "not stamped", so a
      // stamp that truncates to 0 reads 1 ns late instead.
      const uint32_t stamp = std::max<uint32_t>(static_cast<uint32_t>(cc.feedback->now_ns), 1);
      for (size_t i = 0; i < accepted; ++i) batch[i]->queued_ns = stamp;
    } else {
      // A stamp left from an earlier adaptive queueing of this packet (a
      // nested dispatch) would read as a long wait. Cleared here, where the
      // line is already in this core's cache (Classify read the packet),
      // rather than by the consumer after every adaptive burst: a consumer
      // store would pull the line back modified, and the producer that
      // recycles the packet pays that transfer.
      for (size_t i = 0; i < accepted; ++i) {
        if (batch[i]->queued_ns != 0) batch[i]->queued_ns = 0;
      }
    }
  }
  // The reservation bounds the ring's fill only in the long run: qlen is
  // relaxed, so this thread may see the consumer's fetch_sub before the
  // ring read index that the pop advanced, and find the ring fuller than
  // qlen says. What does not fit is tail-dropped like the excess above, its
  // reservation given back.
  const size_t pushed = accepted > 0 ? lane.ring.push(batch, accepted) : 0;
  if (pushed < accepted)
    qlen.fetch_sub(static_cast<int64_t>(accepted - pushed), std::memory_order_relaxed);
  if (pushed > 0) {
    lane.enqueued.store(lane.enqueued.load(std::memory_order_relaxed) + pushed,
                        std::memory_order_release);
    const uint64_t depth = static_cast<uint64_t>(prev) + pushed;
    if (depth > lane.watermark.Get()) lane.watermark.Add(depth - lane.watermark.Get());
    cc.prod->wake_mask |= uint64_t{1} << t;
  }
  for (size_t i = pushed; i < k; ++i) {
    lane.qdrops.Add(1);
    Release(batch[i]);
  }
  return {static_cast<uint32_t>(pushed), static_cast<uint32_t>(k - pushed)};
}

void Netisr::Flush() {
  Producer* prod = tls_producer;
  if (prod == nullptr || prod->owner != this || prod->wake_mask == 0) return;
  // Pairs with the fence in the work model's sleep path (WorkerSignal).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (uint64_t m = prod->wake_mask; m != 0; m &= m - 1) {
    const int t = __builtin_ctzll(m);
    WorkerSignal& sig = workstreams_[t]->signal;
    // The exchange makes one producer, not every one that looks, pay the
    // wake syscall for one sleep. Relaxed: ordered by the fence above.
    if (t != prod->home_ws && sig.sleeping.load(std::memory_order_relaxed) != 0 &&
        sig.sleeping.exchange(0, std::memory_order_relaxed) != 0) {
      sig.wakeups.fetch_add(1, std::memory_order_relaxed);
      model_->Wake(t);
    }
  }
  prod->wake_mask = 0;
}

void Netisr::RunHandler(ProtocolEntry& pe, std::span<Packet* const> burst) {
  pe.spec.handler(burst);
}

// ---------------------------------------------------------------------------
// Workers

Status Netisr::OnWorkerStart(int worker) {
  tls_producer = producers_[worker].get();
  tls_workstream = worker;
  const int cpu = workstreams_[worker]->cpu;
  if (!settings_.bind_threads || cpu < 0) return Status::Ok();
  std::string err;
  if (!sched::BindCurrentThread(cpu, &err)) {
    return Status(ErrorCode::kUnavailable, "binding worker " + std::to_string(worker) + " to CPU " +
                                               std::to_string(cpu) + ": " + err);
  }
  return Status::Ok();
}

WorkerSignal& Netisr::signal(int worker) { return workstreams_[worker]->signal; }

bool Netisr::RunOnce(int worker) {
  const bool polled = PollSources(worker);
  return DrainQueues(worker) || polled;
}

bool Netisr::Backpressured(int w, uint64_t now) {
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  const int ov = override_.load(std::memory_order_relaxed);
  for (int x = 0; x < nproto; ++x) {
    const ProtocolEntry& pe = *protocols_[x];
    const DispatchMode mode = ov >= 0 ? static_cast<DispatchMode>(ov) : pe.spec.dispatch;
    if (mode != DispatchMode::kAdaptive) continue;
    const auto limit = static_cast<int64_t>(settings_.adaptive.backpressure_fill * pe.qlimit);
    for (int t = 0; t < nws_; ++t) {
      if (t == w || workstreams_[t]->protos[x].qlen.load(std::memory_order_relaxed) < limit)
        continue;
      // Only if some of the full queue is ours: holding back cannot drain
      // what other producers fill.
      const Lane& lane = *pe.lanes[w * nws_ + t];
      if (lane.enqueued.load(std::memory_order_relaxed) !=
          lane.handled.load(std::memory_order_relaxed)) {
        producers_[w]->pressured_ns[t] = now;
        return true;
      }
    }
  }
  return false;
}

bool Netisr::PollSources(int worker) {
  Workstream& ws = *workstreams_[worker];
  if (ws.live_sources.load(std::memory_order_relaxed) == 0) return false;
  if (Backpressured(worker, Now())) {
    // Adaptive backpressure: the sources (NIC rings) hold their packets
    // until the full queue drains, rather than netisr tail-dropping them
    // there. Reported as work done, so that a sleeping model spins instead
    // of sleeping idle_sleep_us (the queue drains in a few us). Not counted
    // as busy time: this CPU waits, it could take other work.
    __builtin_ia32_pause();
    TickLoad(ws, Now());
    return true;
  }
  IdentityScope id(producers_[worker].get(), worker);
  bool did = false;
  int live = 0;
  // One clock read per poll: each poll's end is the next one's start.
  uint64_t now = Now();
  // One poll round counts as one poll for LoadSample::full_polls, full if
  // any source filled its budget: per source, one backlogged queue among k
  // idle ones would read as a share of 1/(k+1) and never as behind.
  bool polled = false, full = false;
  for (IngressSource* src : ws.sources) {
    if (src->Exhausted()) continue;
    const size_t n = src->Poll(*this, settings_.burst);
    Flush();
    const uint64_t after = Now();
    polled = true;
    full |= n >= settings_.burst;
    if (n > 0) {
      did = true;
      ws.meter->AddBusy(after - now);
    }
    now = after;
    live += src->Exhausted() ? 0 : 1;
  }
  if (polled) ws.meter->AddPoll(full);
  ws.live_sources.store(live, std::memory_order_release);
  TickLoad(ws, now);
  return did;
}

void Netisr::TickLoad(Workstream& ws, uint64_t now) {
  int64_t depth = 0;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) depth += ws.protos[x].qlen.load(std::memory_order_relaxed);
  ws.meter->Tick(now, static_cast<uint32_t>(std::max<int64_t>(0, depth)));
}

bool Netisr::DrainQueues(int worker) {
  IdentityScope id(producers_[worker].get(), worker);
  uint64_t now = Now();
  const bool did = DrainWorkstream(worker, &now);
  TickLoad(*workstreams_[worker], now);
  return did;
}

bool Netisr::DrainWorkstream(int w, uint64_t* now) {
  const bool final_pass = now == nullptr;
  Workstream& ws = *workstreams_[w];
  const bool drop = final_pass && settings_.shutdown == ShutdownMode::kDrop;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  Packet* burst[256];
  bool did = false;
  ws.draining = true;
  for (int x = 0; x < nproto; ++x) {
    auto& qlen = ws.protos[x].qlen;
    if (qlen.load(std::memory_order_relaxed) == 0) continue;
    ProtocolEntry& pe = *protocols_[x];
    bool handled_any = false;
    for (size_t p = 0; p < producers_.size(); ++p) {
      Lane& lane = *pe.lanes[p * nws_ + w];
      for (int round = 0; round < kBurstsPerLanePerRound; ++round) {
        const size_t n = lane.ring.pop(burst, settings_.burst);
        if (n == 0) break;
        // The producer wrote these descriptors on its CPU: start fetching
        // all of them now rather than miss on each in turn in the handler
        // (DPDK drivers prefetch a received burst the same way). Only the
        // first line: the second holds what a handler here seldom reads
        // (see Packet), and fetching it would make the producer that
        // recycles the packet take it back.
        for (size_t i = 0; i < n; ++i) __builtin_prefetch(burst[i]);
        qlen.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
        if (drop) {
          for (size_t i = 0; i < n; ++i) Release(burst[i]);
          lane.shutdown_drops.Add(n);
        } else if (final_pass) {
          RunHandler(pe, {burst, n});
        } else {
          // One clock read per burst: a handler's end is the next start.
          const uint64_t t0 = *now;
          if (const uint32_t stamp = burst[0]->queued_ns; stamp != 0) {
            // Stamped by an adaptive producer: sample its wait, modulo 2^32
            // (Packet::queued_ns); a stamp that reads as later than now
            // (the clock is not ordered across CPUs) waited 0. The stamp
            // stays (see EnqueueToWorkstream for who clears it).
            const auto wait = static_cast<int32_t>(static_cast<uint32_t>(t0) - stamp);
            ws.meter->AddQueueDelay(static_cast<uint64_t>(std::max(wait, 0)));
          }
          RunHandler(pe, {burst, n});
          *now = Now();
          ws.meter->AddService(x, *now - t0, static_cast<uint32_t>(n));
          ws.meter->AddBusy(*now - t0);
        }
        lane.handled.store(lane.handled.load(std::memory_order_relaxed) + n,
                           std::memory_order_release);
        handled_any = true;
        Flush();
      }
    }
    if (handled_any && !drop && pe.spec.drained && qlen.load(std::memory_order_relaxed) == 0) {
      pe.spec.drained(w);
      // What the hook dispatched must be woken toward its workstream now:
      // a worker asleep without live sources waits for nothing else.
      Flush();
    }
    did |= handled_any;
  }
  ws.draining = false;
  return did;
}

bool Netisr::HasQueued(int worker) const {
  const Workstream& ws = *workstreams_[worker];
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) {
    if (ws.protos[x].qlen.load(std::memory_order_relaxed) != 0) return true;
  }
  return false;
}

bool Netisr::HasLiveSources(int worker) const {
  return workstreams_[worker]->live_sources.load(std::memory_order_acquire) > 0;
}

// ---------------------------------------------------------------------------
// Lifecycle

Status Netisr::Start() {
  State expected = State::kCreated;
  if (!state_.compare_exchange_strong(expected, State::kRunning))
    return Status(ErrorCode::kFailedPrecondition, "netisr already started");
  Status st = model_->Start(*this);
  if (!st.ok()) {
    // The model joined whatever it started; give back what was queued.
    state_.store(State::kStopping);
    FinalDrain();
    state_.store(State::kStopped, std::memory_order_release);
  }
  return st;
}

uint64_t Netisr::SumEnqueued(bool* balanced) const {
  uint64_t sum = 0;
  *balanced = true;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) {
    for (const auto& lane : protocols_[x]->lanes) {
      const uint64_t e = lane->enqueued.load(std::memory_order_acquire);
      const uint64_t h = lane->handled.load(std::memory_order_acquire);
      sum += e;
      *balanced &= (e == h);
    }
  }
  return sum;
}

bool Netisr::Idle() const {
  for (int w = 0; w < nws_; ++w) {
    if (HasLiveSources(w)) return false;
  }
  // A handler may enqueue to a lane this scan already passed and then
  // complete; two balanced scans with the same total rule that out, since
  // the nested enqueue happens before its own lane's `handled` release.
  bool balanced = false;
  const uint64_t first = SumEnqueued(&balanced);
  if (!balanced) return false;
  const uint64_t second = SumEnqueued(&balanced);
  return balanced && first == second;
}

bool Netisr::Step() {
  return state_.load() == State::kRunning && !model_->self_driven() && model_->Pump();
}

void Netisr::RunUntilIdle() {
  if (state_.load() != State::kRunning) return;
  if (!model_->self_driven()) {
    while (model_->Pump() || !Idle()) {
    }
    return;
  }
  // The waiting thread shares the CPUs with the workers: each wakeup
  // preempts one of them (on the 2-vCPU VM, waking every 50 us cost the
  // worker it landed on ~10% of its time). So the look interval backs off
  // from 50 us to 1 ms: a short run still ends within ~50 us, and a long one
  // is overstated by at most 1 ms.
  auto pause = std::chrono::microseconds(50);
  while (!Idle()) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

void Netisr::Stop() {
  const State prev = state_.exchange(State::kStopping);
  if (prev == State::kStopping || prev == State::kStopped) {
    state_.store(prev);
    return;
  }
  if (prev == State::kRunning) model_->Stop();
  // Handlers run by the final drain may still dispatch (kStopping accepts
  // that, and the drain repeats until nothing is left); entry points after
  // this store drop under `shutdown`, since nothing would ever drain them.
  FinalDrain();
  state_.store(State::kStopped, std::memory_order_release);
}

void Netisr::FinalDrain() {
  // Workers have stopped: this thread acts as each workstream in turn.
  // Handlers may queue further packets, so repeat until nothing is left.
  bool any = true;
  while (any) {
    any = false;
    for (int w = 0; w < nws_; ++w) {
      IdentityScope id(producers_[w].get(), w);
      while (HasQueued(w)) any |= DrainWorkstream(w, /*now=*/nullptr);
    }
  }
}

// ---------------------------------------------------------------------------
// Statistics

Stats Netisr::GetStats() const {
  Stats s;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  s.protocols.resize(nproto);
  for (int x = 0; x < nproto; ++x) s.protocols[x] = protocols_[x]->spec.name;
  s.work.assign(nws_, std::vector<WorkStats>(nproto));
  uint64_t drops[static_cast<size_t>(DropReason::kCount)] = {};
  for (int w = 0; w < nws_; ++w) {
    const Workstream& ws = *workstreams_[w];
    const sched::LoadSample load = ws.load.Read();
    s.workstreams.push_back({w, ws.cpu, ws.signal.wakeups.load(std::memory_order_relaxed),
                             load.busy, load.queue_delay_ns, load.full_polls});
    for (int x = 0; x < nproto; ++x) {
      WorkStats& c = s.work[w][x];
      for (size_t p = 0; p < producers_.size(); ++p) {
        const Lane& lane = *protocols_[x]->lanes[p * nws_ + w];
        c.dispatched += lane.dispatched.Get();
        c.hybrid_dispatched += lane.hybrid_dispatched.Get();
        c.queued += lane.enqueued.load(std::memory_order_relaxed);
        c.qdrops += lane.qdrops.Get();
        const uint64_t popped = lane.handled.load(std::memory_order_relaxed);
        const uint64_t shut = lane.shutdown_drops.Get();
        c.handled += popped - std::min(popped, shut);
        c.watermark = std::max(c.watermark, lane.watermark.Get());
        drops[static_cast<size_t>(DropReason::kQueueFull)] += lane.qdrops.Get();
        drops[static_cast<size_t>(DropReason::kShutdown)] += shut;
      }
      c.handled += c.dispatched + c.hybrid_dispatched;
      c.qlen = static_cast<uint64_t>(
          std::max<int64_t>(0, ws.protos[x].qlen.load(std::memory_order_relaxed)));
    }
  }
  for (const auto& prod : producers_) {
    for (size_t r = 0; r < prod->drops.size(); ++r) drops[r] += prod->drops[r].Get();
    for (size_t r = 0; r < prod->decisions.size(); ++r) {
      if (const uint64_t n = prod->decisions[r].Get(); n != 0)
        s.decisions[internal::ToString(static_cast<internal::AdaptiveReason>(r))] += n;
    }
    s.migrations += prod->migrations.Get();
  }
  for (size_t r = 0; r < orphan_drops_.size(); ++r)
    drops[r] += orphan_drops_[r].load(std::memory_order_relaxed);
  for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
    if (drops[r] != 0) s.drops[ToString(static_cast<DropReason>(r))] = drops[r];
  }
  if (auto ov = dispatch_override()) s.dispatch_override = std::string(ToString(*ov));
  return s;
}

}  // namespace netisr
