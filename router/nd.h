// Neighbour discovery frames: what the router sends and answers to learn
// and give out link-layer addresses. ARP for IPv4 (RFC 826), NDP for IPv6
// (RFC 4861), and the ICMPv6 echo reply for the router's own addresses.
//
// What it guarantees:
//  * Parsing (ParseNd) checks an NS or NA as RFC 4861 7.1.1 / 7.1.2 say a
//    node must before acting on it (hop limit 255 so that it came from the
//    link, code 0, at least 24 bytes, target not multicast, every option
//    length non-zero and within the message, the DAD and solicited-flag
//    rules), each failure a FrameDrop nd_* reason; the ICMPv6 checksum is
//    the parse chain's (ParseIcmp6 verifies it for every type).
//    Link-layer address options must be Ethernet's (length 1, RFC 2464 6),
//    as Linux's ndisc_opt_addr_data requires; else nd_bad_option.
//  * What the neighbour table learns: LearnFrom (NS: source -> source LL
//    option; NA: target -> target LL option); for ARP, proto::ArpSenderOf
//    (proto/responder.h) already gives sender IP -> MAC.
//  * Answers and requests that change size (NA, NS, ARP request) are new
//    frames from the caller's FrameAllocator; the echo reply is made in
//    place, as proto::MakeIcmpEchoReply does for IPv4. ARP replies:
//    proto::MakeArpReply.
// Not here: router advertisements and solicitations (the router does not
// advertise prefixes; hosts are configured statically), redirects, DAD of
// the router's own addresses, the neighbour state machine (the table's).
#pragma once

#include <cstdint>
#include <optional>

#include "netisr/packet.h"
#include "proto/layout.h"
#include "proto/responder.h"
#include "router/forward.h"

namespace netisr::router {

// Shortest frame the ARP request is padded to (802.3 minimum without FCS),
// so that no driver pads it with whatever the buffer held.
inline constexpr uint32_t kMinFrameLen = 60;
// Hop limit of every NDP message (RFC 4861 7.1: receivers drop others).
inline constexpr uint8_t kNdHopLimit = 255;

// ARP "who has `target_ip`? tell `our_ip`" to the Ethernet broadcast address
// (RFC 826), 60 bytes; nullptr if the allocator has none or its frames hold
// fewer than 60 bytes.
Packet* MakeArpRequest(const FrameAllocator& alloc, uint32_t our_ip, const MacAddr& our_mac,
                       uint32_t target_ip);

// An ICMPv6 echo request to `our_ip` becomes the echo reply in place
// (addresses and MACs swapped, hop limit 64, checksum updated by RFC 1624:
// the swap leaves the pseudo-header sum unchanged). The frame passed the
// parse chain up to ICMPv6.
proto::Reply MakeIcmp6EchoReply(Packet& pkt, const proto::Layout& l, const Ip6Addr& our_ip);

enum class NdKind : uint8_t { kNotNd, kSolicit, kAdvert };
// From the ICMPv6 type (135 NS, 136 NA) of a frame that passed ParseIcmp6.
NdKind NdKindOf(const Packet& pkt, const proto::Layout& l);

struct NdMessage {
  NdKind kind = NdKind::kNotNd;
  Ip6Addr src{}, dst{};  // IPv6 source and destination
  Ip6Addr target{};
  MacAddr eth_src{};    // the frame's Ethernet source
  bool has_ll = false;  // NS: source LL option; NA: target LL option
  MacAddr ll{};
  // NA flags (RFC 4861 4.4); false for an NS.
  bool router = false, solicited = false, override_flag = false;
};

// Checks an NS or NA (NdKindOf != kNotNd) and fills *out. Returns
// FrameDrop::kCount when valid, else the nd_* reason (kNotIp for an IPv6
// frame that is not an NS/NA).
FrameDrop ParseNd(const Packet& pkt, const proto::Layout& l, NdMessage* out);

// An address -> MAC binding for the neighbour table.
struct Neighbour6 {
  Ip6Addr ip{};
  MacAddr mac{};
};
// What a valid NS/NA teaches (RFC 4861 7.2.3 and 7.2.5): false when nothing
// (an NS from :: during DAD, a message without the LL option).
bool LearnFrom(const NdMessage& m, Neighbour6* out);

// The NA answering `ns` (a valid NS whose target is ours, the caller
// checks): flags router, solicited, override; target LL option = our_mac;
// source = the target; to the solicitor (its LL option, else the frame's
// Ethernet source), or, for an NS from :: (DAD), to all-nodes ff02::1 with
// solicited clear (RFC 4861 7.2.4). nullptr if the allocator has none.
Packet* MakeNeighborAdvert(const FrameAllocator& alloc, const NdMessage& ns,
                           const MacAddr& our_mac);

// The NS resolving `target` (RFC 4861 7.2.2): from `our_ip` with our_mac as
// source LL option, to target's solicited-node multicast address and its
// multicast MAC; or, with `unicast_to` (reachability probe of a known
// neighbour, RFC 4861 7.3.3), to `target` itself at that MAC. nullptr if
// the allocator has none.
Packet* MakeNeighborSolicit(const FrameAllocator& alloc, const Ip6Addr& our_ip,
                            const MacAddr& our_mac, const Ip6Addr& target,
                            const std::optional<MacAddr>& unicast_to = std::nullopt);

// ff02::1:ffXX:XXXX, the low 24 bits of `addr` (RFC 4291 2.7.1).
Ip6Addr SolicitedNode(const Ip6Addr& addr);
// 33:33 and the low 32 bits of a multicast address (RFC 2464 7).
MacAddr MulticastMac(const Ip6Addr& group);

}  // namespace netisr::router
