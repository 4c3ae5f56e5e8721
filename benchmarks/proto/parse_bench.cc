// Cost of the protocol layer per packet, on a realistic mix (TCP and UDP over
// IPv4 and IPv6, 0-1400 B payloads, 1 in 8 with VLAN tags):
//  * BM_ParseFrame: the bare parse chain (parse.h), one frame at a time;
//  * BM_Stack/burst:N: the same frames through the registered stack on a real
//    netisr (inline model, direct dispatch, one external producer), bursts of
//    N frames with stage_burst N: N = 32 is bundled processing, N = 1 the
//    same code one packet at a time. Same binary, same run, same frames.
//  * BM_EarlyFilterFlood: EarlyFilter::Apply("drop proto udp dport 53") on
//    bursts of 32 UDP flood frames (4096 frames from random sources), all
//    dropped; beside BM_IpParseFlood, the Ethernet + IPv4 parsers (checksum
//    included) on the same frames, which is what the filter ran on every
//    packet before it read fields in place: the per-dropped-packet cost of
//    early drop and what it was.
// Frames are reused: before each pass their length and flowid are reset,
// and the sink "releases" them into a no-op, so no allocator is timed.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "base/wire.h"
#include "netisr/netisr.h"
#include "proto/filter.h"
#include "proto/frame_builder.h"
#include "proto/parse.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace netisr::proto {
namespace {

constexpr size_t kFrames = 1024;

struct Workload {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<Packet> pkts;
  std::vector<Packet*> ptrs;

  Workload() {
    std::mt19937 rng(42);
    for (size_t i = 0; i < kFrames; ++i) {
      FrameSpec s;
      s.ipv6 = rng() % 3 == 0;
      s.l4 = rng() % 4 == 0 ? FrameSpec::L4::kUdp : FrameSpec::L4::kTcp;
      s.tcp_options = rng() % 2;
      s.src_port = static_cast<uint16_t>(1024 + rng() % 4096);
      const uint32_t sizes[] = {0, 0, 64, 512, 1400};  // ACKs, small, MTU-sized
      s.payload = sizes[rng() % 5];
      if (rng() % 8 == 0) s.vlans = {10};
      s.pad_to = 60;
      frames.push_back(BuildFrame(s));
    }
    pkts.resize(kFrames);
    for (size_t i = 0; i < kFrames; ++i) {
      pkts[i].data = frames[i].data();
      pkts[i].release = [](Packet*) {};
      ptrs.push_back(&pkts[i]);
    }
    Reset();
  }
  void Reset() {
    for (size_t i = 0; i < kFrames; ++i) {
      pkts[i].len = static_cast<uint32_t>(frames[i].size());
      pkts[i].hash_type = HashType::kNone;
    }
  }
};

void BM_ParseFrame(benchmark::State& state) {
  Workload w;
  uint64_t delivered = 0;
  for (auto _ : state) {
    w.Reset();
    for (Packet* p : w.ptrs) delivered += ParseFrame(*p).step.kind == Step::Kind::kDeliver;
  }
  if (delivered != state.iterations() * kFrames) state.SkipWithError("a frame was dropped");
  state.SetItemsProcessed(state.iterations() * kFrames);
}
BENCHMARK(BM_ParseFrame);

void BM_Stack(benchmark::State& state) {
  const uint32_t burst = static_cast<uint32_t>(state.range(0));
  Workload w;
  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
  uint64_t delivered = 0;
  StackOptions o;
  o.dispatch = DispatchMode::kDirect;
  o.stage_burst = burst;
  o.deliver = [&delivered](Layer, Burst b) {
    delivered += b.size();
    for (Packet* p : b) Release(p);
  };
  auto stack = std::move(ProtocolStack::Register(*nisr, o)).value();
  if (!nisr->Start().ok()) state.SkipWithError("netisr did not start");
  {
    Netisr::ProducerScope scope(*nisr);
    for (auto _ : state) {
      w.Reset();
      for (size_t i = 0; i < kFrames; i += burst) {
        nisr->DispatchBurst(0, stack->ether(), {w.ptrs.data() + i, burst});
      }
    }
  }
  nisr->Stop();
  if (delivered != state.iterations() * kFrames) state.SkipWithError("a frame was dropped");
  state.SetItemsProcessed(state.iterations() * kFrames);
}
BENCHMARK(BM_Stack)->ArgName("burst")->Arg(32)->Arg(1);

// 64-byte UDP frames to port 53 from random IPv4 sources, as a flood.
struct FloodWorkload {
  static constexpr size_t kCount = 4096;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<Packet> pkts;
  std::vector<Packet*> ptrs;

  FloodWorkload() {
    std::mt19937 rng(7);
    for (size_t i = 0; i < kCount; ++i) {
      FrameSpec s;
      s.l4 = FrameSpec::L4::kUdp;
      const uint32_t src = static_cast<uint32_t>(rng());
      s.src4 = {static_cast<uint8_t>(src >> 24), static_cast<uint8_t>(src >> 16),
                static_cast<uint8_t>(src >> 8), static_cast<uint8_t>(src)};
      s.src_port = static_cast<uint16_t>(rng());
      s.dst_port = 53;
      s.pad_to = 64;
      frames.push_back(BuildFrame(s));
    }
    pkts.resize(kCount);
    for (size_t i = 0; i < kCount; ++i) {
      pkts[i].data = frames[i].data();
      pkts[i].len = static_cast<uint32_t>(frames[i].size());
      pkts[i].release = [](Packet*) {};
      ptrs.push_back(&pkts[i]);
    }
  }
};

void BM_EarlyFilterFlood(benchmark::State& state) {
  FloodWorkload w;
  auto filter = std::move(EarlyFilter::Parse("drop proto udp dport 53")).value();
  uint64_t kept = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < FloodWorkload::kCount; i += 32) {
      Packet* burst[32];
      std::copy_n(w.ptrs.data() + i, 32, burst);
      kept += filter->Apply(burst, 0);
    }
  }
  if (kept != 0) state.SkipWithError("a flood packet was kept");
  state.SetItemsProcessed(state.iterations() * FloodWorkload::kCount);
}
BENCHMARK(BM_EarlyFilterFlood);

void BM_IpParseFlood(benchmark::State& state) {
  FloodWorkload w;
  uint64_t dropped = 0;
  for (auto _ : state) {
    for (Packet* p : w.ptrs) {
      p->len = 64;  // the parser trims padding
      Layout l;
      if (ParseEther(*p, l).kind == Step::Kind::kNext &&
          ParseIpv4(*p, l).kind == Step::Kind::kNext && l.ip_proto == wire::kProtoUdp &&
          l.l4_len >= 4 && base::Load16(p->data + l.l4_off + 2) == 53) {
        ++dropped;
        Release(p);
      }
    }
  }
  if (dropped != state.iterations() * FloodWorkload::kCount) state.SkipWithError("not all matched");
  state.SetItemsProcessed(state.iterations() * FloodWorkload::kCount);
}
BENCHMARK(BM_IpParseFlood);

}  // namespace
}  // namespace netisr::proto
