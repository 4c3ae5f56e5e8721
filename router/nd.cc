#include "router/nd.h"

#include <algorithm>
#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/wire.h"
#include "router/icmp_error.h"

namespace netisr::router {
namespace {

using base::Load16;
using base::Load32;
using base::Store16;
using base::Store32;
namespace wire = proto::wire;

constexpr uint32_t kEther = wire::kEtherHeaderLen;
constexpr uint32_t kIp6 = wire::kIpv6HeaderLen;
constexpr uint8_t kNs = 135, kNa = 136;
// NS / NA: type, code, checksum, 4 bytes (reserved / flags), target 16.
constexpr uint32_t kNdLen = 24;
constexpr uint32_t kNdTargetOffset = 8;
constexpr uint8_t kNaRouter = 0x80, kNaSolicited = 0x40, kNaOverride = 0x20;
// Options (RFC 4861 4.6): type, length in units of 8 bytes.
constexpr uint8_t kOptSourceLl = 1, kOptTargetLl = 2;
constexpr uint32_t kLlOptLen = 8;  // Ethernet: type, length 1, MAC (RFC 2464 6)
constexpr uint32_t kNdFrameLen = kEther + kIp6 + kNdLen + kLlOptLen;  // 86
constexpr MacAddr kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Ip6Addr kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

Packet* Take(const FrameAllocator& alloc, uint32_t len) {
  if (alloc.capacity < len) return nullptr;
  Packet* p = alloc.alloc(alloc.ctx);
  if (p != nullptr) p->len = len;
  return p;
}

// An NS or NA frame with one link-layer option: Ethernet, IPv6 (hop limit
// 255), the ICMPv6 message with its checksum. `flags` is the NA's first
// byte of the reserved word.
Packet* BuildNd(const FrameAllocator& alloc, uint8_t type, uint8_t flags, const MacAddr& eth_src,
                const MacAddr& eth_dst, const Ip6Addr& src, const Ip6Addr& dst,
                const Ip6Addr& target, uint8_t opt_type, const MacAddr& opt_mac) {
  Packet* p = Take(alloc, kNdFrameLen);
  if (p == nullptr) return nullptr;
  uint8_t* f = p->data;
  WriteMacs(*p, eth_src, eth_dst);
  Store16(f + wire::kEtherTypeOffset, wire::kEtherTypeIpv6);
  uint8_t* ip = f + kEther;
  Store32(ip, 0x60000000u);
  Store16(ip + wire::kIpv6PayloadLenOffset, kNdLen + kLlOptLen);
  ip[wire::kIpv6NextHeaderOffset] = wire::kProtoIcmp6;
  ip[wire::kIpv6HopLimitOffset] = kNdHopLimit;
  std::memcpy(ip + wire::kIpv6SrcOffset, src.data(), 16);
  std::memcpy(ip + wire::kIpv6DstOffset, dst.data(), 16);
  uint8_t* m = ip + kIp6;
  m[0] = type;
  m[1] = 0;
  Store16(m + wire::kIcmpChecksumOffset, 0);
  Store32(m + 4, uint32_t{flags} << 24);
  std::memcpy(m + kNdTargetOffset, target.data(), 16);
  m[kNdLen] = opt_type;
  m[kNdLen + 1] = 1;
  std::memcpy(m + kNdLen + 2, opt_mac.data(), 6);
  const uint32_t len = kNdLen + kLlOptLen;
  Store16(m + wire::kIcmpChecksumOffset,
          base::Checksum(m, len,
                         base::PseudoHeaderSum6(src.data(), dst.data(), wire::kProtoIcmp6, len)));
  proto::Layout l;
  l.l3_off = kEther;
  l.ethertype = wire::kEtherTypeIpv6;
  l.l4_off = kEther + kIp6;
  l.l4_len = len;
  l.payload_off = static_cast<uint16_t>(l.l4_off + wire::kIcmpHeaderLen);
  l.ip_proto = wire::kProtoIcmp6;
  proto::SetLayout(*p, l);
  return p;
}

bool IsSolicitedNode(const uint8_t* a) {
  static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

}  // namespace

Packet* MakeArpRequest(const FrameAllocator& alloc, uint32_t our_ip, const MacAddr& our_mac,
                       uint32_t target_ip) {
  Packet* p = Take(alloc, kMinFrameLen);
  if (p == nullptr) return nullptr;
  uint8_t* f = p->data;
  WriteMacs(*p, our_mac, kBroadcastMac);
  Store16(f + wire::kEtherTypeOffset, wire::kEtherTypeArp);
  uint8_t* a = f + kEther;
  Store16(a, wire::kArpHwEther);
  Store16(a + 2, wire::kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  Store16(a + 6, wire::kArpOpRequest);
  std::memcpy(a + 8, our_mac.data(), 6);
  Store32(a + 14, our_ip);
  std::memset(a + 18, 0, 6);  // target hardware address: unknown
  Store32(a + 24, target_ip);
  std::memset(a + wire::kArpLen, 0, kMinFrameLen - kEther - wire::kArpLen);
  proto::Layout l;
  l.l3_off = kEther;
  l.ethertype = wire::kEtherTypeArp;
  proto::SetLayout(*p, l);
  return p;
}

proto::Reply MakeIcmp6EchoReply(Packet& pkt, const proto::Layout& l, const Ip6Addr& our_ip) {
  uint8_t* ip = pkt.data + l.l3_off;
  uint8_t* icmp = pkt.data + l.l4_off;
  if (l.ethertype != wire::kEtherTypeIpv6 || l.ip_proto != wire::kProtoIcmp6 ||
      std::memcmp(ip + wire::kIpv6DstOffset, our_ip.data(), 16) != 0) {
    return proto::Reply::kNotForUs;
  }
  if (icmp[0] != wire::kIcmp6EchoRequest || icmp[1] != 0) return proto::Reply::kIgnored;
  MacAddr to, us;
  std::memcpy(to.data(), pkt.data + 6, 6);
  std::memcpy(us.data(), pkt.data, 6);
  WriteMacs(pkt, us, to);
  uint8_t addr[16];
  std::memcpy(addr, ip + wire::kIpv6SrcOffset, 16);
  std::memcpy(ip + wire::kIpv6SrcOffset, ip + wire::kIpv6DstOffset, 16);
  std::memcpy(ip + wire::kIpv6DstOffset, addr, 16);
  ip[wire::kIpv6HopLimitOffset] = kErrorTtl;  // 64, Linux's default hop limit
  const uint16_t old_word = Load16(icmp);
  icmp[0] = wire::kIcmp6EchoReply;
  Store16(icmp + wire::kIcmpChecksumOffset,
          base::UpdateChecksum(Load16(icmp + wire::kIcmpChecksumOffset), old_word, Load16(icmp)));
  return proto::Reply::kReplied;
}

NdKind NdKindOf(const Packet& pkt, const proto::Layout& l) {
  if (l.ethertype != wire::kEtherTypeIpv6 || l.ip_proto != wire::kProtoIcmp6 || l.l4_len < 1) {
    return NdKind::kNotNd;
  }
  switch (pkt.data[l.l4_off]) {
    case kNs:
      return NdKind::kSolicit;
    case kNa:
      return NdKind::kAdvert;
  }
  return NdKind::kNotNd;
}

FrameDrop ParseNd(const Packet& pkt, const proto::Layout& l, NdMessage* out) {
  const NdKind kind = NdKindOf(pkt, l);
  if (kind == NdKind::kNotNd) return FrameDrop::kNotIp;
  const uint8_t* ip = pkt.data + l.l3_off;
  const uint8_t* m = pkt.data + l.l4_off;
  if (l.l4_len < kNdLen) return FrameDrop::kNdTruncated;
  if (ip[wire::kIpv6HopLimitOffset] != kNdHopLimit) return FrameDrop::kNdBadHopLimit;
  if (m[1] != 0) return FrameDrop::kNdBadCode;
  NdMessage msg;
  msg.kind = kind;
  std::memcpy(msg.src.data(), ip + wire::kIpv6SrcOffset, 16);
  std::memcpy(msg.dst.data(), ip + wire::kIpv6DstOffset, 16);
  std::memcpy(msg.target.data(), m + kNdTargetOffset, 16);
  std::memcpy(msg.eth_src.data(), pkt.data + 6, 6);
  if (KindOf6(msg.target) == AddrKind::kMulticast) return FrameDrop::kNdTargetMulticast;
  const uint8_t ll_type = kind == NdKind::kSolicit ? kOptSourceLl : kOptTargetLl;
  for (uint32_t off = kNdLen; off < l.l4_len;) {
    if (l.l4_len - off < 2) return FrameDrop::kNdBadOption;
    const uint32_t len = m[off + 1] * 8u;
    if (len == 0 || len > l.l4_len - off) return FrameDrop::kNdBadOption;
    if (m[off] == ll_type) {
      if (len != kLlOptLen) return FrameDrop::kNdBadOption;
      msg.has_ll = true;
      std::memcpy(msg.ll.data(), m + off + 2, 6);
    }
    off += len;  // other options (nonce, ...) are skipped (RFC 4861 4.6)
  }
  if (kind == NdKind::kSolicit) {
    if (KindOf6(msg.src) == AddrKind::kUnspecified &&
        (!IsSolicitedNode(msg.dst.data()) || msg.has_ll)) {
      return FrameDrop::kNdBadDad;
    }
  } else {
    const uint8_t flags = m[4];
    msg.router = (flags & kNaRouter) != 0;
    msg.solicited = (flags & kNaSolicited) != 0;
    msg.override_flag = (flags & kNaOverride) != 0;
    if (msg.solicited && KindOf6(msg.dst) == AddrKind::kMulticast) {
      return FrameDrop::kNdSolicitedMulticast;
    }
  }
  *out = msg;
  return FrameDrop::kCount;
}

bool LearnFrom(const NdMessage& m, Neighbour6* out) {
  if (!m.has_ll) return false;
  if (m.kind == NdKind::kSolicit) {
    if (KindOf6(m.src) == AddrKind::kUnspecified) return false;  // DAD: no binding yet
    *out = {m.src, m.ll};
    return true;
  }
  if (m.kind == NdKind::kAdvert) {
    *out = {m.target, m.ll};
    return true;
  }
  return false;
}

Packet* MakeNeighborAdvert(const FrameAllocator& alloc, const NdMessage& ns,
                           const MacAddr& our_mac) {
  const bool dad = KindOf6(ns.src) == AddrKind::kUnspecified;
  const uint8_t flags = kNaRouter | kNaOverride | (dad ? 0 : kNaSolicited);
  const Ip6Addr& dst = dad ? kAllNodes : ns.src;
  const MacAddr eth_dst = dad ? MulticastMac(kAllNodes) : ns.has_ll ? ns.ll : ns.eth_src;
  return BuildNd(alloc, kNa, flags, our_mac, eth_dst, ns.target, dst, ns.target, kOptTargetLl,
                 our_mac);
}

Packet* MakeNeighborSolicit(const FrameAllocator& alloc, const Ip6Addr& our_ip,
                            const MacAddr& our_mac, const Ip6Addr& target,
                            const std::optional<MacAddr>& unicast_to) {
  if (unicast_to)
    return BuildNd(alloc, kNs, 0, our_mac, *unicast_to, our_ip, target, target, kOptSourceLl,
                   our_mac);
  const Ip6Addr group = SolicitedNode(target);
  return BuildNd(alloc, kNs, 0, our_mac, MulticastMac(group), our_ip, group, target, kOptSourceLl,
                 our_mac);
}

Ip6Addr SolicitedNode(const Ip6Addr& addr) {
  Ip6Addr g = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  std::copy(addr.begin() + 13, addr.end(), g.begin() + 13);
  return g;
}

MacAddr MulticastMac(const Ip6Addr& group) {
  return {0x33, 0x33, group[12], group[13], group[14], group[15]};
}

}  // namespace netisr::router
