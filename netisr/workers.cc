// The WorkerRuntime side of the dispatcher: what a work model runs on each
// worker. A round polls the worker's ingress sources (unless adaptive
// backpressure holds them), then drains its lanes a few bursts each, and
// publishes the worker's load (busy time, full polls, queueing delay,
// service time) once per load window. Also the final drain at Stop.
//
// The load metering reads the dispatcher's clock (Dispatcher::Now: FastClock,
// or a simulator's virtual clock), once per poll and per drained burst (a
// handler's end is the next one's start).
#include <algorithm>
#include <string>

#include "netisr/internal/dispatcher.h"
#include "sched_feedback/clock.h"
#include "sched_feedback/topology.h"

namespace netisr::internal {

namespace {

// Bursts one lane may hand its handler per RunOnce, so that one busy lane
// cannot starve the worker's other lanes and its sources.
constexpr int kBurstsPerLanePerRound = 4;

}  // namespace

Status Dispatcher::OnWorkerStart(int worker) {
  tls_producer = producers_[worker].get();
  tls_workstream = worker;
  const int cpu = workstreams_[worker]->cpu;
  if (!settings_.bind_threads || cpu < 0) return Status::Ok();
  std::string err;
  if (!sched::BindCurrentThread(cpu, &err)) {
    return Status(ErrorCode::kUnavailable, "binding worker " + std::to_string(worker) + " to CPU " +
                                               std::to_string(cpu) + ": " + err);
  }
  return Status::Ok();
}

WorkerSignal& Dispatcher::signal(int worker) { return workstreams_[worker]->signal; }

bool Dispatcher::RunOnce(int worker) {
  const bool polled = PollSources(worker);
  return DrainQueues(worker) || polled;
}

bool Dispatcher::Backpressured(int w) {
  // Only an adaptive protocol holds its producers back: without one (and
  // no adaptive override), two loads instead of a pass over the protocols
  // every poll round (~100 instructions a round; callgrind,
  // benchmarks/nic's pipeline).
  const int ov = override_.load(std::memory_order_relaxed);
  if (ov >= 0 ? ov != static_cast<int>(DispatchMode::kAdaptive)
              : !adaptive_spec_.load(std::memory_order_relaxed))
    return false;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) {
    const ProtocolEntry& pe = *protocols_[x];
    if (ModeFor(pe) != DispatchMode::kAdaptive) continue;
    const auto limit = static_cast<int64_t>(settings_.adaptive.backpressure_fill * pe.qlimit);
    for (int t = 0; t < nws_; ++t) {
      if (t == w || workstreams_[t]->protos[x].Qlen() < limit) continue;
      // Only if some of the full queue is ours: holding back cannot drain
      // what other producers fill.
      const Lane& lane = pe.lane(w, t);
      if (lane.enqueued.load(std::memory_order_relaxed) !=
          lane.handled.load(std::memory_order_relaxed)) {
        producers_[w]->pressured_ns[t] = Now();
        return true;
      }
    }
  }
  return false;
}

[[gnu::always_inline]] inline void Dispatcher::TickLoad(Workstream& ws, uint64_t now) {
  // The depth (a load from each protocol's queue) only when the meter
  // publishes, once a window, not twice every poll round.
  if (ws.meter->TickDue(now)) PublishLoad(ws, now);
}

bool Dispatcher::PollSources(int worker) {
  Workstream& ws = *workstreams_[worker];
  if (ws.live_sources.load(std::memory_order_relaxed) == 0) return false;
  if (Backpressured(worker)) {
    // Adaptive backpressure: the sources (NIC rings) hold their packets
    // until the full queue drains, rather than netisr tail-dropping them
    // there. Reported as work done, so that a sleeping model spins instead
    // of sleeping idle_sleep_us (the queue drains in a few us). Not counted
    // as busy time: this CPU waits, it could take other work.
    __builtin_ia32_pause();
    TickLoad(ws, Now());
    return true;
  }
  IdentityScope id(producers_[worker].get(), worker);
  bool did = false;
  int live = 0;
  // One clock read per poll: each poll's end is the next one's start.
  uint64_t now = Now();
  // One poll round counts as one poll for LoadSample::full_polls, full if
  // any source filled its budget: per source, one backlogged queue among k
  // idle ones would read as a share of 1/(k+1) and never as behind.
  bool polled = false, full = false;
  for (IngressSource* src : ws.sources) {
    if (src->Exhausted()) continue;
    const size_t n = src->Poll(*this, settings_.burst);
    Flush();
    const uint64_t after = Now();
    polled = true;
    full |= n >= settings_.burst;
    if (n > 0) {
      did = true;
      ws.meter->AddBusy(after - now);
    }
    now = after;
    live += src->Exhausted() ? 0 : 1;
  }
  if (polled) ws.meter->AddPoll(full);
  ws.live_sources.store(live, std::memory_order_release);
  TickLoad(ws, now);
  return did;
}

void Dispatcher::PublishLoad(Workstream& ws, uint64_t now) {
  int64_t depth = 0;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) depth += ws.protos[x].Qlen();
  ws.meter->Tick(now, static_cast<uint32_t>(std::max<int64_t>(0, depth)));
}

