// Netisr's construction, registration, configuration and lifecycle, and
// the forwarders from Netisr's methods to internal::Dispatcher (see
// internal/dispatcher.h for the split of the implementation).
#include "netisr/netisr.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <string>
#include <thread>

#include "netisr/internal/dispatcher.h"
#include "sched_feedback/clock.h"
#include "sched_feedback/topology.h"

namespace netisr {

using internal::Dispatcher;
using internal::Producer;
using internal::ProtocolEntry;
using internal::RangeError;
using internal::tls_producer;
using internal::tls_workstream;
using internal::Workstream;

namespace {

// "n bytes (m MiB)", for the memory cap's errors.
std::string Bytes(uint64_t n) {
  return std::to_string(n) + " bytes (" + std::to_string(n >> 20) + " MiB)";
}

// "0, 1, 3": the CPUs a worker may be pinned to, for worker_cpus' error.
std::string CpuList(const std::vector<int>& cpus) {
  std::string out;
  for (int c : cpus) out += (out.empty() ? "" : ", ") + std::to_string(c);
  return out;
}

}  // namespace

// Forwarders of the methods off the packet path (those on it are in
// entry.cc, next to what they call).
Netisr::~Netisr() = default;
Result<ProtocolId> Netisr::Register(const ProtocolSpec& spec) {
  return Dispatcher::Of(*this).Register(spec);
}
Result<ProtocolId> Netisr::Find(std::string_view name) const {
  return Dispatcher::Of(*this).Find(name);
}
Status Netisr::AttachSource(int worker, IngressSource* source) {
  return Dispatcher::Of(*this).AttachSource(worker, source);
}
void Netisr::SetDispatchOverride(std::optional<DispatchMode> mode) {
  Dispatcher::Of(*this).SetDispatchOverride(mode);
}
Status Netisr::SetFlowAffinity(ProtocolId proto, uint32_t flowid, int ws) {
  return Dispatcher::Of(*this).SetFlowAffinity(proto, flowid, ws);
}
Status Netisr::ClearFlowAffinity(ProtocolId proto, uint32_t flowid) {
  return Dispatcher::Of(*this).ClearFlowAffinity(proto, flowid);
}
std::optional<DispatchMode> Netisr::dispatch_override() const {
  return Dispatcher::Of(*this).dispatch_override();
}
Status Netisr::Start() { return Dispatcher::Of(*this).Start(); }
void Netisr::Stop() { Dispatcher::Of(*this).Stop(); }
void Netisr::RunUntilIdle() { Dispatcher::Of(*this).RunUntilIdle(); }
bool Netisr::Idle() const { return Dispatcher::Of(*this).Idle(); }
bool Netisr::Step() { return Dispatcher::Of(*this).Step(); }
int Netisr::num_workstreams() const { return Dispatcher::Of(*this).nws_; }
const Settings& Netisr::settings() const { return Dispatcher::Of(*this).settings_; }
std::string_view Netisr::model_name() const { return Dispatcher::Of(*this).model_->name(); }
bool Netisr::self_driven() const { return Dispatcher::Of(*this).model_->self_driven(); }
bool Netisr::stopping() const {
  // Acquire: pairs with Stop's CAS and its final release store.
  const auto st = Dispatcher::Of(*this).state_.load(std::memory_order_acquire);
  return st == Dispatcher::State::kStopping || st == Dispatcher::State::kStopped;
}
Stats Netisr::GetStats() const { return Dispatcher::Of(*this).GetStats(); }
uint64_t Netisr::QueuedElsewhere(int ws) const { return Dispatcher::Of(*this).QueuedElsewhere(ws); }

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
    // One workstream per CPU a worker may run on, or per worker_cpus entry.
    if (nws == 0) {
      const size_t n = settings.worker_cpus.empty() ? cpus.size() : settings.worker_cpus.size();
      nws = std::min<int>(static_cast<int>(n), kMaxWorkstreams);
    }
    for (int cpu : settings.worker_cpus) {
      if (std::find(cpus.begin(), cpus.end(), cpu) == cpus.end())
        return Status(ErrorCode::kInvalidArgument, "worker_cpus: CPU " + std::to_string(cpu) +
                                                       " is not one this process may run on (" +
                                                       CpuList(cpus) + ")");
    }
    if (!settings.worker_cpus.empty()) cpus = settings.worker_cpus;
  }
  if (settings.flow_buckets < static_cast<uint32_t>(nws)) {
    // The flow policy places buckets (base/flow_bucket.h): workstreams past
    // the bucket count would never get a flow.
    return Status(ErrorCode::kInvalidArgument,
                  "flow_buckets " + std::to_string(settings.flow_buckets) + " is fewer than the " +
                      std::to_string(nws) + " workstreams; each workstream needs a bucket");
  }
  if (const uint64_t need = ProtocolMemoryBytes(settings, nws, settings.default_qlimit);
      need > settings.max_memory_bytes) {
    return Status(ErrorCode::kResourceExhausted,
                  "one protocol at default_qlimit " + std::to_string(settings.default_qlimit) +
                      " on " + std::to_string(nws) + " workstreams needs " + Bytes(need) +
                      ", over max_memory_bytes " + Bytes(settings.max_memory_bytes));
  }
  std::unique_ptr<Dispatcher> nisr;
  try {
    nisr = std::make_unique<Dispatcher>(settings, std::move(model), nws);
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
  return std::unique_ptr<Netisr>(std::move(nisr));
}

