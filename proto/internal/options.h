// Bounds walks of the option lists of IPv4 (RFC 791 3.1) and TCP (RFC 9293
// 3.1). Both share the type-length-value shape with two one-byte kinds; only
// the TCP walk knows the lengths of specific kinds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netisr::proto::internal {

// `opts` is the `len` bytes after the fixed header. True if every option
// fits the list: EOL ends it, NOP is one byte, every other option has a
// length byte >= 2 that keeps it within the list.
bool Ipv4OptionsOk(const uint8_t* opts, size_t len);
// As above, and the kinds TCP defines have their defined lengths (MSS 4,
// window scale 3, SACK-permitted 2, SACK 2 + 8n with n in [1, 4],
// timestamps 10).
bool TcpOptionsOk(const uint8_t* opts, size_t len);

}  // namespace netisr::proto::internal
