#include "proto/internal/options.h"

#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::proto::internal {
namespace {

// Calls ok_length(kind, length) for each multi-byte option; false as soon as
// an option overruns the list or ok_length refuses it.
template <typename LengthRule>
bool WalkOptions(const uint8_t* opts, size_t len, LengthRule ok_length) {
  size_t i = 0;
  while (i < len) {
    const uint8_t kind = opts[i];
    if (kind == 0) return true;  // EOL (same value for IPv4 and TCP)
    if (kind == 1) {             // NOP
      ++i;
      continue;
    }
    if (i + 1 >= len) return false;  // no room for the length byte
    const uint8_t olen = opts[i + 1];
    if (olen < 2 || olen > len - i || !ok_length(kind, olen)) return false;
    i += olen;
  }
  return true;
}

}  // namespace

bool Ipv4OptionsOk(const uint8_t* opts, size_t len) {
  static_assert(wire::kIpOptEol == 0 && wire::kIpOptNop == 1);
  return WalkOptions(opts, len, [](uint8_t, uint8_t) { return true; });
}

bool TcpOptionsOk(const uint8_t* opts, size_t len) {
  static_assert(wire::kTcpOptEol == 0 && wire::kTcpOptNop == 1);
  // What nearly every segment of an established connection carries: NOP,
  // NOP, timestamps (RFC 7323 appendix A's layout; Linux's
  // tcp_parse_aligned_timestamp tests the same word). One compare instead
  // of the walk (~30 instructions).
  constexpr uint32_t kAlignedTimestamps = uint32_t{wire::kTcpOptNop} << 24 |
                                          uint32_t{wire::kTcpOptNop} << 16 |
                                          uint32_t{wire::kTcpOptTimestamps} << 8 | 10;
  if (len == 12 && base::Load32(opts) == kAlignedTimestamps) return true;
  return WalkOptions(opts, len, [](uint8_t kind, uint8_t olen) {
    switch (kind) {
      case wire::kTcpOptMss:
        return olen == 4;
      case wire::kTcpOptWindowScale:
        return olen == 3;
      case wire::kTcpOptSackPermitted:
        return olen == 2;
      case wire::kTcpOptSack:
        return olen >= 10 && olen <= 34 && (olen - 2) % 8 == 0;
      case wire::kTcpOptTimestamps:
        return olen == 10;
      default:
        return true;  // unknown kinds are skipped (RFC 9293 3.1)
    }
  });
}

}  // namespace netisr::proto::internal
