// The one-pass Ethernet + IPv4 + TCP/UDP path (ParseFastPath, through
// ParseFrameFast and the stack's fused Ethernet layer) against the layered
// parsers: on crafted frames (every kind the builder makes, each with one
// field broken in turn) and on random mutations of valid frames, both give
// the same verdict, the same deciding layer, the same drop reason, the same
// Layout and the same trimmed length. And the NIC's checksum-good flags:
// trusted when set, verified in software when not.
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "proto/frame_builder.h"
#include "proto/layout.h"
#include "proto/parse.h"
#include "tests/proto/proto_test_util.h"

namespace netisr::proto {
namespace {

struct Parsed {
  ChainResult r;
  Layout l;
  uint32_t len = 0;
};

Parsed Run(ChainResult (*parse)(Packet&), const std::vector<uint8_t>& frame, uint8_t csum_good) {
  std::vector<uint8_t> buf = frame;
  if (buf.empty()) buf.push_back(0);  // a valid pointer; len stays 0
  Packet pkt;
  pkt.data = buf.data();
  pkt.len = static_cast<uint32_t>(frame.size());
  pkt.rx_csum_good = csum_good;
  // Old meta must not matter (ParseEther starts afresh).
  pkt.meta = {~0ull, ~0ull, ~0ull, ~0ull};
  Parsed p;
  p.r = parse(pkt);
  p.l = GetLayout(pkt);
  p.len = pkt.len;
  return p;
}

// Both paths on `frame`; true if they agree (gtest failures say where not).
bool Agree(const std::vector<uint8_t>& frame, uint8_t csum_good, const char* what) {
  const Parsed a = Run(&ParseFrame, frame, csum_good);
  const Parsed b = Run(&ParseFrameFast, frame, csum_good);
  const bool same = a.r.step.kind == b.r.step.kind && a.r.layer == b.r.layer &&
                    a.r.step.why == b.r.step.why && a.r.step.next == b.r.step.next && a.l == b.l &&
                    a.len == b.len;
  EXPECT_TRUE(same) << what << ": layered " << static_cast<int>(a.r.step.kind) << " at "
                    << ToString(a.r.layer) << " (" << ToString(a.r.step.why) << ", len " << a.len
                    << "), fast " << static_cast<int>(b.r.step.kind) << " at "
                    << ToString(b.r.layer) << " (" << ToString(b.r.step.why) << ", len " << b.len
                    << ")";
  return same;
}

std::vector<FrameSpec> Specs() {
  std::vector<FrameSpec> out;
  for (bool ipv6 : {false, true}) {
    for (FrameSpec::L4 l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp, FrameSpec::L4::kIcmpEcho}) {
      for (uint32_t payload : {0u, 1u, 7u, 100u}) {
        FrameSpec s;
        s.ipv6 = ipv6;
        s.l4 = l4;
        s.payload = payload;
        out.push_back(s);
        s.pad_to = 60;
        out.push_back(s);
        s.pad_to = 0;
        if (l4 == FrameSpec::L4::kTcp) {
          s.tcp_options = true;
          out.push_back(s);
          s.tcp_options = false;
        }
        if (!ipv6) {
          s.ip_option_words = 2;
          out.push_back(s);
          s.ip_option_words = 0;
        } else {
          s.ip6_ext_headers = 2;
          out.push_back(s);
          s.ip6_ext_headers = 0;
        }
        s.vlans = {7};
        out.push_back(s);
        s.vlans = {7, 8};
        out.push_back(s);
      }
    }
  }
  return out;
}

TEST(FastPath, AgreesWithTheLayeredParsersOnCraftedFrames) {
  int fast = 0;
  for (const FrameSpec& s : Specs()) {
    const std::vector<uint8_t> good = BuildFrame(s);
    for (uint8_t flags : {0, 1, 2, 3}) Agree(good, flags, "valid");
    {
      // The fast path itself took it (not only agreed by falling back).
      std::vector<uint8_t> buf = good;
      Packet pkt;
      pkt.data = buf.data();
      pkt.len = static_cast<uint32_t>(buf.size());
      Layout l;
      Layer t;
      fast += ParseFastPath(pkt, l, &t) ? 1 : 0;
    }
    // Every byte of the headers changed in turn (and the frame cut at every
    // length up to past them), flags off and on.
    const FrameOffsets off = OffsetsOf(s);
    const size_t hdr_end = std::min<size_t>(good.size(), off.l4 + 40);
    for (size_t i = 0; i < hdr_end; ++i) {
      for (uint8_t x : {0x01, 0x10, 0xff}) {
        std::vector<uint8_t> f = good;
        f[i] ^= x;
        Agree(f, 0, "flipped");
        Agree(f, 3, "flipped, flags");
      }
      Agree(std::vector<uint8_t>(good.begin(), good.begin() + i), 0, "cut");
    }
  }
  EXPECT_EQ(fast, 20);  // the untagged IPv4 TCP/UDP frames without IP options
}

TEST(FastPath, AgreesWithTheLayeredParsersOnRandomFrames) {
  std::mt19937 rng(13);
  const std::vector<FrameSpec> specs = Specs();
  int disagreements = 0;
  for (int i = 0; i < 200000; ++i) {
    std::vector<uint8_t> f = BuildFrame(specs[rng() % specs.size()]);
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 4) {
        case 0:
          f[rng() % f.size()] = static_cast<uint8_t>(rng());
          break;
        case 1:  // the bytes the fast path tests: type, version/IHL, lengths, flags, proto, offset
          for (size_t at : {12u, 13u, 14u, 16u, 17u, 20u, 23u, 38u, 46u}) {
            if (at < f.size() && rng() % 4 == 0) f[at] = static_cast<uint8_t>(rng());
          }
          break;
        case 2:
          f.resize(rng() % (f.size() + 1));
          break;
        case 3:
          f.resize(f.size() + rng() % 16, static_cast<uint8_t>(rng()));
          break;
      }
      if (f.empty()) break;
    }
    if (!Agree(f, static_cast<uint8_t>(rng() % 4), "random") && ++disagreements > 5) break;
  }
}

