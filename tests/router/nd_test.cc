// router/nd.h: ARP request bytes, NS/NA round trip through the parse chain,
// RFC 4861 7.1 validity checks, what the neighbour table learns, the
// ICMPv6 echo reply.

#include "router/nd.h"

#include <gtest/gtest.h>

#include <vector>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/frame_builder.h"
#include "proto/responder.h"
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

constexpr uint32_t kL3 = wire::kEtherHeaderLen;
constexpr MacAddr kRouterMac = {0x02, 0xaa, 0, 0, 0, 1};
constexpr MacAddr kHostMac = {0x02, 0xcc, 0x10, 0x20, 0x30, 0x40};
constexpr Ip6Addr kRouterIp = {0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr Ip6Addr kHostIp = {0xfd, 0, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0xab, 0xcd, 0xef};

class NdTest : public ::testing::Test {
 protected:
  std::unique_ptr<PacketPool> pool_ = MakePool(16, 2048);
  FrameAllocator alloc_ = PoolAllocator(*pool_);
  void TearDown() override { EXPECT_EQ(pool_->available(), pool_->capacity()); }
};

// RFC 826 byte by byte: broadcast, our MAC, 0x0806; Ethernet/IPv4, 6/4,
// request; sender = us, target MAC zero, target IP; zero padding to 60.
TEST_F(NdTest, ArpRequestBytes) {
  Packet* p = MakeArpRequest(alloc_, 0x0a020001, kRouterMac, 0x0a020002);
  ASSERT_NE(p, nullptr);
  const std::vector<uint8_t> want = {
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0xaa, 0, 0, 0, 1, 0x08, 0x06,  // Ethernet
      0,    1,    0x08, 0,    6,    4,    0,    1,                             // htype..op
      0x02, 0xaa, 0,    0,    0,    1,    10,   2,    0, 1,                    // sha, spa
      0,    0,    0,    0,    0,    0,    10,   2,    0, 2,                    // tha, tpa
      0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0,    0,
      0,    0,    0,    0};  // padding
  EXPECT_EQ(Bytes(*p), want);
  // The parse chain accepts it, and proto's learning reads us back.
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  const proto::ArpSender s = proto::ArpSenderOf(*p, l);
  EXPECT_EQ(s.ip, 0x0a020001u);
  EXPECT_EQ(s.mac, kRouterMac);
  Release(p);
}

// The request round trip: proto::MakeArpReply (the host's answer, as a
// host would give it) turns our request into a reply that teaches us the
// host's MAC.
TEST_F(NdTest, ArpRequestAnsweredByProtoReply) {
  Packet* p = MakeArpRequest(alloc_, 0x0a020001, kRouterMac, 0x0a020002);
  ASSERT_NE(p, nullptr);
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  ASSERT_EQ(proto::MakeArpReply(*p, l, 0x0a020002, kHostMac), proto::Reply::kReplied);
  EXPECT_TRUE(std::equal(kRouterMac.begin(), kRouterMac.end(), p->data));
  ASSERT_TRUE(Parses(*p, &l));
  const proto::ArpSender s = proto::ArpSenderOf(*p, l);
  EXPECT_EQ(s.ip, 0x0a020002u);
  EXPECT_EQ(s.mac, kHostMac);
  Release(p);
}

TEST_F(NdTest, NoBufferGivesNoFrame) {
  FrameAllocator empty{[](void*) -> Packet* { return nullptr; }, nullptr, 2048};
  EXPECT_EQ(MakeArpRequest(empty, 1, kRouterMac, 2), nullptr);
  EXPECT_EQ(MakeNeighborSolicit(empty, kRouterIp, kRouterMac, kHostIp), nullptr);
  FrameAllocator small = alloc_;
  small.capacity = 59;
  EXPECT_EQ(MakeArpRequest(small, 1, kRouterMac, 2), nullptr);
  small.capacity = 85;
  EXPECT_EQ(MakeNeighborSolicit(small, kRouterIp, kRouterMac, kHostIp), nullptr);
}

TEST(NdAddressTest, SolicitedNodeAndMulticastMac) {
  const Ip6Addr g = SolicitedNode(kHostIp);
  const Ip6Addr want = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xab, 0xcd, 0xef};
  EXPECT_EQ(g, want);
  EXPECT_EQ(MulticastMac(g), (MacAddr{0x33, 0x33, 0xff, 0xab, 0xcd, 0xef}));
}

