// `netisr lockprof` (see lockprof_command.h).
#include "apps/lockprof_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>

#include "apps/exit_codes.h"
#include "apps/option_checks.h"
#include "apps/tcp_lockprof.h"
#include "inpcb/table.h"
#include "lockprof/report.h"
#include "netisr/netisr.h"
#include "netisr/work_model.h"
#include "nic/rss.h"
#include "sched_feedback/clock.h"

namespace netisr::apps {

namespace {

using inpcb::ConnectionTable;
using inpcb::FourTuple;

constexpr int64_t kMaxWorkers = 64;
constexpr int64_t kMaxConnections = int64_t{1} << 20;  // slots; 20 bits of address below
constexpr int64_t kMaxSegments = 1'000'000;
constexpr double kMaxDurationS = 3600;
constexpr int64_t kMaxGroups = 4096;  // inpcb's TableSettings::groups bound
// Each source's pool: enough descriptors for a few bursts in flight while
// handlers free earlier ones; a short pool is backpressure, not loss.
constexpr uint32_t kPoolPerSource = 4096;
constexpr size_t kMaxBurst = 256;
// The server side every connection talks to: 10.0.0.1:80, listener on *:80.
constexpr uint32_t kServerAddr = 0x0a000001;
constexpr uint16_t kServerPort = 80;
// Clients: 11.s.k (source s in 4 bits above slot k's 20 bits); flood
// sources: random addresses in 172.16/12.
constexpr uint32_t kClientNet = 0x0b000000;
constexpr uint32_t kFloodNet = 0xac100000;
constexpr uint32_t kFloodMask = 0x000fffff;
constexpr uint16_t kFirstClientPort = 1024;
constexpr uint32_t kClientPorts = 60000;

enum class SegmentKind : uint8_t { kSyn, kData, kFin, kFloodSyn };

// What a segment packet carries: its kind and the connection's tuple, from
// the server's side (local = server).
struct Segment {
  uint32_t faddr;
  uint16_t fport;
  SegmentKind kind;
};

// The RSS hash a NIC would stamp on the segment: Toeplitz over source
// address, destination address, source port, destination port (the client
// sends, so source = foreign).
uint32_t RssHashOf(uint32_t faddr, uint16_t fport) {
  std::array<uint8_t, 12> in;
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) in[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  };
  put32(0, faddr);
  put32(4, kServerAddr);
  in[8] = static_cast<uint8_t>(fport >> 8);
  in[9] = static_cast<uint8_t>(fport);
  in[10] = static_cast<uint8_t>(kServerPort >> 8);
  in[11] = static_cast<uint8_t>(kServerPort);
  return nic::Toeplitz::Default().Hash(in);
}

// Per-worker tallies, written only by that worker's handler (plain fields;
// read after Stop, whose join orders them), one cache line each.
struct alignas(64) WorkerTally {
  SegmentCounts counts;
};

// The table's per-thread participation for the worker running a handler:
// ThreadEnter on the first segment a worker handles, ThreadExit when the
// thread ends (a thread_local's destructor, before Netisr::Stop's join
// returns), so the table sees every worker leave before it is destroyed.
class TableThreadGuard {
 public:
  ~TableThreadGuard() {
    if (table_ != nullptr) table_->ThreadExit();
  }
  Status Enter(ConnectionTable& table, int cpu) {
    if (table_ == &table) return Status::Ok();
    if (table_ != nullptr) table_->ThreadExit();
    table_ = nullptr;
    if (Status st = table.ThreadEnter(cpu); !st.ok()) return st;
    table_ = &table;
    return Status::Ok();
  }

 private:
  ConnectionTable* table_ = nullptr;
};

thread_local TableThreadGuard t_table_guard;

// The protocol: TCP input's table operations, one per segment.
class TableProtocol {
 public:
  TableProtocol(ConnectionTable& table, int workers) : table_(table), tally_(workers) {}

  void Handle(Burst burst) {
    // Only workers produce, so handlers run on workers (w >= 0).
    const int w = Netisr::CurrentWorkstream();
    SegmentCounts& c = tally_[static_cast<size_t>(w)].counts;
    if (Status st = t_table_guard.Enter(table_, w); !st.ok()) {
      // A registration failure is a harness bug; count, never lose.
      c.lost += burst.size();
      for (Packet* p : burst) Release(p);
      return;
    }
    for (Packet* p : burst) {
      Segment s;
      std::memcpy(&s, p->data, sizeof(s));
      HandleSegment(s, p->flowid, c);
      Release(p);
    }
    // No inpcb pointer outlives the burst: tell the epoch table so.
    table_.Quiescent();
  }