bool Dispatcher::DrainQueues(int worker) {
  Workstream& ws = *workstreams_[worker];
  uint64_t now = Now();
  bool did = false;
  if (ws.listed.load(std::memory_order_relaxed)) {  // else nothing to drain (Workstream::listed)
    IdentityScope id(producers_[worker].get(), worker);
    did = DrainWorkstream(worker, &now);
  }
  TickLoad(ws, now);
  return did;
}

bool Dispatcher::DrainWorkstream(int w, uint64_t* now) {
  Workstream& ws = *workstreams_[w];
  if (!ws.listed.load(std::memory_order_relaxed)) return false;  // nothing was ever queued here
  const bool drop = now == nullptr && settings_.shutdown == ShutdownMode::kDrop;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  bool did = false;
  ++ws.draining;
  ++ws.dispatching;  // FreeBSD's NWS_RUNNING
  for (int x = 0; x < nproto; ++x) {
    WorkstreamProto& q = ws.protos[x];
    uint64_t listed[kLaneWords];
    uint64_t any = 0;
    for (int word = 0; word < kLaneWords; ++word)
      any |= listed[word] = q.lanes[word].load(std::memory_order_relaxed);
    if (any == 0) continue;  // no producer ever queued here
    ProtocolEntry& pe = *protocols_[x];
    bool handled_any = false;
    size_t found = 0;  // queued in the lanes, as their first pops found them
    // The lanes in producer order, as before: only those that ever pushed.
    for (int word = 0; word < kLaneWords; ++word) {
      for (uint64_t m = listed[word]; m != 0; m &= m - 1) {
        const int p = word * 64 + __builtin_ctzll(m);
        handled_any |= DrainLane(ws, x, pe, pe.lane(p, w), now, found);
      }
    }
    // Lanes read at different moments of the scan can sum past the limit.
    found = std::min<size_t>(found, pe.qlimit);
    if (found > q.watermark.Get()) q.watermark.Add(found - q.watermark.Get());
    if (handled_any && !drop && pe.spec.drained && q.Qlen() == 0) {
      pe.spec.drained(w);
      // What the hook dispatched must be woken toward its workstream now:
      // a worker asleep without live sources waits for nothing else.
      Flush();
    }
    did |= handled_any;
  }
  --ws.dispatching;
  --ws.draining;
  return did;
}

bool Dispatcher::DrainLane(Workstream& ws, ProtocolId x, ProtocolEntry& pe, Lane& lane,
                           uint64_t* now, size_t& found) {
  // A handler of this lane waits (fibers model): the lane's later packets
  // stay behind it.
  if (lane.busy) return false;
  const bool final_pass = now == nullptr;
  const bool drop = final_pass && settings_.shutdown == ShutdownMode::kDrop;  // as the caller's
  WorkstreamProto& q = ws.protos[x];
  Packet* burst[256];
  bool handled_any = false;
  lane.busy = true;
  for (int round = 0; round < kBurstsPerLanePerRound; ++round) {
    size_t avail = 0;
    const size_t n = lane.ring.pop(burst, settings_.burst, &avail);
    if (round == 0) found += avail;
    if (n == 0) break;
    // The producer wrote these descriptors on its CPU: start fetching all
    // of them now rather than miss on each in turn in the handler (DPDK
    // drivers prefetch a received burst the same way). Only the first
    // line: the second holds what a handler here seldom reads (see
    // Packet), and fetching it would make the producer that recycles the
    // packet take it back.
    for (size_t i = 0; i < n; ++i) __builtin_prefetch(burst[i]);
    // This thread is `taken`'s one writer (another fiber of it may have
    // popped meanwhile: reread, not kept across handlers).
    q.taken.store(q.taken.load(std::memory_order_relaxed) + static_cast<int64_t>(n),
                  std::memory_order_relaxed);
    if (drop) {
      for (size_t i = 0; i < n; ++i) Release(burst[i]);
      lane.shutdown_drops.Add(n);
    } else if (final_pass) {
      RunHandler(ws, x, pe, {burst, n});
    } else {
      // One clock read per burst: a handler's end is the next start.
      const uint64_t t0 = *now;
      if (const uint32_t stamp = burst[0]->queued_ns; stamp != 0) {
        // Stamped by an adaptive producer: sample its wait, modulo 2^32
        // (Packet::queued_ns); a stamp that reads as later than now (the
        // clock is not ordered across CPUs) waited 0. The stamp stays (see
        // EnqueueToWorkstream for who clears it).
        const auto wait = static_cast<int32_t>(static_cast<uint32_t>(t0) - stamp);
        ws.meter->AddQueueDelay(static_cast<uint64_t>(std::max(wait, 0)));
      }
      RunHandler(ws, x, pe, {burst, n});
      *now = Now();
      ws.meter->AddService(x, *now - t0, static_cast<uint32_t>(n));
      ws.meter->AddBusy(*now - t0);
    }
    lane.handled.store(lane.handled.load(std::memory_order_relaxed) + n, std::memory_order_release);
    lane.drained_bursts.Add(1);
    handled_any = true;
    Flush();
  }
  lane.busy = false;
  return handled_any;
}

bool Dispatcher::HasQueued(int worker) const {
  const Workstream& ws = *workstreams_[worker];
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  for (int x = 0; x < nproto; ++x) {
    if (ws.protos[x].Qlen() != 0) return true;
  }
  return false;
}

bool Dispatcher::HasLiveSources(int worker) const {
  return workstreams_[worker]->live_sources.load(std::memory_order_acquire) > 0;
}

}  // namespace netisr::internal
