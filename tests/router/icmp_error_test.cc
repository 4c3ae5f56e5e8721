// router/icmp_error.h: every error type's bytes (type, code, quote,
// lengths, checksums by base/checksum.h and by the parse chain), the
// no-error rules, the rate limiter, buffer exhaustion and conservation.

#include "router/icmp_error.h"

#include <gtest/gtest.h>

#include <vector>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/frame_builder.h"
#include "proto/wire.h"
#include "tests/router/rforward_test_util.h"

namespace netisr::router {
namespace {

using base::Load16;
using base::Load32;
using base::Store16;
using proto::FrameSpec;
using proto::Layout;
using testing::Bytes;
using testing::Load;
using testing::MakePool;
using testing::Parses;
namespace wire = proto::wire;

constexpr uint32_t kL3 = wire::kEtherHeaderLen;
constexpr uint64_t kSec = 1'000'000'000;

ErrorOrigin Port() {
  ErrorOrigin a;
  a.mac = {0x02, 0xaa, 0, 0, 0, 1};
  a.ip4 = 0x0a010001;  // 10.1.0.1
  a.ip6 = {0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a;
}

// Builds, loads and parses a frame; the offending packet of each test.
struct Offending {
  std::unique_ptr<PacketPool> pool = MakePool(8);
  Packet* pkt = nullptr;
  Layout l;
  explicit Offending(const FrameSpec& s) : Offending(proto::BuildFrame(s)) {}
  explicit Offending(const std::vector<uint8_t>& bytes) {
    pkt = Load(*pool, bytes);
    EXPECT_TRUE(Parses(*pkt, &l));
  }
  ~Offending() {
    Release(pkt);
    EXPECT_EQ(pool->available(), pool->capacity());
  }
  const uint8_t* ip() const { return pkt->data + l.l3_off; }
  uint32_t ip_len() const { return pkt->len - l.l3_off; }
};

class IcmpErrorTest : public ::testing::Test {
 protected:
  std::unique_ptr<PacketPool> out_pool_ = MakePool(64, 2048);
  FrameAllocator alloc_ = PoolAllocator(*out_pool_);
  IcmpRateLimiter limiter_{IcmpRateConfig{1000, 1000}};

  ErrorResult Make(const Offending& o, IcmpError t) {
    return MakeIcmpError(*o.pkt, o.l, t, Port(), limiter_, 0, alloc_);
  }
  void TearDown() override { EXPECT_EQ(out_pool_->available(), out_pool_->capacity()); }
};

// An IPv4 error: Ethernet back to the sender's MAC from ours; IPv4 from our
// port address to the offending source, TTL 64, TOS 0xc0, DF; ICMP type,
// code, zero unused word, the quote; both checksums verified with
// base/checksum.h, and the frame accepted by the parse chain.
void ExpectIcmp4(const Packet& e, const Offending& o, uint8_t type, uint8_t code,
                 uint32_t quote_len) {
  const ErrorOrigin in = Port();
  ASSERT_EQ(e.len, kL3 + 20 + 8 + quote_len);
  EXPECT_TRUE(std::equal(e.data, e.data + 6, o.pkt->data + 6));  // to the sender's MAC
  EXPECT_TRUE(std::equal(in.mac.begin(), in.mac.end(), e.data + 6));
  EXPECT_EQ(Load16(e.data + 12), wire::kEtherTypeIpv4);
  const uint8_t* ip = e.data + kL3;
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(ip[1], 0xc0);
  EXPECT_EQ(Load16(ip + wire::kIpv4TotalLenOffset), 20 + 8 + quote_len);
  EXPECT_EQ(Load16(ip + wire::kIpv4FragOffset), 0x4000);
  EXPECT_EQ(ip[wire::kIpv4TtlOffset], 64);
  EXPECT_EQ(ip[wire::kIpv4ProtoOffset], wire::kProtoIcmp);
  EXPECT_EQ(Load32(ip + wire::kIpv4SrcOffset), in.ip4);
  EXPECT_EQ(Load32(ip + wire::kIpv4DstOffset), Load32(o.ip() + wire::kIpv4SrcOffset));
  EXPECT_TRUE(base::ChecksumOk(ip, 20));
  const uint8_t* icmp = ip + 20;
  EXPECT_EQ(icmp[0], type);
  EXPECT_EQ(icmp[1], code);
  EXPECT_EQ(Load32(icmp + 4), 0u);
  EXPECT_TRUE(base::ChecksumOk(icmp, 8 + quote_len));
  EXPECT_TRUE(std::equal(icmp + 8, icmp + 8 + quote_len, o.ip()));
  Packet copy = e;
  Layout l;
  EXPECT_TRUE(Parses(copy, &l));
  EXPECT_EQ(l.ip_proto, wire::kProtoIcmp);
  EXPECT_EQ(proto::GetLayout(e).l4_off, kL3 + 20);  // the builder's own Layout
}

void ExpectIcmp6(const Packet& e, const Offending& o, uint8_t type, uint8_t code,
                 uint32_t quote_len) {
  const ErrorOrigin in = Port();
  ASSERT_EQ(e.len, kL3 + 40 + 8 + quote_len);
  EXPECT_TRUE(std::equal(e.data, e.data + 6, o.pkt->data + 6));
  EXPECT_TRUE(std::equal(in.mac.begin(), in.mac.end(), e.data + 6));
  EXPECT_EQ(Load16(e.data + 12), wire::kEtherTypeIpv6);
  const uint8_t* ip = e.data + kL3;
  EXPECT_EQ(Load32(ip), 0x60000000u);
  EXPECT_EQ(Load16(ip + wire::kIpv6PayloadLenOffset), 8 + quote_len);
  EXPECT_EQ(ip[wire::kIpv6NextHeaderOffset], wire::kProtoIcmp6);
  EXPECT_EQ(ip[7], 64);
  EXPECT_TRUE(std::equal(in.ip6.begin(), in.ip6.end(), ip + wire::kIpv6SrcOffset));
  EXPECT_TRUE(std::equal(ip + wire::kIpv6DstOffset, ip + wire::kIpv6DstOffset + 16,
                         o.ip() + wire::kIpv6SrcOffset));
  const uint8_t* icmp = ip + 40;
  EXPECT_EQ(icmp[0], type);
  EXPECT_EQ(icmp[1], code);
  EXPECT_EQ(Load32(icmp + 4), 0u);
  EXPECT_TRUE(
      base::ChecksumOk(icmp, 8 + quote_len,
                       base::PseudoHeaderSum6(ip + wire::kIpv6SrcOffset, ip + wire::kIpv6DstOffset,
                                              wire::kProtoIcmp6, 8 + quote_len)));
  EXPECT_TRUE(std::equal(icmp + 8, icmp + 8 + quote_len, o.ip()));
  Packet copy = e;
  Layout l;
  EXPECT_TRUE(Parses(copy, &l));
  EXPECT_EQ(l.ip_proto, wire::kProtoIcmp6);
}

TEST_F(IcmpErrorTest, Ipv4TypesAndCodesQuoteTheWholeShortDatagram) {
  FrameSpec s;
  s.payload = 100;
  s.pad_to = 0;
  const struct {
    IcmpError t;
    uint8_t type, code;
  } cases[] = {{IcmpError::kTimeExceeded, 11, 0},
               {IcmpError::kNetUnreachable, 3, 0},
               {IcmpError::kHostUnreachable, 3, 1}};
  for (const auto& c : cases) {
    Offending o(s);
    const ErrorResult r = Make(o, c.t);
    ASSERT_NE(r.frame, nullptr) << ToString(r.skip);
    ExpectIcmp4(*r.frame, o, c.type, c.code, o.ip_len());  // 20 + 8 + 100 < 548
    Release(r.frame);
  }
}

// Ethernet padding is not part of the datagram: the parse chain trimmed
// it, and the quote stops at the IP total length.
TEST_F(IcmpErrorTest, Ipv4QuoteExcludesEthernetPadding) {
  FrameSpec s;
  s.payload = 0;
  s.pad_to = 60;
  Offending o(s);
  ASSERT_EQ(o.ip_len(), 28u);
  const ErrorResult r = Make(o, IcmpError::kTimeExceeded);
  ASSERT_NE(r.frame, nullptr);
  ExpectIcmp4(*r.frame, o, 11, 0, 28);
  Release(r.frame);
}

// RFC 1812 4.3.2.3: as much as fits in 576 bytes. Linux is the reference
// for choosing the most, not RFC 792's minimum: icmp_send() quotes up to
// 576 bytes too, and traceroute/mtr read the quoted UDP/TCP ports.
TEST_F(IcmpErrorTest, Ipv4QuoteCappedAt576) {
  FrameSpec s;
  s.payload = 1400;
  Offending o(s);
  const ErrorResult r = Make(o, IcmpError::kTimeExceeded);
  ASSERT_NE(r.frame, nullptr);
  ExpectIcmp4(*r.frame, o, 11, 0, kIcmp4ErrorMaxLen - 28);
  EXPECT_EQ(r.frame->len - kL3, 576u);
  Release(r.frame);
}

// IP options are quoted with the header (RFC 792: the whole header).
TEST_F(IcmpErrorTest, Ipv4QuoteIncludesOptions) {
  FrameSpec s;
  s.ip_option_words = 10;
  s.payload = 600;
  Offending o(s);
  const ErrorResult r = Make(o, IcmpError::kNetUnreachable);
  ASSERT_NE(r.frame, nullptr);
  ExpectIcmp4(*r.frame, o, 3, 0, 548);
  Release(r.frame);
}

TEST_F(IcmpErrorTest, Ipv6TypesAndCodes) {
  FrameSpec s;
  s.ipv6 = true;
  s.payload = 100;
  const struct {
    IcmpError t;
    uint8_t type, code;
  } cases[] = {{IcmpError::kTimeExceeded, 3, 0},
               {IcmpError::kNetUnreachable, 1, 0},
               {IcmpError::kHostUnreachable, 1, 3}};
  for (const auto& c : cases) {
    Offending o(s);
    const ErrorResult r = Make(o, c.t);
    ASSERT_NE(r.frame, nullptr) << ToString(r.skip);
    ExpectIcmp6(*r.frame, o, c.type, c.code, o.ip_len());
    Release(r.frame);
  }
}

// RFC 4443 2.4(c): as much as fits in the minimum MTU, 1280 bytes.
TEST_F(IcmpErrorTest, Ipv6QuoteCappedAt1280) {
  FrameSpec s;
  s.ipv6 = true;
  s.l4 = FrameSpec::L4::kTcp;
  s.payload = 1400;
  Offending o(s);
  const ErrorResult r = Make(o, IcmpError::kTimeExceeded);
  ASSERT_NE(r.frame, nullptr);
  ExpectIcmp6(*r.frame, o, 3, 0, kIcmp6ErrorMaxLen - 48);
  EXPECT_EQ(r.frame->len - kL3, 1280u);
  Release(r.frame);
}

// An echo request or reply is not an error: it gets one (traceroute -I).
TEST_F(IcmpErrorTest, EchoGetsAnError) {
  for (const bool v6 : {false, true}) {
    FrameSpec s;
    s.ipv6 = v6;
    s.l4 = FrameSpec::L4::kIcmpEcho;
    Offending o(s);
    const ErrorResult r = Make(o, IcmpError::kTimeExceeded);
    ASSERT_NE(r.frame, nullptr) << v6;
    Release(r.frame);
  }
}

// Rewrites the ICMP / ICMPv6 type of an echo frame (checksum fixed) so that
// the parse chain still accepts it.
std::vector<uint8_t> IcmpOfType(bool v6, uint8_t type) {
  FrameSpec s;
  s.ipv6 = v6;
  s.l4 = FrameSpec::L4::kIcmpEcho;
  s.payload = 28;
  std::vector<uint8_t> f = proto::BuildFrame(s);
  const proto::FrameOffsets off = proto::OffsetsOf(s);
  uint8_t* icmp = &f[off.l4];
  const uint16_t old_word = Load16(icmp);
  icmp[0] = type;
  Store16(icmp + 2, base::UpdateChecksum(Load16(icmp + 2), old_word, Load16(icmp)));
  return f;
}

// RFC 1812 4.3.2.7, RFC 4443 2.4(e.1): never an error about an error.
TEST_F(IcmpErrorTest, NoErrorAboutAnError) {
  // Types past 18 count as errors: Linux is the reference (icmp_send()
  // treats a type above NR_ICMP_TYPES as an error, to be safe).
  for (const uint8_t t : {3, 4, 5, 11, 12, 19, 200}) {
    Offending o(IcmpOfType(false, t));
    EXPECT_EQ(Make(o, IcmpError::kTimeExceeded).skip, ErrorSkip::kAboutError) << int(t);
  }
  for (const uint8_t t : {0, 8, 13, 14, 17, 18}) {  // queries and replies: errors allowed
    Offending o(IcmpOfType(false, t));
    const ErrorResult r = Make(o, IcmpError::kTimeExceeded);
    EXPECT_NE(r.frame, nullptr) << int(t);
    if (r.frame) Release(r.frame);
  }
  for (const uint8_t t : {1, 2, 3, 4, 127}) {
    Offending o(IcmpOfType(true, t));
    EXPECT_EQ(Make(o, IcmpError::kNetUnreachable).skip, ErrorSkip::kAboutError) << int(t);
  }
  for (const uint8_t t : {128, 129, 135, 255}) {
    Offending o(IcmpOfType(true, t));
    const ErrorResult r = Make(o, IcmpError::kNetUnreachable);
    EXPECT_NE(r.frame, nullptr) << int(t);
    if (r.frame) Release(r.frame);
  }
  EXPECT_EQ(ToString(ErrorSkip::kAboutError), "icmp_error_about_error");
}

// Non-first fragments: the parse chain drops fragments today, so the
// Layout is written by hand as an IP-layer hook would.
// A router with no address of the family sends nothing rather than an
// error from 0.0.0.0 or ::, and spends no token on it.
TEST_F(IcmpErrorTest, NoErrorWithoutASourceAddressOfTheFamily) {
  ErrorOrigin none = Port();
  none.ip4 = 0;
  none.ip6 = {};
  FrameSpec s4;
  FrameSpec s6;
  s6.ipv6 = true;
  for (const FrameSpec& s : {s4, s6}) {
    Offending o(s);
    EXPECT_EQ(
        MakeIcmpError(*o.pkt, o.l, IcmpError::kNetUnreachable, none, limiter_, 0, alloc_).skip,
        ErrorSkip::kNoSource);
  }
  EXPECT_EQ(limiter_.allowed(), 0u);
}

TEST_F(IcmpErrorTest, NoErrorAboutANonFirstFragment) {
  auto pool = MakePool(4);
  FrameSpec s;
  s.payload = 64;
  std::vector<uint8_t> f = proto::BuildFrame(s);
  Layout l;
  l.l3_off = kL3;
  l.ethertype = wire::kEtherTypeIpv4;
  for (const uint16_t frag : {0x0001, 0x2010, 0x1fff}) {  // offset != 0, MF or not
    Store16(&f[kL3 + wire::kIpv4FragOffset], frag);
    Packet* p = Load(*pool, f);
    EXPECT_EQ(MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_).skip,
              ErrorSkip::kFragment);
    Release(p);
  }
  // A first fragment (MF, offset 0) gets its error.
  Store16(&f[kL3 + wire::kIpv4FragOffset], wire::kIpv4FlagMf);
  Packet* p = Load(*pool, f);
  const ErrorResult r = MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_);
  EXPECT_NE(r.frame, nullptr);
  if (r.frame) Release(r.frame);
  Release(p);

