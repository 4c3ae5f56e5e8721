#include "tcp/host.h"

#include <fmt/format.h>

#include <cstring>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

#include "base/checksum.h"
#include "base/counter.h"
#include "base/wire.h"
#include "lockprof/lock.h"
#include "proto/wire.h"

namespace netisr::tcp {

namespace {

using base::Load32;
using base::Store16;
using base::Store32;

inline constinit lockprof::LockClass kTxQueueLock("tcp.txq");

constexpr uint32_t kTxBufBytes = 2048;  // a 1514-byte frame with room to spare
constexpr size_t kTxBurst = 32;         // netisr's default burst
constexpr uint32_t kEtherLen = proto::wire::kEtherHeaderLen;
constexpr uint32_t kIpLen = proto::wire::kIpv4MinHeaderLen;
constexpr uint8_t kTtl = 64;
constexpr uint16_t kIpDontFragment = 0x4000;

constexpr const char* kDropNames[] = {
#define NETISR_TCP_NAME(e, s) s,
    NETISR_TCP_HOST_DROPS(NETISR_TCP_NAME)
#undef NETISR_TCP_NAME
};

}  // namespace

std::string_view ToString(HostDrop d) {
  const auto i = static_cast<size_t>(d);
  return i < kNumHostDrops ? kDropNames[i] : "unknown";
}

bool HostStats::Conserved() const {
  const uint64_t replies = host.arp_replies + host.icmp_replies;
  return host.frames_in == host.tcp_segments + replies + host.rx_dropped() &&
         tcp.segments_out + host.raw_segments + replies == host.tx_frames + host.tx_dropped() &&
         tcp.segments_in == tcp.accepted + tcp.dropped() && tcp.segments_in == host.tcp_segments;
}

std::map<std::string, uint64_t> HostStats::DropMap() const {
  std::map<std::string, uint64_t> m;
  for (size_t i = 0; i < kNumHostDrops; ++i)
    if (host.drops[i] != 0) m[std::string(kDropNames[i])] += host.drops[i];
  for (size_t i = 0; i < kNumDropReasons; ++i)
    if (tcp.drops[i] != 0)
      m["tcp_" + std::string(ToString(static_cast<DropReason>(i)))] += tcp.drops[i];
  return m;
}

struct Host::Core {
  // One workstream's state: written only by its worker (the engine, the
  // counters, the TX batch, the neighbour map); read by Stats after
  // Netisr::Stop, whose join orders those writes before the reads.
  struct Slot;
  class SlotOutput final : public Output {
   public:
    SlotOutput(Core* core, int ws) : core_(core), ws_(ws) {}
    void Send(const Segment& seg) override { core_->SendSegment(ws_, seg); }

   private:
    Core* core_;
    int ws_;
  };
  struct alignas(64) Slot {
    explicit Slot(Core* core, int ws) : out(core, ws) {}
    std::unique_ptr<Engine> engine;
    bool failed = false;  // Engine::Create or ThreadEnter failed: no_engine
    bool retired = false;
    HostCounters c;
    tcp::Stats final_stats;  // the engine's, kept when it is destroyed
    uint64_t final_connections = 0;
    std::vector<Packet*> txq;
    std::vector<uint32_t> txlen;                       // txq's lengths: a sent packet is the port's
    std::unordered_map<uint32_t, MacAddr> neighbours;  // IPv4 (host order) -> MAC
    uint16_t ip_id = 0;
    SlotOutput out;
  };

  Core(Netisr& n, HostConfig c) : nisr(n), config(std::move(c)) {}

  Netisr& nisr;
  const HostConfig config;
  int workstreams = 1;
  SteadyClock steady;
  const Clock* clock = nullptr;
  std::unique_ptr<inpcb::ConnectionTable> table;
  std::unique_ptr<PacketPool> pool;
  std::unique_ptr<proto::ProtocolStack> stack;
  ProtocolId home_proto = 0;
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<std::unique_ptr<IngressSource>> sources;
  struct ListenSpec {
    uint16_t port;
    AcceptFn accept;
  };
  std::vector<ListenSpec> listens;  // fixed before Start
  // Frames handled off any worker (Stop's final drain), all dropped:
  // several writers (AddShared). Delivered by the chain (counted in
  // frames_in too), or forwarded to tcp_home (counted once already).
  base::Counter off_worker_delivered;
  base::Counter off_worker_forwarded;
  // TX queues shared by several workstreams (fewer queues than
  // workstreams): one lock each, else none is taken.
  bool shared_tx = false;
  std::vector<std::unique_ptr<lockprof::SpinLock>> tx_locks;

