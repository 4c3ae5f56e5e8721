#include "netisr/internal/select.h"

#include "base/flow_bucket.h"

namespace netisr::internal {

namespace {
int BySource(uint16_t source, int nws) { return source % nws; }
}  // namespace

int SelectWorkstream(const ProtocolSpec& spec, Packet& pkt, uint16_t source, int nws,
                     uint32_t buckets) {
  switch (spec.policy) {
    case Policy::kSource:
      return BySource(source, nws);
    case Policy::kFlow:
      if (pkt.has_flowid() || (spec.m2flow && spec.m2flow(pkt))) {
        return static_cast<int>(
            base::FlowWorkstreamOf(pkt.flowid, static_cast<uint32_t>(nws), buckets));
      }
      return BySource(source, nws);  // FreeBSD's fallback when no flowid exists
    case Policy::kCpu: {
      Packet* const one = &pkt;
      int ws = kNoWorkstream;
      spec.m2cpuid({&one, 1}, source, {&ws, 1});
      return CheckedWorkstream(ws, nws);
    }
  }
  return -1;
}

namespace {

// Asleep, and nothing published for a while: idle, whatever the last
// published values say. Being asleep alone proves little: a threads-model
// worker at 80% load sleeps between bursts, and sampling it asleep used to
// count it as idle and pile buckets onto it (docs/adaptive.md 5, the
// "Tail drops instead of backpressure" row).
bool Idle(const sched::LoadSample& l) { return l.asleep && l.stale; }

double EffectiveBusy(const sched::LoadSample& l) { return Idle(l) ? 0 : l.busy; }

bool Overloaded(const sched::LoadSample& l, float fill, const AdaptiveSettings& s) {
  return fill > kOverloadFill || (!Idle(l) && l.queue_delay_ns > s.delay_high_ns);
}

// Room for more work on a CPU whose busy fraction is under `busy_bound`.
bool HasRoomBelow(const sched::LoadSample& l, float fill, double busy_bound,
                  const AdaptiveSettings& s) {
  return fill < kRoomFill &&
         (Idle(l) || (l.busy < busy_bound && l.queue_delay_ns < s.delay_low_ns));
}

bool HasRoom(const sched::LoadSample& l, float fill, const AdaptiveSettings& s) {
  return HasRoomBelow(l, fill, s.room_busy, s);
}

}  // namespace

const char* ToString(AdaptiveReason r) {
  switch (r) {
    case AdaptiveReason::kHasRoom:
      return "has_room";
    case AdaptiveReason::kNoRoom:
      return "no_room";
    case AdaptiveReason::kMigrateOut:
      return "migrate_out";
    case AdaptiveReason::kPlaced:
      return "placed";
    case AdaptiveReason::kMigrateHome:
      return "migrate_home";
    case AdaptiveReason::kReturn:
      return "return";
    case AdaptiveReason::kHinted:
      return "hinted";
    case AdaptiveReason::kSpill:
      return "spill";
    case AdaptiveReason::kInFlight:
      return "in_flight";
    case AdaptiveReason::kOrdered:
      return "ordered";
    case AdaptiveReason::kRebalance:
      return "rebalance";
    case AdaptiveReason::kCount:
      break;
  }
  return "?";
}

bool UpdateSaturation(bool was, const sched::LoadSample& here, const AdaptiveSettings& s) {
  const bool behind = here.full_polls >= s.full_polls_high;
  if ((here.busy > s.busy_high && behind) || here.queue_delay_ns > s.delay_high_ns) return true;
  const bool keeps_up = here.busy < s.busy_low || here.full_polls < s.full_polls_high / 2;
  if (keeps_up && here.queue_delay_ns < s.delay_low_ns) return false;
  return was;
}

int PickRoomyWorkstream(std::span<const sched::LoadSample> loads, std::span<const float> fill,
                        int here, uint64_t cache_peers, const AdaptiveSettings& s,
                        uint64_t excluded) {
  int best = -1;
  bool best_peer = false;
  double best_busy = 2;
  for (int w = 0; w < static_cast<int>(loads.size()); ++w) {
    if (w == here || ((excluded >> w) & 1) || !HasRoom(loads[w], fill[w], s)) continue;
    const bool peer = (cache_peers >> w) & 1;
    const double busy = EffectiveBusy(loads[w]);
    if ((peer && !best_peer) || (peer == best_peer && busy < best_busy)) {
      best = w;
      best_peer = peer;
      best_busy = busy;
    }
  }
  return best;
}

namespace {

// The settling targets that cannot take the bucket on top of what this
// producer already moved there (AdaptiveView::pending): all of them unless
// this producer is deeply behind its sources; otherwise those where the
// moves would use half the target's room under room_busy or more. Half,
// because each producer counts only its own moves: producers saturated at
// once may pick the same target. Under `skew` at 8 simulated CPUs (one
// move per target per settle period: 256 buckets at ~7 a millisecond)
// adaptive carried 0.74 of the oracle's throughput in compare's 30 ms run,
// 0.93 with this (docs/adaptive.md 4).
uint64_t SettledFull(const AdaptiveView& v, const AdaptiveSettings& s) {
  if (v.pending.size() < v.loads.size() || v.loads[v.here].full_polls < kDeeplyBehind)
    return v.settling;
  uint64_t full = 0;
  for (uint64_t m = v.settling; m != 0; m &= m - 1) {
    const int w = __builtin_ctzll(m);
    if (w >= static_cast<int>(v.loads.size())) break;
    if (EffectiveBusy(v.loads[w]) + 2 * (v.pending[w] + v.move_load) >= s.room_busy)
      full |= uint64_t{1} << w;
  }
  return full;
}

}  // namespace

bool PlacementOverloaded(const AdaptiveView& v, const AdaptiveSettings& s) {
  return ((v.pressured >> v.placement) & 1) ||
         Overloaded(v.loads[v.placement], v.fill[v.placement], s);
}

AdaptiveChoice DecideAdaptive(const AdaptiveView& v, const AdaptiveSettings& s) {
  if (v.placement == v.here) {
    if (!v.here_saturated) return {v.here, AdaptiveReason::kHasRoom};
    const int to = v.may_migrate ? PickRoomyWorkstream(v.loads, v.fill, v.here, v.cache_peers, s,
                                                       SettledFull(v, s) | v.pressured)
                                 : -1;
    if (to < 0) return {v.here, AdaptiveReason::kNoRoom};
    return {to, AdaptiveReason::kMigrateOut};
  }
  const bool placement_overloaded = PlacementOverloaded(v, s);
  const bool here_overloaded = Overloaded(v.loads[v.here], v.fill[v.here], s);
  if (v.may_migrate && placement_overloaded && !here_overloaded) {
    return {v.here, AdaptiveReason::kMigrateHome};
  }
  // Direct dispatch while this CPU has capacity: buckets moved out while it
  // was saturated (a burst, a slow start) come back one at a time once it
  // is not, each judged by this CPU's load before the next. Without this
  // they stayed out for good: paced at 2 Mpps with skew 0.9, 80% of the
  // packets crossed CPUs after a start-up burst and the median was 3.7 us
  // against direct's 0.2 (docs/adaptive.md 5, "No return"). The bound is
  // busy_low, not room_busy: between the two a return would tip this CPU
  // back over busy_high within a bucket or two (paced 3 Mpps: 282 moves per
  // run instead of 125, p99 317 us instead of 189; docs/adaptive.md 5); and
  // the bucket's own load must fit under busy_high, or one hot bucket would
  // move out and back every settle period. (Saturation needs no test of its
  // own: it implies busy over busy_low or a queueing delay over
  // delay_low_ns.)
  if (v.may_migrate && !((v.settling >> v.here) & 1) &&
      HasRoomBelow(v.loads[v.here], v.fill[v.here], s.busy_low, s) &&
      v.loads[v.here].busy + v.bucket_load < s.busy_high) {
    return {v.here, AdaptiveReason::kReturn};
  }
  // This CPU saturated (a hot RX queue's, busy receiving) and the bucket's
  // CPU busy past busy_high with a queue building: on to the roomiest other
  // CPU rather than spill here, which would only slow this one's receive.
  // The moves out that filled the placement were chosen on loads published
  // before any of them showed, so some targets take too much and others
  // nothing; without this a bucket stayed where its first move landed, the
  // overfull targets spilled back onto the hot CPU, and under skew at 16
  // simulated CPUs six CPUs idled at ~0.27 busy (docs/adaptive.md 4).
  if (v.may_rebalance && v.here_saturated &&
      (placement_overloaded || (v.fill[v.placement] >= s.spill_fill &&
                                EffectiveBusy(v.loads[v.placement]) > s.busy_high))) {
    const int to =
        PickRoomyWorkstream(v.loads, v.fill, v.here, v.cache_peers, s,
                            SettledFull(v, s) | v.pressured | (uint64_t{1} << v.placement));
    if (to >= 0) return {to, AdaptiveReason::kRebalance};
  }
  // Work conservation at the scale of one burst: the bucket's CPU already
  // has a queue, so rather than lengthen it (and, past backpressure_fill,
  // stop polling), this drained bucket's packet runs here, once.
  if (v.fill[v.placement] >= s.spill_fill && !here_overloaded) {
    return {v.here, AdaptiveReason::kSpill};
  }
  return {v.placement, AdaptiveReason::kPlaced};
}

}  // namespace netisr::internal
