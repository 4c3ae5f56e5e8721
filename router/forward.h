// Forwarding a frame: the per-packet rewrite of a router, as pure functions
// on a frame the parse chain accepted (its proto::Layout at hand).
//
// What it guarantees:
//  * A frame Forward() accepts leaves with its TTL (IPv4) or hop limit
//    (IPv6) one lower and new Ethernet addresses; the IPv4 header checksum is
//    updated incrementally (RFC 1624 eqn. 3, base::UpdateChecksum) over the
//    one 16-bit word (TTL, protocol) that changed, so the cost does not grow
//    with IP options and a header that was correct stays correct (tests
//    compare with a full recompute, across every TTL value).
//  * Every frame it does not forward gets a verdict and a named reason
//    (FrameDrop), for the caller to count; nothing is dropped silently.
//  * No allocation, no syscall, no shared state: the functions read and write
//    only the frame, so any worker runs them on its own packets.
//
// Order on the router's path, after Linux's (ip_route_input_slow, then
// ip_forward, then the neighbour layer):
//   0. Frames for the router itself first (the caller's: ARP, NDP to our
//      solicited-node group, echo requests to our addresses; nd.h), since
//      CheckIngress drops every multicast destination.
//   1. CheckIngress: VLAN tags, martian sources and destinations (before the
//      route lookup: a default route would otherwise match 127.0.0.1).
//   2. Route lookup (the route table, not here): no route -> ICMP destination
//      unreachable, net (icmp_error.h), counted as no_route by the caller.
//   3. Forward(src, dst MAC of the next hop): TTL / hop limit <= 1 ->
//      kTimeExceeded, the frame untouched so that the ICMP error quotes it
//      as received; else the rewrite. A frame that must wait for neighbour
//      resolution: CheckTtl() first (Linux checks the TTL before the
//      neighbour layer, so an expiring frame is answered at once, not
//      queued), then queued as received, and Forward() once the MAC is
//      known.
//
// VLAN tags: the router's ports are untagged, so a tagged frame is dropped as
// vlan_tagged, not stripped and forwarded. Why: a tag says the frame belongs
// to another L2 segment than the untagged one the port is configured for;
// forwarding it would route between segments the configuration does not
// know (Linux likewise drops a tagged frame on a port with no VLAN device
// for its tag: it never reaches ip_rcv as PACKET_HOST). Dropping also keeps
// the rewrite in place (stripping moves the MAC addresses by 4 bytes per
// tag).
//
// Special addresses a router must not forward (RFC 1812 5.3.7, RFC 3927 7,
// RFC 4291 2.5.2-2.5.6 and 2.7):
//   destination IPv4: 0/8 (dst_unspecified), 127/8 (dst_loopback), 224/4
//     (dst_multicast), 255.255.255.255 (dst_broadcast), 169.254/16
//     (dst_link_local); IPv6: :: (dst_unspecified), ::1 (dst_loopback),
//     ff00::/8 (dst_multicast), fe80::/10 (dst_link_local).
//   source (src_invalid, one reason): IPv4 0/8, 127/8, 224/4,
//     255.255.255.255, 169.254/16; IPv6 ::, ::1, ff00::/8, fe80::/10.
//   240/4 (class E, "reserved") is forwarded, as Linux does since 2.6.25:
//   whether it is usable is a routing decision, not a martian rule. A
//   subnet-directed broadcast (RFC 1812 5.3.5) is a route-table question
//   (the port's prefix), not decidable from the frame: not checked here.
//
// Burst variant: none. The per-packet work here is a handful of loads and
// stores in the first cache line of a header the parser just read; what a
// burst amortises on a router is the route lookup (rte_lpm_lookup_bulk, the
// route table) and the transmit (the pipeline's TX batching). A loop over a
// span here would only move the caller's loop inside.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/checksum.h"
#include "base/wire.h"
#include "netisr/packet.h"
#include "proto/layout.h"
#include "proto/responder.h"
#include "proto/wire.h"

