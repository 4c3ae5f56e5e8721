// Router (see router.h): the hook, local delivery and the control plane.
#include "router/router.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "base/counter.h"
#include "base/wire.h"
#include "netisr/stats_json.h"
#include "nic/dpdk_port.h"
#include "proto/layout.h"
#include "proto/responder.h"
#include "proto/wire.h"
#include "router/forward.h"
#include "router/icmp_error.h"
#include "router/metrics.h"
#include "router/nd.h"
#include "sched_feedback/clock.h"

namespace netisr::router {

namespace {

using base::Load16;
using base::Load32;
namespace wire = proto::wire;
using proto::GetLayout;
using proto::IpVerdict;
using proto::Layer;
using proto::Layout;

// The router's own drop reasons (forward.h's FrameDrop names the frame
// checks'; the neighbour table counts its own).
#define NETISR_ROUTER_DROPS(X)                                                             \
  X(kNoRoute, "no_route")                     /* no route: ICMP net unreachable */         \
  X(kNotForUs, "l2_not_for_us")               /* unicast frame to another MAC */           \
  X(kGroupTransit, "l2_group_transit")        /* link broadcast/multicast, not ours */     \
  X(kLocalUnhandled, "local_unhandled")       /* TCP/UDP to the router: no socket */       \
  X(kLocalIgnored, "local_icmp_ignored")      /* ICMP to us that asks nothing */           \
  X(kArpNotForUs, "arp_not_for_us")           /* ARP about others' addresses */            \
  X(kOffWorker, "off_worker")                 /* reached the hook off any worker */        \
  X(kBadPort, "bad_port")                     /* from a port id the router did not open */ \
  X(kDirectedBroadcast, "directed_broadcast") /* to a connected prefix's broadcast */
enum class Drop : uint8_t {
#define NETISR_ROUTER_DROP_ENUM(e, name) e,
  NETISR_ROUTER_DROPS(NETISR_ROUTER_DROP_ENUM)
#undef NETISR_ROUTER_DROP_ENUM
      kCount,
};
constexpr size_t kNumDrops = static_cast<size_t>(Drop::kCount);
constexpr const char* kDropNames[] = {
#define NETISR_ROUTER_DROP_NAME(e, name) name,
    NETISR_ROUTER_DROPS(NETISR_ROUTER_DROP_NAME)
#undef NETISR_ROUTER_DROP_NAME
};

// Port ids number 0..1023 (nic::SourceId reserves 64 queues per port).
constexpr size_t kMaxPortIds = 1024;
constexpr uint16_t kNoIndex = UINT16_MAX;

// One worker's counters and scratch: written by that worker only
// (base::Counter: single writer, read by Stats from any thread).
struct alignas(64) WorkerState {
  explicit WorkerState(uint32_t ready_cap) : ready(ready_cap) { solicits.reserve(64); }
  IcmpRateLimiter limiter;
  std::array<base::Counter, kNumDrops> drops;
  std::array<base::Counter, kNumFrameDrops> frame_drops;
  std::array<base::Counter, kNumErrorSkips> error_skips;
  base::Counter forwarded, replies, consumed, icmp_errors, solicits_sent, adverts, resolved_sent,
      no_frame;
  std::vector<Packet*> ready;            // Confirm's output, queue_per_neighbour
  std::vector<SolicitRequest> solicits;  // Tick's output (worker 0)
  std::vector<Packet*> unresolved;       // Tick's output (worker 0)
  uint64_t next_tick_ns = 0;             // worker 0
  // Frames staged while a RouteChunk runs (`batching`), sent at its end in
  // runs of one port (Pipeline::SendBurst), in the order staged, so each
  // port's frames keep their order. Empty outside RouteChunk.
  bool batching = false;
  size_t out_n = 0;
  std::array<Packet*, 64> out;
  std::array<uint16_t, 64> out_port;
};

struct PortInfo {
  std::string name;
  MacAddr mac{};
  std::vector<uint32_t> v4;  // our addresses, host order
  std::vector<Ip6Addr> v6;
  std::vector<uint32_t> broadcast4;  // of its connected prefixes (/30 and wider)
  ErrorOrigin origin;                // source of ICMP errors about its traffic
};

std::string MacString(const MacAddr& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

Ip6Addr Load6(const uint8_t* p) {
  Ip6Addr a;
  std::memcpy(a.data(), p, 16);
  return a;
}

std::string DeviceName(const std::string& device) { return device.substr(0, device.find(',')); }

}  // namespace

struct Router::Core {
  explicit Core(RouterConfig c) : config(std::move(c)) {}

  RouterConfig config;
  std::vector<PortInfo> ports;                   // by port index
  std::vector<uint32_t> ours4;                   // every port's v4 addresses (Ours4)
  std::array<uint16_t, kMaxPortIds> index_of{};  // port id -> index (kNoIndex)
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<NeighbourTable> neighbours;
  std::vector<std::unique_ptr<WorkerState>> workers;
  base::Counter off_worker;  // AddShared: any thread
  FrameAllocator alloc;
  const sched::FastClock* clock = &sched::FastClock::Global();
  std::chrono::steady_clock::time_point started{};
  // Set by Start, cleared by Stop (the control thread); Stats reads them
  // from the control server's threads too: relaxed, a report's clock only.
  std::atomic<bool> running{false};
  std::atomic<double> stopped_s{0};  // seconds run, frozen at Stop
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  // Declared last: destroyed first (its handlers use everything above).
  std::unique_ptr<pipeline::Pipeline> pipe;
  std::unique_ptr<ControlServer> control;

  // --- data path (workers) ---
  void Hook(Layer l3, std::span<Packet* const> pkts, IpVerdict* verdicts);
  void Deliver(Layer layer, Burst burst);
  size_t OnPoll(int worker);

