// ProtocolStack: Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP and ICMPv6
// registered with netisr as eight protocols, each handler checking its layer
// (parse.h) and dispatching the survivors to the next, with early drop: a
// packet is released, under its ParseDrop, at the first check it fails, so
// no later layer (nor a queue) spends anything on it.
//
// Chain and policies (FreeBSD's netisr registrations):
//   NIC -> ether (policy source: per-interface order, like ether_input)
//          ether -> ip | ip6 | arp        arp: policy source, terminal
//          ip, ip6 (policy flow) -> tcp | udp | icmp | icmp6 (policy flow)
//   terminal layers -> StackOptions::deliver(layer, burst)
// The flow layers' m2flow hashes the 4- or 2-tuple (flow_hash.h) when the
// packet has no flowid yet; ip computes it once and the upper layers keep it,
// so a flow stays on one workstream from IP up.
//
// IPv4 in one hop (StackOptions::fused_ipv4, the default): the Ethernet
// handler runs the IPv4 chain in place (parse.h's ParseEtherFused: the
// common Ethernet + IPv4 + TCP/UDP case in one pass, the layered parsers
// for anything else), drops what fails under the very reason the layered
// chain gives, and dispatches what passes straight to its terminal layer
// (tcp, udp, icmp: policy flow, the same flowid as ip would compute, so the
// same workstream), whose handler delivers it without parsing again
// (Layout::checked_l4). One netisr hop per IPv4 packet instead of two.
// Every IPv4 frame takes that route, fast or not, so the packets of one
// flow never split between ether -> tcp and ether -> ip -> tcp, which
// could reorder them in queued modes. IPv6 and ARP keep their layers; ip
// still serves ports whose packets start at IP (nic::LinkType::kIp).
//   ether (fused) -> tcp | udp | icmp (checked)  | ip6 | arp
// The trade-off: ether is policy source, so the IPv4 checks, checksums
// included, run on the RX queue's workstream rather than spread over the
// flows' workstreams. With fewer RX queues than workstreams and large
// frames that serialises the costliest per-packet work (a 1,500-byte TCP
// segment is ~190 64-bit adds to checksum) on one CPU; such a setup turns
// fused_ipv4 off (or the NIC verifies checksums: Packet::rx_csum_good).
//
// Bundled processing (J. Brouer et al., "Network stack challenges at
// increasing speeds", Netdev 1.1 BoF, 2016; VPP's vector processing): a
// handler takes a burst and runs it stage by stage, so each stage's code
// and tables stay in the i-cache across the burst instead of being evicted
// by the next layer's code for every packet:
//   1. validate: the layer's parser over every packet, prefetching the next
//      packet's descriptor and headers while checking this one;
//   2. classify: drops released and counted, survivors sorted (stably, so
//      flows keep their order) by next layer;
//   3. dispatch: one netisr DispatchBurst per (next layer, run of equal
//      ingress source), or one deliver() call per terminal layer.
// A terminal layer's stage whose packets the fused Ethernet layer all
// checked skips the three: its marks cleared, it is delivered whole
// (callgrind figures in docs/benchmarks.md, "Fast path, third pass").
// Bursts longer than StackOptions::stage_burst are cut into stages of that
// size; stage_burst = 1 runs the same code one packet at a time, which is
// what benchmarks/proto compares against (figures there).
//
// IP-layer hook (StackOptions::ip_hook; absent, the chain is exactly the
// host stack above): the place a router takes its transit traffic. Every
// IPv4 and IPv6 packet whose IP header passed the IP layer's checks
// (parse.h's ParseIpv4Header / ParseIpv6Header: no fragment check, no
// upper-layer check, no TTL check) is offered to the hook, a stage at a
// time, BEFORE any L4 check; the hook says per packet local (the chain goes
// on exactly as without a hook: fragment drop, upper layer, L4 checks,
// deliver), taken (the hook owns it), or dropped (the stack releases it and
// counts it under the reason the hook named, StackOptions::ip_hook_drops). So transit traffic is
// never L4 checked and a transit fragment is forwarded (RFC 1812 5.2.4), while local traffic is
// judged with the very reasons it gets without a hook. Where it runs: with fused_ipv4, IPv4 in the
// Ethernet handler (the RX queue's workstream; the hook replaces the one-pass ParseFastPath by
// ParseEther + ParseIpv4Header, then the L4 parser for local packets only), IPv6 in the ip6
// handler; without fused_ipv4, in the ip and ip6 handlers. The trade-off: with a hook, local IPv4
// traffic pays the layered parsers instead of the fused fast path (~ the ip layer's checks again,
// no extra netisr hop).
//
// Threading: handlers run on whichever thread netisr runs them; the stack's
// only mutable state is the drop counters (drop_counters.h). deliver() is
// called concurrently from several workers under the threads model.
// Lifetime: netisr has no unregistration, so the handlers hold the stack's
// state through a shared_ptr; it stays valid as long as the Netisr.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "netisr/netisr.h"
#include "proto/drop_counters.h"
#include "proto/layout.h"
#include "proto/parse.h"

