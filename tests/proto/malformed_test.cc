// One test per drop reason: a valid frame with one thing broken goes through
// the real stack (inline netisr, direct dispatch), is counted under exactly
// that reason, and its packet goes back to the pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/frame_builder.h"
#include "proto/wire.h"
#include "tests/proto/proto_test_util.h"

namespace netisr::proto {
namespace {

using Frame = std::vector<uint8_t>;

class Malformed : public ::testing::Test {
 protected:
  Malformed() : h_("inline", 2, DispatchMode::kDirect) {}

  void ExpectDropped(const Frame& f, ParseDrop why) {
    h_.Send({f});
    h_.Drain();
    EXPECT_EQ(h_.stack().drops().Get(why), 1u) << ToString(why);
    EXPECT_EQ(h_.stack().drops().Total(), 1u);
    EXPECT_EQ(h_.delivered_total(), 0u);
    EXPECT_EQ(h_.pool().available(), h_.pool().capacity());
  }
  void ExpectDelivered(const Frame& f, Layer layer) {
    h_.Send({f});
    h_.Drain();
    EXPECT_EQ(h_.delivered(layer), 1u) << h_.stack().DropSnapshot().size();
    EXPECT_EQ(h_.stack().drops().Total(), 0u);
    EXPECT_EQ(h_.pool().available(), h_.pool().capacity());
  }

  // A frame built from `s` and its offsets, for one edit.
  struct Built {
    Frame f;
    uint8_t* ip;
    uint8_t* l4;
  };
  static Built Build(const FrameSpec& s) {
    Built b{BuildFrame(s), nullptr, nullptr};
    b.ip = &b.f[OffsetsOf(s).l3];
    b.l4 = &b.f[OffsetsOf(s).l4];
    return b;
  }
  static FrameSpec V4(FrameSpec::L4 l4) {
    FrameSpec s;
    s.l4 = l4;
    s.payload = 10;
    return s;
  }
  static FrameSpec V6(FrameSpec::L4 l4) {
    FrameSpec s = V4(l4);
    s.ipv6 = true;
    return s;
  }
  // Sets the IPv4 total length (and the header checksum to match), so that
  // only the upper layer sees the change.
  static void SetIpv4TotalLength(uint8_t* ip, uint16_t total) {
    base::Store16(ip + wire::kIpv4TotalLenOffset, total);
    RefreshIpv4Checksum(ip);
  }
  static void RefreshIpv4Checksum(uint8_t* ip) {
    base::Store16(ip + wire::kIpv4ChecksumOffset, 0);
    base::Store16(ip + wire::kIpv4ChecksumOffset, base::Checksum(ip, (ip[0] & 0xf) * 4));
  }

