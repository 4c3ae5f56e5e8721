// The packet path: Netisr's entry points, classification of each packet
// (direct, hybrid-direct or queued, and where), the enqueue into lanes under
// the queue limit, and Flush. The adaptive placement it calls for drained
// flow buckets is in adaptive_placement.cc. Design in netisr.h.
#include <algorithm>

#include "netisr/internal/dispatcher.h"
#include "netisr/internal/fiber_worker.h"
#include "netisr/netisr.h"

namespace netisr {

using internal::Dispatcher;

// The entry points' forwarders sit here, next to what they call, so that
// the compiler can inline the call.
Outcome Netisr::DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  return Dispatcher::Of(*this).DispatchSrc(source, proto, pkt);
}
Outcome Netisr::QueueSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  return Dispatcher::Of(*this).QueueSrc(source, proto, pkt);
}
BurstOutcome Netisr::DispatchBurst(uint16_t source, ProtocolId proto,
                                   std::span<Packet* const> pkts) {
  return Dispatcher::Of(*this).DispatchBurst(source, proto, pkts);
}
BurstOutcome Netisr::QueueBurst(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts) {
  return Dispatcher::Of(*this).QueueBurst(source, proto, pkts);
}
void Netisr::Flush() { Dispatcher::Of(*this).Flush(); }

namespace internal {

constinit thread_local Producer* tls_producer = nullptr;
constinit thread_local int tls_workstream = -1;

void FlushCurrentProducer() {
  if (tls_producer != nullptr) tls_producer->owner->Flush();
}

// ---------------------------------------------------------------------------
// The packet path

// The fast path is inlined here and the general one is a tail call, so a
// packet that runs directly pays one call frame, not two, and nothing is
// spilled for Enter on its way.
Outcome Dispatcher::DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  if (TryDirectFastPath(source, proto, pkt)) [[likely]]
    return Outcome::kHandled;
  return DispatchSrcGeneral(source, proto, pkt);
}

Outcome Dispatcher::DispatchSrcGeneral(uint16_t source, ProtocolId proto, Packet* pkt) {
  const BurstOutcome r = Enter<false>(source, proto, {&pkt, 1});
  return r.handled ? Outcome::kHandled : r.queued ? Outcome::kQueued : Outcome::kDropped;
}

Outcome Dispatcher::QueueSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  const BurstOutcome r = Enter<true>(source, proto, {&pkt, 1});
  return r.queued ? Outcome::kQueued : Outcome::kDropped;
}

BurstOutcome Dispatcher::DispatchBurst(uint16_t source, ProtocolId proto,
                                       std::span<Packet* const> pkts) {
  return Enter<false>(source, proto, pkts);
}

BurstOutcome Dispatcher::QueueBurst(uint16_t source, ProtocolId proto,
                                    std::span<Packet* const> pkts) {
  return Enter<true>(source, proto, pkts);
}

// The common case of direct dispatch without Enter's chunk machinery: a
// producer, a kFlow protocol in kDirect mode and a packet whose flow bucket
// has nothing queued, or a kSource protocol whose lane from this producer is
// empty (so nothing can be overtaken). Same effects and counters as the
// general path; anything else falls through to it.
[[gnu::always_inline]] inline bool Dispatcher::TryDirectFastPath(uint16_t source, ProtocolId proto,
                                                                 Packet* pkt) {
  Producer* const prod = tls_producer;
  // After Stop, Enter drops the packet (relaxed: Enter re-reads it).
  if (prod == nullptr || prod->owner != this ||
      proto >= num_protocols_.load(std::memory_order_acquire) ||
      state_.load(std::memory_order_relaxed) == State::kStopped) {
    return false;
  }
  ProtocolEntry& pe = *protocols_[proto];
  if (ModeFor(pe) != DispatchMode::kDirect) return false;
  Lane* lane;  // the one this packet is counted on (dispatched)
  if (pe.spec.policy == Policy::kFlow && pkt->has_flowid()) {
    const uint32_t bi = pkt->flowid & (settings_.flow_buckets - 1);
    if (pe.buckets[prod->index][bi].queued_to >= 0) return false;
    lane = &pe.lane(prod->index, HintedWorkstream(pe, bi, pkt->flowid));
  } else if (pe.spec.policy == Policy::kSource) {
    lane = &pe.lane(prod->index, SourceWorkstream(source));
    // Acquire: pairs with the consumer's release after the handler ran.
    if (lane->handled.load(std::memory_order_acquire) !=
        lane->enqueued.load(std::memory_order_relaxed)) {
      return false;
    }
  } else {
    return false;
  }
  if (pkt->source != source) pkt->source = source;
  lane->dispatched.Add(1);
  Workstream* const ws = prod->home;
  if (ws != nullptr) {
    ++ws->draining;
    ++ws->running[proto];
  }
  {
    NoWaitScope no_wait;  // inside Enter: fiber_sync.h
    pe.spec.handler({&pkt, 1});
  }
  if (ws != nullptr) {
    --ws->running[proto];
    --ws->draining;
  }
  return true;
}

int Dispatcher::HintedWorkstream(const ProtocolEntry& pe, uint32_t bucket, uint32_t flowid) const {
  // Relaxed: a producer acts on a hint only once the bucket has drained,
  // whenever it sees it (ProtocolEntry::hints).
  const int16_t hint = pe.hints[bucket].load(std::memory_order_relaxed);
  return (hint >= 0 && hint < nws_) ? hint : FlowWorkstream(flowid);
}

