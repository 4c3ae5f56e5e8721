// Router: an IPv4/IPv6 router on the embedding pipeline (pipeline/), what
// `netisr router --config FILE` runs. It joins the parts of router/: the
// route and neighbour tables (route_table.h, neighbor_table.h), the frame
// work (forward.h, icmp_error.h, nd.h) and the control server (control.h).
//
// Design note.
// The data path, per IP packet the pipeline's IP-layer hook offers (one
// stage of a burst at a time, on the worker that polled the RX queue in
// direct dispatch), in Linux's order (ip_rcv_finish, ip_forward, neigh):
//   1. ours? (a destination that is one of the router's addresses, or an
//      IPv6 link-scope multicast group: NDP) -> local: the chain goes on to
//      its L4 checks and deliver (ARP, ICMP echo, NS/NA); transit traffic
//      is never L4-checked;
//   2. link layer: a frame not sent to the ingress port's MAC is not ours to
//      route (l2_not_for_us: af_packet ports are promiscuous), nor a
//      link-layer broadcast/multicast (l2_group_transit, RFC 1812 5.3.4);
//   3. forward.h's CheckIngress (VLAN tags, martians);
//   4. route lookup (rte_lpm / rte_lpm6): none -> ICMP net unreachable;
//   5. TTL / hop limit: expiring -> ICMP time exceeded;
//   6. neighbour: a usable MAC -> rewrite (TTL, RFC 1624, MACs) and stage
//      for TX on the egress port (pipeline TX batching: one TxBurst per port
//      at the end of the burst); none -> the neighbour table queues the
//      packet (bounded) and says when to send an ARP request / NS.
// A burst goes through in passes (Hook, RouteChunk): steps 1-3 for every
// packet, one bulk rte_lpm lookup for the IPv4 survivors, then 4-6, with
// the last neighbour's MAC memoised over the burst (a burst is mostly one
// next hop). The perf profile this answered: per-packet lookups were 14%
// (route) and 17% (neighbour) of the router's CPU (docs/router.md).
// Every packet the hook takes is sent, queued or counted under a reason.
// The hot path takes no lock, makes no syscall and allocates only frames
// it sends (ICMP errors, requests) from the pipeline's frame pool.
//
// Tables: the route table is read-mostly (copy-and-swap + QSBR): each
// worker is reader id = its workstream index, registered at Create and
// online only inside a hook call (one Online/Offline pair per stage: ~2
// fences per 32 packets), so a worker that sleeps or is idle never holds
// up a route change and a change never waits longer than one stage. The
// neighbour table reads are seqlocks; its slow path (resolution, answers,
// timers) takes its mutex. Its timers run on worker 0, every
// kNeighbourTickNs, from the pipeline's on_poll (sleeping workers still
// poll their sources every idle_sleep_us).
//
// Accounting (RouterStats::Balance, exact after Stop): every frame the
// ports received, plus every frame the router built (generated), is sent
// (tx), counted under a drop reason, consumed locally (an ARP reply or NA
// the router learnt from), or still waiting for its neighbour.
//
// Threads: Create, Start, Stop and the destructor from one control thread;
// AddRoute/DeleteRoute/ListRoutes/Stats/Metrics from any thread (the
// control server's); the data path on the workers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "pipeline/pipeline.h"
#include "router/config.h"
#include "router/control.h"
#include "router/neighbor_table.h"
#include "router/route_table.h"

namespace netisr::router {

// How often worker 0 runs the neighbour table's timers, ns: a tenth of its
// retransmit interval (1 s), as NeighbourTable::Tick asks.
inline constexpr uint64_t kNeighbourTickNs = 100'000'000;

struct RouterCounters {
  uint64_t forwarded = 0;      // transit packets staged for TX (rewritten)
  uint64_t replies = 0;        // ARP replies, ICMP/ICMPv6 echo replies (made in place)
  uint64_t consumed = 0;       // ARP/NDP frames learnt from and released (no reply)
  uint64_t icmp_errors = 0;    // ICMP/ICMPv6 errors built and staged (generated)
  uint64_t solicits = 0;       // ARP requests and NS built and staged (generated)
  uint64_t adverts = 0;        // NAs built and staged (generated)
  uint64_t resolved_sent = 0;  // packets that waited for a neighbour, then forwarded
  uint64_t no_frame = 0;       // a frame to build found the pool empty (not a packet loss)
  std::map<std::string, uint64_t> icmp_errors_skipped;  // ErrorSkip name -> count
};

struct RouterStats {
  double seconds = 0;  // since Start
  pipeline::PipelineStats pipeline;
  NeighbourStats neighbours;
  RouterCounters router;
  size_t routes = 0;
  std::vector<proto::MacAddr> port_macs;  // [[port]] order: the devices' own
  // Every drop by reason: the pipeline's (ports, netisr, filter, parse
  // chain, TX), the router's (no_route, ttl_exceeded, ...) and the
  // neighbour table's (neighbour_queue_full, ...).
  std::map<std::string, uint64_t> drops;

  uint64_t frames_in() const;  // received by the ports, their RX drops included
  uint64_t generated() const;  // frames the router built
  uint64_t dropped() const;    // sum of drops
  // frames_in + generated - (tx + dropped + consumed + waiting): 0 when every
  // frame is accounted for (after Stop; in flight otherwise).
  int64_t Balance() const;
};

class Router {
 public:
  // Initialises DPDK's EAL from the config (its eal string plus one --vdev
  // per port, in [[port]] order), opens the ports, builds the tables (the
  // connected routes of every port address, the static routes and
  // neighbours) and the pipeline. Nothing runs until Start. Errors name the
  // port or route that failed.
  static Result<std::unique_ptr<Router>> Create(const RouterConfig& config);
  ~Router();  // Stop(), waiting packets released, then the pipeline's teardown
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Starts the data path, then the control server (if [control] is on).
  Status Start();
  // Stops the control server, then the pipeline (in-flight frames drained
  // and sent or counted). Idempotent.
  void Stop();

  // The control plane (the control server's callbacks; any thread).
  Status AddRoute(const RouteRequest& r);
  Status DeleteRoute(const RouteRequest& r);
  nlohmann::json ListRoutes() const;
  RouterStats Stats() const;
  std::string Metrics() const;  // Prometheus text
  // The control server's bound port (0 when off or not started).
  uint16_t control_port() const;
  const RouterConfig& config() const;

  struct Core;

 private:
  explicit Router(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

// `netstat -Q`-style text: ports (rx, tx, drops), RX queues and their
// workers, netisr's per-workstream table, router counters and drops by
// reason.
std::string FormatStats(const RouterStats& s, const RouterConfig& config);
nlohmann::json ToJson(const RouterStats& s, const RouterConfig& config);

}  // namespace netisr::router
