// AdaptivePlacement: where DispatchMode::kAdaptive puts a drained flow
// bucket, from one producer's snapshot of the workers' published loads and
// queue fills (internal::Feedback) and the pure rule in select.h.
//
// It reads time only from the Clock it is given (the dispatcher's:
// Settings::clock or FastClock), so a simulator can run this code, not a
// copy of it, in virtual time. Other workstreams' loads are read lazily,
// only for a decision that looks beyond this CPU (a bucket away from home or
// this CPU saturated), so the common case costs one sample, not nws. The clock is read once per
// entry-point call (ReadLoads) and twice per adaptive direct run (service time), a virtual call
// each, only in adaptive mode. The workers' own load metering (workers.cc) reads the same clock
// through Dispatcher::Now, which calls FastClock inline when no clock was injected: it runs per
// drained burst in every mode.
//
// Threading: every method runs on the producer thread that owns `prod` and
// its Feedback; it reads other workers' published state with relaxed loads
// (see structures.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "netisr/internal/select.h"
#include "netisr/internal/structures.h"
#include "netisr/settings.h"

namespace netisr::internal {

// Time source of the adaptive placement, ns, monotonic (settings.h).
using Clock = ::netisr::Clock;

// sched::FastClock::Global().
class SystemClock final : public Clock {
 public:
  uint64_t NowNs() const override;
};

// The order guarantee across producers. A handler's output (its nested
// dispatches: a request's response) leaves from the producer of the
// workstream the handler ran on, and a consumer drains its lanes in
// producer order. A bucket that moved while that output was still queued
// would have its next handler's output leave from another producer and
// could overtake it: so a bucket leaves a workstream only once what its
// protocol's handlers emitted there is handled (XPS's ooo_okay, applied to
// the producer a flow leaves). Output is told apart by the protocol whose
// handler was running (Workstream::running), so an Ethernet layer's
// hand-off to TCP does not hold TCP's buckets, whose handlers emit
// nothing; but a lane's mark (Lane::nested_mark) is shared, so where two
// protocols' handlers push into the same lane each waits for both. Within
// a protocol, output is not told apart by bucket, which no producer can
// do, so a bucket may stay longer than the rule wanted: as long as the
// old workstream's consumers lag behind what it emits (no bound; at 64
// simulated CPUs under reqresp 6% of the decisions were held). It orders
// one hop: output of output (A's handler emits to T, whose handler emits
// to T2) is ordered at T2 only if T's bucket keeps still. Not covered:
// what a protocol's drained hook dispatches (protocol.h), and a bucket
// whose last packets ran on the direct-mode fast paths or as a whole
// hybrid chunk (HybridChunk) before a switch to adaptive (they record no
// Bucket::direct_chunk; LastRan sees older state).
class OrderFence {
 public:
  // True once everything the handlers of protocol `proto` emitted on
  // workstream w has been handled.
  virtual bool OutputHandled(int w, ProtocolId proto) const = 0;

 protected:
  ~OrderFence() = default;
};

class AdaptivePlacement {
 public:
  // `workstreams` and `settings` must outlive this object; nws fixed.
  AdaptivePlacement(const Settings& settings, const Clock& clock,
                    const std::vector<std::unique_ptr<Workstream>>& workstreams)
      : settings_(settings), clock_(clock), ws_(workstreams) {}

  uint64_t Now() const { return clock_.NowNs(); }

  // Returns `prod`'s snapshot for `proto` with now_ns set, its own load,
  // queue fill and saturation re-read at most every kFeedbackRefreshNs (the
  // other workstreams' when Place first needs them after that), and
  // its bucket epoch rolled over when due. `prod` must be a worker's
  // (home_ws >= 0).
  Feedback& ReadLoads(Producer& prod, ProtocolEntry& pe, ProtocolId proto) const;

  // Feedback::room_elsewhere made known, reading the other workstreams if
  // this refresh has not (what PlaceByRule does first for a home bucket of
  // a saturated producer): for Dispatcher::AdaptiveChunk.
  void KnowRoomElsewhere(Feedback& fb, const Producer& prod, ProtocolId proto) const {
    ReadOthers(fb, prod, proto);
  }