  SegmentCounts Totals() const {
    SegmentCounts t;
    for (const WorkerTally& w : tally_) {
      t.opened += w.counts.opened;
      t.data += w.counts.data;
      t.closed += w.counts.closed;
      t.flood_syns += w.counts.flood_syns;
      t.lost += w.counts.lost;
    }
    return t;
  }

 private:
  void HandleSegment(const Segment& s, uint32_t flowid, SegmentCounts& c) {
    const FourTuple t = FourTuple::V4(kServerAddr, kServerPort, s.faddr, s.fport);
    switch (s.kind) {
      case SegmentKind::kSyn:
      case SegmentKind::kFloodSyn: {
        inpcb::InpcbRef l = table_.LookupRef(t, flowid, /*wildcard=*/true);
        if (!l || !l->listener()) {
          ++c.lost;
          return;
        }
        l.reset();
        if (s.kind == SegmentKind::kFloodSyn) {
          ++c.flood_syns;
          return;
        }
        auto inp = table_.Insert(t, flowid);
        if (!inp.ok()) {
          ++c.lost;
          return;
        }
        (*inp)->set_state(inpcb::ConnState::kEstablished);
        ++c.opened;
        return;
      }
      case SegmentKind::kData: {
        inpcb::LockedInpcb inp = table_.Lookup(t, flowid, /*wildcard=*/false);
        if (!inp) {
          ++c.lost;
          return;
        }
        inp->CountSegmentIn(0);
        ++c.data;
        return;
      }
      case SegmentKind::kFin: {
        inpcb::LockedInpcb inp = table_.Lookup(t, flowid, /*wildcard=*/false);
        if (!inp || !table_.Remove(inp).ok()) {
          ++c.lost;
          return;
        }
        ++c.closed;
        return;
      }
    }
  }

  ConnectionTable& table_;
  std::vector<WorkerTally> tally_;
};

struct SourceConfig {
  uint16_t id = 0;
  int workers = 1;
  uint32_t flow_buckets = 256;  // the dispatcher's Settings::flow_buckets
  uint32_t slots = 1;
  uint32_t segments = 1;  // data segments per connection lifetime
  bool churn = true;      // false: steady (open once, data forever)
  double flood_share = 0;
  uint64_t seed = 1;
  uint64_t duration_ns = 0;  // generation time, from the source's first poll
  ProtocolId proto = 0;
  PacketPool* pool = nullptr;
};

// One RX queue's worth of segments (see the header): round robin over its
// connection slots, plus flood SYNs.
class SegmentSource final : public IngressSource {
 public:
  explicit SegmentSource(const SourceConfig& c)
      : c_(c), slots_(c.slots), rng_(c.seed * 0x9e3779b97f4a7c15ull + c.id) {
    for (uint32_t k = 0; k < c_.slots; ++k) NextConnection(k);
  }

  size_t Poll(Netisr& nisr, size_t budget) override {
    if (done_) return 0;
    const uint64_t now = sched::FastClock::Global().NowNs();
    if (deadline_ns_ == 0) deadline_ns_ = now + c_.duration_ns;
    if (now >= deadline_ns_) {
      done_ = true;
      return 0;
    }
    Packet* burst[kMaxBurst];
    const size_t got = c_.pool->AllocBulk({burst, std::min(budget, kMaxBurst)});
    for (size_t i = 0; i < got; ++i) Fill(*burst[i]);
    emitted_ += got;
    if (got > 0) nisr.DispatchBurst(c_.id, c_.proto, {burst, got});
    return got;
  }
  bool Exhausted() const override { return done_; }
  uint64_t emitted() const { return emitted_; }

 private:
  struct Slot {
    uint32_t faddr = 0;
    uint16_t fport = 0;
    uint32_t generation = 0;
    uint32_t step = 0;  // 0 = SYN next, 1..segments = data, segments+1 = FIN
  };

  // First port at or after the slot's next candidate whose RSS hash lands on
  // this source's workstream (an RSS NIC delivers it to this queue).
  void NextConnection(uint32_t k) {
    Slot& s = slots_[k];
    s.faddr = kClientNet | (uint32_t{c_.id} << 20) | k;
    uint32_t p = (s.generation * 7919u + k) % kClientPorts;
    while (Owner(RssHashOf(s.faddr, static_cast<uint16_t>(kFirstClientPort + p))) != c_.id)
      p = (p + 1) % kClientPorts;
    s.fport = static_cast<uint16_t>(kFirstClientPort + p);
    ++s.generation;
    s.step = 0;
  }