void Dispatcher::Drop(Producer* prod, ProtocolId proto, DropReason why, Packet* pkt) {
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
struct Dispatcher::Chunk {
  Packet* direct[kChunk];
  size_t ndirect = 0;
  Packet* staged[kChunk];
  uint8_t staged_ws[kChunk];
  size_t nstaged = 0;
  uint64_t staged_mask = 0;
  uint16_t staged_per_ws[kMaxWorkstreams];  // valid where staged_mask is set
  int cpu_ws[kChunk];                       // m2cpuid's answers (policy kCpu only)

  // m2cpuid's answers for `chunk` into cpu_ws; an answer it leaves
  // unwritten names no workstream (not an earlier chunk's). The whole array
  // is filled: a fill of constant size is a few vector stores, one of the
  // chunk's size was `rep stos`, whose start-up alone cost ~30 cycles.
  void AskM2cpuid(const ProtocolSpec& spec, uint16_t source, std::span<Packet* const> chunk) {
    std::fill(std::begin(cpu_ws), std::end(cpu_ws), kNoWorkstream);
    spec.m2cpuid(chunk, source, {cpu_ws, chunk.size()});
  }

  // Packets staged for workstream t so far in this chunk.
  int64_t staged_on(int t) const { return ((staged_mask >> t) & 1) ? staged_per_ws[t] : 0; }

  // Stages `pkt` for workstream t; returns how many the chunk now holds
  // for t (the packet's position in that lane's part of the chunk).
  uint16_t Stage(Packet* pkt, int t) {
    if (!((staged_mask >> t) & 1)) {
      staged_mask |= uint64_t{1} << t;
      staged_per_ws[t] = 0;
    }
    staged[nstaged] = pkt;
    staged_ws[nstaged++] = static_cast<uint8_t>(t);
    return ++staged_per_ws[t];
  }
};

// What one Enter call knows about its caller and the machine.
struct Dispatcher::CallContext {
  // What the adaptive rule reads (kAdaptive mode only, else nullptr): the
  // producer's snapshot for this protocol, see ReadLoads.
  Producer* prod;
  DispatchMode mode;
  int here;
  bool here_draining;     // a handler runs on `here` (the order fence's marks)
  bool here_dispatching;  // one that holds it (Workstream::dispatching: the hybrid rule)
  Feedback* feedback = nullptr;
};

namespace {

// Set (once, never cleared) before the first Packet::queued_ns stamp of any
// adaptive producer in the process; until then no packet can carry one, so
// queueing skips the per-packet check for a stale stamp (a read of every
// packet, ~7 instructions each, in every deferred burst). Once any adaptive
// producer has stamped, every queueing checks again. Process-wide, not per
// dispatcher: a packet can pass from one dispatcher to another (two stacks
// over an in-memory wire). Allocation clears a stamp (Packet::ResetMetadata,
// the DPDK port's placement new), so a stale one arrives only with a packet
// handed on: by a handler that a worker ran after the acquire of the lane
// ring that the stamping producer released after this store, or by a
// handoff of the user's, which must order the packet's fields anyway. So a
// relaxed load there sees the store. Its own line: read every deferred
// burst, it must not share one with a written global.
alignas(64) constinit std::atomic<bool> g_queued_ns_stamped{false};

// True once every packet a bucket queued to `lane` has been handled.
bool LaneDrainedTo(const Lane& lane, uint64_t tail_mark) {
  // Acquire: pairs with the consumer's release after the handler returned,
  // so the handler's effects happen-before anything this flow does next.
  const uint64_t handled = lane.handled.load(std::memory_order_acquire);
  const uint64_t enqueued = lane.enqueued.load(std::memory_order_relaxed);
  return handled >= std::min(tail_mark, enqueued);
}

// Where bucket b's last packet ran or was queued, -1 if none: File sets
// staged_chunk on a queueing and direct_chunk on a direct run, never both
// in one chunk, so the later of the two tells which.
int LastRan(const Bucket& b) {
  if (b.staged_chunk > b.direct_chunk) return b.queued_to;
  return b.direct_chunk != 0 ? b.direct_to : -1;
}

}  // namespace

// Classification of a chunk runs in passes over the whole chunk (VPP's
// vectors, DPDK's burst APIs): first every packet's ingress source is
// stamped and, for flow buckets, the bucket index is computed and its slot
// prefetched; then the decisions are made in arrival order (a bucket's state
// depends on its earlier packets); then the staged packets are pushed, one
// reservation and one ring push per target, and the direct ones run. What is
// decided once per chunk is decided once: a kSource protocol names one
// workstream for the whole chunk, and the decision of its first packet is
// every packet's (once one is queued, the rest follow it; if it runs here,
// nothing was queued for the rest to wait behind), so such a chunk costs a
// stamp per packet. A kCpu protocol's m2cpuid is asked once for the chunk;
// in deferred mode its answers are the staging, in the others they feed the
// per-packet rule (Classify), which also stays for the adaptive mode.
template <bool kQueueOnly>
BurstOutcome Dispatcher::Enter(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts) {
  BurstOutcome out;
  Producer* const prod =
      (tls_producer != nullptr && tls_producer->owner == this) ? tls_producer : nullptr;
  const bool known = proto < num_protocols_.load(std::memory_order_acquire);
  // Acquire: pairs with Stop's release store after its final drain.
  const bool stopped = state_.load(std::memory_order_acquire) == State::kStopped;
  if (prod == nullptr || !known || stopped) [[unlikely]] {
    const DropReason why = stopped ? DropReason::kShutdown
                           : known ? DropReason::kNoProducer
                                   : DropReason::kNoProtocol;
    for (Packet* p : pkts) Drop(prod, proto, why, p);
    out.dropped = static_cast<uint32_t>(pkts.size());
    return out;
  }
  // No fiber may suspend anywhere in here, not only in the handlers run
  // directly: m2flow and m2cpuid run with the chunk's flow buckets half
  // filed, which another fiber's Enter on this producer would not see
  // (fiber_sync.h).
  NoWaitScope no_wait;
  ProtocolEntry& pe = *protocols_[proto];
  CallContext cc;
  cc.prod = prod;
  cc.mode = kQueueOnly ? DispatchMode::kDeferred : ModeFor(pe);
  cc.here = prod->home_ws;
  cc.here_draining = cc.here >= 0 && workstreams_[cc.here]->draining != 0;
  cc.here_dispatching = cc.here >= 0 && workstreams_[cc.here]->dispatching != 0;
  if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
    cc.feedback = &placement_.ReadLoads(*prod, pe, proto);
  const Policy policy = pe.spec.policy;

  Chunk ch;
  for (size_t base = 0; base < pkts.size(); base += kChunk) {
    const size_t n = std::min(kChunk, pkts.size() - base);
    const std::span<Packet* const> chunk = pkts.subspan(base, n);
    ch.ndirect = ch.nstaged = 0;
    ch.staged_mask = 0;
    ++prod->chunk;
    if (prod->direct_depth == 0) prod->direct_floor = prod->chunk;
    if (cc.feedback) cc.feedback->fill_fresh = 0;
    // Pass 1: stamp the ingress source. Stored only when it changes: the
    // packet's line may sit in another core's cache, and a needless store
    // takes it away. For a kFlow protocol, whether every packet has a
    // flowid, in the same pass (what DirectChunk and HybridChunk need).
    bool all_flowids = true;
    if (policy == Policy::kFlow) {
      for (Packet* pkt : chunk) {
        if (pkt->source != source) pkt->source = source;
        all_flowids &= pkt->has_flowid();
      }
    } else {
      for (Packet* pkt : chunk) {
        if (pkt->source != source) pkt->source = source;
      }
    }
    if (policy == Policy::kSource) {
      // One workstream and one decision for the whole chunk (see above).
      const int target = SourceWorkstream(source);
      const Decision d = cc.mode == DispatchMode::kDeferred
                             ? Decision::kQueue
                             : DecideUnbucketed(cc, pe, proto, target, ch);
      if (d != Decision::kQueue) {
        Lane& lane = pe.lane(prod->index, target);
        (d == Decision::kDirect ? lane.dispatched : lane.hybrid_dispatched).Add(n);
        // What earlier chunks pushed is woken first (as below); the chunk
        // itself is the burst: no copy.
        if (prod->wake_mask != 0) Flush();
        RunDirect(cc, pe, proto, chunk);
        out.handled += static_cast<uint32_t>(n);
        continue;
      }
      for (Packet* pkt : chunk) ch.Stage(pkt, target);
    } else if (policy == Policy::kFlow && all_flowids &&
               ((cc.mode == DispatchMode::kDirect && DirectChunk(cc, pe, chunk)) ||
                (cc.mode == DispatchMode::kHybrid && HybridChunk(cc, pe, proto, chunk)))) {
      // Every packet runs here: no bucket state to keep (see DirectChunk).
      if (prod->wake_mask != 0) Flush();
      RunDirect(cc, pe, proto, chunk);
      out.handled += static_cast<uint32_t>(n);
      continue;
    } else if (policy == Policy::kFlow && all_flowids && cc.feedback != nullptr &&
               AdaptiveChunk(cc, pe, proto, chunk)) {
      // Every packet runs here, its bucket marked (see AdaptiveChunk): as
      // the direct packets below, nested dispatches see the mark.
      if (prod->wake_mask != 0) Flush();
      ++prod->direct_depth;
      RunDirect(cc, pe, proto, chunk);
      --prod->direct_depth;
      out.handled += static_cast<uint32_t>(n);
      continue;
    } else if (policy == Policy::kFlow && cc.feedback == nullptr) {
      ClassifyFlowChunk(cc, pe, proto, chunk, ch);
    } else if (policy == Policy::kCpu && cc.mode == DispatchMode::kDeferred) {
      // Deferred: the only decision is where, the protocol's m2cpuid, asked
      // once for the chunk. One answer for all (the common case: a burst of
      // one connection, or of one RX queue's home): the chunk itself is the
      // batch, no staging.
      ch.AskM2cpuid(pe.spec, source, chunk);
      const int first = ch.cpu_ws[0];
      bool one_answer = true;
      for (size_t i = 1; i < n; ++i) one_answer &= ch.cpu_ws[i] == first;
      if (one_answer && CheckedWorkstream(first, nws_) >= 0) {
        const auto [q, d] = EnqueueToWorkstream(cc, pe, proto, first, chunk);
        out.queued += q;
        out.dropped += d;
        continue;
      }
      for (size_t i = 0; i < n; ++i) {
        const int ws = CheckedWorkstream(ch.cpu_ws[i], nws_);
        if (ws >= 0) {
          ch.Stage(chunk[i], ws);
        } else {
          Drop(prod, proto, DropReason::kNoCpu, chunk[i]);
          ++out.dropped;
        }
      }
    } else {
      if (policy == Policy::kCpu) ch.AskM2cpuid(pe.spec, source, chunk);
      for (size_t i = 0; i < n; ++i) {
        const int cpu_ws = policy == Policy::kCpu ? ch.cpu_ws[i] : kNoWorkstream;
        if (!Classify(cc, pe, proto, *chunk[i], ch, cpu_ws)) {
          Drop(prod, proto, DropReason::kNoCpu, chunk[i]);
          ++out.dropped;
        }
      }
    }
    if (ch.staged_mask != 0) {
      if ((ch.staged_mask & (ch.staged_mask - 1)) == 0) {
        // One target (the common case): the staged array is its batch.
        const auto [q, d] = EnqueueToWorkstream(cc, pe, proto, __builtin_ctzll(ch.staged_mask),
                                                {ch.staged, ch.nstaged});
        out.queued += q;
        out.dropped += d;
      } else {
        for (uint64_t m = ch.staged_mask; m != 0; m &= m - 1) {
          const int t = __builtin_ctzll(m);
          Packet* batch[kChunk];
          size_t k = 0;
          for (size_t i = 0; i < ch.nstaged; ++i) {
            if (ch.staged_ws[i] == t) batch[k++] = ch.staged[i];
          }
          const auto [q, d] = EnqueueToWorkstream(cc, pe, proto, t, {batch, k});
          out.queued += q;
          out.dropped += d;
        }
      }
    }
    if (ch.ndirect > 0) {
      // Wake whoever must run what was just pushed before spending the
      // time on the direct packets, not after.
      if (prod->wake_mask != 0) Flush();
      ++prod->direct_depth;
      RunDirect(cc, pe, proto, {ch.direct, ch.ndirect});
      --prod->direct_depth;
      out.handled += static_cast<uint32_t>(ch.ndirect);
    }
  }
  if (cc.here < 0 && prod->wake_mask != 0) Flush();
  return out;
}

void Dispatcher::MarkHandlerOutput(const CallContext& cc, ProtocolId proto, int t, Lane& lane) {
  // Handler output of every protocol running here: a bucket of one of
  // them leaving this workstream waits for it (OutputHandled). None running
  // (a drained hook's dispatch): no handler's output, no mark.
  const Workstream& ws = *workstreams_[cc.here];
  const int np = num_protocols_.load(std::memory_order_relaxed);
  const uint64_t bit = uint64_t{1} << t;
  bool any = false;
  for (int e = 0; e < np; ++e) {
    if (ws.running[e] == 0) continue;
    any = true;
    std::atomic<uint64_t>& into = protocols_[e]->nested[cc.prod->index].into[proto];
    if (!(into.load(std::memory_order_relaxed) & bit))
      into.store(into.load(std::memory_order_relaxed) | bit, std::memory_order_relaxed);
  }
  if (any)
    lane.nested_mark.store(lane.enqueued.load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
}

bool Dispatcher::OutputHandled(int w, ProtocolId proto) const {
  // Worker w's producer slot is w (Dispatcher's constructor).
  const ProtocolEntry::NestedLanes& out = protocols_[proto]->nested[w];
  const int np = num_protocols_.load(std::memory_order_acquire);
  for (int t = 0; t < np; ++t) {
    const ProtocolEntry& pe = *protocols_[t];
    for (uint64_t m = out.into[t].load(std::memory_order_relaxed); m != 0; m &= m - 1) {
      const Lane& lane = pe.lane(w, __builtin_ctzll(m));
      // Acquire: pairs with the consumer's release after the handler, so
      // that output's effects happen-before the bucket's next run.
      if (lane.handled.load(std::memory_order_acquire) <
          lane.nested_mark.load(std::memory_order_relaxed))
        return false;
    }
  }
  return true;
}

bool Dispatcher::NothingOutstanding(const Producer& prod, ProtocolEntry& pe) const {
  uint64_t& pushed = pe.pushed[prod.index].mask;
  for (uint64_t m = pushed; m != 0; m &= m - 1) {
    const int t = __builtin_ctzll(m);
    const Lane& lane = pe.lane(prod.index, t);
    // Acquire: pairs with the consumer's release after the handler ran, as
    // in LaneDrainedTo: what those packets did happens-before this chunk.
    if (lane.handled.load(std::memory_order_acquire) !=
        lane.enqueued.load(std::memory_order_relaxed)) {
      return false;
    }
    pushed &= ~(uint64_t{1} << t);
  }
  return true;
}

// In direct mode a packet is queued only behind its bucket's packets still
// in a lane, and with none of this producer's packets of the protocol in
// any lane there are none: ClassifyFlowChunk would file every packet of the
// chunk to run here, on the lane of its policy workstream (or hint). That
// is done here without reading or writing a bucket (~110 of the ~125
// instructions a packet ClassifyFlowChunk and PlaceBucket took in
// benchmarks/nic's pipeline, docs/benchmarks.md). Bucket state stays valid:
// a bucket's queued_to is re-checked against its lane before use (a stale
// one costs TryDirectFastPath one trip through the general path, which
// clears it), and direct_chunk names an earlier chunk. The hint is read per
// packet, not per bucket and chunk: a SetFlowAffinity racing with the chunk
// can split one bucket's `dispatched` count over two lanes (statistics
// only; every packet runs here either way). A packet without a flowid needs
// m2flow, in order with the decisions: the general path then (Enter calls
// this for a chunk whose every packet has a flowid).
bool Dispatcher::DirectChunk(CallContext& cc, ProtocolEntry& pe, std::span<Packet* const> chunk) {
  if (!NothingOutstanding(*cc.prod, pe)) return false;
  if (nws_ == 1) {
    // One lane: every flow and every valid hint lead to workstream 0.
    pe.lane(cc.prod->index, 0).dispatched.Add(chunk.size());
    return true;
  }
  const uint32_t mask = settings_.flow_buckets - 1;
  for (const Packet* pkt : chunk) {
    pe.lane(cc.prod->index, HintedWorkstream(pe, pkt->flowid & mask, pkt->flowid))
        .dispatched.Add(1);
  }
  return true;
}

// The hybrid rule's common case at once. Every packet of the chunk would
// run here: its workstream is this one, no handler run holds it
// (`dispatching`; a direct-mode handler may be running), and nothing of
// the protocol is queued there. And none has a bucket with packets queued
// to wait behind: this producer has nothing of the protocol outstanding in
// any lane, as in DirectChunk. Then, as there, no bucket is read or
// written; a chunk with any packet for another workstream takes the
// general path whole.
bool Dispatcher::HybridChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                             std::span<Packet* const> chunk) {
  if (cc.here < 0 || cc.here_dispatching || workstreams_[cc.here]->protos[proto].Qlen() != 0)
    return false;
  // Every packet has a flowid (Enter checked). With one workstream, this
  // one, every flow and every valid hint lead here.
  if (nws_ > 1) {
    const uint32_t mask = settings_.flow_buckets - 1;
    for (const Packet* pkt : chunk) {
      if (HintedWorkstream(pe, pkt->flowid & mask, pkt->flowid) != cc.here) return false;
    }
  }
  if (!NothingOutstanding(*cc.prod, pe)) return false;
  pe.lane(cc.prod->index, cc.here).hybrid_dispatched.Add(chunk.size());
  return true;
}

// Adaptive's common case: every packet's bucket is placed here and ran
// here last (direct, nothing of it queued: queued_to -1 says none is), no
// hint names another workstream, and this CPU keeps up (or is saturated
// with no room elsewhere). Place would then answer "here" for every packet
// with the reason its bucket already carries (Bucket::last_reason), and
// Classify's other branches give the same (a bucket marked direct this
// chunk runs with its direct_to and reason: here, the same). So the chunk
// costs a read pass and, per packet, the bucket's epoch count and direct
// mark, which LastRan and a nested dispatch's packets of the bucket
// (Producer::direct_floor) rely on; the decisions and the lane are counted
// once. Any other bucket sends the whole chunk through Classify, which
// then decides it as before: the read pass changes nothing. ~75
// instructions a packet through Classify in this case (callgrind, `netisr
// run --model inline --dispatch adaptive`).
bool Dispatcher::AdaptiveChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                               std::span<Packet* const> chunk) {
  Producer& prod = *cc.prod;
  Feedback& fb = *cc.feedback;
  if (prod.saturated && fb.room_elsewhere > 0) return false;  // PlaceByRule's case
  const AdaptiveReason reason = prod.saturated ? AdaptiveReason::kNoRoom : AdaptiveReason::kHasRoom;
  const int here = cc.here;
  Bucket* const buckets = pe.buckets[prod.index].data();
  const uint32_t mask = settings_.flow_buckets - 1;
  bool placed = false;  // some packet would reach Place (not marked direct since direct_floor)
  for (const Packet* pkt : chunk) {
    const uint32_t bi = pkt->flowid & mask;
    const Bucket& b = buckets[bi];
    const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
    if ((hint >= 0 && hint < nws_) || b.placement != here || b.queued_to >= 0 ||
        b.direct_chunk == 0 || b.staged_chunk > b.direct_chunk || b.direct_to != here ||
        b.direct_decision != Decision::kDirect || b.last_reason != reason)
      return false;
    placed |= b.direct_chunk < prod.direct_floor;
  }
  if (placed && prod.saturated && fb.room_elsewhere != 0) {
    // Saturated, room elsewhere not known yet (each feedback refresh
    // forgets it): Classify's first packet to reach Place would go to
    // PlaceByRule, which reads the other workstreams first; the same read
    // here. With no room anywhere its rule keeps a home bucket home
    // (kNoRoom), as Place's shortcut then does for the rest. Without this,
    // a backlogged producer (the bench layout, both CPUs saturated) took
    // the fast path for 2% of its chunks.
    placement_.KnowRoomElsewhere(fb, prod, proto);
    if (fb.room_elsewhere != 0) return false;
  }
  for (const Packet* pkt : chunk) {
    Bucket& b = buckets[pkt->flowid & mask];
    ++b.epoch_pkts;
    b.direct_chunk = prod.chunk;
  }
  prod.decisions[static_cast<size_t>(reason)].Add(chunk.size());
  pe.lane(prod.index, here).dispatched.Add(chunk.size());
  return true;
}