// ---------------------------------------------------------------------------
// Producers

Netisr::ProducerScope::ProducerScope(Netisr& n) : nisr_(n) {
  Dispatcher& nisr = Dispatcher::Of(n);
  lockprof::MutexLock lock(nisr.reg_mu_);
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
  Dispatcher& nisr = Dispatcher::Of(nisr_);
  nisr.Flush();
  tls_producer = previous_;
  lockprof::MutexLock lock(nisr.reg_mu_);
  producer_->in_use = false;
}

int Netisr::CurrentWorkstream() { return tls_workstream; }

namespace internal {

Dispatcher::Dispatcher(const Settings& settings, std::unique_ptr<WorkModel> model, int nws)
    : settings_(settings),
      nws_(nws),
      nws_not_pow2_((nws & (nws - 1)) != 0),
      flow_ws_mask_(std::min(static_cast<uint32_t>(nws), settings.flow_buckets) - 1),
      model_(std::move(model)),
      model_sleeps_(model_->sleeps()),
      clock_(settings.clock != nullptr ? *settings.clock : system_clock_),
      placement_(settings_, clock_, workstreams_) {
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
    prod->home = p < nws_ ? workstreams_[p].get() : nullptr;
    producers_.push_back(std::move(prod));
  }
}

Dispatcher::~Dispatcher() { Stop(); }

Result<ProtocolId> Dispatcher::Register(const ProtocolSpec& spec) {
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
    return bad(ErrorCode::kInvalidArgument, RangeError("qlimit", qlimit, 1, settings_.max_qlimit));

  lockprof::MutexLock lock(reg_mu_);
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
    pe->nws = nws_;
    for (size_t i = 0; i < producers_.size() * nws_; ++i)
      pe->lanes.push_back(std::make_unique<Lane>(qlimit));
    pe->buckets.assign(producers_.size(), std::vector<internal::Bucket>(settings_.flow_buckets));
    pe->feedback.resize(producers_.size());
    pe->pushed.resize(producers_.size());
    pe->nested = std::make_unique<internal::ProtocolEntry::NestedLanes[]>(producers_.size());
    pe->hints = std::make_unique<std::atomic<int16_t>[]>(settings_.flow_buckets);
  } catch (const std::bad_alloc&) {
    return bad(ErrorCode::kResourceExhausted, "out of memory allocating " + Bytes(need));
  }
  for (uint32_t i = 0; i < settings_.flow_buckets; ++i) pe->hints[i].store(-1);
  memory_bytes_ += need;
  if (spec.dispatch == DispatchMode::kAdaptive)
    adaptive_spec_.store(true, std::memory_order_relaxed);
  protocols_[n] = std::move(pe);
  // Publishes the entry: pairs with the acquire loads of num_protocols_.
  num_protocols_.store(n + 1, std::memory_order_release);
  return static_cast<ProtocolId>(n);
}