  uint16_t Owner(uint32_t flowid) const {
    return static_cast<uint16_t>(
        inpcb::CpuOf(flowid, static_cast<uint32_t>(c_.workers), c_.flow_buckets));
  }

  void Fill(Packet& pkt) {
    Segment seg{};
    if (c_.flood_share > 0 && flood_(rng_) < c_.flood_share) {
      do {
        seg.faddr = kFloodNet | (static_cast<uint32_t>(rng_()) & kFloodMask);
        seg.fport = static_cast<uint16_t>(kFirstClientPort + rng_() % kClientPorts);
      } while (Owner(RssHashOf(seg.faddr, seg.fport)) != c_.id);
      seg.kind = SegmentKind::kFloodSyn;
    } else {
      Slot& s = slots_[cursor_];
      seg.faddr = s.faddr;
      seg.fport = s.fport;
      if (s.step == 0) {
        seg.kind = SegmentKind::kSyn;
        s.step = 1;
      } else if (!c_.churn || s.step <= c_.segments) {
        seg.kind = SegmentKind::kData;
        if (c_.churn) ++s.step;
      } else {
        seg.kind = SegmentKind::kFin;
        NextConnection(cursor_);
      }
      cursor_ = cursor_ + 1 == c_.slots ? 0 : cursor_ + 1;
    }
    std::memcpy(pkt.data, &seg, sizeof(seg));
    pkt.len = sizeof(seg);
    pkt.SetFlowId(RssHashOf(seg.faddr, seg.fport), HashType::kTcpIpv4);
    pkt.source = c_.id;
  }

