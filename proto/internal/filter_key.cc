#include "proto/internal/filter_key.h"

#include "base/wire.h"
#include "proto/layout.h"
#include "proto/parse.h"
#include "proto/wire.h"

namespace netisr::proto::internal {
namespace {

using base::Load64;

bool HasPorts(uint8_t proto) { return proto == wire::kProtoTcp || proto == wire::kProtoUdp; }

}  // namespace

// Reads the fields in place with bounds checks only (see the design note):
// the same offsets the parsers use (VLAN tags, IHL, the IPv6 extension-header
// walk), none of their validation. Every read is checked against pkt.len
// first, so any bytes at all are safe here.
FilterKey ClassifyForFilter(const Packet& pkt, bool at_ip) {
  FilterKey k{};
  const uint8_t* d = pkt.data;
  const uint32_t len = pkt.len;
  uint16_t type = 0;
  uint32_t off = 0;
  if (at_ip) {
    if (len == 0) return k;
    // The version nibble stands for the EtherType; the checks below repeat it.
    type = d[0] >> 4 == 4 ? wire::kEtherTypeIpv4 : d[0] >> 4 == 6 ? wire::kEtherTypeIpv6 : 0;
  } else {
    if (len < wire::kEtherHeaderLen) return k;
    type = base::Load16(d + wire::kEtherTypeOffset);
    off = wire::kEtherHeaderLen;
    for (int tags = 0; type == wire::kEtherTypeVlan || type == wire::kEtherTypeQinQ; ++tags) {
      if (tags == kMaxVlanTags || len - off < wire::kVlanTagLen) return k;
      type = base::Load16(d + off + 2);
      off += wire::kVlanTagLen;
    }
  }
  const uint8_t* ip = d + off;
  const uint32_t avail = len - off;
  if (type == wire::kEtherTypeIpv4) {
    if (avail < wire::kIpv4MinHeaderLen || ip[0] >> 4 != 4) return k;
    k.family = 4;
    k.hi = uint64_t{base::Load32(ip + wire::kIpv4SrcOffset)} << 32;
    k.has_proto = true;
    k.proto = ip[wire::kIpv4ProtoOffset];
    const uint32_t hlen = (ip[0] & 0x0fu) * 4;
    const uint32_t total = base::Load16(ip + wire::kIpv4TotalLenOffset);
    const bool first_fragment =
        (base::Load16(ip + wire::kIpv4FragOffset) & wire::kIpv4FragMask) == 0;
    if (HasPorts(k.proto) && first_fragment && hlen >= wire::kIpv4MinHeaderLen && total <= avail &&
        total >= hlen + 4) {
      k.has_port = true;
      k.dport = base::Load16(ip + hlen + 2);
    }
    return k;
  }
  if (type != wire::kEtherTypeIpv6 || avail < wire::kIpv6HeaderLen || ip[0] >> 4 != 6) return k;
  k.family = 6;
  k.hi = Load64(ip + wire::kIpv6SrcOffset);
  k.lo = Load64(ip + wire::kIpv6SrcOffset + 8);
  const uint32_t end = wire::kIpv6HeaderLen + base::Load16(ip + wire::kIpv6PayloadLenOffset);
  if (end > avail) return k;  // the walk's bound is wrong: protocol unknown
  uint8_t nh = ip[wire::kIpv6NextHeaderOffset];
  uint32_t at = wire::kIpv6HeaderLen;
  bool first_fragment = true;
  // ParseIpv6's walk and limits; a chain it refuses leaves the protocol unknown.
  for (int count = 1; wire::IsIp6ExtHeader(nh); ++count) {
    if (count > kMaxIp6ExtHeaders || (nh == wire::kProtoHopByHop && count != 1) || end - at < 8) {
      return k;
    }
    const uint8_t* ext = ip + at;
    uint32_t ext_len = wire::kIpv6FragHeaderLen;
    if (nh == wire::kProtoFragment) {
      if ((base::Load16(ext + 2) & wire::kIpv6FragOffsetMask) != 0) {
        first_fragment = false;  // what follows is the middle of a datagram
        nh = ext[0];
        break;
      }
    } else {
      ext_len = (ext[1] + 1u) * 8;
      if (ext_len > end - at) return k;
    }
    nh = ext[0];
    at += ext_len;
  }
  k.has_proto = true;
  k.proto = nh;
  if (HasPorts(nh) && first_fragment && end - at >= 4) {
    k.has_port = true;
    k.dport = base::Load16(ip + at + 2);
  }
  return k;
}

}  // namespace netisr::proto::internal
