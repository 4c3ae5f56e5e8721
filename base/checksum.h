// The Internet checksum, in one place: RFC 1071's one's-complement sum, the
// pseudo-header sums of IPv4 (RFC 793/768) and IPv6 (RFC 8200 section 8.1),
// and RFC 1624's incremental update.
//
// Values are host-order 16-bit numbers as they read off the wire big-endian
// (the IPv4 checksum field of "45 00 ... b1 e6" is 0xb1e6).
//
// Speed: the sum is independent of byte order (RFC 1071 section 2(B)), so the
// bytes are summed as native 64-bit words, each word's carry-out added back
// in a separate accumulator (deferred carries, as RFC 1071 section 2(C)
// suggests), folded once at the end; ~8 bytes per add instead of 2. A check
// (ChecksumOk) swaps no data sum: all ones reads the same either way (only
// a host-order `initial` is swapped in). The fixed-size header check and
// the IPv4 transport check with its pseudo-header in the same accumulator
// (Ipv4HeaderOk, Ipv4L4ChecksumOk) are what the parse chain runs per packet
// (callgrind figures in docs/benchmarks.md, "Fast path, second pass").
//
// In //base so that the protocol layer (verifying) and the NIC layer's
// synthetic generator (building frames) share it without nic depending on
// proto for it.
//
// Verification: a received header or segment is intact iff the sum over it
// (plus the pseudo-header) is 0xffff, "all ones" (RFC 1071 section 1(3)).
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace netisr::base {

namespace internal {

// A one's-complement sum in progress over native-order words: `acc` with
// its carries out of bit 63 counted apart in `carries` (GCC: add, adc).
// Inline so that a constant length unrolls (the 20-byte IPv4 header).
struct NativeSum {
  uint64_t acc = 0;
  uint64_t carries = 0;

  void Add(uint64_t w) {
    acc += w;
    carries += acc < w;
  }
  // Sums the whole 8-byte words of [p, p + len), four at a time while it
  // can; returns the first byte not summed (len % 8 of them are left).
  [[gnu::always_inline]] const uint8_t* AddWords(const uint8_t* p, size_t len) {
    while (len >= 32) {
      Add(Native64(p));
      Add(Native64(p + 8));
      Add(Native64(p + 16));
      Add(Native64(p + 24));
      p += 32;
      len -= 32;
    }
    while (len >= 8) {
      Add(Native64(p));
      p += 8;
      len -= 8;
    }
    return p;
  }
  [[gnu::always_inline]] void AddBytes(const uint8_t* p, size_t len) {
    p = AddWords(p, len);
    len &= 7;
    if (len >= 4) {
      Add(Native32(p));
      p += 4;
      len -= 4;
    }
    if (len >= 2) {
      uint16_t w;
      std::memcpy(&w, p, 2);
      Add(w);
      p += 2;
      len -= 2;
    }
    if (len == 1) {
      uint16_t w = 0;  // the odd byte is the high-order (first) byte of its word
      std::memcpy(&w, p, 1);
      Add(w);
    }
  }
  // AddBytes for len >= 8 (checked with assert): the last len % 8 bytes
  // come from the 8-byte load that ends at the last byte, shifted past the
  // bytes already summed, instead of a 4-, 2- and 1-byte ladder (~10
  // instructions and three branches a call less; the TCP segments of
  // 64-byte frames end mid-word).
  [[gnu::always_inline]] void AddBytesAtLeast8(const uint8_t* p, size_t len) {
    assert(len >= 8);
    AddWords(p, len);
    if (const size_t tail = len & 7; tail != 0) {
      // The tail's bytes keep their offsets within a word: byte j of the
      // tail lands in byte j of the word, the rest are zero.
      const uint64_t last = Native64(p + len - 8);
      const unsigned shift = 8 * (8 - static_cast<unsigned>(tail));
      Add(std::endian::native == std::endian::little ? last >> shift : last << shift);
    }
  }
  // The IPv4 pseudo-header's zero byte, protocol and 16-bit length as one
  // native-order word: the bytes {0, protocol, length (big-endian)}.
  static uint32_t Pseudo4Rest(uint8_t protocol, uint16_t length) {
    if constexpr (std::endian::native == std::endian::little) {
      return uint32_t{protocol} << 8 | uint32_t{__builtin_bswap16(length)} << 16;
    } else {
      return uint32_t{protocol} << 16 | length;
    }
  }
  // A host-order partial sum (of 16-bit words, as PseudoHeaderSum4 gives),
  // in the native order of the rest.
  void AddHost(uint32_t sum) {
    const uint16_t folded = Fold16(sum);
    Add(std::endian::native == std::endian::little ? __builtin_bswap16(folded) : folded);
  }
  // The 16-bit sum in native order (byte-swapped on a little-endian CPU).
  uint16_t FoldNative() const {
    uint64_t s = acc + carries;  // fewer than 2^61 carries: one more at most
    s += s < carries;
    return Fold16(s);
  }

  // End-around-carry folds, 64 -> 32 -> 16 bits (RFC 1071 section 2(C)).
  static uint16_t Fold16(uint64_t s) {
    uint32_t t;
    const bool c32 =
        __builtin_add_overflow(static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32), &t);
    t += c32;  // a carry leaves t <= 0xfffffffe: no overflow
    uint16_t r;
    const bool c16 =
        __builtin_add_overflow(static_cast<uint16_t>(t), static_cast<uint16_t>(t >> 16), &r);
    return static_cast<uint16_t>(r + c16);
  }
  static uint64_t Native64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static uint32_t Native32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
};

}  // namespace internal

