// EarlyFilter: the rule parser (valid sets, every error with its message and
// position), matching (prefix edges, protocols, port ranges, first match
// wins, what is left unclassified), the token buckets on an injected clock,
// counters and conservation, and the RxQueueSource hook dropping a
// synthetic flood through a real netisr and the protocol stack.
#include "proto/filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/wire.h"
#include "netisr/netisr.h"
#include "nic/rx_source.h"
#include "nic/synthetic.h"
#include "proto/frame_builder.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

// --- Parser ----------------------------------------------------------------

TEST(FilterParse, ExampleRuleSet) {
  auto r = EarlyFilter::ParseRules(
      "drop src 10.0.0.0/8; drop proto udp dport 53; limit src 0.0.0.0/0 rate 1000 burst 50; "
      "pass proto tcp dport 80-443");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 4u);
  const auto& v = *r;
  EXPECT_EQ(v[0].action, FilterAction::kDrop);
  ASSERT_TRUE(v[0].src);
  EXPECT_FALSE(v[0].src->v6);
  EXPECT_EQ(v[0].src->len, 8);
  EXPECT_EQ(v[0].src->addr[0], 10);
  EXPECT_EQ(v[1].proto, wire::kProtoUdp);
  EXPECT_EQ(v[1].dport, (PortRange{53, 53}));
  EXPECT_EQ(v[2].action, FilterAction::kLimit);
  EXPECT_EQ(v[2].src->len, 0);
  EXPECT_EQ(v[2].rate_pps, 1000u);
  EXPECT_EQ(v[2].burst, 50u);
  EXPECT_EQ(v[3].action, FilterAction::kPass);
  EXPECT_EQ(v[3].proto, wire::kProtoTcp);
  EXPECT_EQ(v[3].dport, (PortRange{80, 443}));
}

TEST(FilterParse, RoundTripsThroughToString) {
  const char* text =
      "drop src 2001:db8::/32 proto icmp6; pass src 10.1.2.3/32 proto 47; "
      "limit proto udp dport 1000-2000 rate 5; limit src ::/0 rate 7 burst 3; drop dport 0-65535";
  auto f = EarlyFilter::Parse(text);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->ToString(), text);
  auto again = EarlyFilter::ParseRules((*f)->ToString());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, (*f)->rules());
}

TEST(FilterParse, BlanksEmptyRulesAndBareAddresses) {
  auto r = EarlyFilter::ParseRules("  ;; drop\tsrc 192.0.2.1 ;  pass src 2001:db8::1 ;");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].src->len, 32);
  EXPECT_EQ((*r)[1].src->len, 128);
  EXPECT_TRUE((*r)[1].src->v6);
  auto empty = EarlyFilter::ParseRules("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

struct BadCase {
  const char* text;
  const char* message;  // the whole error
};

TEST(FilterParse, ErrorsNameTokenAndPosition) {
  const BadCase cases[] = {
      {"reject src 1.2.3.4", "filter: 'reject' at 0: unknown action (want drop, pass or limit)"},
      {"drop srcc 1.2.3.4",
       "filter: 'srcc' at 5: unknown keyword (want src, proto, dport, rate or burst)"},
      {"drop src", "filter: 'src' at 5: missing value"},
      {"drop src 10.0.0.0/33", "filter: '10.0.0.0/33' at 9: bad prefix length (want 0-32)"},
      {"drop src ::/129", "filter: '::/129' at 9: bad prefix length (want 0-128)"},
      {"drop src 10.0.0.0/x", "filter: '10.0.0.0/x' at 9: bad prefix length (want 0-32)"},
      {"drop src 10.0.0.1/8", "filter: '10.0.0.1/8' at 9: host bits set after the prefix length"},
      {"drop src 2001:db8::1/64",
       "filter: '2001:db8::1/64' at 9: host bits set after the prefix length"},
      {"drop src 10.0.0.300", "filter: '10.0.0.300' at 9: bad IPv4 address (want a.b.c.d[/len])"},
      {"drop src 2001:db8::g/32", "filter: '2001:db8::g/32' at 9: bad IPv6 address"},
      {"drop proto udpx",
       "filter: 'udpx' at 11: unknown protocol (want tcp, udp, icmp, icmp6 or 0-255)"},
      {"drop proto 256",
       "filter: '256' at 11: unknown protocol (want tcp, udp, icmp, icmp6 or 0-255)"},
      {"drop proto udp dport 70000", "filter: '70000' at 21: bad port (want 0-65535 or LO-HI)"},
      {"drop proto udp dport 80-", "filter: '80-' at 21: bad port (want 0-65535 or LO-HI)"},
      {"drop proto udp dport 443-80",
       "filter: 'dport' at 15: port range low end above its high end"},
      {"drop proto icmp dport 1", "filter: 'dport' at 16: dport needs proto tcp or udp"},
      {"drop src 1.2.3.4 src 1.2.3.5", "filter: 'src' at 17: given twice in one rule"},
      {"limit src 0.0.0.0/0", "filter: 'limit' at 0: limit needs rate in [1, 1000000000]"},
      {"limit burst 5", "filter: 'limit' at 0: limit needs rate in [1, 1000000000]"},
      {"drop rate 100", "filter: 'rate' at 5: rate and burst are only for limit rules"},
      {"pass burst 100", "filter: 'burst' at 5: rate and burst are only for limit rules"},
      {"limit rate 0", "filter: '0' at 11: bad number (want 1-1000000000)"},
      {"limit rate 10 burst -1", "filter: '-1' at 20: bad number (want 1-1000000000)"},
      // The offset counts from the start of the whole text, across rules.
      {"drop src 10.0.0.0/8; drop proto xyz",
       "filter: 'xyz' at 32: unknown protocol (want tcp, udp, icmp, icmp6 or 0-255)"},
  };
  for (const BadCase& c : cases) {
    auto r = EarlyFilter::Parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message) << c.text;
  }
}

