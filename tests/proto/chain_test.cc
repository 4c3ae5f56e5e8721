// The whole chain through a real netisr: every frame sent is either
// delivered or dropped under one reason (conservation), and every packet
// returns to the pool; under the inline and threads models and every
// dispatch mode.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "proto/frame_builder.h"
#include "tests/proto/proto_test_util.h"

namespace netisr::proto {
namespace {

// A mix of good frames over many flows and a known number of broken ones.
struct Traffic {
  std::vector<std::vector<uint8_t>> frames;
  uint64_t good = 0;
};

Traffic MakeTraffic(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Traffic t;
  for (size_t i = 0; i < n; ++i) {
    FrameSpec s;
    s.ipv6 = rng() % 2;
    s.l4 = static_cast<FrameSpec::L4>(rng() % 3);
    s.src_port = static_cast<uint16_t>(1024 + rng() % 64);
    s.payload = rng() % 200;
    s.pad_to = 60;
    auto f = i % 17 == 3 ? BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2}) : BuildFrame(s);
    if (i % 5 == 0) {
      f[14 + rng() % (f.size() - 14)] ^= static_cast<uint8_t>(1 + rng() % 255);  // may break it
    } else {
      ++t.good;
    }
    t.frames.push_back(std::move(f));
  }
  return t;
}

class Chain : public ::testing::TestWithParam<std::tuple<const char*, DispatchMode>> {};

TEST_P(Chain, ConservesEveryPacket) {
  const auto [model, mode] = GetParam();
  testing::StackHarness h(model, 3, mode, /*pool_size=*/512);
  const Traffic t = MakeTraffic(3000, 7);
  uint64_t sent = 0;
  for (size_t i = 0; i < t.frames.size(); i += 32) {
    const size_t n = std::min<size_t>(32, t.frames.size() - i);
    sent += h.Send({t.frames.begin() + i, t.frames.begin() + i + n}, static_cast<uint16_t>(i % 4));
    h.Drain();  // one burst in flight at a time: no queue overflows
  }
  h.Drain();
  h.nisr().Stop();
  const uint64_t netisr_drops = h.nisr().GetStats().TotalDrops();
  const uint64_t proto_drops = h.stack().drops().Total();
  EXPECT_EQ(sent, h.delivered_total() + proto_drops + netisr_drops)
      << "delivered " << h.delivered_total() << " proto drops " << proto_drops << " netisr drops "
      << netisr_drops;
  EXPECT_EQ(netisr_drops, 0u);
  EXPECT_GE(h.delivered_total(), t.good);  // a flipped byte may also leave a frame valid
  EXPECT_GT(proto_drops, 0u);
  EXPECT_EQ(h.pool().available(), h.pool().capacity());
}

INSTANTIATE_TEST_SUITE_P(
    Models, Chain,
    ::testing::Combine(::testing::Values("inline", "threads"),
                       ::testing::Values(DispatchMode::kDirect, DispatchMode::kDeferred,
                                         DispatchMode::kHybrid, DispatchMode::kAdaptive)),
    [](const auto& info) {
      return std::string(std::get<0>(info.param)) + "_" +
             std::string(ToString(std::get<1>(info.param)));
    });

TEST(Chain, FlowsKeepTheirWorkstreamFromIpUp) {
  // ip's m2flow sets the flowid; tcp keeps it, so both layers of one flow
  // run on one workstream (no second hop between CPUs). With the fused IPv4
  // chain, ip is skipped and tcp runs where the layered chain runs it.
  FrameSpec s;
  s.l4 = FrameSpec::L4::kTcp;
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 16; ++i) {
    s.src_port = static_cast<uint16_t>(2000 + i);
    frames.push_back(BuildFrame(s));
  }
  // The workstream each flow's tcp layer ran on, flow by flow (one frame
  // sent and drained at a time, the workstream whose tcp count grew).
  std::vector<int> ws_of_flow[2];
  for (bool fused : {false, true}) {
    testing::StackHarness h("inline", 4, DispatchMode::kDeferred, 256, fused);
    const int ip = h.stack().id(Layer::kIp), tcp = h.stack().id(Layer::kTcp);
    std::vector<uint64_t> before(4, 0);
    for (const auto& frame : frames) {
      h.Send({frame});
      h.Drain();
      const Stats st = h.nisr().GetStats();
      int ran_on = -1;
      for (size_t ws = 0; ws < st.work.size(); ++ws) {
        if (st.work[ws][tcp].handled != before[ws]) {
          EXPECT_EQ(ran_on, -1) << "one frame, two workstreams";
          ran_on = static_cast<int>(ws);
        }
        before[ws] = st.work[ws][tcp].handled;
      }
      ws_of_flow[fused].push_back(ran_on);
    }
    h.nisr().Stop();
    const Stats st = h.nisr().GetStats();
    for (size_t ws = 0; ws < st.work.size(); ++ws) {
      EXPECT_EQ(st.work[ws][ip].handled, fused ? 0 : st.work[ws][tcp].handled) << ws;
    }
    EXPECT_EQ(h.delivered(Layer::kTcp), 16u);
  }
  EXPECT_EQ(ws_of_flow[0], ws_of_flow[1]);
  // The test means something only if the flows spread.
  EXPECT_GT(std::set<int>(ws_of_flow[0].begin(), ws_of_flow[0].end()).size(), 1u);
}

TEST(Chain, RejectsBadOptions) {
  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;
  auto n = Netisr::Create(s, std::move(MakeWorkModel("inline")).value());
  ASSERT_TRUE(n.ok());
  StackOptions o;
  EXPECT_EQ(ProtocolStack::Register(**n, o).status().code(), ErrorCode::kInvalidArgument);
  o.deliver = [](Layer, Burst b) {
    for (Packet* p : b) Release(p);
  };
  o.stage_burst = kMaxStageBurst + 1;
  EXPECT_EQ(ProtocolStack::Register(**n, o).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace netisr::proto
