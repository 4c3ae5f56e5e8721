// The parsers: one function per layer that checks a packet's header against
// its RFC and says where the packet goes next. The protocol handlers
// (stack.h), the fuzzer and the benchmarks all run these same functions.
//
// What is checked, per layer (a failed check drops the packet under the
// ParseDrop named in brackets; parse_drop.h gives the order rule):
//  * Ethernet: at most kMaxFrameLen (65535) bytes, the most Layout's 16-bit
//    offsets describe [frame_too_long]; 14 bytes, then up to kMaxVlanTags 802.1Q (0x8100) or
//    802.1ad (0x88a8) tags [truncated_ether, vlan_too_deep]; IPv4, IPv6 or ARP [unknown_ethertype].
//    802.3 length frames (type < 0x600) are unknown.
//  * ARP (RFC 826): 28 bytes, Ethernet/IPv4, opcode request or reply.
//  * IPv4 as a host receives it (RFC 1122 3.2.1, RFC 1812 5.2.2 for the
//    checks a router shares): version 4; header length >= 20 and within the
//    frame; total length >= header length and <= what the frame holds, the
//    rest being Ethernet padding that is trimmed (pkt.len shrinks, as
//    FreeBSD's ip_input m_adj()s it); options walked (EOL/NOP single bytes,
//    every other option's length >= 2 and within the header); fragments
//    (MF set or offset != 0) dropped as ip_fragment since there is no
//    reassembly yet; header checksum. TTL is not checked: a host accepts
//    TTL 0 (RFC 1122 requires only that it never sends one) and TTL <= 1 is
//    a forwarding rule (RFC 1812 5.3.1), and nothing here forwards.
//  * IPv6 (RFC 8200): version 6; payload length within the frame (trimmed;
//    jumbograms, payload length 0 with a Jumbo option, are not supported and
//    fail as truncated_ip6_ext or a truncated upper layer); extension headers
//    hop-by-hop (first only), routing, fragment and destination options walked
//    with bounds, at most kMaxIp6ExtHeaders of them (a cap against header
//    chains built to burn CPU, as FreeBSD's ip6_hdrnestlimit); fragments
//    (offset != 0 or M set) dropped as ip6_fragment, atomic fragments
//    (RFC 6946: offset 0, M clear) pass.
//  * ICMP / ICMPv6: 8 bytes; echo request/reply with code 0; checksum over
//    the message (ICMPv6 with the pseudo-header, RFC 4443 2.3). Other types
//    are delivered for the sink to judge.
//  * UDP (RFC 768): 8 bytes; length field in [8, IP payload] (a shorter UDP
//    length trims the packet, as FreeBSD's udp_input does); checksum with the
//    pseudo-header; zero means "none" over IPv4 and is an error over IPv6
//    (RFC 8200 8.1).
//  * TCP (RFC 9293): 20 bytes; data offset >= 5 words and within the
//    segment; options walked: EOL ends the list, NOP is one byte, MSS 4,
//    window scale 3, SACK-permitted 2, SACK 2 + 8n (n = 1..4), timestamps
//    10 bytes, any other kind >= 2 bytes and within the header (unknown
//    options must be ignored, RFC 9293 3.1); checksum with the pseudo-header.
//
// Every read is bounds-checked against pkt.len before it is made; the fuzzer
// (fuzz/) runs the whole chain under ASan/UBSan over arbitrary bytes.
#pragma once

#include <cstdint>

#include "netisr/packet.h"
#include "proto/layout.h"
#include "proto/parse_drop.h"

namespace netisr::proto {

// Most IPv6 extension headers walked before giving up (ip6_ext_too_many).
// Real traffic carries 0-2; FreeBSD's net.inet6.ip6.hdrnestlimit defaults to
// 15 but is off (0) by default. 8 covers every legitimate combination RFC
// 8200 4.1 recommends (each header at most once, destination options twice).
inline constexpr int kMaxIp6ExtHeaders = 8;

// What one layer decided about one packet.
struct Step {
  enum class Kind : uint8_t { kNext, kDeliver, kDrop };
  Kind kind = Kind::kDrop;
  Layer next = Layer::kCount;         // kNext: the layer to dispatch to
  ParseDrop why = ParseDrop::kCount;  // kDrop: the failed check
  // Four bytes, not three: GCC 12 returns a 3-byte struct by storing its
  // bytes to the stack and loading them back as one word, which stalls
  // store forwarding (~12 cycles on every parse step: 13% of the router's
  // CPU in a perf profile, docs/router.md); a 4-byte one it builds in a
  // register.
  uint8_t pad = 0;

