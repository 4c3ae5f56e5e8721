// Layout: where each parsed header of a packet starts, kept in Packet::meta
// so that a layer never re-parses what the layer below it already checked.
//
// Packet::meta layout (4 x uint64_t of scratch, netisr/packet.h):
//   meta[0..2]  this Layout, 18 bytes, copied in and out with memcpy (no
//               aliasing games; the copy compiles to two or three moves)
//   meta[3]     free for the layers above proto (inpcb, applications)
// Offsets are from Packet::data and fit 16 bits by construction: the
// Ethernet layer refuses a frame longer than kMaxFrameLen (frame_too_long),
// and every offset a layer stores lies within the frame. Packet::len is 32
// bits, so without that refusal a long enough frame could put a header past
// what 16 bits address and wrap its offset. Only software super-frames
// (GRO/LRO, a 64 KiB loopback MTU) are that long: no Ethernet link carries
// more than ~9.2 KB.
//
// Each layer writes its fields only after its checks passed, and the Ethernet
// layer starts from a zeroed Layout, so whatever a packet's meta held before
// (a recycled descriptor) never leaks into parsing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "netisr/packet.h"

namespace netisr::proto {

// The protocol layers, each registered with netisr as one protocol.
enum class Layer : uint8_t { kEther, kArp, kIp, kIp6, kTcp, kUdp, kIcmp, kIcmp6, kCount };
inline constexpr size_t kNumLayers = static_cast<size_t>(Layer::kCount);
// The netisr protocol name of each layer: "ether", "arp", "ip", "ip6", "tcp",
// "udp", "icmp", "icmp6".
std::string_view ToString(Layer l);

// Longest frame the parse chain accepts: the most a Layout offset addresses.
inline constexpr uint32_t kMaxFrameLen = UINT16_MAX;

// Most 802.1Q/802.1ad tags accepted in front of the EtherType (QinQ).
inline constexpr int kMaxVlanTags = 2;

struct Layout {
  uint16_t l3_off = 0;       // ARP / IPv4 / IPv6 header
  uint16_t l4_off = 0;       // TCP / UDP / ICMP header, after IPv4 options or IPv6 ext headers
  uint16_t l4_len = 0;       // L4 header + payload bytes, from the IP length fields
  uint16_t payload_off = 0;  // L4 payload, after the TCP/UDP/ICMP header
  uint16_t ethertype = 0;    // innermost EtherType (after VLAN tags)
  uint16_t vlan_tci[kMaxVlanTags] = {};  // outermost first
  uint8_t vlan_count = 0;
  uint8_t ip_proto = 0;  // upper-layer protocol (after IPv6 extension headers)
  // 1 when the terminal layer's checks already passed in the Ethernet
  // layer's one-pass IPv4 chain (ProtocolStack, StackOptions::fused_ipv4):
  // the terminal layer's handler then delivers without parsing again, and
  // clears it. Only the tcp, udp and icmp handlers read it; the IP parsers
  // clear it too (a packet may enter there with old meta).
  uint8_t checked_l4 = 0;

  // Member-wise (not memcmp: the padding byte is not a field).
  bool operator==(const Layout&) const = default;
};
static_assert(sizeof(Layout) <= 3 * sizeof(uint64_t), "Layout must fit meta[0..2]");
static_assert(std::is_trivially_copyable_v<Layout>);

inline Layout GetLayout(const Packet& pkt) {
  Layout l;
  std::memcpy(static_cast<void*>(&l), pkt.meta.data(), sizeof(l));
  return l;
}
inline void SetLayout(Packet& pkt, const Layout& l) { std::memcpy(pkt.meta.data(), &l, sizeof(l)); }

// The Layout of an untagged packet (no VLAN tags), written into pkt.meta a
// field at a time: GetLayout then reads what SetLayout(pkt, Layout{...})
// would have stored. For the per-packet fast paths, which know the fields
// as scalars: a Layout built on the stack and copied out whole is read
// back with a 16-byte load right after its 1- and 2-byte stores, which the
// CPU cannot forward from the store buffer (a ~15-cycle stall per packet,
// 20-40% of the stage loop's samples in a perf profile of the router).
inline void StoreUntaggedLayout(Packet& pkt, uint16_t l3_off, uint16_t l4_off, uint16_t l4_len,
                                uint16_t payload_off, uint16_t ethertype, uint8_t ip_proto,
                                uint8_t checked_l4) {
  auto* m = reinterpret_cast<uint8_t*>(pkt.meta.data());
  auto put = [m](size_t off, auto v) { std::memcpy(m + off, &v, sizeof(v)); };
  std::memset(m, 0, sizeof(Layout));  // the VLAN fields, and the padding
  put(offsetof(Layout, l3_off), l3_off);
  put(offsetof(Layout, l4_off), l4_off);
  put(offsetof(Layout, l4_len), l4_len);
  put(offsetof(Layout, payload_off), payload_off);
  put(offsetof(Layout, ethertype), ethertype);
  put(offsetof(Layout, ip_proto), ip_proto);
  put(offsetof(Layout, checked_l4), checked_l4);
}

}  // namespace netisr::proto
