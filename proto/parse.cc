#include "proto/parse.h"

#include <array>
#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/internal/fast_path.h"
#include "proto/internal/options.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

using base::ChecksumOk;
using base::Load16;
using base::PseudoHeaderSum4;
using base::PseudoHeaderSum6;

// The upper layer an IP protocol number leads to. ICMP belongs to IPv4 and
// ICMPv6 to IPv6: the other family's number is an unknown protocol.
Step UpperLayer(uint8_t proto, bool ipv6) {
  switch (proto) {
    case wire::kProtoTcp:
      return Step::Next(Layer::kTcp);
    case wire::kProtoUdp:
      return Step::Next(Layer::kUdp);
    case wire::kProtoIcmp:
      if (!ipv6) return Step::Next(Layer::kIcmp);
      break;
    case wire::kProtoIcmp6:
      if (ipv6) return Step::Next(Layer::kIcmp6);
      break;
  }
  return Step::Drop(ParseDrop::kUnknownIpProtocol);
}

bool IsIpv6(const Layout& l) { return l.ethertype == wire::kEtherTypeIpv6; }

// Pseudo-header sum for an upper-layer checksum, from the IP header the IP
// layer already validated.
uint32_t PseudoSum(const Packet& pkt, const Layout& l, uint8_t proto, uint32_t len) {
  const uint8_t* ip = pkt.data + l.l3_off;
  if (IsIpv6(l)) {
    return PseudoHeaderSum6(ip + wire::kIpv6SrcOffset, ip + wire::kIpv6DstOffset, proto, len);
  }
  return PseudoHeaderSum4(ip + wire::kIpv4SrcOffset, ip + wire::kIpv4DstOffset, proto,
                          static_cast<uint16_t>(len));
}

}  // namespace

std::string_view ToString(Layer l) {
  static constexpr std::array<std::string_view, kNumLayers> kNames = {
      "ether", "arp", "ip", "ip6", "tcp", "udp", "icmp", "icmp6"};
  const auto i = static_cast<size_t>(l);
  return i < kNames.size() ? kNames[i] : "unknown";
}

Step ParseEther(Packet& pkt, Layout& l) {
  l = Layout{};
  // First, so that every offset below fits Layout's 16 bits (layout.h).
  if (pkt.len > kMaxFrameLen) return Step::Drop(ParseDrop::kFrameTooLong);
  if (pkt.len < wire::kEtherHeaderLen) return Step::Drop(ParseDrop::kTruncatedEther);
  uint16_t type = Load16(pkt.data + wire::kEtherTypeOffset);
  uint32_t off = wire::kEtherHeaderLen;
  while (type == wire::kEtherTypeVlan || type == wire::kEtherTypeQinQ) {
    if (l.vlan_count == kMaxVlanTags) return Step::Drop(ParseDrop::kVlanTooDeep);
    if (pkt.len - off < wire::kVlanTagLen) return Step::Drop(ParseDrop::kTruncatedEther);
    l.vlan_tci[l.vlan_count++] = Load16(pkt.data + off);
    type = Load16(pkt.data + off + 2);
    off += wire::kVlanTagLen;
  }
  l.l3_off = static_cast<uint16_t>(off);
  l.ethertype = type;
  switch (type) {
    case wire::kEtherTypeIpv4:
      return Step::Next(Layer::kIp);
    case wire::kEtherTypeIpv6:
      return Step::Next(Layer::kIp6);
    case wire::kEtherTypeArp:
      return Step::Next(Layer::kArp);
  }
  return Step::Drop(ParseDrop::kUnknownEthertype);
}

Step ParseArp(Packet& pkt, Layout& l) {
  if (pkt.len - l.l3_off < wire::kArpLen) return Step::Drop(ParseDrop::kTruncatedArp);
  const uint8_t* a = pkt.data + l.l3_off;
  const uint16_t op = Load16(a + 6);
  if (Load16(a) != wire::kArpHwEther || Load16(a + 2) != wire::kEtherTypeIpv4 || a[4] != 6 ||
      a[5] != 4 || (op != wire::kArpOpRequest && op != wire::kArpOpReply)) {
    return Step::Drop(ParseDrop::kBadArp);
  }
  return Step::Deliver();
}

