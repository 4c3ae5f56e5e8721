// The parsers on frames written byte by byte (conformance, independent of
// proto/frame_builder), and on a pcap file read back through libpcap.
#include "proto/parse.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "proto/frame_builder.h"
#include "tests/proto/proto_test_util.h"

namespace netisr::proto {
namespace {

using testing::NaiveChecksum;

void Put16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

// Pseudo-header sum written out by hand for the reference checksum.
uint32_t Pseudo(const uint8_t* src, const uint8_t* dst, size_t addr_len, uint8_t proto,
                uint32_t len) {
  uint32_t sum = proto + (len >> 16) + (len & 0xffff);
  for (size_t i = 0; i < addr_len; i += 2)
    sum += (src[i] << 8 | src[i + 1]) + (dst[i] << 8 | dst[i + 1]);
  return sum;
}

ChainResult Parse(std::vector<uint8_t>& f, Packet& pkt) {
  pkt.data = f.data();
  pkt.len = static_cast<uint32_t>(f.size());
  return ParseFrame(pkt);
}

// 802.1Q VLAN 5, IPv4 with 4 bytes of options, TCP with MSS, NOP, WS,
// SACK-permitted, timestamps and 4 bytes of payload.
std::vector<uint8_t> VlanIpv4TcpFrame() {
  std::vector<uint8_t> f = {
      0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01,  // dst, src MAC
      0x81, 0x00, 0x00, 0x05,                          // 802.1Q, VLAN 5
      0x08, 0x00,                                      // IPv4
      // IPv4 (offset 18): IHL 6, total 24 + 40 + 4 = 68, DF, TTL 64, TCP
      0x46, 0x00, 0x00, 68, 0xab, 0xcd, 0x40, 0x00, 64, 6, 0x00, 0x00,  //
      192, 168, 1, 1, 192, 168, 1, 2,                                   //
      0x01, 0x01, 0x01, 0x00,                                           // options: NOP NOP NOP EOL
      // TCP (offset 42): ports 40000 -> 443, seq, ack, offset 10 words
      0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0x00, 0x00, 0, 0, 2,
      4, 0x05, 0xb4,                  // MSS 1460
      1, 3, 3, 7,                     // NOP, WS 7
      4, 2,                           // SACK permitted
      8, 10, 0, 0, 0, 9, 0, 0, 0, 0,  // timestamps
      'd', 'a', 't', 'a',             // payload
  };
  Put16(f, 18 + 10, NaiveChecksum(&f[18], 24));
  Put16(f, 42 + 16, NaiveChecksum(&f[42], 44, Pseudo(&f[30], &f[34], 4, 6, 44)));
  return f;
}

TEST(Parse, VlanIpv4TcpWithOptions) {
  auto f = VlanIpv4TcpFrame();
  ASSERT_EQ(f.size(), 86u);
  Packet pkt;
  const ChainResult r = Parse(f, pkt);
  ASSERT_EQ(r.step.kind, Step::Kind::kDeliver) << ToString(r.step.why);
  EXPECT_EQ(r.layer, Layer::kTcp);
  const Layout l = GetLayout(pkt);
  EXPECT_EQ(l.vlan_count, 1);
  EXPECT_EQ(l.vlan_tci[0], 5);
  EXPECT_EQ(l.ethertype, 0x0800);
  EXPECT_EQ(l.l3_off, 18);
  EXPECT_EQ(l.l4_off, 42);
  EXPECT_EQ(l.l4_len, 44);
  EXPECT_EQ(l.payload_off, 82);
  EXPECT_EQ(l.ip_proto, 6);
}

// Packet::len is 32 bits, Layout's offsets 16: a frame longer than
// kMaxFrameLen is refused before any offset is taken (here a valid frame
// padded past it, which the IP layer would otherwise trim and deliver); the
// longest accepted frame still parses.
TEST(Parse, FrameLongerThanLayoutAddressesIsRefused) {
  for (const size_t len : {size_t{kMaxFrameLen}, size_t{kMaxFrameLen} + 1, size_t{1} << 17}) {
    auto f = VlanIpv4TcpFrame();
    f.resize(len, 0);
    Packet pkt;
    const ChainResult r = Parse(f, pkt);
    if (len <= kMaxFrameLen) {
      EXPECT_EQ(r.step.kind, Step::Kind::kDeliver) << len << ": " << ToString(r.step.why);
      EXPECT_EQ(GetLayout(pkt).l4_off, 42) << len;
    } else {
      EXPECT_EQ(r.step.kind, Step::Kind::kDrop) << len;
      EXPECT_EQ(r.step.why, ParseDrop::kFrameTooLong) << len;
      EXPECT_EQ(r.layer, Layer::kEther) << len;
      EXPECT_EQ(ToString(r.step.why), "frame_too_long");
    }
  }
}

TEST(Parse, Ipv6ExtensionHeadersThenUdp) {
  std::vector<uint8_t> f = {
      0x02,
      0,
      0,
      0,
      0,
      0x02,
      0x02,
      0,
      0,
      0,
      0,
      0x01,
      0x86,
      0xdd,
      // IPv6 (offset 14): payload 16 + 8 + 8 + 11 = 43, next header hop-by-hop
      0x60,
      0,
      0,
      0,
      0,
      43,
      0,
      64,
      0x20,
      0x01,
      0x0d,
      0xb8,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      0x20,
      0x01,
      0x0d,
      0xb8,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      2,
      // hop-by-hop (54): next fragment, 16 bytes, PadN 12
      44,
      1,
      1,
      12,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      // atomic fragment (70): next dest-opts, offset 0, M 0 (RFC 6946)
      60,
      0,
      0,
      0,
      0,
      0,
      0,
      42,
      // destination options (78): next UDP, 8 bytes, PadN 4
      17,
      0,
      1,
      4,
      0,
      0,
      0,
      0,
      // UDP (86): 5353 -> 53, length 11, checksum
      0x14,
      0xe9,
      0x00,
      0x35,
      0x00,
      11,
      0,
      0,
      'a',
      'b',
      'c',
  };
  Put16(f, 86 + 6, NaiveChecksum(&f[86], 11, Pseudo(&f[22], &f[38], 16, 17, 11)));
  Packet pkt;
  const ChainResult r = Parse(f, pkt);
  ASSERT_EQ(r.step.kind, Step::Kind::kDeliver) << ToString(r.step.why);
  EXPECT_EQ(r.layer, Layer::kUdp);
  const Layout l = GetLayout(pkt);
  EXPECT_EQ(l.l3_off, 14);
  EXPECT_EQ(l.l4_off, 86);
  EXPECT_EQ(l.l4_len, 11);
  EXPECT_EQ(l.payload_off, 94);
  EXPECT_EQ(l.ip_proto, 17);
}

TEST(Parse, IcmpEchoInMinimumFrameIsTrimmed) {
  std::vector<uint8_t> f = {
      0x02, 0, 0, 0, 0,    0x02, 0x02, 0, 0, 0,  0, 0x01, 0x08, 0x00, 0x45, 0, 0,
      28,   0, 1, 0, 0,    64,   1,    0, 0, 10, 0, 0,    1,    10,   0,    0, 2,  // total 28
      8,    0, 0, 0, 0x12, 0x34, 0,    1,                                          // echo request
  };
  Put16(f, 24, NaiveChecksum(&f[14], 20));
  Put16(f, 36, NaiveChecksum(&f[34], 8));
  f.resize(60, 0);  // Ethernet padding (RFC 894's 60-byte minimum)
  Packet pkt;
  const ChainResult r = Parse(f, pkt);
  ASSERT_EQ(r.step.kind, Step::Kind::kDeliver) << ToString(r.step.why);
  EXPECT_EQ(r.layer, Layer::kIcmp);
  EXPECT_EQ(pkt.len, 42u);
}

TEST(Parse, ArpRequest) {
  std::vector<uint8_t> f = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0,
      0x01, 0x08, 0x06, 0,    1,    0x08, 0,    6, 4, 0, 1,  // Ethernet/IPv4, request
      0x02, 0,    0,    0,    0,    0x01, 10,   0, 0, 1,     // sha, spa
      0,    0,    0,    0,    0,    0,    10,   0, 0, 2,     // tha, tpa
  };
  Packet pkt;
  const ChainResult r = Parse(f, pkt);
  ASSERT_EQ(r.step.kind, Step::Kind::kDeliver) << ToString(r.step.why);
  EXPECT_EQ(r.layer, Layer::kArp);
  // The builder writes the same request (broadcast destination aside).
  auto b = BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2});
  EXPECT_TRUE(std::equal(f.begin() + 6, f.end(), b.begin() + 6));
}

