// Receive-side scaling in software: the Toeplitz hash a NIC computes over a
// packet's addresses and ports, the tuple extraction it does first, and the
// redirection table (RETA) that turns a hash into an RX queue.
//
// Follows Microsoft's RSS specification ("RSS hashing functions",
// "Verifying the RSS hash calculation"): the hash input is, in network byte
// order, source address, destination address, and for the 4-tuple types
// source port, destination port; the key is 40 bytes, which covers inputs
// up to 36 bytes (IPv6 4-tuple). tests/nic/rss_test.cc checks every row of
// the published verification table, IPv4 and IPv6, 2- and 4-tuple.
//
// Speed: Toeplitz is linear over GF(2), so the hash of an input is the XOR
// over its bytes of a per-(offset, byte value) 32-bit word. Those words are
// precomputed (36 offsets x 256 values x 4 B = 36 KiB, built once per key),
// and hashing costs one load and XOR per input byte (two XOR chains): 3.3 ns
// for an IPv4 4-tuple and 8.7 ns for IPv6, against 180 ns for the
// bit-by-bit reference (HashSlow); parsing the frame first (HashFrame) makes
// it 7 / 21 ns (untagged option-less IPv4 TCP/UDP hashes its 4-tuple in
// place in the frame; the general parse-and-copy path takes 12 ns for it). 2-vCPU AMD EPYC KVM
// guest at 2.6 GHz, -c opt, benchmarks/nic/nic_bench.cc. This is the table method of FreeBSD's
// toeplitz.c cache and of DPDK's rte_softrss; the price is a 36 KiB table
// that competes for L1 with the packet path (the IPv4 4-tuple touches only
// 12 KiB of it).
//
// The hash becomes netisr's flowid: FreeBSD does the same with the NIC's
// hash (M_HASHTYPE_RSS_*), so software and hardware RSS agree on flows.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "netisr/packet.h"

namespace netisr::nic {

// The key from Microsoft's verification suite, also the default of many
// NICs and of FreeBSD's RSS_KEYSIZE key.
inline constexpr std::array<uint8_t, 40> kDefaultRssKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

// Longest hash input: IPv6 source + destination + two ports.
inline constexpr size_t kMaxRssInput = 36;

// The Toeplitz hash under one key. Immutable after construction, so one
// instance may be shared by every thread.
class Toeplitz {
 public:
  // `key` must be exactly 40 bytes (kMaxRssInput + 4); checked with assert.
  explicit Toeplitz(std::span<const uint8_t> key = kDefaultRssKey);

  // Hash of `input` (at most kMaxRssInput bytes, checked with assert).
  uint32_t Hash(std::span<const uint8_t> input) const {
    // Two XOR chains, so the loads of one do not wait for the other's XORs.
    const uint8_t* in = input.data();
    const size_t n = input.size();
    uint32_t h0 = 0, h1 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      h0 ^= table_[i][in[i]] ^ table_[i + 1][in[i + 1]];
      h1 ^= table_[i + 2][in[i + 2]] ^ table_[i + 3][in[i + 3]];
    }
    // The table's bound is stated too: without it GCC 12 cannot bound this
    // loop where Hash is inlined and warns (-Waggressive-loop-optimizations).
    for (; i < n && i < kMaxRssInput; ++i) h0 ^= table_[i][in[i]];
    return h0 ^ h1;
  }

  // Hash of the 12 bytes at `in` (the IPv4 4-tuple), fully unrolled: the
  // per-packet case of software RSS, ~25 instructions instead of ~45.
  uint32_t Hash12(const uint8_t* in) const {
    uint32_t h0 = 0, h1 = 0;
#pragma GCC unroll 6
    for (size_t i = 0; i < 12; i += 2) {
      h0 ^= table_[i][in[i]];
      h1 ^= table_[i + 1][in[i + 1]];
    }
    return h0 ^ h1;
  }

  // The shared instance for kDefaultRssKey.
  static const Toeplitz& Default();

  // Bit-by-bit reference (the specification's pseudo-code), for tests.
  static uint32_t HashSlow(std::span<const uint8_t> key, std::span<const uint8_t> input);