TEST(FilterParse, TooManyRules) {
  std::string text;
  for (size_t i = 0; i <= EarlyFilter::kMaxRules; ++i) text += "drop proto 1;";
  auto r = EarlyFilter::Parse(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.status().message(),
      "filter: 'drop' at " + std::to_string(13 * EarlyFilter::kMaxRules) + ": more than 256 rules");
}

TEST(FilterCreate, ProgrammaticRulesAreValidated) {
  FilterRule ok;
  ok.action = FilterAction::kDrop;
  ok.proto = wire::kProtoUdp;
  ok.dport = PortRange{53, 53};
  EXPECT_TRUE(EarlyFilter::Create({ok}).ok());

  FilterRule range = ok;
  range.dport = PortRange{10, 9};
  auto r = EarlyFilter::Create({ok, range});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "filter: rule 1 (drop proto udp dport 10-9): port range low end above its high end");

  FilterRule rate = ok;
  rate.rate_pps = 5;
  EXPECT_FALSE(EarlyFilter::Create({rate}).ok());
  FilterRule limit;
  limit.action = FilterAction::kLimit;
  EXPECT_FALSE(EarlyFilter::Create({limit}).ok());  // no rate
  FilterRule host;
  host.src = IpPrefix{false, {10, 0, 0, 1}, 8};
  EXPECT_FALSE(EarlyFilter::Create({host}).ok());

  FilterOptions o;
  o.rate_buckets = 1000;
  auto b = EarlyFilter::Create({}, o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "filter: rate_buckets 1000 not a power of two in [16, 1048576]");
}

// --- Matching --------------------------------------------------------------

class FilterTest : public ::testing::Test {
 protected:
  void SetUp() override { pool_ = std::move(PacketPool::Create(256, 2048)).value(); }

  Packet* Make(const std::vector<uint8_t>& frame) {
    Packet* p = pool_->Alloc();
    EXPECT_NE(p, nullptr);
    std::memcpy(p->data, frame.data(), frame.size());
    p->len = static_cast<uint32_t>(frame.size());
    return p;
  }
  Packet* Make(const FrameSpec& s) { return Make(BuildFrame(s)); }

  // Runs one frame through `f`; true if it was kept (and then releases it).
  bool Kept(EarlyFilter& f, const FrameSpec& s, uint64_t now_ns = 0) {
    Packet* p = Make(s);
    Packet* burst[1] = {p};
    const size_t kept = f.Apply(burst, now_ns);
    if (kept == 1) Release(p);
    return kept == 1;
  }
  static std::unique_ptr<EarlyFilter> Filter(std::string_view text, FilterOptions o = {}) {
    auto f = EarlyFilter::Parse(text, o);
    EXPECT_TRUE(f.ok()) << f.status().message();
    return std::move(f).value();
  }
  static FrameSpec V4(std::array<uint8_t, 4> src, FrameSpec::L4 l4 = FrameSpec::L4::kUdp,
                      uint16_t dport = 80) {
    FrameSpec s;
    s.src4 = src;
    s.l4 = l4;
    s.dst_port = dport;
    return s;
  }
  static FrameSpec V6(std::array<uint8_t, 16> src, FrameSpec::L4 l4 = FrameSpec::L4::kUdp,
                      uint16_t dport = 80) {
    FrameSpec s = V4({}, l4, dport);
    s.ipv6 = true;
    s.src6 = src;
    return s;
  }

