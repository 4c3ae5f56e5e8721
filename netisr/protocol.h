// Protocol registration: what a protocol tells netisr about itself.
//
// Mirrors FreeBSD's struct netisr_handler (netisr.h): a name, a handler, the
// optional m2flow/m2cpuid hooks, a CPU-affinity policy, a dispatch mode and a
// queue limit. Handlers here take a burst of packets instead of one mbuf, so
// a protocol can work stage by stage over the burst.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "netisr/packet.h"

namespace netisr {

// Most protocols one dispatcher holds; FreeBSD's NETISR_MAXPROT is 16 too.
inline constexpr int kMaxProtocols = 16;

// Which workstream a packet belongs to. Closed set, as in FreeBSD.
enum class Policy : uint8_t {
  // kSource: all packets from one ingress source go to one workstream
  // (source % workstreams). Keeps per-source order; one busy source loads one
  // CPU. Right for protocols whose state is per interface (ARP, ether).
  kSource,
  // kFlow: packets go to the workstream of their flow bucket,
  // (flowid & (flow_buckets - 1)) % workstreams (base/flow_bucket.h),
  // computing the flow id with m2flow when the packet has none, and falling
  // back to kSource when it cannot. Keeps per-flow order and spreads flows
  // across CPUs (RSS-like).
  kFlow,
  // kCpu: the protocol's m2cpuid names the workstream (e.g. from a
  // connection's home CPU). Order is whatever m2cpuid keeps stable; a packet
  // m2cpuid cannot place is dropped under reason `no_cpu`.
  kCpu,
};

// Where the handler runs. Closed set, as in FreeBSD's net.isr.dispatch.
enum class DispatchMode : uint8_t {
  // kDirect: run the handler in the caller's context, now, whatever CPU the
  // policy names — unless this caller still has earlier packets for the same
  // workstream and protocol queued or running (after a mode change), in which
  // case the packet is queued behind them so that order holds.
  kDirect,
  // kDeferred: always queue to the workstream the policy names; its worker
  // runs the handler later. Decouples ingress from protocol work.
  kDeferred,
  // kHybrid: FreeBSD's default. Run here if the policy names this caller's own
  // workstream, that workstream is not held by a handler run (a queued
  // drain, or a hybrid or adaptive run in place; a kDirect protocol's run
  // does not hold it, as FreeBSD's NETISR_DISPATCH_DIRECT sets neither
  // NWS_RUNNING nor NWS_DISPATCHING), and nothing is queued for the protocol
  // there; otherwise queue.
  kHybrid,
  // kAdaptive: decided per packet from scheduler feedback. A flow bucket
  // (policy kFlow) runs here, directly, while this CPU has capacity; when
  // the CPU saturates (busy fraction over a threshold while it is behind its
  // ingress sources, or queueing delay over a threshold; with hysteresis)
  // buckets move, one per migration interval, to the
  // least-loaded CPU with room (sharing this CPU's cache if possible) and
  // are deferred there; a bucket whose CPU overloads comes back, and so
  // does one whose producer's CPU is light again (busy under busy_low with
  // the bucket's load still under busy_high). A bucket moves only when none
  // of its packets is still queued or running (RFS's rule), so no flow is
  // reordered. After a move, no further bucket goes to the same CPU until
  // its load has shown the move (settle_windows). A worker whose own
  // packets fill another CPU's queue past backpressure_fill (1/2) stops
  // polling its ingress sources until it drains (backpressure rather than
  // tail drop). Packets without a flow bucket (policies kSource and kCpu,
  // or no flowid) are treated as kHybrid.
  kAdaptive,
};

std::string_view ToString(Policy p);
std::string_view ToString(DispatchMode m);
std::optional<Policy> ParsePolicy(std::string_view s);
std::optional<DispatchMode> ParseDispatchMode(std::string_view s);

// A burst handed to a handler. The handler owns the packets: it must Release
// each one or pass it on (e.g. dispatch it to the next protocol).
using Burst = std::span<Packet* const>;
using HandlerFn = std::function<void(Burst)>;
// Sets pkt.flowid/hash_type from the packet's headers; false if it cannot.
using M2FlowFn = std::function<bool(Packet& pkt)>;
// Names the workstream of each packet of a burst for the kCpu policy:
// ws[i] for pkts[i] (the spans have one size), a workstream index, or
// kNoWorkstream (any value outside [0, workstreams), or leaving ws[i]
// unwritten) where none fits; such a packet is dropped under `no_cpu`.
// Asked once per chunk of a dispatched burst (up to 64 packets), not per
// packet: a std::function call returning an optional per packet was half
// the producer's time in the deferred handoff benchmark
// (docs/benchmarks.md, "m2cpuid once a chunk"). Runs in the producer's
// Enter, like m2flow; it must not dispatch.
using M2CpuFn = std::function<void(Burst pkts, uint16_t source, std::span<int> ws)>;
inline constexpr int kNoWorkstream = -1;

// An M2CpuFn from a per-packet rule `int rule(const Packet&, uint16_t
// source)`, inlined into the loop over the burst.
template <typename Rule>
M2CpuFn M2CpuEach(Rule rule) {
  return [rule = std::move(rule)](Burst pkts, uint16_t source, std::span<int> ws) {
    for (size_t i = 0; i < pkts.size(); ++i) ws[i] = rule(*pkts[i], source);
  };
}
// Called on a workstream's worker when its queue for the protocol empties
// (after a drain pass that handled some of it); what it dispatches is woken
// toward its workstream at once. Under the fibers model a handler of the
// protocol may still be waiting then (its burst left the queue): the hook
// means "nothing queued", not "no handler of the protocol in progress".
// It runs after the drained packets count as handled, so what it
// dispatches is outside the adaptive order fence (OrderFence): a flow
// whose packets' output it sends may move before that output is handled.
using DrainedFn = std::function<void(int workstream)>;

struct ProtocolSpec {
  std::string name;   // 1..31 characters, unique
  HandlerFn handler;  // required
  M2FlowFn m2flow;    // optional
  M2CpuFn m2cpuid;    // required iff policy == kCpu
  DrainedFn drained;  // optional
  Policy policy = Policy::kFlow;
  DispatchMode dispatch = DispatchMode::kHybrid;
  // Packets queued per workstream for this protocol; 0 means the settings'
  // default_qlimit. Bound: [1, max_qlimit].
  uint32_t qlimit = 0;
};

}  // namespace netisr
