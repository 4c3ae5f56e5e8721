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
struct FilterKey {
  uint8_t family = 0;  // 0, 4 or 6
  bool has_proto = false;
  uint8_t proto = 0;  // IANA number, when has_proto
  bool has_port = false;
  uint16_t dport = 0;       // TCP/UDP destination port, when has_port
  uint64_t hi = 0, lo = 0;  // source address, left-aligned in 128 bits
};

// Never writes the packet; reads only data[0, len).
FilterKey ClassifyForFilter(const Packet& pkt);

}  // namespace netisr::proto::internal