// One's-complement sum of `len` bytes read as big-endian 16-bit words (a last
// odd byte padded with a zero byte), plus `initial` (a partial sum, e.g. of a
// pseudo-header, any 32-bit value). Folded to 16 bits; not complemented.
uint16_t OnesSum(const uint8_t* data, size_t len, uint32_t initial = 0);

// The checksum to store in a field that was zero while summing: ~OnesSum.
inline uint16_t Checksum(const uint8_t* data, size_t len, uint32_t initial = 0) {
  return static_cast<uint16_t>(~OnesSum(data, len, initial));
}

// True if the bytes (checksum field included) sum to all ones.
bool ChecksumOk(const uint8_t* data, size_t len, uint32_t initial = 0);

// ChecksumOk of an IPv4 header without options (20 bytes at `ip`), inline.
inline bool Ipv4HeaderOk(const uint8_t* ip) {
  internal::NativeSum s;
  s.AddBytes(ip, 20);
  return s.FoldNative() == 0xffff;
}

// ChecksumOk of a TCP or UDP segment (`len` bytes at `l4`, len <= 65535)
// over IPv4, the pseudo-header's addresses read from the IPv4 header at
// `ip`: the same result as ChecksumOk(l4, len, PseudoHeaderSum4(...)), in
// one accumulator. Inline: the parse chain's fast path runs it per packet.
// The pseudo-header (RFC 793 section 3.1) in native order: source and
// destination are adjacent in the IPv4 header (bytes 12..19), one word;
// then the zero byte and protocol, and the length, as big-endian words.
[[gnu::always_inline]] inline bool Ipv4L4ChecksumOk(const uint8_t* ip, const uint8_t* l4,
                                                    size_t len, uint8_t protocol) {
  internal::NativeSum s;
  s.Add(internal::NativeSum::Native64(ip + 12));
  s.Add(internal::NativeSum::Pseudo4Rest(protocol, static_cast<uint16_t>(len)));
  if (len >= 8) [[likely]] {  // every TCP segment, every UDP datagram
    s.AddBytesAtLeast8(l4, len);
  } else {
    s.AddBytes(l4, len);
  }
  return s.FoldNative() == 0xffff;
}

// Partial (unfolded) sums of the pseudo-headers, for `initial` above.
// IPv4: source, destination (4 bytes each, wire order), zero, protocol,
// upper-layer length (RFC 793 section 3.1, RFC 768).
uint32_t PseudoHeaderSum4(const uint8_t* src, const uint8_t* dst, uint8_t protocol,
                          uint16_t length);
// IPv6: source, destination (16 bytes each), 32-bit upper-layer length, three
// zero bytes, next header (RFC 8200 section 8.1).
uint32_t PseudoHeaderSum6(const uint8_t* src, const uint8_t* dst, uint8_t next_header,
                          uint32_t length);

// RFC 1624 equation 3: the new checksum after a 16-bit word covered by
// checksum `hc` changes from `old_word` to `new_word`,
//   HC' = ~(~HC + ~m + m')
// which, unlike RFC 1141's equation, never yields 0xffff for a zero sum
// (RFC 1624 section 3's example).
// Inline: a router runs it on every forwarded packet.
inline uint16_t UpdateChecksum(uint16_t hc, uint16_t old_word, uint16_t new_word) {
  const uint64_t sum =
      uint64_t{static_cast<uint16_t>(~hc)} + static_cast<uint16_t>(~old_word) + new_word;
  return static_cast<uint16_t>(~internal::NativeSum::Fold16(sum));
}

}  // namespace netisr::base