  // Packets routed per pass of Hook (the bulk lookup's unit; stack arrays).
  static constexpr size_t kRouteChunk = 64;
  // The last neighbour resolved in this burst (Hook's stack; one worker).
  struct NeighbourMemo {
    bool valid = false;
    uint16_t port = 0;
    IpAddr addr;
    MacAddr mac{};
    // IPv4: the route table entry that led to addr (Lookup4Burst's
    // pointer, valid for the burst), and whether it is a connected route
    // (then addr is the packet's own destination, compared per packet).
    const NextHop* hop = nullptr;
    bool connected = false;
  };
  enum class Admit { kLocal, kTaken, kRoute };  // kTaken: counted and released
  // `l`, `ip` (the IP header) and, for IPv4, `dst4` (its destination, host
  // order) are the caller's, read once for the route pass too.
  Admit AdmitTransit(WorkerState& w, bool v6, Packet* p, const Layout& l, const uint8_t* ip,
                     uint32_t dst4);
  void RouteChunk(WorkerState& w, Layer l3, std::span<Packet* const> pkts, IpVerdict* verdicts,
                  uint64_t now, NeighbourMemo& memo);
  void Route4(WorkerState& w, std::span<Packet* const> pkts, const uint8_t* at,
              const uint32_t* dst4, const NextHop* const* hops, size_t m, uint64_t now,
              NeighbourMemo& memo);
  void Route6(WorkerState& w, std::span<Packet* const> pkts, const uint8_t* at, size_t m,
              uint64_t now, NeighbourMemo& memo);
  // The route pass's checks after the lookup, in RFC 1812's order: no route
  // (ICMP net unreachable), then the TTL / hop limit (time exceeded); the
  // packet answered, counted and released, false. True: on to its next hop.
  bool MayForward(WorkerState& w, Packet* p, const Layout& l, bool routed, uint64_t now) {
    if (!routed) {
      SendError(w, PortOf(*p), *p, l, IcmpError::kNetUnreachable, now);
      Count(w, Drop::kNoRoute, p);
      return false;
    }
    if (Check c = CheckTtl(*p, l); c.verdict != Verdict::kForward) {
      if (c.verdict == Verdict::kTimeExceeded)
        SendError(w, PortOf(*p), *p, l, IcmpError::kTimeExceeded, now);
      Count(w, c.why, p);
      return false;
    }
    return true;
  }
  void Transmit(WorkerState& w, const NextHop& nh, const IpAddr& neighbour, Packet* p,
                const Layout& l, uint64_t now, NeighbourMemo& memo);
  void SendRewritten(WorkerState& w, uint16_t port, Packet* p, const Layout& l, const MacAddr& dst);
  // SendRewritten for a frame whose CheckTtl just passed (the route pass):
  // the rewrite without checking again.
  void SendChecked(WorkerState& w, uint16_t port, Packet* p, const Layout& l, const MacAddr& dst) {
    Rewrite(*p, l, ports[port].mac, dst);
    w.forwarded.Add();
    Stage(w, port, p);
  }
  void SendReady(WorkerState& w, uint16_t port, size_t n, const MacAddr& mac);
  void SendError(WorkerState& w, uint16_t in, const Packet& p, const Layout& l, IcmpError e,
                 uint64_t now);
  void SendSolicit(WorkerState& w, const SolicitRequest& r);
  void DeliverArp(WorkerState& w, uint16_t in, Packet* p, uint64_t now);
  void DeliverIcmp(WorkerState& w, uint16_t in, Packet* p);
  void DeliverIcmp6(WorkerState& w, uint16_t in, Packet* p, uint64_t now);

  bool Ours4(uint32_t a) const {
    // One flat array, not each port's: every packet asks.
    return std::find(ours4.begin(), ours4.end(), a) != ours4.end();
  }
  bool IsBroadcast4(uint16_t port, uint32_t a) const {
    const std::vector<uint32_t>& b = ports[port].broadcast4;
    return std::find(b.begin(), b.end(), a) != b.end();
  }
  bool Ours6(const uint8_t* a) const {
    for (const PortInfo& pi : ports)
      for (const Ip6Addr& x : pi.v6)
        if (std::memcmp(x.data(), a, 16) == 0) return true;
    return false;
  }
  uint16_t PortOf(const Packet& p) const {
    const uint16_t id = p.source / nic::kMaxQueuesPerPort;
    return id < kMaxPortIds ? index_of[id] : kNoIndex;
  }
  void Count(WorkerState& w, Drop d, Packet* p) {
    w.drops[static_cast<size_t>(d)].Add();
    Release(p);
  }
  void Count(WorkerState& w, FrameDrop d, Packet* p) {
    w.frame_drops[static_cast<size_t>(d)].Add();
    Release(p);
  }
  WorkerState* Worker() {
    const int ws = Netisr::CurrentWorkstream();
    return ws >= 0 && static_cast<size_t>(ws) < workers.size() ? workers[ws].get() : nullptr;
  }
  void Stage(WorkerState& w, uint16_t port, Packet* frame) {
    if (!w.batching) {
      pipe->Send(port, frame);
      return;
    }
    if (w.out_n == w.out.size()) SendStaged(w);
    w.out[w.out_n] = frame;
    w.out_port[w.out_n++] = port;
  }
  // Sends what Stage batched, in runs of equal port.
  // The batch is emptied first: nothing staged during a send is sent twice.
  void SendStaged(WorkerState& w) {
    const size_t n = w.out_n;
    w.out_n = 0;
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && w.out_port[j] == w.out_port[i]) ++j;
      pipe->SendBurst(w.out_port[i], {w.out.data() + i, j - i});
      i = j;
    }
  }
  // An echo reply's source MAC is the port's own, not the request's
  // destination (a group or, on a promiscuous port, another host's MAC).
  void ReplyFrom(uint16_t port, Packet& reply) {
    std::memcpy(reply.data + 6, ports[port].mac.data(), 6);
  }

  Status Build();
  RouterStats Stats() const;
};

// --- data path ----------------------------------------------------------