  // IPv6: a hop-by-hop header turned into a Fragment header.
  s = FrameSpec{};
  s.ipv6 = true;
  s.ip6_ext_headers = 1;
  s.payload = 64;
  f = proto::BuildFrame(s);
  f[kL3 + wire::kIpv6NextHeaderOffset] = wire::kProtoFragment;
  uint8_t* frag = &f[kL3 + 40];
  frag[1] = 0;
  l.ethertype = wire::kEtherTypeIpv6;
  for (const uint16_t fo : {0x0008, 0x0009, 0xfff8}) {
    Store16(frag + 2, fo);
    p = Load(*pool, f);
    EXPECT_EQ(MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_).skip,
              ErrorSkip::kFragment);
    Release(p);
  }
  Store16(frag + 2, 0x0001);  // first fragment
  p = Load(*pool, f);
  const ErrorResult r6 =
      MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_);
  EXPECT_NE(r6.frame, nullptr);
  if (r6.frame) Release(r6.frame);
  Release(p);
}

TEST_F(IcmpErrorTest, NoErrorAboutMulticastOrBroadcast) {
  const std::array<uint8_t, 4> v4_dsts[] = {{224, 0, 0, 5}, {239, 1, 2, 3}, {255, 255, 255, 255}};
  for (const auto& d : v4_dsts) {
    FrameSpec s;
    s.dst4 = d;
    Offending o(s);
    EXPECT_EQ(Make(o, IcmpError::kNetUnreachable).skip, ErrorSkip::kMulticast);
  }
  FrameSpec s6;
  s6.ipv6 = true;
  s6.dst6 = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  {
    Offending o(s6);
    EXPECT_EQ(Make(o, IcmpError::kNetUnreachable).skip, ErrorSkip::kMulticast);
  }
  // Unicast IP in a link-layer broadcast or multicast frame.
  for (const bool v6 : {false, true}) {
    for (const uint8_t first : {0xff, 0x01, 0x33}) {
      FrameSpec s;
      s.ipv6 = v6;
      std::vector<uint8_t> f = proto::BuildFrame(s);
      f[0] = first;
      Offending o(f);
      EXPECT_EQ(Make(o, IcmpError::kTimeExceeded).skip, ErrorSkip::kMulticast);
    }
  }
}

