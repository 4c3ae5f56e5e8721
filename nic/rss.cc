#include "nic/rss.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

#include "base/wire.h"

namespace netisr::nic {

namespace {

// Bit `pos` of the key, MSB of byte 0 first; bits past the end are zero.
int KeyBit(std::span<const uint8_t> key, size_t pos) {
  if (pos / 8 >= key.size()) return 0;
  return (key[pos / 8] >> (7 - pos % 8)) & 1;
}

// The 32-bit key window starting at bit `pos`.
uint32_t KeyWindow(std::span<const uint8_t> key, size_t pos) {
  uint32_t w = 0;
  for (size_t b = 0; b < 32; ++b) w = (w << 1) | static_cast<uint32_t>(KeyBit(key, pos + b));
  return w;
}

using base::Load16;

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint8_t kIpTcp = 6;
constexpr uint8_t kIpUdp = 17;

}  // namespace

Toeplitz::Toeplitz(std::span<const uint8_t> key) {
  assert(key.size() == kMaxRssInput + 4);
  for (size_t i = 0; i < kMaxRssInput; ++i) {
    // Input bit j of byte i (MSB first) contributes the window at 8i + j.
    std::array<uint32_t, 8> bit_window;
    for (size_t j = 0; j < 8; ++j) bit_window[j] = KeyWindow(key, 8 * i + j);
    for (uint32_t v = 0; v < 256; ++v) {
      uint32_t h = 0;
      for (size_t j = 0; j < 8; ++j) {
        if (v & (0x80u >> j)) h ^= bit_window[j];
      }
      table_[i][v] = h;
    }
  }
}

const Toeplitz& Toeplitz::Default() {
  static const Toeplitz t(kDefaultRssKey);
  return t;
}

uint32_t Toeplitz::HashSlow(std::span<const uint8_t> key, std::span<const uint8_t> input) {
  uint32_t result = 0;
  for (size_t bit = 0; bit < input.size() * 8; ++bit) {
    if ((input[bit / 8] >> (7 - bit % 8)) & 1) result ^= KeyWindow(key, bit);
  }
  return result;
}

namespace {

// The tuple of the IP packet at `l3` (l3_len bytes), of EtherType `ethertype`
// (anything but IPv4 and IPv6: not hashable).
RssTuple ExtractFromL3(const uint8_t* l3, size_t l3_len, uint16_t ethertype, RssFields fields) {
  RssTuple t;
  uint8_t proto;
  size_t l4_off;
  bool ports_ok;
  size_t addr_len;
  const uint8_t* addrs;
  if (ethertype == kEthIpv4) {
    if (l3_len < 20 || (l3[0] >> 4) != 4) return t;
    const size_t ihl = (l3[0] & 0x0f) * 4u;
    if (ihl < 20 || l3_len < ihl) return t;
    proto = l3[9];
    // Not a fragment: MF clear and offset zero (only then are ports there).
    ports_ok = (Load16(l3 + 6) & 0x3fff) == 0;
    l4_off = ihl;
    addr_len = 4;
    addrs = l3 + 12;
  } else if (ethertype == kEthIpv6) {
    if (l3_len < 40 || (l3[0] >> 4) != 6) return t;
    proto = l3[6];
    ports_ok = true;
    l4_off = 40;
    addr_len = 16;
    addrs = l3 + 8;
  } else {
    return t;
  }
  const bool v6 = addr_len == 16;
  std::memcpy(t.bytes.data(), addrs, 2 * addr_len);
  t.len = static_cast<uint8_t>(2 * addr_len);
  t.type = v6 ? HashType::kIpv6 : HashType::kIpv4;
  const bool want_ports =
      (proto == kIpTcp && fields.tcp_ports) || (proto == kIpUdp && fields.udp_ports);
  if (want_ports && ports_ok && l3_len >= l4_off + 4) {
    std::memcpy(t.bytes.data() + t.len, l3 + l4_off, 4);
    t.len += 4;
    if (proto == kIpTcp) {
      t.type = v6 ? HashType::kTcpIpv6 : HashType::kTcpIpv4;
    } else {
      t.type = v6 ? HashType::kUdpIpv6 : HashType::kUdpIpv4;
    }
  }
  return t;
}

}  // namespace

RssTuple ExtractRssTuple(std::span<const uint8_t> frame, RssFields fields) {
  if (frame.size() < 14) return {};
  size_t off = 12;
  uint16_t ethertype = Load16(&frame[off]);
  off += 2;
  if (ethertype == kEthVlan) {
    if (frame.size() < off + 4) return {};
    ethertype = Load16(&frame[off + 2]);
    off += 4;
  }
  return ExtractFromL3(frame.data() + off, frame.size() - off, ethertype, fields);
}

RssTuple ExtractIpRssTuple(std::span<const uint8_t> packet, RssFields fields) {
  if (packet.empty()) return {};
  const uint8_t version = packet[0] >> 4;
  const uint16_t type = version == 4 ? kEthIpv4 : version == 6 ? kEthIpv6 : 0;
  return ExtractFromL3(packet.data(), packet.size(), type, fields);
}

RssHash HashIpPacket(const Toeplitz& t, std::span<const uint8_t> packet, RssFields fields) {
  const RssTuple tuple = ExtractIpRssTuple(packet, fields);
  if (tuple.type == HashType::kNone) return {};
  return {t.Hash(tuple.input()), tuple.type};
}

namespace {

// HashFrame's general case, out of line: its RssTuple on the stack (and
// the stack protector's check that comes with an array there) stays off
// the fast path.
[[gnu::noinline]] RssHash HashFrameGeneral(const Toeplitz& t, std::span<const uint8_t> frame,
                                           RssFields fields) {
  const RssTuple tuple = ExtractRssTuple(frame, fields);
  if (tuple.type == HashType::kNone) return {};
  return {t.Hash(tuple.input()), tuple.type};
}

}  // namespace

uint32_t TcpFlowHash(const Toeplitz& t, RssFields fields, std::span<const uint8_t> src,
                     std::span<const uint8_t> dst, uint16_t sport, uint16_t dport) {
  uint8_t in[kMaxRssInput];
  const size_t a = std::min(src.size(), size_t{16});
  std::memcpy(in, src.data(), a);
  std::memcpy(in + a, dst.data(), a);
  size_t n = 2 * a;
  if (fields.tcp_ports) {
    base::Store16(in + n, sport);
    base::Store16(in + n + 2, dport);
    n += 4;
  }
  return t.Hash({in, n});
}

RssHash HashFrame(const Toeplitz& t, std::span<const uint8_t> frame, RssFields fields) {
  // Fast path for the common frame: untagged IPv4 without options, not a
  // fragment, TCP or UDP with its ports hashed. Then the 4-tuple (source,
  // destination, source port, destination port) is already contiguous in
  // the frame, at bytes 26..37, in hash-input order: hash it in place rather
  // than parse it generically and copy it into an RssTuple (13 -> ~5 ns a
  // frame, benchmarks/nic/nic_bench BM_HashFrame vs BM_HashFrameGeneric).
  // Same result as the general path, which the rss tests check on both.
  constexpr size_t kIpv4 = 14, kL4 = kIpv4 + 20;
  if (frame.size() >= kL4 + 4 && Load16(&frame[12]) == kEthIpv4 && frame[kIpv4] == 0x45 &&
      (Load16(&frame[kIpv4 + 6]) & 0x3fff) == 0) {
    const uint8_t proto = frame[kIpv4 + 9];
    if ((proto == kIpTcp && fields.tcp_ports) || (proto == kIpUdp && fields.udp_ports)) {
      return {t.Hash12(&frame[kIpv4 + 12]),
              proto == kIpTcp ? HashType::kTcpIpv4 : HashType::kUdpIpv4};
    }
  }
  return HashFrameGeneral(t, frame, fields);
}

Result<Reta> Reta::Create(uint16_t num_queues, uint32_t size) {
  if (num_queues < 1 || num_queues > 64)
    return Status(ErrorCode::kInvalidArgument,
                  "reta num_queues " + std::to_string(num_queues) + " out of range [1, 64]");
  std::vector<uint32_t> w(num_queues, 1);
  return Weighted(w, size);
}

Result<Reta> Reta::Weighted(std::span<const uint32_t> weights, uint32_t size) {
  if (size < 1 || size > 4096 || (size & (size - 1)))
    return Status(ErrorCode::kInvalidArgument,
                  "reta size " + std::to_string(size) + " must be a power of two in [1, 4096]");
  if (weights.empty() || weights.size() > 64)
    return Status(ErrorCode::kInvalidArgument,
                  "reta needs 1..64 queue weights, got " + std::to_string(weights.size()));
  int64_t total = 0;
  for (uint32_t w : weights) total += w;
  if (total == 0) return Status(ErrorCode::kInvalidArgument, "reta weights are all zero");
  // Smooth weighted round-robin (nginx's): every step each queue gains its
  // weight, the richest is chosen and pays the total. Equal weights give
  // 0, 1, 2, ...; {1, 1, 2} gives 2, 0, 1, 2, ...
  std::vector<int64_t> credit(weights.size(), 0);
  std::vector<uint16_t> table(size);
  for (uint32_t i = 0; i < size; ++i) {
    size_t best = 0;
    for (size_t q = 0; q < weights.size(); ++q) {
      credit[q] += weights[q];
      if (credit[q] > credit[best]) best = q;
    }
    credit[best] -= total;
    table[i] = static_cast<uint16_t>(best);
  }
  return Reta(std::move(table), static_cast<uint16_t>(weights.size()));
}

double Reta::Share(uint16_t queue) const {
  size_t n = 0;
  for (uint16_t q : table_) n += q == queue;
  return static_cast<double>(n) / static_cast<double>(table_.size());
}

}  // namespace netisr::nic