// A burst in three passes, as VPP's nodes and l3fwd's lookupx4 do: the
// checks before the route lookup for every packet; one rte_lpm_lookup_bulk
// for the IPv4 packets that passed (their tbl24 misses overlap instead of
// waiting one behind another); then the TTL check, the neighbour and the
// rewrite, the neighbour's MAC memoised over the burst (a burst's packets
// mostly share a next hop; a burst is a moment, as one seqlock read is).
// The order of the checks for each packet is RoutePacket's of old: ours,
// link layer, ingress, route, TTL.
void Router::Core::Hook(Layer l3, std::span<Packet* const> pkts, IpVerdict* verdicts) {
  const int ws = Netisr::CurrentWorkstream();
  if (ws < 0 || static_cast<size_t>(ws) >= workers.size()) {
    // Not reached by the pipeline (its final drain at Stop runs each
    // workstream's handlers as that workstream); a handler called from any
    // other thread is no registered reader and may not read the route table.
    off_worker.AddShared(pkts.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      Release(pkts[i]);
      verdicts[i] = IpVerdict::kTaken;
    }
    return;
  }
  WorkerState& w = *workers[static_cast<size_t>(ws)];
  const uint64_t now = clock->NowNs();
  NeighbourMemo memo;
  routes->Online(static_cast<uint32_t>(ws));
  for (size_t base = 0; base < pkts.size(); base += kRouteChunk) {
    const size_t n = std::min(kRouteChunk, pkts.size() - base);
    RouteChunk(w, l3, pkts.subspan(base, n), verdicts + base, now, memo);
  }
  routes->Offline(static_cast<uint32_t>(ws));
}

void Router::Core::RouteChunk(WorkerState& w, Layer l3, std::span<Packet* const> pkts,
                              IpVerdict* verdicts, uint64_t now, NeighbourMemo& memo) {
  const bool v6 = l3 == Layer::kIp6;
  uint8_t at[kRouteChunk];     // index in pkts of the packets to route
  uint32_t dst4[kRouteChunk];  // their IPv4 destinations (host order)
  size_t m = 0;
  for (size_t i = 0; i < pkts.size(); ++i) {
    const Layout l = GetLayout(*pkts[i]);
    const uint8_t* ip = pkts[i]->data + l.l3_off;
    const uint32_t d4 = v6 ? 0 : Load32(ip + wire::kIpv4DstOffset);
    const Admit a = AdmitTransit(w, v6, pkts[i], l, ip, d4);
    verdicts[i] = a == Admit::kLocal ? IpVerdict::kLocal : IpVerdict::kTaken;
    if (a != Admit::kRoute) continue;
    at[m] = static_cast<uint8_t>(i);
    dst4[m] = d4;
    ++m;
  }
  w.batching = true;
  if (v6) {
    Route6(w, pkts, at, m, now, memo);
  } else if (m > 0) {
    const NextHop* hops[kRouteChunk];  // into the table: valid until Hook's Offline
    routes->Lookup4Burst({dst4, m}, {hops, m});
    Route4(w, pkts, at, dst4, hops, m, now, memo);
  }
  SendStaged(w);
  w.batching = false;
}

// The IPv4 route pass: `hops[j]` is the route of pkts[at[j]], whose
// destination is dst4[j]. Only IPv4 state per packet (no IPv6 temporaries:
// they were ~10 instructions a packet here), the ingress port looked up
// only for an ICMP error.
void Router::Core::Route4(WorkerState& w, std::span<Packet* const> pkts, const uint8_t* at,
                          const uint32_t* dst4, const NextHop* const* hops, size_t m, uint64_t now,
                          NeighbourMemo& memo) {
  for (size_t j = 0; j < m; ++j) {
    Packet* p = pkts[at[j]];
    const Layout l = GetLayout(*p);
    if (!MayForward(w, p, l, hops[j] != nullptr, now)) continue;
    const NextHop& nh = *hops[j];
    // The common case first: the next hop the last packet took, through a
    // gateway, or directly to the same destination. Compared by the table
    // entry's address, then plain words: building an IpAddr per packet (a
    // 20-byte temporary stored in parts and read whole) stalled store
    // forwarding, ~5% of the router's CPU in the profile.
    if (hops[j] == memo.hop && (!memo.connected || memo.addr.v4 == dst4[j])) {
      SendChecked(w, nh.port, p, l, memo.mac);
      continue;
    }
    const bool connected = nh.connected();
    if (connected && IsBroadcast4(nh.port, dst4[j])) {
      // RFC 2644: a router does not forward directed broadcasts (Linux:
      // bc_forwarding = 0); it would otherwise ARP for the broadcast address.
      Count(w, Drop::kDirectedBroadcast, p);
      continue;
    }
    const uint32_t neighbour4 = connected ? dst4[j] : nh.gateway.v4;
    Transmit(w, nh, IpAddr::V4(neighbour4), p, l, now, memo);
    // The memo names this hop only if it now holds this neighbour (a
    // neighbour being resolved leaves it as it was).
    const bool ours =
        memo.valid && memo.port == nh.port && !memo.addr.v6 && memo.addr.v4 == neighbour4;
    memo.hop = ours ? hops[j] : nullptr;
    memo.connected = connected;
  }
}

// The IPv6 route pass: one lookup a packet (rte_lpm6 has a bulk lookup,
// but IPv6 transit is not this router's measured case).
void Router::Core::Route6(WorkerState& w, std::span<Packet* const> pkts, const uint8_t* at,
                          size_t m, uint64_t now, NeighbourMemo& memo) {
  for (size_t j = 0; j < m; ++j) {
    Packet* p = pkts[at[j]];
    const Layout l = GetLayout(*p);
    const Ip6Addr dst6 = Load6(p->data + l.l3_off + wire::kIpv6DstOffset);
    const std::optional<NextHop> hop = routes->Lookup6(dst6);
    if (!MayForward(w, p, l, hop.has_value(), now)) continue;
    Transmit(w, *hop, hop->connected() ? IpAddr::V6(dst6) : hop->gateway, p, l, now, memo);
    memo.hop = nullptr;  // `hop` is this iteration's copy
  }
}