// A reachability probe (RFC 4861 7.3.3): to the neighbour's own address
// and MAC, not the solicited-node group; the checksum covers that address.
TEST_F(NdTest, UnicastProbeGoesToTheNeighbourItself) {
  const MacAddr host_mac{0x02, 0, 0, 0, 0x0b, 0x02};
  Packet* p = MakeNeighborSolicit(alloc_, kRouterIp, kRouterMac, kHostIp, host_mac);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(std::equal(host_mac.begin(), host_mac.end(), p->data));
  const uint8_t* ip = p->data + kL3;
  EXPECT_TRUE(std::equal(kHostIp.begin(), kHostIp.end(), ip + 24));
  EXPECT_TRUE(base::ChecksumOk(ip + 40, 32,
                               base::PseudoHeaderSum6(ip + 8, ip + 24, wire::kProtoIcmp6, 32)));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  NdMessage ns;
  ASSERT_EQ(ParseNd(*p, l, &ns), FrameDrop::kCount);
  EXPECT_EQ(ns.dst, kHostIp);
  EXPECT_EQ(ns.target, kHostIp);
  Release(p);
}

// Our NS: bytes that matter, then the parse chain (ICMPv6 checksum) and
// ParseNd accept it, and a host learning from it binds us.
TEST_F(NdTest, SolicitBytesAndParse) {
  Packet* p = MakeNeighborSolicit(alloc_, kRouterIp, kRouterMac, kHostIp);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->len, 86u);
  EXPECT_TRUE(std::equal(p->data, p->data + 6, MulticastMac(SolicitedNode(kHostIp)).begin()));
  EXPECT_TRUE(std::equal(kRouterMac.begin(), kRouterMac.end(), p->data + 6));
  const uint8_t* ip = p->data + kL3;
  EXPECT_EQ(ip[7], 255);
  EXPECT_EQ(Load16(ip + 4), 32);
  const uint8_t* m = ip + 40;
  EXPECT_EQ(m[0], 135);
  EXPECT_EQ(m[1], 0);
  EXPECT_EQ(base::Load32(m + 4), 0u);
  EXPECT_TRUE(std::equal(kHostIp.begin(), kHostIp.end(), m + 8));
  EXPECT_EQ(m[24], 1);  // source LL option
  EXPECT_EQ(m[25], 1);
  EXPECT_TRUE(std::equal(kRouterMac.begin(), kRouterMac.end(), m + 26));
  EXPECT_TRUE(
      base::ChecksumOk(m, 32, base::PseudoHeaderSum6(ip + 8, ip + 24, wire::kProtoIcmp6, 32)));

  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  ASSERT_EQ(NdKindOf(*p, l), NdKind::kSolicit);
  NdMessage ns;
  ASSERT_EQ(ParseNd(*p, l, &ns), FrameDrop::kCount);
  EXPECT_EQ(ns.kind, NdKind::kSolicit);
  EXPECT_EQ(ns.src, kRouterIp);
  EXPECT_EQ(ns.dst, SolicitedNode(kHostIp));
  EXPECT_EQ(ns.target, kHostIp);
  EXPECT_TRUE(ns.has_ll);
  EXPECT_EQ(ns.ll, kRouterMac);
  Neighbour6 n;
  ASSERT_TRUE(LearnFrom(ns, &n));
  EXPECT_EQ(n.ip, kRouterIp);
  EXPECT_EQ(n.mac, kRouterMac);
  Release(p);
}

