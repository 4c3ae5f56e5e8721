#include "proto/frame_builder.h"

#include <algorithm>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

using base::Checksum;
using base::PseudoHeaderSum4;
using base::PseudoHeaderSum6;
using base::Store16;
using base::Store32;

constexpr std::array<uint8_t, 6> kDstMac = {0x02, 0, 0, 0, 0, 0x02};
constexpr std::array<uint8_t, 6> kSrcMac = {0x02, 0, 0, 0, 0, 0x01};

uint32_t L4HeaderLen(const FrameSpec& s) {
  switch (s.l4) {
    case FrameSpec::L4::kTcp:
      return wire::kTcpMinHeaderLen + (s.tcp_options ? 20 : s.tcp_timestamps ? 12 : 0);
    case FrameSpec::L4::kUdp:
      return wire::kUdpHeaderLen;
    case FrameSpec::L4::kIcmpEcho:
      return wire::kIcmpHeaderLen;
  }
  return 0;
}

uint8_t IpProto(const FrameSpec& s) {
  switch (s.l4) {
    case FrameSpec::L4::kTcp:
      return wire::kProtoTcp;
    case FrameSpec::L4::kUdp:
      return wire::kProtoUdp;
    case FrameSpec::L4::kIcmpEcho:
      return s.ipv6 ? wire::kProtoIcmp6 : wire::kProtoIcmp;
  }
  return 0;
}

// Ethernet header and tags; returns the L3 offset.
uint32_t WriteEther(std::vector<uint8_t>& f, const std::vector<uint16_t>& vlans, uint16_t type) {
  f.insert(f.end(), kDstMac.begin(), kDstMac.end());
  f.insert(f.end(), kSrcMac.begin(), kSrcMac.end());
  for (size_t i = 0; i < vlans.size(); ++i) {
    const bool outer_of_two = vlans.size() > 1 && i == 0;
    f.resize(f.size() + 4);
    Store16(&f[f.size() - 4], outer_of_two ? wire::kEtherTypeQinQ : wire::kEtherTypeVlan);
    Store16(&f[f.size() - 2], vlans[i]);
  }
  f.resize(f.size() + 2);
  Store16(&f[f.size() - 2], type);
  return static_cast<uint32_t>(f.size());
}

}  // namespace

FrameOffsets OffsetsOf(const FrameSpec& s) {
  FrameOffsets o;
  o.l3 = wire::kEtherHeaderLen + wire::kVlanTagLen * static_cast<uint32_t>(s.vlans.size());
  o.l4 = o.l3 + (s.ipv6 ? wire::kIpv6HeaderLen + 8u * s.ip6_ext_headers
                        : wire::kIpv4MinHeaderLen + 4u * s.ip_option_words);
  return o;
}

