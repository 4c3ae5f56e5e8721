// Pipeline speed: frames from a DPDK port through netisr and the whole parse
// chain on one worker, then transmitted, as dpdk-testpmd's io-forwarding
// moves them (benchmarks/nic/pipeline_reference.sh runs both on the same
// vdev and trace, alternately, and prints the ratio).
//
//   DpdkPort net_pcap0 (rx_pcap=TRACE, infinite_rx=1)
//     -> RxQueueSource (queue 0) -> netisr, one workstream
//     -> ProtocolStack: ether -> ip/ip6 -> tcp/udp/icmp (every check, the
//        TCP/UDP checksums over the payload included)
//     -> deliver: TxBurst on the port's TX queue 0 (net_pcap without
//        tx_pcap counts and frees, as in testpmd's run); what TX refuses is
//        released and counted as tx_refused.
//
// Work model (--model): `poll` (default) is the realistic one: a worker
// thread that busy-polls the RX queue and runs each burst to completion, as
// a DPDK forwarding lcore does; the main thread only sleeps and reads the
// counters. `inline` runs the same worker on the main thread (an EAL lcore)
// through Netisr::Step, for comparison. Either way one CPU does all the work.
//
// Output: received Mpps (wall clock, like testpmd's Rx-pps; and per second
// of the worker's CPU), then conservation: received = delivered (sent +
// tx_refused) + dropped, by reason (parse chain, netisr), checked after
// Stop. Exit status 1 if it does not hold.
//
//   bazel build -c opt //benchmarks/nic:pipeline_bench
//   bazel-bin/benchmarks/nic/pipeline_bench --write_trace=FILE [--frames=4096] [--bytes=64]
//   bazel-bin/benchmarks/nic/pipeline_bench --trace=FILE [--seconds=5] [--model=poll|inline]
//       [--lcore=1] [--dispatch=hybrid|direct|deferred|adaptive]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "netisr/netisr.h"
#include "nic/dpdk_port.h"
#include "nic/pcap_port.h"
#include "nic/rx_source.h"
#include "nic/synthetic.h"
#include "proto/stack.h"