TEST(Parse, BuiltFramesOfEveryShapeParse) {
  for (bool v6 : {false, true}) {
    for (auto l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp, FrameSpec::L4::kIcmpEcho}) {
      for (int vlans = 0; vlans <= 2; ++vlans) {
        FrameSpec s;
        s.ipv6 = v6;
        s.l4 = l4;
        s.vlans.assign(vlans, 7);
        s.payload = 17;
        s.tcp_options = true;
        s.ip_option_words = v6 ? 0 : 2;
        s.ip6_ext_headers = v6 ? 3 : 0;
        s.pad_to = 60;
        auto f = BuildFrame(s);
        Packet pkt;
        const ChainResult r = Parse(f, pkt);
        EXPECT_EQ(r.step.kind, Step::Kind::kDeliver)
            << v6 << " " << int(l4) << " " << vlans << ": " << ToString(r.step.why);
        EXPECT_EQ(GetLayout(pkt).l4_off, OffsetsOf(s).l4);
      }
    }
  }
}

// A pcap file written here (the classic format: 24-byte global header, a
// 16-byte record header per frame) and read back with libpcap.
TEST(Parse, PcapTrace) {
  struct Expect {
    std::vector<uint8_t> frame;
    Step::Kind kind;
    Layer layer;
    ParseDrop why;
  };
  std::vector<Expect> trace;
  trace.push_back({VlanIpv4TcpFrame(), Step::Kind::kDeliver, Layer::kTcp, ParseDrop::kCount});
  FrameSpec u6;
  u6.ipv6 = true;
  trace.push_back({BuildFrame(u6), Step::Kind::kDeliver, Layer::kUdp, ParseDrop::kCount});
  trace.push_back({BuildArpRequest({1, 2, 3, 4}, {1, 2, 3, 5}), Step::Kind::kDeliver, Layer::kArp,
                   ParseDrop::kCount});
  auto bad = BuildFrame(FrameSpec{});
  bad.back() ^= 0xff;  // corrupt the UDP checksum field
  trace.push_back({bad, Step::Kind::kDrop, Layer::kUdp, ParseDrop::kBadUdpChecksum});

  const std::string path = ::testing::TempDir() + "/proto_parse_test.pcap";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const uint32_t global[6] = {0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 /* DLT_EN10MB */};
    std::fwrite(global, sizeof(global), 1, f);
    uint32_t ts = 0;
    for (const auto& e : trace) {
      const uint32_t rec[4] = {ts++, 0, static_cast<uint32_t>(e.frame.size()),
                               static_cast<uint32_t>(e.frame.size())};
      std::fwrite(rec, sizeof(rec), 1, f);
      std::fwrite(e.frame.data(), 1, e.frame.size(), f);
    }
    std::fclose(f);
  }
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc = pcap_open_offline(path.c_str(), err);
  ASSERT_NE(pc, nullptr) << err;
  EXPECT_EQ(pcap_datalink(pc), DLT_EN10MB);
  size_t i = 0;
  pcap_pkthdr* hdr;
  const u_char* bytes;
  while (pcap_next_ex(pc, &hdr, &bytes) == 1) {
    ASSERT_LT(i, trace.size());
    std::vector<uint8_t> frame(bytes, bytes + hdr->caplen);
    EXPECT_EQ(frame, trace[i].frame);
    Packet pkt;
    const ChainResult r = Parse(frame, pkt);
    EXPECT_EQ(r.step.kind, trace[i].kind) << i;
    EXPECT_EQ(r.layer, trace[i].layer) << i;
    EXPECT_EQ(r.step.why, trace[i].why) << i;
    ++i;
  }
  EXPECT_EQ(i, trace.size());
  pcap_close(pc);
}

}  // namespace
}  // namespace netisr::proto