  Engine* EnsureEngine(int ws);
  void Retire(int ws);
  void Deliver(proto::Layer layer, Burst burst);
  void HomeInput(Burst burst);
  void TcpInput(int ws, Slot& s, Packet* pkt);
  void SendSegment(int ws, const Segment& seg);
  void Queue(Slot& s, int ws, Packet* p);
  void FlushTx(int ws);
  // Segments to their home workstream's engine through tcp_home. Queued
  // whatever the dispatch override says (run here, tcp_home would refuse
  // them as off their worker); what netisr drops on the way (queue full,
  // shutdown) it has released, and it is counted here.
  void Forward(Slot& s, std::span<Packet* const> pkts) {
    const BurstOutcome r = nisr.QueueBurst(pkts[0]->source, home_proto, pkts);
    s.c.drops[static_cast<size_t>(HostDrop::kForwardDropped)] += r.dropped;
  }

  // The calling workstream's slot, or nullptr after releasing the burst and
  // counting it in `off` when no workstream runs it (Stop's final drain).
  Slot* SlotOrRelease(int ws, Burst burst, base::Counter& off) {
    if (ws >= 0 && ws < workstreams) return slots[static_cast<size_t>(ws)].get();
    off.AddShared(burst.size());
    for (Packet* p : burst) Release(p);
    return nullptr;
  }

  void Drop(Slot& s, Packet* p, HostDrop d) {
    ++s.c.drops[static_cast<size_t>(d)];
    Release(p);
  }
  // The workstream whose engine owns a flow's connection: netisr's flow
  // policy's (inpcb::CpuOf).
  int HomeOf(uint32_t flowid) const {
    return static_cast<int>(
        inpcb::CpuOf(flowid, static_cast<uint32_t>(workstreams), config.tcp.flow_buckets));
  }
  void Hint(const Connection& c, int ws) {
    (void)nisr.SetFlowAffinity(stack->id(proto::Layer::kTcp), c.flowid(), ws);
  }
};

namespace {

// The worker threads' engines, destroyed as each thread ends (inside
// Netisr::Stop's join): the engine removes its connections while its
// thread is still the table's registered user, then the thread leaves the
// table (ThreadExit), as a table under kPartitioned requires.
class RetireOnExit {
 public:
  ~RetireOnExit() {
    for (auto& [core, ws] : entries_) core->Retire(ws);
  }
  void Add(Host::Core* core, int ws) { entries_.emplace_back(core, ws); }

 private:
  std::vector<std::pair<Host::Core*, int>> entries_;
};
thread_local RetireOnExit t_retire;

// Polled by each worker: its engine's timers, the application hook, the TX
// batch (see host.h, Timers).
class HostSource final : public IngressSource {
 public:
  HostSource(Host::Core* core, int ws) : core_(core), ws_(ws) {}
  size_t Poll(Netisr&, size_t) override;
  bool Exhausted() const override { return false; }