TEST_F(IcmpErrorTest, NoErrorToASourceThatNamesNoHost) {
  const std::array<uint8_t, 4> v4_srcs[] = {
      {0, 0, 0, 0}, {127, 0, 0, 1}, {224, 0, 0, 1}, {255, 255, 255, 255}};
  for (const auto& a : v4_srcs) {
    FrameSpec s;
    s.src4 = a;
    Offending o(s);
    EXPECT_EQ(Make(o, IcmpError::kTimeExceeded).skip, ErrorSkip::kBadSource) << int(a[0]);
  }
  const Ip6Addr v6_srcs[] = {Ip6Addr{},
                             {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                             {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
  for (const auto& a : v6_srcs) {
    FrameSpec s;
    s.ipv6 = true;
    s.src6 = a;
    Offending o(s);
    EXPECT_EQ(Make(o, IcmpError::kTimeExceeded).skip, ErrorSkip::kBadSource);
  }
}

// RFC 4443 2.4(f): a token bucket; rate 1000/s, burst 50 (Linux's
// icmp_msgs_per_sec and icmp_msgs_burst).
TEST(IcmpRateLimiterTest, BurstThenRate) {
  IcmpRateLimiter rl;  // defaults: 1000/s, burst 50
  const uint64_t t0 = 5 * kSec;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(rl.Allow(t0)) << i;
  EXPECT_FALSE(rl.Allow(t0));
  EXPECT_FALSE(rl.Allow(t0 + 999'999));   // 0.999 ms: not a whole token yet
  EXPECT_TRUE(rl.Allow(t0 + 1'000'000));  // 1 ms: one token
  EXPECT_FALSE(rl.Allow(t0 + 1'000'000));
  // A long idle refills to the burst, not beyond.
  const uint64_t t1 = t0 + 3600 * kSec;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(rl.Allow(t1)) << i;
  EXPECT_FALSE(rl.Allow(t1));
  // A clock stepping back adds nothing.
  EXPECT_FALSE(rl.Allow(t0));
  EXPECT_EQ(rl.allowed(), 101u);
  EXPECT_EQ(rl.limited(), 5u);
  // Offered 10 per ms for one second after the bucket emptied: exactly the
  // rate, 1000.
  int ok = 0;
  for (uint64_t t = t1 + 100'000; t <= t1 + kSec; t += 100'000) ok += rl.Allow(t);
  EXPECT_EQ(ok, 1000);
}

TEST(IcmpRateLimiterTest, ExtremesDoNotOverflow) {
  IcmpRateLimiter rl(IcmpRateConfig{IcmpRateLimiter::kMaxRate, IcmpRateLimiter::kMaxBurst});
  for (uint32_t i = 0; i < IcmpRateLimiter::kMaxBurst; ++i) ASSERT_TRUE(rl.Allow(0));
  EXPECT_FALSE(rl.Allow(0));
  EXPECT_TRUE(rl.Allow(UINT64_MAX));
  for (uint32_t i = 1; i < IcmpRateLimiter::kMaxBurst; ++i) ASSERT_TRUE(rl.Allow(UINT64_MAX));
  EXPECT_FALSE(rl.Allow(UINT64_MAX));
}

TEST(IcmpRateLimiterTest, ValidateNamesTheField) {
  EXPECT_TRUE(IcmpRateLimiter::Validate({}).ok());
  const Status r0 = IcmpRateLimiter::Validate({0, 50});
  EXPECT_FALSE(r0.ok());
  EXPECT_EQ(r0.message(), "icmp rate 0 out of range [1, 1000000] per second");
  const Status b0 = IcmpRateLimiter::Validate({1000, 10001});
  EXPECT_FALSE(b0.ok());
  EXPECT_EQ(b0.message(), "icmp burst 10001 out of range [1, 10000]");
}

// Errors over the limit are counted and get no frame; the rules come
// before the bucket (no token spent on a packet that gets no error).
TEST_F(IcmpErrorTest, OverTheLimitIsCountedAndBuildsNothing) {
  IcmpRateLimiter rl(IcmpRateConfig{1, 2});
  FrameSpec s;
  Offending o(s);
  FrameSpec m;
  m.dst4 = {224, 0, 0, 1};
  Offending mc(m);
  EXPECT_EQ(MakeIcmpError(*mc.pkt, mc.l, IcmpError::kTimeExceeded, Port(), rl, 0, alloc_).skip,
            ErrorSkip::kMulticast);
  for (int i = 0; i < 2; ++i) {
    const ErrorResult r =
        MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), rl, 0, alloc_);
    ASSERT_NE(r.frame, nullptr);
    Release(r.frame);
  }
  const uint32_t free_before = out_pool_->available();
  EXPECT_EQ(MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), rl, 0, alloc_).skip,
            ErrorSkip::kRateLimited);
  EXPECT_EQ(out_pool_->available(), free_before);
  EXPECT_EQ(rl.allowed(), 2u);
  EXPECT_EQ(rl.limited(), 1u);
  const ErrorResult later =
      MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), rl, kSec, alloc_);
  ASSERT_NE(later.frame, nullptr);
  Release(later.frame);
}

