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

Outcome Dispatcher::DispatchSrc(uint16_t source, ProtocolId proto, Packet* pkt) {
  if (TryDirectFastPath(source, proto, pkt)) return Outcome::kHandled;
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
bool Dispatcher::TryDirectFastPath(uint16_t source, ProtocolId proto, Packet* pkt) {
  Producer* const prod = tls_producer;
  // After Stop, Enter drops the packet (relaxed: Enter re-reads it).
  if (prod == nullptr || prod->owner != this ||
      proto >= num_protocols_.load(std::memory_order_acquire) ||
      state_.load(std::memory_order_relaxed) == State::kStopped) {
    return false;
  }
  ProtocolEntry& pe = *protocols_[proto];
  if (ModeFor(pe) != DispatchMode::kDirect) return false;
  int target;
  if (pe.spec.policy == Policy::kFlow && pkt->has_flowid()) {
    const uint32_t bi = pkt->flowid & (settings_.flow_buckets - 1);
    if (pe.buckets[prod->index][bi].queued_to >= 0) return false;
    const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
    target = (hint >= 0 && hint < nws_) ? hint : FlowWorkstream(pkt->flowid);
  } else if (pe.spec.policy == Policy::kSource) {
    target = FlowWorkstream(source);
    const Lane& lane = pe.lane(prod->index, target);
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
  pe.lane(prod->index, target).dispatched.Add(1);
  Workstream* ws = prod->home_ws >= 0 ? workstreams_[prod->home_ws].get() : nullptr;
  if (ws != nullptr) ++ws->draining;
  {
    NoWaitScope no_wait;  // inside Enter: fiber_sync.h
    pe.spec.handler({&pkt, 1});
  }
  if (ws != nullptr) --ws->draining;
  return true;
}

int Dispatcher::FlowWorkstream(uint32_t flowid) const {
  // A mask instead of a division (~20-40 cycles) for power-of-two counts;
  // the same mapping as flowid % nws (and SelectWorkstream) either way.
  return (nws_ & (nws_ - 1)) == 0 ? static_cast<int>(flowid & static_cast<uint32_t>(nws_ - 1))
                                  : static_cast<int>(flowid % static_cast<uint32_t>(nws_));
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

  // Packets staged for workstream t so far in this chunk.
  int64_t staged_on(int t) const { return ((staged_mask >> t) & 1) ? staged_per_ws[t] : 0; }
};

// What one Enter call knows about its caller and the machine.
struct Dispatcher::CallContext {
  // What the adaptive rule reads (kAdaptive mode only, else nullptr): the
  // producer's snapshot for this protocol, see ReadLoads.
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
BurstOutcome Dispatcher::Enter(uint16_t source, ProtocolId proto, std::span<Packet* const> pkts) {
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
  if (cc.mode == DispatchMode::kAdaptive && cc.here >= 0)
    cc.feedback = &placement_.ReadLoads(*prod, pe, proto);

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

bool Dispatcher::Classify(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                          Chunk& ch) {
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
        placement_.RefreshFill(*cc.feedback, pe, proto, b->placement, ch.staged_on(b->placement));
      target = PlaceBucket(cc, pe, proto, pkt, *b, bi, &d);
    }
  } else {
    target = SelectWorkstream(pe.spec, pkt, pkt.source, nws_);
    if (target < 0) return false;
    d = cc.mode == DispatchMode::kDeferred ? Decision::kQueue
                                           : DecideUnbucketed(cc, pe, proto, target, ch);
  }
  Lane& lane = pe.lane(prod.index, target);
  if (b != nullptr && d != Decision::kQueue) {
    b->direct_chunk = prod.chunk;
    b->direct_to = static_cast<int16_t>(target);
    b->direct_decision = d;
  }
  switch (d) {
    case Decision::kDirect:
      lane.dispatched.Add(1);
      ch.direct[ch.ndirect++] = &pkt;
      return true;
    case Decision::kHybridDirect:
      lane.hybrid_dispatched.Add(1);
      ch.direct[ch.ndirect++] = &pkt;
      return true;
    case Decision::kQueue:
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
          : workstreams_[target]->protos[proto].qlen.load(std::memory_order_relaxed) +
                static_cast<int64_t>(staged);
  return Decide({cc.mode, target, cc.here, cc.here_draining, outstanding, qlen});
}

int Dispatcher::PlaceBucket(CallContext& cc, ProtocolEntry& pe, ProtocolId proto, Packet& pkt,
                            Bucket& b, uint32_t bi, Decision* d) {
  Producer& prod = *cc.prod;
  const int16_t hint = pe.hints[bi].load(std::memory_order_relaxed);
  const bool hinted = hint >= 0 && hint < nws_;
  if (cc.mode != DispatchMode::kAdaptive || cc.here < 0) {
    // The policy's CPU (or the hinted one), with FreeBSD's mode rules. The
    // bucket has drained, so nothing of ours is outstanding.
    const int target = hinted ? hint : FlowWorkstream(pkt.flowid);
    *d = Decide({cc.mode, target, cc.here, cc.here_draining, 0,
                 workstreams_[target]->protos[proto].qlen.load(std::memory_order_relaxed)});
    return target;
  }
  const AdaptiveChoice choice = placement_.Place(prod, *cc.feedback, proto, b, hinted ? hint : -1);
  *d = choice.placement == cc.here ? Decision::kDirect : Decision::kQueue;
  return choice.placement;
}

void Dispatcher::RunDirect(CallContext& cc, ProtocolEntry& pe, ProtocolId proto,
                           std::span<Packet* const> burst) {
  // Direct runs count as the workstream's own work, so nested dispatches
  // from the handler see it running (FreeBSD's NWS_DISPATCHING) and queue
  // rather than recurse.
  Workstream* ws = cc.here >= 0 ? workstreams_[cc.here].get() : nullptr;
  // Called from Enter only, whose NoWaitScope covers the handlers.
  if (ws != nullptr) ++ws->draining;
  if (cc.mode == DispatchMode::kAdaptive && ws != nullptr) {
    // The adaptive rule wants this CPU's service time per protocol.
    const uint64_t t0 = placement_.Now();
    RunHandler(pe, burst);
    ws->meter->AddService(proto, placement_.Now() - t0, static_cast<uint32_t>(burst.size()));
  } else {
    RunHandler(pe, burst);
  }
  if (ws != nullptr) --ws->draining;
}

std::pair<uint32_t, uint32_t> Dispatcher::EnqueueToWorkstream(CallContext& cc, ProtocolEntry& pe,
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

  Lane& lane = pe.lane(cc.prod->index, t);
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

void Dispatcher::Flush() {
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

}  // namespace internal
}  // namespace netisr