 private:
  std::array<std::array<uint32_t, 256>, kMaxRssInput> table_;
};

// The fields RSS hashes, extracted from a frame, in hash-input order.
struct RssTuple {
  HashType type = HashType::kNone;  // kNone: not hashable (not IP, too short)
  uint8_t len = 0;                  // bytes of `bytes` in use: 8, 12, 32 or 36
  std::array<uint8_t, kMaxRssInput> bytes{};

  std::span<const uint8_t> input() const { return {bytes.data(), len}; }
};

// Which hash types a port computes, as a NIC's RSS configuration says
// (ETH_RSS_* in DPDK). Without `udp_ports`, UDP is hashed on addresses only,
// as many NICs do by default because of fragments.
struct RssFields {
  bool tcp_ports = true;
  bool udp_ports = true;
};

// Parses an Ethernet frame (one 802.1Q tag allowed) the way a NIC's parser
// does: IPv4 (ports only when not a fragment) or IPv6 (ports only when TCP
// or UDP is the first next header; extension headers are not walked).
RssTuple ExtractRssTuple(std::span<const uint8_t> frame, RssFields fields = {});

// Whether `frame` is untagged IPv4 (EtherType 0x0800 at bytes 12-13).
inline bool IsUntaggedIpv4(std::span<const uint8_t> frame) {
  return frame.size() >= 14 && frame[12] == 0x08 && frame[13] == 0x00;
}

struct RssHash {
  uint32_t hash = 0;
  HashType type = HashType::kNone;
};

// The flowid RSS puts on a received TCP segment from src:sport to
// dst:dport (both addresses IPv4, 4 bytes, or IPv6, 16): the Toeplitz hash
// of the addresses, then of the ports when fields.tcp_ports, in RSS input
// order. What a stack that opens a connection predicts for the segments
// coming back (Port::rx_flow_hash).
uint32_t TcpFlowHash(const Toeplitz& t, RssFields fields, std::span<const uint8_t> src,
                     std::span<const uint8_t> dst, uint16_t sport, uint16_t dport);

// ExtractRssTuple then the Toeplitz hash; {0, kNone} for frames RSS skips.
RssHash HashFrame(const Toeplitz& t, std::span<const uint8_t> frame, RssFields fields = {});

// The same for a packet without link header (LinkType::kIp): IPv4 or IPv6 by
// its version nibble.
RssTuple ExtractIpRssTuple(std::span<const uint8_t> packet, RssFields fields = {});
RssHash HashIpPacket(const Toeplitz& t, std::span<const uint8_t> packet, RssFields fields = {});

// Redirection table: hash -> RX queue, by the hash's low bits, as a NIC's
// RETA (128 entries on Intel 82599/X710 VFs and Microsoft's minimum; 512 on
// larger parts). Immutable, shareable.
class Reta {
 public:
  // `size` entries (a power of two in [1, 4096]) spread over `num_queues`
  // queues (in [1, 64]) round-robin: entry i -> i % num_queues.
  static Result<Reta> Create(uint16_t num_queues, uint32_t size = 128);
  // Entries in proportion to `weights` (one per queue, not all zero),
  // interleaved (smooth weighted round-robin) so each queue's entries are
  // spread over the table. Weights {1, 1, 2} give queue 2 half the entries.
  static Result<Reta> Weighted(std::span<const uint32_t> weights, uint32_t size = 128);

  uint16_t Queue(uint32_t hash) const { return table_[hash & mask_]; }
  uint32_t size() const { return static_cast<uint32_t>(table_.size()); }
  uint16_t num_queues() const { return num_queues_; }
  uint16_t entry(uint32_t i) const { return table_[i]; }
  // Fraction of the entries that point at `queue`.
  double Share(uint16_t queue) const;

 private:
  Reta(std::vector<uint16_t> table, uint16_t num_queues)
      : table_(std::move(table)),
        mask_(static_cast<uint32_t>(table_.size() - 1)),
        num_queues_(num_queues) {}
  std::vector<uint16_t> table_;
  uint32_t mask_;
  uint16_t num_queues_;
};

}  // namespace netisr::nic
