// Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4): a < b when b is
// ahead of a by less than 2^31. Every comparison of sequence numbers,
// acknowledgment numbers and timestamps (RFC 7323 5.2, PAWS) goes through
// these; a plain `<` on them is a bug after wraparound.
#pragma once

#include <cstdint>

namespace netisr::tcp::internal {

inline bool SeqLt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool SeqLeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }
inline bool SeqGt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }
inline bool SeqGeq(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }
inline uint32_t SeqMax(uint32_t a, uint32_t b) { return SeqGt(a, b) ? a : b; }
inline uint32_t SeqMin(uint32_t a, uint32_t b) { return SeqLt(a, b) ? a : b; }
// a <= x < b (a window [a, b)).
inline bool SeqInWindow(uint32_t x, uint32_t a, uint32_t b) { return SeqLeq(a, x) && SeqLt(x, b); }

}  // namespace netisr::tcp::internal
