// The simulation engine: the real netisr dispatcher, a virtual clock, and
// workers run in virtual-time order. Design and trade-offs in
// sim/simulator.h; what each cost stands for in sim/profile.h.
//
// Per worker w the engine keeps ready_[w], the virtual time of its next
// round (kNever while it sleeps with nothing due). Each step runs the worker
// with the least ready_ (lowest index on ties) for one RunOnce with the
// clock at that time; the round's sources and handlers advance the clock.
// A round that moved packets is followed at once by the next; a round that
// moved nothing (backpressure spin, or a packet pool momentarily empty)
// retries kRetryNs later (longer after many in a row: RetryAt); a round
// that found nothing puts the worker to sleep (WorkerSignal::sleeping = 1)
// until its RX queues' next arrival or a producer's Wake, paying
// CostProfile::wakeup_ns if it idled longer than spin_ns.
//
// Stalls (CostProfile::stall_gap_ns, stall_ns): each CPU loses its worker
// for stall_ns (or a length drawn from the profile's stall quantiles,
// StallNsAt) every stall_gap_ns on average, as StallSchedule lays them out
// (a stall, then exponential free time, per stream), from RNGs of their own
// (the traffic's draws are the same with stalls or without). A stall that
// begins while the worker runs takes effect where it falls (StallWithin,
// per packet in a handler run and after a poll's receive): the packets not
// yet done wait for it, as the rest of a burst does on a real CPU taken
// away mid-burst. One that began between rounds, or while the worker slept,
// delays the next round's work until it ends (stall_end_: the CPU is back
// at the end of the latest stall begun so far), spent at the start of the
// round's first poll or handler run (ApplyStall), so inside a round: the
// dispatcher's load meter counts it busy, as it counts a descheduled
// worker's lost time on a real machine. What a stall took from a worker
// that was only waiting (asleep, or retrying a backpressured poll) is not
// charged again: an earlier version added every stall begun between rounds
// to a pending total spent at the next poll, and a producer retrying for
// long behind a stalled consumer piled up seconds of it, which stalled it
// in turn while the consumer retried: the clock ran away (netisr compare
// under load, 2026-12-07). A stream's stalls never overlap one another; a
// private and a shared stall that do delay the worker by their union
// (StallAdds), so a busy CPU loses about MeanStallNs() / stall_gap_ns of
// its time (a little less where the two streams overlap: nothing at this
// VM's ~25 us every ~0.6 ms).
// A stall that began in a worker's last round after its last StallWithin
// is judged at the next round as if it had begun between rounds: that
// round's packets do not finish later.
#include "sim/internal/engine.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "base/flow_bucket.h"
#include "harness/latency_histogram.h"
#include "harness/order_check.h"
#include "netisr/netisr.h"
#include "netisr/work_model.h"
#include "sim/internal/random.h"
#include "sim/internal/ready_times.h"
#include "sim/internal/scenario.h"
#include "sim/internal/stalls.h"
#include "sim/oracle.h"

namespace netisr::sim::internal {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
// Virtual time of the first instant, ns: nonzero, since the dispatcher
// reads 0 as "never" (load publication, feedback reads, queue stamps).
constexpr uint64_t kStartNs = 1'000'000;
// Retry delay of a worker whose round moved no packet yet reported work
// (backpressure) or that waits for pool packets, ns: a spin of a few pauses.
constexpr uint64_t kRetryNs = 100;
// A worker retrying that long in a row (kRetriesBeforeBackoff x kRetryNs =
// 6.4 us: longer than the queues take to drain between a consumer's
// rounds) waits for another worker: its consumer stalled, its queue full.
// It then retries twice as long every kRetriesPerDoubling rounds, up to
// kMaxRetryNs, and never past just after the next round of another worker
// that is not retrying as long (nothing it waits on changes before), so it
// sees that round's effect within 1 ns as before; never before its own
// stalls end. Without it, a producer behind a consumer stalled for
// 36 ms (measured on a loaded machine) took 360,000 rounds to get there.
constexpr uint32_t kRetriesBeforeBackoff = 64;
constexpr uint32_t kRetriesPerDoubling = 8;
constexpr uint64_t kMaxRetryNs = 10'000;

class VirtualClock final : public Clock {
 public:
  uint64_t NowNs() const override { return now; }
  uint64_t now = kStartNs;
};

class Engine;

// The simulator's work model: runs nothing by itself; Wake hands the
// producer's wakeup to the engine's schedule.
class SimModel final : public WorkModel {
 public:
  explicit SimModel(Engine* e) : engine_(e) {}
  std::string_view name() const override { return "sim"; }
  Status Start(WorkerRuntime& rt) override {
    rt_ = &rt;
    return Status::Ok();
  }
  void Wake(int worker) override;
  void Stop() override {}
  bool self_driven() const override { return false; }
  bool Pump() override { return false; }
  WorkerRuntime* runtime() const { return rt_; }