// The round trip both ways: our NS answered by MakeNeighborAdvert (playing
// the host), the NA parsed and learned; and the host's NS for our address
// answered by us.
TEST_F(NdTest, SolicitAdvertRoundTrip) {
  Packet* ns_frame = MakeNeighborSolicit(alloc_, kRouterIp, kRouterMac, kHostIp);
  ASSERT_NE(ns_frame, nullptr);
  Layout l;
  ASSERT_TRUE(Parses(*ns_frame, &l));
  NdMessage ns;
  ASSERT_EQ(ParseNd(*ns_frame, l, &ns), FrameDrop::kCount);
  Packet* na_frame = MakeNeighborAdvert(alloc_, ns, kHostMac);  // the host answers
  ASSERT_NE(na_frame, nullptr);
  Release(ns_frame);

  EXPECT_TRUE(std::equal(kRouterMac.begin(), kRouterMac.end(), na_frame->data));  // to SLLA
  EXPECT_TRUE(std::equal(kHostMac.begin(), kHostMac.end(), na_frame->data + 6));
  Layout nl;
  ASSERT_TRUE(Parses(*na_frame, &nl));
  ASSERT_EQ(NdKindOf(*na_frame, nl), NdKind::kAdvert);
  NdMessage na;
  ASSERT_EQ(ParseNd(*na_frame, nl, &na), FrameDrop::kCount);
  EXPECT_EQ(na.src, kHostIp);
  EXPECT_EQ(na.dst, kRouterIp);
  EXPECT_EQ(na.target, kHostIp);
  EXPECT_TRUE(na.solicited);
  EXPECT_TRUE(na.override_flag);
  EXPECT_TRUE(na.router);
  EXPECT_EQ(na_frame->data[kL3 + 7], 255);
  EXPECT_EQ(na_frame->data[kL3 + 40 + 4], 0xe0);  // R, S, O
  EXPECT_EQ(na_frame->data[kL3 + 40 + 24], 2);    // target LL option
  Neighbour6 n;
  ASSERT_TRUE(LearnFrom(na, &n));
  EXPECT_EQ(n.ip, kHostIp);
  EXPECT_EQ(n.mac, kHostMac);
  Release(na_frame);
}

// An NS with no source LL option (unicast NS may omit it): the NA goes to
// the frame's Ethernet source; nothing is learned from the NS.
TEST_F(NdTest, AdvertToEthernetSourceWithoutSlla) {
  Packet* p = MakeNeighborSolicit(alloc_, kHostIp, kHostMac, kRouterIp);
  ASSERT_NE(p, nullptr);
  // Drop the option: payload length 24, checksum recomputed.
  uint8_t* ip = p->data + kL3;
  Store16(ip + 4, 24);
  p->len -= 8;
  uint8_t* m = ip + 40;
  Store16(m + 2, 0);
  Store16(m + 2, base::Checksum(m, 24, base::PseudoHeaderSum6(ip + 8, ip + 24, 58, 24)));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  NdMessage ns;
  ASSERT_EQ(ParseNd(*p, l, &ns), FrameDrop::kCount);
  EXPECT_FALSE(ns.has_ll);
  Neighbour6 n;
  EXPECT_FALSE(LearnFrom(ns, &n));
  Packet* na = MakeNeighborAdvert(alloc_, ns, kRouterMac);
  ASSERT_NE(na, nullptr);
  EXPECT_TRUE(std::equal(kHostMac.begin(), kHostMac.end(), na->data));
  Release(na);
  Release(p);
}