Result<ProtocolId> Dispatcher::Find(std::string_view name) const {
  const int n = num_protocols_.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (protocols_[i]->spec.name == name) return static_cast<ProtocolId>(i);
  }
  return Status(ErrorCode::kNotFound, "no protocol named '" + std::string(name) + "'");
}

Status Dispatcher::AttachSource(int worker, IngressSource* source) {
  if (state_.load() != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition, "sources can only be attached before Start");
  if (worker < 0 || worker >= nws_)
    return Status(ErrorCode::kInvalidArgument, RangeError("source worker", worker, 0, nws_ - 1));
  if (source == nullptr) return Status(ErrorCode::kInvalidArgument, "null ingress source");
  workstreams_[worker]->sources.push_back(source);
  workstreams_[worker]->live_sources.store(static_cast<int>(workstreams_[worker]->sources.size()),
                                           std::memory_order_release);
  return Status::Ok();
}

void Dispatcher::SetDispatchOverride(std::optional<DispatchMode> mode) {
  override_.store(mode ? static_cast<int>(*mode) : -1, std::memory_order_relaxed);
}

Status Dispatcher::SetFlowAffinity(ProtocolId proto, uint32_t flowid, int ws) {
  if (proto >= num_protocols_.load(std::memory_order_acquire))
    return Status(ErrorCode::kNotFound, "no protocol with id " + std::to_string(proto));
  if (ws < 0 || ws >= nws_)
    return Status(ErrorCode::kInvalidArgument, RangeError("affinity workstream", ws, 0, nws_ - 1));
  protocols_[proto]->hints[flowid & (settings_.flow_buckets - 1)].store(static_cast<int16_t>(ws),
                                                                        std::memory_order_relaxed);
  return Status::Ok();
}

Status Dispatcher::ClearFlowAffinity(ProtocolId proto, uint32_t flowid) {
  if (proto >= num_protocols_.load(std::memory_order_acquire))
    return Status(ErrorCode::kNotFound, "no protocol with id " + std::to_string(proto));
  protocols_[proto]->hints[flowid & (settings_.flow_buckets - 1)].store(-1,
                                                                        std::memory_order_relaxed);
  return Status::Ok();
}

std::optional<DispatchMode> Dispatcher::dispatch_override() const {
  const int v = override_.load(std::memory_order_relaxed);
  if (v < 0) return std::nullopt;
  return static_cast<DispatchMode>(v);
}

// ---------------------------------------------------------------------------
// Lifecycle

Status Dispatcher::Start() {
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

uint64_t Dispatcher::SumEnqueued(bool* balanced) const {
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

bool Dispatcher::Idle() const {
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

bool Dispatcher::Step() {
  return state_.load() == State::kRunning && !model_->self_driven() && model_->Pump();
}

void Dispatcher::RunUntilIdle() {
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

void Dispatcher::Stop() {
  // A CAS, never a blind exchange: the state only moves forward, so a
  // second Stop (or the destructor's) can never reopen the entry points,
  // even for an instant, after the first one closed them.
  State prev = state_.load();
  do {
    if (prev == State::kStopping || prev == State::kStopped) return;
  } while (!state_.compare_exchange_weak(prev, State::kStopping));
  if (prev == State::kRunning) model_->Stop();
  // Handlers run by the final drain may still dispatch (kStopping accepts
  // that, and the drain repeats until nothing is left); entry points after
  // this store drop under `shutdown`, since nothing would ever drain them.
  FinalDrain();
  state_.store(State::kStopped, std::memory_order_release);
}

void Dispatcher::FinalDrain() {
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
}  // namespace internal
}  // namespace netisr
