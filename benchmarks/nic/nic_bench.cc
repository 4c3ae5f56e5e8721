// NIC-layer micro-benchmarks: the table Toeplitz against the bit-by-bit
// reference, tuple extraction + hash from a frame, and the synthetic
// generator's and pcap replay's packet rates. Build with -c opt:
//   bazel run -c opt //benchmarks/nic:nic_bench
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "nic/pcap_port.h"
#include "nic/rss.h"
#include "nic/synthetic.h"

namespace netisr::nic {
namespace {

// Inputs that change every iteration, so the hash cannot be hoisted.
template <size_t N>
void BM_Toeplitz(benchmark::State& state) {
  std::array<uint8_t, N> in{};
  for (size_t i = 0; i < N; ++i) in[i] = static_cast<uint8_t>(i * 37 + 11);
  const Toeplitz& t = Toeplitz::Default();
  uint32_t i = 0;
  for (auto _ : state) {
    in[0] = static_cast<uint8_t>(i);
    in[N - 1] = static_cast<uint8_t>(i++ >> 8);
    benchmark::DoNotOptimize(t.Hash(in));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Toeplitz<12>)->Name("Toeplitz/ipv4_4tuple");
BENCHMARK(BM_Toeplitz<36>)->Name("Toeplitz/ipv6_4tuple");

void BM_ToeplitzBitwise(benchmark::State& state) {
  std::array<uint8_t, 12> in{};
  uint32_t i = 0;
  for (auto _ : state) {
    in[0] = static_cast<uint8_t>(i++);
    benchmark::DoNotOptimize(Toeplitz::HashSlow(kDefaultRssKey, in));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToeplitzBitwise)->Name("Toeplitz/ipv4_4tuple_bitwise_reference");

// Parse + hash, as a software RSS does per received frame.
void BM_HashFrame(benchmark::State& state) {
  auto pool = std::move(PacketPool::Create(64, 256)).value();
  SyntheticConfig c;
  c.ipv6_share = state.range(0) ? 1 : 0;
  c.tcp_share = 1;
  c.pool = pool.get();
  auto port = std::move(SyntheticPort::Create(c)).value();
  Packet* p[2];
  port->RxBurst(0, {p, 2});  // p[1]: a data packet, not the SYN
  for (auto _ : state) {
    p[1]->data[26 + (c.ipv6_share ? 4 : 0)]++;
    benchmark::DoNotOptimize(HashFrame(Toeplitz::Default(), {p[1]->data, p[1]->len}));
  }
  Release(p[0]);
  Release(p[1]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashFrame)->Arg(0)->Arg(1)->ArgNames({"ipv6"});

// The general path HashFrame took for every frame before its IPv4 fast
// path: ExtractRssTuple (parse, copy the tuple) then the hash. Same frames.
void BM_HashFrameGeneric(benchmark::State& state) {
  auto pool = std::move(PacketPool::Create(64, 256)).value();
  SyntheticConfig c;
  c.ipv6_share = state.range(0) ? 1 : 0;
  c.tcp_share = 1;
  c.pool = pool.get();
  auto port = std::move(SyntheticPort::Create(c)).value();
  Packet* p[2];
  port->RxBurst(0, {p, 2});
  for (auto _ : state) {
    p[1]->data[26 + (c.ipv6_share ? 4 : 0)]++;
    const RssTuple t = ExtractRssTuple({p[1]->data, p[1]->len});
    benchmark::DoNotOptimize(Toeplitz::Default().Hash(t.input()));
  }
  Release(p[0]);
  Release(p[1]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HashFrameGeneric)->Arg(0)->ArgNames({"ipv6"});

// Generator throughput on one queue, one thread: packets generated and
// released per second (the release is the consumer's cost, included).
void BM_Synthetic(benchmark::State& state, FlowDistribution dist, double ipv6, double flood,
                  uint32_t frame) {
  auto pool = std::move(PacketPool::Create(1024, 2048)).value();
  SyntheticConfig c;
  c.num_flows = 10000;
  c.distribution = dist;
  c.ipv6_share = ipv6;
  c.tcp_share = 0.5;
  c.syn_flood_share = flood;
  c.frame_min = c.frame_max = frame;
  c.pool = pool.get();
  auto port = std::move(SyntheticPort::Create(c)).value();
  Packet* burst[32];
  uint64_t n = 0;
  for (auto _ : state) {
    const size_t k = port->RxBurst(0, burst);
    for (size_t i = 0; i < k; ++i) Release(burst[i]);
    n += k;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(n) / 1e6, benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Synthetic, ipv4_64B_uniform, FlowDistribution::kUniform, 0.0, 0.0, 64);
BENCHMARK_CAPTURE(BM_Synthetic, ipv6_64B_uniform, FlowDistribution::kUniform, 1.0, 0.0, 64);
BENCHMARK_CAPTURE(BM_Synthetic, mixed_64B_zipf_10pct_synflood, FlowDistribution::kZipf, 0.3, 0.1,
                  64);
BENCHMARK_CAPTURE(BM_Synthetic, ipv4_1500B_uniform, FlowDistribution::kUniform, 0.0, 0.0, 1500);

// Replay of a generated trace from memory (PcapPort, looping).
void BM_PcapReplay(benchmark::State& state) {
  auto pool = std::move(PacketPool::Create(1024, 2048)).value();
  SyntheticConfig c;
  c.num_flows = 10000;
  c.pool = pool.get();
  const std::string path = "/tmp/nic_bench_" + std::to_string(getpid()) + ".pcap";
  if (!WriteSyntheticTrace(c, 100000, path).ok()) {
    state.SkipWithError("cannot write trace");
    return;
  }
  PcapConfig pc;
  pc.rx_path = path;
  pc.loops = 0;
  pc.pool = pool.get();
  auto port = std::move(PcapPort::Open(pc)).value();
  std::remove(path.c_str());
  Packet* burst[32];
  uint64_t n = 0;
  for (auto _ : state) {
    const size_t k = port->RxBurst(0, burst);
    for (size_t i = 0; i < k; ++i) Release(burst[i]);
    n += k;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(n) / 1e6, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PcapReplay);

}  // namespace
}  // namespace netisr::nic
