// router/forward.h: the rewrite's checksum equals a full recompute (every
// TTL, every checksum value, random headers), the time-exceeded and martian
// verdicts, the VLAN rule, the MAC rewrite.

#include "router/forward.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/frame_builder.h"
#include "proto/wire.h"
#include "tests/router/rforward_test_util.h"

namespace netisr::router {
namespace {

using base::Load16;
using base::Store16;
using proto::FrameSpec;
using proto::Layout;
using testing::Bytes;
using testing::Load;
using testing::MakePool;
using testing::Parses;
namespace wire = proto::wire;

constexpr MacAddr kOurMac = {0x02, 0xaa, 0, 0, 0, 1};
constexpr MacAddr kNextHop = {0x02, 0xbb, 0, 0, 0, 2};
constexpr uint32_t kL3 = wire::kEtherHeaderLen;

Layout V4Layout() {
  Layout l;
  l.l3_off = kL3;
  l.ethertype = wire::kEtherTypeIpv4;
  return l;
}

// The IPv4 header's checksum field as a full recompute would write it.
uint16_t FullChecksum(const uint8_t* ip) {
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  std::vector<uint8_t> h(ip, ip + ihl);
  Store16(&h[wire::kIpv4ChecksumOffset], 0);
  return base::Checksum(h.data(), ihl);
}

void SetChecksum(uint8_t* ip) { Store16(ip + wire::kIpv4ChecksumOffset, FullChecksum(ip)); }

TEST(ForwardTest, Ipv4RewriteMatchesFullRecomputeAndKeepsTheRest) {
  auto pool = MakePool();
  FrameSpec s;
  s.payload = 32;
  Packet* p = Load(*pool, proto::BuildFrame(s));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  const std::vector<uint8_t> before = Bytes(*p);
  const Check c = Forward(*p, l, kOurMac, kNextHop);
  EXPECT_EQ(c, Check::Pass());
  const uint8_t* ip = p->data + l.l3_off;
  EXPECT_EQ(ip[wire::kIpv4TtlOffset], 63);
  EXPECT_EQ(Load16(ip + wire::kIpv4ChecksumOffset), FullChecksum(ip));
  EXPECT_TRUE(base::ChecksumOk(ip, 20));
  EXPECT_TRUE(std::equal(kNextHop.begin(), kNextHop.end(), p->data));
  EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), p->data + 6));
  // Nothing else changed: the EtherType, the rest of the header, the UDP
  // segment (no L4 checksum work on transit frames).
  const std::vector<uint8_t> after = Bytes(*p);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 12; i < after.size(); ++i) {
    if (i == kL3 + wire::kIpv4TtlOffset || i == kL3 + wire::kIpv4ChecksumOffset ||
        i == kL3 + wire::kIpv4ChecksumOffset + 1) {
      continue;
    }
    EXPECT_EQ(after[i], before[i]) << "byte " << i;
  }
  // The forwarded frame still passes the chain (TTL 63, same UDP checksum).
  EXPECT_TRUE(Parses(*p));
  Release(p);
  EXPECT_EQ(pool->available(), pool->capacity());
}

// Every arriving TTL that forwards (2..255), with every protocol value in
// the TTL's 16-bit word: the incremental update equals a full recompute.
TEST(ForwardTest, EveryTtlAndProtocolMatchesFullRecompute) {
  auto pool = MakePool();
  Packet* p = Load(*pool, proto::BuildFrame(FrameSpec{}));
  const Layout l = V4Layout();
  uint8_t* ip = p->data + kL3;
  for (int proto = 0; proto < 256; ++proto) {
    for (int ttl = 2; ttl < 256; ++ttl) {
      ip[wire::kIpv4TtlOffset] = static_cast<uint8_t>(ttl);
      ip[wire::kIpv4ProtoOffset] = static_cast<uint8_t>(proto);
      SetChecksum(ip);
      ASSERT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
      ASSERT_EQ(ip[wire::kIpv4TtlOffset], ttl - 1);
      ASSERT_EQ(Load16(ip + wire::kIpv4ChecksumOffset), FullChecksum(ip))
          << "ttl " << ttl << " proto " << proto;
    }
  }
  Release(p);
}