Router::Core::Admit Router::Core::AdmitTransit(WorkerState& w, bool v6, Packet* p, const Layout& l,
                                               const uint8_t* ip, uint32_t dst4) {
  if (v6) {
    // Ours, or a link-scope multicast group (NDP's solicited-node and
    // all-nodes groups, ff02::/16): local. Wider multicast: CheckIngress.
    if (Ours6(ip + wire::kIpv6DstOffset)) return Admit::kLocal;
    if (ip[wire::kIpv6DstOffset] == 0xff && (ip[wire::kIpv6DstOffset + 1] & 0x0f) == 0x02)
      return Admit::kLocal;
  } else if (Ours4(dst4)) {
    return Admit::kLocal;
  }
  const uint16_t in = PortOf(*p);
  Drop why;
  if (in == kNoIndex) {
    why = Drop::kBadPort;
  } else if (p->data[0] & 1) {
    why = Drop::kGroupTransit;
  } else if (std::memcmp(p->data, ports[in].mac.data(), 6) != 0) {
    why = Drop::kNotForUs;
  } else if (Check c = CheckIngress(*p, l); c.verdict != Verdict::kForward) {
    Count(w, c.why, p);
    return Admit::kTaken;
  } else {
    return Admit::kRoute;
  }
  Count(w, why, p);
  return Admit::kTaken;
}

void Router::Core::Transmit(WorkerState& w, const NextHop& nh, const IpAddr& neighbour, Packet* p,
                            const Layout& l, uint64_t now, NeighbourMemo& memo) {
  if (memo.valid && memo.port == nh.port && memo.addr == neighbour) {
    SendRewritten(w, nh.port, p, l, memo.mac);
    return;
  }
  if (std::optional<MacAddr> mac = neighbours->Lookup(nh.port, neighbour)) {
    memo = {true, nh.port, neighbour, *mac};
    SendRewritten(w, nh.port, p, l, *mac);
    return;
  }
  NeighbourTable::ResolveResult r = neighbours->Resolve(nh.port, neighbour, p, now);
  switch (r.outcome) {
    case NeighbourTable::Outcome::kSend:
      SendRewritten(w, nh.port, p, l, r.mac);
      return;
    case NeighbourTable::Outcome::kQueuedSolicit:
      SendSolicit(w, r.solicit);
      return;
    case NeighbourTable::Outcome::kQueued:
    case NeighbourTable::Outcome::kDropped:  // released and counted by the table
      return;
  }
}

void Router::Core::SendRewritten(WorkerState& w, uint16_t port, Packet* p, const Layout& l,
                                 const MacAddr& dst) {
  const Check c = Forward(*p, l, ports[port].mac, dst);
  if (c.verdict != Verdict::kForward) {  // CheckTtl passed before: only a queued frame's race
    Count(w, c.why, p);
    return;
  }
  w.forwarded.Add();
  Stage(w, port, p);
}

void Router::Core::SendReady(WorkerState& w, uint16_t port, size_t n, const MacAddr& mac) {
  // Packets that waited for this neighbour: routed when they arrived (to
  // `port`), rewritten now with the MAC just learnt, in arrival order.
  for (size_t i = 0; i < n; ++i) {
    Packet* p = w.ready[i];
    w.resolved_sent.Add();
    SendRewritten(w, port, p, GetLayout(*p), mac);
  }
}

void Router::Core::SendError(WorkerState& w, uint16_t in, const Packet& p, const Layout& l,
                             IcmpError e, uint64_t now) {
  const ErrorResult r = MakeIcmpError(p, l, e, ports[in].origin, w.limiter, now, alloc);
  if (r.frame == nullptr) {
    w.error_skips[static_cast<size_t>(r.skip)].Add();
    return;
  }
  w.icmp_errors.Add();
  Stage(w, in, r.frame);  // back out of the ingress port (icmp_error.h, Addressing)
}

void Router::Core::SendSolicit(WorkerState& w, const SolicitRequest& r) {
  const PortInfo& pi = ports[r.port];
  Packet* f = nullptr;
  if (!r.addr.v6) {
    // Our address on the target's prefix, else the port's first.
    uint32_t src = pi.v4.empty() ? 0 : pi.v4[0];
    for (const PortAddress& a : config.ports[r.port].addresses)
      if (!a.addr.v6 && PrefixContains(a.Connected(), r.addr)) src = a.addr.v4;
    f = MakeArpRequest(alloc, src, pi.mac, r.addr.v4);
  } else {
    Ip6Addr src = pi.v6.empty() ? Ip6Addr{} : pi.v6[0];
    for (const PortAddress& a : config.ports[r.port].addresses)
      if (a.addr.v6 && PrefixContains(a.Connected(), r.addr)) src = a.addr.v6_bytes;
    // A stale entry's probe goes to the neighbour itself (RFC 4861 7.3.3).
    f = MakeNeighborSolicit(alloc, src, pi.mac, r.addr.v6_bytes, r.unicast_to);
  }
  if (f == nullptr) {
    w.no_frame.Add();  // the table retries at its next tick
    return;
  }
  if (r.unicast_to && !r.addr.v6) WriteMacs(*f, pi.mac, *r.unicast_to);  // ARP probe, unicast
  w.solicits_sent.Add();
  Stage(w, r.port, f);
}

void Router::Core::Deliver(Layer layer, Burst burst) {
  WorkerState* w = Worker();
  if (w == nullptr) {
    off_worker.AddShared(burst.size());
    for (Packet* p : burst) Release(p);
    return;
  }
  const uint64_t now = clock->NowNs();
  for (Packet* p : burst) {
    const uint16_t in = PortOf(*p);
    if (in == kNoIndex) {
      Count(*w, Drop::kBadPort, p);
      continue;
    }
    switch (layer) {
      case Layer::kArp:
        DeliverArp(*w, in, p, now);
        break;
      case Layer::kIcmp:
        DeliverIcmp(*w, in, p);
        break;
      case Layer::kIcmp6:
        DeliverIcmp6(*w, in, p, now);
        break;
      default:  // TCP, UDP to one of our addresses: no sockets here
        Count(*w, Drop::kLocalUnhandled, p);
        break;
    }
  }
}