namespace netisr::nic {
namespace {

struct Args {
  std::string trace, write_trace, model = "poll";
  // The stack's dispatch mode (StackOptions::dispatch). hybrid, the
  // stack's default, runs the Ethernet layer direct (FreeBSD's ether_nh)
  // and the TCP hop under the hybrid rule, in place when nothing of it is
  // queued; direct runs both in place (FreeBSD's net.isr.dispatch=direct).
  std::string dispatch = "hybrid";
  double seconds = 5;
  uint64_t frames = 4096;
  uint32_t bytes = 64;
  // EAL pins its main thread to this CPU and netisr's worker (created by
  // it, bind_threads off) inherits that. 1: the CPU testpmd's forwarding
  // lcore runs on in pipeline_reference.sh, so both loops share the same
  // neighbours on this shared machine.
  int lcore = 1;
};

bool Flag(const std::string& a, const char* name, std::string& out) {
  const std::string p = std::string("--") + name + "=";
  if (a.rfind(p, 0) != 0) return false;
  out = a.substr(p.size());
  return true;
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --write_trace=FILE [--frames=N] [--bytes=B]\n"
               "       %s --trace=FILE [--seconds=S] [--model=poll|inline] [--lcore=CPU]\n"
               "          [--dispatch=direct|hybrid|deferred|adaptive]\n",
               argv0, argv0);
  return 2;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    std::string v;
    if (Flag(s, "trace", a.trace) || Flag(s, "write_trace", a.write_trace) ||
        Flag(s, "model", a.model) || Flag(s, "dispatch", a.dispatch)) {
    } else if (Flag(s, "seconds", v)) {
      a.seconds = std::atof(v.c_str());
    } else if (Flag(s, "frames", v)) {
      a.frames = std::strtoull(v.c_str(), nullptr, 10);
    } else if (Flag(s, "lcore", v)) {
      a.lcore = std::atoi(v.c_str());
    } else if (Flag(s, "bytes", v)) {
      a.bytes = static_cast<uint32_t>(std::atoi(v.c_str()));
    } else {
      return Usage(argv[0]);
    }
  }
  if (!a.write_trace.empty()) {
    // --bytes is the frame size written; pass it again when running.
    // TCP flows with real headers and checksums, as the stack checks them.
    SyntheticConfig g;
    g.num_flows = 1024;
    g.frame_min = g.frame_max = a.bytes;
    if (Status st = WriteSyntheticTrace(g, a.frames, a.write_trace); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    return 0;
  }
  const std::optional<DispatchMode> dispatch = ParseDispatchMode(a.dispatch);
  if (a.trace.empty() || a.seconds <= 0 || (a.model != "poll" && a.model != "inline") ||
      !dispatch.has_value()) {
    return Usage(argv[0]);
  }

  // The frame sizes the run replays, from the trace itself (--bytes only
  // says what --write_trace writes; a trace from elsewhere has its own).
  auto records = ReadPcap(a.trace);
  if (!records.ok()) {
    std::fprintf(stderr, "%s\n", records.status().message().c_str());
    return 1;
  }
  if (records->empty()) {
    std::fprintf(stderr, "%s: the trace has no frames\n", a.trace.c_str());
    return 1;
  }
  size_t min_bytes = SIZE_MAX, max_bytes = 0, sum_bytes = 0;
  for (const PcapRecord& r : *records) {
    min_bytes = std::min(min_bytes, r.bytes.size());
    max_bytes = std::max(max_bytes, r.bytes.size());
    sum_bytes += r.bytes.size();
  }
  const double mean_bytes = static_cast<double>(sum_bytes) / static_cast<double>(records->size());

  const std::string eal = "--no-huge --no-pci --no-shconf -m 512 -l " + std::to_string(a.lcore) +
                          " --file-prefix=nisr_pipe_" + std::to_string(getpid()) +
                          " --log-level=lib.eal:warning" + " --vdev=net_pcap0,rx_pcap=" + a.trace +
                          ",infinite_rx=1";
  if (Status st = DpdkEal::Init(eal); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  DpdkConfig c;
  c.port_id = 0;
  auto port_or = DpdkPort::Create(c);
  if (!port_or.ok()) {
    std::fprintf(stderr, "%s\n", port_or.status().message().c_str());
    return 1;
  }
  DpdkPort& port = **port_or;

  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;  // it inherits the EAL thread's CPU (--lcore)
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel(a.model)).value())).value();
  // The deliver callback runs on the worker only: plain counters.
  uint64_t sent = 0, tx_refused = 0;
  proto::StackOptions o;
  o.dispatch = *dispatch;
  o.deliver = [&](proto::Layer, Burst b) {
    const size_t n = port.TxBurst(0, b);
    sent += n;
    tx_refused += b.size() - n;
    ReleaseBulk(b.subspan(n));
  };
  auto stack_or = proto::ProtocolStack::Register(*nisr, o);
  if (!stack_or.ok()) {
    std::fprintf(stderr, "%s\n", stack_or.status().message().c_str());
    return 1;
  }
  auto& stack = *stack_or;
  RxQueueSource source(port, 0, stack->ether());
  if (Status st = nisr->AttachSource(0, &source); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }

  // Measured over a window after a 0.2 s warm-up: the port's rx_packets
  // (atomic counters, readable while the worker runs) and the process's CPU
  // time (the poll model's main thread only sleeps meanwhile).
  using Clock = std::chrono::steady_clock;
  auto process_cpu_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  // Runs the pipeline for `secs`: the worker does it (poll), or this thread.
  auto run_for = [&](double secs) {
    const auto end = Clock::now() + std::chrono::duration<double>(secs);
    if (a.model == "poll") {
      std::this_thread::sleep_until(end);
      return;
    }
    while (Clock::now() < end) {
      for (int i = 0; i < 256; ++i) nisr->Step();
    }
  };
  if (Status st = nisr->Start(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  run_for(0.2);
  const uint64_t p0 = port.Stats().rx_packets;
  const double c0 = process_cpu_s();
  const auto w0 = Clock::now();
  run_for(a.seconds);
  const uint64_t p1 = port.Stats().rx_packets;
  const double cpu_s = process_cpu_s() - c0;
  const double wall_s = std::chrono::duration<double>(Clock::now() - w0).count();
  nisr->Stop();
  const uint64_t window = p1 - p0;
  const uint64_t received = source.received();
  const Stats ns = nisr->GetStats();
  const uint64_t stack_drops = stack->drops().Total();
  const uint64_t netisr_drops = ns.TotalDrops();
  const uint64_t delivered = sent + tx_refused;
  const bool conserved = received == delivered + stack_drops + netisr_drops;
  std::printf(
      "pipeline (%s model, %s dispatch, %s RSS, trace of %zu frames of %.1f bytes on average, "
      "%zu-%zu): "
      "%.2f Mpps received (%llu packets in %.2f s wall, %.2f s CPU: %.2f Mpps per CPU second)\n",
      a.model.c_str(), a.dispatch.c_str(), ToString(port.rss_mode()), records->size(), mean_bytes,
      min_bytes, max_bytes, window / wall_s * 1e-6, static_cast<unsigned long long>(window), wall_s,
      cpu_s, window / cpu_s * 1e-6);
  std::printf(
      "  delivered %llu (sent %llu, tx_refused %llu), dropped: parse chain %llu, netisr %llu; "
      "received = delivered + dropped: %s\n",
      static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(tx_refused), static_cast<unsigned long long>(stack_drops),
      static_cast<unsigned long long>(netisr_drops), conserved ? "yes" : "NO");
  for (const auto& [reason, n] : stack->DropSnapshot()) {
    std::printf("    %s %llu\n", reason.c_str(), static_cast<unsigned long long>(n));
  }
  port_or->reset();
  return conserved ? 0 : 1;
}

}  // namespace
}  // namespace netisr::nic

int main(int argc, char** argv) { return netisr::nic::Main(argc, argv); }
