// The Internet checksum against the RFCs' own examples and the textbook loop.
#include "base/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/base/naive_checksum.h"

namespace netisr::base {
namespace {

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(OnesSum(bytes, sizeof(bytes)), 0xddf2);
  EXPECT_EQ(Checksum(bytes, sizeof(bytes)), 0x220d);
}

TEST(Checksum, KnownIpv4Header) {
  // A classic example header (Wikipedia "IPv4 header checksum"): b861.
  uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(Checksum(h, sizeof(h)), 0xb861);
  h[10] = 0xb8, h[11] = 0x61;
  EXPECT_TRUE(ChecksumOk(h, sizeof(h)));
  h[15] ^= 1;
  EXPECT_FALSE(ChecksumOk(h, sizeof(h)));
}

TEST(Checksum, Rfc1624Example) {
  // RFC 1624 section 3: HC = dd2f, m = 5555 -> m' = 3285 gives 0000
  // (RFC 1141's formula gives the wrong ffff).
  EXPECT_EQ(UpdateChecksum(0xdd2f, 0x5555, 0x3285), 0x0000);
}

TEST(Checksum, IncrementalMatchesRecomputation) {
  std::mt19937 rng(1);
  for (int round = 0; round < 1000; ++round) {
    uint8_t b[20];
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    const uint16_t before = Checksum(b, sizeof(b));
    const size_t w = 2 * (rng() % 10);
    const uint16_t old_word = static_cast<uint16_t>(b[w] << 8 | b[w + 1]);
    const uint16_t new_word = static_cast<uint16_t>(rng());
    b[w] = static_cast<uint8_t>(new_word >> 8), b[w + 1] = static_cast<uint8_t>(new_word);
    const uint16_t after = Checksum(b, sizeof(b));
    const uint16_t inc = UpdateChecksum(before, old_word, new_word);
    // 0000 and ffff are the same one's-complement number.
    EXPECT_TRUE(inc == after || (inc ^ after) == 0xffff) << round;
  }
}

TEST(Checksum, MatchesNaiveLoopAtEveryLengthAndAlignment) {
  std::mt19937 rng(2);
  std::vector<uint8_t> buf(300);
  for (auto& x : buf) x = static_cast<uint8_t>(rng());
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 0; len + off <= buf.size(); ++len) {
      ASSERT_EQ(Checksum(buf.data() + off, len), testing::NaiveChecksum(buf.data() + off, len))
          << off << " " << len;
    }
  }
  // All-ones data stresses the carries.
  std::vector<uint8_t> ones(65535, 0xff);
  EXPECT_EQ(Checksum(ones.data(), ones.size()), testing::NaiveChecksum(ones.data(), ones.size()));
}

// The verification forms against the naive loop: a segment whose checksum
// field was filled by the naive loop passes; one flipped bit anywhere (data,
// checksum field, or an address of the pseudo-header) fails. Every length
// from 2 (the checksum field) to 100 and every alignment, so each tail of AddBytes is covered.
TEST(Checksum, VerifiersAgreeWithTheNaiveLoop) {
  std::mt19937 rng(3);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 2; len <= 100; ++len) {
      std::vector<uint8_t> buf(off + len);
      for (auto& x : buf) x = static_cast<uint8_t>(rng());
      uint8_t* seg = buf.data() + off;
      uint8_t ip[20];
      for (auto& x : ip) x = static_cast<uint8_t>(rng());
      const uint8_t proto = (len & 1) ? 17 : 6;
      // The checksum field: the first word of the segment, zero while summing.
      seg[0] = seg[1] = 0;
      const uint32_t pseudo = PseudoHeaderSum4(ip + 12, ip + 16, proto, static_cast<uint16_t>(len));
      const uint16_t c = testing::NaiveChecksum(seg, len, pseudo);
      seg[0] = static_cast<uint8_t>(c >> 8), seg[1] = static_cast<uint8_t>(c);
      ASSERT_TRUE(ChecksumOk(seg, len, pseudo)) << off << " " << len;
      ASSERT_TRUE(Ipv4L4ChecksumOk(ip, seg, len, proto)) << off << " " << len;
      const size_t bit = rng() % (8 * len);
      seg[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(ChecksumOk(seg, len, pseudo)) << off << " " << len;
      EXPECT_FALSE(Ipv4L4ChecksumOk(ip, seg, len, proto)) << off << " " << len;
      seg[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(Ipv4L4ChecksumOk(ip, seg, len, proto ^ 1)) << off << " " << len;
      ip[12 + rng() % 8] ^= 0x10;
      EXPECT_FALSE(Ipv4L4ChecksumOk(ip, seg, len, proto)) << off << " " << len;
    }
  }
}

TEST(Checksum, Ipv4HeaderOk) {
  std::mt19937 rng(4);
  for (int round = 0; round < 1000; ++round) {
    uint8_t h[20];
    for (auto& x : h) x = static_cast<uint8_t>(rng());
    h[10] = h[11] = 0;
    const uint16_t c = testing::NaiveChecksum(h, 20);
    h[10] = static_cast<uint8_t>(c >> 8), h[11] = static_cast<uint8_t>(c);
    ASSERT_TRUE(Ipv4HeaderOk(h)) << round;
    ASSERT_EQ(Ipv4HeaderOk(h), ChecksumOk(h, 20));
    h[rng() % 20] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_FALSE(Ipv4HeaderOk(h)) << round;
  }
}

TEST(Checksum, PseudoHeaders) {
  const uint8_t s4[] = {10, 0, 0, 1}, d4[] = {10, 0, 0, 2};
  // 0a00 + 0001 + 0a00 + 0002 + 0011 + 001c
  EXPECT_EQ(PseudoHeaderSum4(s4, d4, 17, 28), 0x0a00u + 1 + 0x0a00 + 2 + 17 + 28);
  uint8_t s6[16] = {0x20, 0x01}, d6[16] = {0xfe, 0x80};
  s6[15] = 1, d6[15] = 2;
  EXPECT_EQ(PseudoHeaderSum6(s6, d6, 58, 0x10008), 0x2001u + 1 + 0xfe80 + 2 + 58 + 1 + 8);
}

}  // namespace
}  // namespace netisr::base