void Router::Core::DeliverArp(WorkerState& w, uint16_t in, Packet* p, uint64_t now) {
  const Layout l = GetLayout(*p);
  const uint8_t* a = p->data + l.l3_off;
  constexpr uint32_t kOpOff = 6, kTpaOff = 24;  // RFC 826, Ethernet/IPv4
  const uint32_t target = Load32(a + kTpaOff);
  const bool reply = Load16(a + kOpOff) == wire::kArpOpReply;
  const PortInfo& pi = ports[in];
  const bool ours = std::find(pi.v4.begin(), pi.v4.end(), target) != pi.v4.end();
  const proto::ArpSender s = proto::ArpSenderOf(*p, l);
  if (s.ip != 0) {  // 0.0.0.0: an ARP probe (RFC 5227) teaches nothing
    const size_t n =
        neighbours->Confirm(in, IpAddr::V4(s.ip), s.mac, reply && ours, ours, now, w.ready);
    SendReady(w, in, n, s.mac);
  }
  if (ours && proto::MakeArpReply(*p, l, target, pi.mac) == proto::Reply::kReplied) {
    w.replies.Add();
    Stage(w, in, p);
    return;
  }
  if (!ours) {
    Count(w, Drop::kArpNotForUs, p);
    return;
  }
  w.consumed.Add();  // a reply to our request: learnt above
  Release(p);
}

void Router::Core::DeliverIcmp(WorkerState& w, uint16_t in, Packet* p) {
  (void)in;
  const Layout l = GetLayout(*p);
  const uint32_t dst = Load32(p->data + l.l3_off + wire::kIpv4DstOffset);
  if (Ours4(dst) && proto::MakeIcmpEchoReply(*p, l, dst) == proto::Reply::kReplied) {
    w.replies.Add();
    ReplyFrom(in, *p);
    Stage(w, in, p);
    return;
  }
  Count(w, Drop::kLocalIgnored, p);
}

void Router::Core::DeliverIcmp6(WorkerState& w, uint16_t in, Packet* p, uint64_t now) {
  const Layout l = GetLayout(*p);
  const NdKind kind = NdKindOf(*p, l);
  if (kind == NdKind::kNotNd) {
    const uint8_t* dst = p->data + l.l3_off + wire::kIpv6DstOffset;
    if (Ours6(dst) && MakeIcmp6EchoReply(*p, l, Load6(dst)) == proto::Reply::kReplied) {
      w.replies.Add();
      ReplyFrom(in, *p);
      Stage(w, in, p);
      return;
    }
    Count(w, Drop::kLocalIgnored, p);  // router solicitations, MLD, echo replies, ...
    return;
  }
  NdMessage m;
  if (FrameDrop why = ParseNd(*p, l, &m); why != FrameDrop::kCount) {
    Count(w, why, p);
    return;
  }
  const PortInfo& pi = ports[in];
  const bool target_ours = std::find(pi.v6.begin(), pi.v6.end(), m.target) != pi.v6.end();
  Neighbour6 learnt;
  if (LearnFrom(m, &learnt)) {
    const bool solicited = kind == NdKind::kAdvert && m.solicited;
    const size_t n = neighbours->Confirm(in, IpAddr::V6(learnt.ip), learnt.mac, solicited,
                                         kind == NdKind::kSolicit && target_ours, now, w.ready);
    SendReady(w, in, n, learnt.mac);
  }
  if (kind == NdKind::kSolicit && target_ours) {
    if (Packet* na = MakeNeighborAdvert(alloc, m, pi.mac)) {
      w.adverts.Add();
      Stage(w, in, na);
    } else {
      w.no_frame.Add();  // the solicitor asks again
    }
  }
  w.consumed.Add();
  Release(p);
}

size_t Router::Core::OnPoll(int worker) {
  if (worker != 0) return 0;
  WorkerState& w = *workers[0];
  const uint64_t now = clock->NowNs();
  if (now < w.next_tick_ns) return 0;
  w.next_tick_ns = now + kNeighbourTickNs;
  w.solicits.clear();
  neighbours->Tick(now, w.solicits, &w.unresolved);
  for (const SolicitRequest& r : w.solicits) SendSolicit(w, r);
  // Packets whose next hop never answered (counted unresolved by the
  // table): ICMP host / address unreachable to each sender, as Linux does
  // (RFC 1812 4.3.3.1; rate limited like every error).
  for (Packet* p : w.unresolved) {
    if (const uint16_t in = PortOf(*p); in != kNoIndex)
      SendError(w, in, *p, GetLayout(*p), IcmpError::kHostUnreachable, now);
    Release(p);
  }
  const size_t n = w.solicits.size() + w.unresolved.size();
  w.unresolved.clear();
  return n;
}

// --- building -------------------------------------------------------------