// RFC 4861 7.2.4: an NS from :: (duplicate address detection) is answered
// to all-nodes with S clear; it teaches nothing.
TEST_F(NdTest, DadSolicitAnsweredToAllNodes) {
  Packet* p = MakeNeighborSolicit(alloc_, Ip6Addr{}, kHostMac, kRouterIp);
  ASSERT_NE(p, nullptr);
  uint8_t* ip = p->data + kL3;
  Store16(ip + 4, 24);  // no SLLA from ::
  p->len -= 8;
  uint8_t* m = ip + 40;
  Store16(m + 2, 0);
  Store16(m + 2, base::Checksum(m, 24, base::PseudoHeaderSum6(ip + 8, ip + 24, 58, 24)));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  NdMessage ns;
  ASSERT_EQ(ParseNd(*p, l, &ns), FrameDrop::kCount);
  Neighbour6 n;
  EXPECT_FALSE(LearnFrom(ns, &n));
  Packet* na = MakeNeighborAdvert(alloc_, ns, kRouterMac);
  ASSERT_NE(na, nullptr);
  EXPECT_TRUE(std::equal(na->data, na->data + 6, MacAddr{0x33, 0x33, 0, 0, 0, 1}.begin()));
  Layout nl;
  ASSERT_TRUE(Parses(*na, &nl));
  NdMessage adv;
  ASSERT_EQ(ParseNd(*na, nl, &adv), FrameDrop::kCount);  // S clear, so valid to multicast
  EXPECT_FALSE(adv.solicited);
  EXPECT_EQ(adv.dst, (Ip6Addr{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(adv.src, kRouterIp);
  Release(na);
  Release(p);
}

// One broken field at a time, checksum fixed so that the parse chain
// passes it and ParseNd's own check is what fails.
class NdCheckTest : public NdTest {
 protected:
  // A valid NS (or NA) frame as bytes.
  std::vector<uint8_t> Valid(bool advert) {
    Packet* p = MakeNeighborSolicit(alloc_, kHostIp, kHostMac, kRouterIp);
    if (advert) {
      Layout l;
      EXPECT_TRUE(Parses(*p, &l));
      NdMessage ns;
      EXPECT_EQ(ParseNd(*p, l, &ns), FrameDrop::kCount);
      Packet* na = MakeNeighborAdvert(alloc_, ns, kRouterMac);
      Release(p);
      p = na;
    }
    std::vector<uint8_t> f = Bytes(*p);
    Release(p);
    return f;
  }
  // Fixes lengths and the checksum, parses, runs ParseNd.
  FrameDrop Check(std::vector<uint8_t> f) {
    uint8_t* ip = &f[kL3];
    const uint16_t plen = static_cast<uint16_t>(f.size() - kL3 - 40);
    Store16(ip + 4, plen);
    uint8_t* m = ip + 40;
    Store16(m + 2, 0);
    Store16(m + 2, base::Checksum(m, plen, base::PseudoHeaderSum6(ip + 8, ip + 24, 58, plen)));
    Packet* p = Load(*pool_, f);
    Layout l;
    EXPECT_TRUE(Parses(*p, &l));
    NdMessage msg;
    const FrameDrop r = ParseNd(*p, l, &msg);
    Release(p);
    return r;
  }
};

TEST_F(NdCheckTest, EachRuleOfRfc4861) {
  for (const bool advert : {false, true}) {
    const std::vector<uint8_t> ok = Valid(advert);
    constexpr size_t kMsg = kL3 + 40;
    EXPECT_EQ(Check(ok), FrameDrop::kCount);

    std::vector<uint8_t> f = ok;
    f[kL3 + 7] = 254;  // forwarded once: not from the link
    EXPECT_EQ(Check(f), FrameDrop::kNdBadHopLimit);

    f = ok;
    f[kMsg + 1] = 1;
    EXPECT_EQ(Check(f), FrameDrop::kNdBadCode);

    f = ok;
    f.resize(kMsg + 20);
    EXPECT_EQ(Check(f), FrameDrop::kNdTruncated);

    f = ok;
    f[kMsg + 8] = 0xff;  // target multicast
    EXPECT_EQ(Check(f), FrameDrop::kNdTargetMulticast);

    f = ok;
    f[kMsg + 25] = 0;  // option length 0 (a loop without end, RFC 4861 4.6)
    EXPECT_EQ(Check(f), FrameDrop::kNdBadOption);

    f = ok;
    f[kMsg + 25] = 2;  // runs past the message
    EXPECT_EQ(Check(f), FrameDrop::kNdBadOption);

    // An LL option of 16 bytes: not Ethernet's. Linux is the reference
    // (ndisc_opt_addr_data() refuses a length other than the device's).
    f = ok;
    f[kMsg + 25] = 2;
    f.resize(f.size() + 8);
    EXPECT_EQ(Check(f), FrameDrop::kNdBadOption);

    f = ok;  // a lone byte after the options
    f.push_back(1);
    EXPECT_EQ(Check(f), FrameDrop::kNdBadOption);

    f = ok;  // an unknown option (nonce, 14) is skipped
    f.insert(f.end(), {14, 1, 1, 2, 3, 4, 5, 6});
    EXPECT_EQ(Check(f), FrameDrop::kCount);
  }
  std::vector<uint8_t> ok = Valid(false);
  // NS from :: must go to a solicited-node address and carry no SLLA.
  std::vector<uint8_t> f = ok;
  std::fill(f.begin() + kL3 + 8, f.begin() + kL3 + 24, 0);
  EXPECT_EQ(Check(f), FrameDrop::kNdBadDad);  // SLLA present
  f.resize(f.size() - 8);
  EXPECT_EQ(Check(f), FrameDrop::kCount);
  std::copy(kRouterIp.begin(), kRouterIp.end(), f.begin() + kL3 + 24);  // unicast dst
  EXPECT_EQ(Check(f), FrameDrop::kNdBadDad);

  // NA with S set to a multicast destination.
  f = Valid(true);
  const Ip6Addr all = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::copy(all.begin(), all.end(), f.begin() + kL3 + 24);
  EXPECT_EQ(Check(f), FrameDrop::kNdSolicitedMulticast);
  f[kL3 + 40 + 4] &= ~0x40;
  EXPECT_EQ(Check(f), FrameDrop::kCount);
}

TEST_F(NdTest, OtherIcmp6IsNotNd) {
  FrameSpec s;
  s.ipv6 = true;
  s.l4 = FrameSpec::L4::kIcmpEcho;
  Packet* p = Load(*pool_, proto::BuildFrame(s));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  EXPECT_EQ(NdKindOf(*p, l), NdKind::kNotNd);
  NdMessage m;
  EXPECT_EQ(ParseNd(*p, l, &m), FrameDrop::kNotIp);
  Release(p);
}

// As proto::MakeIcmpEchoReply for IPv4: addresses and MACs swapped, hop
// limit 64, type 129, checksum right (the parse chain verifies it).
TEST_F(NdTest, Icmp6EchoReply) {
  FrameSpec s;
  s.ipv6 = true;
  s.l4 = FrameSpec::L4::kIcmpEcho;
  s.payload = 56;
  s.src6 = kHostIp;
  s.dst6 = kRouterIp;
  Packet* p = Load(*pool_, proto::BuildFrame(s));
  Layout l;
  ASSERT_TRUE(Parses(*p, &l));
  const std::vector<uint8_t> req = Bytes(*p);
  EXPECT_EQ(MakeIcmp6EchoReply(*p, l, kHostIp), proto::Reply::kNotForUs);
  EXPECT_EQ(Bytes(*p), req);
  ASSERT_EQ(MakeIcmp6EchoReply(*p, l, kRouterIp), proto::Reply::kReplied);
  const uint8_t* ip = p->data + kL3;
  EXPECT_TRUE(std::equal(p->data, p->data + 6, req.begin() + 6));
  EXPECT_TRUE(std::equal(p->data + 6, p->data + 12, req.begin()));
  EXPECT_TRUE(std::equal(kRouterIp.begin(), kRouterIp.end(), ip + 8));
  EXPECT_TRUE(std::equal(kHostIp.begin(), kHostIp.end(), ip + 24));
  EXPECT_EQ(ip[7], 64);
  EXPECT_EQ(p->data[l.l4_off], wire::kIcmp6EchoReply);
  // id, seq, payload as in the request.
  EXPECT_TRUE(std::equal(p->data + l.l4_off + 4, p->data + p->len, req.begin() + l.l4_off + 4));
  Layout rl;
  EXPECT_TRUE(Parses(*p, &rl));  // ICMPv6 checksum verified
  // A reply is not answered.
  EXPECT_EQ(MakeIcmp6EchoReply(*p, rl, kHostIp), proto::Reply::kIgnored);
  Release(p);
}

}  // namespace
}  // namespace netisr::router