 private:
  Host::Core* core_;
  int ws_;
};

}  // namespace

size_t HostSource::Poll(Netisr&, size_t) {
  Engine* e = core_->EnsureEngine(ws_);
  if (e == nullptr) return 0;
  e->RunTimers();
  size_t did = 0;
  if (core_->config.on_poll) did = core_->config.on_poll(ws_, *e);
  core_->FlushTx(ws_);
  core_->table->Quiescent();
  return did;
}

Engine* Host::Core::EnsureEngine(int ws) {
  Slot& s = *slots[static_cast<size_t>(ws)];
  if (s.engine) return s.engine.get();
  // Never once Stop has begun: its final drain runs handlers on the
  // stopping thread under the workstream's identity, and an engine made
  // there would be retired only when that thread ends (after the host is
  // gone).
  if (s.failed || s.retired || nisr.stopping()) return nullptr;
  s.failed = true;  // until it succeeds
  if (Status st = table->ThreadEnter(ws); !st.ok()) return nullptr;
  Settings ts = config.tcp;
  ts.cpu = static_cast<uint32_t>(ws);
  ts.cpus = static_cast<uint32_t>(workstreams);
  auto e = Engine::Create(ts, table.get(), &s.out, clock);
  if (!e.ok()) {
    table->ThreadExit();
    return nullptr;
  }
  s.engine = std::move(*e);
  for (const ListenSpec& l : listens) {
    AcceptFn user = l.accept;
    auto accept = [this, ws, user](Connection& c) {
      Hint(c, ws);
      if (user) user(c);
    };
    if (!s.engine
             ->AttachListener(inpcb::Family::kIPv4, inpcb::IpAddr::V4(config.addr), l.port,
                              std::move(accept))
             .ok()) {
      s.engine.reset();
      table->ThreadExit();
      return nullptr;
    }
  }
  s.failed = false;
  t_retire.Add(this, ws);
  return s.engine.get();
}

void Host::Core::Retire(int ws) {
  Slot& s = *slots[static_cast<size_t>(ws)];
  if (!s.engine) return;
  FlushTx(ws);
  s.final_stats = s.engine->stats();
  s.final_connections = s.engine->connections();
  s.engine.reset();
  s.retired = true;
  table->ThreadExit();
}

void Host::Core::Deliver(proto::Layer layer, Burst burst) {
  const int ws = Netisr::CurrentWorkstream();
  Slot* const here = SlotOrRelease(ws, burst, off_worker_delivered);
  if (here == nullptr) return;
  Slot& s = *here;
  s.c.frames_in += burst.size();
  Packet* fwd_buf[proto::kMaxStageBurst];
  size_t nfwd = 0;
  for (Packet* p : burst) {
    const proto::Layout l = proto::GetLayout(*p);
    switch (layer) {
      case proto::Layer::kArp: {
        const proto::ArpSender from = proto::ArpSenderOf(*p, l);
        switch (proto::MakeArpReply(*p, l, config.addr, config.mac)) {
          case proto::Reply::kReplied:
            s.neighbours[from.ip] = from.mac;
            ++s.c.arp_replies;
            Queue(s, ws, p);
            break;
          case proto::Reply::kNotForUs:
            Drop(s, p, HostDrop::kNotForUs);
            break;
          case proto::Reply::kIgnored:
            s.neighbours[from.ip] = from.mac;
            Drop(s, p, HostDrop::kArpIgnored);
            break;
        }
        break;
      }
      case proto::Layer::kIcmp:
        switch (proto::MakeIcmpEchoReply(*p, l, config.addr)) {
          case proto::Reply::kReplied:
            ++s.c.icmp_replies;
            Queue(s, ws, p);
            break;
          case proto::Reply::kNotForUs:
            Drop(s, p, HostDrop::kNotForUs);
            break;
          case proto::Reply::kIgnored:
            Drop(s, p, HostDrop::kIcmpIgnored);
            break;
        }
        break;
      case proto::Layer::kTcp: {
        const int home = HomeOf(p->flowid);
        if (home != ws && l.ethertype == proto::wire::kEtherTypeIpv4) {
          ++s.c.forwarded;
          fwd_buf[nfwd++] = p;
          if (nfwd == std::size(fwd_buf)) {
            Forward(s, {fwd_buf, nfwd});
            nfwd = 0;
          }
          break;
        }
        TcpInput(ws, s, p);
        break;
      }
      default:
        Drop(s, p, HostDrop::kNoService);
        break;
    }
  }
  if (nfwd > 0) Forward(s, {fwd_buf, nfwd});
  FlushTx(ws);
  table->Quiescent();
}

void Host::Core::HomeInput(Burst burst) {
  const int ws = Netisr::CurrentWorkstream();
  Slot* const here = SlotOrRelease(ws, burst, off_worker_forwarded);
  if (here == nullptr) return;
  Slot& s = *here;
  for (Packet* p : burst) {
    if (HomeOf(p->flowid) != ws) {
      // Forward queues tcp_home to the home workstream; anything else is
      // refused rather than touch another workstream's engine.
      Drop(s, p, HostDrop::kOffWorker);
      continue;
    }
    TcpInput(ws, s, p);
  }
  FlushTx(ws);
  table->Quiescent();
}

void Host::Core::TcpInput(int ws, Slot& s, Packet* p) {
  const proto::Layout l = proto::GetLayout(*p);
  if (l.ethertype != proto::wire::kEtherTypeIpv4) {
    Drop(s, p, HostDrop::kIpv6);
    return;
  }
  const uint8_t* ip = p->data + l.l3_off;
  const uint32_t src = Load32(ip + proto::wire::kIpv4SrcOffset);
  const uint32_t dst = Load32(ip + proto::wire::kIpv4DstOffset);
  if (dst != config.addr) {
    Drop(s, p, HostDrop::kNotForUs);
    return;
  }
  Engine* e = EnsureEngine(ws);
  if (e == nullptr) {
    Drop(s, p, HostDrop::kNoEngine);
    return;
  }
  Segment seg;
  if (DecodeSegment(inpcb::Family::kIPv4, inpcb::IpAddr::V4(src), inpcb::IpAddr::V4(dst),
                    p->data + l.l4_off, l.l4_len, /*verify_checksum=*/false,
                    &seg) != DecodeError::kNone) {
    Drop(s, p, HostDrop::kTcpMalformed);
    return;
  }
  seg.flowid = p->flowid;
  if (seg.has(flags::kSyn)) {
    // A connection's segments all run here, so its SYN teaches this
    // workstream's map the peer's MAC (see host.h, Neighbours).
    MacAddr mac;
    std::memcpy(mac.data(), p->data + 6, 6);
    s.neighbours[src] = mac;
  }
  ++s.c.tcp_segments;
  e->Input(seg);  // copies the payload into the receive ring
  Release(p);
}

void Host::Core::SendSegment(int ws, const Segment& seg) {
  Slot& s = *slots[static_cast<size_t>(ws)];
  Packet* p = pool->Alloc();
  if (p == nullptr) {
    ++s.c.drops[static_cast<size_t>(HostDrop::kTxNoBuffer)];
    return;
  }
  uint8_t* f = p->data;
  const uint32_t faddr = Load32(seg.tuple.faddr.bytes.data());
  auto it = s.neighbours.find(faddr);
  const MacAddr& dmac = it != s.neighbours.end() ? it->second : config.default_peer_mac;
  std::memcpy(f, dmac.data(), 6);
  std::memcpy(f + 6, config.mac.data(), 6);
  Store16(f + proto::wire::kEtherTypeOffset, proto::wire::kEtherTypeIpv4);
  const size_t n = EncodeSegment(seg, f + kEtherLen + kIpLen, kTxBufBytes - kEtherLen - kIpLen);
  if (n == 0 || seg.tuple.family != inpcb::Family::kIPv4) {
    // Cannot happen with 2 KiB buffers and an MSS under 1500 over IPv4.
    ++s.c.drops[static_cast<size_t>(HostDrop::kTxNoBuffer)];
    Release(p);
    return;
  }
  uint8_t* ip = f + kEtherLen;
  ip[0] = 0x45;
  ip[1] = 0;
  Store16(ip + proto::wire::kIpv4TotalLenOffset, static_cast<uint16_t>(kIpLen + n));
  Store16(ip + 4, s.ip_id++);
  Store16(ip + proto::wire::kIpv4FragOffset, kIpDontFragment);
  ip[proto::wire::kIpv4TtlOffset] = kTtl;
  ip[proto::wire::kIpv4ProtoOffset] = proto::wire::kProtoTcp;
  Store16(ip + proto::wire::kIpv4ChecksumOffset, 0);
  std::memcpy(ip + proto::wire::kIpv4SrcOffset, seg.tuple.laddr.bytes.data(), 4);
  std::memcpy(ip + proto::wire::kIpv4DstOffset, seg.tuple.faddr.bytes.data(), 4);
  Store16(ip + proto::wire::kIpv4ChecksumOffset, base::Checksum(ip, kIpLen));
  p->len = static_cast<uint32_t>(kEtherLen + kIpLen + n);
  p->SetFlowId(seg.flowid, HashType::kTcpIpv4);
  Queue(s, ws, p);
}

void Host::Core::Queue(Slot& s, int ws, Packet* p) {
  s.txq.push_back(p);
  s.txlen.push_back(p->len);
  if (s.txq.size() >= kTxBurst) FlushTx(ws);
}

void Host::Core::FlushTx(int ws) {
  Slot& s = *slots[static_cast<size_t>(ws)];
  if (s.txq.empty()) return;
  nic::Port& port = *config.port;
  const auto q = static_cast<uint16_t>(ws % port.num_tx_queues());
  std::span<Packet* const> rest(s.txq);
  size_t done = 0;
  // Two tries: a queue full now is usually drained a moment later; what is
  // still refused is dropped and counted (TCP retransmits it). A packet the
  // port took is no longer ours (the peer may already be parsing it): its
  // length comes from txlen.
  for (int attempt = 0; attempt < 2 && !rest.empty(); ++attempt) {
    size_t sent;
    if (shared_tx) {
      lockprof::MutexLock lock(*tx_locks[q]);
      sent = port.TxBurst(q, rest);
    } else {
      sent = port.TxBurst(q, rest);
    }
    for (size_t i = done; i < done + sent; ++i) s.c.tx_bytes += s.txlen[i];
    s.c.tx_frames += sent;
    done += sent;
    rest = rest.subspan(sent);
  }
  for (Packet* p : rest) Release(p);
  s.c.drops[static_cast<size_t>(HostDrop::kTxFull)] += rest.size();
  s.txlen.clear();
  s.txq.clear();
}

Result<std::unique_ptr<Host>> Host::Create(Netisr& nisr, HostConfig config) {
  if (config.addr == 0) return Status(ErrorCode::kInvalidArgument, "tcp host: no IPv4 address");
  if (config.port == nullptr || config.port->num_tx_queues() == 0)
    return Status(ErrorCode::kInvalidArgument, "tcp host: needs a port with a TX queue");
  if (config.tx_pool_packets < 64 || config.tx_pool_packets > (1u << 22))
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("tcp host: tx_pool_packets {} outside [64, 4194304]", config.tx_pool_packets));
  // Engines are per worker thread (the table's ThreadEnter, destroyed at
  // the thread's exit): a caller-driven model (inline) runs every
  // workstream on the caller's thread, whose exit may come after the host
  // is gone.
  if (!nisr.self_driven())
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("tcp host: the {} work model runs the workstreams on the caller's "
                              "thread; use threads, poll or fibers",
                              nisr.model_name()));
  const int n = nisr.num_workstreams();
  config.tcp.cpus = static_cast<uint32_t>(n);
  config.tcp.flow_buckets = nisr.settings().flow_buckets;
  if (const nic::RxFlowHash rh = config.port->rx_flow_hash();
      rh.toeplitz != nullptr && !config.tcp.flow_id) {
    // Segments arrive with the port's RSS hash: an active open must be
    // filed (and placed) under that, not under proto's FlowIdOf.
    config.tcp.flow_id = [t = rh.toeplitz, f = rh.fields](const inpcb::FourTuple& tuple) {
      const size_t alen = tuple.family == inpcb::Family::kIPv4 ? 4 : 16;
      return nic::TcpFlowHash(*t, f, {tuple.faddr.bytes.data(), alen},
                              {tuple.laddr.bytes.data(), alen}, tuple.fport, tuple.lport);
    };
  }
  if (Status st = Validate(config.tcp); !st.ok()) return st;
  config.table.cpus = static_cast<uint32_t>(n);
  config.table.flow_buckets = nisr.settings().flow_buckets;
  auto core = std::make_shared<Core>(nisr, std::move(config));
  Core& c = *core;
  c.workstreams = n;
  c.clock = c.config.clock != nullptr ? c.config.clock : &c.steady;
  auto table = inpcb::CreateTable(c.config.table);
  if (!table.ok()) return table.status();
  c.table = std::move(*table);
  auto pool = PacketPool::Create(c.config.tx_pool_packets, kTxBufBytes,
                                 c.config.tx_pool_packets >= 1024 ? 256 : 0);
  if (!pool.ok()) return pool.status();
  c.pool = std::move(*pool);
  const uint16_t ntx = c.config.port->num_tx_queues();
  c.shared_tx = ntx < n;
  for (uint16_t q = 0; q < ntx; ++q)
    c.tx_locks.push_back(std::make_unique<lockprof::SpinLock>(kTxQueueLock));
  for (int ws = 0; ws < n; ++ws) c.slots.push_back(std::make_unique<Core::Slot>(&c, ws));

  Core* raw = core.get();
  proto::StackOptions so;
  so.deliver = [core](proto::Layer layer, Burst burst) { core->Deliver(layer, burst); };
  so.dispatch = c.config.dispatch;
  auto stack = proto::ProtocolStack::Register(nisr, std::move(so));
  if (!stack.ok()) return stack.status();
  c.stack = std::move(*stack);
  ProtocolSpec home;
  home.name = "tcp_home";
  home.handler = [core](Burst b) { core->HomeInput(b); };
  home.policy = Policy::kCpu;
  home.m2cpuid = M2CpuEach([core](const Packet& p, uint16_t) { return core->HomeOf(p.flowid); });
  home.dispatch = DispatchMode::kDeferred;
  auto id = nisr.Register(home);
  if (!id.ok()) return id.status();
  c.home_proto = *id;
  for (int ws = 0; ws < n; ++ws) {
    c.sources.push_back(std::make_unique<HostSource>(raw, ws));
    if (Status st = nisr.AttachSource(ws, c.sources.back().get()); !st.ok()) return st;
  }
  return std::unique_ptr<Host>(new Host(std::move(core)));
}

