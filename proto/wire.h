// Wire formats: header sizes, field offsets and protocol numbers of the
// headers proto parses, read and written with base/wire.h's big-endian
// accessors at these offsets. Numbers from IEEE 802.3 /
// 802.1Q, RFC 826 (ARP), RFC 791 (IPv4), RFC 8200 (IPv6), RFC 792/4443
// (ICMP/ICMPv6), RFC 768 (UDP), RFC 9293 (TCP) and IANA's registries.
#pragma once

#include <cstdint>

namespace netisr::proto::wire {

// Ethernet II and 802.1Q/802.1ad tags.
inline constexpr uint32_t kEtherHeaderLen = 14;  // dst 6, src 6, type 2
inline constexpr uint32_t kEtherTypeOffset = 12;
inline constexpr uint32_t kVlanTagLen = 4;  // TCI 2, inner type 2
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

// ARP for IPv4 over Ethernet (RFC 826).
inline constexpr uint32_t kArpLen = 28;
inline constexpr uint16_t kArpHwEther = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

// IPv4 (RFC 791).
inline constexpr uint32_t kIpv4MinHeaderLen = 20;
inline constexpr uint32_t kIpv4TotalLenOffset = 2;
inline constexpr uint32_t kIpv4FragOffset = 6;  // flags 3 bits, offset 13 bits
inline constexpr uint16_t kIpv4FlagMf = 0x2000;
inline constexpr uint16_t kIpv4FragMask = 0x1fff;
inline constexpr uint32_t kIpv4TtlOffset = 8;
inline constexpr uint32_t kIpv4ProtoOffset = 9;
inline constexpr uint32_t kIpv4ChecksumOffset = 10;
inline constexpr uint32_t kIpv4SrcOffset = 12;
inline constexpr uint32_t kIpv4DstOffset = 16;
inline constexpr uint8_t kIpOptEol = 0;
inline constexpr uint8_t kIpOptNop = 1;

// IPv6 (RFC 8200).
inline constexpr uint32_t kIpv6HeaderLen = 40;
inline constexpr uint32_t kIpv6PayloadLenOffset = 4;
inline constexpr uint32_t kIpv6NextHeaderOffset = 6;
inline constexpr uint32_t kIpv6HopLimitOffset = 7;
inline constexpr uint32_t kIpv6SrcOffset = 8;
inline constexpr uint32_t kIpv6DstOffset = 24;
inline constexpr uint32_t kIpv6FragHeaderLen = 8;
inline constexpr uint16_t kIpv6FragOffsetMask = 0xfff8;  // in bytes 2-3
inline constexpr uint16_t kIpv6FragM = 0x0001;

// IANA protocol numbers.
inline constexpr uint8_t kProtoHopByHop = 0;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoRouting = 43;
inline constexpr uint8_t kProtoFragment = 44;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr uint8_t kProtoNoNext = 59;
inline constexpr uint8_t kProtoDestOpts = 60;

// The IPv6 extension headers the parser walks (RFC 8200 4.1); any other
// next-header value ends the walk as the upper-layer protocol.
inline bool IsIp6ExtHeader(uint8_t nh) {
  return nh == kProtoHopByHop || nh == kProtoRouting || nh == kProtoFragment ||
         nh == kProtoDestOpts;
}

// ICMP / ICMPv6: type 1, code 1, checksum 2, then (echo) id 2, seq 2.
inline constexpr uint32_t kIcmpHeaderLen = 8;
inline constexpr uint32_t kIcmpChecksumOffset = 2;
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6EchoReply = 129;

// UDP (RFC 768): ports 4, length 2, checksum 2.
inline constexpr uint32_t kUdpHeaderLen = 8;
inline constexpr uint32_t kUdpLengthOffset = 4;
inline constexpr uint32_t kUdpChecksumOffset = 6;

// TCP (RFC 9293).
inline constexpr uint32_t kTcpMinHeaderLen = 20;
inline constexpr uint32_t kTcpDataOffsetOffset = 12;  // high nibble, 32-bit words
inline constexpr uint32_t kTcpChecksumOffset = 16;
inline constexpr uint8_t kTcpOptEol = 0;
inline constexpr uint8_t kTcpOptNop = 1;
inline constexpr uint8_t kTcpOptMss = 2;            // length 4 (RFC 9293)
inline constexpr uint8_t kTcpOptWindowScale = 3;    // length 3 (RFC 7323)
inline constexpr uint8_t kTcpOptSackPermitted = 4;  // length 2 (RFC 2018)
inline constexpr uint8_t kTcpOptSack = 5;           // length 2 + 8n, n in [1, 4]
inline constexpr uint8_t kTcpOptTimestamps = 8;     // length 10 (RFC 7323)

}  // namespace netisr::proto::wire
