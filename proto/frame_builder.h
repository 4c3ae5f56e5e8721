// FrameBuilder: well-formed Ethernet frames with correct lengths and
// checksums, for synthetic traffic, tests, benchmarks and fuzzer seeds.
//
// It writes headers through proto/wire.h and checksums through
// base/checksum.h, the same definitions the parsers read, so the tests of
// the parsers use hand-written byte arrays as well (tests/proto/parse_test):
// a frame built here proves consistency, a frame written byte by byte proves
// conformance.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace netisr::proto {

struct FrameSpec {
  enum class L4 : uint8_t { kTcp, kUdp, kIcmpEcho };  // kIcmpEcho: ICMPv6 over IPv6
  bool ipv6 = false;
  L4 l4 = L4::kUdp;
  std::vector<uint16_t> vlans;  // TCIs, outermost first; the first of two is 802.1ad
  std::array<uint8_t, 4> src4 = {10, 0, 0, 1}, dst4 = {10, 0, 0, 2};
  std::array<uint8_t, 16> src6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<uint8_t, 16> dst6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  uint16_t src_port = 1024, dst_port = 80;  // ICMP echo: id = src_port, seq = dst_port
  uint32_t payload = 0;                     // payload bytes (a counting pattern)
  uint8_t ip_option_words = 0;              // IPv4: NOP-padded option words after the header
  bool tcp_options = false;  // TCP: MSS, SACK-permitted, timestamps, NOP, window scale
  // TCP, without tcp_options: NOP, NOP, timestamps (12 bytes), as the
  // segments of an established connection carry them (RFC 7323 appendix A).
  bool tcp_timestamps = false;
  // IPv6: hop-by-hop first, then destination options headers, 8 bytes each.
  uint8_t ip6_ext_headers = 0;
  uint32_t pad_to = 0;  // Ethernet padding: zero bytes up to this frame length (60: minimum)
};

std::vector<uint8_t> BuildFrame(const FrameSpec& spec);
// An ARP request (who-has tpa tell spa) in an Ethernet frame.
std::vector<uint8_t> BuildArpRequest(std::array<uint8_t, 4> spa, std::array<uint8_t, 4> tpa);

// Where BuildFrame put things, for tests that break one field. l3 is the IP
// header, l4 the TCP/UDP/ICMP header.
struct FrameOffsets {
  uint32_t l3 = 0, l4 = 0;
};
FrameOffsets OffsetsOf(const FrameSpec& spec);

}  // namespace netisr::proto
