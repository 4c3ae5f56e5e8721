// The IP-layer hook (StackOptions::ip_hook), with the fused IPv4 chain and
// with the layered one: transit traffic reaches the hook after the IP
// checks and before any L4 check (a bad L4 checksum is not a drop, a
// fragment or an unknown protocol is not either); local traffic is judged
// exactly as without a hook (same reasons, same deliveries); every packet
// sent is delivered, taken or dropped under a reason, and every buffer comes
// back to the pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/wire.h"
#include "netisr/netisr.h"
#include "proto/frame_builder.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

constexpr std::array<uint8_t, 4> kLocal4 = {10, 0, 0, 2};  // FrameSpec's default dst4
constexpr std::array<uint8_t, 4> kTransit4 = {10, 9, 0, 1};
constexpr uint32_t kPoolPackets = 512;

enum class Hook { kNone, kTakeTransit, kTakeNothing, kDropTransit };

// kDropTransit's reasons (StackOptions::ip_hook_drops): IPv4 transit under
// the first, IPv6 under the second, and TCP transit with a verdict naming
// no registered reason.
const std::vector<std::string> kHookDrops = {"no_route", "no_route6"};

// One netisr (inline model, one workstream) with the stack and a hook:
// kTakeTransit takes every packet not addressed to kLocal4 (IPv4) or to
// FrameSpec's default dst6 (IPv6), counting and releasing it; kTakeNothing
// answers local for all; kDropTransit drops transit with a reason for the
// stack to count and release (kHookDrops).
class HookHarness {
 public:
  HookHarness(bool fused, Hook hook) {
    Settings s;
    s.max_threads = 1;
    s.bind_threads = false;
    nisr_ = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
    pool_ = std::move(PacketPool::Create(kPoolPackets, 2048)).value();
    StackOptions o;
    o.dispatch = DispatchMode::kDirect;
    o.fused_ipv4 = fused;
    o.deliver = [this](Layer layer, Burst b) {
      delivered_[std::string(ToString(layer))] += b.size();
      for (Packet* p : b) Release(p);
    };
    if (hook != Hook::kNone) {
      o.ip_hook = [this, hook](Layer l3, std::span<Packet* const> pkts, IpVerdict* verdicts) {
        ++hook_calls_;
        for (size_t i = 0; i < pkts.size(); ++i) {
          const Packet& p = *pkts[i];
          const Layout l = GetLayout(p);
          const uint8_t* ip = p.data + l.l3_off;
          EXPECT_EQ(l.ethertype, l3 == Layer::kIp ? wire::kEtherTypeIpv4 : wire::kEtherTypeIpv6);
          const bool local =
              l3 == Layer::kIp
                  ? std::memcmp(ip + wire::kIpv4DstOffset, kLocal4.data(), 4) == 0
                  : std::memcmp(ip + wire::kIpv6DstOffset, FrameSpec{}.dst6.data(), 16) == 0;
          if (local || hook == Hook::kTakeNothing) continue;
          if (hook == Hook::kDropTransit) {
            verdicts[i] = l.ip_proto == wire::kProtoTcp ? IpDrop(7)
                          : l3 == Layer::kIp            ? IpDrop(0)
                                                        : IpDrop(1);
            continue;
          }
          verdicts[i] = IpVerdict::kTaken;
          taken_[l3 == Layer::kIp ? "ip" : "ip6"] += 1;
          taken_protos_.push_back(l.ip_proto);
          Release(pkts[i]);
        }
      };
    }
    if (hook == Hook::kDropTransit) o.ip_hook_drops = kHookDrops;
    stack_ = std::move(ProtocolStack::Register(*nisr_, std::move(o))).value();
    EXPECT_TRUE(nisr_->Start().ok());
  }
  ~HookHarness() { nisr_->Stop(); }