namespace netisr::router {

using proto::MacAddr;
using Ip6Addr = std::array<uint8_t, 16>;  // network order (ROUTER.md's convention)

// X-macro: (enumerator, printed name). Why router/'s frame functions did not
// forward or answer a frame; the caller counts each under its name.
#define NETISR_ROUTER_FRAME_DROPS(X)                                                          \
  X(kNotIp, "not_ip")                        /* Forward/CheckIngress on a non-IP frame */     \
  X(kVlanTagged, "vlan_tagged")              /* ports are untagged; see above */              \
  X(kDstUnspecified, "dst_unspecified")      /* 0/8, :: */                                    \
  X(kDstLoopback, "dst_loopback")            /* 127/8, ::1 */                                 \
  X(kDstMulticast, "dst_multicast")          /* 224/4, ff00::/8 */                            \
  X(kDstBroadcast, "dst_broadcast")          /* 255.255.255.255 */                            \
  X(kDstLinkLocal, "dst_link_local")         /* 169.254/16, fe80::/10 */                      \
  X(kSrcInvalid, "src_invalid")              /* a source that names no single host */         \
  X(kTtlExceeded, "ttl_exceeded")            /* IPv4 TTL <= 1 on arrival */                   \
  X(kHopLimitExceeded, "hop_limit_exceeded") /* IPv6 hop limit <= 1 on arrival */             \
  X(kNdTruncated, "nd_truncated")            /* NS/NA shorter than 24 bytes */                \
  X(kNdBadHopLimit, "nd_bad_hop_limit")      /* not 255: sent from off-link (RFC 4861 7.1) */ \
  X(kNdBadCode, "nd_bad_code")                                                                \
  X(kNdTargetMulticast, "nd_target_multicast")                                                \
  X(kNdBadOption, "nd_bad_option") /* length 0, past the end, or a bad LL address option */   \
  X(kNdBadDad, "nd_bad_dad")       /* NS from :: not to solicited-node, or with an SLLA */    \
  X(kNdSolicitedMulticast, "nd_solicited_multicast") /* NA to multicast with S set */

enum class FrameDrop : uint8_t {
#define NETISR_ROUTER_ENUMERATOR(e, name) e,
  NETISR_ROUTER_FRAME_DROPS(NETISR_ROUTER_ENUMERATOR)
#undef NETISR_ROUTER_ENUMERATOR
      kCount,
};
inline constexpr size_t kNumFrameDrops = static_cast<size_t>(FrameDrop::kCount);
// The printed name ("ttl_exceeded"); "unknown" for kCount.
std::string_view ToString(FrameDrop r);

enum class Verdict : uint8_t {
  kForward,       // go on (CheckIngress, CheckTtl) / rewritten, send it (Forward)
  kTimeExceeded,  // TTL / hop limit expired: answer with MakeTimeExceeded, count
                  // `why` (ttl_exceeded or hop_limit_exceeded), release the frame
  kDrop,          // count `why`, release the frame
};
struct Check {
  Verdict verdict = Verdict::kDrop;
  FrameDrop why = FrameDrop::kCount;  // kCount when kForward