// kFlow outside the adaptive mode, a chunk at a time: the bucket of every
// packet with a flowid first, each bucket's slot prefetched while the others
// are computed, then the decisions in arrival order with the same rules as
// Classify. When the mode queues every packet
// (deferred; hybrid from a worker already running handlers or from an
// external thread) the decision is only where: the policy's workstream (or
// the hint), unless the bucket still has packets queued elsewhere.
void Dispatcher::ClassifyFlowChunk(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                                   std::span<Packet* const> chunk, Chunk& ch) {
  // Pass 1 covers the packets that carry a flowid (a NIC's RSS hash, or
  // set by an earlier layer). A packet without one gets it from m2flow in
  // pass 2, in arrival order, as in Classify: m2flow may act on the
  // dispatcher (an affinity hint) and the packets before it must have been
  // decided by then.
  constexpr uint32_t kNoBucket = UINT32_MAX, kAskM2flow = UINT32_MAX - 1;
  Producer& prod = *cc.prod;
  Bucket* const buckets = pe.buckets[prod.index].data();
  const uint32_t mask = settings_.flow_buckets - 1;
  uint32_t bis[kChunk];
  for (size_t i = 0; i < chunk.size(); ++i) {
    const Packet& pkt = *chunk[i];
    if (pkt.has_flowid()) {
      bis[i] = pkt.flowid & mask;
      __builtin_prefetch(&buckets[bis[i]]);
    } else {
      bis[i] = kAskM2flow;
    }
  }
  const bool all_queue = cc.mode == DispatchMode::kDeferred ||
                         (cc.mode == DispatchMode::kHybrid && (cc.here < 0 || cc.here_dispatching));
  for (size_t i = 0; i < chunk.size(); ++i) {
    Packet& pkt = *chunk[i];
    if (bis[i] == kAskM2flow)
      bis[i] = pe.spec.m2flow && pe.spec.m2flow(pkt) ? pkt.flowid & mask : kNoBucket;
    if (bis[i] == kNoBucket) {
      // FreeBSD's fallback to the source: no bucket to keep.
      const int target = SourceWorkstream(pkt.source);
      File(cc, pe, pkt, nullptr, target,
           cc.mode == DispatchMode::kDeferred ? Decision::kQueue
                                              : DecideUnbucketed(cc, pe, proto, target, ch),
           ch);
      continue;
    }
    Bucket& b = buckets[bis[i]];
    if (all_queue) {
      int target = HintedWorkstream(pe, bis[i], pkt.flowid);
      // Still queued elsewhere: behind its earlier packets (Classify's rule;
      // only a bucket that would move needs the drain check).
      if (b.queued_to >= 0 && b.queued_to != target &&
          (b.staged_chunk == prod.chunk ||
           !LaneDrainedTo(pe.lane(prod.index, b.queued_to), b.tail_mark))) {
        target = b.queued_to;
      }
      File(cc, pe, pkt, &b, target, Decision::kQueue, ch);
      continue;
    }
    int target;
    Decision d;
    if (b.queued_to >= 0 && (b.staged_chunk == prod.chunk ||
                             !LaneDrainedTo(pe.lane(prod.index, b.queued_to), b.tail_mark))) {
      target = b.queued_to;
      d = Decision::kQueue;
    } else if (b.direct_chunk >= prod.direct_floor) {
      target = b.direct_to;
      d = b.direct_decision;
    } else {
      const int last_ran = LastRan(b);
      b.queued_to = -1;
      target = PlaceBucket(cc, pe, proto, pkt, b, bis[i], last_ran, &d);
    }
    File(cc, pe, pkt, &b, target, d, ch);
  }
}

