// Netisr: the dispatcher. Protocols register; ingress code hands it packets;
// it runs each packet's handler now (direct dispatch) or queues it to the
// workstream its policy names (deferred dispatch), never reordering a flow.
//
// Design (after FreeBSD's netisr2, R. Watson, BSDCan 2007, and netisr.c):
//  * One workstream per worker CPU. Its input is a set of lanes: one bounded
//    single-producer/single-consumer ring per (producer, workstream,
//    protocol). Producers are the workers themselves plus a few external
//    threads. SPSC rings need no lock and no read-modify-write per packet;
//    the price is memory (producers x workstreams x protocols x qlimit
//    pointers: 6 x 2 x 4 x 256 x 8 B = 96 KiB for a small setup).
//  * The queue limit is FreeBSD's: per workstream and protocol, across all
//    producers, enforced with one fetch_add per burst on a counter the
//    workstream shares with its producers.
//  * Handoff is batched: a burst goes into a lane with one ring update, and
//    the consumer is woken at most once per burst (Flush), and only if it
//    was asleep (WorkerSignal).
//  * Order: a lane is FIFO and one flow (policy kFlow) or one source (kSource)
//    maps to one workstream at a time, so packets of a flow from one producer
//    stay in order. Each lane counts packets enqueued and handled (single
//    writer each, release/acquire). Flows (kFlow) are hashed into flow
//    buckets, and each producer remembers per bucket the lane and position
//    ("tail mark", as RFS does) of its last queued packet: until the lane's
//    handled count passes that mark, the bucket's packets go behind it, and
//    only then may the bucket run directly or move (mode change, affinity
//    hint, adaptive migration). Unbucketed packets use the whole lane's
//    outstanding count the same way.
//  * Adaptive dispatch (DispatchMode::kAdaptive) is a pure function of the
//    bucket's placement, this CPU's saturation and the loads every worker
//    publishes (internal/select.h); the simulator calls the same code.
//
// Threading: Register/Stats/SetDispatchOverride from any thread. Entry points
// from a worker (inside a handler or an ingress source) or from a thread that
// holds a ProducerScope. Start/Stop from one control thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "lockprof/lock.h"
#include "netisr/packet.h"
#include "netisr/protocol.h"
#include "netisr/settings.h"
#include "netisr/stats.h"
#include "netisr/status.h"
#include "netisr/work_model.h"

namespace netisr {

namespace internal {
struct Bucket;
struct Feedback;
enum class Decision : uint8_t;
struct Producer;
struct ProtocolEntry;
struct TestPeer;
struct Workstream;
// Lock class of Netisr::reg_mu_.
inline constinit lockprof::LockClass kRegistrationLock("netisr.registration");
}  // namespace internal

class Netisr;

// Something a worker polls for new packets, as a NIC RX queue is polled.
// Poll and Exhausted are called only on the worker it is attached to.
class IngressSource {
 public:
  virtual ~IngressSource() = default;
  // Brings in at most `budget` packets through nisr's entry points; returns
  // how many it brought in (0 when nothing is pending). Fewer than `budget`
  // should mean nothing more was pending (NAPI's rule): netisr counts polls
  // that return their whole budget as the source being ahead of its worker
  // (sched::LoadSample::full_polls). A source that filters may return more
  // than `budget`, counting what it received and dropped. A source that
  // returns short because its packet pool ran dry reads as keeping up;
  // its packets then sit in queues, which the queueing-delay rule sees.
  virtual size_t Poll(Netisr& nisr, size_t budget) = 0;
  // True once the source will never produce again (end of a trace).
  virtual bool Exhausted() const = 0;
};

// What happened to one packet handed to an entry point.
enum class Outcome : uint8_t {
  kHandled,  // its handler ran before the call returned
  kQueued,   // it waits in a workstream's queue
  kDropped,  // netisr released it and counted the reason
};

struct BurstOutcome {
  uint32_t handled = 0;
  uint32_t queued = 0;
  uint32_t dropped = 0;
};

class Netisr final : private WorkerRuntime {
 public:
  // Errors: settings out of range (Validate), no model, no topology, one
  // protocol at default_qlimit past settings.max_memory_bytes, or out of
  // memory (kResourceExhausted).
  static Result<std::unique_ptr<Netisr>> Create(const Settings& settings,
                                                std::unique_ptr<WorkModel> model);
  ~Netisr() override;
  Netisr(const Netisr&) = delete;
  Netisr& operator=(const Netisr&) = delete;