  void TearDown() override { EXPECT_EQ(pool_->available(), pool_->capacity()); }

  std::unique_ptr<PacketPool> pool_;
};

TEST_F(FilterTest, Ipv4PrefixEdges) {
  auto all = Filter("drop src 0.0.0.0/0");
  EXPECT_FALSE(Kept(*all, V4({0, 0, 0, 0})));
  EXPECT_FALSE(Kept(*all, V4({255, 255, 255, 255})));
  EXPECT_TRUE(Kept(*all, V6({})));  // a src rule matches only its family

  auto host = Filter("drop src 192.0.2.7/32");
  EXPECT_FALSE(Kept(*host, V4({192, 0, 2, 7})));
  EXPECT_TRUE(Kept(*host, V4({192, 0, 2, 6})));
  EXPECT_TRUE(Kept(*host, V4({192, 0, 2, 8})));

  auto net = Filter("drop src 10.0.0.0/8");
  EXPECT_FALSE(Kept(*net, V4({10, 0, 0, 0})));
  EXPECT_FALSE(Kept(*net, V4({10, 255, 255, 255})));
  EXPECT_TRUE(Kept(*net, V4({9, 255, 255, 255})));
  EXPECT_TRUE(Kept(*net, V4({11, 0, 0, 0})));

  auto odd = Filter("drop src 172.16.0.0/12");
  EXPECT_FALSE(Kept(*odd, V4({172, 31, 255, 255})));
  EXPECT_TRUE(Kept(*odd, V4({172, 32, 0, 0})));
  EXPECT_TRUE(Kept(*odd, V4({172, 15, 255, 255})));
}

TEST_F(FilterTest, Ipv6PrefixEdges) {
  using A = std::array<uint8_t, 16>;
  const A a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto all = Filter("drop src ::/0");
  EXPECT_FALSE(Kept(*all, V6(a)));
  EXPECT_FALSE(Kept(*all, V6(A{})));
  EXPECT_TRUE(Kept(*all, V4({10, 0, 0, 1})));

  auto host = Filter("drop src 2001:db8::1/128");
  EXPECT_FALSE(Kept(*host, V6(a)));
  A b = a;
  b[15] = 0;
  EXPECT_TRUE(Kept(*host, V6(b)));
  b[15] = 1;
  b[0] = 0xa0;  // differs only in the first bit
  EXPECT_TRUE(Kept(*host, V6(b)));

  // /64 and /65: the boundary between the two 64-bit halves.
  auto p64 = Filter("drop src 2001:db8::/64");
  A c = a;
  c[8] = 0xff;  // bits 64.. set: still inside /64
  EXPECT_FALSE(Kept(*p64, V6(c)));
  c[7] = 1;  // bit 63
  EXPECT_TRUE(Kept(*p64, V6(c)));
  auto p65 = Filter("drop src 2001:db8::/65");
  A d = a;
  d[8] = 0x7f;
  EXPECT_FALSE(Kept(*p65, V6(d)));
  d[8] = 0x80;  // bit 64
  EXPECT_TRUE(Kept(*p65, V6(d)));

  auto p127 = Filter("drop src 2001:db8::/127");
  EXPECT_FALSE(Kept(*p127, V6(a)));  // ::1
  A e = a;
  e[15] = 2;
  EXPECT_TRUE(Kept(*p127, V6(e)));
}

