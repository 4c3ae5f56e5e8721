// The NIC layer's deterministic random numbers: SplitMix64 (Steele, Lea,
// Flood, OOPSLA 2014). One 64-bit state, ~1 ns a draw, passes BigCrush,
// and consecutive seeds give unrelated streams, so per-queue generators
// seeded seed ^ queue do not run in lockstep. Not for cryptography.
#pragma once

#include <cstdint>

namespace netisr::nic::internal {

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) (Lemire's multiply-shift; bias < n / 2^64).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// A stateless mix of (seed, index): the same flow gets the same draws
// whichever queue or thread asks.
inline uint64_t MixSeed(uint64_t seed, uint64_t index) {
  Random r(seed ^ (index * 0xd1342543de82ef95ull));
  return r.Next();
}

}  // namespace netisr::nic::internal