// Every value the checksum field can hold before the update (the ID field
// swept over 2^16 values moves the checksum over all of them), including
// the 0x0000 / 0xffff edge where RFC 1141's equation went wrong (RFC 1624
// section 3), and TTLs on both sides of a nibble and the 0x80 boundary.
TEST(ForwardTest, EveryChecksumValueMatchesFullRecompute) {
  auto pool = MakePool();
  Packet* p = Load(*pool, proto::BuildFrame(FrameSpec{}));
  const Layout l = V4Layout();
  uint8_t* ip = p->data + kL3;
  std::vector<bool> seen(65536);
  for (const int ttl : {2, 16, 17, 128, 129, 255}) {
    for (uint32_t id = 0; id < 65536; ++id) {
      ip[wire::kIpv4TtlOffset] = static_cast<uint8_t>(ttl);
      Store16(ip + 4, static_cast<uint16_t>(id));
      SetChecksum(ip);
      seen[Load16(ip + wire::kIpv4ChecksumOffset)] = true;
      ASSERT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
      ASSERT_EQ(Load16(ip + wire::kIpv4ChecksumOffset), FullChecksum(ip))
          << "ttl " << ttl << " id " << id;
    }
  }
  // A full recompute never writes 0xffff (RFC 1624 3: that is -0 of a
  // non-zero sum); every other value was an input.
  for (uint32_t v = 0; v < 0xffff; ++v) ASSERT_TRUE(seen[v]) << v;
  Release(p);
}

// Property: random IPv4 headers (options included, any field values).
TEST(ForwardTest, RandomHeadersMatchFullRecompute) {
  auto pool = MakePool();
  Packet* p = Load(*pool, std::vector<uint8_t>(kL3 + 60));
  const Layout l = V4Layout();
  uint8_t* ip = p->data + kL3;
  std::mt19937 rng(16);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t words = 5 + rng() % 11;
    for (uint32_t b = 0; b < 4 * words; ++b) ip[b] = static_cast<uint8_t>(rng());
    ip[0] = static_cast<uint8_t>(0x40 | words);
    ip[wire::kIpv4TtlOffset] = static_cast<uint8_t>(2 + rng() % 254);
    SetChecksum(ip);
    const uint8_t ttl = ip[wire::kIpv4TtlOffset];
    ASSERT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
    ASSERT_EQ(ip[wire::kIpv4TtlOffset], ttl - 1);
    ASSERT_EQ(Load16(ip + wire::kIpv4ChecksumOffset), FullChecksum(ip)) << "iteration " << i;
    ASSERT_TRUE(base::ChecksumOk(ip, 4 * words));
  }
  Release(p);
}

// RFC 1812 5.3.1: TTL 0 or 1 on arrival is not forwarded; the frame stays
// exactly as received, for the ICMP error to quote (Linux is the reference:
// ip_forward() sends the error before ip_decrease_ttl(), so the quote shows
// the TTL that arrived, which is what traceroute expects).
TEST(ForwardTest, TtlOneOrZeroIsTimeExceededAndUntouched) {
  auto pool = MakePool();
  for (const uint8_t ttl : {0, 1}) {
    Packet* p = Load(*pool, proto::BuildFrame(FrameSpec{}));
    Layout l;
    ASSERT_TRUE(Parses(*p, &l));
    uint8_t* ip = p->data + l.l3_off;
    ip[wire::kIpv4TtlOffset] = ttl;
    SetChecksum(ip);
    const std::vector<uint8_t> before = Bytes(*p);
    const Check want{Verdict::kTimeExceeded, FrameDrop::kTtlExceeded};
    EXPECT_EQ(CheckTtl(*p, l), want);
    EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), want);
    EXPECT_EQ(Bytes(*p), before);
    EXPECT_EQ(ToString(want.why), "ttl_exceeded");
    Release(p);
  }
}

