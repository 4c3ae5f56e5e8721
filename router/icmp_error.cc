#include "router/icmp_error.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/parse.h"
#include "proto/wire.h"

namespace netisr::router {
namespace {

using base::Load16;
using base::Load32;
using base::Store16;
using base::Store32;
namespace wire = proto::wire;

constexpr uint64_t kNano = 1'000'000'000;
constexpr uint32_t kEther = wire::kEtherHeaderLen;
constexpr uint32_t kIcmp = wire::kIcmpHeaderLen;
constexpr uint8_t kIcmpUnreach = 3, kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmp6Unreach = 1, kIcmp6TimeExceeded = 3;
// ICMP types that are errors (RFC 792, RFC 1812 4.3.2.7): unreachable,
// source quench, redirect, time exceeded, parameter problem. Types past 18
// (NR_ICMP_TYPES) are unknown; Linux treats them as errors too.
constexpr uint8_t kIcmpLastKnownType = 18;
bool IsIcmpErrorType(uint8_t t) {
  return t == 3 || t == 4 || t == 5 || t == 11 || t == 12 || t > kIcmpLastKnownType;
}

// What the rules need of an IPv6 packet beyond its header: the upper-layer
// protocol and offset, and whether it is a non-first fragment. Unlike
// ParseIpv6, which drops every fragment, this walk reads past a Fragment
// header. Bounded like the parser (kMaxIp6ExtHeaders); a walk cut short
// reports proto kProtoNoNext (no upper layer seen).
struct Ip6Upper {
  uint8_t proto = wire::kProtoNoNext;
  uint32_t off = 0;  // from the IPv6 header
  bool later_fragment = false;
};
Ip6Upper WalkIp6(const uint8_t* ip, uint32_t avail) {
  Ip6Upper u;
  uint8_t nh = ip[wire::kIpv6NextHeaderOffset];
  uint32_t off = wire::kIpv6HeaderLen;
  for (int count = 0; wire::IsIp6ExtHeader(nh); ++count) {
    if (count == proto::kMaxIp6ExtHeaders || avail - off < 8) return u;
    const uint8_t* ext = ip + off;
    uint32_t len = wire::kIpv6FragHeaderLen;
    if (nh == wire::kProtoFragment) {
      if ((Load16(ext + 2) & wire::kIpv6FragOffsetMask) != 0) {
        u.later_fragment = true;
        return u;  // what follows is not a header
      }
    } else {
      len = (ext[1] + 1u) * 8;
      if (len > avail - off) return u;
    }
    nh = ext[0];
    off += len;
  }
  u.proto = nh;
  u.off = off;
  return u;
}

ErrorSkip Rules4(const Packet& pkt, const uint8_t* ip, uint32_t avail) {
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  if ((Load16(ip + wire::kIpv4FragOffset) & wire::kIpv4FragMask) != 0) return ErrorSkip::kFragment;
  if (ip[wire::kIpv4ProtoOffset] == wire::kProtoIcmp) {
    // A first fragment or a whole datagram: its ICMP type is there (the
    // parser checked 8 bytes of it); a datagram cut before it gets none.
    if (avail <= ihl || IsIcmpErrorType(ip[ihl])) return ErrorSkip::kAboutError;
  }
  const AddrKind dst = KindOf4(Load32(ip + wire::kIpv4DstOffset));
  if (dst == AddrKind::kMulticast || dst == AddrKind::kBroadcast || (pkt.data[0] & 1) != 0) {
    return ErrorSkip::kMulticast;
  }
  switch (KindOf4(Load32(ip + wire::kIpv4SrcOffset))) {
    case AddrKind::kUnspecified:
    case AddrKind::kLoopback:
    case AddrKind::kMulticast:
    case AddrKind::kBroadcast:
      return ErrorSkip::kBadSource;
    default:
      break;
  }
  return ErrorSkip::kCount;
}

ErrorSkip Rules6(const Packet& pkt, const uint8_t* ip, uint32_t avail) {
  const Ip6Upper u = WalkIp6(ip, avail);
  if (u.later_fragment) return ErrorSkip::kFragment;
  // RFC 4443 2.1: types 0-127 are errors. One cut before its type gets none.
  if (u.proto == wire::kProtoIcmp6 && (avail <= u.off || ip[u.off] < 128)) {
    return ErrorSkip::kAboutError;
  }
  if (KindOf6(ip + wire::kIpv6DstOffset) == AddrKind::kMulticast || (pkt.data[0] & 1) != 0) {
    return ErrorSkip::kMulticast;
  }
  switch (KindOf6(ip + wire::kIpv6SrcOffset)) {
    case AddrKind::kUnspecified:
    case AddrKind::kLoopback:
    case AddrKind::kMulticast:
      return ErrorSkip::kBadSource;
    default:
      break;
  }
  return ErrorSkip::kCount;
}

void WriteEther(uint8_t* f, const Packet& offending, const MacAddr& our_mac, uint16_t type) {
  std::memcpy(f, offending.data + 6, 6);  // back to the previous hop
  std::memcpy(f + 6, our_mac.data(), 6);
  Store16(f + wire::kEtherTypeOffset, type);
}

void Finish(Packet* p, uint32_t len, uint16_t ethertype, uint32_t ip_hlen, uint8_t proto) {
  p->len = len;
  proto::Layout l;
  l.l3_off = kEther;
  l.ethertype = ethertype;
  l.l4_off = static_cast<uint16_t>(kEther + ip_hlen);
  l.l4_len = static_cast<uint16_t>(len - kEther - ip_hlen);
  l.payload_off = static_cast<uint16_t>(l.l4_off + kIcmp);
  l.ip_proto = proto;
  proto::SetLayout(*p, l);
}

}  // namespace

std::string_view ToString(ErrorSkip s) {
  static constexpr std::array<std::string_view, kNumErrorSkips> kNames = {
#define NETISR_ROUTER_NAME(e, name) name,
      NETISR_ROUTER_ERROR_SKIPS(NETISR_ROUTER_NAME)
#undef NETISR_ROUTER_NAME
  };
  const auto i = static_cast<size_t>(s);
  return i < kNames.size() ? kNames[i] : "unknown";
}

Status IcmpRateLimiter::Validate(const Config& c) {
  if (c.rate < 1 || c.rate > kMaxRate) {
    return Status(ErrorCode::kInvalidArgument, "icmp rate " + std::to_string(c.rate) +
                                                   " out of range [1, " + std::to_string(kMaxRate) +
                                                   "] per second");
  }
  if (c.burst < 1 || c.burst > kMaxBurst) {
    return Status(ErrorCode::kInvalidArgument, "icmp burst " + std::to_string(c.burst) +
                                                   " out of range [1, " +
                                                   std::to_string(kMaxBurst) + "]");
  }
  return Status::Ok();
}

IcmpRateLimiter::IcmpRateLimiter(Config c)
    : rate_(std::clamp<uint32_t>(c.rate, 1, kMaxRate)),
      cap_(std::clamp<uint32_t>(c.burst, 1, kMaxBurst) * kNano),
      tokens_(cap_) {}

bool IcmpRateLimiter::Allow(uint64_t now_ns) {
  if (!started_) {
    started_ = true;
    last_ns_ = now_ns;
  } else if (now_ns > last_ns_) {
    // Clamped so that elapsed x rate stays below 2^64: past the time that
    // refills the whole bucket, more time adds nothing.
    const uint64_t elapsed = std::min(now_ns - last_ns_, cap_ / rate_ + 1);
    tokens_ = std::min(cap_, tokens_ + elapsed * rate_);
    last_ns_ = now_ns;
  }
  if (tokens_ < kNano) {
    limited_.Add();
    return false;
  }
  tokens_ -= kNano;
  allowed_.Add();
  return true;
}

ErrorResult MakeIcmpError(const Packet& offending, const proto::Layout& l, IcmpError type,
                          const ErrorOrigin& in, IcmpRateLimiter& limiter, uint64_t now_ns,
                          const FrameAllocator& alloc) {
  const bool v4 = l.ethertype == wire::kEtherTypeIpv4;
  const bool v6 = l.ethertype == wire::kEtherTypeIpv6;
  if (!v4 && !v6) return {nullptr, ErrorSkip::kNotIp};
  const uint8_t* ip = offending.data + l.l3_off;
  // The datagram: up to its IP length, never the Ethernet padding after it
  // (the parse chain trimmed that already; a Layout made elsewhere may not
  // have). A header the frame does not hold is not judged at all.
  uint32_t avail = offending.len > l.l3_off ? offending.len - l.l3_off : 0;
  if (avail < (v4 ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen)) {
    return {nullptr, ErrorSkip::kNotIp};
  }
  if (v4) {
    if ((ip[0] & 0x0fu) * 4 > avail) return {nullptr, ErrorSkip::kNotIp};
    avail = std::min<uint32_t>(avail, Load16(ip + wire::kIpv4TotalLenOffset));
  } else {
    avail =
        std::min<uint32_t>(avail, wire::kIpv6HeaderLen + Load16(ip + wire::kIpv6PayloadLenOffset));
  }
  const ErrorSkip rule = v4 ? Rules4(offending, ip, avail) : Rules6(offending, ip, avail);
  if (rule != ErrorSkip::kCount) return {nullptr, rule};
  if (v4 ? in.ip4 == 0 : in.ip6 == Ip6Addr{}) return {nullptr, ErrorSkip::kNoSource};

  const uint32_t hlen = v4 ? wire::kIpv4MinHeaderLen : wire::kIpv6HeaderLen;
  const uint32_t head = kEther + hlen + kIcmp;
  const uint32_t max_datagram = v4 ? kIcmp4ErrorMaxLen : kIcmp6ErrorMaxLen;
  // RFC 792's minimum quote: the IP header and 8 bytes of what follows.
  const uint32_t min_quote = std::min(avail, v4 ? (ip[0] & 0x0fu) * 4 + 8 : wire::kIpv6HeaderLen);
  if (alloc.capacity < head + min_quote) return {nullptr, ErrorSkip::kNoBuffer};
  if (!limiter.Allow(now_ns)) return {nullptr, ErrorSkip::kRateLimited};
  Packet* p = alloc.alloc(alloc.ctx);
  if (p == nullptr) return {nullptr, ErrorSkip::kNoBuffer};
  const uint32_t quote = std::min({avail, max_datagram - hlen - kIcmp, alloc.capacity - head});

  uint8_t* f = p->data;
  WriteEther(f, offending, in.mac, v4 ? wire::kEtherTypeIpv4 : wire::kEtherTypeIpv6);
  uint8_t* eip = f + kEther;
  uint8_t* icmp = eip + hlen;
  const uint32_t icmp_len = kIcmp + quote;
  switch (type) {
    case IcmpError::kTimeExceeded:
      icmp[0] = v4 ? kIcmpTimeExceeded : kIcmp6TimeExceeded;
      icmp[1] = 0;
      break;
    case IcmpError::kNetUnreachable:
      icmp[0] = v4 ? kIcmpUnreach : kIcmp6Unreach;
      icmp[1] = 0;
      break;
    case IcmpError::kHostUnreachable:
      icmp[0] = v4 ? kIcmpUnreach : kIcmp6Unreach;
      icmp[1] = v4 ? 1 : 3;  // host unreachable / address unreachable
      break;
  }
  Store16(icmp + wire::kIcmpChecksumOffset, 0);
  Store32(icmp + 4, 0);  // unused (RFC 792, RFC 4443 3.1 and 3.3)
  std::memcpy(icmp + kIcmp, ip, quote);

  uint32_t pseudo = 0;
  if (v4) {
    eip[0] = 0x45;
    eip[1] = 0xc0;
    Store16(eip + wire::kIpv4TotalLenOffset, static_cast<uint16_t>(hlen + icmp_len));
    Store16(eip + 4, 0);                           // ID
    Store16(eip + wire::kIpv4FragOffset, 0x4000);  // DF
    eip[wire::kIpv4TtlOffset] = kErrorTtl;
    eip[wire::kIpv4ProtoOffset] = wire::kProtoIcmp;
    Store16(eip + wire::kIpv4ChecksumOffset, 0);
    Store32(eip + wire::kIpv4SrcOffset, in.ip4);
    std::memcpy(eip + wire::kIpv4DstOffset, ip + wire::kIpv4SrcOffset, 4);
    Store16(eip + wire::kIpv4ChecksumOffset, base::Checksum(eip, hlen));
  } else {
    Store32(eip, 0x60000000u);  // version 6, traffic class 0, flow label 0
    Store16(eip + wire::kIpv6PayloadLenOffset, static_cast<uint16_t>(icmp_len));
    eip[wire::kIpv6NextHeaderOffset] = wire::kProtoIcmp6;
    eip[7] = kErrorTtl;
    std::memcpy(eip + wire::kIpv6SrcOffset, in.ip6.data(), 16);
    std::memcpy(eip + wire::kIpv6DstOffset, ip + wire::kIpv6SrcOffset, 16);
    pseudo = base::PseudoHeaderSum6(eip + wire::kIpv6SrcOffset, eip + wire::kIpv6DstOffset,
                                    wire::kProtoIcmp6, icmp_len);
  }
  Store16(icmp + wire::kIcmpChecksumOffset, base::Checksum(icmp, icmp_len, pseudo));
  Finish(p, kEther + hlen + icmp_len, v4 ? wire::kEtherTypeIpv4 : wire::kEtherTypeIpv6, hlen,
         v4 ? wire::kProtoIcmp : wire::kProtoIcmp6);
  return {p, ErrorSkip::kCount};
}

}  // namespace netisr::router