Host::Host(std::shared_ptr<Core> core) : core_(std::move(core)) {}
Host::~Host() = default;

Status Host::Listen(uint16_t port, AcceptFn accept) {
  Core& c = *core_;
  for (const auto& s : c.slots)
    if (s->engine || s->retired)
      return Status(ErrorCode::kFailedPrecondition, "tcp host: Listen after the engines started");
  if (port == 0) return Status(ErrorCode::kInvalidArgument, "tcp host: listen on port 0");
  if (Status st = c.table->ThreadEnter(-1); !st.ok()) return st;
  Status inserted = Status::Ok();
  {
    auto l = c.table->Insert(
        inpcb::FourTuple::Listener(inpcb::Family::kIPv4, inpcb::IpAddr::V4(c.config.addr), port),
        0);
    if (!l.ok()) inserted = l.status();
  }  // unlocked before leaving the table
  c.table->ThreadExit();
  if (!inserted.ok()) return inserted;
  c.listens.push_back({port, std::move(accept)});
  return Status::Ok();
}

nic::RxProtocols Host::rx_protocols() const {
  return {core_->stack->ether(), core_->stack->id(proto::Layer::kIp),
          core_->stack->id(proto::Layer::kIp6)};
}
void Host::SendSegment(int ws, const Segment& seg) {
  ++core_->slots[static_cast<size_t>(ws)]->c.raw_segments;
  core_->SendSegment(ws, seg);
}
ProtocolId Host::tcp_protocol() const { return core_->stack->id(proto::Layer::kTcp); }
inpcb::ConnectionTable& Host::table() { return *core_->table; }
const HostConfig& Host::config() const { return core_->config; }