  void Send(const std::vector<std::vector<uint8_t>>& frames) {
    Netisr::ProducerScope scope(*nisr_);
    for (size_t at = 0; at < frames.size(); at += 64) {
      std::vector<Packet*> pkts;
      for (size_t i = at; i < std::min(frames.size(), at + 64); ++i) {
        Packet* p = pool_->Alloc();
        ASSERT_NE(p, nullptr);
        const auto& f = frames[i];
        if (!f.empty()) std::memcpy(p->data, f.data(), f.size());
        p->len = static_cast<uint32_t>(f.size());
        pkts.push_back(p);
      }
      nisr_->DispatchBurst(0, stack_->ether(), pkts);
      nisr_->RunUntilIdle();
    }
    sent_ += frames.size();
  }

  uint64_t Sum(const std::map<std::string, uint64_t>& m) const {
    uint64_t n = 0;
    for (const auto& [k, v] : m) n += v;
    return n;
  }
  // sent = delivered + taken + dropped, and every buffer is back.
  void ExpectConservation() {
    nisr_->RunUntilIdle();
    EXPECT_EQ(sent_, Sum(delivered_) + Sum(taken_) + stack_->drops().Total());
    EXPECT_EQ(pool_->available(), kPoolPackets);
  }

  std::map<std::string, uint64_t> delivered_, taken_;
  std::vector<uint8_t> taken_protos_;
  uint64_t hook_calls_ = 0, sent_ = 0;
  std::unique_ptr<Netisr> nisr_;
  std::unique_ptr<PacketPool> pool_;
  std::unique_ptr<ProtocolStack> stack_;
};

void FixIpv4Checksum(std::vector<uint8_t>& f, uint32_t l3) {
  uint8_t* ip = f.data() + l3;
  base::Store16(ip + wire::kIpv4ChecksumOffset, 0);
  base::Store16(ip + wire::kIpv4ChecksumOffset, base::Checksum(ip, (ip[0] & 0x0f) * 4u));
}

std::vector<uint8_t> Tcp4(std::array<uint8_t, 4> dst, bool bad_l4_checksum) {
  FrameSpec s;
  s.l4 = FrameSpec::L4::kTcp;
  s.dst4 = dst;
  s.payload = 32;
  std::vector<uint8_t> f = BuildFrame(s);
  if (bad_l4_checksum) f[OffsetsOf(s).l4 + wire::kTcpChecksumOffset] ^= 0x5a;
  return f;
}

// An IPv4 UDP first fragment (MF set) to `dst`, header checksum valid.
std::vector<uint8_t> Fragment4(std::array<uint8_t, 4> dst) {
  FrameSpec s;
  s.dst4 = dst;
  s.payload = 40;
  std::vector<uint8_t> f = BuildFrame(s);
  const uint32_t l3 = OffsetsOf(s).l3;
  f[l3 + wire::kIpv4FragOffset] |= 0x20;  // MF
  FixIpv4Checksum(f, l3);
  return f;
}

// An IPv6 UDP datagram with a fragment header (offset 0, M set) in front
// of it, to `dst_last` (the last byte of dst6), its UDP checksum broken.
std::vector<uint8_t> Fragment6(uint8_t dst_last) {
  FrameSpec s;
  s.ipv6 = true;
  s.dst6[15] = dst_last;
  s.payload = 40;
  std::vector<uint8_t> f = BuildFrame(s);
  const uint32_t l3 = OffsetsOf(s).l3;
  const uint32_t l4 = OffsetsOf(s).l4;
  f[l4 + 6] ^= 0xff;  // UDP checksum
  const uint8_t frag[8] = {wire::kProtoUdp, 0, 0x00, 0x01, 0, 0, 0, 42};
  f.insert(f.begin() + l4, frag, frag + 8);
  f[l3 + wire::kIpv6NextHeaderOffset] = wire::kProtoFragment;
  base::Store16(
      f.data() + l3 + wire::kIpv6PayloadLenOffset,
      static_cast<uint16_t>(base::Load16(f.data() + l3 + wire::kIpv6PayloadLenOffset) + 8));
  return f;
}

class IpHook : public ::testing::TestWithParam<bool> {};  // fused_ipv4

