// Building real Ethernet + IPv4/IPv6 + TCP/UDP frames, for the synthetic
// generator: valid lengths, IPv4 header checksum and TCP/UDP checksums over
// the pseudo-header, TCP data offset matching its options (SYN carries an
// MSS option), frames padded to the 60-byte Ethernet minimum.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "nic/rss.h"

namespace netisr::nic::internal {

inline constexpr size_t kEthHeader = 14;
inline constexpr size_t kEthMinFrame = 60;  // without FCS
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpPsh = 0x08, kTcpAck = 0x10;

// Addresses and ports of one flow, in host order for ports; IPv4 addresses
// use the first 4 bytes of src/dst.
struct FlowTuple {
  bool v6 = false;
  uint8_t proto = kProtoTcp;
  std::array<uint8_t, 16> src{};
  std::array<uint8_t, 16> dst{};
  uint16_t sport = 0;
  uint16_t dport = 0;
};

// The RSS hash a NIC computes for frames of this flow (same input layout as
// ExtractRssTuple; all ports hashed).
RssHash HashTuple(const Toeplitz& t, const FlowTuple& f);

struct TcpFields {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = kTcpAck;
  bool mss_option = false;  // 4-byte MSS option; data offset 6 instead of 5
};

// Bytes of Ethernet + IP + L4 headers for such a frame.
size_t HeaderBytes(const FlowTuple& f, bool mss_option);

// Writes a whole frame into `buf` (room for max(HeaderBytes + payload_len,
// kEthMinFrame) bytes) with `payload` (payload_len bytes) as the L4 payload
// and returns its length. `tcp` is ignored for UDP.
size_t BuildFrame(uint8_t* buf, const FlowTuple& f, const TcpFields& tcp, uint16_t ip_id,
                  const uint8_t* payload, size_t payload_len);

}  // namespace netisr::nic::internal