TEST_F(FilterTest, ProtocolsAndPortRanges) {
  auto udp = Filter("drop proto udp");
  EXPECT_FALSE(Kept(*udp, V4({1, 2, 3, 4}, FrameSpec::L4::kUdp)));
  EXPECT_FALSE(Kept(*udp, V6({}, FrameSpec::L4::kUdp)));
  EXPECT_TRUE(Kept(*udp, V4({1, 2, 3, 4}, FrameSpec::L4::kTcp)));
  auto num = Filter("drop proto 6");  // tcp by number
  EXPECT_FALSE(Kept(*num, V4({1, 2, 3, 4}, FrameSpec::L4::kTcp)));
  auto icmp6 = Filter("drop proto icmp6");
  EXPECT_FALSE(Kept(*icmp6, V6({}, FrameSpec::L4::kIcmpEcho)));
  EXPECT_TRUE(Kept(*icmp6, V6({}, FrameSpec::L4::kUdp)));

  auto range = Filter("drop proto tcp dport 80-443");
  const std::pair<uint16_t, bool> cases[] = {
      {79, true}, {80, false}, {200, false}, {443, false}, {444, true}};
  for (auto [port, kept] : cases) {
    EXPECT_EQ(Kept(*range, V4({1, 2, 3, 4}, FrameSpec::L4::kTcp, port)), kept) << port;
  }
  EXPECT_TRUE(Kept(*range, V4({1, 2, 3, 4}, FrameSpec::L4::kUdp, 80)));

  // dport without proto: TCP and UDP, never a protocol without ports.
  auto any = Filter("drop dport 7");
  EXPECT_FALSE(Kept(*any, V4({1, 2, 3, 4}, FrameSpec::L4::kTcp, 7)));
  EXPECT_FALSE(Kept(*any, V6({}, FrameSpec::L4::kUdp, 7)));
  EXPECT_TRUE(Kept(*any, V6({}, FrameSpec::L4::kIcmpEcho, 7)));

  // The port after IPv6 extension headers and behind VLAN tags.
  FrameSpec ext = V6({}, FrameSpec::L4::kUdp, 7);
  ext.ip6_ext_headers = 3;
  ext.vlans = {5, 6};
  EXPECT_FALSE(Kept(*any, ext));
  FrameSpec opts = V4({1, 2, 3, 4}, FrameSpec::L4::kTcp, 7);
  opts.ip_option_words = 2;
  opts.vlans = {9};
  EXPECT_FALSE(Kept(*any, opts));
}

TEST_F(FilterTest, FirstMatchWinsAndCountsHits) {
  auto f = Filter("pass src 10.0.0.1; drop src 10.0.0.0/8; drop proto udp");
  EXPECT_TRUE(Kept(*f, V4({10, 0, 0, 1})));                       // rule 0, not rule 1
  EXPECT_FALSE(Kept(*f, V4({10, 0, 0, 2})));                      // rule 1
  EXPECT_FALSE(Kept(*f, V4({11, 0, 0, 2})));                      // rule 2
  EXPECT_TRUE(Kept(*f, V4({11, 0, 0, 2}, FrameSpec::L4::kTcp)));  // no rule: pass
  const FilterStats s = f->Stats();
  ASSERT_EQ(s.rules.size(), 3u);
  EXPECT_EQ(s.rules[0].hits, 1u);
  EXPECT_EQ(s.rules[0].dropped, 0u);
  EXPECT_EQ(s.rules[1].hits, 1u);
  EXPECT_EQ(s.rules[1].dropped, 1u);
  EXPECT_EQ(s.rules[2].hits, 1u);
  EXPECT_EQ(s.rules[2].text, "drop proto udp");
  EXPECT_EQ(s.passed, 2u);
  EXPECT_EQ(s.dropped[static_cast<size_t>(FilterDrop::kFiltered)], 2u);
  EXPECT_EQ(s.unclassified, 0u);
  const auto m = s.ToMap();
  EXPECT_EQ(m.at("filtered"), 2u);
  EXPECT_EQ(m.at("rate_limited"), 0u);
  EXPECT_EQ(m.at("passed"), 2u);
  EXPECT_EQ(m.at("rule1_hits"), 1u);
  EXPECT_EQ(m.at("rule2_dropped"), 1u);
  EXPECT_EQ(f->DropSnapshot(), (std::map<std::string, uint64_t>{{"filtered", 2}}));
}

