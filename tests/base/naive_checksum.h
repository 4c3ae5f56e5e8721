// The textbook RFC 1071 loop, 16 bits at a time: an independent reference
// for base/checksum.h (which sums 64-bit native words) and for frames the
// tests write by hand.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netisr::base::testing {

inline uint16_t NaiveChecksum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += p[i] << 8 | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace netisr::base::testing
