// Internal data structures of the dispatcher. See netisr.h for the design;
// this file says who writes each field and what protects it.
//
// Lock order: Dispatcher::reg_mu_ (lockprof class "netisr.registration") is the
// only lock, taken by Register and ProducerScope, never on the packet path
// and never while a handler runs.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/counter.h"
#include "netisr/internal/lane_ring.h"
#include "netisr/internal/select.h"
#include "netisr/netisr.h"
#include "sched_feedback/load.h"

namespace netisr {
class Netisr;
}

namespace netisr::internal {

// A statistic with exactly one writer thread (base/counter.h).
using base::Counter;

// One producer's FIFO into one workstream for one protocol.
struct Lane {
  explicit Lane(uint32_t capacity) : ring(capacity) {}

  // SPSC ring: the producer thread pushes, the workstream's worker pops
  // (release/acquire on the ring indices, each side caching the other's:
  // lane_ring.h).
  LaneRing ring;

  // --- written by the producer only ---
  // Packets pushed into `ring`, ever. Release store after the push; read
  // with acquire by Idle() scans.
  alignas(64) std::atomic<uint64_t> enqueued{0};
  // `enqueued` after this producer's last push made from inside a handler
  // (a nested dispatch: its worker was running handlers), 0 if none. Read
  // by other producers' order fence (Dispatcher::OutputHandled), after
  // an acquire of a lane `handled` that the handler's return released, so
  // relaxed: they see at least the marks of every handler run they saw end.
  std::atomic<uint64_t> nested_mark{0};
  Counter dispatched;         // direct mode, handled in the caller
  Counter hybrid_dispatched;  // hybrid rule, handled in the caller
  Counter qdrops;             // refused at the queue limit
  // This producer's last reading of the workstream's WorkstreamProto::taken
  // (at most the current value: `taken` only grows), so that admission
  // reads the consumer's line only when the queue looks full by it.
  int64_t taken_seen = 0;
  // This producer's bit is set in the workstream's WorkstreamProto::lanes.
  bool listed = false;

  // --- written by the consumer (the workstream's worker, or the stopping
  // thread after workers joined) only ---
  // Packets popped from `ring` whose handler has returned (or that were
  // dropped at shutdown). Release store after the handler returns; paired
  // with the producer's acquire load in the direct-dispatch order check, so
  // `enqueued - handled` is what this producer still has in flight here.
  alignas(64) std::atomic<uint64_t> handled{0};
  Counter shutdown_drops;
  Counter drained_bursts;  // bursts popped from `ring` (WorkStats::bursts)
  // True while a burst of this lane is out of the ring and its handler has
  // not returned, which under the fibers model spans the handler's waits:
  // no other fiber of the worker may pop the lane meanwhile, or a later
  // packet of the flow would run first (see internal/fibers_model.cc).
  bool busy = false;
};

// Words of WorkstreamProto::lanes: one bit per producer (workers, then
// external slots).
inline constexpr int kLaneWords = 2;
static_assert(kLaneWords * 64 >= kMaxWorkstreams + kMaxExternalProducers);

// A workstream's queue for one protocol, across all producers: its length
// is `admitted - taken`, two counters on two lines so that neither side
// writes the other's (rte_ring's producer and consumer tails). With one
// shared qlen that producers fetch_add and the worker fetch_subs, the line
// crossed the CPUs three times a burst and both sides paid a locked RMW on
// it: 16% of the deferred handoff's samples (docs/benchmarks.md, "The
// queue length as two counters"). Relaxed throughout: the counters bound
// memory and feed decisions; lane rings carry the data's release/acquire
// ordering.
struct WorkstreamProto {
  // Packets admitted under the queue limit, ever, less those given back
  // (over the limit, or not fitting the ring). Producers fetch_add once a
  // burst before pushing and fetch_sub what they give back.
  alignas(64) std::atomic<int64_t> admitted{0};
  // Packets popped, ever. Written by the workstream's consumer only (its
  // worker, or the stopping thread after the workers joined), load + store.
  alignas(64) std::atomic<int64_t> taken{0};
  // Highest length a drain found (consumer only; Stats shows the max of it
  // and the current length).
  Counter watermark;
  // Producers that have pushed here (bit p of word p / 64), set once each
  // by that producer (Lane::listed) and never cleared: the worker's drain
  // scans these lanes' rings instead of reading `admitted` each round, so
  // that `admitted` stays in the producer's cache between bursts (a drain
  // that read it each burst cost the line a round trip a burst). An empty
  // listed lane costs the scan a load of its ring's write index, a cache
  // hit while its producer pushes nothing. `admitted` is still read where
  // the length itself is wanted (Qlen): by the worker in HasQueued,
  // PublishLoad and before the drained hook; by producers for the hybrid
  // rule, the adaptive fill and backpressure; by GetStats. Relaxed: a bit
  // seen late delays that lane's first drain by a round, and `admitted`
  // keeps its worker from sleeping meanwhile (HasQueued); the packets
  // themselves are ordered by the ring's release/acquire.
  alignas(64) std::array<std::atomic<uint64_t>, kLaneWords> lanes{};