namespace netisr::proto {

// Receives packets that passed every check of their chain; owns them (must
// Release each). `layer` is the terminal layer: kArp, kTcp, kUdp, kIcmp or
// kIcmp6. The packet's Layout (meta) says where each header starts.
using DeliverFn = std::function<void(Layer layer, Burst burst)>;

// What the IP-layer hook decided about one packet.
enum class IpVerdict : uint8_t {
  kLocal = 0,  // the chain goes on (the stack's default for every packet)
  kTaken = 1,  // the hook owns the packet: it forwarded, queued or released
               // it, counting any drop under its own reason
  // The stack drops it (releases it and counts it) under the hook's reason
  // StackOptions::ip_hook_drops[r] for IpDrop(r); kDrop itself is r = 0.
  kDrop = 2,
};
// The verdict "drop under the hook's reason r" (r < kMaxIpHookDrops). A
// reason past those registered counts as kIpHookUnnamedDrop, not lost.
constexpr IpVerdict IpDrop(size_t r) {
  return static_cast<IpVerdict>(static_cast<size_t>(IpVerdict::kDrop) +
                                (r < kMaxIpHookDrops ? r : kMaxIpHookDrops));
}

// The IP-layer hook: `l3` is kIp or kIp6 (one family per call); pkts is a
// stage (at most kMaxStageBurst) of packets whose IP header passed, each
// with its Layout in meta (l3_off, l4_off, l4_len, ip_proto, ethertype,
// VLAN tags; payload_off and checked_l4 not set) and pkt.len trimmed to the
// IP length. verdicts[i] (kLocal on entry) is the hook's answer for
// pkts[i]. A local packet must be left as it came (bytes, len, meta). Runs
// on a worker, concurrently on several under the threads model; one call per
// stage, not per packet.
using IpHookFn = std::function<void(Layer l3, std::span<Packet* const> pkts, IpVerdict* verdicts)>;

// Largest stage the handlers work on at once (their staging arrays live on
// the stack: 64 x 16 B, small enough for fibers' stacks).
inline constexpr uint32_t kMaxStageBurst = 64;

struct StackOptions {
  DeliverFn deliver;  // required
  // Dispatch mode of every layer (the netisr override still wins), but for
  // the Ethernet layer under kHybrid: it registers kDirect, as FreeBSD's
  // ether_nh (NETISR_DISPATCH_DIRECT), so that its dispatches to the layers
  // above meet the hybrid rule on a workstream it does not hold and run in
  // place, as ether_input's to IP do (Workstream::dispatching). Before, it
  // ran hybrid and every TCP hop was queued to its own CPU. So frames an
  // external thread dispatches run the Ethernet layer (its fused parse and
  // ip_hook) on that thread, as FreeBSD's ether_input does in the caller's
  // context. Not under the fibers model, whose handlers may wait where a
  // run in place (inside Enter, NoWaitScope) may not: there the Ethernet
  // layer stays hybrid and its hops run in drain fibers.
  DispatchMode dispatch = DispatchMode::kHybrid;
  // Packets per stage, [1, kMaxStageBurst]. 32 matches netisr's burst.
  uint32_t stage_burst = 32;
  // Queue limit of every layer; 0 = the netisr settings' default.
  uint32_t qlimit = 0;
  // The Ethernet layer finishes IPv4 in place (ParseEtherFused: the
  // common Ethernet + IPv4 + TCP/UDP case in one pass, the layered parsers
  // otherwise) and dispatches each IPv4 packet straight to its terminal
  // layer, which delivers it without parsing again; see the chain above.
  // false: every layer is its own netisr hop for every packet.
  bool fused_ipv4 = true;
  // Optional IP-layer hook (see the design note); empty: none.
  IpHookFn ip_hook;
  // The hook's drop reasons, as printed with the stack's own (DropSnapshot):
  // IpDrop(r) counts under ip_hook_drops[r]. At most kMaxIpHookDrops, each
  // a nonempty name used once and not one of the parse reasons.
  std::vector<std::string> ip_hook_drops;
};

class ProtocolStack {
 public:
  // Registers the eight protocols (terminal ones first, so that every
  // registered handler only ever dispatches to registered protocols, even if
  // a later registration fails). Errors: missing deliver, stage_burst out of
  // range, or netisr's (duplicate name, no free protocol slot: 8 needed).
  static Result<std::unique_ptr<ProtocolStack>> Register(Netisr& nisr, StackOptions options);
  ~ProtocolStack();

  // The netisr protocol of a layer; ingress dispatches frames to ether().
  ProtocolId id(Layer layer) const;
  ProtocolId ether() const { return id(Layer::kEther); }

  const DropCounters& drops() const;
  // Reason name -> count, zeroes omitted; exact after Netisr::Stop().
  std::map<std::string, uint64_t> DropSnapshot() const { return drops().Snapshot(); }

  struct Core;  // the handlers' shared state (stack.cc)

 private:
  explicit ProtocolStack(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace netisr::proto