namespace {

// ParseIpv4 up to (not including) the upper-layer choice. With
// `defer_fragment` a fragment passes, flagged in *fragment, for the caller
// to judge after the IP-layer hook; without it the fragment check drops
// where ParseIpv4 always did (before the checksum), so the chain without a
// hook gives the same reasons as before the hook existed.
Step Ipv4Header(Packet& pkt, Layout& l, bool defer_fragment, bool* fragment) {
  const uint32_t avail = pkt.len - l.l3_off;
  if (avail < wire::kIpv4MinHeaderLen) return Step::Drop(ParseDrop::kTruncatedIp);
  const uint8_t* ip = pkt.data + l.l3_off;
  if (ip[0] >> 4 != 4) return Step::Drop(ParseDrop::kBadIpVersion);
  const uint32_t hlen = (ip[0] & 0x0fu) * 4;
  if (hlen < wire::kIpv4MinHeaderLen || hlen > avail) {
    return Step::Drop(ParseDrop::kBadIpHeaderLength);
  }
  const uint32_t total = Load16(ip + wire::kIpv4TotalLenOffset);
  if (total < hlen || total > avail) return Step::Drop(ParseDrop::kBadIpTotalLength);
  if (!internal::Ipv4OptionsOk(ip + wire::kIpv4MinHeaderLen, hlen - wire::kIpv4MinHeaderLen)) {
    return Step::Drop(ParseDrop::kBadIpOptions);
  }
  const uint16_t frag = Load16(ip + wire::kIpv4FragOffset);
  *fragment = (frag & (wire::kIpv4FlagMf | wire::kIpv4FragMask)) != 0;
  if (*fragment && !defer_fragment) return Step::Drop(ParseDrop::kIpFragment);
  if ((pkt.rx_csum_good & kRxCsumIpGood) == 0 &&
      !(hlen == wire::kIpv4MinHeaderLen ? base::Ipv4HeaderOk(ip) : ChecksumOk(ip, hlen))) {
    return Step::Drop(ParseDrop::kBadIpChecksum);
  }
  pkt.len = l.l3_off + total;  // drop Ethernet padding
  l.checked_l4 = 0;
  l.l4_off = static_cast<uint16_t>(l.l3_off + hlen);
  l.l4_len = static_cast<uint16_t>(total - hlen);
  l.ip_proto = ip[wire::kIpv4ProtoOffset];
  // What the upper layers read the family from; already so after Ethernet,
  // set here for packets that enter at the IP layer (nic::LinkType::kIp).
  l.ethertype = wire::kEtherTypeIpv4;
  return Step::Deliver();
}

// ParseIpv6 up to the upper-layer choice; `defer_fragment` as in
// Ipv4Header. A deferred fragment (offset != 0 or M set) ends the walk at
// its fragment header: what follows is the fragmentable part, not headers
// this packet can be judged by (a later fragment's bytes are payload).
Step Ipv6Header(Packet& pkt, Layout& l, bool defer_fragment, bool* fragment) {
  const uint32_t avail = pkt.len - l.l3_off;
  if (avail < wire::kIpv6HeaderLen) return Step::Drop(ParseDrop::kTruncatedIp6);
  const uint8_t* ip = pkt.data + l.l3_off;
  if (ip[0] >> 4 != 6) return Step::Drop(ParseDrop::kBadIp6Version);
  const uint32_t end = wire::kIpv6HeaderLen + Load16(ip + wire::kIpv6PayloadLenOffset);
  if (end > avail) return Step::Drop(ParseDrop::kBadIp6PayloadLength);

  uint8_t nh = ip[wire::kIpv6NextHeaderOffset];
  uint32_t off = wire::kIpv6HeaderLen;
  for (int count = 1; wire::IsIp6ExtHeader(nh); ++count) {
    if (count > kMaxIp6ExtHeaders) return Step::Drop(ParseDrop::kIp6ExtTooMany);
    if (nh == wire::kProtoHopByHop && count != 1) return Step::Drop(ParseDrop::kBadIp6ExtOrder);
    // Every extension header is at least 8 bytes (RFC 8200 4.3-4.6).
    if (end - off < 8) return Step::Drop(ParseDrop::kTruncatedIp6Ext);
    const uint8_t* ext = ip + off;
    uint32_t len = wire::kIpv6FragHeaderLen;
    if (nh == wire::kProtoFragment) {
      const uint16_t fo = Load16(ext + 2);
      if ((fo & (wire::kIpv6FragOffsetMask | wire::kIpv6FragM)) != 0) {
        if (!defer_fragment) return Step::Drop(ParseDrop::kIp6Fragment);
        *fragment = true;
        nh = ext[0];
        off += len;
        break;
      }
    } else {
      len = (ext[1] + 1u) * 8;
      if (len > end - off) return Step::Drop(ParseDrop::kTruncatedIp6Ext);
    }
    nh = ext[0];
    off += len;
  }
  pkt.len = l.l3_off + end;
  l.checked_l4 = 0;
  l.l4_off = static_cast<uint16_t>(l.l3_off + off);
  l.l4_len = static_cast<uint16_t>(end - off);
  l.ip_proto = nh;
  l.ethertype = wire::kEtherTypeIpv6;  // as in Ipv4Header
  return Step::Deliver();
}

}  // namespace