// Inlined into Enter's per-packet loop (its one caller): the call's
// register saves and restores were ~22 of its ~100 instructions a packet
// under adaptive dispatch (callgrind).
[[gnu::always_inline]] inline bool Dispatcher::Classify(CallContext& cc, ProtocolEntry& pe,
                                                        ProtocolId proto, Packet& pkt, Chunk& ch,
                                                        int cpu_ws) {
  Producer& prod = *cc.prod;
  const bool bucketed = pe.spec.policy == Policy::kFlow &&
                        (pkt.has_flowid() || (pe.spec.m2flow && pe.spec.m2flow(pkt)));
  int target;
  Decision d;
  Bucket* b = nullptr;
  if (bucketed) {
    const uint32_t bi = pkt.flowid & (settings_.flow_buckets - 1);
    b = &pe.buckets[prod.index][bi];
    if (cc.feedback) ++b->epoch_pkts;
    if (b->queued_to >= 0 && (b->staged_chunk == prod.chunk ||
                              !LaneDrainedTo(pe.lane(prod.index, b->queued_to), b->tail_mark))) {
      // Earlier packets of this bucket are still queued or running: this
      // one goes behind them, whatever the mode or feedback says now.
      target = b->queued_to;
      d = Decision::kQueue;
      if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
        prod.decisions[static_cast<size_t>(AdaptiveReason::kInFlight)].Add(1);
    } else if (b->direct_chunk >= prod.direct_floor) {
      // An earlier packet of this bucket runs here at the end of this
      // chunk (or of an outer one, Producer::direct_floor): this one runs
      // with it, whatever the feedback says now.
      target = b->direct_to;
      d = b->direct_decision;
      if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
        prod.decisions[static_cast<size_t>(b->last_reason)].Add(1);
    } else {
      const int last_ran = LastRan(*b);
      b->queued_to = -1;  // drained: nothing of it is queued anywhere
      // The spill test wants the placed CPU's queue as of this chunk.
      if (cc.feedback && b->placement >= 0 && b->placement != cc.here)
        placement_.RefreshFill(*cc.feedback, pe, proto, b->placement, ch.staged_on(b->placement));
      target = PlaceBucket(cc, pe, proto, pkt, *b, bi, last_ran, &d);
    }
  } else {
    target = pe.spec.policy == Policy::kCpu
                 ? CheckedWorkstream(cpu_ws, nws_)
                 : SelectWorkstream(pe.spec, pkt, pkt.source, nws_, settings_.flow_buckets);
    if (target < 0) return false;
    d = cc.mode == DispatchMode::kDeferred ? Decision::kQueue
                                           : DecideUnbucketed(cc, pe, proto, target, ch);
  }
  File(cc, pe, pkt, b, target, d, ch);
  return true;
}