HostStats Host::Stats() const {
  HostStats r;
  for (const auto& s : core_->slots) {
    const tcp::Stats& st = s->engine ? s->engine->stats() : s->final_stats;
    r.by_workstream.push_back(st);
    r.connections += s->engine ? s->engine->connections() : s->final_connections;
    r.tcp.segments_in += st.segments_in;
    r.tcp.accepted += st.accepted;
    for (size_t i = 0; i < kNumDropReasons; ++i) r.tcp.drops[i] += st.drops[i];
    for (size_t i = 0; i < kNumResetCauses; ++i) r.tcp.resets[i] += st.resets[i];
    // The latest of the engines' (one clock for all of a host's engines).
    if (st.last_paws.valid &&
        (!r.tcp.last_paws.valid || st.last_paws.at_us >= r.tcp.last_paws.at_us))
      r.tcp.last_paws = st.last_paws;
    r.tcp.segments_out += st.segments_out;
    r.tcp.data_segments_out += st.data_segments_out;
    r.tcp.bytes_out += st.bytes_out;
    r.tcp.retransmits += st.retransmits;
    r.tcp.fast_retransmits += st.fast_retransmits;
    r.tcp.rto_timeouts += st.rto_timeouts;
    r.tcp.persist_probes += st.persist_probes;
    r.tcp.delayed_acks += st.delayed_acks;
    r.tcp.challenge_acks += st.challenge_acks;
    r.tcp.challenge_acks_suppressed += st.challenge_acks_suppressed;
    r.tcp.syncookies_sent += st.syncookies_sent;
    r.tcp.syncookies_accepted += st.syncookies_accepted;
    r.tcp.active_opens += st.active_opens;
    r.tcp.passive_opens += st.passive_opens;
    r.tcp.closed += st.closed;
    r.tcp.time_wait_recycled += st.time_wait_recycled;
    const HostCounters& h = s->c;
    r.host.frames_in += h.frames_in;
    r.host.tcp_segments += h.tcp_segments;
    r.host.forwarded += h.forwarded;
    r.host.raw_segments += h.raw_segments;
    r.host.arp_replies += h.arp_replies;
    r.host.icmp_replies += h.icmp_replies;
    r.host.tx_frames += h.tx_frames;
    r.host.tx_bytes += h.tx_bytes;
    for (size_t i = 0; i < kNumHostDrops; ++i) r.host.drops[i] += h.drops[i];
  }
  const uint64_t off = core_->off_worker_delivered.Get();
  r.host.frames_in += off;
  r.host.drops[static_cast<size_t>(HostDrop::kOffWorker)] +=
      off + core_->off_worker_forwarded.Get();
  return r;
}

}  // namespace netisr::tcp
