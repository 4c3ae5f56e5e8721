#include "router/forward.h"

#include <array>
#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::router {
namespace internal {
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

}  // namespace internal

std::string_view ToString(FrameDrop r) {
  static constexpr std::array<std::string_view, kNumFrameDrops> kNames = {
#define NETISR_ROUTER_NAME(e, name) name,
      NETISR_ROUTER_FRAME_DROPS(NETISR_ROUTER_NAME)
#undef NETISR_ROUTER_NAME
  };
  const auto i = static_cast<size_t>(r);
  return i < kNames.size() ? kNames[i] : "unknown";
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

Check Forward(Packet& pkt, const proto::Layout& l, const MacAddr& src, const MacAddr& dst) {
  const Check c = CheckTtl(pkt, l);
  if (c.verdict == Verdict::kForward) Rewrite(pkt, l, src, dst);
  return c;
}

FrameAllocator PoolAllocator(PacketPool& pool) {
  return {[](void* ctx) { return static_cast<PacketPool*>(ctx)->Alloc(); }, &pool, pool.buf_size()};
}

}  // namespace netisr::router
