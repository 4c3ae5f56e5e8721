// Segment codec: encode/decode round trips with every option, option
// layouts and the checksum against the pseudo-header (proto/checksum.h),
// and the flowid matching what netisr computes for the incoming segment.
#include <gtest/gtest.h>

#include "tcp/internal/siphash.h"
#include "tests/tcp/tcp_test_util.h"

namespace netisr::tcp::testing {
namespace {

TEST(SegmentTest, RoundTripWithEveryOption) {
  Segment s;
  s.tuple = FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), 40000);  // sender view
  s.seq = 0x01020304;
  s.ack = 0xa0b0c0d0;
  s.flags = flags::kAck | flags::kPsh;
  s.window = 4321;
  s.opt.has_ts = true;
  s.opt.ts_val = 11;
  s.opt.ts_ecr = 22;
  s.opt.sack_count = 4;  // only 3 fit beside timestamps
  for (int i = 0; i < 4; ++i) s.opt.sack[i] = {100u * i, 100u * i + 50};
  const std::string payload = "payload";
  s.payload = reinterpret_cast<const uint8_t*>(payload.data());
  s.payload_len = static_cast<uint32_t>(payload.size());
  uint8_t buf[128];
  const size_t n = EncodeSegment(s, buf, sizeof(buf));
  ASSERT_EQ(n, 20 + 40 + payload.size());
  Segment d;
  ASSERT_EQ(DecodeSegment(Family::kIPv4, s.tuple.laddr, s.tuple.faddr, buf, n, true, &d),
            DecodeError::kNone);
  EXPECT_EQ(d.tuple.lport, 40000);  // receiver view
  EXPECT_EQ(d.tuple.fport, 80);
  EXPECT_EQ(d.seq, s.seq);
  EXPECT_EQ(d.ack, s.ack);
  EXPECT_EQ(d.flags, s.flags);
  EXPECT_EQ(d.window, 4321);
  EXPECT_TRUE(d.opt.has_ts);
  EXPECT_EQ(d.opt.ts_val, 11u);
  EXPECT_EQ(d.opt.ts_ecr, 22u);
  ASSERT_EQ(d.opt.sack_count, 3);
  EXPECT_EQ(d.opt.sack[2].left, 200u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.payload), d.payload_len), payload);
}

TEST(SegmentTest, SynOptionsAndIpv6Checksum) {
  Segment s;
  std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8}, b = a;
  a[15] = 1;
  b[15] = 2;
  s.tuple = FourTuple::V6(a, 443, b, 50000);
  s.flags = flags::kSyn;
  s.opt.has_mss = true;
  s.opt.mss = 1440;
  s.opt.has_wscale = true;
  s.opt.wscale = 9;
  s.opt.sack_permitted = true;
  s.opt.has_ts = true;
  s.opt.ts_val = 5;
  uint8_t buf[64];
  const size_t n = EncodeSegment(s, buf, sizeof(buf));
  ASSERT_EQ(n, 40u);  // MSS 4 + SACK-permitted/TS 12 + NOP/WS 4
  Segment d;
  ASSERT_EQ(DecodeSegment(Family::kIPv6, s.tuple.laddr, s.tuple.faddr, buf, n, true, &d),
            DecodeError::kNone);
  EXPECT_EQ(d.opt.mss, 1440);
  EXPECT_EQ(d.opt.wscale, 9);
  EXPECT_TRUE(d.opt.sack_permitted);
  EXPECT_EQ(d.opt.ts_val, 5u);
  // Another destination: the pseudo-header no longer matches.
  EXPECT_EQ(DecodeSegment(Family::kIPv6, s.tuple.laddr, s.tuple.laddr, buf, n, true, &d),
            DecodeError::kBadChecksum);
  EXPECT_EQ(DecodeSegment(Family::kIPv6, s.tuple.laddr, s.tuple.laddr, buf, n, false, &d),
            DecodeError::kNone);
}

TEST(SegmentTest, MalformedHeadersAreNamed) {
  uint8_t buf[24] = {};
  Segment d;
  const IpAddr x = IpAddr::V4(1), y = IpAddr::V4(2);
  EXPECT_EQ(DecodeSegment(Family::kIPv4, x, y, buf, 19, false, &d), DecodeError::kTruncated);
  buf[12] = 0x40;  // 16-byte header
  EXPECT_EQ(DecodeSegment(Family::kIPv4, x, y, buf, 24, false, &d), DecodeError::kBadDataOffset);
  buf[12] = 0x60;  // 24 bytes: one option word
  buf[20] = 2;     // MSS with length 3
  buf[21] = 3;
  EXPECT_EQ(DecodeSegment(Family::kIPv4, x, y, buf, 24, false, &d), DecodeError::kBadOptions);
}

TEST(SegmentTest, FlowIdIsTheHashOfTheIncomingHeaders) {
  // proto::SetFlowIdFromHeaders hashes src addr, dst addr, src port, dst
  // port of the arriving packet; for our tuple that is faddr, laddr, fport,
  // lport. Swapping the ends must change it (the hash is not symmetric).
  const FourTuple t = FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), 40000);
  FourTuple r = t;
  std::swap(r.laddr, r.faddr);
  std::swap(r.lport, r.fport);
  EXPECT_NE(FlowIdOf(t), FlowIdOf(r));
  EXPECT_EQ(FlowIdOf(t), FlowIdOf(t));
}

TEST(SegmentTest, SipHashMatchesTheReferenceVectors) {
  // Aumasson and Bernstein's reference: key 00..0f, messages 00..(n-1).
  internal::SipKey k{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  uint8_t msg[15];
  for (int i = 0; i < 15; ++i) msg[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(internal::SipHash24(k, msg, 0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(internal::SipHash24(k, msg, 15), 0xa129ca6149be45e5ull);
}

}  // namespace
}  // namespace netisr::tcp::testing
