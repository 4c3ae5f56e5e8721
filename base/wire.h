// Big-endian (network order) loads and stores at any alignment.
//
// Headers are read through these accessors at offsets, never by casting the
// buffer to a struct: frames arrive at any alignment (IPv4 sits at offset 14
// of an Ethernet frame), and a cast would be undefined behaviour there. The
// byte-wise form compiles to one load and a byte swap on x86-64 (gcc and
// clang recognise the pattern). Protocol numbers and field offsets are the
// protocol layer's (proto/wire.h); the NIC layer builds and hashes frames
// with the same accessors without depending on it.
#pragma once

#include <cstdint>

namespace netisr::base {

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline uint64_t Load64(const uint8_t* p) { return uint64_t{Load32(p)} << 32 | Load32(p + 4); }

inline void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Store32(uint8_t* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace netisr::base