std::vector<uint8_t> BuildFrame(const FrameSpec& s) {
  const FrameOffsets o = OffsetsOf(s);
  const uint32_t l4_len = L4HeaderLen(s) + s.payload;
  const uint8_t proto = IpProto(s);
  std::vector<uint8_t> f;
  WriteEther(f, s.vlans, s.ipv6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4);
  f.resize(o.l4 + l4_len);
  uint8_t* ip = &f[o.l3];
  uint8_t* l4 = &f[o.l4];

  if (s.ipv6) {
    ip[0] = 0x60;
    Store16(ip + wire::kIpv6PayloadLenOffset, static_cast<uint16_t>(f.size() - o.l3 - 40));
    ip[wire::kIpv6NextHeaderOffset] = s.ip6_ext_headers ? wire::kProtoHopByHop : proto;
    ip[7] = 64;  // hop limit
    std::copy(s.src6.begin(), s.src6.end(), ip + wire::kIpv6SrcOffset);
    std::copy(s.dst6.begin(), s.dst6.end(), ip + wire::kIpv6DstOffset);
    for (int i = 0; i < s.ip6_ext_headers; ++i) {
      uint8_t* ext = ip + wire::kIpv6HeaderLen + 8 * i;
      ext[0] = i + 1 < s.ip6_ext_headers ? wire::kProtoDestOpts : proto;
      ext[1] = 0;              // 8 bytes
      ext[2] = 1, ext[3] = 4;  // PadN option covering the other 4 bytes
    }
  } else {
    const uint32_t hlen = o.l4 - o.l3;
    ip[0] = static_cast<uint8_t>(0x40 | hlen / 4);
    Store16(ip + wire::kIpv4TotalLenOffset, static_cast<uint16_t>(f.size() - o.l3));
    Store16(ip + 4, 0x1234);                      // id
    Store16(ip + wire::kIpv4FragOffset, 0x4000);  // DF
    ip[wire::kIpv4TtlOffset] = 64;
    ip[wire::kIpv4ProtoOffset] = proto;
    std::copy(s.src4.begin(), s.src4.end(), ip + wire::kIpv4SrcOffset);
    std::copy(s.dst4.begin(), s.dst4.end(), ip + wire::kIpv4DstOffset);
    std::fill(ip + wire::kIpv4MinHeaderLen, ip + hlen, wire::kIpOptNop);
    Store16(ip + wire::kIpv4ChecksumOffset, Checksum(ip, hlen));
  }

  for (uint32_t i = 0; i < s.payload; ++i) l4[L4HeaderLen(s) + i] = static_cast<uint8_t>(i);
  uint32_t sum_offset = 0;
  switch (s.l4) {
    case FrameSpec::L4::kTcp: {
      Store16(l4, s.src_port);
      Store16(l4 + 2, s.dst_port);
      Store32(l4 + 4, 1000);  // seq
      Store32(l4 + 8, 2000);  // ack
      l4[wire::kTcpDataOffsetOffset] = static_cast<uint8_t>(L4HeaderLen(s) / 4 << 4);
      l4[13] = 0x18;  // PSH|ACK
      Store16(l4 + 14, 65535);
      if (s.tcp_options) {
        static constexpr uint8_t kOpts[20] = {2, 4,  0x05, 0xb4,  // MSS 1460
                                              4, 2,               // SACK permitted
                                              8, 10, 0,    0,    0, 1, 0, 0, 0, 0,  // timestamps
                                              1,                                    // NOP
                                              3, 3,  7};  // window scale 7
        std::copy(std::begin(kOpts), std::end(kOpts), l4 + wire::kTcpMinHeaderLen);
      } else if (s.tcp_timestamps) {
        static constexpr uint8_t kOpts[12] = {1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1};
        std::copy(std::begin(kOpts), std::end(kOpts), l4 + wire::kTcpMinHeaderLen);
      }
      sum_offset = wire::kTcpChecksumOffset;
      break;
    }
    case FrameSpec::L4::kUdp:
      Store16(l4, s.src_port);
      Store16(l4 + 2, s.dst_port);
      Store16(l4 + wire::kUdpLengthOffset, static_cast<uint16_t>(l4_len));
      sum_offset = wire::kUdpChecksumOffset;
      break;
    case FrameSpec::L4::kIcmpEcho:
      l4[0] = s.ipv6 ? wire::kIcmp6EchoRequest : wire::kIcmpEchoRequest;
      Store16(l4 + 4, s.src_port);
      Store16(l4 + 6, s.dst_port);
      sum_offset = wire::kIcmpChecksumOffset;
      break;
  }
  uint32_t pseudo = 0;
  if (s.ipv6) {
    pseudo = PseudoHeaderSum6(ip + wire::kIpv6SrcOffset, ip + wire::kIpv6DstOffset, proto, l4_len);
  } else if (s.l4 != FrameSpec::L4::kIcmpEcho) {
    pseudo = PseudoHeaderSum4(ip + wire::kIpv4SrcOffset, ip + wire::kIpv4DstOffset, proto,
                              static_cast<uint16_t>(l4_len));
  }
  uint16_t sum = Checksum(l4, l4_len, pseudo);
  if (sum == 0 && s.l4 == FrameSpec::L4::kUdp) sum = 0xffff;  // 0 means "none" (RFC 768)
  Store16(l4 + sum_offset, sum);
  if (f.size() < s.pad_to) f.resize(s.pad_to, 0);
  return f;
}

std::vector<uint8_t> BuildArpRequest(std::array<uint8_t, 4> spa, std::array<uint8_t, 4> tpa) {
  std::vector<uint8_t> f;
  const uint32_t l3 = WriteEther(f, {}, wire::kEtherTypeArp);
  f.resize(l3 + wire::kArpLen);
  uint8_t* a = &f[l3];
  Store16(a, wire::kArpHwEther);
  Store16(a + 2, wire::kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  Store16(a + 6, wire::kArpOpRequest);
  std::copy(kSrcMac.begin(), kSrcMac.end(), a + 8);
  std::copy(spa.begin(), spa.end(), a + 14);
  std::copy(tpa.begin(), tpa.end(), a + 24);  // tha (a + 18) stays zero
  return f;
}

}  // namespace netisr::proto