Status Router::Core::Build() {
  const DataplaneConfig& dp = config.dataplane;
  const int nworkers = static_cast<int>(dp.workers);
  if (config.ports.size() > kMaxPortIds)
    return Status(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: {} ports, at most {}", config.source, config.ports.size(), kMaxPortIds));
  std::string eal = dp.eal;
  for (const PortConfig& pc : config.ports) eal += " --vdev=" + pc.device;
  (void)sched::FastClock::Global();  // calibrate before any worker runs
  if (Status st = nic::DpdkEal::Init(eal); !st.ok()) return st;

  RouteTableOptions ro = config.route_table;
  ro.max_readers = static_cast<uint32_t>(nworkers);
  auto rt = RouteTable::Create(ro);
  if (!rt.ok()) return rt.status();
  routes = std::move(*rt);
  for (uint32_t i = 0; i < ro.max_readers; ++i) {
    if (Status st = routes->RegisterReader(i); !st.ok()) return st;
    routes->Offline(i);  // online only inside a hook call
  }
  for (const Route& r : config.ConnectedRoutes())
    if (Status st = routes->Add(r); !st.ok())
      return Status(st.code(), fmt::format("{}: connected route {}: {}", config.source,
                                           r.prefix.ToString(), st.message()));
  for (const Route& r : config.routes)
    if (Status st = routes->Add(r); !st.ok())
      return Status(st.code(), fmt::format("{}: route {}: {}", config.source, r.prefix.ToString(),
                                           st.message()));
  auto nt = NeighbourTable::Create(config.neighbour_table);
  if (!nt.ok()) return nt.status();
  neighbours = std::move(*nt);
  for (const StaticNeighbour& n : config.neighbours)
    if (Status st = neighbours->AddStatic(n.port, n.addr, n.mac); !st.ok()) return st;

  for (int i = 0; i < nworkers; ++i)
    workers.push_back(std::make_unique<WorkerState>(neighbours->options().queue_per_neighbour));

  pipeline::PipelineOptions po;
  po.netisr.max_threads = nworkers;
  po.netisr.worker_cpus = dp.cpus;
  po.model = dp.model;
  po.dispatch = dp.dispatch;
  po.deliver = [this](Layer layer, Burst burst) { Deliver(layer, burst); };
  po.ip_hook = [this](Layer l3, std::span<Packet* const> pkts, IpVerdict* v) { Hook(l3, pkts, v); };
  po.on_poll = [this](int worker) { return OnPoll(worker); };
  auto pl = pipeline::Pipeline::Create(std::move(po));
  if (!pl.ok() && pl.status().message().starts_with("worker_cpus"))  // netisr's word for it
    return Status(pl.status().code(),
                  fmt::format("{}: [dataplane] cpus: {}", config.source, pl.status().message()));
  if (!pl.ok()) return pl.status();
  pipe = std::move(*pl);
  alloc.alloc = [](void* ctx) { return static_cast<pipeline::Pipeline*>(ctx)->AllocFrame(); };
  alloc.ctx = pipe.get();
  alloc.capacity = pipeline::PipelineOptions{}.frame_buf_bytes;

  index_of.fill(kNoIndex);
  for (size_t i = 0; i < config.ports.size(); ++i) {
    const PortConfig& pc = config.ports[i];
    const std::string dev = DeviceName(pc.device);
    auto id = nic::DpdkEal::FindPort(dev);
    if (!id.ok())
      return Status(id.status().code(),
                    fmt::format("{}: port '{}' (device '{}'): {}", config.source, pc.name, dev,
                                id.status().message()));
    auto maxq = nic::DpdkEal::MaxRxQueues(*id);
    if (!maxq.ok()) return maxq.status();
    const uint32_t rx_queues =
        pc.rx_queues_set ? pc.rx_queues : std::min<uint32_t>(pc.rx_queues, *maxq);
    if (rx_queues > *maxq)
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("{}: port '{}': rx_queues = {} but device '{}' offers {}",
                                config.source, pc.name, rx_queues, dev, *maxq));
    nic::DpdkConfig dc;
    dc.port_id = *id;
    dc.num_rx_queues = static_cast<uint16_t>(rx_queues);
    // One TX queue per worker where the device has them (no lock on TX);
    // else shared (the pipeline serialises).
    auto maxtx = nic::DpdkEal::MaxTxQueues(*id);
    if (!maxtx.ok()) return maxtx.status();
    dc.num_tx_queues = static_cast<uint16_t>(std::min<int>(nworkers, *maxtx));
    // IPv4 is routed at the Ethernet layer's hook (source policy): no
    // flowid read; what is delivered here gets one from m2flow. IPv6 goes
    // on to the flow-policy ip6 layer: hashed as before.
    dc.software_flowid_ipv4 = false;
    auto idx = pipe->AddDpdkPort(dc);
    if (!idx.ok())
      return Status(idx.status().code(), fmt::format("{}: port '{}': {}", config.source, pc.name,
                                                     idx.status().message()));
    index_of[*id] = *idx;
    PortInfo pi;
    pi.name = pc.name;
    // The device's own address: Linux peers learn it by ARP/NDP, and a
    // replayed trace (net_pcap) is addressed to it.
    pi.mac = static_cast<nic::DpdkPort&>(pipe->port(*idx)).mac();
    for (const PortAddress& a : pc.addresses) {
      if (a.addr.v6) {
        pi.v6.push_back(a.addr.v6_bytes);
      } else {
        pi.v4.push_back(a.addr.v4);
        if (a.len <= 30) pi.broadcast4.push_back(a.addr.v4 | (~0u >> a.len));
      }
    }
    pi.origin.mac = pi.mac;
    pi.origin.ip4 = pi.v4.empty() ? 0 : pi.v4[0];
    if (!pi.v6.empty()) pi.origin.ip6 = pi.v6[0];
    ours4.insert(ours4.end(), pi.v4.begin(), pi.v4.end());
    ports.push_back(std::move(pi));
  }
  // A port without an address of one family sends that family's errors
  // from another port's address (never from 0.0.0.0 or ::).
  for (PortInfo& pi : ports)
    for (const PortInfo& other : ports) {
      if (pi.origin.ip4 == 0 && !other.v4.empty()) pi.origin.ip4 = other.v4[0];
      if (pi.origin.ip6 == Ip6Addr{} && !other.v6.empty()) pi.origin.ip6 = other.v6[0];
    }
  if (!config.filter_rules.empty()) {
    auto f = proto::EarlyFilter::Create(config.filter_rules);
    if (!f.ok()) return f.status();
    if (Status st = pipe->SetFilter(std::move(*f)); !st.ok()) return st;
  }
  return Status::Ok();
}