// TTL is the router's check (RFC 1812 5.3.1), not the parser's: TTL 0
// reaches the hook, and a host accepts it (RFC 1122).
TEST_P(IpHook, TtlIsNotChecked) {
  HookHarness h(GetParam(), Hook::kTakeTransit);
  std::vector<std::vector<uint8_t>> frames = {Tcp4(kTransit4, false), Tcp4(kLocal4, false)};
  for (auto& f : frames) {
    f[wire::kEtherHeaderLen + wire::kIpv4TtlOffset] = 0;
    FixIpv4Checksum(f, wire::kEtherHeaderLen);
  }
  h.Send(frames);
  EXPECT_EQ(h.taken_["ip"], 1u);
  EXPECT_EQ(h.delivered_["tcp"], 1u);
  EXPECT_EQ(h.stack_->drops().Total(), 0u);
  h.ExpectConservation();
}

TEST_P(IpHook, TransitWithBadL4ChecksumReachesTheHookLocalIsDropped) {
  HookHarness h(GetParam(), Hook::kTakeTransit);
  h.Send(
      {Tcp4(kTransit4, true), Tcp4(kTransit4, false), Tcp4(kLocal4, true), Tcp4(kLocal4, false)});
  EXPECT_EQ(h.taken_["ip"], 2u);
  EXPECT_EQ(h.delivered_["tcp"], 1u);
  const auto drops = h.stack_->DropSnapshot();
  EXPECT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops.count("bad_tcp_checksum") ? drops.at("bad_tcp_checksum") : 0, 1u);
  EXPECT_GE(h.hook_calls_, 1u);
  h.ExpectConservation();
}

TEST_P(IpHook, TransitFragmentsAndUnknownProtocolsReachTheHookLocalFragmentsDrop) {
  HookHarness h(GetParam(), Hook::kTakeTransit);
  FrameSpec gre;
  gre.dst4 = kTransit4;
  std::vector<uint8_t> g = BuildFrame(gre);
  const uint32_t l3 = OffsetsOf(gre).l3;
  g[l3 + wire::kIpv4ProtoOffset] = 47;  // GRE: no layer of ours
  FixIpv4Checksum(g, l3);
  h.Send({Fragment4(kTransit4), Fragment4(kLocal4), Fragment6(9), Fragment6(2), g});
  EXPECT_EQ(h.taken_["ip"], 2u);
  EXPECT_EQ(h.taken_["ip6"], 1u);
  const auto drops = h.stack_->DropSnapshot();
  EXPECT_EQ(drops.at("ip_fragment"), 1u);
  EXPECT_EQ(drops.at("ip6_fragment"), 1u);
  EXPECT_EQ(drops.size(), 2u);
  // The hook sees the protocol it forwards: GRE, and UDP behind the IPv4
  // fragment and behind the IPv6 fragment header (its walk stops there).
  EXPECT_EQ(std::count(h.taken_protos_.begin(), h.taken_protos_.end(), 47), 1);
  EXPECT_EQ(std::count(h.taken_protos_.begin(), h.taken_protos_.end(), wire::kProtoUdp), 2);
  h.ExpectConservation();
}

TEST_P(IpHook, WithoutAHookTransitIsCheckedAsToday) {
  HookHarness h(GetParam(), Hook::kNone);
  h.Send({Tcp4(kTransit4, true), Fragment4(kTransit4), Fragment6(9)});
  const auto drops = h.stack_->DropSnapshot();
  EXPECT_EQ(drops.at("bad_tcp_checksum"), 1u);
  EXPECT_EQ(drops.at("ip_fragment"), 1u);
  EXPECT_EQ(drops.at("ip6_fragment"), 1u);
  h.ExpectConservation();
}