TEST_F(IcmpErrorTest, NoBufferIsReported) {
  FrameSpec s;
  s.payload = 100;
  Offending o(s);
  FrameAllocator empty{[](void*) -> Packet* { return nullptr; }, nullptr, 2048};
  EXPECT_EQ(MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), limiter_, 0, empty).skip,
            ErrorSkip::kNoBuffer);
  // Frames too small for the header and the RFC 792 minimum quote (IP
  // header + 8 bytes): 14 + 28 + 28 = 70 bytes needed.
  FrameAllocator small = alloc_;
  small.capacity = 69;
  EXPECT_EQ(MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), limiter_, 0, small).skip,
            ErrorSkip::kNoBuffer);
  // Just enough: the quote shrinks to fit.
  small.capacity = 70;
  const ErrorResult r =
      MakeIcmpError(*o.pkt, o.l, IcmpError::kTimeExceeded, Port(), limiter_, 0, small);
  ASSERT_NE(r.frame, nullptr);
  ExpectIcmp4(*r.frame, o, 11, 0, 28);
  Release(r.frame);
}

TEST_F(IcmpErrorTest, NonIpIsReported) {
  Offending o(proto::BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2}));
  EXPECT_EQ(Make(o, IcmpError::kTimeExceeded).skip, ErrorSkip::kNotIp);
}