Step ParseIpv4(Packet& pkt, Layout& l) {
  bool fragment = false;
  const Step s = Ipv4Header(pkt, l, /*defer_fragment=*/false, &fragment);
  return s.kind == Step::Kind::kDrop ? s : UpperLayer(l.ip_proto, /*ipv6=*/false);
}

Step ParseIpv6(Packet& pkt, Layout& l) {
  bool fragment = false;
  const Step s = Ipv6Header(pkt, l, /*defer_fragment=*/false, &fragment);
  return s.kind == Step::Kind::kDrop ? s : UpperLayer(l.ip_proto, /*ipv6=*/true);
}

bool ParseIpv4HeaderFast(Packet& pkt, Layout& l, bool* fragment) {
  const uint64_t meta[3] = {pkt.meta[0], pkt.meta[1], pkt.meta[2]};
  if (!internal::Ipv4HeaderFast(pkt, fragment)) return false;
  l = GetLayout(pkt);
  std::memcpy(pkt.meta.data(), meta, sizeof(meta));  // the contract: `l`, not meta
  return true;
}

Step ParseIpv4Header(Packet& pkt, Layout& l, bool* fragment) {
  *fragment = false;
  return Ipv4Header(pkt, l, /*defer_fragment=*/true, fragment);
}

Step ParseIpv6Header(Packet& pkt, Layout& l, bool* fragment) {
  *fragment = false;
  return Ipv6Header(pkt, l, /*defer_fragment=*/true, fragment);
}

Step FinishIpLocal(const Layout& l, bool fragment) {
  const bool ipv6 = IsIpv6(l);
  if (fragment) return Step::Drop(ipv6 ? ParseDrop::kIp6Fragment : ParseDrop::kIpFragment);
  return UpperLayer(l.ip_proto, ipv6);
}

namespace {

// ICMP and ICMPv6 differ in their echo types, their reasons and the
// pseudo-header; the checks are the same.
struct IcmpRules {
  uint8_t echo_request, echo_reply;
  ParseDrop truncated, bad_code, bad_checksum;
  bool pseudo_header;
};

Step ParseIcmpWith(const IcmpRules& r, Packet& pkt, Layout& l) {
  if (l.l4_len < wire::kIcmpHeaderLen) return Step::Drop(r.truncated);
  const uint8_t* h = pkt.data + l.l4_off;
  if ((h[0] == r.echo_request || h[0] == r.echo_reply) && h[1] != 0) return Step::Drop(r.bad_code);
  const uint32_t pseudo = r.pseudo_header ? PseudoSum(pkt, l, wire::kProtoIcmp6, l.l4_len) : 0;
  if (!ChecksumOk(h, l.l4_len, pseudo)) return Step::Drop(r.bad_checksum);
  l.payload_off = static_cast<uint16_t>(l.l4_off + wire::kIcmpHeaderLen);
  return Step::Deliver();
}

}  // namespace

Step ParseIcmp(Packet& pkt, Layout& l) {
  static constexpr IcmpRules kRules = {wire::kIcmpEchoRequest,      wire::kIcmpEchoReply,
                                       ParseDrop::kTruncatedIcmp,   ParseDrop::kBadIcmpCode,
                                       ParseDrop::kBadIcmpChecksum, false};
  return ParseIcmpWith(kRules, pkt, l);
}

Step ParseIcmp6(Packet& pkt, Layout& l) {
  static constexpr IcmpRules kRules = {wire::kIcmp6EchoRequest,      wire::kIcmp6EchoReply,
                                       ParseDrop::kTruncatedIcmp6,   ParseDrop::kBadIcmp6Code,
                                       ParseDrop::kBadIcmp6Checksum, true};
  return ParseIcmpWith(kRules, pkt, l);
}