// Local traffic through a hook that takes nothing: the same deliveries and
// the same drop reasons as without a hook, on every kind of frame the
// builder makes with each header byte broken in turn (the IPv4 header
// checksum recomputed after the break unless the break is in it: a fragment
// with a bad header checksum is the one documented difference, parse.h).
TEST_P(IpHook, LocalTrafficIsJudgedAsWithoutAHook) {
  std::vector<std::vector<uint8_t>> frames;
  std::mt19937 rng(7);
  for (bool ipv6 : {false, true}) {
    for (FrameSpec::L4 l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp, FrameSpec::L4::kIcmpEcho}) {
      for (int variant = 0; variant < 4; ++variant) {
        FrameSpec s;
        s.ipv6 = ipv6;
        s.l4 = l4;
        s.payload = variant * 9;
        if (variant == 1) s.pad_to = 60;
        if (variant == 2) (ipv6 ? s.ip6_ext_headers : s.ip_option_words) = 2;
        if (variant == 3) s.vlans = {5};
        const std::vector<uint8_t> good = BuildFrame(s);
        const FrameOffsets off = OffsetsOf(s);
        frames.push_back(good);
        for (size_t i = 0; i < std::min<size_t>(good.size(), off.l4 + 24); ++i) {
          std::vector<uint8_t> f = good;
          f[i] ^= static_cast<uint8_t>(1u << (rng() % 8));
          const bool in_ip_sum =
              i >= off.l3 + wire::kIpv4ChecksumOffset && i < off.l3 + wire::kIpv4ChecksumOffset + 2;
          // Only while the frame still reads as the IPv4 header it was.
          if (!ipv6 && !in_ip_sum && f[off.l3] >> 4 == 4 &&
              (f[off.l3] & 0x0f) * 4u <= off.l4 - off.l3)
            FixIpv4Checksum(f, off.l3);
          frames.push_back(f);
          frames.emplace_back(good.begin(), good.begin() + i);
        }
      }
    }
  }
  HookHarness with(GetParam(), Hook::kTakeNothing), without(GetParam(), Hook::kNone);
  with.Send(frames);
  without.Send(frames);
  EXPECT_TRUE(with.taken_.empty());
  EXPECT_EQ(with.delivered_, without.delivered_);
  EXPECT_EQ(with.stack_->DropSnapshot(), without.stack_->DropSnapshot());
  EXPECT_GT(with.hook_calls_, 0u);
  with.ExpectConservation();
  without.ExpectConservation();
}

// Dropped by the hook: released and counted by the stack under the reason
// the hook named, beside the stack's own; a verdict naming no registered
// reason still counts (kIpHookUnnamedDrop), so nothing is lost.
TEST_P(IpHook, TransitDroppedByTheHookIsCountedUnderItsReason) {
  HookHarness h(GetParam(), Hook::kDropTransit);
  FrameSpec udp;
  udp.dst4 = kTransit4;
  h.Send({BuildFrame(udp), BuildFrame(udp), Tcp4(kTransit4, false), Fragment6(9),
          Tcp4(kLocal4, false), Tcp4(kLocal4, true)});
  const auto drops = h.stack_->DropSnapshot();
  EXPECT_EQ(drops, (std::map<std::string, uint64_t>{{"no_route", 2},
                                                    {"no_route6", 1},
                                                    {std::string(kIpHookUnnamedDrop), 1},
                                                    {"bad_tcp_checksum", 1}}));
  EXPECT_EQ(h.delivered_["tcp"], 1u);
  EXPECT_TRUE(h.taken_.empty());
  h.ExpectConservation();
}

INSTANTIATE_TEST_SUITE_P(FusedAndLayered, IpHook, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "fused" : "layered"; });

// The hook's reasons are checked when the stack registers, by name.
TEST(IpHookDrops, BadReasonListsAreRefusedByName) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"a", ""}, "reason 1 has no name"},
      {{"x", "y", "x"}, "'x' named twice"},
      {{"bad_ip_checksum"}, "'bad_ip_checksum' is a reason of the stack's own"},
      {{std::string(kIpHookUnnamedDrop)}, "is a reason of the stack's own"},
      {std::vector<std::string>(kMaxIpHookDrops + 1, "r"), "17 reasons, at most 16"},
  };
  for (const auto& [names, want] : cases) {
    Settings s;
    s.max_threads = 1;
    s.bind_threads = false;
    auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
    StackOptions o;
    o.deliver = [](Layer, Burst b) {
      for (Packet* p : b) Release(p);
    };
    o.ip_hook_drops = names;
    auto st = ProtocolStack::Register(*nisr, std::move(o));
    ASSERT_FALSE(st.ok()) << want;
    EXPECT_NE(st.status().message().find(want), std::string::npos) << st.status().message();
  }
}

}  // namespace
}  // namespace netisr::proto