  // Re-reads workstream t's queue fill into fb, once per chunk, plus
  // `staged` packets this chunk staged for t so far; the spill test needs
  // it current. Invalidates Feedback::room_elsewhere (ReadOthers
  // recomputes it).
  void RefreshFill(Feedback& fb, const ProtocolEntry& pe, ProtocolId proto, int t,
                   int64_t staged) const;

  // Places drained bucket b of `prod` (on workstream prod.home_ws) by the
  // adaptive rule, or on `hint` if that is a workstream (-1 none): moves it
  // when the rule says so, counting the decision and the migration. Unless
  // it would run elsewhere than `last_ran` (where its last packet ran or
  // was queued; -1 none) before `fence` says that workstream's handler
  // output is handled: then it runs there again (kOrdered), nothing moved.
  //
  // Inline, the rule's common case: a home bucket stays home while this CPU
  // keeps up (kHasRoom) or, saturated, while no other workstream has room by
  // the loads read (Feedback::room_elsewhere 0; DecideAdaptive would answer
  // kNoRoom whatever it excluded). Under saturation with no room anywhere,
  // every packet of a home bucket takes it. Through the whole rule
  // (PlaceByRule with its view and DecideAdaptive: ~160 instructions a
  // call with DecideAdaptive's, ~108 of them PlaceByRule's own) such
  // packets cost ~100 instructions more (callgrind, `netisr run --model
  // inline`; docs/adaptive.md 6).
  [[gnu::always_inline]] AdaptiveChoice Place(Producer& prod, Feedback& fb, ProtocolId proto,
                                              Bucket& b, int hint, int last_ran,
                                              const OrderFence& fence) const {
    const int here = prod.home_ws;
    if (hint >= 0 || b.placement != here || (prod.saturated && fb.room_elsewhere != 0))
      return PlaceByRule(prod, fb, proto, b, hint, last_ran, fence);
    AdaptiveChoice choice{here,
                          prod.saturated ? AdaptiveReason::kNoRoom : AdaptiveReason::kHasRoom};
    if (last_ran >= 0 && last_ran != here && !fence.OutputHandled(last_ran, proto))
      choice = {last_ran, AdaptiveReason::kOrdered};
    prod.decisions[static_cast<size_t>(choice.reason)].Add(1);
    b.last_reason = choice.reason;
    return choice;
  }

 private:
  // Place's general case: a hint (kHinted), or else a bucket placed nowhere
  // yet (placed home first), placed elsewhere, or home on a saturated CPU
  // that may have room elsewhere: reads the other workstreams if needed,
  // builds the AdaptiveView and applies DecideAdaptive, moving the bucket
  // if told. Either way subject to the fence, as Place says.
  AdaptiveChoice PlaceByRule(Producer& prod, Feedback& fb, ProtocolId proto, Bucket& b, int hint,
                             int last_ran, const OrderFence& fence) const;

  // Reads workstream w's published load, queue fill (unless RefreshFill's
  // is fresher) and settling and pressured bits into fb.
  void ReadOne(Feedback& fb, const Producer& prod, ProtocolId proto, int w) const;
  // ReadOne for every workstream but prod's own, once per ReadLoads
  // refresh; and Feedback::room_elsewhere whenever it is unknown.
  void ReadOthers(Feedback& fb, const Producer& prod, ProtocolId proto) const;
  // Starts a new bucket epoch once kBucketEpochWindows load windows have
  // passed, keeping each bucket's count of the one that ended.
  void RollBucketEpoch(Feedback& fb, ProtocolEntry& pe, int producer) const;
  // AdaptiveView::bucket_load of b for the producer on workstream `here`.
  double BucketLoad(const Feedback& fb, const Bucket& b, ProtocolId proto, int here) const;

  const Settings& settings_;
  const Clock& clock_;
  const std::vector<std::unique_ptr<Workstream>>& ws_;
};

}  // namespace netisr::internal
