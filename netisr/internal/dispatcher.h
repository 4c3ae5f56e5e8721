// internal::Dispatcher: the state and mechanism behind netisr::Netisr (the
// design is in netisr.h; who writes each field of the structures it holds,
// and what protects it, in structures.h). Not part of the user's API.
//
// Netisr has no data: Create makes a Dispatcher, and Netisr's methods reach
// it with a static downcast (Dispatcher::Of), which costs no load, so the
// packet path is what it was when this state sat in Netisr.
//
// The implementation is split by concern:
//   netisr.cc             construction, registration, configuration, lifecycle
//   settings.cc           Validate, ProtocolMemoryBytes
//   entry.cc              entry points, classification, enqueue, Flush
//   adaptive_placement.cc the adaptive placement (internal/adaptive_placement.h)
//   workers.cc            the WorkerRuntime: sources, drain, load ticks,
//                         backpressure
//   stats.cc              GetStats (with the Stats helpers)
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockprof/lock.h"
#include "netisr/internal/adaptive_placement.h"
#include "netisr/internal/select.h"
#include "netisr/internal/structures.h"
#include "netisr/netisr.h"
#include "netisr/worker_runtime.h"
#include "sched_feedback/clock.h"

namespace netisr::internal {

// Lock class of Dispatcher::reg_mu_.
inline constinit lockprof::LockClass kRegistrationLock("netisr.registration");

// Chunk of a burst classified at once; bounds the stack arrays in entry.cc.
inline constexpr size_t kChunk = 64;

// The calling thread's producer identity and workstream (defined in
// entry.cc). Set permanently on worker threads, for the duration of RunOnce
// on caller-driven models, and by ProducerScope on external threads.
// constinit: no dynamic initialisation, so other files read them without a
// TLS wrapper call.
extern constinit thread_local Producer* tls_producer;
extern constinit thread_local int tls_workstream;

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
  IdentityScope(const IdentityScope&) = delete;
  IdentityScope& operator=(const IdentityScope&) = delete;

 private:
  Producer* prev_p_;
  int prev_ws_;
};

// "what v out of range [lo, hi]", the settings' and arguments' error text.
std::string RangeError(const char* what, uint64_t v, uint64_t lo, uint64_t hi);

// Members are public to the dispatcher's own files (listed above); nothing
// outside netisr/ includes this header but tests (TestPeer).
class Dispatcher final : public Netisr, private WorkerRuntime, private OrderFence {
 public:
  Dispatcher(const Settings& settings, std::unique_ptr<WorkModel> model, int nws);
  ~Dispatcher() override;

  static Dispatcher& Of(Netisr& n) { return static_cast<Dispatcher&>(n); }
  static const Dispatcher& Of(const Netisr& n) { return static_cast<const Dispatcher&>(n); }

