// DpdkPort RX speed: RxBurst + Release on one core from a net_pcap vdev
// replaying a synthetic trace forever (infinite_rx=1: the PMD copies each
// frame from memory into an mbuf, as testpmd's reference run does), so the
// figure is the PMD's cost plus DpdkPort's (Packet setup in the mbuf's
// private area, software Toeplitz, counters, rte_pktmbuf_free).
//
//   bazel run -c opt //benchmarks/nic:dpdk_bench -- [seconds] [frames] [frame_bytes] [trace]
//
// writes the trace (`frames` frames of `frame_bytes`, 1024 flows, real
// Ethernet/IP/TCP headers; default a temporary file) and replays it for
// `seconds`. With seconds = 0 it only writes the trace and exits, which is
// how benchmarks/nic/testpmd_reference.sh gets the same trace for testpmd.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "nic/dpdk_port.h"
#include "nic/synthetic.h"

using namespace netisr;
using namespace netisr::nic;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  const uint64_t frames = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 4096;
  const uint32_t bytes = argc > 3 ? static_cast<uint32_t>(std::atoi(argv[3])) : 64;
  const bool own_trace = argc <= 4;
  const std::string trace =
      own_trace ? "/tmp/nisr_dpdk_bench_" + std::to_string(getpid()) + ".pcap" : argv[4];
  SyntheticConfig g;
  g.num_flows = 1024;
  g.frame_min = g.frame_max = bytes;
  if (Status st = WriteSyntheticTrace(g, frames, trace); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  if (seconds <= 0) return 0;
  const std::string eal = "--no-huge --no-pci --no-shconf -m 512 -l 0 --file-prefix=nisr_bench_" +
                          std::to_string(getpid()) + " --log-level=lib.eal:warning" +
                          " --vdev=net_pcap0,rx_pcap=" + trace + ",infinite_rx=1";
  if (Status st = DpdkEal::Init(eal); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  DpdkConfig c;
  c.port_id = 0;
  c.num_tx_queues = 0;
  auto port = DpdkPort::Create(c);
  if (!port.ok()) {
    std::fprintf(stderr, "%s\n", port.status().message().c_str());
    return 1;
  }
  DpdkPort& p = **port;
  Packet* burst[32];
  uint64_t n = 0, sum = 0;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (;;) {
    for (int i = 0; i < 256; ++i) {
      const size_t k = p.RxBurst(0, burst);
      for (size_t j = 0; j < k; ++j) {
        sum += burst[j]->flowid;
        Release(burst[j]);
      }
      n += k;
    }
    if (Clock::now() >= end) break;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "dpdk_bench: %s (%s RSS), %u-byte frames, trace %llu frames: %.2f Mpps "
      "(%llu packets in %.2f s, checksum %llu)\n",
      std::string(p.name()).c_str(), ToString(p.rss_mode()), bytes,
      static_cast<unsigned long long>(frames), n / secs / 1e6, static_cast<unsigned long long>(n),
      secs, static_cast<unsigned long long>(sum));
  port->reset();
  if (own_trace) unlink(trace.c_str());
  return 0;
}