RouterStats Router::Core::Stats() const {
  RouterStats s;
  s.seconds = running.load(std::memory_order_relaxed) ? Elapsed()
                                                      : stopped_s.load(std::memory_order_relaxed);
  s.pipeline = pipe->Stats();
  s.neighbours = neighbours->stats();
  s.routes = routes->size();
  for (const PortInfo& p : ports) s.port_macs.push_back(p.mac);
  s.drops = s.pipeline.drops;
  RouterCounters& c = s.router;
  auto add = [&](const std::string& k, uint64_t v) {
    if (v != 0) s.drops[k] += v;
  };
  for (const auto& w : workers) {
    for (size_t i = 0; i < kNumDrops; ++i) add(kDropNames[i], w->drops[i].Get());
    for (size_t i = 0; i < kNumFrameDrops; ++i)
      add(std::string(ToString(static_cast<FrameDrop>(i))), w->frame_drops[i].Get());
    for (size_t i = 0; i < kNumErrorSkips; ++i)
      if (uint64_t v = w->error_skips[i].Get())
        c.icmp_errors_skipped[std::string(ToString(static_cast<ErrorSkip>(i)))] += v;
    c.forwarded += w->forwarded.Get();
    c.replies += w->replies.Get();
    c.consumed += w->consumed.Get();
    c.icmp_errors += w->icmp_errors.Get();
    c.solicits += w->solicits_sent.Get();
    c.adverts += w->adverts.Get();
    c.resolved_sent += w->resolved_sent.Get();
    c.no_frame += w->no_frame.Get();
  }
  add("off_worker", off_worker.Get());
  add("neighbour_queue_full", s.neighbours.queue_full);
  add("neighbour_table_full", s.neighbours.table_full);
  add("neighbour_unresolved", s.neighbours.unresolved);
  return s;
}

// --- RouterStats ------------------------------------------------------------

uint64_t RouterStats::frames_in() const {
  uint64_t n = pipeline.rx_packets;
  for (const pipeline::PortCounters& p : pipeline.ports) n += p.port.rx_dropped();
  return n;
}
uint64_t RouterStats::generated() const {
  return router.icmp_errors + router.solicits + router.adverts;
}
uint64_t RouterStats::dropped() const {
  uint64_t n = 0;
  for (const auto& [k, v] : drops) n += v;
  return n;
}
int64_t RouterStats::Balance() const {
  return static_cast<int64_t>(frames_in() + generated()) -
         static_cast<int64_t>(pipeline.tx_packets + dropped() + router.consumed +
                              neighbours.waiting);
}

// --- Router -------------------------------------------------------------------

Router::Router(std::unique_ptr<Core> core) : core_(std::move(core)) {}

Router::~Router() {
  Stop();
  // Packets still waiting for a neighbour go back to their pools while the
  // pools exist (a DPDK port frees its mempool), then the pipeline's
  // teardown; nothing runs a handler after Stop.
  core_->neighbours.reset();
  core_->pipe.reset();
}

Result<std::unique_ptr<Router>> Router::Create(const RouterConfig& config) {
  auto core = std::make_unique<Core>(config);
  if (Status st = core->Build(); !st.ok()) return st;
  return std::unique_ptr<Router>(new Router(std::move(core)));
}

Status Router::Start() {
  Core& c = *core_;
  if (Status st = c.pipe->Start(); !st.ok()) return st;
  c.started = std::chrono::steady_clock::now();
  c.running.store(true, std::memory_order_relaxed);
  if (!c.config.control.enabled) return Status::Ok();
  ControlOptions co;
  co.listen = c.config.control.listen;
  co.allow_remote = c.config.control.allow_remote;
  ControlHandlers h;
  h.metrics = [this] { return Metrics(); };
  h.stats = [this] { return ToJson(Stats(), core_->config); };
  h.list_routes = [this] { return ListRoutes(); };
  h.add_route = [this](const RouteRequest& r) { return AddRoute(r); };
  h.delete_route = [this](const RouteRequest& r) { return DeleteRoute(r); };
  auto srv = ControlServer::Start(co, std::move(h));
  if (!srv.ok()) {
    c.pipe->Stop();
    c.running.store(false, std::memory_order_relaxed);
    return Status(srv.status().code(),
                  fmt::format("[control] listen '{}': {}", co.listen, srv.status().message()));
  }
  c.control = std::move(*srv);
  return Status::Ok();
}

void Router::Stop() {
  Core& c = *core_;
  if (c.control) c.control->Stop();
  if (c.pipe) c.pipe->Stop();
  if (c.running.exchange(false, std::memory_order_relaxed))
    c.stopped_s.store(c.Elapsed(), std::memory_order_relaxed);
}

Status Router::AddRoute(const RouteRequest& r) {
  auto route = ResolveRoute(core_->config, r.prefix, r.via, r.port.value_or(""));
  if (!route.ok()) return route.status();
  return core_->routes->Add(*route);
}

Status Router::DeleteRoute(const RouteRequest& r) {
  auto prefix = IpPrefix::Parse(r.prefix);
  if (!prefix.ok()) return prefix.status();
  if (r.via.empty() && !r.port) return core_->routes->Delete(*prefix);
  // Narrowing: "via" (with "port", if given) names the exact next hop;
  // "port" alone, the egress port.
  auto want = ResolveRoute(core_->config, r.prefix, r.via, r.port.value_or(""));
  if (!want.ok()) return want.status();
  const bool port_only = r.via.empty();
  return core_->routes->Delete(*prefix, [&](const NextHop& nh) {
    return port_only ? nh.port == want->next_hop.port : nh == want->next_hop;
  });
}

nlohmann::json Router::ListRoutes() const {
  nlohmann::json a = nlohmann::json::array();
  for (const Route& r : core_->routes->List()) {
    nlohmann::json j;
    j["prefix"] = r.prefix.ToString();
    j["port"] = core_->config.ports[r.next_hop.port].name;
    if (r.next_hop.connected())
      j["connected"] = true;
    else
      j["via"] = r.next_hop.gateway.ToString();
    a.push_back(std::move(j));
  }
  return a;
}