// A Layout written without the parse chain (an IP-layer hook): the quote
// still stops at the IP length, and a header the frame does not hold is
// refused rather than read.
TEST_F(IcmpErrorTest, UntrimmedOrCutFramesWithAHandMadeLayout) {
  auto pool = MakePool(4);
  for (const bool v6 : {false, true}) {
    FrameSpec s;
    s.ipv6 = v6;
    s.payload = 2;
    s.pad_to = 200;
    const std::vector<uint8_t> f = proto::BuildFrame(s);
    Layout l;
    l.l3_off = kL3;
    l.ethertype = v6 ? wire::kEtherTypeIpv6 : wire::kEtherTypeIpv4;
    Packet* p = Load(*pool, f);
    const ErrorResult r =
        MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_);
    ASSERT_NE(r.frame, nullptr);
    const uint32_t datagram = (v6 ? 40 : 20) + 8 + 2;
    EXPECT_EQ(r.frame->len, kL3 + (v6 ? 40 : 20) + 8 + datagram) << v6;
    Release(r.frame);
    p->len = kL3 + (v6 ? 39 : 19);
    EXPECT_EQ(MakeIcmpError(*p, l, IcmpError::kTimeExceeded, Port(), limiter_, 0, alloc_).skip,
              ErrorSkip::kNotIp);
    Release(p);
  }
}

}  // namespace
}  // namespace netisr::router