  const SourceConfig c_;
  std::vector<Slot> slots_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> flood_{0.0, 1.0};
  uint32_t cursor_ = 0;
  uint64_t emitted_ = 0;
  uint64_t deadline_ns_ = 0;  // set by the first Poll
  bool done_ = false;
};

// Everything one run owns, destroyed in reverse: netisr (its workers gone)
// before the sources and pools it polls and the table its handler uses.
struct Job {
  std::unique_ptr<ConnectionTable> table;
  std::unique_ptr<TableProtocol> protocol;
  std::vector<std::unique_ptr<PacketPool>> pools;
  std::vector<std::unique_ptr<SegmentSource>> sources;
  std::unique_ptr<Netisr> nisr;
};

// The server's listening socket, *:80, inserted from this (control)
// thread, registered with the table for the call only.
Status AddListener(ConnectionTable& table) {
  if (Status st = table.ThreadEnter(-1); !st.ok()) return st;
  Status inserted = Status::Ok();
  {
    auto l = table.Insert(
        FourTuple::Listener(inpcb::Family::kIPv4, inpcb::IpAddr::V4(0), kServerPort), 0);
    if (!l.ok()) inserted = l.status();
  }  // unlocked here, before leaving the table
  table.ThreadExit();
  return inserted;
}

Status Build(Job& job, const LockprofOptions& o) {
  const int workers = static_cast<int>(o.workers);
  auto strategy = inpcb::ParseTableStrategy(o.strategy);
  if (!strategy.ok()) return strategy.status();
  inpcb::TableSettings ts;
  ts.strategy = *strategy;
  ts.cpus = static_cast<uint32_t>(workers);
  ts.groups = static_cast<uint32_t>(o.group_count());
  ts.flow_buckets = Settings{}.flow_buckets;  // the dispatcher's, created below
  auto table = inpcb::CreateTable(ts);
  if (!table.ok()) return table.status();
  job.table = std::move(*table);
  if (Status st = AddListener(*job.table); !st.ok()) return st;

  auto model = MakeWorkModel(o.model);
  if (!model.ok()) return model.status();
  Settings s;
  s.max_threads = workers;
  s.bind_threads = o.bind;
  s.max_external_producers = 0;
  auto nisr = Netisr::Create(s, std::move(*model));
  if (!nisr.ok()) return nisr.status();
  job.nisr = std::move(*nisr);

  job.protocol = std::make_unique<TableProtocol>(*job.table, workers);
  ProtocolSpec spec;
  spec.name = "tcp";
  spec.handler = [p = job.protocol.get()](Burst b) { p->Handle(b); };
  spec.policy = Policy::kFlow;
  spec.dispatch = DispatchMode::kHybrid;
  auto proto = job.nisr->Register(spec);
  if (!proto.ok()) return proto.status();

  const auto slots_total = static_cast<uint64_t>(o.connections);
  for (int w = 0; w < workers; ++w) {
    auto pool = PacketPool::Create(kPoolPerSource, sizeof(Segment));
    if (!pool.ok()) return pool.status();
    SourceConfig c;
    c.id = static_cast<uint16_t>(w);
    c.workers = workers;
    c.flow_buckets = job.nisr->settings().flow_buckets;
    // Slots split evenly, the remainder to the first sources; at least one.
    c.slots = static_cast<uint32_t>(std::max<uint64_t>(
        1, slots_total / workers + (static_cast<uint64_t>(w) < slots_total % workers)));
    c.segments = static_cast<uint32_t>(o.segment_count());
    c.churn = o.workload != "steady";
    c.flood_share = o.workload == "synflood" ? o.flood_share_value() : 0;
    c.seed = o.seed;
    c.duration_ns = static_cast<uint64_t>(o.duration_s * 1e9);
    c.proto = *proto;
    c.pool = pool->get();
    job.pools.push_back(std::move(*pool));
    job.sources.push_back(std::make_unique<SegmentSource>(c));
    if (Status st = job.nisr->AttachSource(w, job.sources.back().get()); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Status ValidateLockprofOptions(const LockprofOptions& o) {
  for (const Choice& c : {Choice{"--strategy", o.strategy, kStrategyChoices},
                          Choice{"--workload", o.workload, kWorkloadChoices},
                          Choice{"--model", o.model, kLockprofModelChoices}}) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  for (const Bound& b : {Bound{"--workers", o.workers, 1, kMaxWorkers},
                         Bound{"--connections", o.connections, 1, kMaxConnections},
                         Bound{"--segments", o.segment_count(), 1, kMaxSegments},
                         Bound{"--groups", o.group_count(), 1, kMaxGroups}}) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  for (const RealBound& b : {RealBound{"--duration", o.duration_s, 0.001, kMaxDurationS},
                             RealBound{"--flood-share", o.flood_share, 0, 1, true}}) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if ((o.group_count() & (o.group_count() - 1)) != 0)
    return Invalid(fmt::format("--groups {} is not a power of two", o.group_count()));
  if (o.connections < o.workers)
    return Invalid(fmt::format("--connections {} is below --workers {}: every worker needs one",
                               o.connections, o.workers));
  // Flags of another strategy or workload: refused rather than ignored.
  if (o.segments && o.workload == "steady")
    return Invalid(
        "--segments applies only with --workload churn or synflood (steady "
        "connections never close)");
  if (o.flood_share && o.workload != "synflood")
    return Invalid("--flood-share applies only with --workload synflood");
  if (o.groups && o.strategy != "groups" && o.strategy != "epoch")
    return Invalid(
        "--groups applies only with --strategy groups (connection groups) or epoch "
        "(writer stripes)");
  return Status::Ok();
}

Result<LockprofReport> RunLockprof(const LockprofOptions& o) {
  if (Status st = ValidateLockprofOptions(o); !st.ok()) return st;
  if (o.tcp) return RunTcpLockprof(o);
  (void)sched::FastClock::Global();  // calibrate outside the timed run
  Job job;
  if (Status st = Build(job, o); !st.ok()) return st;

  // The profile covers the run only: setup's registration and listener
  // insert are not in it.
  lockprof::Reset();
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = job.nisr->Start(); !st.ok()) return st;
  job.nisr->RunUntilIdle();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  job.nisr->Stop();

  LockprofReport r;
  r.locks = lockprof::Snapshot();
  r.options = o;
  r.seconds = took.count();
  for (const auto& s : job.sources) r.packets_in += s->emitted();
  r.segments = job.protocol->Totals();
  r.ops = r.segments.total();
  r.ops_per_s = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
  r.live_connections = job.table->Counts().connections;
  r.stats = job.nisr->GetStats();
  return r;
}

std::string FormatHuman(const LockprofReport& r) {
  const LockprofOptions& o = r.options;
  std::string out = fmt::format(
      "lockprof: strategy {}, workload {}, {} workers, {} connections, {:.2f} s\n"
      "{:.3f} M table ops/s ({} ops: {} opened, {} data, {} closed, {} flood SYNs, {} lost), "
      "{} live at the end\n\n",
      o.strategy, o.workload, o.workers, o.connections, r.seconds, r.ops_per_s / 1e6, r.ops,
      r.segments.opened, r.segments.data, r.segments.closed, r.segments.flood_syns, r.segments.lost,
      r.live_connections);
  if (r.tcp) {
    const TcpLoad& t = *r.tcp;
    out = fmt::format(
        "lockprof --tcp: strategy {}, workload {}, {} workers per host, {} connections, {:.2f} "
        "s\n{:.0f} connections/s ({} completed, {} failed, {} open at the end), {} messages "
        "echoed, {} flood SYNs\nserver: {} segments in ({:.3f} M/s), {} out, {} SYN cookies; "
        "{}\n",
        o.strategy, o.workload, o.workers, o.connections, r.seconds, t.connections_per_s,
        t.completed, t.failed, t.open_at_end, t.messages, t.flood_syns, t.server_segments_in,
        r.ops_per_s / 1e6, t.server_segments_out, t.syncookies_sent,
        t.conserved ? "conserved (both hosts)" : "NOT CONSERVED");
    out += "server drops:";
    for (const auto& [k, v] : t.server_drops) out += fmt::format(" {} {}", k, v);
    out += t.server_drops.empty() ? " none\nclient drops:" : "\nclient drops:";
    for (const auto& [k, v] : t.client_drops) out += fmt::format(" {} {}", k, v);
    out += t.client_drops.empty() ? " none\n\n" : "\n\n";
    out += lockprof::FormatTable(r.locks);
    return out;
  }
  out += lockprof::FormatTable(r.locks);
  out += fmt::format("\nsegments in {}, handled {}, dropped by netisr {}: {}\n", r.packets_in,
                     r.ops, r.stats.TotalDrops(), r.Conserved() ? "conserved" : "NOT CONSERVED");
  return out;
}

nlohmann::json ToJson(const LockprofReport& r) {
  const LockprofOptions& o = r.options;
  nlohmann::json j;
  j["strategy"] = o.strategy;
  j["workload"] = o.workload;
  j["workers"] = o.workers;
  j["connections"] = o.connections;
  j["duration_s"] = o.duration_s;
  j["seconds"] = r.seconds;
  j["ops"] = r.ops;
  j["ops_per_s"] = r.ops_per_s;
  j["segments"] = {{"opened", r.segments.opened},
                   {"data", r.segments.data},
                   {"closed", r.segments.closed},
                   {"flood_syns", r.segments.flood_syns},
                   {"lost", r.segments.lost}};
  j["live_connections"] = r.live_connections;
  j["packets_in"] = r.packets_in;
  j["dropped"] = r.stats.TotalDrops();
  j["conserved"] = r.Conserved();
  j["locks"] = lockprof::ToJson(r.locks);
  if (r.tcp) {
    const TcpLoad& t = *r.tcp;
    j["tcp"] = {{"completed", t.completed},
                {"failed", t.failed},
                {"open_at_end", t.open_at_end},
                {"messages", t.messages},
                {"flood_syns", t.flood_syns},
                {"connections_per_s", t.connections_per_s},
                {"server_segments_in", t.server_segments_in},
                {"server_segments_out", t.server_segments_out},
                {"syncookies_sent", t.syncookies_sent},
                {"server_drops", t.server_drops},
                {"client_drops", t.client_drops},
                {"conserved", t.conserved}};
  }
  return j;
}

int LockprofCommand(const LockprofOptions& o, std::ostream& out, std::ostream& err) {
  if (Status st = ValidateLockprofOptions(o); !st.ok()) {
    err << "netisr lockprof: " << st.message() << "\n";
    return kExitUsage;
  }
  auto r = RunLockprof(o);
  if (!r.ok()) {
    err << "netisr lockprof: " << r.status().message() << "\n";
    return kExitFailure;
  }
  if (o.json) {
    out << ToJson(*r).dump(2) << "\n";
  } else {
    out << FormatHuman(*r);
  }
  if (r->tcp) {
    if (!r->tcp->conserved || r->tcp->failed > 0) {
      err << "netisr lockprof --tcp: self-check failed: " << r->tcp->failed
          << " connections failed, " << (r->tcp->conserved ? "conserved" : "not conserved") << "\n";
      return kExitFailure;
    }
    return kExitOk;
  }
  if (!r->Conserved() || r->segments.lost > 0) {
    err << "netisr lockprof: self-check failed: " << r->packets_in << " segments in, " << r->ops
        << " handled, " << r->stats.TotalDrops() << " dropped, " << r->segments.lost << " lost\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace netisr::apps