// Inlined into the classification loops: one call per packet cost ~15
// instructions of the ~60 it takes there (callgrind).
[[gnu::always_inline]] inline void Dispatcher::File(CallContext& cc, ProtocolEntry& pe, Packet& pkt,
                                                    Bucket* b, int target, Decision d, Chunk& ch) {
  Lane& lane = pe.lane(cc.prod->index, target);
  if (d != Decision::kQueue) {
    if (b != nullptr) {
      b->direct_chunk = cc.prod->chunk;
      b->direct_to = static_cast<int16_t>(target);
      b->direct_decision = d;
    }
    (d == Decision::kDirect ? lane.dispatched : lane.hybrid_dispatched).Add(1);
    ch.direct[ch.ndirect++] = &pkt;
    return;
  }
  const uint16_t pos = ch.Stage(&pkt, target);
  if (b != nullptr) {
    b->queued_to = static_cast<int16_t>(target);
    b->staged_chunk = cc.prod->chunk;
    b->tail_mark = lane.enqueued.load(std::memory_order_relaxed) + pos;
  }
}

Decision Dispatcher::DecideUnbucketed(const CallContext& cc, const ProtocolEntry& pe,
                                      ProtocolId proto, int target, const Chunk& ch) const {
  const Lane& lane = pe.lane(cc.prod->index, target);
  const uint64_t staged = (ch.staged_mask >> target) & 1;
  const uint64_t outstanding = lane.enqueued.load(std::memory_order_relaxed) -
                               lane.handled.load(std::memory_order_acquire) + staged;
  // Only the hybrid rule looks at the queue length (a shared cache line).
  const int64_t qlen =
      cc.mode == DispatchMode::kDirect
          ? 0
          : workstreams_[target]->protos[proto].Qlen() + static_cast<int64_t>(staged);
  return Decide({cc.mode, target, cc.here, cc.here_dispatching, outstanding, qlen});
}

