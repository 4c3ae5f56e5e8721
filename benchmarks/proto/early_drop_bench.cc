// Early drop under a UDP flood: how much legitimate traffic one CPU still
// delivers when 90% of the offered packets are a flood, with the EarlyFilter
// on the RX path and without it (the flood then goes through netisr and the
// whole parse chain, UDP checksum included, to the UDP sink).
//
// Set-up, one thread, netisr's inline model (the caller runs the worker):
//   ReplayPort (one RX ring of 1024 descriptors) -> RxQueueSource
//     [-> EarlyFilter "drop proto udp dport 53"] -> ProtocolStack -> sink
// The frames come from nic::SyntheticPort (legitimate traffic: TCP flows from
// 10.0.0.0/8 to ports 80/443/8080/22; flood: UDP from random sources to
// 192.168.0.1:53), generated once and replayed by descriptor, so that the
// generator's ~80 ns a packet is not charged to the receiver: on a NIC the
// frames arrive by DMA. Arrivals are paced on the thread's CPU clock
// (CLOCK_THREAD_CPUTIME_ID): packet k arrives at k / offered_pps seconds of
// CPU time, and arrivals that find the ring full are lost, as a NIC's
// rx_missed. Every run gets the same CPU budget (--budget_s), so "delivered
// per second" is per second of this thread's CPU.
//
// For each legitimate rate L (--legit_pps; default: fractions of the
// measured no-flood capacity) it runs L alone, and L plus a flood making up
// --flood_share of the packets (offered total L / (1 - share)), each with and
// without the filter, and prints legit delivered/s and the ratio flood/no
// flood. Build with -c opt:
//   bazel run -c opt //benchmarks/proto:early_drop_bench -- [--budget_s=1]
//       [--flood_share=0.9] [--legit_pps=1e6,2e6]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "netisr/netisr.h"
#include "nic/port.h"
#include "nic/rx_source.h"
#include "nic/synthetic.h"
#include "proto/filter.h"
#include "proto/stack.h"

namespace netisr::proto {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Pre-generated frames replayed as a paced NIC RX ring. Single-threaded:
// only the benchmark thread touches it.
class ReplayPort final : public nic::Port {
 public:
  static constexpr uint32_t kTraceLen = 1 << 16;
  static constexpr uint32_t kRingSize = 1024;

  ReplayPort(double flood_share, double offered_pps) : offered_pps_(offered_pps) {
    auto pool = std::move(PacketPool::Create(4096, 128)).value();
    nic::SyntheticConfig c;
    c.num_flows = 4096;
    c.tcp_share = 1;
    c.udp_flood_share = flood_share;
    c.packets = kTraceLen;
    c.pool = pool.get();
    auto gen = std::move(nic::SyntheticPort::Create(c)).value();
    bufs_.resize(size_t{kTraceLen} * 128);
    trace_.resize(kTraceLen);
    legit_prefix_.assign(kTraceLen + 1, 0);
    uint32_t n = 0;
    Packet* burst[32];
    while (n < kTraceLen) {
      const size_t got = gen->RxBurst(0, burst);
      for (size_t i = 0; i < got; ++i, ++n) {
        Packet& t = trace_[n];
        t = *burst[i];
        t.data = &bufs_[size_t{n} * 128];
        std::memcpy(t.data, burst[i]->data, burst[i]->len);
        t.release = [](Packet*) {};
        legit_prefix_[n + 1] = legit_prefix_[n] + (t.seq != 0);
        Release(burst[i]);
      }
    }
    pkts_ = trace_;
  }

  std::string_view name() const override { return "replay"; }
  uint16_t port_id() const override { return 0; }
  uint16_t num_rx_queues() const override { return 1; }
  uint16_t num_tx_queues() const override { return 0; }
  bool RxExhausted(uint16_t) const override { return false; }
  size_t TxBurst(uint16_t, std::span<Packet* const>) override { return 0; }
  nic::PortStats Stats() const override { return {}; }

  // Arrivals are paced on clock_gettime(CLOCK_THREAD_CPUTIME_ID), read once
  // a burst (a syscall, ~0.3-1 us here: ~10-30 ns a packet in full bursts,
  // charged alike to every configuration). Extrapolating it with the TSC
  // between reads was tried and counts preemption on this shared 2-vCPU
  // box as CPU time: the no-flood baselines became erratic.
  void Start() { start_ns_ = ThreadCpuNs(); }
  size_t RxBurst(uint16_t, std::span<Packet*> out) override {
    // Arrivals since the last call: into the ring while it has room, lost after.
    const double t = static_cast<double>(ThreadCpuNs() - start_ns_) * 1e-9;
    const uint64_t target = std::max(arrivals_, static_cast<uint64_t>(t * offered_pps_));
    const uint64_t fresh = target - arrivals_;
    const uint64_t admit = std::min<uint64_t>(fresh, kRingSize - (tail_ - head_));
    for (uint64_t k = 0; k < admit; ++k) ring_[(tail_++) % kRingSize] = (arrivals_ + k) % kTraceLen;
    missed_ += fresh - admit;
    arrivals_ = target;
    size_t n = 0;
    while (n < out.size() && head_ != tail_) {
      const uint32_t i = ring_[(head_++) % kRingSize];
      pkts_[i] = trace_[i];  // a fresh descriptor: the stack trims len, sets flow ids
      out[n++] = &pkts_[i];
    }
    return n;
  }