RouterStats Router::Stats() const { return core_->Stats(); }

std::string Router::Metrics() const {
  const RouterStats s = Stats();
  MetricsWriter w;
  for (const pipeline::PortCounters& p : s.pipeline.ports) {
    const std::string& name = core_->config.ports[p.index].name;
    AppendPort(w, name, p.port);
    for (const pipeline::RxQueueStats& q : p.rx_queues)
      AppendRxQueue(w, RxQueueSample{name, q.queue, q.worker, q.port_dropped, q.received});
  }
  AppendNetisr(w, s.pipeline.netisr);
  AppendDrops(w, s.drops);
  const RouterCounters& c = s.router;
  w.Counter("netisr_router_forwarded_total", "Transit packets rewritten and staged for TX", {},
            c.forwarded);
  w.Counter("netisr_router_replies_total", "ARP and ICMP/ICMPv6 echo replies sent", {}, c.replies);
  w.Counter("netisr_router_icmp_errors_total", "ICMP/ICMPv6 errors sent", {}, c.icmp_errors);
  w.Counter("netisr_router_solicits_total", "ARP requests and neighbour solicitations sent", {},
            c.solicits);
  w.Gauge("netisr_router_routes", "Routes in the table", {}, static_cast<double>(s.routes));
  w.Gauge("netisr_router_neighbours", "Neighbour entries", {},
          static_cast<double>(s.neighbours.entries));
  w.Gauge("netisr_router_neighbour_waiting", "Packets waiting for neighbour resolution", {},
          static_cast<double>(s.neighbours.waiting));
  return w.Render();
}

uint16_t Router::control_port() const { return core_->control ? core_->control->port() : 0; }
const RouterConfig& Router::config() const { return core_->config; }

// --- output -------------------------------------------------------------------

std::string FormatStats(const RouterStats& s, const RouterConfig& config) {
  std::string out =
      fmt::format("{:<8} {:>12} {:>12} {:>10} {:>10}\n", "Port", "RX", "TX", "RX-drop", "TX-full");
  for (const pipeline::PortCounters& p : s.pipeline.ports)
    out += fmt::format("{:<8} {:>12} {:>12} {:>10} {:>10}\n", config.ports[p.index].name,
                       p.port.rx_packets, p.tx_sent, p.port.rx_dropped(), p.tx_full);
  out += fmt::format("{:<8} {:>6} {:>6} {:>12}\n", "Port", "Queue", "Worker", "Received");
  for (const pipeline::PortCounters& p : s.pipeline.ports)
    for (const pipeline::RxQueueStats& q : p.rx_queues)
      out += fmt::format("{:<8} {:>6} {:>6} {:>12}\n", config.ports[p.index].name, q.queue,
                         q.worker, q.received);
  out += netisr::FormatTable(s.pipeline.netisr);
  const RouterCounters& c = s.router;
  out += fmt::format(
      "router: {} forwarded ({} after resolution), {} replies, {} consumed, {} ICMP errors, "
      "{} solicits, {} adverts; {} routes, {} neighbours ({} packets waiting)\n",
      c.forwarded, c.resolved_sent, c.replies, c.consumed, c.icmp_errors, c.solicits, c.adverts,
      s.routes, s.neighbours.entries, s.neighbours.waiting);
  out += "drops:";
  for (const auto& [k, v] : s.drops) out += fmt::format(" {} {}", k, v);
  out += s.drops.empty() ? " none\n" : "\n";
  if (!c.icmp_errors_skipped.empty()) {
    out += "icmp errors not sent:";
    for (const auto& [k, v] : c.icmp_errors_skipped) out += fmt::format(" {} {}", k, v);
    out += "\n";
  }
  return out;
}

nlohmann::json ToJson(const RouterStats& s, const RouterConfig& config) {
  nlohmann::json j;
  j["seconds"] = s.seconds;
  nlohmann::json ports = nlohmann::json::array();
  for (const pipeline::PortCounters& p : s.pipeline.ports) {
    nlohmann::json q = nlohmann::json::array();
    for (const pipeline::RxQueueStats& r : p.rx_queues)
      q.push_back({{"queue", r.queue},
                   {"worker", r.worker},
                   {"received", r.received},
                   {"port_dropped", r.port_dropped}});
    ports.push_back({{"name", config.ports[p.index].name},
                     {"mac", p.index < s.port_macs.size() ? MacString(s.port_macs[p.index]) : ""},
                     {"rx_packets", p.port.rx_packets},
                     {"rx_bytes", p.port.rx_bytes},
                     {"rx_dropped", p.port.rx_dropped()},
                     {"tx_packets", p.tx_sent},
                     {"tx_bytes", p.port.tx_bytes},
                     {"tx_full", p.tx_full},
                     {"rx_queues", q}});
  }
  j["ports"] = ports;
  const RouterCounters& c = s.router;
  j["forwarded"] = c.forwarded;
  j["router"] = {{"forwarded", c.forwarded},
                 {"resolved_sent", c.resolved_sent},
                 {"replies", c.replies},
                 {"consumed", c.consumed},
                 {"icmp_errors", c.icmp_errors},
                 {"solicits", c.solicits},
                 {"adverts", c.adverts},
                 {"no_frame", c.no_frame},
                 {"icmp_errors_skipped", c.icmp_errors_skipped}};
  j["routes"] = s.routes;
  j["neighbours"] = {{"entries", s.neighbours.entries},
                     {"waiting", s.neighbours.waiting},
                     {"queued", s.neighbours.queued},
                     {"requests", s.neighbours.requests}};
  j["drops"] = s.drops;
  j["frames_in"] = s.frames_in();
  j["generated"] = s.generated();
  j["tx_packets"] = s.pipeline.tx_packets;
  j["dropped"] = s.dropped();
  j["balance"] = s.Balance();
  j["netisr"] = netisr::ToJson(s.pipeline.netisr);
  return j;
}

}  // namespace netisr::router