// Inlined into both classifiers, as Classify is into Enter.
[[gnu::always_inline]] inline int Dispatcher::PlaceBucket(CallContext& cc, ProtocolEntry& pe,
                                                          ProtocolId proto, Packet& pkt, Bucket& b,
                                                          uint32_t bi, int last_ran, Decision* d) {
  Producer& prod = *cc.prod;
  const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
  const bool hinted = hint >= 0 && hint < nws_;
  if (cc.mode != DispatchMode::kAdaptive || cc.here < 0) {
    // The policy's CPU (or the hinted one), with FreeBSD's mode rules. The
    // bucket has drained, so nothing of ours is outstanding.
    const int target = hinted ? hint : FlowWorkstream(pkt.flowid);
    *d = Decide({cc.mode, target, cc.here, cc.here_dispatching, 0,
                 workstreams_[target]->protos[proto].Qlen()});
    return target;
  }
  const AdaptiveChoice choice =
      placement_.Place(prod, *cc.feedback, proto, b, hinted ? hint : -1, last_ran, *this);
  *d = choice.placement == cc.here ? Decision::kDirect : Decision::kQueue;
  return choice.placement;
}

void Dispatcher::RunDirect(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                           std::span<Packet* const> burst) {
  // Direct runs under the hybrid and adaptive rules count as the
  // workstream's own work, so nested dispatches from the handler see it
  // running (FreeBSD's NWS_DISPATCHING) and queue rather than recurse; a
  // direct-mode protocol's do not (Workstream::dispatching).
  Workstream* ws = cc.here >= 0 ? workstreams_[cc.here].get() : nullptr;
  // Called from Enter only, whose NoWaitScope covers the handlers.
  if (ws == nullptr) {
    pe.spec.handler(burst);
    return;
  }
  const bool holds = cc.mode != DispatchMode::kDirect;
  ++ws->draining;
  ws->dispatching += holds ? 1 : 0;
  if (cc.mode == DispatchMode::kAdaptive) {
    // The adaptive rule wants this CPU's service time per protocol.
    const uint64_t t0 = placement_.Now();
    RunHandler(*ws, proto, pe, burst);
    ws->meter->AddService(proto, placement_.Now() - t0, static_cast<uint32_t>(burst.size()));
  } else {
    RunHandler(*ws, proto, pe, burst);
  }
  ws->dispatching -= holds ? 1 : 0;
  --ws->draining;
}