// ParseIpv4HeaderFast (the IP-layer hook's stage) against ParseEther then
// ParseIpv4Header: where it takes a frame, the same Layout, trimmed length
// and fragment flag as the layered pair's delivery; where it declines, the
// packet untouched. On every crafted frame with each header byte changed in
// turn and cut at every length, and on random mutations.
bool HeaderAgrees(const std::vector<uint8_t>& frame, uint8_t csum_good) {
  std::vector<uint8_t> a_buf = frame, b_buf = frame;
  if (frame.empty()) a_buf.push_back(0), b_buf.push_back(0);
  Packet a, b;
  a.data = a_buf.data();
  b.data = b_buf.data();
  a.len = b.len = static_cast<uint32_t>(frame.size());
  a.rx_csum_good = b.rx_csum_good = csum_good;
  Layout la, lb;
  bool fa = false, fb = true;
  Step s = ParseEther(a, la);
  if (s.kind == Step::Kind::kNext && s.next == Layer::kIp) s = ParseIpv4Header(a, la, &fa);
  if (!ParseIpv4HeaderFast(b, lb, &fb)) {
    const bool untouched = b.len == frame.size() && fb;
    EXPECT_TRUE(untouched) << "declined but changed the packet";
    return untouched;
  }
  const bool same = s.kind == Step::Kind::kDeliver && la == lb && a.len == b.len && fa == fb;
  EXPECT_TRUE(same) << "fast took a frame the layered pair gives " << static_cast<int>(s.kind)
                    << " (" << ToString(s.why) << ")";
  return same;
}