  // --- Configuration --------------------------------------------------
  // Registers a protocol; returns its id. Allowed before and after Start.
  // Errors: empty/long/duplicate name, missing handler, kCpu without
  // m2cpuid, qlimit out of range, more than kMaxProtocols, memory past
  // settings.max_memory_bytes (kResourceExhausted, naming the size).
  Result<ProtocolId> Register(const ProtocolSpec& spec);
  // The id registered under `name`, or kNotFound.
  Result<ProtocolId> Find(std::string_view name) const;
  // Attaches an ingress source to be polled by `worker`. Before Start only.
  Status AttachSource(int worker, IngressSource* source);
  // Sets or clears (nullopt) the global dispatch override; takes effect for
  // the next packet on every thread, without reordering any flow.
  void SetDispatchOverride(std::optional<DispatchMode> mode);
  // Affinity hint from an upper layer (e.g. TCP: "this connection lives on
  // workstream ws"): packets of the flow's bucket go to `ws` under the flow
  // policy (and the adaptive rule leaves the bucket there). Applied by each
  // producer once the bucket's queued packets have drained, so no flow is
  // reordered. Hints are per flow bucket, as in RFS's flow table: flows
  // that share a bucket share the hint. Any thread; lock-free.
  Status SetFlowAffinity(ProtocolId proto, uint32_t flowid, int ws);
  Status ClearFlowAffinity(ProtocolId proto, uint32_t flowid);
  std::optional<DispatchMode> dispatch_override() const;

  // --- Lifecycle --------------------------------------------------------
  Status Start();
  // Stops sources and workers, then drains or drops (settings.shutdown)
  // whatever is still queued. Idempotent. External producers must have
  // stopped calling the entry points first; packets handed to an entry point
  // after Stop returned are dropped under `shutdown`.
  void Stop();
  // Caller-driven models: pumps until sources are exhausted and nothing is
  // queued. Self-driven models: waits (polling every 50 us) for the same.
  void RunUntilIdle();
  bool Idle() const;
  // Caller-driven models: one round of every worker (sources, then queues),
  // for simulators that interleave their own events. Returns true if any
  // worker did work. Self-driven models: does nothing, returns false.
  bool Step();

  // --- Entry points (netisr_dispatch_src / netisr_queue_src) -----------
  // Dispatch with the protocol's mode (or the override).
  Outcome DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt);
  BurstOutcome DispatchBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  // Always deferred.
  Outcome QueueSrc(uint16_t source, ProtocolId proto, Packet* pkt);
  BurstOutcome QueueBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  // Wakes the workstreams this thread queued to since its last flush. Entry
  // points called outside a worker flush by themselves; workers flush after
  // each source poll and each drained burst.
  void Flush();

  // Lets a non-worker thread call the entry points; holds one of
  // settings.max_external_producers slots until destroyed. Flushes on exit.
  class ProducerScope {
   public:
    explicit ProducerScope(Netisr& nisr);
    ~ProducerScope();
    ProducerScope(const ProducerScope&) = delete;
    ProducerScope& operator=(const ProducerScope&) = delete;
    // Ok, or kResourceExhausted when every external slot was taken.
    const Status& status() const { return status_; }

   private:
    Netisr& nisr_;
    internal::Producer* producer_ = nullptr;
    internal::Producer* previous_ = nullptr;
    Status status_;
  };

  // --- Introspection ---------------------------------------------------
  int num_workstreams() const { return nws_; }
  const Settings& settings() const { return settings_; }
  std::string_view model_name() const { return model_->name(); }
  Stats GetStats() const;
  // Workstream index of the calling worker thread, or -1 elsewhere.
  static int CurrentWorkstream();

 private:
  friend struct internal::TestPeer;
  Netisr(const Settings& settings, std::unique_ptr<WorkModel> model, int nws);

  // WorkerRuntime
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

