// Cost of the protocol layer per packet, on a realistic mix (TCP and UDP over
// IPv4 and IPv6, 0-1400 B payloads, 1 in 8 with VLAN tags):
//  * BM_ParseFrame: the bare parse chain (parse.h), one frame at a time;
//  * BM_Stack/burst:N: the same frames through the registered stack on a real
//    netisr (inline model, direct dispatch, one external producer), bursts of
//    N frames with stage_burst N: N = 32 is bundled processing, N = 1 the
//    same code one packet at a time. Same binary, same run, same frames.
// Frames are reused: before each pass their length and flow id are reset,
// and the sink "releases" them into a no-op, so no allocator is timed.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "netisr/netisr.h"
#include "proto/frame_builder.h"
#include "proto/parse.h"
#include "proto/stack.h"

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

}  // namespace
}  // namespace netisr::proto