std::pair<uint32_t, uint32_t> Dispatcher::EnqueueToWorkstream(CallContext& cc, ProtocolEntry& pe,
                                                              ProtocolId proto, int t,
                                                              std::span<Packet* const> batch) {
  const size_t k = batch.size();
  // Reserve room under the workstream's queue limit; tail-drop the excess.
  // The length is judged by this producer's copy of `taken`, which can only
  // overstate it; the consumer's line is read again only when that copy
  // says there is too little room.
  WorkstreamProto& q = workstreams_[t]->protos[proto];
  Lane& lane = pe.lane(cc.prod->index, t);
  const int64_t before = q.admitted.fetch_add(static_cast<int64_t>(k), std::memory_order_relaxed);
  const auto limit = static_cast<int64_t>(pe.qlimit);
  if (before - lane.taken_seen + static_cast<int64_t>(k) > limit)
    lane.taken_seen = q.taken.load(std::memory_order_relaxed);
  // Clamped both ways: a `taken` read can include pops of packets that
  // other producers admitted after `before` (a length below 0), and
  // reservations racing with this one can put `before` past the limit.
  const int64_t room = std::max<int64_t>(0, limit - std::max<int64_t>(0, before - lane.taken_seen));
  const size_t accepted = std::min<size_t>(k, static_cast<size_t>(room));
  if (accepted < k)
    q.admitted.fetch_sub(static_cast<int64_t>(k - accepted), std::memory_order_relaxed);

  if (accepted > 0) {
    if (cc.feedback) {
      // Queueing delay feeds the adaptive rule only; other modes skip the
      // stores (each one may pull a line from the consumer's cache).
      // Low 32 bits (Packet::queued_ns); 0 means "not stamped", so a
      // stamp that truncates to 0 reads 1 ns late instead.
      const uint32_t stamp = std::max<uint32_t>(static_cast<uint32_t>(cc.feedback->now_ns), 1);
      if (!g_queued_ns_stamped.load(std::memory_order_relaxed))
        g_queued_ns_stamped.store(true, std::memory_order_relaxed);
      for (size_t i = 0; i < accepted; ++i) batch[i]->queued_ns = stamp;
    } else if (g_queued_ns_stamped.load(std::memory_order_relaxed)) {
      // A stamp left from an earlier adaptive queueing of this packet (a
      // nested dispatch) would read as a long wait. Cleared here, where the
      // line is already in this core's cache (the source stamp read it),
      // rather than by the consumer after every adaptive burst: a consumer
      // store would pull the line back modified, and the producer that
      // recycles the packet pays that transfer.
      for (size_t i = 0; i < accepted; ++i) {
        if (batch[i]->queued_ns != 0) batch[i]->queued_ns = 0;
      }
    }
  }
  // This lane's first push: the worker's drain scans only listed lanes
  // (WorkstreamProto::lanes, Workstream::listed).
  if (!lane.listed) [[unlikely]] {
    const int p = cc.prod->index;
    q.lanes[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
    workstreams_[t]->listed.store(true, std::memory_order_relaxed);
    lane.listed = true;
  }
  // The reservation bounds the ring's fill only in the long run: `taken` is
  // relaxed, so this thread may see the worker's store of it before the
  // ring read index that the pop advanced, and find the ring fuller than
  // the length says. What does not fit is tail-dropped like the excess
  // above, its reservation given back.
  const size_t pushed = accepted > 0 ? lane.ring.push(batch.data(), accepted) : 0;
  if (pushed < accepted)
    q.admitted.fetch_sub(static_cast<int64_t>(accepted - pushed), std::memory_order_relaxed);
  if (pushed > 0) {
    lane.enqueued.store(lane.enqueued.load(std::memory_order_relaxed) + pushed,
                        std::memory_order_release);
    if (t != cc.prod->index) cc.prod->queued_elsewhere.Add(pushed);
    cc.prod->wake_mask |= uint64_t{1} << t;
    pe.pushed[cc.prod->index].mask |= uint64_t{1} << t;
    if (cc.here_draining) MarkHandlerOutput(cc, proto, t, lane);
  }
  for (size_t i = pushed; i < k; ++i) {
    lane.qdrops.Add(1);
    Release(batch[i]);
  }
  return {static_cast<uint32_t>(pushed), static_cast<uint32_t>(k - pushed)};
}

void Dispatcher::Flush() {
  Producer* prod = tls_producer;
  if (prod == nullptr || prod->owner != this || prod->wake_mask == 0) return;
  if (!model_sleeps_) {
    // No worker ever sleeps (poll, inline): nobody to wake, no handshake.
    prod->wake_mask = 0;
    return;
  }
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

}  // namespace internal
}  // namespace netisr
