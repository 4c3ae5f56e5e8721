// SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed hash behind initial
// sequence numbers (RFC 6528: ISN = M + F(tuple, secret)) and SYN cookies.
// A keyed PRF is what makes both unguessable by an off-path attacker; the
// unkeyed flow hash (proto/flow_hash.h) would not be.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netisr::tcp::internal {

struct SipKey {
  uint64_t k0 = 0, k1 = 0;
};

uint64_t SipHash24(const SipKey& key, const uint8_t* data, size_t len);

}  // namespace netisr::tcp::internal
