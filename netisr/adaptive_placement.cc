// See internal/adaptive_placement.h.
#include "netisr/internal/adaptive_placement.h"

#include <algorithm>

#include "sched_feedback/clock.h"

namespace netisr::internal {

namespace {
// What a move out spends of AdaptiveSettings::migration_step at least, in
// CPUs: bounds the moves an interval to 128 x migration_step (settings.h).
// 1/64 (16 moves an interval) left compare's skew at 8 and 16 simulated
// CPUs at 0.93 and 0.94 of the oracle, 1/128 at 0.95 and 0.96; real 2-CPU
// runs and the other scenarios unchanged (docs/adaptive.md 4).
constexpr double kLeastMoveCost = 1.0 / 128;
}  // namespace

uint64_t SystemClock::NowNs() const { return sched::FastClock::Global().NowNs(); }

Feedback& AdaptivePlacement::ReadLoads(Producer& prod, ProtocolEntry& pe, ProtocolId proto) const {
  Feedback& fb = pe.feedback[prod.index];
  fb.now_ns = clock_.NowNs();
  // Reading every workstream's load and queue fill costs a cache miss or
  // two each; a producer polling a paced source every microsecond would pay
  // them per packet or two. The published loads change once per window
  // anyway (reading on every call, paced at 4.2 Mpps, poll model: p50 4.2
  // us against 2.6; docs/adaptive.md 5, "Feedback read on every call").
  RollBucketEpoch(fb, pe, prod.index);
  if (fb.read_ns != 0 && fb.now_ns - fb.read_ns < kFeedbackRefreshNs) return fb;
  fb.read_ns = fb.now_ns;
  // Only this CPU's own sample is read now: the adaptive rule's common case
  // (the bucket is home and this CPU keeps up) needs nothing else. The
  // other workstreams are read when a decision first needs them (ReadOthers);
  // at 64 CPUs and 31 kpps each, reading all of them on every call was 45%
  // of `netisr sim`'s time (docs/sim.md).
  fb.others_read = false;
  fb.room_elsewhere = -1;
  fb.qlimit = pe.qlimit;
  fb.fill_fresh = 0;  // the caller's chunks start after this
  ReadOne(fb, prod, proto, prod.home_ws);
  prod.saturated = UpdateSaturation(prod.saturated, fb.loads[prod.home_ws], settings_.adaptive);
  return fb;
}

void AdaptivePlacement::ReadOne(Feedback& fb, const Producer& prod, ProtocolId proto, int w) const {
  // Published values older than two windows are stale: a worker that runs
  // publishes every window, so only a sleeping (or descheduled) one lags.
  const uint64_t stale_ns = 2 * settings_.adaptive.load_window_ns;
  const uint64_t bit = uint64_t{1} << w;
  const Workstream& ws = *ws_[w];
  sched::LoadSample& l = fb.loads[w];
  l = ws.load.Read();
  l.asleep = ws.signal.sleeping.load(std::memory_order_relaxed) != 0;
  // The clock is not ordered across CPUs (see FastClock): a publication
  // may read as slightly in the future.
  l.stale = fb.now_ns > l.published_ns && fb.now_ns - l.published_ns > stale_ns;
  // RefreshFill's reading this chunk (with what the chunk staged) is newer.
  if (!(fb.fill_fresh & bit))
    fb.fill[w] = static_cast<float>(ws.protos[proto].Qlen()) / static_cast<float>(fb.qlimit);
  // A settling target that sleeps with stale load will not publish until
  // woken; it is idle, so the last move evidently did not fill it.
  fb.settling &= ~bit;
  if (l.windows < prod.settle_until_windows[w] && !(l.asleep && l.stale)) fb.settling |= bit;
  fb.pressured &= ~bit;
  if (const uint64_t p = prod.pressured_ns[w];
      p != 0 && fb.now_ns - std::min(fb.now_ns, p) < settings_.adaptive.load_window_ns)
    fb.pressured |= bit;
}

void AdaptivePlacement::ReadOthers(Feedback& fb, const Producer& prod, ProtocolId proto) const {
  const int nws = static_cast<int>(ws_.size());
  if (!fb.others_read) {
    fb.others_read = true;
    for (int w = 0; w < nws; ++w)
      if (w != prod.home_ws) ReadOne(fb, prod, proto, w);
  }
  // Recomputed after a RefreshFill too, so that the rest of the chunk
  // keeps Place's shortcut.
  if (fb.room_elsewhere < 0) {
    fb.room_elsewhere =
        PickRoomyWorkstream({fb.loads.data(), size_t(nws)}, {fb.fill.data(), size_t(nws)},
                            prod.home_ws, 0, settings_.adaptive, 0) >= 0
            ? 1
            : 0;
  }
}

void AdaptivePlacement::RollBucketEpoch(Feedback& fb, ProtocolEntry& pe, int producer) const {
  const uint64_t len = kBucketEpochWindows * settings_.adaptive.load_window_ns;
  if (fb.epoch_start_ns == 0) fb.epoch_start_ns = fb.now_ns;
  if (fb.now_ns - fb.epoch_start_ns < len) return;
  // flow_buckets stores each epoch (256 by default, every 800 us).
  for (Bucket& b : pe.buckets[producer]) {
    b.last_epoch_pkts = b.epoch_pkts;
    b.epoch_pkts = 0;
  }
  fb.last_epoch_ns = fb.now_ns - fb.epoch_start_ns;
  fb.epoch_start_ns = fb.now_ns;
}

double AdaptivePlacement::BucketLoad(const Feedback& fb, const Bucket& b, ProtocolId proto,
                                     int here) const {
  if (fb.last_epoch_ns == 0) return 0;
  // This CPU's service time per packet; one that never ran the protocol
  // borrows the bucket's CPU's.
  uint32_t svc = ws_[here]->load.ServiceNs(proto);
  if (svc == 0 && b.placement >= 0) svc = ws_[b.placement]->load.ServiceNs(proto);
  return static_cast<double>(b.last_epoch_pkts) * svc / static_cast<double>(fb.last_epoch_ns);
}

void AdaptivePlacement::RefreshFill(Feedback& fb, const ProtocolEntry& pe, ProtocolId proto, int t,
                                    int64_t staged) const {
  const uint64_t bit = uint64_t{1} << t;
  if (!(fb.fill_fresh & bit)) {
    // One reading of the queue's two lines per target and chunk.
    fb.fill_fresh |= bit;
    fb.qlen[t] = ws_[t]->protos[proto].Qlen();
  }
  // What this producer staged for t so far in the chunk is not in qlen yet.
  fb.fill[t] = static_cast<float>(fb.qlen[t] + staged) / static_cast<float>(pe.qlimit);
  fb.room_elsewhere = -1;
}

AdaptiveChoice AdaptivePlacement::PlaceByRule(Producer& prod, Feedback& fb, ProtocolId proto,
                                              Bucket& b, int hint, int last_ran,
                                              const OrderFence& fence) const {
  const int here = prod.home_ws;
  const int nws = static_cast<int>(ws_.size());
  // A choice that would run the bucket elsewhere than last time waits for
  // the output of its handlers there (OrderFence).
  auto hold = [&](const AdaptiveChoice& c) {
    return last_ran >= 0 && c.placement != last_ran && !fence.OutputHandled(last_ran, proto);
  };
  AdaptiveChoice choice;
  if (hint >= 0) {
    choice = {hint, AdaptiveReason::kHinted};
    if (hold(choice)) choice = {last_ran, AdaptiveReason::kOrdered};
  } else {
    if (b.placement < 0 || b.placement >= nws) b.placement = static_cast<int16_t>(here);
    // Bucket home and this CPU keeping up: the rule answers kHasRoom from
    // here_saturated alone (Place's shortcut takes that case before this,
    // except for a bucket placed nowhere yet). Anything else may look at
    // other workstreams.
    if (b.placement != here || prod.saturated) ReadOthers(fb, prod, proto);
    const AdaptiveSettings& s = settings_.adaptive;
    const bool new_interval = fb.now_ns - prod.last_migration_ns >= s.migration_interval_ns;
    // What a move out (or on) of this bucket spends of the interval's budget
    // (a saturated producer's moves out and on are the only ones the budget
    // allows early).
    // Computed on first use: most decisions need neither (a division and a
    // read of this workstream's service time).
    const bool may_shed = b.placement == here && prod.saturated;
    double out_cost = -1;
    auto shed_cost = [&] {
      if (out_cost < 0) out_cost = std::max(BucketLoad(fb, b, proto, here), kLeastMoveCost);
      return out_cost;
    };
    const bool rate_ok =
        new_interval || (may_shed && prod.interval_moved + shed_cost() <= s.migration_step);
    // A bucket placed elsewhere, moved on by a saturated producer to a third
    // CPU: the same budget as its moves out (the cost is computed only for
    // such a bucket, and never with two workstreams, where there is no
    // third).
    const bool rebalance_ok =
        b.placement != here && prod.saturated && nws > 2 &&
        (new_interval || prod.interval_moved + shed_cost() <= s.migration_step);
    const AdaptiveView view{
        here,
        b.placement,
        prod.saturated,
        rate_ok,
        {fb.loads.data(), size_t(nws)},
        ws_[here]->cache_peers,
        {fb.fill.data(), size_t(nws)},
        fb.settling,
        fb.pressured,
        b.placement != here ? BucketLoad(fb, b, proto, here) : 0.0,
        {prod.settle_pending.data(), size_t(nws)},
        (may_shed || rebalance_ok) && fb.settling != 0 && fb.loads[here].full_polls >= kDeeplyBehind
            ? shed_cost()
            : 0.0,
        rebalance_ok};
    choice = DecideAdaptive(view, settings_.adaptive);
    if (hold(choice)) {
      choice = {last_ran, AdaptiveReason::kOrdered};  // nothing moves
    } else if (choice.reason == AdaptiveReason::kSpill) {
      // Runs here this once; the bucket stays placed where it is.
    } else if (choice.placement != b.placement) {
      b.placement = static_cast<int16_t>(choice.placement);
      prod.migrations.Add(1);
      if (new_interval) {
        prod.last_migration_ns = fb.now_ns;
        prod.interval_moved = 0;
      }
      const bool onward = choice.reason == AdaptiveReason::kMigrateOut ||
                          choice.reason == AdaptiveReason::kRebalance;
      // A return or a move home spends the interval's whole budget.
      prod.interval_moved += onward ? shed_cost() : s.migration_step;
      // The CPU that gained the bucket must show it before it gains
      // another: the target of a move out or on, or this one after a return.
      if ((onward || choice.reason == AdaptiveReason::kReturn) &&
          settings_.adaptive.settle_windows > 0) {
        const int t = choice.placement;
        const uint64_t bit = uint64_t{1} << t;
        if (onward) {
          // A return's target is here, which no move out or on takes: only
          // those are counted.
          const auto moved = static_cast<float>(shed_cost());
          prod.settle_pending[t] = (fb.settling & bit) ? prod.settle_pending[t] + moved : moved;
        }
        prod.settle_until_windows[t] = fb.loads[t].windows + settings_.adaptive.settle_windows;
        fb.settling |= bit;
      }
    }
  }
  prod.decisions[static_cast<size_t>(choice.reason)].Add(1);
  b.last_reason = choice.reason;
  return choice;
}

}  // namespace netisr::internal