Step ParseUdp(Packet& pkt, Layout& l) {
  if (l.l4_len < wire::kUdpHeaderLen) return Step::Drop(ParseDrop::kTruncatedUdp);
  const uint8_t* u = pkt.data + l.l4_off;
  const uint16_t ulen = Load16(u + wire::kUdpLengthOffset);
  if (ulen < wire::kUdpHeaderLen || ulen > l.l4_len) return Step::Drop(ParseDrop::kBadUdpLength);
  const uint16_t sum = Load16(u + wire::kUdpChecksumOffset);
  if (sum == 0 ? IsIpv6(l)
               : (pkt.rx_csum_good & kRxCsumL4Good) == 0 &&
                     !ChecksumOk(u, ulen, PseudoSum(pkt, l, wire::kProtoUdp, ulen))) {
    return Step::Drop(ParseDrop::kBadUdpChecksum);
  }
  pkt.len = l.l4_off + ulen;  // bytes past the UDP length are not the datagram's
  l.l4_len = ulen;
  l.payload_off = static_cast<uint16_t>(l.l4_off + wire::kUdpHeaderLen);
  return Step::Deliver();
}

Step ParseTcp(Packet& pkt, Layout& l) {
  if (l.l4_len < wire::kTcpMinHeaderLen) return Step::Drop(ParseDrop::kTruncatedTcp);
  const uint8_t* t = pkt.data + l.l4_off;
  const uint32_t doff = (t[wire::kTcpDataOffsetOffset] >> 4) * 4u;
  if (doff < wire::kTcpMinHeaderLen || doff > l.l4_len) {
    return Step::Drop(ParseDrop::kBadTcpOffset);
  }
  if (!internal::TcpOptionsOk(t + wire::kTcpMinHeaderLen, doff - wire::kTcpMinHeaderLen)) {
    return Step::Drop(ParseDrop::kBadTcpOptions);
  }
  if ((pkt.rx_csum_good & kRxCsumL4Good) == 0 &&
      !ChecksumOk(t, l.l4_len, PseudoSum(pkt, l, wire::kProtoTcp, l.l4_len))) {
    return Step::Drop(ParseDrop::kBadTcpChecksum);
  }
  l.payload_off = static_cast<uint16_t>(l.l4_off + doff);
  return Step::Deliver();
}

Step ParseLayer(Layer layer, Packet& pkt, Layout& l) {
  switch (layer) {
    case Layer::kEther:
      return ParseEther(pkt, l);
    case Layer::kArp:
      return ParseArp(pkt, l);
    case Layer::kIp:
      return ParseIpv4(pkt, l);
    case Layer::kIp6:
      return ParseIpv6(pkt, l);
    case Layer::kTcp:
      return ParseTcp(pkt, l);
    case Layer::kUdp:
      return ParseUdp(pkt, l);
    case Layer::kIcmp:
      return ParseIcmp(pkt, l);
    case Layer::kIcmp6:
      return ParseIcmp6(pkt, l);
    case Layer::kCount:
      break;
  }
  return Step::Drop(ParseDrop::kCount);
}

bool ParseFastPath(Packet& pkt, Layout& l, Layer* terminal) {
  return internal::FastPath(pkt, l, terminal);
}

ChainResult internal::EtherLayered(Packet& pkt, Layout& l) {
  ChainResult r{ParseEther(pkt, l), Layer::kEther};
  if (r.step.kind == Step::Kind::kNext && r.step.next == Layer::kIp) {
    r.layer = Layer::kIp;
    r.step = ParseIpv4(pkt, l);
    if (r.step.kind == Step::Kind::kNext) {
      r.layer = r.step.next;
      r.step = ParseLayer(r.layer, pkt, l);
    }
  }
  return r;
}

ChainResult ParseEtherFused(Packet& pkt, Layout& l) { return internal::EtherFused(pkt, l); }

ChainResult ParseFrameFast(Packet& pkt) {
  Layout l;
  ChainResult r = ParseEtherFused(pkt, l);
  while (r.step.kind == Step::Kind::kNext) {
    r.layer = r.step.next;
    r.step = ParseLayer(r.layer, pkt, l);
  }
  SetLayout(pkt, l);
  return r;
}

ChainResult ParseFrame(Packet& pkt) {
  Layout l;
  ChainResult r{ParseEther(pkt, l), Layer::kEther};
  while (r.step.kind == Step::Kind::kNext) {
    r.layer = r.step.next;
    r.step = ParseLayer(r.layer, pkt, l);
  }
  SetLayout(pkt, l);
  return r;
}

}  // namespace netisr::proto
