#include "proto/flow_hash.h"

#include <bit>
#include <cstring>

#include "base/wire.h"
#include "proto/layout.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

constexpr uint64_t kMul1 = 0x87c37b91114253d5ull;  // MurmurHash3 x64 constants
constexpr uint64_t kMul2 = 0x4cf5ad432745937full;

uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

bool IsTcpOrUdp(uint8_t proto) { return proto == wire::kProtoTcp || proto == wire::kProtoUdp; }

HashType TupleType(uint8_t proto, bool ipv6, bool ports) {
  if (!ports) return ipv6 ? HashType::kIpv6 : HashType::kIpv4;
  if (proto == wire::kProtoTcp) return ipv6 ? HashType::kTcpIpv6 : HashType::kTcpIpv4;
  return ipv6 ? HashType::kUdpIpv6 : HashType::kUdpIpv4;
}

}  // namespace

uint32_t HashBytes(const uint8_t* data, size_t len) {
  uint64_t h = len * kMul2;
  for (; len >= 8; data += 8, len -= 8) {
    uint64_t w;
    std::memcpy(&w, data, 8);
    h = std::rotl(h ^ (w * kMul1), 31) * kMul2;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, data, len);
  h = Fmix64(h ^ (tail * kMul1));
  return static_cast<uint32_t>(h ^ (h >> 32));
}

bool SetFlowIdFromHeaders(Packet& pkt) {
  const Layout l = GetLayout(pkt);
  if (l.l3_off > pkt.len) return false;
  const uint32_t avail = pkt.len - l.l3_off;
  const uint8_t* ip = pkt.data + l.l3_off;
  // Tuple: addresses then ports, contiguous as they are on the wire.
  uint8_t tuple[36];
  size_t addr_len;
  uint8_t proto;
  const uint8_t* l4 = nullptr;
  bool ipv6;
  if (l.ethertype == wire::kEtherTypeIpv4) {
    if (avail < wire::kIpv4MinHeaderLen) return false;
    ipv6 = false;
    addr_len = 8;
    std::memcpy(tuple, ip + wire::kIpv4SrcOffset, addr_len);
    proto = ip[wire::kIpv4ProtoOffset];
    const uint32_t hlen = (ip[0] & 0x0fu) * 4;
    const bool fragment =
        (base::Load16(ip + wire::kIpv4FragOffset) & (wire::kIpv4FlagMf | wire::kIpv4FragMask)) != 0;
    if (!fragment && hlen >= wire::kIpv4MinHeaderLen && avail >= hlen + 4) l4 = ip + hlen;
  } else if (l.ethertype == wire::kEtherTypeIpv6) {
    if (avail < wire::kIpv6HeaderLen) return false;
    ipv6 = true;
    addr_len = 32;
    std::memcpy(tuple, ip + wire::kIpv6SrcOffset, addr_len);
    proto = ip[wire::kIpv6NextHeaderOffset];  // ports only without extension headers
    if (avail >= wire::kIpv6HeaderLen + 4) l4 = ip + wire::kIpv6HeaderLen;
  } else {
    return false;
  }
  const bool ports = l4 != nullptr && IsTcpOrUdp(proto);
  if (ports) std::memcpy(tuple + addr_len, l4, 4);
  pkt.SetFlowId(HashBytes(tuple, addr_len + (ports ? 4 : 0)), TupleType(proto, ipv6, ports));
  return true;
}

}  // namespace netisr::proto
