#include "tcp/segment.h"

#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/flow_hash.h"
#include "proto/internal/options.h"
#include "proto/wire.h"

namespace netisr::tcp {
namespace {

namespace wire = proto::wire;

uint32_t PseudoSum(inpcb::Family family, const inpcb::IpAddr& src, const inpcb::IpAddr& dst,
                   size_t len) {
  if (family == inpcb::Family::kIPv4) {
    return base::PseudoHeaderSum4(src.bytes.data(), dst.bytes.data(), wire::kProtoTcp,
                                  static_cast<uint16_t>(len));
  }
  return base::PseudoHeaderSum6(src.bytes.data(), dst.bytes.data(), wire::kProtoTcp,
                                static_cast<uint32_t>(len));
}

// Extracts the options the bounds walk (TcpOptionsOk) already accepted.
void ExtractOptions(const uint8_t* p, size_t len, Options* o) {
  size_t i = 0;
  while (i < len) {
    const uint8_t kind = p[i];
    if (kind == wire::kTcpOptEol) return;
    if (kind == wire::kTcpOptNop) {
      ++i;
      continue;
    }
    const uint8_t olen = p[i + 1];
    const uint8_t* v = p + i + 2;
    switch (kind) {
      case wire::kTcpOptMss:
        o->has_mss = true;
        o->mss = base::Load16(v);
        break;
      case wire::kTcpOptWindowScale:
        o->has_wscale = true;
        o->wscale = v[0];
        break;
      case wire::kTcpOptSackPermitted:
        o->sack_permitted = true;
        break;
      case wire::kTcpOptTimestamps:
        o->has_ts = true;
        o->ts_val = base::Load32(v);
        o->ts_ecr = base::Load32(v + 4);
        break;
      case wire::kTcpOptSack:
        o->sack_count = static_cast<uint8_t>((olen - 2) / 8);
        for (int b = 0; b < o->sack_count; ++b) {
          o->sack[b].left = base::Load32(v + 8 * b);
          o->sack[b].right = base::Load32(v + 8 * b + 4);
        }
        break;
      default:
        break;
    }
    i += olen;
  }
}

}  // namespace

DecodeError DecodeSegment(inpcb::Family family, const inpcb::IpAddr& src, const inpcb::IpAddr& dst,
                          const uint8_t* l4, size_t len, bool verify_checksum, Segment* out) {
  if (len < wire::kTcpMinHeaderLen) return DecodeError::kTruncated;
  const size_t hlen = (l4[wire::kTcpDataOffsetOffset] >> 4) * 4u;
  if (hlen < wire::kTcpMinHeaderLen || hlen > len) return DecodeError::kBadDataOffset;
  const uint8_t* opts = l4 + wire::kTcpMinHeaderLen;
  const size_t opts_len = hlen - wire::kTcpMinHeaderLen;
  if (!proto::internal::TcpOptionsOk(opts, opts_len)) return DecodeError::kBadOptions;
  if (verify_checksum && !base::ChecksumOk(l4, len, PseudoSum(family, src, dst, len))) {
    return DecodeError::kBadChecksum;
  }
  Segment s;
  s.tuple.family = family;
  s.tuple.laddr = dst;
  s.tuple.faddr = src;
  s.tuple.fport = base::Load16(l4);
  s.tuple.lport = base::Load16(l4 + 2);
  s.seq = base::Load32(l4 + 4);
  s.ack = base::Load32(l4 + 8);
  s.flags = l4[13];
  s.window = base::Load16(l4 + 14);
  ExtractOptions(opts, opts_len, &s.opt);
  s.payload = l4 + hlen;
  s.payload_len = static_cast<uint32_t>(len - hlen);
  s.flowid = out->flowid;  // the caller's (the NIC's or netisr's) flowid
  *out = s;
  return DecodeError::kNone;
}

size_t EncodeSegment(const Segment& seg, uint8_t* out, size_t cap) {
  uint8_t opts[40];
  size_t n = 0;
  const Options& o = seg.opt;
  if (o.has_mss) {
    opts[n++] = wire::kTcpOptMss;
    opts[n++] = 4;
    base::Store16(opts + n, o.mss);
    n += 2;
  }
  if (o.has_ts) {
    if (o.sack_permitted) {
      opts[n++] = wire::kTcpOptSackPermitted;
      opts[n++] = 2;
    } else {
      opts[n++] = wire::kTcpOptNop;
      opts[n++] = wire::kTcpOptNop;
    }
    opts[n++] = wire::kTcpOptTimestamps;
    opts[n++] = 10;
    base::Store32(opts + n, o.ts_val);
    base::Store32(opts + n + 4, o.ts_ecr);
    n += 8;
  } else if (o.sack_permitted) {
    opts[n++] = wire::kTcpOptNop;
    opts[n++] = wire::kTcpOptNop;
    opts[n++] = wire::kTcpOptSackPermitted;
    opts[n++] = 2;
  }
  if (o.has_wscale) {
    opts[n++] = wire::kTcpOptNop;
    opts[n++] = wire::kTcpOptWindowScale;
    opts[n++] = 3;
    opts[n++] = o.wscale;
  }
  if (o.sack_count > 0) {
    const size_t room = (sizeof(opts) - n - 4) / 8;
    const size_t blocks = o.sack_count < room ? o.sack_count : room;
    if (blocks > 0) {
      opts[n++] = wire::kTcpOptNop;
      opts[n++] = wire::kTcpOptNop;
      opts[n++] = wire::kTcpOptSack;
      opts[n++] = static_cast<uint8_t>(2 + 8 * blocks);
      for (size_t b = 0; b < blocks; ++b) {
        base::Store32(opts + n, o.sack[b].left);
        base::Store32(opts + n + 4, o.sack[b].right);
        n += 8;
      }
    }
  }
  while (n % 4 != 0) opts[n++] = wire::kTcpOptEol;
  const size_t hlen = wire::kTcpMinHeaderLen + n;
  const size_t total = hlen + seg.payload_len;
  if (total > cap) return 0;
  base::Store16(out, seg.tuple.lport);
  base::Store16(out + 2, seg.tuple.fport);
  base::Store32(out + 4, seg.seq);
  base::Store32(out + 8, seg.ack);
  out[12] = static_cast<uint8_t>((hlen / 4) << 4);
  out[13] = seg.flags;
  base::Store16(out + 14, seg.window);
  base::Store16(out + wire::kTcpChecksumOffset, 0);
  base::Store16(out + 18, 0);  // urgent pointer: urgent data is not sent
  std::memcpy(out + wire::kTcpMinHeaderLen, opts, n);
  if (seg.payload_len > 0) std::memcpy(out + hlen, seg.payload, seg.payload_len);
  const uint16_t sum = base::Checksum(
      out, total, PseudoSum(seg.tuple.family, seg.tuple.laddr, seg.tuple.faddr, total));
  base::Store16(out + wire::kTcpChecksumOffset, sum);
  return total;
}

uint32_t FlowIdOf(const inpcb::FourTuple& t) {
  // Wire order as the incoming segment carries it: src = faddr, dst = laddr.
  uint8_t b[36];
  const size_t alen = t.family == inpcb::Family::kIPv4 ? 4 : 16;
  std::memcpy(b, t.faddr.bytes.data(), alen);
  std::memcpy(b + alen, t.laddr.bytes.data(), alen);
  base::Store16(b + 2 * alen, t.fport);
  base::Store16(b + 2 * alen + 2, t.lport);
  return proto::HashBytes(b, 2 * alen + 4);
}

}  // namespace netisr::tcp
