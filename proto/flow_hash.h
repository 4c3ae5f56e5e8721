// Flowids from packet headers, for the protocols registered under the flow
// policy when the packet arrives without one (netisr's m2flow hook).
//
// The hash covers the 4-tuple (addresses and ports) of unfragmented TCP and
// UDP, else the 2-tuple (addresses), and records which in Packet::hash_type
// like FreeBSD's M_HASHTYPE_RSS_*. It is a multiply-rotate mix of the tuple's
// 64-bit words with a MurmurHash3 finalizer: every input bit reaches every
// output bit, so flowids spread evenly over workstreams and flow buckets.
// It is neither keyed nor Toeplitz: a sender who picks tuples can aim at one
// bucket (use a NIC's keyed Toeplitz hash, set by the NIC layer as flowid,
// where that matters), and its values differ from what a NIC would compute.
// Cost: ~5 ns for an IPv6 4-tuple.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netisr/packet.h"

namespace netisr::proto {

// Hash of `len` bytes (any length).
uint32_t HashBytes(const uint8_t* data, size_t len);

// Sets pkt's flowid and hash_type from its IPv4/IPv6 header (found through
// the Layout in pkt.meta, which the Ethernet layer wrote). Reads are bounds-
// checked, as the IP header may not be validated yet. False if the packet
// has no IP header within its length.
bool SetFlowIdFromHeaders(Packet& pkt);

}  // namespace netisr::proto
