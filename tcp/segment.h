// Segment: one TCP segment as the engine consumes and produces it, decoded
// (header fields, options, payload span) and addressed by the connection's
// four-tuple; and the two conversions to and from wire bytes.
//
// Direction convention: `tuple` is always the engine's view. For a segment
// given to Engine::Input, tuple.laddr/lport are the segment's destination
// (us) and faddr/fport its source (the peer) — exactly the FourTuple the
// connection table is searched with. For a segment the engine emits through
// Output, laddr/lport are its source (us) and faddr/fport its destination.
//
// Decoding reuses proto's option-list bounds walk (proto/internal/options.h,
// the check ParseTcp makes) and then extracts the values; checksums go
// through proto/checksum.h. A segment that reached TCP through the parse
// chain has had both checked already (decode with verify_checksum = false).
#pragma once

#include <cstddef>
#include <cstdint>

#include "inpcb/inpcb.h"

namespace netisr::tcp {

namespace flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
}  // namespace flags

struct SackBlock {
  uint32_t left = 0;   // first sequence number of the block
  uint32_t right = 0;  // sequence number after its last byte
};

// The options TCP defines, decoded (RFC 9293 3.1, RFC 7323, RFC 2018).
struct Options {
  bool has_mss = false;
  uint16_t mss = 0;
  bool has_wscale = false;
  uint8_t wscale = 0;  // as sent; the receiver clamps to 14 (RFC 7323 2.3)
  bool sack_permitted = false;
  bool has_ts = false;
  uint32_t ts_val = 0;
  uint32_t ts_ecr = 0;
  uint8_t sack_count = 0;  // [0, 4]
  SackBlock sack[4];
};

struct Segment {
  inpcb::FourTuple tuple;  // see the direction convention above
  uint32_t flowid = 0;     // the flow's RSS hash (FlowIdOf for emitted segments)
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;  // as on the wire (unscaled)
  Options opt;
  const uint8_t* payload = nullptr;  // valid for the duration of the call only
  uint32_t payload_len = 0;

  bool has(uint8_t f) const { return (flags & f) != 0; }
  // Sequence space the segment occupies: payload + SYN + FIN.
  uint32_t seg_len() const {
    return payload_len + (has(flags::kSyn) ? 1 : 0) + (has(flags::kFin) ? 1 : 0);
  }
};

enum class DecodeError : uint8_t { kNone, kTruncated, kBadDataOffset, kBadOptions, kBadChecksum };

// Decodes a TCP header + payload (`len` bytes at `l4`, as carried by an IP
// datagram from `src` to `dst`) into `out`, whose tuple becomes the
// receiver's view (laddr = dst). Checks: header >= 20 bytes, data offset in
// [5, len/4], option list well formed, and when `verify_checksum` the
// checksum with the pseudo-header. `out->payload` points into `l4`.
DecodeError DecodeSegment(inpcb::Family family, const inpcb::IpAddr& src, const inpcb::IpAddr& dst,
                          const uint8_t* l4, size_t len, bool verify_checksum, Segment* out);

// Longest TCP header (60 bytes); an encoded segment needs this + payload.
inline constexpr size_t kMaxHeaderLen = 60;

// Encodes `seg` (sender's view: tuple.laddr is the source) as a TCP header
// with options, followed by the payload, with the checksum over the IPv4 or
// IPv6 pseudo-header. Options are laid out as Linux and FreeBSD do (MSS,
// SACK-permitted + timestamps, NOP + window scale on a SYN; NOP NOP +
// timestamps, NOP NOP + SACK blocks otherwise), dropping SACK blocks that
// do not fit 40 bytes. Returns the bytes written, 0 if `cap` is too small.
size_t EncodeSegment(const Segment& seg, uint8_t* out, size_t cap);

// The flowid netisr gives the flow's incoming segments when the NIC did not
// (proto::SetFlowIdFromHeaders: the hash of source address, destination
// address, source port, destination port in wire order). For a connection
// tuple t that is the hash of (faddr, laddr, fport, lport). The engine
// inserts the connections it opens with it, so their segments find them.
uint32_t FlowIdOf(const inpcb::FourTuple& t);

}  // namespace netisr::tcp