TEST(ForwardTest, Ipv6HopLimitDecrementAndExpiry) {
  auto pool = MakePool();
  FrameSpec s;
  s.ipv6 = true;
  s.payload = 10;
  Packet* p = Load(*pool, proto::BuildFrame(s));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  uint8_t* ip = p->data + l.l3_off;
  const std::vector<uint8_t> before = Bytes(*p);
  EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
  EXPECT_EQ(ip[7], 63);
  std::vector<uint8_t> after = Bytes(*p);
  after[kL3 + 7] = 64;
  EXPECT_TRUE(std::equal(after.begin() + 12, after.end(), before.begin() + 12));
  EXPECT_TRUE(Parses(*p));  // the UDP checksum did not depend on the hop limit

  for (const uint8_t hl : {0, 1}) {
    ip[7] = hl;
    const std::vector<uint8_t> b = Bytes(*p);
    const Check want{Verdict::kTimeExceeded, FrameDrop::kHopLimitExceeded};
    EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), want);
    EXPECT_EQ(Bytes(*p), b);
  }
  ip[7] = 2;
  EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
  EXPECT_EQ(ip[7], 1);
  Release(p);
}

TEST(ForwardTest, Ipv4WithOptionsForwards) {
  auto pool = MakePool();
  FrameSpec s;
  s.ip_option_words = 3;
  s.l4 = FrameSpec::L4::kTcp;
  Packet* p = Load(*pool, proto::BuildFrame(s));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Pass());
  EXPECT_TRUE(Parses(*p));
  Release(p);
}

// The router's ports are untagged: a tagged frame is dropped as
// vlan_tagged, not stripped (forward.h says why).
TEST(ForwardTest, TaggedFrameIsDropped) {
  auto pool = MakePool();
  for (const std::vector<uint16_t>& tags : {std::vector<uint16_t>{5}, {100, 200}}) {
    FrameSpec s;
    s.vlans = tags;
    Packet* p = Load(*pool, proto::BuildFrame(s));
    Layout l;
    ASSERT_TRUE(Parses(*p, &l));
    EXPECT_EQ(CheckIngress(*p, l), Check::Drop(FrameDrop::kVlanTagged));
    EXPECT_EQ(ToString(FrameDrop::kVlanTagged), "vlan_tagged");
    Release(p);
  }
}

struct Martian4 {
  std::array<uint8_t, 4> addr;
  FrameDrop as_dst;
};

TEST(ForwardTest, Ipv4SpecialAddressesAreNotForwarded) {
  auto pool = MakePool();
  const Martian4 cases[] = {
      {{0, 0, 0, 0}, FrameDrop::kDstUnspecified},
      {{0, 1, 2, 3}, FrameDrop::kDstUnspecified},
      {{127, 0, 0, 1}, FrameDrop::kDstLoopback},
      {{127, 255, 255, 254}, FrameDrop::kDstLoopback},
      {{224, 0, 0, 1}, FrameDrop::kDstMulticast},
      {{239, 255, 255, 255}, FrameDrop::kDstMulticast},
      {{255, 255, 255, 255}, FrameDrop::kDstBroadcast},
      {{169, 254, 0, 1}, FrameDrop::kDstLinkLocal},
      {{169, 254, 255, 255}, FrameDrop::kDstLinkLocal},
      {{10, 3, 0, 1}, FrameDrop::kCount},
      {{169, 253, 0, 1}, FrameDrop::kCount},
      {{223, 255, 255, 255}, FrameDrop::kCount},
      {{240, 0, 0, 1}, FrameDrop::kCount},  // class E: forwarded, as Linux
      {{1, 0, 0, 0}, FrameDrop::kCount},
      {{126, 255, 255, 255}, FrameDrop::kCount},
  };
  for (const Martian4& c : cases) {
    FrameSpec s;
    s.dst4 = c.addr;
    Packet* p = Load(*pool, proto::BuildFrame(s));
    Layout l;
    ASSERT_TRUE(Parses(*p, &l));
    const Check want = c.as_dst == FrameDrop::kCount ? Check::Pass() : Check::Drop(c.as_dst);
    EXPECT_EQ(CheckIngress(*p, l), want) << int(c.addr[0]) << "." << int(c.addr[1]);
    Release(p);

    // The same address as the source: every special one is src_invalid.
    s = FrameSpec{};
    s.src4 = c.addr;
    p = Load(*pool, proto::BuildFrame(s));
    ASSERT_TRUE(Parses(*p, &l));
    const Check want_src =
        c.as_dst == FrameDrop::kCount ? Check::Pass() : Check::Drop(FrameDrop::kSrcInvalid);
    EXPECT_EQ(CheckIngress(*p, l), want_src) << int(c.addr[0]) << "." << int(c.addr[1]);
    Release(p);
  }
  EXPECT_EQ(pool->available(), pool->capacity());
}