 private:
  Engine* engine_;
  WorkerRuntime* rt_ = nullptr;
};

// One RX queue, polled by worker queue % cpus.
class RxQueue final : public IngressSource {
 public:
  RxQueue(Engine* e, int q) : engine_(e), q_(q) {}
  size_t Poll(Netisr& nisr, size_t budget) override;
  bool Exhausted() const override { return left == 0; }

  int64_t left = 0;    // arrivals still to come
  double rate = 0;     // packets per second; 0 = saturate
  double next_ns = 0;  // next arrival (virtual ns), when rate > 0
  AliasTable pick;     // which slot sends the next packet
  std::vector<uint32_t> slots;

 private:
  Engine* engine_;
  int q_;
};

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Engine {
 public:
  Engine(const SimConfig& c)
      : c_(c),
        nq_(c.queues > 0 ? c.queues : c.cpus),
        rng_(c.seed),
        order_(harness::FlowOrderCheck::Hashed(16)),
        scen_(BuildScenario(c.scenario, nq_, c.flows, c.seed, c.bench)) {}
  // The dispatcher goes first: its Stop may still reach the sources and
  // the packets.
  ~Engine() { nisr_.reset(); }

  Result<SimResult> Run();

  // --- called back by the model, the sources and the handler ---
  void OnWake(int w) {
    if (!asleep_[w]) return;
    asleep_[w] = false;
    uint64_t t = clock_.now;
    if (t > idle_since_[w] && t - idle_since_[w] > spin_ns_) t += wakeup_ns_;
    ready_.Set(static_cast<size_t>(w), std::max(t, idle_since_[w]));
  }
  size_t PollQueue(RxQueue& rx, int q, size_t budget);
  void Handle(Burst burst);

 private:
  static void ReleaseFn(Packet* p) {
    Engine* e = static_cast<Engine*>(p->release_ctx);
    e->free_.push_back(static_cast<uint32_t>(p - e->pkts_.data()));
  }
  Packet* Alloc() {
    if (free_.empty()) return nullptr;
    Packet* p = &pkts_[free_.back()];
    free_.pop_back();
    return p;
  }
  uint64_t DrawService() {
    switch (service_dist_) {
      case 0:
        return service_fixed_;
      case 1:
        return static_cast<uint64_t>(std::llround(rng_.Exp(c_.service_ns)));
      default:
        return rng_.Uniform() <= 0.9 ? service_lo_ : service_hi_;
    }
  }
  // Fills `p` as the next packet of slot `si` arriving at `arrival`.
  void MakePacket(Packet* p, uint32_t si, uint64_t arrival, int producer);
  uint64_t NextArrival(int w) const;
  void ApplyOracle(ProtocolId proto);
  double MeanCost(Kind k) const;

  // Stalls that began on worker w's CPU up to virtual time t (its next
  // round's start): stall_end_[w] covers them.
  void AccrueStalls(int w, uint64_t t) {
    while (stalls_->Next(w) <= t) StallAdds(w, stalls_->Take(w));
  }
  // Stalls that begin on worker w's CPU while it runs, up to `now` (its
  // clock inside a round): each moves `now` on by what StallAdds gives.
  void StallWithin(int w, uint64_t& now) {
    while (stalls_->Next(w) <= now) now += StallAdds(w, stalls_->Take(w));
  }
  // The time stall s adds to worker w's clock: its length, less what
  // overlaps a stall already counted (a private and a shared stall may
  // overlap: the CPU is taken away once). Without this, overlapping
  // stalls summed, and a profile stalling a CPU most of the time pushed
  // the clock on faster than it ran: the run never ended.
  uint64_t StallAdds(int w, StallSchedule::Stall s) {
    uint64_t& end = stall_end_[static_cast<size_t>(w)];
    const uint64_t s_end = s.begin + s.len;
    const uint64_t adds = s_end <= end ? 0 : s_end - std::max(s.begin, end);
    end = std::max(end, s_end);
    return adds;
  }
  // The producer's part of the handoff (CostProfile::handoff_producer_ns)
  // for what worker w has queued to other workstreams and not yet paid for
  // (charged_[w] marks what it paid): its clock `now` moves on by it,
  // counted busy. Called after each poll's dispatch and each nested
  // dispatch from a handler; the mark makes a push made inside a handler
  // that a poll ran directly count once, not again when the poll returns.
  void ChargeProducer(int w, uint64_t& now) {
    if (handoff_producer_ns_ == 0) return;
    const uint64_t pushed = nisr_->QueuedElsewhere(w);
    const uint64_t cost = (pushed - charged_[w]) * handoff_producer_ns_;
    charged_[w] = pushed;
    now += cost;
    busy_[w] += cost;
  }
  // When worker w, whose round at `end` moved nothing, tries again (see
  // kRetriesBeforeBackoff).
  uint64_t RetryAt(int w, uint64_t end) {
    const auto i = static_cast<size_t>(w);
    const uint32_t n = ++retries_[i];
    uint64_t step = kRetryNs;
    if (n > kRetriesBeforeBackoff) {
      const uint32_t doublings =
          std::min<uint32_t>((n - kRetriesBeforeBackoff) / kRetriesPerDoubling, 16);
      step = std::min(kMaxRetryNs, kRetryNs << doublings);
    }
    // Workers retrying as long are left out: their rounds move nothing and
    // free no buffer (two of them capped each other at kRetryNs).
    uint64_t others = kNever;
    for (size_t k = 0; k < ready_.size(); ++k)
      if (k != i && retries_[k] < kRetriesBeforeBackoff) others = std::min(others, ready_[k]);
    // Just after the next round elsewhere: the lower index runs first on a tie.
    const uint64_t cap = others == kNever ? kNever : others + 1;
    // Not before its own CPU is back: stalled, it sees nothing.
    return std::max({end + kRetryNs, std::min(end + step, cap), stall_end_[i]});
  }
  // Waits out worker w's stalls begun before its round (from PollQueue and
  // Handle): its clock moves to the end of the latest, if still ahead.
  void ApplyStall(int w) {
    if (stall_end_.empty() || stall_end_[static_cast<size_t>(w)] <= clock_.now) return;
    clock_.now = stall_end_[static_cast<size_t>(w)];
    // Packets this round's polls bring in arrived during the stall at the
    // earliest: visible from now (PollQueue), not from before it.
    round_start_ = clock_.now;
  }

  const SimConfig c_;
  const int nq_;
  Rng rng_;
  harness::FlowOrderCheck order_;
  ScenarioModel scen_;
  VirtualClock clock_;
  std::unique_ptr<Netisr> nisr_;
  ProtocolId proto_ = 0;
  std::vector<int> oracle_placement_;  // SimResult::oracle_placement
  std::vector<std::unique_ptr<RxQueue>> rx_;
  std::vector<std::vector<int>> worker_queues_;

  std::vector<Packet> pkts_;
  std::vector<uint32_t> free_;

  ReadyTimes ready_{1};
  std::vector<uint64_t> idle_since_;
  std::vector<char> asleep_;
  std::vector<uint64_t> busy_;
  // Virtual time at which the running worker's round began: the visibility
  // stamp (meta[3]) of the packets its RX polls hand over (PollQueue).
  uint64_t round_start_ = kStartNs;

  // Costs, ns, rounded once.
  std::array<uint64_t, static_cast<size_t>(Kind::kCount)> stage_ns_{};
  // rx_pkt_ns_ includes adaptive_pkt_ns under adaptive dispatch (its
  // decision for each packet a poll brings; nested dispatches from
  // handlers are not charged it).
  uint64_t rx_burst_ns_ = 0, rx_pkt_ns_ = 0, handoff_burst_ns_ = 0;
  // handoff_pkt_ns split: the producer's part at the push, the consumer's
  // at the handler.
  uint64_t handoff_producer_ns_ = 0, handoff_consumer_ns_ = 0;
  uint64_t wakeup_ns_ = 0, spin_ns_ = 0, cache_move_ns_ = 0;
  // Stalls: their own RNGs, so the traffic's draws are the same with
  // stalls or without.
  std::unique_ptr<StallSchedule> stalls_;
  std::vector<uint64_t> stall_end_;  // by worker: the latest end of a stall counted
  std::vector<uint32_t> retries_;    // by worker: rounds in a row that moved nothing (RetryAt)
  std::vector<uint64_t> charged_;    // by worker: its pushes elsewhere paid for (ChargeProducer)
  int service_dist_ = 0;
  bool fixed_arrival_ = false;  // c_.arrival == "fixed", not compared per packet
  uint64_t service_fixed_ = 0, service_lo_ = 0, service_hi_ = 0;

  uint64_t conn_seq_ = 0;  // connection ids (order keys), 1-based
  uint64_t packets_ = 0, delivered_ = 0, reordered_ = 0, pool_drops_ = 0;
  uint64_t first_arrival_ = kNever, last_done_ = 0;
  long double latency_sum_ = 0;
  // Completions per 2^kDoneSlotShift ns of virtual time since kStartNs, for
  // SimResult::steady_pps.
  static constexpr int kDoneSlotShift = 16;  // 65.5 us
  std::vector<uint64_t> done_by_time_;
  uint64_t first_dry_ns_ = kNever;  // when the first RX queue sent its last packet
  harness::LatencyHistogram hist_;
};

void SimModel::Wake(int worker) { engine_->OnWake(worker); }

size_t RxQueue::Poll(Netisr&, size_t budget) { return engine_->PollQueue(*this, q_, budget); }

void Engine::MakePacket(Packet* p, uint32_t si, uint64_t arrival, int producer) {
  Slot& s = scen_.slots[si];
  Kind kind = s.kind;
  uint32_t flowid = s.flowid;
  uint64_t key = 0, seq = 0;
  if (s.flood) {
    // flowid % queues stays this queue's, as RSS would have put it.
    flowid = static_cast<uint32_t>(rng_.Next() / nq_ * nq_ + s.queue);
    key = ++conn_seq_;
    seq = 1;
  } else {
    if (s.conn == 0 || (s.conn_len > 0 && s.left == 0)) {
      if (s.conn != 0) {
        // A new connection on this slot: new flowid on the same queue.
        s.flowid = static_cast<uint32_t>(rng_.Next() / nq_ * nq_ + s.queue);
        s.last_cpu = -1;
      }
      s.conn = ++conn_seq_;
      s.seq = 0;
      s.left = s.conn_len;
      if (s.conn_len > 0) kind = Kind::kSyn;
    }
    flowid = s.flowid;
    if (s.conn_len > 0) --s.left;
    key = s.conn;
    seq = ++s.seq;
  }
  p->ResetMetadata();
  p->SetFlowId(flowid, HashType::kOpaque);
  p->ingress_ns = arrival;
  p->seq = seq;
  p->meta[0] = key;
  p->meta[1] = DrawService();
  p->meta[2] = static_cast<uint64_t>(kind) | (static_cast<uint64_t>(producer) << 8) |
               (static_cast<uint64_t>(si) << 16) | (s.flood ? uint64_t{1} << 63 : 0);
}

size_t Engine::PollQueue(RxQueue& rx, int q, size_t budget) {
  const int w = q % c_.cpus;
  ApplyStall(w);
  const uint64_t now = clock_.now;
  Packet* burst[256];
  size_t n = 0;
  while (n < budget && rx.left > 0) {
    uint64_t arrival = now;
    if (rx.rate > 0) {
      arrival = static_cast<uint64_t>(rx.next_ns);
      if (arrival > now) break;
    }
    Packet* p = Alloc();
    if (p == nullptr) break;  // the NIC ring holds it until buffers return
    MakePacket(p, rx.slots[rx.pick.Pick(rng_)], arrival, w);
    first_arrival_ = std::min(first_arrival_, arrival);
    burst[n++] = p;
    if (--rx.left == 0) first_dry_ns_ = std::min(first_dry_ns_, now);
    if (rx.rate > 0) {
      const double gap = 1e9 / rx.rate;
      rx.next_ns += fixed_arrival_ ? gap : rng_.Exp(gap);
    }
  }
  if (n == 0) return 0;
  const uint64_t rx_cost = rx_burst_ns_ + n * rx_pkt_ns_;
  clock_.now += rx_cost;
  busy_[w] += rx_cost;
  StallWithin(w, clock_.now);
  // Visible from the round's start (or the packet's arrival, if later: a
  // worker with several RX queues polls the later ones after the earlier
  // ones' receive and handlers), not from the end of this poll's RX cost.
  // The engine runs the earliest worker, so every consumer that runs later
  // is at or past round_start_ and seldom idles inside a handler waiting
  // for an RX packet; with one RX queue per worker, never. Idling there is
  // counted busy by the dispatcher's load meter (it times whole rounds), so
  // consumers published a load far above their utilisation and adaptive saw
  // no room (docs/sim.md, "Causality"). The price: a handed-off packet may
  // start up to what this round spent before it (for one queue, this poll's
  // rx_burst_ns + burst * rx_pkt_ns, and the producer's part of the handoff
  // of the burst's pushes, charged after the dispatch) earlier than on
  // hardware; never before its arrival. Packets the dispatch ran in place
  // finish before that charge too, where hardware pays the pushes first.
  for (size_t i = 0; i < n; ++i) burst[i]->meta[3] = std::max(round_start_, burst[i]->ingress_ns);
  packets_ += n;
  nisr_->DispatchBurst(static_cast<uint16_t>(q), proto_, {burst, n});
  ChargeProducer(w, clock_.now);
  StallWithin(w, clock_.now);
  return n;
}

void Engine::Handle(Burst burst) {
  const int w = Netisr::CurrentWorkstream();
  ApplyStall(w);
  uint64_t now = clock_.now;
  const int producer0 = static_cast<int>((burst[0]->meta[2] >> 8) & 0xff);
  if (producer0 != w) {
    now += handoff_burst_ns_;
    busy_[w] += handoff_burst_ns_;
  }
  for (Packet* p : burst) {
    const uint64_t tag = p->meta[2];
    const auto kind = static_cast<Kind>(tag & 0xff);
    const int producer = static_cast<int>((tag >> 8) & 0xff);
    const auto si = static_cast<uint32_t>((tag >> 16) & 0xffffffffu);
    const bool flood = (tag >> 63) != 0;
    // Never before it is visible to consumers (meta[3]; causality,
    // simulator.h).
    now = std::max(now, p->meta[3]);
    uint64_t cost = p->meta[1] + stage_ns_[static_cast<size_t>(kind)];
    if (producer != w) cost += handoff_consumer_ns_;
    if (!flood) {
      Slot& s = scen_.slots[si];
      int16_t& last = kind == Kind::kResp ? s.resp_last_cpu : s.last_cpu;
      if (last >= 0 && last != w) cost += cache_move_ns_;
      last = static_cast<int16_t>(w);
    }
    now += cost;
    busy_[w] += cost;
    StallWithin(w, now);
    const uint64_t sojourn = now - p->ingress_ns;
    hist_.Record(sojourn);
    latency_sum_ += sojourn;
    last_done_ = std::max(last_done_, now);
    ++delivered_;
    const size_t slot = static_cast<size_t>((now - kStartNs) >> kDoneSlotShift);
    if (slot >= done_by_time_.size()) done_by_time_.resize(slot + 1, 0);
    ++done_by_time_[slot];
    if (!order_.InOrder(p->meta[0], p->seq)) ++reordered_;
    if (kind == Kind::kReq) {
      // The response (source id: the loopback, after the RX queues) goes back through netisr from
      // inside the handler (a nested dispatch, as localhost's output path does).
      Slot& s = scen_.slots[si];
      if (s.resp_conn == 0) s.resp_conn = ++conn_seq_;
      Packet* r = Alloc();
      ++packets_;
      if (r == nullptr) {
        ++pool_drops_;
      } else {
        r->ResetMetadata();
        r->SetFlowId(ResponseFlowid(p->flowid), HashType::kOpaque);
        r->ingress_ns = p->ingress_ns;  // latency of the round trip
        r->seq = ++s.resp_seq;
        r->meta[0] = s.resp_conn;
        r->meta[1] = DrawService();
        r->meta[2] = static_cast<uint64_t>(Kind::kResp) | (static_cast<uint64_t>(w) << 8) |
                     (static_cast<uint64_t>(si) << 16);
        // Visible from the round's start (or its request's visibility, if
        // later), as what an RX poll hands over (PollQueue), not from `now`:
        // a round is atomic in virtual time, so a consumer running behind
        // this worker met responses from later in its round and idled
        // until then, its own RX queue waiting meanwhile, and its own
        // responses went out later still. Under reqresp from 16 CPUs that
        // ran away: hybrid's and the oracle's p50 reached milliseconds at
        // 70% load (1.5-3 ms, 64 and 16 CPUs) with the CPUs half idle; it
        // did too when stamped with the start of the request's handler run.
        // The price: a crossing response may be handled up to the rest of
        // this round early, before its request's handler ends in virtual
        // time (docs/sim.md, "Causality"; simulator.h).
        r->meta[3] = std::max(round_start_, p->meta[3]);
        clock_.now = now;
        nisr_->DispatchSrc(static_cast<uint16_t>(nq_), proto_, r);
        now = std::max(now, clock_.now);
        ChargeProducer(w, now);
      }
    }
    Release(p);
  }
  clock_.now = now;
}

uint64_t Engine::NextArrival(int w) const {
  uint64_t t = kNever;
  for (int q : worker_queues_[w]) {
    const RxQueue& rx = *rx_[q];
    if (rx.left == 0) continue;
    t = std::min(t, rx.rate > 0 ? static_cast<uint64_t>(rx.next_ns) : clock_.now);
  }
  return t;
}

double Engine::MeanCost(Kind k) const {
  return c_.service_ns + static_cast<double>(stage_ns_[static_cast<size_t>(k)]);
}

void Engine::ApplyOracle(ProtocolId proto) {
  const int nb = static_cast<int>(c_.flow_buckets);
  PlacementProblem pp;
  pp.cpus = c_.cpus;
  pp.base.assign(c_.cpus, 0);
  pp.cost.assign(nb, std::vector<double>(c_.cpus, 0));
  const double total = c_.load_pps > 0 ? c_.load_pps : 1e6;  // saturate: shares suffice
  // The handoff's two parts as the engine charges them (ChargeProducer,
  // Handle).
  const auto pushed = static_cast<double>(handoff_producer_ns_);
  const double handoff =
      static_cast<double>(handoff_consumer_ns_) + c_.profile.handoff_burst_ns / 32;
  const double rx = c_.profile.rx_pkt_ns + c_.profile.rx_burst_ns / 32;
  if (pushed > 0) pp.push.assign(nb, std::vector<double>(c_.cpus, 0));
  auto add = [&](int b, int home, double rate, double c) {
    for (int j = 0; j < c_.cpus; ++j)
      pp.cost[b][j] += rate * (c + (home >= 0 && j != home ? handoff : 0)) * 1e-9;
    if (home >= 0 && pushed > 0) pp.push[b][home] += rate * pushed * 1e-9;
  };
  for (const Slot& s : scen_.slots) {
    const double rate = s.weight * total;
    const int home = s.queue % c_.cpus;
    pp.base[home] += rate * rx * 1e-9;
    if (s.flood) {
      // Random flowids on this queue: flowid % queues == queue.
      std::vector<int> bs;
      for (int b = 0; b < nb; ++b) {
        if (nb % nq_ != 0 || b % nq_ == s.queue) bs.push_back(b);
      }
      for (int b : bs) add(b, home, rate / bs.size(), MeanCost(s.kind));
      continue;
    }
    const double c = s.conn_len > 0
                         ? (MeanCost(Kind::kSyn) + (s.conn_len - 1) * MeanCost(s.kind)) / s.conn_len
                         : MeanCost(s.kind);
    add(static_cast<int>(s.flowid & (nb - 1)), home, rate, c);
    if (s.kind == Kind::kReq) {
      // Its responses: produced wherever the request runs, so no CPU is
      // home, and the producer's part of their crossings (paid where the
      // request ran) is left out of the problem.
      add(static_cast<int>(ResponseFlowid(s.flowid) & (nb - 1)), -1, rate, MeanCost(Kind::kResp));
    }
  }
  oracle_placement_ = PlaceBuckets(pp);
  for (int b = 0; b < nb; ++b) {
    if (Status st = nisr_->SetFlowAffinity(proto, static_cast<uint32_t>(b), oracle_placement_[b]);
        !st.ok())
      return;
  }
}

Result<SimResult> Engine::Run() {
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  const CostProfile& pr = c_.profile;
  auto ns = [](double v) { return static_cast<uint64_t>(std::llround(v)); };
  const uint64_t base = ns(pr.ether_ns + pr.ip_ns);
  const uint64_t lookup = ns(pr.LookupNs(c_.table));
  stage_ns_[static_cast<size_t>(Kind::kTcp)] = base + ns(pr.tcp_ns) + lookup;
  stage_ns_[static_cast<size_t>(Kind::kUdp)] = base + ns(pr.udp_ns) + lookup;
  stage_ns_[static_cast<size_t>(Kind::kSyn)] = base + ns(pr.tcp_ns + pr.syn_ns) + lookup;
  stage_ns_[static_cast<size_t>(Kind::kReq)] = base + ns(pr.tcp_ns) + lookup;
  stage_ns_[static_cast<size_t>(Kind::kResp)] = base + ns(pr.tcp_ns) + lookup;
  if (c_.bench) stage_ns_.fill(0);  // the bench protocol parses nothing
  rx_burst_ns_ = ns(pr.rx_burst_ns);
  rx_pkt_ns_ = ns(pr.rx_pkt_ns + (c_.dispatch == "adaptive" ? pr.adaptive_pkt_ns : 0));
  handoff_producer_ns_ = std::min(ns(pr.handoff_producer_ns), ns(pr.handoff_pkt_ns));
  handoff_consumer_ns_ = ns(pr.handoff_pkt_ns) - handoff_producer_ns_;
  handoff_burst_ns_ = ns(pr.handoff_burst_ns);
  wakeup_ns_ = ns(pr.wakeup_ns);
  spin_ns_ = ns(pr.spin_ns);
  cache_move_ns_ = ns(pr.cache_move_ns);
  service_dist_ = c_.service_dist == "fixed" ? 0 : c_.service_dist == "exp" ? 1 : 2;
  fixed_arrival_ = c_.arrival == "fixed";
  service_fixed_ = ns(c_.service_ns);
  service_lo_ = ns(c_.service_ns / 2);
  service_hi_ = ns(c_.service_ns * 5.5);

  const int cpus = c_.cpus;
  Settings s;
  s.max_threads = cpus;
  s.bind_threads = false;
  s.max_external_producers = 0;
  s.default_qlimit = c_.qlimit;
  s.flow_buckets = c_.flow_buckets;
  s.adaptive = c_.adaptive;
  s.clock = &clock_;
  auto model = std::make_unique<SimModel>(this);
  SimModel* model_ptr = model.get();
  auto created = Netisr::Create(s, std::move(model));
  if (!created.ok()) return created.status();
  nisr_ = std::move(created).value();

  ProtocolSpec spec;
  spec.name = "sim";
  spec.handler = [this](Burst b) { Handle(b); };
  spec.policy = *ParsePolicy(c_.policy);
  spec.dispatch = c_.dispatch == "oracle" ? DispatchMode::kHybrid : *ParseDispatchMode(c_.dispatch);
  if (spec.policy == Policy::kCpu) {
    // The connection's home CPU: its flow bucket's, as a table partitioned
    // by flowid would keep it (inpcb::CpuOf).
    spec.m2cpuid = M2CpuEach([cpus, buckets = c_.flow_buckets](const Packet& p, uint16_t) {
      return static_cast<int>(
          base::FlowWorkstreamOf(p.flowid, static_cast<uint32_t>(cpus), buckets));
    });
  }
  auto proto = nisr_->Register(spec);
  if (!proto.ok()) return proto.status();
  proto_ = proto.value();

  // Packets: every queue full, a chunk in flight per worker, and spare.
  const size_t pool = static_cast<size_t>(cpus) * (c_.qlimit + 256) + 4096;
  pkts_.resize(pool);
  free_.reserve(pool);
  for (size_t i = pool; i-- > 0;) {
    pkts_[i].release = &Engine::ReleaseFn;
    pkts_[i].release_ctx = this;
    free_.push_back(static_cast<uint32_t>(i));
  }

  // RX queues: arrivals split by each queue's share (largest remainder).
  worker_queues_.assign(cpus, {});
  int64_t assigned = 0;
  std::vector<std::pair<double, int>> rem;
  for (int q = 0; q < nq_; ++q) {
    auto rx = std::make_unique<RxQueue>(this, q);
    const double exact = static_cast<double>(c_.packets) * scen_.queue_share[q];
    rx->left = static_cast<int64_t>(std::floor(exact));
    assigned += rx->left;
    rem.push_back({exact - std::floor(exact), q});
    rx->slots = scen_.queue_slots[q];
    rx->pick = AliasTable(scen_.queue_weights[q]);
    rx->rate = c_.load_pps * scen_.queue_share[q];
    rx_.push_back(std::move(rx));
  }
  std::stable_sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (size_t i = 0; assigned < c_.packets && i < rem.size(); ++i, ++assigned) {
    if (scen_.queue_share[rem[i].second] > 0) ++rx_[rem[i].second]->left;
  }
  for (int q = 0; q < nq_; ++q) {
    RxQueue& rx = *rx_[q];
    if (rx.left == 0 || rx.slots.empty()) {
      rx.left = 0;
      continue;
    }
    if (rx.rate > 0) {
      const double gap = 1e9 / rx.rate;
      rx.next_ns = kStartNs + (c_.arrival == "fixed" ? gap * (q + 1) / nq_ : rng_.Exp(gap));
    }
    worker_queues_[q % cpus].push_back(q);
    if (Status st = nisr_->AttachSource(q % cpus, &rx); !st.ok()) return st;
  }
  if (Status st = nisr_->Start(); !st.ok()) return st;
  WorkerRuntime& rt = *model_ptr->runtime();
  if (c_.dispatch == "oracle") ApplyOracle(proto_);

  ready_ = ReadyTimes(cpus);
  stalls_ = std::make_unique<StallSchedule>(pr, cpus, c_.seed ^ 0x57a11ed5eedull, kStartNs);
  stall_end_.assign(cpus, 0);
  retries_.assign(cpus, 0);
  idle_since_.assign(cpus, kStartNs);
  asleep_.assign(cpus, 1);
  busy_.assign(cpus, 0);
  charged_.assign(cpus, 0);
  for (int w = 0; w < cpus; ++w) {
    rt.signal(w).sleeping.store(1, std::memory_order_relaxed);
    ready_.Set(static_cast<size_t>(w), NextArrival(w));
  }
  for (;;) {
    const size_t first = ready_.Earliest();
    if (ready_[first] == kNever) break;
    const int w = static_cast<int>(first);
    if (asleep_[w]) {
      asleep_[w] = false;
      rt.signal(w).sleeping.store(0, std::memory_order_relaxed);
    }
    AccrueStalls(w, ready_[w]);
    clock_.now = ready_[w];
    round_start_ = clock_.now;
    const uint64_t moved0 = packets_ + delivered_;
    const bool did = rt.RunOnce(w);
    const uint64_t end = clock_.now;
    if (packets_ + delivered_ != moved0) {
      ready_.Set(first, end);
      retries_[w] = 0;
    } else if (did || rt.HasQueued(w)) {
      ready_.Set(first, RetryAt(w, end));
    } else {
      const uint64_t next = NextArrival(w);
      if (next != kNever && next <= end) {
        ready_.Set(first, RetryAt(w, end));  // due, but no packet buffer free yet
      } else {
        retries_[w] = 0;
        asleep_[w] = true;
        idle_since_[w] = end;
        rt.signal(w).sleeping.store(1, std::memory_order_relaxed);
        ready_.Set(first,
                   next == kNever ? kNever : next + (next - end > spin_ns_ ? wakeup_ns_ : 0));
      }
    }
  }
  nisr_->Stop();
  const Stats st = nisr_->GetStats();

  SimResult r;
  r.config = c_;
  r.packets = packets_;
  r.delivered = delivered_;
  r.dropped = st.drops;
  if (pool_drops_ > 0) r.dropped["sim_pool_empty"] = pool_drops_;
  r.reordered = reordered_;
  r.migrations = st.migrations;
  r.decisions = st.decisions;
  r.oracle_placement = oracle_placement_;
  for (const WorkstreamStats& ws : st.workstreams) r.wakeups += ws.wakeups;
  const uint64_t span = last_done_ > first_arrival_ ? last_done_ - first_arrival_ : 0;
  r.virtual_s = static_cast<double>(span) * 1e-9;
  r.offered_pps = c_.load_pps;
  r.throughput_pps = span > 0 ? static_cast<double>(delivered_) / r.virtual_s : 0;
  if (delivered_ > 0) {
    r.mean_us = static_cast<double>(latency_sum_ / delivered_) * 1e-3;
    r.p50_us = static_cast<double>(hist_.ValueAtQuantile(0.5)) * 1e-3;
    r.p99_us = static_cast<double>(hist_.ValueAtQuantile(0.99)) * 1e-3;
    r.p999_us = static_cast<double>(hist_.ValueAtQuantile(0.999)) * 1e-3;
  }
  // From a quarter of the way to the moment the first RX queue ran dry,
  // up to that moment (whole slots): while every queue still brings
  // packets, past the start-up transient (adaptive placement converging).
  // After it the load's shape changes (the remaining queues alone).
  if (span > 0) {
    const uint64_t dry = std::min(first_dry_ns_, last_done_);
    const size_t first = static_cast<size_t>((first_arrival_ - kStartNs) >> kDoneSlotShift);
    const size_t last = static_cast<size_t>((dry - kStartNs) >> kDoneSlotShift);
    const size_t lo = first + (last - first) / 4, hi = last;
    uint64_t n = 0;
    for (size_t i = lo; i < hi && i < done_by_time_.size(); ++i) n += done_by_time_[i];
    r.steady_pps =
        hi > lo ? static_cast<double>(n) / (static_cast<double>((hi - lo) << kDoneSlotShift) * 1e-9)
                : r.throughput_pps;
  }
  for (int w = 0; w < cpus; ++w)
    r.cpu_util.push_back(span > 0 ? std::min(1.0, static_cast<double>(busy_[w]) / span) : 0);
  r.conserved = packets_ == delivered_ + r.TotalDropped() && free_.size() == pkts_.size();
  nisr_.reset();
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  r.cpu_s = CpuSeconds() - cpu0;
  r.sim_pps = r.wall_s > 0 ? static_cast<double>(packets_) / r.wall_s : 0;
  return r;
}

}  // namespace

Result<SimResult> RunEngine(const SimConfig& c) {
  Engine e(c);
  return e.Run();
}

}  // namespace netisr::sim::internal