  // Packets queued now. `taken` is read first: read later, it could include
  // pops of packets admitted after the `admitted` reading (never < 0 anyway).
  int64_t Qlen() const {
    const int64_t t = taken.load(std::memory_order_relaxed);
    return std::max<int64_t>(0, admitted.load(std::memory_order_relaxed) - t);
  }
};

// One flow bucket as one producer sees it (RFS's rps_dev_flow): where the
// bucket lives and where its last packet was queued. Owned by the producer
// thread; no atomics.
struct Bucket {
  // Producer chunk in which a packet of this bucket was staged but not yet
  // pushed: the bucket cannot move inside that chunk. 64-bit, as is
  // Producer::chunk, so that it never wraps (2^64 chunks are centuries at
  // 10^9 a second) and a bucket untouched since its creation (0) or for
  // 2^32 chunks never reads as marked in the current chunk: a 32-bit count
  // wrapped in ~7 minutes of per-packet DispatchSrc at 10 Mpps, and then
  // every fresh bucket ran directly on lane -1.
  uint64_t staged_chunk = 0;
  // Producer chunk in which a packet of this bucket was filed to run here
  // (directly, at the end of the chunk, after its queued packets are
  // pushed), with the workstream it counts under (direct_to) and its
  // decision. Later packets of the bucket in that chunk, or in any chunk
  // of a nested dispatch its direct runs make (Producer::direct_floor),
  // run with it: none may be queued elsewhere and overtake it.
  // Producer::chunk starts at 1, so 0 means never.
  uint64_t direct_chunk = 0;
  // Lane position (its `enqueued` count) of the bucket's last queued
  // packet, predicted when staged. Its packets are all done once the lane's
  // `handled` reaches min(tail_mark, enqueued) (the min covers tail drops,
  // which make the prediction overshoot).
  uint64_t tail_mark = 0;
  // Packets of the bucket this producer classified in the current bucket
  // epoch (Feedback::epoch_start_ns) and in the last complete one: what a
  // return would bring back (AdaptiveView::bucket_load).
  uint32_t epoch_pkts = 0;
  uint32_t last_epoch_pkts = 0;
  // Workstream the bucket is placed on; -1 until its first packet.
  int16_t placement = -1;
  // Workstream whose lane got the bucket's last queued packet, -1 if none.
  int16_t queued_to = -1;
  int16_t direct_to = -1;
  Decision direct_decision = Decision::kDirect;
  // The adaptive reason of the bucket's last placement, which such later
  // packets are counted under too.
  AdaptiveReason last_reason = AdaptiveReason::kHasRoom;
};
// Settings::flow_buckets states this size.
static_assert(sizeof(Bucket) == 40);

struct Workstream {
  int index = 0;
  int cpu = -1;  // OS CPU to bind to; -1 unbound. Fixed at Create.
  WorkerSignal signal;
  std::array<WorkstreamProto, kMaxProtocols> protos;
  // Set (once, never cleared) by the first producer that lists a lane of
  // any protocol here (WorkstreamProto::lanes), before it pushes: until
  // then the worker's drain has nothing to scan and returns at once (a
  // direct-dispatch pipeline never queues; its drain pass over every
  // protocol's lane words cost ~4 instructions a packet). Relaxed, as the
  // lane bits it summarises.
  std::atomic<bool> listed{false};
  // Set before Start (control thread), then read only by this worker.
  std::vector<IngressSource*> sources;
  // Sources not yet exhausted, published by the worker after each poll
  // round (release); read by Idle() and the work model (acquire).
  std::atomic<int> live_sources{0};
  // Handler runs in progress on this worker (queued bursts and direct runs
  // of its own producer), including ones whose handler waits under the
  // fibers model: nonzero means the worker is running handlers (what the
  // order fence's marks need; the hybrid rule reads `dispatching` below). A
  // count, not a flag, so that fibers interleaving their runs keep it
  // balanced. Read and written only on the worker's own thread.
  uint32_t draining = 0;
  // The handler runs of `draining` that hold the workstream as FreeBSD's
  // NWS_RUNNING / NWS_DISPATCHING do: queued drains, and direct runs under
  // the hybrid and adaptive rules; not the runs of a protocol in direct
  // mode, as FreeBSD's NETISR_DISPATCH_DIRECT sets neither flag. So a
  // hybrid dispatch made from inside a direct-mode handler may run in
  // place (IP's from ether_input, whose ether_nh is direct), and one made
  // from inside a queued, hybrid or adaptive run queues. The hybrid rule reads it;
  // the order fence reads `draining`. Worker's thread only, as `draining`.
  uint32_t dispatching = 0;
  // Handler runs in progress on this worker, by protocol (counts, as
  // `draining`: fibers interleave their runs): a nested dispatch's lanes
  // are recorded as the handler output of every protocol running
  // (ProtocolEntry::nested; a superset of the one that emitted it when
  // fibers interleave). Worker's thread only (or the stopping thread's
  // final drain, after the workers joined), as `draining`.
  std::array<uint16_t, kMaxProtocols> running{};
  // Published load (single writer: this worker through `meter`; anyone
  // reads, relaxed) and the worker-owned accumulator behind it.
  sched::CpuLoad load;
  std::unique_ptr<sched::LoadMeter> meter;
  // Workstreams whose CPU shares a last-level cache with this one (bit
  // mask). Fixed at Create.
  uint64_t cache_peers = 0;
};

// How often a producer re-reads the adaptive feedback (AdaptivePlacement::ReadLoads),
// ns. Published loads change once per load window (200 us); queue fills
// move by ~15 packets of a 300 ns handler in 5 us. A saturated producer's
// poll burst (32 such packets) takes longer than this, so it still reads
// once per burst; a producer polling a paced source every microsecond reads
// once per ~5 polls.
inline constexpr uint64_t kFeedbackRefreshNs = 5'000;

// Length of a bucket epoch in load windows (Bucket::epoch_pkts). 4 windows
// (800 us by default) count ~100 packets of a bucket carrying 3% of a
// 4 Mpps producer, enough to size it to ~10%; shorter epochs are noise,
// longer ones lag behind a load that changed.
inline constexpr uint64_t kBucketEpochWindows = 4;

// One producer's snapshot of what the adaptive rule reads for one protocol.
// Owned by that producer's thread; no atomics.
struct Feedback {
  // Bucket epochs (Bucket::epoch_pkts): when the current one began, and
  // how long the last complete one lasted (0 until one completes).
  uint64_t epoch_start_ns = 0;
  uint64_t last_epoch_ns = 0;
  uint64_t now_ns = 0;   // the current call's clock reading
  uint64_t read_ns = 0;  // when the fields below were read; 0 = never
  // Since read_ns: whether the other workstreams' entries were read too
  // (AdaptivePlacement::ReadOthers); until then only the producer's own
  // entry is current.
  bool others_read = false;
  // Whether any workstream other than the producer's has room (HasRoom, no
  // exclusions) by `loads` and `fill` as read: 1 or 0, set by ReadOthers;
  // -1 until then and after RefreshFill changed a fill (until ReadOthers
  // runs again). At 0 a saturated producer's home bucket stays home
  // whatever else the rule weighs (AdaptivePlacement::Place's shortcut).
  int8_t room_elsewhere = -1;
  uint32_t qlimit = 1;  // the protocol's queue limit, divides `fill`
  std::array<sched::LoadSample, kMaxWorkstreams> loads{};
  std::array<float, kMaxWorkstreams> fill{};
  uint64_t settling = 0;   // AdaptiveView::settling
  uint64_t pressured = 0;  // AdaptiveView::pressured
  // Workstreams whose queue length was re-read in the current chunk (bit
  // mask), and that length (valid where the bit is set); AdaptivePlacement::RefreshFill
  // adds what the chunk staged since to give `fill`.
  uint64_t fill_fresh = 0;
  std::array<int64_t, kMaxWorkstreams> qlen{};
};

struct ProtocolEntry {
  ProtocolSpec spec;
  uint32_t qlimit = 0;
  // Workstreams of the dispatcher; fixed.
  int nws = 0;
  // lanes[producer * nws + workstream]; created at registration, fixed after.
  std::vector<std::unique_ptr<Lane>> lanes;
  // The lane from `producer` into `workstream`: the one copy of the index.
  Lane& lane(int producer, int workstream) const { return *lanes[producer * nws + workstream]; }
  // buckets[producer][bucket]: each producer's view of the flow buckets;
  // written only by that producer's thread.
  std::vector<std::vector<Bucket>> buckets;
  // Affinity hints by bucket: a workstream, or -1 for none. Written by any
  // thread (SetFlowAffinity), read by producers; relaxed, since a producer
  // acts on a hint only once the bucket has drained, whenever it sees it.
  std::unique_ptr<std::atomic<int16_t>[]> hints;
  // feedback[producer]: written only by that producer's thread.
  std::vector<Feedback> feedback;
  // pushed[producer]: the lanes (bit per workstream) that producer pushed
  // into and has not since seen drained (a superset of those with packets
  // outstanding). Written only by that producer's thread: set by
  // EnqueueToWorkstream, cleared by NothingOutstanding. A line each, so
  // that producers do not share one.
  struct alignas(64) PushedLanes {
    uint64_t mask = 0;
  };
  std::vector<PushedLanes> pushed;
  // nested[producer].into[t]: the lanes of protocol t (bit per workstream)
  // that producer ever pushed into from inside a handler of THIS protocol
  // (its handler output; Lane::nested_mark set), never cleared: the order
  // fence for this protocol's buckets reads only those. Written only by
  // that producer's thread (relaxed, before the nested_mark store), read by
  // any producer (relaxed, ordered as nested_mark). Lines of their own.
  struct alignas(64) NestedLanes {
    std::array<std::atomic<uint64_t>, kMaxProtocols> into{};
  };
  std::unique_ptr<NestedLanes[]> nested;
};

struct Producer {
  Netisr* owner = nullptr;
  int index = 0;
  int home_ws = -1;  // the worker's workstream, or -1 for an external slot
  // workstreams_[home_ws], or nullptr for an external slot: saves the
  // direct fast path an index lookup. Set at construction, never changed.
  Workstream* home = nullptr;
  // External slots: claimed and released under Dispatcher::reg_mu_.
  bool in_use = false;
  // Workstreams pushed to since the last Flush; owner thread only.
  uint64_t wake_mask = 0;
  // Drops this producer counted for reasons other than queue_full.
  std::array<Counter, static_cast<size_t>(DropReason::kCount)> drops;
  // Packets pushed into other workstreams' lanes (target != index), ever:
  // the sum of those lanes' `enqueued`, kept here so that QueuedElsewhere
  // is one load, not a pass over every workstream (at 64 CPUs that pass was
  // 12% of a simulation's instructions). Single writer: the owner thread.
  Counter queued_elsewhere;
  // Adaptive state, owner thread only: saturation hysteresis of its home
  // CPU, when its current migration interval began (its first move in it)
  // and the load, in CPUs, moved out in that interval
  // (AdaptiveSettings::migration_step).
  bool saturated = false;
  uint64_t last_migration_ns = 0;
  double interval_moved = 0;
  // By workstream: the load-window count (CpuLoad::windows) it must reach
  // before this producer moves another bucket there (settle_windows after
  // the last move); 0 = no move pending judgement.
  std::array<uint64_t, kMaxWorkstreams> settle_until_windows{};
  // By workstream: the bucket load, in CPUs, this producer moved out to it
  // since it last began settling (AdaptiveView::pending; each bucket at
  // least 1/128, its measured load unknown until the first bucket epoch
  // ends); meaningful only while the protocol's Feedback::settling has its
  // bit, reset by the first move out after. Shared by the producer's
  // adaptive protocols: a move under one may reset what another counted
  // (those moves are then forgotten).
  std::array<float, kMaxWorkstreams> settle_pending{};
  // By workstream: when this producer last held back its sources because
  // its lane there had packets outstanding in a queue filled to at least
  // AdaptiveSettings::backpressure_fill of its qlimit (FastClock ns; 0 never).
  std::array<uint64_t, kMaxWorkstreams> pressured_ns{};
  // Chunks of packets classified so far (see Bucket::staged_chunk); the
  // first chunk is 1, so a bucket's 0 never matches.
  uint64_t chunk = 0;
  // Chunks from direct_floor on may have packets filed to run here whose
  // handlers have not run yet: the current chunk, and, while a chunk's
  // direct runs dispatch again (a nested Enter on this producer), that
  // outer chunk and every chunk since. A bucket filed to run here in one of
  // them (Bucket::direct_chunk >= direct_floor) keeps that decision:
  // re-placed by the nested call, it could move, and what it then emits
  // elsewhere could overtake what the outer chunk's packets emit here.
  // direct_depth: chunks whose direct runs are in progress (nesting depth).
  uint64_t direct_floor = 0;
  uint32_t direct_depth = 0;
  // Statistics, single writer: adaptive decisions by reason and bucket moves.
  std::array<Counter, static_cast<size_t>(AdaptiveReason::kCount)> decisions;
  Counter migrations;
};

}  // namespace netisr::internal