TEST(FastPath, Ipv4HeaderFastAgreesWithEtherThenIpv4Header) {
  int fast = 0;
  for (const FrameSpec& spec : Specs()) {
    const std::vector<uint8_t> good = BuildFrame(spec);
    for (uint8_t flags : {0, 1, 2, 3}) HeaderAgrees(good, flags);
    {
      std::vector<uint8_t> buf = good;
      Packet pkt;
      pkt.data = buf.data();
      pkt.len = static_cast<uint32_t>(buf.size());
      Layout l;
      bool frag = true;
      fast += ParseIpv4HeaderFast(pkt, l, &frag) ? 1 : 0;
    }
    const FrameOffsets off = OffsetsOf(spec);
    const size_t hdr_end = std::min<size_t>(good.size(), off.l4 + 8);
    for (size_t i = 0; i < hdr_end; ++i) {
      for (uint8_t x : {0x01, 0x10, 0x20, 0xff}) {
        std::vector<uint8_t> f = good;
        f[i] ^= x;
        HeaderAgrees(f, 0);
        HeaderAgrees(f, kRxCsumIpGood);
      }
      HeaderAgrees(std::vector<uint8_t>(good.begin(), good.begin() + i), 0);
    }
  }
  EXPECT_EQ(fast, 28);  // untagged IPv4 without IP options: TCP (with options too), UDP, ICMP
  std::mt19937 rng(29);
  const std::vector<FrameSpec> specs = Specs();
  int disagreements = 0;
  for (int i = 0; i < 100000; ++i) {
    std::vector<uint8_t> f = BuildFrame(specs[rng() % specs.size()]);
    for (size_t at : {12u, 13u, 14u, 16u, 17u, 20u, 21u, 24u, 25u}) {
      if (at < f.size() && rng() % 3 == 0) f[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    if (!HeaderAgrees(f, static_cast<uint8_t>(rng() % 4)) && ++disagreements > 5) break;
  }
}

// The checksum-good flags through the whole stack, as a port that reports
// them (DpdkPort from the mbuf's RTE_MBUF_F_RX_*_CKSUM_GOOD) sets them: a
// frame whose checksums are wrong is delivered when the flags vouch for them
// and dropped under its reason when they do not, on both paths.
TEST(FastPath, TrustsTheNicsChecksumGoodFlagsAndVerifiesOtherwise) {
  for (bool fused : {true, false}) {
    for (FrameSpec::L4 l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp}) {
      FrameSpec s;
      s.l4 = l4;
      s.payload = 20;
      std::vector<uint8_t> bad_l4 = BuildFrame(s);
      const FrameOffsets off = OffsetsOf(s);
      bad_l4.back() ^= 0x5a;  // payload changed, checksum not
      std::vector<uint8_t> bad_ip = BuildFrame(s);
      bad_ip[off.l3 + 10] ^= 0x01;  // the IPv4 header checksum
      const Layer layer = l4 == FrameSpec::L4::kTcp ? Layer::kTcp : Layer::kUdp;
      const ParseDrop l4_reason =
          l4 == FrameSpec::L4::kTcp ? ParseDrop::kBadTcpChecksum : ParseDrop::kBadUdpChecksum;
      struct Case {
        const std::vector<uint8_t>* frame;
        uint8_t flags;
        bool delivered;
        ParseDrop why;
      };
      const Case cases[] = {
          {&bad_l4, 0, false, l4_reason},
          {&bad_l4, kRxCsumIpGood, false, l4_reason},
          {&bad_l4, kRxCsumL4Good, true, ParseDrop::kCount},
          {&bad_ip, 0, false, ParseDrop::kBadIpChecksum},
          {&bad_ip, kRxCsumL4Good, false, ParseDrop::kBadIpChecksum},
          {&bad_ip, kRxCsumIpGood, true, ParseDrop::kCount},
      };
      for (const Case& c : cases) {
        testing::StackHarness h("inline", 1, DispatchMode::kDeferred, 16, fused);
        h.Send({*c.frame}, 0, c.flags);
        h.Drain();
        h.nisr().Stop();
        EXPECT_EQ(h.delivered(layer), c.delivered ? 1u : 0u) << fused << " flags " << int(c.flags);
        if (!c.delivered) {
          EXPECT_EQ(h.stack().drops().Get(c.why), 1u) << fused << " flags " << int(c.flags);
        }
      }
    }
  }
}

// The fused route hands on the Layout the layered chain gives: its
// "checked" mark is cleared on delivery, so a handler that re-injects the
// packet into the chain gets it parsed again, not waved through.
TEST(FastPath, DeliveredLayoutIsTheLayeredChainsOne) {
  FrameSpec s;
  s.l4 = FrameSpec::L4::kTcp;
  s.payload = 20;
  const std::vector<uint8_t> frame = BuildFrame(s);
  Layout seen[2];
  for (bool fused : {false, true}) {
    testing::StackHarness h("inline", 1, DispatchMode::kDeferred, 16, fused);
    h.on_deliver = [&](Layer, const Packet& p) { seen[fused] = GetLayout(p); };
    h.Send({frame});
    h.Drain();
    h.nisr().Stop();
    ASSERT_EQ(h.delivered(Layer::kTcp), 1u) << fused;
  }
  EXPECT_EQ(seen[true].checked_l4, 0);
  EXPECT_TRUE(seen[true] == seen[false]);
}

// A terminal layer's stage can mix packets the fused Ethernet layer checked
// with packets that entered at that layer: the checked ones are delivered
// on their mark (here one whose payload changed since: the mark is trusted,
// not re-verified), the others parsed. A stage whose first packet is
// checked and second is not takes the per-packet route with the first's
// mark intact; every delivered Layout has the mark cleared.
TEST(FastPath, ATerminalStageMixingCheckedAndUncheckedPackets) {
  FrameSpec s;
  s.l4 = FrameSpec::L4::kTcp;
  s.payload = 20;
  const std::vector<uint8_t> frame = BuildFrame(s);
  testing::StackHarness h("inline", 1, DispatchMode::kDirect);
  std::vector<uint8_t> seen_marks;
  h.on_deliver = [&](Layer, const Packet& p) { seen_marks.push_back(GetLayout(p).checked_l4); };
  // checked + corrupted (delivered), unchecked + intact (delivered),
  // unchecked + corrupted (dropped: bad checksum).
  const struct { bool checked, corrupt; } kinds[] = {{true, true}, {false, false}, {false, true}};
  {
    Netisr::ProducerScope scope(h.nisr());
    ASSERT_TRUE(scope.status().ok());
    std::vector<Packet*> pkts;
    for (const auto& k : kinds) {
      Packet* p = h.pool().Alloc();
      ASSERT_NE(p, nullptr);
      std::memcpy(p->data, frame.data(), frame.size());
      p->len = static_cast<uint32_t>(frame.size());
      ASSERT_EQ(ParseFrame(*p).step.kind, Step::Kind::kDeliver);  // the Layout into meta
      Layout l = GetLayout(*p);
      l.checked_l4 = k.checked ? 1 : 0;
      SetLayout(*p, l);
      if (k.corrupt) p->data[p->len - 1] ^= 0x5a;
      pkts.push_back(p);
    }
    h.nisr().DispatchBurst(0, h.stack().id(Layer::kTcp), pkts);
  }
  h.Drain();
  h.nisr().Stop();
  // One stage: the two survivors delivered in one call (a stage per
  // packet would pass the counts below without the mixed stage).
  EXPECT_EQ(h.deliver_calls(), 1u);
  EXPECT_EQ(h.delivered(Layer::kTcp), 2u);
  EXPECT_EQ(h.stack().drops().Get(ParseDrop::kBadTcpChecksum), 1u);
  EXPECT_EQ(h.stack().drops().Total(), 1u);
  EXPECT_EQ(seen_marks, (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(h.pool().available(), h.pool().capacity());
}

}  // namespace
}  // namespace netisr::proto