  testing::StackHarness h_;
};

using L4 = FrameSpec::L4;

TEST_F(Malformed, ValidFramesAreDelivered) {
  ExpectDelivered(BuildFrame(V4(L4::kTcp)), Layer::kTcp);
}

TEST_F(Malformed, TruncatedEther) { ExpectDropped(Frame(13, 0), ParseDrop::kTruncatedEther); }

TEST_F(Malformed, TruncatedVlanTag) {
  FrameSpec s = V4(L4::kUdp);
  s.vlans = {1};
  Frame f = BuildFrame(s);
  f.resize(16);
  ExpectDropped(f, ParseDrop::kTruncatedEther);
}

TEST_F(Malformed, VlanTooDeep) {
  FrameSpec s = V4(L4::kUdp);
  s.vlans = {1, 2, 3};
  ExpectDropped(BuildFrame(s), ParseDrop::kVlanTooDeep);
}

TEST_F(Malformed, UnknownEthertype) {
  Frame f = BuildFrame(V4(L4::kUdp));
  base::Store16(&f[12], 0x88cc);  // LLDP
  ExpectDropped(f, ParseDrop::kUnknownEthertype);
}

TEST_F(Malformed, TruncatedArp) {
  Frame f = BuildArpRequest({1, 1, 1, 1}, {1, 1, 1, 2});
  f.resize(14 + 27);
  ExpectDropped(f, ParseDrop::kTruncatedArp);
}

TEST_F(Malformed, BadArp) {
  Frame f = BuildArpRequest({1, 1, 1, 1}, {1, 1, 1, 2});
  f[14 + 7] = 3;  // RARP request opcode
  ExpectDropped(f, ParseDrop::kBadArp);
}

TEST_F(Malformed, TruncatedIp) {
  Frame f = BuildFrame(V4(L4::kUdp));
  f.resize(14 + 19);
  ExpectDropped(f, ParseDrop::kTruncatedIp);
}

TEST_F(Malformed, BadIpVersion) {
  Built b = Build(V4(L4::kUdp));
  b.ip[0] = 0x65;
  ExpectDropped(b.f, ParseDrop::kBadIpVersion);
}

TEST_F(Malformed, BadIpHeaderLength) {
  Built b = Build(V4(L4::kUdp));
  b.ip[0] = 0x44;  // IHL 4 < 5
  ExpectDropped(b.f, ParseDrop::kBadIpHeaderLength);
}

TEST_F(Malformed, IpHeaderLengthBeyondFrame) {
  Built b = Build(V4(L4::kUdp));
  b.f.resize(14 + 30);
  b.ip = &b.f[14];
  b.ip[0] = 0x4f;  // 60 bytes of header in a 30-byte datagram
  ExpectDropped(b.f, ParseDrop::kBadIpHeaderLength);
}

TEST_F(Malformed, BadIpTotalLength) {
  Built b = Build(V4(L4::kUdp));
  base::Store16(b.ip + 2, static_cast<uint16_t>(b.f.size() - 14 + 1));  // one byte past the frame
  ExpectDropped(b.f, ParseDrop::kBadIpTotalLength);
}

TEST_F(Malformed, BadIpOptions) {
  FrameSpec s = V4(L4::kUdp);
  s.ip_option_words = 1;
  Built b = Build(s);
  b.ip[20] = 0x44, b.ip[21] = 9;  // a timestamp option longer than the 4 bytes left
  RefreshIpv4Checksum(b.ip);
  ExpectDropped(b.f, ParseDrop::kBadIpOptions);
}

TEST_F(Malformed, IpFragment) {
  Built b = Build(V4(L4::kUdp));
  b.ip[6] = 0x20;  // MF
  RefreshIpv4Checksum(b.ip);
  ExpectDropped(b.f, ParseDrop::kIpFragment);
}

TEST_F(Malformed, BadIpChecksum) {
  Built b = Build(V4(L4::kUdp));
  b.ip[10] ^= 0x01;
  ExpectDropped(b.f, ParseDrop::kBadIpChecksum);
}

TEST_F(Malformed, TruncatedIp6) {
  Frame f = BuildFrame(V6(L4::kUdp));
  f.resize(14 + 39);
  ExpectDropped(f, ParseDrop::kTruncatedIp6);
}

TEST_F(Malformed, BadIp6Version) {
  Built b = Build(V6(L4::kUdp));
  b.ip[0] = 0x40;
  ExpectDropped(b.f, ParseDrop::kBadIp6Version);
}

TEST_F(Malformed, BadIp6PayloadLength) {
  Built b = Build(V6(L4::kUdp));
  base::Store16(b.ip + 4, static_cast<uint16_t>(base::Load16(b.ip + 4) + 1));
  ExpectDropped(b.f, ParseDrop::kBadIp6PayloadLength);
}

TEST_F(Malformed, Ip6ExtTooMany) {
  FrameSpec s = V6(L4::kUdp);
  s.ip6_ext_headers = kMaxIp6ExtHeaders + 1;
  ExpectDropped(BuildFrame(s), ParseDrop::kIp6ExtTooMany);
}

TEST_F(Malformed, TruncatedIp6Ext) {
  FrameSpec s = V6(L4::kUdp);
  s.ip6_ext_headers = 1;
  Built b = Build(s);
  b.ip[40 + 1] = 5;  // claims 48 bytes; the payload holds 8 + 18
  ExpectDropped(b.f, ParseDrop::kTruncatedIp6Ext);
}

TEST_F(Malformed, BadIp6ExtOrder) {
  FrameSpec s = V6(L4::kUdp);
  s.ip6_ext_headers = 2;
  Built b = Build(s);
  b.ip[40] = wire::kProtoHopByHop;  // a second hop-by-hop header
  ExpectDropped(b.f, ParseDrop::kBadIp6ExtOrder);
}

TEST_F(Malformed, Ip6Fragment) {
  FrameSpec s = V6(L4::kUdp);
  s.ip6_ext_headers = 1;
  Built b = Build(s);
  b.ip[6] = wire::kProtoFragment;
  b.ip[40 + 2] = 0, b.ip[40 + 3] = 1;  // offset 0, M set: a first fragment
  ExpectDropped(b.f, ParseDrop::kIp6Fragment);
}

TEST_F(Malformed, UnknownIpProtocol) {
  Built b = Build(V4(L4::kUdp));
  b.ip[9] = 47;  // GRE
  RefreshIpv4Checksum(b.ip);
  ExpectDropped(b.f, ParseDrop::kUnknownIpProtocol);
}

TEST_F(Malformed, IcmpNumberOverIpv6IsUnknown) {
  Built b = Build(V6(L4::kIcmpEcho));
  b.ip[6] = wire::kProtoIcmp;
  ExpectDropped(b.f, ParseDrop::kUnknownIpProtocol);
}

TEST_F(Malformed, TruncatedIcmp) {
  Built b = Build(V4(L4::kIcmpEcho));
  SetIpv4TotalLength(b.ip, 20 + 7);
  ExpectDropped(b.f, ParseDrop::kTruncatedIcmp);
}

TEST_F(Malformed, BadIcmpCode) {
  Built b = Build(V4(L4::kIcmpEcho));
  b.l4[1] = 1;
  ExpectDropped(b.f, ParseDrop::kBadIcmpCode);
}

TEST_F(Malformed, BadIcmpChecksum) {
  Built b = Build(V4(L4::kIcmpEcho));
  b.l4[2] ^= 0x80;
  ExpectDropped(b.f, ParseDrop::kBadIcmpChecksum);
}

TEST_F(Malformed, TruncatedIcmp6) {
  Built b = Build(V6(L4::kIcmpEcho));
  base::Store16(b.ip + 4, 7);
  ExpectDropped(b.f, ParseDrop::kTruncatedIcmp6);
}

TEST_F(Malformed, BadIcmp6Code) {
  Built b = Build(V6(L4::kIcmpEcho));
  b.l4[1] = 1;
  ExpectDropped(b.f, ParseDrop::kBadIcmp6Code);
}

TEST_F(Malformed, BadIcmp6Checksum) {
  // The pseudo-header counts: a changed source address breaks it.
  Built b = Build(V6(L4::kIcmpEcho));
  b.ip[wire::kIpv6SrcOffset + 15] ^= 1;
  ExpectDropped(b.f, ParseDrop::kBadIcmp6Checksum);
}

TEST_F(Malformed, TruncatedUdp) {
  Built b = Build(V4(L4::kUdp));
  SetIpv4TotalLength(b.ip, 20 + 7);
  ExpectDropped(b.f, ParseDrop::kTruncatedUdp);
}

TEST_F(Malformed, BadUdpLength) {
  Built b = Build(V4(L4::kUdp));
  base::Store16(b.l4 + 4, 8 + 10 + 1);  // one byte more than the IP payload
  ExpectDropped(b.f, ParseDrop::kBadUdpLength);
}

TEST_F(Malformed, BadUdpChecksum) {
  Built b = Build(V4(L4::kUdp));
  b.l4[8] ^= 0x01;  // payload byte
  ExpectDropped(b.f, ParseDrop::kBadUdpChecksum);
}

TEST_F(Malformed, ZeroUdpChecksumIsBadOverIpv6) {
  Built b = Build(V6(L4::kUdp));
  b.l4[6] = b.l4[7] = 0;
  ExpectDropped(b.f, ParseDrop::kBadUdpChecksum);
}

TEST_F(Malformed, ZeroUdpChecksumIsNoneOverIpv4) {
  Built b = Build(V4(L4::kUdp));
  b.l4[6] = b.l4[7] = 0;
  ExpectDelivered(b.f, Layer::kUdp);
}

TEST_F(Malformed, TruncatedTcp) {
  Built b = Build(V4(L4::kTcp));
  SetIpv4TotalLength(b.ip, 20 + 19);
  ExpectDropped(b.f, ParseDrop::kTruncatedTcp);
}

TEST_F(Malformed, BadTcpOffset) {
  Built b = Build(V4(L4::kTcp));
  b.l4[12] = 0x40;  // 4 words < 5
  ExpectDropped(b.f, ParseDrop::kBadTcpOffset);
}

TEST_F(Malformed, TcpOffsetBeyondSegment) {
  Built b = Build(V4(L4::kTcp));
  b.l4[12] = 0xf0;  // 60 bytes of header in a 30-byte segment
  ExpectDropped(b.f, ParseDrop::kBadTcpOffset);
}

TEST_F(Malformed, BadTcpOptions) {
  FrameSpec s = V4(L4::kTcp);
  s.tcp_options = true;
  Built b = Build(s);
  b.l4[21] = 5;  // MSS length must be 4
  ExpectDropped(b.f, ParseDrop::kBadTcpOptions);
}

// NOP, NOP, timestamps: the parsers' one-word shortcut passes the usual
// layout; any other bytes there still go through the full walk.
FrameSpec V4Timestamps() {
  FrameSpec s;
  s.l4 = FrameSpec::L4::kTcp;
  s.payload = 10;
  s.tcp_timestamps = true;
  return s;
}

TEST_F(Malformed, AlignedTcpTimestampsPass) {
  Built b = Build(V4Timestamps());
  ASSERT_EQ(b.l4[12] >> 4, 8);  // 32 bytes of header
  ExpectDelivered(b.f, Layer::kTcp);
}

TEST_F(Malformed, AlignedTcpTimestampsWithABadLength) {
  Built b = Build(V4Timestamps());
  b.l4[23] = 9;  // timestamps take 10
  ExpectDropped(b.f, ParseDrop::kBadTcpOptions);
}

TEST_F(Malformed, AnOptionOfLengthOneWhereTheFirstNopWas) {
  Built b = Build(V4Timestamps());
  b.l4[20] = 2;  // MSS, its length byte the NOP that follows (1)
  ExpectDropped(b.f, ParseDrop::kBadTcpOptions);
}

// The shortcut is for exactly 12 bytes of options: NOP, NOP, timestamps
// followed by more options are walked, and a bad one after them caught.
TEST_F(Malformed, AlignedTcpTimestampsFollowedByABadOption) {
  FrameSpec s = V4(L4::kTcp);
  s.tcp_options = true;  // 20 bytes of options, rewritten below
  Built b = Build(s);
  const uint8_t opts[20] = {1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1,  // NOP, NOP, timestamps
                            2, 5, 0, 0,  0,                       // MSS of length 5
                            1, 1, 1};
  std::copy(std::begin(opts), std::end(opts), b.l4 + 20);
  ExpectDropped(b.f, ParseDrop::kBadTcpOptions);
}

TEST_F(Malformed, NopThenEolEndsTheTcpOptions) {
  Built b = Build(V4Timestamps());
  b.l4[21] = 0;  // EOL: the rest is padding
  ++b.l4[23];    // the same one's-complement sum (both low bytes of a word)
  ExpectDelivered(b.f, Layer::kTcp);
}

TEST_F(Malformed, BadTcpChecksum) {
  Built b = Build(V6(L4::kTcp));
  b.l4[16] ^= 0x10;
  ExpectDropped(b.f, ParseDrop::kBadTcpChecksum);
}

TEST(ParseDrops, EveryReasonHasADistinctName) {
  std::set<std::string_view> names;
  for (size_t r = 0; r < kNumParseDrops; ++r) {
    names.insert(ToString(static_cast<ParseDrop>(r)));
  }
  EXPECT_EQ(names.size(), kNumParseDrops);
  EXPECT_EQ(ToString(ParseDrop::kBadIpChecksum), "bad_ip_checksum");
}

}  // namespace
}  // namespace netisr::proto