TEST_F(FilterTest, UnclassifiablePacketsPassToTheParser) {
  auto f = Filter("drop src 0.0.0.0/0; drop src ::/0; drop proto 0; drop dport 0-65535");
  FrameSpec s = V4({10, 0, 0, 1});
  std::vector<uint8_t> runt(10, 0);
  std::vector<uint8_t> cut_ip = BuildFrame(s);
  cut_ip.resize(14 + 19);  // one byte short of an IPv4 header
  std::vector<uint8_t> v6_in_v4 = BuildFrame(s);
  v6_in_v4[14] = 0x65;  // EtherType IPv4, version nibble 6
  FrameSpec tags = s;
  tags.vlans = {1, 2};
  std::vector<uint8_t> three_tags = BuildFrame(tags);
  // A third 802.1Q tag in front of the IPv4 EtherType.
  three_tags.insert(three_tags.begin() + 20, {0x81, 0x00, 0x00, 0x03});
  FrameSpec v6 = V6({});
  std::vector<uint8_t> cut_ip6 = BuildFrame(v6);
  cut_ip6.resize(14 + 39);
  const std::vector<std::vector<uint8_t>> frames = {
      runt, cut_ip, v6_in_v4, three_tags, cut_ip6, BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2})};
  std::vector<Packet*> burst;
  for (const auto& fr : frames) burst.push_back(Make(fr));
  ASSERT_EQ(f->Apply(burst, 0), frames.size());
  for (Packet* p : burst) Release(p);
  EXPECT_EQ(f->Stats().unclassified, frames.size());

  // A rule with no fields matches everything, classified or not.
  auto all = Filter("drop");
  std::vector<Packet*> b2;
  for (const auto& fr : frames) b2.push_back(Make(fr));
  b2.push_back(Make(V4({1, 1, 1, 1})));
  EXPECT_EQ(all->Apply(b2, 0), 0u);
}

