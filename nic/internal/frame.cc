#include "nic/internal/frame.h"

#include <cstring>
#include <span>

#include "base/checksum.h"
#include "base/wire.h"

namespace netisr::nic::internal {

namespace {

using base::Store16;
using base::Store32;

// Locally administered unicast MACs (02:...): generator -> device under test.
constexpr uint8_t kDstMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kSrcMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

}  // namespace

RssHash HashTuple(const Toeplitz& t, const FlowTuple& f) {
  std::array<uint8_t, kMaxRssInput> in;
  const size_t alen = f.v6 ? 16 : 4;
  std::memcpy(in.data(), f.src.data(), alen);
  std::memcpy(in.data() + alen, f.dst.data(), alen);
  Store16(in.data() + 2 * alen, f.sport);
  Store16(in.data() + 2 * alen + 2, f.dport);
  const bool tcp = f.proto == kProtoTcp;
  const HashType type = f.v6 ? (tcp ? HashType::kTcpIpv6 : HashType::kUdpIpv6)
                             : (tcp ? HashType::kTcpIpv4 : HashType::kUdpIpv4);
  return {t.Hash({in.data(), 2 * alen + 4}), type};
}

size_t HeaderBytes(const FlowTuple& f, bool mss_option) {
  const size_t l4 = f.proto == kProtoTcp ? (mss_option ? 24 : 20) : 8;
  return kEthHeader + (f.v6 ? 40 : 20) + l4;
}

size_t BuildFrame(uint8_t* buf, const FlowTuple& f, const TcpFields& tcp, uint16_t ip_id,
                  const uint8_t* payload, size_t payload_len) {
  const bool is_tcp = f.proto == kProtoTcp;
  const bool mss = is_tcp && tcp.mss_option;
  const size_t l3_off = kEthHeader;
  const size_t l3_len = f.v6 ? 40 : 20;
  const size_t l4_off = l3_off + l3_len;
  const size_t l4_hdr = is_tcp ? (mss ? 24 : 20) : 8;
  const size_t l4_len = l4_hdr + payload_len;
  const size_t len = l4_off + l4_len;

  std::memcpy(buf, kDstMac, 6);
  std::memcpy(buf + 6, kSrcMac, 6);
  Store16(buf + 12, f.v6 ? 0x86dd : 0x0800);

  uint8_t* ip = buf + l3_off;
  if (f.v6) {
    Store32(ip, 0x60000000u);  // version 6, no traffic class, no flow label
    Store16(ip + 4, static_cast<uint16_t>(l4_len));
    ip[6] = f.proto;
    ip[7] = 64;  // hop limit
    std::memcpy(ip + 8, f.src.data(), 16);
    std::memcpy(ip + 24, f.dst.data(), 16);
  } else {
    ip[0] = 0x45;
    ip[1] = 0;
    Store16(ip + 2, static_cast<uint16_t>(l3_len + l4_len));
    Store16(ip + 4, ip_id);
    Store16(ip + 6, 0x4000);  // DF, not a fragment
    ip[8] = 64;               // TTL
    ip[9] = f.proto;
    Store16(ip + 10, 0);
    std::memcpy(ip + 12, f.src.data(), 4);
    std::memcpy(ip + 16, f.dst.data(), 4);
    Store16(ip + 10, base::Checksum(ip, 20));
  }

  uint8_t* l4 = buf + l4_off;
  Store16(l4, f.sport);
  Store16(l4 + 2, f.dport);
  size_t csum_off;
  if (is_tcp) {
    Store32(l4 + 4, tcp.seq);
    Store32(l4 + 8, (tcp.flags & kTcpAck) ? tcp.ack : 0);
    l4[12] = static_cast<uint8_t>((l4_hdr / 4) << 4);
    l4[13] = tcp.flags;
    Store16(l4 + 14, 65535);  // window
    Store16(l4 + 16, 0);      // checksum, below
    Store16(l4 + 18, 0);      // urgent pointer
    if (mss) {
      l4[20] = 2;  // kind MSS
      l4[21] = 4;
      Store16(l4 + 22, f.v6 ? 1440 : 1460);
    }
    csum_off = 16;
  } else {
    Store16(l4 + 4, static_cast<uint16_t>(l4_len));
    Store16(l4 + 6, 0);
    csum_off = 6;
  }
  if (payload_len > 0) std::memcpy(l4 + l4_hdr, payload, payload_len);
  const uint32_t pseudo = f.v6 ? base::PseudoHeaderSum6(f.src.data(), f.dst.data(), f.proto,
                                                        static_cast<uint32_t>(l4_len))
                               : base::PseudoHeaderSum4(f.src.data(), f.dst.data(), f.proto,
                                                        static_cast<uint16_t>(l4_len));
  uint16_t csum = base::Checksum(l4, l4_len, pseudo);
  if (!is_tcp && csum == 0) csum = 0xffff;  // UDP: 0 means "no checksum"
  Store16(l4 + csum_off, csum);

  if (len < kEthMinFrame) {
    std::memset(buf + len, 0, kEthMinFrame - len);
    return kEthMinFrame;
  }
  return len;
}

}  // namespace netisr::nic::internal