Ip6Addr V6(std::initializer_list<uint8_t> head, uint8_t last) {
  Ip6Addr a{};
  std::copy(head.begin(), head.end(), a.begin());
  a[15] = last;
  return a;
}

TEST(ForwardTest, Ipv6SpecialAddressesAreNotForwarded) {
  auto pool = MakePool();
  const std::pair<Ip6Addr, FrameDrop> cases[] = {
      {V6({}, 0), FrameDrop::kDstUnspecified},
      {V6({}, 1), FrameDrop::kDstLoopback},
      {V6({0xff, 0x02}, 1), FrameDrop::kDstMulticast},
      {V6({0xff, 0x0e}, 0x42), FrameDrop::kDstMulticast},
      {V6({0xfe, 0x80}, 1), FrameDrop::kDstLinkLocal},
      {V6({0xfe, 0xbf, 0xff}, 1), FrameDrop::kDstLinkLocal},
      {V6({0xfe, 0xc0}, 1), FrameDrop::kCount},  // deprecated site-local: unicast
      {V6({0xfd, 0x00, 0, 2}, 2), FrameDrop::kCount},
      {V6({}, 2), FrameDrop::kCount},
      {V6({0x20, 0x01, 0x0d, 0xb8}, 0), FrameDrop::kCount},
  };
  for (const auto& [addr, why] : cases) {
    FrameSpec s;
    s.ipv6 = true;
    s.dst6 = addr;
    Packet* p = Load(*pool, proto::BuildFrame(s));
    Layout l;
    ASSERT_TRUE(Parses(*p, &l));
    EXPECT_EQ(CheckIngress(*p, l), why == FrameDrop::kCount ? Check::Pass() : Check::Drop(why))
        << ToString(why);
    Release(p);
    s = FrameSpec{};
    s.ipv6 = true;
    s.src6 = addr;
    p = Load(*pool, proto::BuildFrame(s));
    ASSERT_TRUE(Parses(*p, &l));
    EXPECT_EQ(CheckIngress(*p, l),
              why == FrameDrop::kCount ? Check::Pass() : Check::Drop(FrameDrop::kSrcInvalid))
        << ToString(why);
    Release(p);
  }
}

TEST(ForwardTest, NonIpFrameIsNotIp) {
  auto pool = MakePool();
  Packet* p = Load(*pool, proto::BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2}));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  EXPECT_EQ(CheckIngress(*p, l), Check::Drop(FrameDrop::kNotIp));
  EXPECT_EQ(Forward(*p, l, kOurMac, kNextHop), Check::Drop(FrameDrop::kNotIp));
  Release(p);
}

TEST(ForwardTest, EveryDropHasADistinctName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kNumFrameDrops; ++i) {
    const std::string_view n = ToString(static_cast<FrameDrop>(i));
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(ToString(FrameDrop::kCount), "unknown");
}

}  // namespace
}  // namespace netisr::router
