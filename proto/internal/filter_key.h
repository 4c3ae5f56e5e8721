// The fields EarlyFilter (proto/filter.h) matches, read from a frame in
// place with bounds checks only: what the filter's design note promises,
// in a function of its own so that the fuzzer (fuzz/) can hold it to that
// promise on arbitrary bytes without netisr (no read past pkt.len; on every
// frame the parse chain delivers, the same family, source, protocol and
// port the chain's Layout gives).
#pragma once

#include <cstdint>

#include "netisr/packet.h"

namespace netisr::proto::internal {

// family 0: unclassified (not IPv4/IPv6, or too short for the source).
// No default member initialisers: the filter keeps an array of 64 on the
// stack per burst, and zeroing it cost 2% of a dropped packet; use
// `FilterKey k{}` for a zeroed one.
struct FilterKey {
  uint8_t family;  // 0, 4 or 6
  bool has_proto;
  uint8_t proto;  // IANA number, when has_proto
  bool has_port;
  uint16_t dport;   // TCP/UDP destination port, when has_port
  uint64_t hi, lo;  // source address, left-aligned in 128 bits
};

// Never writes the packet; reads only data[0, len). `at_ip`: the packet has
// no link header (nic::LinkType::kIp), its version nibble is the family.
FilterKey ClassifyForFilter(const Packet& pkt, bool at_ip = false);

}  // namespace netisr::proto::internal