// The filter reads fields without validating them (a flood packet must be
// cheap to drop): a header the parse chain would refuse is still classified
// as far as its bytes are in bounds; ports only where they lie inside the
// IP datagram and not in a non-first fragment.
TEST_F(FilterTest, ClassifiesWithoutValidating) {
  const FrameSpec s = V4({10, 0, 0, 1}, FrameSpec::L4::kUdp, 53);
  const uint32_t l3 = OffsetsOf(s).l3;
  auto frame = [&](auto edit) {
    std::vector<uint8_t> f = BuildFrame(s);
    edit(f);
    return f;
  };
  const auto bad_sum = frame([&](auto& f) { f[l3 + wire::kIpv4ChecksumOffset] ^= 1; });
  const auto first_frag = frame([&](auto& f) { f[l3 + wire::kIpv4FragOffset] |= 0x20; });  // MF
  const auto later_frag = frame([&](auto& f) { f[l3 + wire::kIpv4FragOffset + 1] = 1; });
  const auto short_total = frame([&](auto& f) { base::Store16(&f[l3 + 2], 20 + 3); });
  const auto long_total = frame([&](auto& f) { base::Store16(&f[l3 + 2], 1500); });
  const auto small_ihl = frame([&](auto& f) { f[l3] = 0x44; });

  auto src = Filter("drop src 10.0.0.1");
  auto udp = Filter("drop proto udp");
  auto port = Filter("drop dport 53");
  struct Case {
    const char* name;
    const std::vector<uint8_t>& frame;
    bool src_dropped, proto_dropped, port_dropped;
  };
  const Case cases[] = {
      {"bad checksum", bad_sum, true, true, true},
      {"first fragment", first_frag, true, true, true},
      {"later fragment", later_frag, true, true, false},
      {"total length short of the ports", short_total, true, true, false},
      {"total length past the frame", long_total, true, true, false},
      {"IHL below 5", small_ihl, true, true, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (auto [filter, want] :
         {std::pair{src.get(), c.src_dropped}, std::pair{udp.get(), c.proto_dropped},
          std::pair{port.get(), c.port_dropped}}) {
      Packet* p = Make(c.frame);
      const uint32_t len = p->len;
      Packet* b[1] = {p};
      const size_t kept = filter->Apply(b, 0);
      EXPECT_EQ(kept == 0, want) << filter->ToString();
      if (kept == 1) {
        EXPECT_EQ(p->len, len);  // never trimmed nor written
        Release(p);
      }
    }
  }
  EXPECT_EQ(src->Stats().unclassified + udp->Stats().unclassified + port->Stats().unclassified, 0u);

  // IPv6: the upper protocol after the extension-header walk; a chain the
  // parser refuses, or a payload length past the frame, leaves it unknown
  // (the source still matches).
  FrameSpec e = V6({}, FrameSpec::L4::kUdp, 53);
  e.ip6_ext_headers = 2;  // hop-by-hop, then destination options
  const uint32_t l3e = OffsetsOf(e).l3;
  std::vector<uint8_t> ok6 = BuildFrame(e);
  std::vector<uint8_t> hbh_second = ok6;
  hbh_second[l3e + 40] = wire::kProtoHopByHop;  // the second header claims to be hop-by-hop
  std::vector<uint8_t> long_payload = ok6;
  base::Store16(&long_payload[l3e + wire::kIpv6PayloadLenOffset], 1000);
  auto src6 = Filter("drop src ::/0");
  auto udp6 = Filter("drop proto udp");
  auto port6 = Filter("drop dport 53");
  EXPECT_FALSE(Kept(*port6, e));
  for (const auto* fr : {&hbh_second, &long_payload}) {
    Packet* a = Make(*fr);
    Packet* b[1] = {a};
    EXPECT_EQ(src6->Apply(b, 0), 0u);
    for (EarlyFilter* f : {udp6.get(), port6.get()}) {
      Packet* c = Make(*fr);
      Packet* bb[1] = {c};
      EXPECT_EQ(f->Apply(bb, 0), 1u) << f->ToString();
      Release(c);
    }
  }
}

// --- Rate limiting -----------------------------------------------------------

TEST_F(FilterTest, TokenBucketOnInjectedClock) {
  FilterOptions o;
  o.seed = 12345;  // fixed: the two sources below land in different buckets
  auto f = Filter("limit src 10.0.0.0/8 rate 1000 burst 5", o);
  const FrameSpec a = V4({10, 0, 0, 1}), b = V4({10, 0, 0, 2});
  const uint64_t t0 = 1'000'000'000;
  auto run = [&](const FrameSpec& s, int n, uint64_t now) {
    int kept = 0;
    for (int i = 0; i < n; ++i) kept += Kept(*f, s, now);
    return kept;
  };
  EXPECT_EQ(run(a, 10, t0), 5);                  // the burst, then nothing
  EXPECT_EQ(run(a, 3, t0 + 999'999), 0);         // not yet one interval (1 ms)
  EXPECT_EQ(run(a, 3, t0 + 1'000'000), 1);       // one token per ms
  EXPECT_EQ(run(b, 10, t0), 5);                  // its own bucket
  EXPECT_EQ(run(a, 10, t0 + 3'000'000'000), 5);  // idle refills to the burst, no more
  EXPECT_TRUE(Kept(*f, V4({11, 0, 0, 1}), t0));  // outside the rule: unlimited
  const FilterStats s = f->Stats();
  EXPECT_EQ(s.dropped[static_cast<size_t>(FilterDrop::kRateLimited)], 5u + 3 + 2 + 5 + 5);
  EXPECT_EQ(s.rules[0].hits, 36u);
  EXPECT_EQ(s.rules[0].dropped, 20u);
  EXPECT_EQ(f->DropSnapshot(), (std::map<std::string, uint64_t>{{"rate_limited", 20}}));

  // Sustained: 10 packets per ms offered for 1 s at rate 1000: ~1000 + burst pass.
  auto g = Filter("limit proto udp rate 1000", o);  // default burst 100
  int kept = 0;
  for (uint64_t ms = 0; ms < 1000; ++ms) {
    for (int i = 0; i < 10; ++i) kept += Kept(*g, a, t0 + ms * 1'000'000 + i * 100'000);
  }
  EXPECT_GE(kept, 1000 + 100 - 2);
  EXPECT_LE(kept, 1000 + 100 + 1);
}

// Rates whose interval is not a whole number of nanoseconds (3.33 ns at
// 3e8 pps, 1.43 ns at 7e8): on a virtual clock, bursts of 200 packets every
// 200 ns for 400 us pass rate x time + burst, not the rate of a rounded
// interval (3e8 used to pass as 3.33e8, anything above 5e8 as 1e9). The
// burst's tolerance (~1.4 us and up) spans several calls, so no credit is
// lost between them and the count is exact to a packet.
TEST_F(FilterTest, SubNanosecondIntervalsKeepTheirRate) {
  constexpr uint64_t kStepNs = 200, kSteps = 2000, kOffered = 200, kBurst = 1000;
  const std::vector<uint8_t> frame = BuildFrame(V4({10, 0, 0, 1}));
  for (const uint64_t rate : {300'000'000ull, 700'000'000ull}) {
    auto f = Filter("limit src 10.0.0.0/8 rate " + std::to_string(rate) + " burst " +
                    std::to_string(kBurst));
    const uint64_t t0 = 5'000'000'000;
    uint64_t kept = 0;
    for (uint64_t step = 0; step < kSteps; ++step) {
      Packet* burst[kOffered];
      for (Packet*& p : burst) p = Make(frame);
      const size_t n = f->Apply(burst, t0 + step * kStepNs);
      for (size_t i = 0; i < n; ++i) Release(burst[i]);
      kept += n;
    }
    // Conforming by the last call: rate x elapsed + the burst, within
    // one packet each side for where the last interval falls.
    const double want = static_cast<double>(rate) * ((kSteps - 1) * kStepNs) / 1e9 + kBurst;
    EXPECT_NEAR(static_cast<double>(kept), want, 1.5) << rate << " pps";
    EXPECT_EQ(f->Stats().rules[0].hits, kSteps * kOffered);
  }
}

TEST_F(FilterTest, ConservationOverAMixedBurst) {
  FilterOptions o;
  o.seed = 7;
  auto f = Filter("drop src 10.0.0.0/8; limit proto udp rate 1 burst 3; pass proto tcp", o);
  std::vector<Packet*> burst;
  std::vector<uint64_t> expect_kept;
  for (uint16_t i = 0; i < 64; ++i) {
    FrameSpec s = V4({static_cast<uint8_t>(i % 3 == 0 ? 10 : 20), 0, 0, 1},
                     i % 2 ? FrameSpec::L4::kUdp : FrameSpec::L4::kTcp);
    s.src_port = i;
    Packet* p = Make(s);
    p->seq = i;
    burst.push_back(p);
  }
  const size_t kept = f->Apply(burst, 0);
  const FilterStats s = f->Stats();
  EXPECT_EQ(kept + s.total_dropped(), 64u);
  EXPECT_EQ(s.passed, kept);
  EXPECT_EQ(s.dropped[static_cast<size_t>(FilterDrop::kFiltered)], 22u);  // i % 3 == 0
  // UDP from 20.0.0.1: one source, one bucket of 3.
  EXPECT_EQ(s.rules[1].hits - s.rules[1].dropped, 3u);
  EXPECT_EQ(kept, s.rules[2].hits + 3);
  for (size_t i = 1; i < kept; ++i) EXPECT_LT(burst[i - 1]->seq, burst[i]->seq);  // order kept
  for (size_t i = 0; i < kept; ++i) Release(burst[i]);
  // TearDown: pool back to full, so every dropped packet was released once.
}

TEST_F(FilterTest, NonWorkerThreadsShareLaneZeroSafely) {
  auto f = Filter("drop proto udp; limit proto tcp rate 1000000000 burst 1000000000");
  constexpr int kThreads = 4, kRounds = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        Packet* burst[2] = {Make(V4({1, 2, 3, static_cast<uint8_t>(t)}, FrameSpec::L4::kUdp)),
                            Make(V4({1, 2, 3, static_cast<uint8_t>(t)}, FrameSpec::L4::kTcp))};
        const size_t kept = f->Apply(burst);
        for (size_t i = 0; i < kept; ++i) Release(burst[i]);
      }
    });
  }
  for (auto& t : threads) t.join();
  const FilterStats s = f->Stats();
  EXPECT_EQ(s.passed, uint64_t{kThreads} * kRounds);
  EXPECT_EQ(s.rules[0].hits, uint64_t{kThreads} * kRounds);
}

// --- The RX hook, through a real netisr and the stack ---------------------

void FloodThroughRxSource(const char* model) {
  SCOPED_TRACE(model);
  auto pool = std::move(PacketPool::Create(4096, 256)).value();
  nic::SyntheticConfig c;
  c.num_rx_queues = 2;
  c.num_flows = 300;
  c.tcp_share = 1;  // legitimate traffic is TCP; the flood is UDP to port 53
  c.udp_flood_share = 0.6;
  c.ipv6_share = 0.3;
  c.packets = 20000;
  c.pool = pool.get();
  auto port = std::move(nic::SyntheticPort::Create(c)).value();

  Settings s;
  s.max_threads = 2;
  s.bind_threads = false;
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel(model)).value())).value();
  std::atomic<uint64_t> legit{0}, flood{0}, other{0};
  StackOptions o;
  o.deliver = [&](Layer layer, Burst b) {
    for (Packet* p : b) {
      (layer != Layer::kTcp ? other : p->seq != 0 ? legit : flood).fetch_add(1);
      Release(p);
    }
  };
  auto stack = std::move(ProtocolStack::Register(*nisr, o)).value();
  auto filter = std::move(EarlyFilter::Parse("drop proto udp dport 53")).value();
  std::vector<std::unique_ptr<nic::RxQueueSource>> sources;
  for (uint16_t q = 0; q < c.num_rx_queues; ++q) {
    sources.push_back(std::make_unique<nic::RxQueueSource>(*port, q, stack->ether(), filter.get()));
    ASSERT_TRUE(nisr->AttachSource(q, sources.back().get()).ok());
  }
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();

  const FilterStats fs = filter->Stats();
  EXPECT_EQ(sources[0]->received() + sources[1]->received(), c.packets);
  EXPECT_EQ(legit.load() + fs.total_dropped(), c.packets);
  EXPECT_EQ(fs.rules[0].hits, fs.dropped[static_cast<size_t>(FilterDrop::kFiltered)]);
  EXPECT_EQ(fs.passed, legit.load());
  EXPECT_NEAR(static_cast<double>(fs.total_dropped()) / c.packets, 0.6, 0.03);
  EXPECT_EQ(flood.load(), 0u);
  EXPECT_EQ(other.load(), 0u);
  EXPECT_EQ(stack->drops().Total(), 0u);
  EXPECT_EQ(nisr->GetStats().TotalDrops(), 0u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

// RxQueueSource refills the slots the filter freed (up to
// kMaxRxBurstsPerPoll RX bursts), so that the survivors of a flood reach the
// protocol in one burst close to netisr's burst size, not in the few that
// one filtered RX burst leaves; without a filter a Poll takes the budget
// (here in one RX burst, which the synthetic port fills).
TEST(FilterRxSource, RefillsWhatTheFilterDropped) {
  auto pool = std::move(PacketPool::Create(1024, 256)).value();
  nic::SyntheticConfig c;
  c.num_flows = 100;
  c.tcp_share = 1;
  c.udp_flood_share = 0.6;
  c.packets = 600;
  c.pool = pool.get();
  auto port = std::move(nic::SyntheticPort::Create(c)).value();
  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;
  ASSERT_EQ(s.burst, 32u);
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
  std::vector<size_t> bursts;
  ProtocolSpec spec;
  spec.name = "ether";
  spec.policy = Policy::kSource;
  spec.dispatch = DispatchMode::kDirect;
  spec.handler = [&](Burst b) {
    bursts.push_back(b.size());
    for (Packet* p : b) Release(p);
  };
  const ProtocolId proto = std::move(nisr->Register(spec)).value();
  auto filter = std::move(EarlyFilter::Parse("drop proto udp dport 53")).value();
  nic::RxQueueSource src(*port, 0, proto, filter.get());
  ASSERT_TRUE(nisr->AttachSource(0, &src).ok());
  ASSERT_TRUE(nisr->Start().ok());
  ASSERT_TRUE(nisr->Step());
  ASSERT_EQ(bursts.size(), 1u);
  // One RX burst of 32 keeps ~13 at a 60% flood; refilling, close to 32.
  EXPECT_GE(bursts[0], 28u);
  EXPECT_LE(bursts[0], 32u);
  EXPECT_GT(src.received(), 32u);
  EXPECT_LE(src.received(), 32u * nic::RxQueueSource::kMaxRxBurstsPerPoll);
  EXPECT_EQ(src.received(), bursts[0] + filter->Stats().total_dropped());
  nisr->RunUntilIdle();
  nisr->Stop();
  uint64_t delivered = 0;
  for (size_t b : bursts) delivered += b;
  EXPECT_EQ(delivered + filter->Stats().total_dropped(), c.packets);
  EXPECT_EQ(src.received(), c.packets);

  // No filter: exactly the budget per Poll.
  auto port2 = std::move(nic::SyntheticPort::Create(c)).value();
  auto nisr2 = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
  bursts.clear();
  const ProtocolId proto2 = std::move(nisr2->Register(spec)).value();
  nic::RxQueueSource plain(*port2, 0, proto2);
  ASSERT_TRUE(nisr2->AttachSource(0, &plain).ok());
  ASSERT_TRUE(nisr2->Start().ok());
  ASSERT_TRUE(nisr2->Step());
  EXPECT_EQ(plain.received(), 32u);
  EXPECT_EQ(bursts, std::vector<size_t>{32});
  nisr2->RunUntilIdle();
  nisr2->Stop();
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST(FilterRxSource, InlineDropsTheFloodAndDeliversTheRest) { FloodThroughRxSource("inline"); }
TEST(FilterRxSource, ThreadsShareOneFilterAcrossWorkers) { FloodThroughRxSource("threads"); }

}  // namespace
}  // namespace netisr::proto
