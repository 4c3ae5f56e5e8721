// ParseDrop: why the protocol layers dropped a packet, one name per check.
//
// A closed set, like netisr's own reasons (netisr/stats.h), so that every
// drop is attributable to exactly one failed check and the counters can be
// fixed-size arrays. The names are the ones printed in statistics and JSON;
// they follow the layer that made the check (FreeBSD's ipstat/udpstat/
// tcpstat fields, e.g. ips_badsum -> bad_ip_checksum).
//
// When a packet breaks several rules, it is counted under the first check its
// layer makes; each layer checks bounds first, then field values, and the
// checksum last (the only check that reads every byte), so a malformed packet
// is rejected as cheaply as possible.
#pragma once

#include <cstdint>
#include <string_view>

namespace netisr::proto {

// X-macro: (enumerator, printed name). One list, so the enum and its names
// cannot drift apart.
#define NETISR_PROTO_PARSE_DROPS(X)                                           \
  X(kFrameTooLong, "frame_too_long")        /* > kMaxFrameLen (layout.h) */   \
  X(kTruncatedEther, "truncated_ether")     /* < 14 B, or a cut VLAN tag */   \
  X(kVlanTooDeep, "vlan_too_deep")          /* more than kMaxVlanTags tags */ \
  X(kUnknownEthertype, "unknown_ethertype") /* not IPv4, IPv6 or ARP */       \
  X(kTruncatedArp, "truncated_arp")                                           \
  X(kBadArp, "bad_arp")           /* not Ethernet/IPv4 ARP, or op not 1/2 */  \
  X(kTruncatedIp, "truncated_ip") /* < 20 B of IPv4 header */                 \
  X(kBadIpVersion, "bad_ip_version")                                          \
  X(kBadIpHeaderLength, "bad_ip_header_length")                               \
  X(kBadIpTotalLength, "bad_ip_total_length")                                 \
  X(kBadIpOptions, "bad_ip_options")                                          \
  X(kIpFragment, "ip_fragment") /* no reassembly yet */                       \
  X(kBadIpChecksum, "bad_ip_checksum")                                        \
  X(kTruncatedIp6, "truncated_ip6")                                           \
  X(kBadIp6Version, "bad_ip6_version")                                        \
  X(kBadIp6PayloadLength, "bad_ip6_payload_length")                           \
  X(kIp6ExtTooMany, "ip6_ext_too_many")                                       \
  X(kTruncatedIp6Ext, "truncated_ip6_ext")                                    \
  X(kBadIp6ExtOrder, "bad_ip6_ext_order") /* hop-by-hop not first */          \
  X(kIp6Fragment, "ip6_fragment")         /* no reassembly yet */             \
  X(kUnknownIpProtocol, "unknown_ip_protocol")                                \
  X(kTruncatedIcmp, "truncated_icmp")                                         \
  X(kBadIcmpCode, "bad_icmp_code")                                            \
  X(kBadIcmpChecksum, "bad_icmp_checksum")                                    \
  X(kTruncatedIcmp6, "truncated_icmp6")                                       \
  X(kBadIcmp6Code, "bad_icmp6_code")                                          \
  X(kBadIcmp6Checksum, "bad_icmp6_checksum")                                  \
  X(kTruncatedUdp, "truncated_udp")                                           \
  X(kBadUdpLength, "bad_udp_length")                                          \
  X(kBadUdpChecksum, "bad_udp_checksum")                                      \
  X(kTruncatedTcp, "truncated_tcp")                                           \
  X(kBadTcpOffset, "bad_tcp_offset")                                          \
  X(kBadTcpOptions, "bad_tcp_options")                                        \
  X(kBadTcpChecksum, "bad_tcp_checksum")

enum class ParseDrop : uint8_t {
#define NETISR_PROTO_ENUMERATOR(e, name) e,
  NETISR_PROTO_PARSE_DROPS(NETISR_PROTO_ENUMERATOR)
#undef NETISR_PROTO_ENUMERATOR
      kCount,
};

inline constexpr size_t kNumParseDrops = static_cast<size_t>(ParseDrop::kCount);

// The printed name ("bad_ip_checksum"); "unknown" for kCount.
std::string_view ToString(ParseDrop r);

}  // namespace netisr::proto
