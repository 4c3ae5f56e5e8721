// ParseFastPath and ParseEtherFused (parse.h) as inline functions, for the
// one caller per packet that wants no call frame: the Ethernet handler of
// ProtocolStack (stack.cc), where the two calls and their register saves
// cost ~35 of the ~230 instructions the fused chain takes on a 64-byte TCP
// frame (callgrind, docs/benchmarks.md). parse.cc's public functions are
// these, so the contract (and fast_path_test's differential check) is
// parse.h's.
#pragma once

#include <cstdint>

#include "base/checksum.h"
#include "base/wire.h"
#include "netisr/packet.h"
#include "proto/internal/options.h"
#include "proto/layout.h"
#include "proto/parse.h"
#include "proto/wire.h"

namespace netisr::proto::internal {

// What FastPath finds, as scalars: the Layout's other fields are those of
// an untagged IPv4 frame without options (l3_off 14, l4_off 34).
struct FastFields {
  uint16_t l4_len = 0, payload_off = 0;
  uint8_t ip_proto = 0;
};
inline constexpr uint16_t kFastL3 = wire::kEtherHeaderLen;
inline constexpr uint16_t kFastL4 = kFastL3 + wire::kIpv4MinHeaderLen;

[[gnu::always_inline]] inline bool FastPathFields(Packet& pkt, FastFields* f, Layer* terminal) {
  constexpr uint32_t kL3 = kFastL3, kL4 = kFastL4;
  const uint32_t len = pkt.len;
  // The shortest frame of the case is an empty UDP datagram.
  if (len < kL4 + wire::kUdpHeaderLen || len > kMaxFrameLen) return false;
  const uint8_t* ip = pkt.data + kL3;
  // IPv4 right after the Ethernet header; version 4 and 5 words (no options).
  if (base::Load16(pkt.data + wire::kEtherTypeOffset) != wire::kEtherTypeIpv4 || ip[0] != 0x45) {
    return false;
  }
  const uint32_t total = base::Load16(ip + wire::kIpv4TotalLenOffset);
  if (total < wire::kIpv4MinHeaderLen || total > len - kL3) return false;
  if ((base::Load16(ip + wire::kIpv4FragOffset) & (wire::kIpv4FlagMf | wire::kIpv4FragMask)) != 0) {
    return false;
  }
  const uint8_t proto = ip[wire::kIpv4ProtoOffset];
  const uint8_t* h = ip + wire::kIpv4MinHeaderLen;
  const uint32_t l4_len = total - wire::kIpv4MinHeaderLen;
  uint32_t seg_len, header_len;
  bool l4_sum = (pkt.rx_csum_good & kRxCsumL4Good) == 0;
  if (proto == wire::kProtoTcp) {
    if (l4_len < wire::kTcpMinHeaderLen) return false;
    header_len = (h[wire::kTcpDataOffsetOffset] >> 4) * 4u;
    if (header_len < wire::kTcpMinHeaderLen || header_len > l4_len) return false;
    if (header_len > wire::kTcpMinHeaderLen &&
        !TcpOptionsOk(h + wire::kTcpMinHeaderLen, header_len - wire::kTcpMinHeaderLen)) {
      return false;
    }
    seg_len = l4_len;
  } else if (proto == wire::kProtoUdp) {
    if (l4_len < wire::kUdpHeaderLen) return false;
    seg_len = base::Load16(h + wire::kUdpLengthOffset);
    if (seg_len < wire::kUdpHeaderLen || seg_len > l4_len) return false;
    header_len = wire::kUdpHeaderLen;
    l4_sum = l4_sum && base::Load16(h + wire::kUdpChecksumOffset) != 0;  // 0: none, over IPv4
  } else {
    return false;
  }
  // The checksums last, the costliest checks, in the layers' order.
  if ((pkt.rx_csum_good & kRxCsumIpGood) == 0 && !base::Ipv4HeaderOk(ip)) return false;
  if (l4_sum && !base::Ipv4L4ChecksumOk(ip, h, seg_len, proto)) return false;
  f->l4_len = static_cast<uint16_t>(seg_len);
  f->payload_off = static_cast<uint16_t>(kL4 + header_len);
  f->ip_proto = proto;
  pkt.len = kL4 + seg_len;  // Ethernet padding (and for UDP, bytes past its length) trimmed
  *terminal = proto == wire::kProtoTcp ? Layer::kTcp : Layer::kUdp;
  return true;
}

// FastPathFields with its result as a Layout (parse.h's ParseFastPath).
[[gnu::always_inline]] inline bool FastPath(Packet& pkt, Layout& l, Layer* terminal) {
  FastFields f;
  if (!FastPathFields(pkt, &f, terminal)) return false;
  l = Layout{};
  l.l3_off = kFastL3;
  l.l4_off = kFastL4;
  l.l4_len = f.l4_len;
  l.payload_off = f.payload_off;
  l.ethertype = wire::kEtherTypeIpv4;
  l.ip_proto = f.ip_proto;
  return true;
}

// FastPathFields with its result stored into pkt.meta (StoreUntaggedLayout:
// no Layout read back whole), `checked_l4` as given: the stack's fused
// Ethernet layer.
[[gnu::always_inline]] inline bool FastPathToMeta(Packet& pkt, Layer* terminal,
                                                  uint8_t checked_l4) {
  FastFields f;
  if (!FastPathFields(pkt, &f, terminal)) return false;
  StoreUntaggedLayout(pkt, kFastL3, kFastL4, f.l4_len, f.payload_off, wire::kEtherTypeIpv4,
                      f.ip_proto, checked_l4);
  return true;
}

// ParseEther + ParseIpv4Header (parse.h's ParseIpv4HeaderFast) for the
// common frame of the IP-layer hook: untagged, an IPv4 header without
// options; the Layout goes straight into pkt.meta (StoreUntaggedLayout).
// The router's stage: the two calls, and the Layout built in memory by one
// and read back whole (a 16-byte load after 2-byte stores, which store
// forwarding cannot serve), cost ~10% of its CPU (perf, docs/router.md).
[[gnu::always_inline]] inline bool Ipv4HeaderFast(Packet& pkt, bool* fragment) {
  constexpr uint32_t kL3 = kFastL3;
  const uint32_t len = pkt.len;
  if (len < kL3 + wire::kIpv4MinHeaderLen || len > kMaxFrameLen) return false;
  const uint8_t* ip = pkt.data + kL3;
  if (base::Load16(pkt.data + wire::kEtherTypeOffset) != wire::kEtherTypeIpv4 || ip[0] != 0x45) {
    return false;
  }
  const uint32_t total = base::Load16(ip + wire::kIpv4TotalLenOffset);
  if (total < wire::kIpv4MinHeaderLen || total > len - kL3) return false;
  if ((pkt.rx_csum_good & kRxCsumIpGood) == 0 && !base::Ipv4HeaderOk(ip)) return false;
  *fragment =
      (base::Load16(ip + wire::kIpv4FragOffset) & (wire::kIpv4FlagMf | wire::kIpv4FragMask)) != 0;
  StoreUntaggedLayout(pkt, kFastL3, kFastL4, static_cast<uint16_t>(total - wire::kIpv4MinHeaderLen),
                      0, wire::kEtherTypeIpv4, ip[wire::kIpv4ProtoOffset], 0);
  pkt.len = kL3 + total;  // Ethernet padding trimmed
  return true;
}

// ParseEtherFused after the fast path declined: ParseEther, then for IPv4
// ParseIpv4 and the upper layer's parser (parse.cc).
ChainResult EtherLayered(Packet& pkt, Layout& l);

[[gnu::always_inline]] inline ChainResult EtherFused(Packet& pkt, Layout& l) {
  Layer terminal;
  if (FastPath(pkt, l, &terminal)) return {Step::Deliver(), terminal};
  return EtherLayered(pkt, l);
}

}  // namespace netisr::proto::internal