  static constexpr Step Next(Layer l) { return {Kind::kNext, l, ParseDrop::kCount}; }
  static constexpr Step Deliver() { return {Kind::kDeliver, Layer::kCount, ParseDrop::kCount}; }
  static constexpr Step Drop(ParseDrop r) { return {Kind::kDrop, Layer::kCount, r}; }
};
static_assert(sizeof(Step) == 4, "see pad");

// Each parser reads the fields of `l` the layers below set, checks its own
// header, and on success fills in its fields of `l` (and may trim pkt.len).
// ParseEther starts `l` afresh.
Step ParseEther(Packet& pkt, Layout& l);
Step ParseArp(Packet& pkt, Layout& l);
Step ParseIpv4(Packet& pkt, Layout& l);
Step ParseIpv6(Packet& pkt, Layout& l);
Step ParseIcmp(Packet& pkt, Layout& l);
Step ParseIcmp6(Packet& pkt, Layout& l);
Step ParseUdp(Packet& pkt, Layout& l);
Step ParseTcp(Packet& pkt, Layout& l);
// The parser of `layer`.
Step ParseLayer(Layer layer, Packet& pkt, Layout& l);

// ParseIpv4 / ParseIpv6 split at the IP-layer hook (StackOptions::ip_hook),
// for a chain that forwards: the header checks (IPv4: version, lengths,
// options walk, header checksum; IPv6: version, payload length, extension
// header walk), which every IP packet passes whether it is forwarded or
// delivered, apart from the checks that concern local delivery alone.
// ParseIpv4Header / ParseIpv6Header return Step::Deliver() when the header
// passed (with `l` and pkt.len as ParseIpv4 / ParseIpv6 leave them), or the
// drop. A fragment is not dropped here (a router forwards fragments, RFC
// 1812 5.2.4) but flagged in *fragment; an IPv6 fragment's walk stops at
// its fragment header. An unknown upper protocol is not judged either.
// FinishIpLocal is the rest, for a packet to be delivered here: a fragment
// drops (ip_fragment / ip6_fragment: no reassembly yet), else the upper
// layer, or unknown_ip_protocol. Header then FinishIpLocal gives what
// ParseIpv4 / ParseIpv6 give, except that an IPv4 fragment with a bad
// header checksum drops as bad_ip_checksum rather than ip_fragment (the
// checksum is checked before the hook sees the fragment).
Step ParseIpv4Header(Packet& pkt, Layout& l, bool* fragment);
Step ParseIpv6Header(Packet& pkt, Layout& l, bool* fragment);
Step FinishIpLocal(const Layout& l, bool fragment);
// The common case of ParseEther then ParseIpv4Header in one pass: an
// untagged frame with an IPv4 header without options. If the frame is one
// and passes every check the two make, returns true with `l`, pkt.len and
// *fragment as they would leave them (delivered at the IP layer); otherwise
// false with pkt, `l` and *fragment untouched, for the layered parsers to
// decide. As ParseFastPath for the chain without a hook.
bool ParseIpv4HeaderFast(Packet& pkt, Layout& l, bool* fragment);

// The common case of ParseEther, ParseIpv4 and ParseTcp/ParseUdp in one
// pass, with no layer hand-off in between: an untagged frame carrying an
// IPv4 header without options, not a fragment, and a TCP or UDP segment.
// If the frame is one and passes every check those parsers make, returns
// true with `l`, pkt.len and *terminal (kTcp or kUdp) as the three parsers
// would leave them. Otherwise returns false with pkt and `l` untouched, and
// the layered parsers decide (the drop reason included): anything unusual,
// or failed, takes the general path, so the fast path needs no drop
// reasons of its own. Checksums the NIC reported good
// (Packet::rx_csum_good) are not recomputed, here or in the layered
// parsers (ParseIpv4, ParseTcp, ParseUdp); everything else is verified.
bool ParseFastPath(Packet& pkt, Layout& l, Layer* terminal);

// The Ethernet layer of a chain that finishes IPv4 in place: ParseFastPath,
// else ParseEther and, for an IPv4 frame, ParseIpv4 and its upper layer's
// parser. For every IPv4 frame the result is the final one (delivered at,
// or dropped by, `layer`); for other frames ParseEther's step, with layer
// kEther. ProtocolStack's Ethernet handler with StackOptions::fused_ipv4.
struct ChainResult;
ChainResult ParseEtherFused(Packet& pkt, Layout& l);

// The whole chain on one frame, without netisr: Ethernet up to the terminal
// layer. Stores the Layout in pkt.meta. `layer` is the layer that delivered
// or dropped the packet.
struct ChainResult {
  Step step;
  Layer layer = Layer::kEther;
};
ChainResult ParseFrame(Packet& pkt);
// ParseFrame through ParseEtherFused: the same result, Layout and pkt.len
// (tests/proto/fast_path_test checks that on crafted and random frames).
ChainResult ParseFrameFast(Packet& pkt);

}  // namespace netisr::proto