  uint64_t arrivals() const { return arrivals_; }
  uint64_t missed() const { return missed_; }
  uint64_t legit_offered() const {
    return arrivals_ / kTraceLen * legit_prefix_[kTraceLen] + legit_prefix_[arrivals_ % kTraceLen];
  }

 private:
  const double offered_pps_;
  std::vector<uint8_t> bufs_;
  std::vector<Packet> trace_, pkts_;
  std::vector<uint64_t> legit_prefix_;
  uint32_t ring_[kRingSize];
  uint64_t head_ = 0, tail_ = 0, arrivals_ = 0, missed_ = 0, start_ns_ = 0;
};

struct RunResult {
  double cpu_s = 0;
  uint64_t offered = 0, legit_offered = 0, missed = 0;
  uint64_t legit = 0, flood_delivered = 0, filtered = 0;
  double legit_per_s() const { return static_cast<double>(legit) / cpu_s; }
};

RunResult Run(double flood_share, double legit_pps, bool filter_on, double budget_s) {
  ReplayPort port(flood_share, legit_pps / (1 - flood_share));
  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
  RunResult r;
  StackOptions o;
  o.deliver = [&r](Layer, Burst b) {
    for (Packet* p : b) {
      ++(p->seq != 0 ? r.legit : r.flood_delivered);
      Release(p);
    }
  };
  auto stack = std::move(ProtocolStack::Register(*nisr, o)).value();
  auto filter = std::move(EarlyFilter::Parse("drop proto udp dport 53")).value();
  nic::RxQueueSource source(port, 0, stack->ether(), filter_on ? filter.get() : nullptr);
  if (!nisr->AttachSource(0, &source).ok() || !nisr->Start().ok()) std::abort();
  port.Start();
  const uint64_t t0 = ThreadCpuNs(), budget = static_cast<uint64_t>(budget_s * 1e9);
  uint64_t now = t0;
  while (now - t0 < budget) {
    for (int i = 0; i < 16; ++i) nisr->Step();
    now = ThreadCpuNs();
  }
  nisr->Stop();
  r.cpu_s = static_cast<double>(now - t0) * 1e-9;
  r.offered = port.arrivals();
  r.legit_offered = port.legit_offered();
  r.missed = port.missed();
  r.filtered = filter->Stats().total_dropped();
  return r;
}

void Print(const char* what, const RunResult& r) {
  std::printf(
      "  %-26s legit delivered %8.3f Mpps (%5.1f%% of legit offered)  "
      "offered %7.3f Mpps  ring-lost %7.3f Mpps  flood: filtered %7.3f, "
      "delivered late %7.3f Mpps\n",
      what, r.legit_per_s() * 1e-6, r.legit_offered ? 100.0 * r.legit / r.legit_offered : 0.0,
      r.offered / r.cpu_s * 1e-6, r.missed / r.cpu_s * 1e-6, r.filtered / r.cpu_s * 1e-6,
      r.flood_delivered / r.cpu_s * 1e-6);
}

int Main(int argc, char** argv) {
  double budget_s = 1, flood_share = 0.9;
  std::vector<double> legit_rates;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--budget_s=", 0) == 0) {
      budget_s = std::atof(a.c_str() + 11);
    } else if (a.rfind("--flood_share=", 0) == 0) {
      flood_share = std::atof(a.c_str() + 14);
    } else if (a.rfind("--legit_pps=", 0) == 0) {
      for (const char* p = a.c_str() + 12; *p;) {
        char* end;
        legit_rates.push_back(std::strtod(p, &end));
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p) break;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--budget_s=S] [--flood_share=F] [--legit_pps=R,R...]\n",
                   argv[0]);
      return 2;
    }
  }
  if (legit_rates.empty()) {
    // Capacity: legitimate traffic alone, offered far faster than one CPU takes.
    const RunResult cap = Run(0, 1e12, true, budget_s);
    std::printf("capacity, no flood, filter on: %.3f Mpps legit delivered per CPU second\n",
                cap.legit_per_s() * 1e-6);
    for (double f : {0.1, 0.25, 0.4}) legit_rates.push_back(f * cap.legit_per_s());
  }
  std::printf("flood share %.2f of offered packets; CPU budget %.2f s per run\n", flood_share,
              budget_s);
  for (double l : legit_rates) {
    std::printf("legit offered %.3f Mpps:\n", l * 1e-6);
    const RunResult base_on = Run(0, l, true, budget_s);
    const RunResult flood_on = Run(flood_share, l, true, budget_s);
    const RunResult base_off = Run(0, l, false, budget_s);
    const RunResult flood_off = Run(flood_share, l, false, budget_s);
    Print("no flood, filter on", base_on);
    Print("flood, filter on", flood_on);
    Print("no flood, filter off", base_off);
    Print("flood, filter off", flood_off);
    std::printf("  ratio legit delivered flood/no flood: filter on %.3f, filter off %.3f\n",
                flood_on.legit_per_s() / base_on.legit_per_s(),
                flood_off.legit_per_s() / base_off.legit_per_s());
  }
  return 0;
}

}  // namespace
}  // namespace netisr::proto

int main(int argc, char** argv) { return netisr::proto::Main(argc, argv); }