  struct Chunk;
  struct CallContext;
  bool TryDirectFastPath(uint16_t source, ProtocolId proto, Packet* pkt);
  // Workstream of a flow id (or source id) under the flow (or source)
  // policy: id % workstreams.
  int FlowWorkstream(uint32_t flowid) const;
  template <bool kQueueOnly>
  BurstOutcome Enter(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts);
  // Points cc.feedback at this producer's snapshot of every workstream's
  // load and queue fill and its own saturation, re-read at most every
  // internal::kFeedbackRefreshNs.
  void ReadLoads(CallContext& cc, internal::ProtocolEntry& pe, ProtocolId proto) const;
  // Starts a new bucket epoch once internal::kBucketEpochWindows load
  // windows have passed, keeping each bucket's count of the one that ended.
  void RollBucketEpoch(internal::Feedback& fb, internal::ProtocolEntry& pe, int producer) const;
  // AdaptiveView::bucket_load of b for the producer on workstream `here`.
  double BucketLoad(const internal::Feedback& fb, const internal::Bucket& b, ProtocolId proto,
                    int here) const;
  // Re-reads workstream t's queue fill into fb, once per chunk (plus what
  // this chunk staged for t so far); the spill test needs it current.
  void RefreshFill(internal::Feedback& fb, const internal::ProtocolEntry& pe, ProtocolId proto,
                   int t, const Chunk& ch) const;
  // Chooses direct or queued (and where) for one packet and files it into
  // the chunk; false if the policy cannot place it.
  bool Classify(CallContext& cc, internal::ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                Chunk& ch);
  // Direct, hybrid-direct or queue for a packet without a flow bucket.
  internal::Decision DecideUnbucketed(const CallContext& cc, const internal::ProtocolEntry& pe,
                                      ProtocolId proto, int target, const Chunk& ch) const;
  // Placement of a drained flow bucket: policy or hint, or the adaptive rule.
  int PlaceBucket(CallContext& cc, internal::ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                  internal::Bucket& b, uint32_t bi, internal::Decision* d);
  void RunDirect(CallContext& cc, internal::ProtocolEntry& pe, ProtocolId proto,
                 std::span<Packet* const> burst);
  // Pushes the chunk's packets staged for workstream `t` into the caller's
  // lane under the queue limit; returns (queued, dropped).
  std::pair<uint32_t, uint32_t> EnqueueToWorkstream(CallContext& cc, internal::ProtocolEntry& pe,
                                                    ProtocolId proto, int t, const Chunk& ch);
  void Drop(internal::Producer* prod, ProtocolId proto, DropReason why, Packet* pkt);
  void RunHandler(internal::ProtocolEntry& pe, std::span<Packet* const> burst);
  // Runs (or, at shutdown in drop mode, drops) the workstream's queued
  // packets. `now` is the caller's latest clock reading, advanced past each
  // handler; nullptr for the final pass after the workers stopped.
  bool DrainWorkstream(int ws, uint64_t* now);
  void FinalDrain();
  // Publishes the worker's load if its measurement window has elapsed.
  void TickLoad(internal::Workstream& ws, uint64_t now);
  // True while one of worker `w`'s own lanes of an adaptive protocol feeds
  // a queue past kOverloadFill: the worker then leaves its sources unpolled.
  // Records the time in its Producer::pressured_ns (worker w's thread only).
  bool Backpressured(int w, uint64_t now);
  uint64_t SumEnqueued(bool* balanced) const;

  const Settings settings_;
  const int nws_;
  const std::unique_ptr<WorkModel> model_;

  // Protects the protocol table writes (protocols_, num_protocols_'s store)
  // and external-producer slot claims (Producer::in_use). The only lock in
  // netisr, a leaf (nothing is taken under it; Register runs no handler under
  // it); never taken on the packet path or while a handler runs. Profiled as
  // "netisr.registration".
  lockprof::Mutex reg_mu_{internal::kRegistrationLock};
  // Protocol table: entry i is written under reg_mu_ before the release
  // store that makes num_protocols_ > i, and never changes or goes away
  // after, so readers that load num_protocols_ with acquire need no lock.
  std::array<std::unique_ptr<internal::ProtocolEntry>, kMaxProtocols> protocols_;
  std::atomic<int> num_protocols_{0};
  // ProtocolMemoryBytes summed over the registered protocols; under reg_mu_.
  uint64_t memory_bytes_ = 0;
  std::vector<std::unique_ptr<internal::Workstream>> workstreams_;  // nws_, fixed
  // Producers 0..nws_-1 are the workers; the rest are external slots.
  std::vector<std::unique_ptr<internal::Producer>> producers_;  // fixed after Create
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
};

}  // namespace netisr
