#include "router/forward.h"

#include <array>
#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::router {
namespace {

using base::Load16;
using base::Load32;
using base::Store16;
namespace wire = proto::wire;

FrameDrop DstDrop(AddrKind k) {
  switch (k) {
    case AddrKind::kUnspecified:
      return FrameDrop::kDstUnspecified;
    case AddrKind::kLoopback:
      return FrameDrop::kDstLoopback;
    case AddrKind::kMulticast:
      return FrameDrop::kDstMulticast;
    case AddrKind::kBroadcast:
      return FrameDrop::kDstBroadcast;
    case AddrKind::kLinkLocal:
      return FrameDrop::kDstLinkLocal;
    case AddrKind::kUnicast:
      break;
  }
  return FrameDrop::kCount;
}

}  // namespace

std::string_view ToString(FrameDrop r) {
  static constexpr std::array<std::string_view, kNumFrameDrops> kNames = {
#define NETISR_ROUTER_NAME(e, name) name,
      NETISR_ROUTER_FRAME_DROPS(NETISR_ROUTER_NAME)
#undef NETISR_ROUTER_NAME
  };
  const auto i = static_cast<size_t>(r);
  return i < kNames.size() ? kNames[i] : "unknown";
}

AddrKind KindOf4(uint32_t a) {
  if (a == 0xffffffffu) return AddrKind::kBroadcast;
  switch (a >> 24) {
    case 0:
      return AddrKind::kUnspecified;
    case 127:
      return AddrKind::kLoopback;
  }
  if ((a >> 28) == 0xe) return AddrKind::kMulticast;
  if ((a >> 16) == 0xa9fe) return AddrKind::kLinkLocal;
  return AddrKind::kUnicast;
}

AddrKind KindOf6(const uint8_t* a) {
  if (a[0] == 0xff) return AddrKind::kMulticast;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return AddrKind::kLinkLocal;
  static constexpr uint8_t kZero[15] = {};
  if (std::memcmp(a, kZero, 15) == 0) {
    if (a[15] == 0) return AddrKind::kUnspecified;
    if (a[15] == 1) return AddrKind::kLoopback;
  }
  return AddrKind::kUnicast;
}

Check CheckIngress(const Packet& pkt, const proto::Layout& l) {
  if (l.vlan_count != 0) return Check::Drop(FrameDrop::kVlanTagged);
  const uint8_t* ip = pkt.data + l.l3_off;
  AddrKind dst, src;
  if (IsIpv4(l)) {
    dst = KindOf4(Load32(ip + wire::kIpv4DstOffset));
    src = KindOf4(Load32(ip + wire::kIpv4SrcOffset));
  } else if (IsIpv6(l)) {
    dst = KindOf6(ip + wire::kIpv6DstOffset);
    src = KindOf6(ip + wire::kIpv6SrcOffset);
  } else {
    return Check::Drop(FrameDrop::kNotIp);
  }
  if (dst != AddrKind::kUnicast) return Check::Drop(DstDrop(dst));
  if (src != AddrKind::kUnicast) return Check::Drop(FrameDrop::kSrcInvalid);
  return Check::Pass();
}

Check Forward(Packet& pkt, const proto::Layout& l, const MacAddr& src, const MacAddr& dst) {
  const Check c = CheckTtl(pkt, l);
  if (c.verdict == Verdict::kForward) Rewrite(pkt, l, src, dst);
  return c;
}

FrameAllocator PoolAllocator(PacketPool& pool) {
  return {[](void* ctx) { return static_cast<PacketPool*>(ctx)->Alloc(); }, &pool, pool.buf_size()};
}

}  // namespace netisr::router
