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
//    pointers: 6 x 2 x 4 x 256 x 8 B = 96 KiB for a small setup, but
//    357 MiB per protocol on 64 workstreams at qlimit 10240), bounded by
//    Settings::max_memory_bytes (the formula is there).
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
// This is the user's header. The state behind Netisr lives in
// internal::Dispatcher (internal/dispatcher.h), the one class derived from
// it: Create makes a Dispatcher, and each method here casts `this` to it (no
// pointer to follow, unlike a pimpl), so the packet path costs what it did
// when the state sat in this class.
//
// Threading: Register/Stats/SetDispatchOverride from any thread. Entry points
// from a worker (inside a handler or an ingress source) or from a thread that
// holds a ProducerScope. Start/Stop from one control thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "base/status.h"
#include "netisr/packet.h"
#include "netisr/protocol.h"
#include "netisr/settings.h"
#include "netisr/stats.h"
#include "netisr/work_model.h"

namespace netisr {

namespace internal {
class Dispatcher;
struct Producer;
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

class Netisr {
 public:
  // Errors: settings out of range (Validate), no model, no topology, one
  // protocol at default_qlimit past settings.max_memory_bytes, or out of
  // memory (kResourceExhausted).
  static Result<std::unique_ptr<Netisr>> Create(const Settings& settings,
                                                std::unique_ptr<WorkModel> model);
  virtual ~Netisr();
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
  int num_workstreams() const;
  const Settings& settings() const;
  std::string_view model_name() const;
  // True if the work model runs the workers on threads of its own (threads,
  // poll, fibers); false if the caller drives them (inline, a simulator's).
  bool self_driven() const;
  // True once Stop has begun: the workers are being joined, or Stop's final
  // drain runs what they left on the stopping thread, under their identity
  // (CurrentWorkstream() then names the workstream being drained).
  bool stopping() const;
  Stats GetStats() const;
  // Packets the producer of workstream `ws`'s worker (its polls and the
  // handlers it runs) has pushed into other workstreams' queues, ever, over
  // all protocols: one counter the producer keeps, no lock. What a
  // simulator charges the producer's side of a cross-CPU handoff by
  // (sim/profile.h). 0 for ws out of range.
  uint64_t QueuedElsewhere(int ws) const;
  // Workstream index of the calling worker thread, or -1 elsewhere.
  static int CurrentWorkstream();

 private:
  // Only internal::Dispatcher derives from Netisr.
  friend class internal::Dispatcher;
  Netisr() = default;
};

}  // namespace netisr