  static constexpr Check Pass() { return {Verdict::kForward, FrameDrop::kCount}; }
  static constexpr Check Drop(FrameDrop r) { return {Verdict::kDrop, r}; }
  bool operator==(const Check&) const = default;
};

// What an address is, for the forwarding and ICMP-error rules.
enum class AddrKind : uint8_t {
  kUnicast,
  kUnspecified,  // 0/8 (RFC 1122 3.2.1.3 "this network"), ::
  kLoopback,     // 127/8, ::1
  kMulticast,    // 224/4, ff00::/8
  kBroadcast,    // 255.255.255.255 (IPv4 only)
  kLinkLocal,    // 169.254/16, fe80::/10
};
// Host order. Inline, as CheckIngress below: both run on every packet.
inline AddrKind KindOf4(uint32_t a) {
  if (a == 0xffffffffu) return AddrKind::kBroadcast;
  switch (a >> 24) {
    case 0:
      return AddrKind::kUnspecified;
    case 127:
      return AddrKind::kLoopback;
  }
  if ((a >> 28) == 0xe) return AddrKind::kMulticast;
  if ((a >> 16) == 0xa9fe) return AddrKind::kLinkLocal;
  return AddrKind::kUnicast;
}
AddrKind KindOf6(const uint8_t* addr);
inline AddrKind KindOf6(const Ip6Addr& addr) { return KindOf6(addr.data()); }

// kForward if the TTL / hop limit allows one more hop, else kTimeExceeded
// (RFC 1812 5.3.1: a router receiving TTL 0 or 1 must not forward; RFC 8200
// 3: hop limit 0 or 1 likewise). Reads only; kDrop(not_ip) for other frames.
inline bool IsIpv4(const proto::Layout& l) { return l.ethertype == proto::wire::kEtherTypeIpv4; }
inline bool IsIpv6(const proto::Layout& l) { return l.ethertype == proto::wire::kEtherTypeIpv6; }

namespace internal {
FrameDrop DstDrop(AddrKind k);  // the drop reason for a destination not unicast
}  // namespace internal

// Step 1. `l` from the parse chain (l3_off, ethertype, vlan_count; the IP
// header passed ParseIpv4 / ParseIpv6). kForward or kDrop. Inline: out of
// line its call was ~1.7% of the router's CPU.
inline Check CheckIngress(const Packet& pkt, const proto::Layout& l) {
  namespace wire = proto::wire;
  if (l.vlan_count != 0) return Check::Drop(FrameDrop::kVlanTagged);
  const uint8_t* ip = pkt.data + l.l3_off;
  AddrKind dst, src;
  if (IsIpv4(l)) {
    dst = KindOf4(base::Load32(ip + wire::kIpv4DstOffset));
    src = KindOf4(base::Load32(ip + wire::kIpv4SrcOffset));
  } else if (IsIpv6(l)) {
    dst = KindOf6(ip + wire::kIpv6DstOffset);
    src = KindOf6(ip + wire::kIpv6SrcOffset);
  } else {
    return Check::Drop(FrameDrop::kNotIp);
  }
  if (dst != AddrKind::kUnicast) return Check::Drop(internal::DstDrop(dst));
  if (src != AddrKind::kUnicast) return Check::Drop(FrameDrop::kSrcInvalid);
  return Check::Pass();
}

// Inline, as Rewrite and WriteMacs below: the route pass runs them on every
// packet (out of line, their calls were ~7% of the router's CPU).
inline Check CheckTtl(const Packet& pkt, const proto::Layout& l) {
  const uint8_t* ip = pkt.data + l.l3_off;
  if (IsIpv4(l)) {
    if (ip[proto::wire::kIpv4TtlOffset] <= 1) {
      return {Verdict::kTimeExceeded, FrameDrop::kTtlExceeded};
    }
  } else if (IsIpv6(l)) {
    if (ip[proto::wire::kIpv6HopLimitOffset] <= 1) {
      return {Verdict::kTimeExceeded, FrameDrop::kHopLimitExceeded};
    }
  } else {
    return Check::Drop(FrameDrop::kNotIp);
  }
  return Check::Pass();
}

// Step 3: CheckTtl, then (on kForward only) the rewrite: TTL / hop limit
// minus one, IPv4 header checksum by RFC 1624, Ethernet source `src` (the
// egress port's MAC) and destination `dst` (the next hop's). On anything
// but kForward the frame is left exactly as received.
Check Forward(Packet& pkt, const proto::Layout& l, const MacAddr& src, const MacAddr& dst);

// Forward's rewrite alone, for a frame CheckTtl passed a moment ago on this
// worker (the router's route pass checks before its neighbour step);
// kForward's effects, no check.
inline void Rewrite(Packet& pkt, const proto::Layout& l, const MacAddr& src, const MacAddr& dst);

// The Ethernet addresses alone (an ICMP error the caller routes elsewhere
// than back to the previous hop, a queued frame's MACs).
inline void WriteMacs(Packet& pkt, const MacAddr& src, const MacAddr& dst) {
  std::memcpy(pkt.data, dst.data(), 6);
  std::memcpy(pkt.data + 6, src.data(), 6);
}

inline void Rewrite(Packet& pkt, const proto::Layout& l, const MacAddr& src, const MacAddr& dst) {
  namespace wire = proto::wire;
  uint8_t* ip = pkt.data + l.l3_off;
  if (IsIpv4(l)) {
    // TTL and protocol share one 16-bit word of the checksummed header
    // (RFC 1624 section 4's example is this very update).
    uint8_t* word = ip + wire::kIpv4TtlOffset;
    const uint16_t old_word = base::Load16(word);
    --word[0];
    base::Store16(ip + wire::kIpv4ChecksumOffset,
                  base::UpdateChecksum(base::Load16(ip + wire::kIpv4ChecksumOffset), old_word,
                                       base::Load16(word)));
  } else {
    --ip[wire::kIpv6HopLimitOffset];  // no header checksum in IPv6 (RFC 8200 3)
  }
  WriteMacs(pkt, src, dst);
}

// Where router/ gets a frame it builds (ICMP errors, NA, NS, ARP requests):
// the caller's allocator, e.g. the egress DPDK port's mempool, so that the
// frame is freed the ordinary way after transmit. `alloc` returns a fresh
// packet whose `data` points at `capacity` writable bytes (len is set by the
// builder), or nullptr when none is free. No other allocation happens.
struct FrameAllocator {
  Packet* (*alloc)(void* ctx) = nullptr;
  void* ctx = nullptr;
  uint32_t capacity = 0;  // bytes every allocated frame can hold
};
// An allocator over a PacketPool (capacity = its buf_size).
FrameAllocator PoolAllocator(PacketPool& pool);

}  // namespace netisr::router
