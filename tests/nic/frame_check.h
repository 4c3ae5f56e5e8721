// Independent checks of generated frames for the NIC tests: decodes
// Ethernet + IPv4/IPv6 + TCP/UDP with its own code (not nic/internal's) and
// verifies lengths and checksums the way a receiver would (the one's
// complement sum over a header or pseudo-header plus segment, checksum
// included, must be 0xffff).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "nic/synthetic.h"

namespace netisr::nic::testing {

struct Decoded {
  bool v6 = false;
  uint8_t proto = 0;
  uint8_t tcp_flags = 0;
  size_t l4_off = 0;
  size_t payload_off = 0;
  size_t payload_len = 0;
  bool has_mss = false;
  bool has_mark = false;
  PayloadMark mark{};
};

inline uint32_t Be16(const uint8_t* p) { return (uint32_t{p[0]} << 8) | p[1]; }

// One's complement sum, folded (not complemented).
inline uint32_t OnesSum(const uint8_t* p, size_t n, uint64_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += Be16(p + i);
  if (n & 1) acc += uint32_t{p[n - 1]} << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint32_t>(acc);
}

// Empty string if the frame is valid, else what is wrong.
inline std::string CheckFrame(std::span<const uint8_t> f, Decoded* d) {
  if (f.size() < 60) return "shorter than 60 bytes";
  const uint32_t ethertype = Be16(&f[12]);
  const uint8_t* ip = f.data() + 14;
  size_t ip_end;
  uint64_t pseudo = 0;
  size_t l4_len;
  if (ethertype == 0x0800) {
    if ((ip[0] >> 4) != 4 || (ip[0] & 15) != 5) return "bad IPv4 version/IHL";
    if (OnesSum(ip, 20) != 0xffff) return "bad IPv4 header checksum";
    const uint32_t total = Be16(ip + 2);
    ip_end = 14 + total;
    if (ip_end > f.size() || (ip_end < f.size() && f.size() != 60))
      return "IPv4 total length " + std::to_string(total) + " vs frame " + std::to_string(f.size());
    if ((Be16(ip + 6) & 0x3fff) != 0) return "fragment";
    d->v6 = false;
    d->proto = ip[9];
    d->l4_off = 34;
    l4_len = total - 20;
    pseudo = OnesSum(ip + 12, 8) + uint64_t{d->proto} + l4_len;
  } else if (ethertype == 0x86dd) {
    if ((ip[0] >> 4) != 6) return "bad IPv6 version";
    l4_len = Be16(ip + 4);
    ip_end = 54 + l4_len;
    if (ip_end > f.size() || (ip_end < f.size() && f.size() != 60))
      return "IPv6 payload length vs frame";
    d->v6 = true;
    d->proto = ip[6];
    d->l4_off = 54;
    pseudo = OnesSum(ip + 8, 32) + uint64_t{d->proto} + l4_len;
  } else {
    return "not IP";
  }
  const uint8_t* l4 = f.data() + d->l4_off;
  if (d->proto == 6) {
    const size_t doff = (l4[12] >> 4) * 4u;
    if (doff < 20 || doff > l4_len) return "bad TCP data offset";
    d->tcp_flags = l4[13];
    if (doff == 24) {
      if (l4[20] != 2 || l4[21] != 4) return "24-byte TCP header without MSS option";
      d->has_mss = true;
    }
    if ((d->tcp_flags & 0x02) && !d->has_mss) return "SYN without MSS option";
    d->payload_off = d->l4_off + doff;
  } else if (d->proto == 17) {
    if (Be16(l4 + 4) != l4_len) return "UDP length";
    if (Be16(l4 + 6) == 0) return "UDP checksum missing";
    d->payload_off = d->l4_off + 8;
  } else {
    return "not TCP/UDP";
  }
  if (OnesSum(l4, l4_len, pseudo) != 0xffff) return "bad L4 checksum";
  d->payload_len = ip_end - d->payload_off;
  d->has_mark = d->payload_len >= sizeof(PayloadMark);
  if (d->has_mark) {
    std::memcpy(&d->mark, f.data() + d->payload_off, sizeof(PayloadMark));
    if (d->mark.magic != kPayloadMagic) return "payload mark without magic";
  }
  return "";
}

}  // namespace netisr::nic::testing
