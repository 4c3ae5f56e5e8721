// Bounds walks of the option lists of IPv4 (RFC 791 3.1) and TCP (RFC 9293
// 3.1). Both share the type-length-value shape with two one-byte kinds; only
// the TCP walk knows the lengths of specific kinds.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::proto::internal {

// `opts` is the `len` bytes after the fixed header. True if every option
// fits the list: EOL ends it, NOP is one byte, every other option has a
// length byte >= 2 that keeps it within the list.
bool Ipv4OptionsOk(const uint8_t* opts, size_t len);
// As above, and the kinds TCP defines have their defined lengths (MSS 4,
// window scale 3, SACK-permitted 2, SACK 2 + 8n with n in [1, 4],
// timestamps 10).
// Out of line, the walk; TcpOptionsOk below tries the common case first.
bool TcpOptionsWalk(const uint8_t* opts, size_t len);
inline bool TcpOptionsOk(const uint8_t* opts, size_t len) {
  // What nearly every segment of an established connection carries: NOP,
  // NOP, timestamps (RFC 7323 appendix A's layout; Linux's
  // tcp_parse_aligned_timestamp tests the same word). One compare, inline
  // in the parse loops, instead of a call and the walk (~30 instructions).
  constexpr uint32_t kAlignedTimestamps = uint32_t{wire::kTcpOptNop} << 24 |
                                          uint32_t{wire::kTcpOptNop} << 16 |
                                          uint32_t{wire::kTcpOptTimestamps} << 8 | 10;
  if (len == 12 && base::Load32(opts) == kAlignedTimestamps) return true;
  return TcpOptionsWalk(opts, len);
}

}  // namespace netisr::proto::internal