  // --- Netisr's methods (see netisr.h), which forward here ---
  Result<ProtocolId> Register(const ProtocolSpec& spec);
  Result<ProtocolId> Find(std::string_view name) const;
  Status AttachSource(int worker, IngressSource* source);
  void SetDispatchOverride(std::optional<DispatchMode> mode);
  Status SetFlowAffinity(ProtocolId proto, uint32_t flowid, int ws);
  Status ClearFlowAffinity(ProtocolId proto, uint32_t flowid);
  std::optional<DispatchMode> dispatch_override() const;
  Status Start();
  void Stop();
  void RunUntilIdle();
  bool Idle() const;
  bool Step();
  Outcome DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt);
  BurstOutcome DispatchBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  Outcome QueueSrc(uint16_t source, ProtocolId proto, Packet* pkt);
  BurstOutcome QueueBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  void Flush();
  Stats GetStats() const;
  uint64_t QueuedElsewhere(int ws) const;  // Netisr::QueuedElsewhere

  // The mode a packet of `pe` is dispatched with: the global override if
  // set, else the protocol's own. The one copy of that rule.
  DispatchMode ModeFor(const ProtocolEntry& pe) const {
    const int ov = override_.load(std::memory_order_relaxed);
    return ov >= 0 ? static_cast<DispatchMode>(ov) : pe.spec.dispatch;
  }

  // --- WorkerRuntime (workers.cc) ---
  int num_workers() const override { return nws_; }
  Status OnWorkerStart(int worker) override;
  bool RunOnce(int worker) override;
  bool PollSources(int worker) override;
  bool DrainQueues(int worker) override;
  bool HasQueued(int worker) const override;
  bool HasLiveSources(int worker) const override;
  uint32_t idle_sleep_us() const override { return settings_.idle_sleep_us; }
  uint32_t idle_spin() const override { return settings_.idle_spin; }
  WorkerSignal& signal(int worker) override;
  WorkerRuntime& runtime() { return *this; }

  // --- The packet path (entry.cc) ---
  struct Chunk;
  struct CallContext;
  bool TryDirectFastPath(uint16_t source, ProtocolId proto, Packet* pkt);
  [[gnu::noinline]] Outcome DispatchSrcGeneral(uint16_t source, ProtocolId proto, Packet* pkt);
  // Workstream of a flowid under the flow policy: its flow bucket's
  // (base/flow_bucket.h).
  int FlowWorkstream(uint32_t flowid) const {
    return nws_not_pow2_ ? static_cast<int>((flowid & (settings_.flow_buckets - 1)) %
                                            static_cast<uint32_t>(nws_))
                         : static_cast<int>(flowid & flow_ws_mask_);
  }
  // Workstream of a source id under the source policy (and kFlow's fallback
  // for a packet without a flowid): source % workstreams.
  int SourceWorkstream(uint16_t source) const {
    return nws_not_pow2_ ? source % nws_ : source & (nws_ - 1);
  }
  // Workstream of a kFlow packet of flow bucket `bucket` when nothing holds
  // it elsewhere: the bucket's affinity hint if valid, else FlowWorkstream.
  int HintedWorkstream(const ProtocolEntry& pe, uint32_t bucket, uint32_t flowid) const;
  template <bool kQueueOnly>
  BurstOutcome Enter(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  // Chooses direct or queued (and where) for one packet and files it into
  // the chunk; false if the policy cannot place it. `cpu_ws` is m2cpuid's
  // answer for the packet (read for policy kCpu only).
  inline bool Classify(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt, Chunk& ch,
                       int cpu_ws);
  // Classify's rules for a whole chunk of a kFlow protocol outside the
  // adaptive mode, in passes (entry.cc).
  void ClassifyFlowChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                         std::span<Packet* const> chunk, Chunk& ch);
  // Direct mode's chunk at a time, for a chunk whose every packet has a
  // flowid: true (and each packet counted on its lane) when every packet
  // runs here, which holds when this producer has nothing of the protocol
  // outstanding in any lane (then no bucket has anything queued to wait
  // behind).
  bool DirectChunk(CallContext& cc, ProtocolEntry& pe, std::span<Packet* const> chunk);
  // The hybrid rule's chunk at a time, for a chunk whose every packet has a
  // flowid: true (and each packet counted) when every packet runs here
  // under it with no bucket to wait behind (entry.cc).
  bool HybridChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                   std::span<Packet* const> chunk);
  // The adaptive rule's common case a chunk at a time, for a chunk whose
  // every packet has a flowid: true (buckets marked, decisions and lane
  // counted) when Classify would run every packet here with the reason its
  // bucket already carries; the caller runs the chunk (entry.cc).
  bool AdaptiveChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                     std::span<Packet* const> chunk);
  // True once every lane this producer pushed into for `pe` has drained.
  bool NothingOutstanding(const Producer& prod, ProtocolEntry& pe) const;
  // Files a classified packet: into the chunk's direct list, or staged for
  // `target` with its bucket's tail mark (b may be null: no bucket).
  void File(CallContext& cc, ProtocolEntry& pe, Packet& pkt, Bucket* b, int target, Decision d,
            Chunk& ch);
  // Direct, hybrid-direct or queue for a packet without a flow bucket.
  Decision DecideUnbucketed(const CallContext& cc, const ProtocolEntry& pe, ProtocolId proto,
                            int target, const Chunk& ch) const;
  // Placement of a drained flow bucket: policy or hint, or the adaptive rule
  // (which keeps it on `last_ran`, where its last packet ran or was queued,
  // -1 none, until that workstream's handler output is handled).
  inline int PlaceBucket(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                         Bucket& b, uint32_t bi, int last_ran, Decision* d);
  // OrderFence: true once every packet workstream w's worker pushed from
  // inside a handler of `proto`, into any protocol, has been handled. Reads
  // the lanes in ProtocolEntry::nested only (none outside nested workloads).
  bool OutputHandled(int w, ProtocolId proto) const override;
  void RunDirect(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                 std::span<Packet* const> burst);
  // Pushes `batch` (the chunk's packets staged for workstream `t`, in
  // order) into the caller's lane under the queue limit; returns (queued,
  // dropped).
  std::pair<uint32_t, uint32_t> EnqueueToWorkstream(CallContext& cc, ProtocolEntry& pe,
                                                    ProtocolId proto, int t,
                                                    std::span<Packet* const> batch);
  void Drop(Producer* prod, ProtocolId proto, DropReason why, Packet* pkt);
  // Runs `pe`'s handler on `burst` on workstream ws's worker, counted in
  // Workstream::running for the order fence.
  void RunHandler(Workstream& ws, ProtocolId proto, ProtocolEntry& pe,
                  std::span<Packet* const> burst) {
    ++ws.running[proto];
    pe.spec.handler(burst);
    --ws.running[proto];
  }
  // Records lane `lane` (protocol `proto`, into workstream t), just pushed
  // by a nested dispatch, as handler output of the protocols running on
  // cc.here (Lane::nested_mark, ProtocolEntry::nested).
  void MarkHandlerOutput(const CallContext& cc, ProtocolId proto, int t, Lane& lane);

  // --- Workers (workers.cc) ---
  // Runs (or, at shutdown in drop mode, drops) the workstream's queued
  // packets. `now` is the caller's latest clock reading, advanced past each
  // handler; nullptr for the final pass after the workers stopped.
  bool DrainWorkstream(int ws, uint64_t* now);
  // DrainWorkstream's work on one lane of protocol x: up to
  // kBurstsPerLanePerRound bursts; adds what its first pop found queued to
  // `found`. True if it handled (or dropped) any.
  bool DrainLane(Workstream& ws, ProtocolId x, ProtocolEntry& pe, Lane& lane, uint64_t* now,
                 size_t& found);
  void FinalDrain();
  // Publishes the worker's load if its measurement window has elapsed
  // (inline: the test runs every poll round; PublishLoad once a window).
  inline void TickLoad(Workstream& ws, uint64_t now);
  void PublishLoad(Workstream& ws, uint64_t now);
  // True while one of worker `w`'s own lanes of an adaptive protocol has
  // packets outstanding in a queue filled to at least
  // AdaptiveSettings::backpressure_fill of its qlimit: the worker then
  // leaves its sources unpolled.
  // Records the time in its Producer::pressured_ns (worker w's thread only).
  bool Backpressured(int w);
  // The clock the workers' load metering reads: FastClock inline unless
  // settings.clock was given (one predictable branch per read).
  uint64_t Now() const {
    return settings_.clock == nullptr ? sched::FastClock::Global().NowNs() : clock_.NowNs();
  }
  uint64_t SumEnqueued(bool* balanced) const;

  const Settings settings_;
  const int nws_;
  // FlowWorkstream and SourceWorkstream without a division (~20-40 cycles)
  // for a power-of-two workstream count: then each rule is one AND, with
  // flow_ws_mask_ = min(workstreams, buckets) - 1 for flows. Set at
  // construction.
  const bool nws_not_pow2_;
  const uint32_t flow_ws_mask_;
  const std::unique_ptr<WorkModel> model_;
  // model_->sleeps(), read once: Flush's per-call question.
  const bool model_sleeps_;

  // Protects the protocol table writes (protocols_, num_protocols_'s store,
  // memory_bytes_) and external-producer slot claims (Producer::in_use).
  // The dispatcher's only lock, a leaf (nothing is taken under it; Register
  // runs no handler under it); never taken on the packet path or while a
  // handler runs. Profiled as "netisr.registration". Take it through
  // lockprof::MutexLock so the thread-safety analysis sees it held;
  // protocols_ cannot be GUARDED_BY (read lock-free after the acquire load
  // of num_protocols_), nor Producer::in_use (another class).
  lockprof::Mutex reg_mu_{kRegistrationLock};
  // Protocol table: entry i is written under reg_mu_ before the release
  // store that makes num_protocols_ > i, and never changes or goes away
  // after, so readers that load num_protocols_ with acquire need no lock.
  std::array<std::unique_ptr<ProtocolEntry>, kMaxProtocols> protocols_;
  std::atomic<int> num_protocols_{0};
  // True once a protocol registered with DispatchMode::kAdaptive (specs do
  // not change after). Written under reg_mu_ before num_protocols_'s
  // release store; read relaxed by Backpressured, which skips its pass over
  // the protocols without it (a round that misses a fresh registration
  // only holds back one round later).
  std::atomic<bool> adaptive_spec_{false};
  // ProtocolMemoryBytes summed over the registered protocols; under reg_mu_.
  uint64_t memory_bytes_ GUARDED_BY(reg_mu_) = 0;
  std::vector<std::unique_ptr<Workstream>> workstreams_;  // nws_, fixed
  // Producers 0..nws_-1 are the workers; the rest are external slots.
  std::vector<std::unique_ptr<Producer>> producers_;  // fixed after Create
  // Drops by threads with no producer identity (misuse, cold path):
  // relaxed fetch_add, statistic only.
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DropReason::kCount)> orphan_drops_{};

  // Global dispatch override: -1 none, else a DispatchMode. Relaxed: a mode
  // change needs no ordering with packets, since order is kept by the lane
  // counters whatever mode each packet sees.
  std::atomic<int> override_{-1};
  // kStopping from Stop's start until its final drain is done; then
  // kStopped, after which the entry points drop under `shutdown`. Written by
  // the control thread (Start/Stop); read by the entry points.
  enum class State : uint8_t { kCreated, kRunning, kStopping, kStopped };
  std::atomic<State> state_{State::kCreated};

  // The dispatcher's clock: settings.clock if set (a simulator's virtual
  // one), else FastClock; and the placement that reads it.
  SystemClock system_clock_;
  const Clock& clock_;
  AdaptivePlacement placement_;
};

}  // namespace netisr::internal
