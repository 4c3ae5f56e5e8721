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
// frames arrive by DMA. Arrivals are paced on the thread's CPU time (see
// CpuPacer): packet k arrives at k / offered_pps seconds of CPU time, and
// arrivals that find the ring full are lost, as a NIC's rx_missed. Every
// run gets the same CPU budget (--budget_s), so "delivered per second" is
// per second of this thread's CPU.
//
// Fairness of the harness: what a NIC does not charge the CPU, the harness
// must not either. The arrival clock costs one TSC read per RX burst, not a
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) syscall (0.64 us here: 20 ns a
// packet in bursts of 32, more than the filter's whole cost per dropped
// packet, and charged to flood packets only); the CPU clock is read every
// 100 us to stay on CPU time. Per packet the harness still writes the
// descriptor (as a driver does) and moves a ring index.
//
// Load is a fraction of the capacity measured in the same process (legit
// traffic alone offered far above what one CPU takes, filter on). For each
// fraction (--fractions, default 0.1,0.25,0.4,0.5) or rate (--legit_pps) it
// runs L alone, and L plus a flood making up --flood_share of the packets
// (offered total ~L / (1 - share), exactly L of legit traffic), with the filter and without, --reps
// times interleaved (no flood, flood, no flood, flood, ...: this shared
// machine's speed drifts), and prints legit delivered/s of each run, the
// per-pair ratio flood/no flood and the median. Build with -c opt:
//   bazel build -c opt //benchmarks/proto:early_drop_bench
//   bazel-bin/benchmarks/proto/early_drop_bench [--budget_s=1] [--reps=3]
//       [--flood_share=0.9] [--trace_frames=4096] [--fractions=0.1,0.25,0.4,0.5 |
//       --legit_pps=1e6,2e6]
//       [--no_filter_off]
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
#include "sched_feedback/clock.h"

namespace netisr::proto {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time of this thread, in ns since Start, cheap enough to read per RX
// burst: TSC deltas (sched::FastClock) between reads of the thread's CPU
// clock, which re-anchors it every kResyncNs, and at once after any gap
// longer than kGapNs between two calls (the thread was probably descheduled:
// wall time that was not CPU time must not make packets arrive). Between
// anchors a short preemption is counted as CPU time; the next anchor takes
// it back (the arrival count never goes backwards, so arrivals just pause).
class CpuPacer {
 public:
  // 100 us: the syscall (~0.64 us) costs < 1% of the time between anchors.
  static constexpr uint64_t kResyncNs = 100000;
  // 20 us: above the longest gap between two RX polls here (a burst of 32
  // legit packets through the whole stack, ~7 us at ~200 ns a packet).
  static constexpr uint64_t kGapNs = 20000;

  void Start() {
    start_cpu_ = anchor_cpu_ = ThreadCpuNs();
    anchor_tsc_ = last_tsc_ = Tsc();
  }
  uint64_t Now() {
    const uint64_t tsc = Tsc();
    const bool gap = tsc - last_tsc_ > kGapNs;
    last_tsc_ = tsc;
    if (gap || tsc - anchor_tsc_ > kResyncNs) {
      anchor_cpu_ = ThreadCpuNs();
      anchor_tsc_ = tsc;
    }
    return anchor_cpu_ - start_cpu_ + (tsc - anchor_tsc_);
  }

 private:
  static uint64_t Tsc() { return sched::FastClock::Global().NowNs(); }
  uint64_t start_cpu_ = 0, anchor_cpu_ = 0, anchor_tsc_ = 0, last_tsc_ = 0;
};

// Pre-generated frames replayed as a paced NIC RX ring. Single-threaded:
// only the benchmark thread touches it.
class ReplayPort final : public nic::Port {
 public:
  // Frames in the replayed trace (--trace_frames), i.e. the working set of
  // descriptors and buffers: a DPDK port recycles mbufs through its
  // mempool's per-lcore LIFO cache, so the buffers it hands out are the
  // RX ring's (1024 here) plus what is in flight, ~1 MB, mostly in cache.
  // 4096 frames (~0.9 MB) model that; 65536 (~15 MB) every frame a cold miss.
  static inline uint32_t trace_len = 4096;
  static constexpr uint32_t kRingSize = 1024;

  // Offers `legit_pps` of the trace's legitimate packets, and its flood
  // packets in the trace's proportion (~flood_share).
  ReplayPort(double flood_share, double legit_pps) {
    auto pool = std::move(PacketPool::Create(4096, 128)).value();
    nic::SyntheticConfig c;
    c.num_flows = 4096;
    c.tcp_share = 1;
    c.udp_flood_share = flood_share;
    c.packets = trace_len;
    c.pool = pool.get();
    auto gen = std::move(nic::SyntheticPort::Create(c)).value();
    bufs_.resize(size_t{trace_len} * 128);
    trace_.resize(trace_len);
    legit_prefix_.assign(trace_len + 1, 0);
    uint32_t n = 0;
    Packet* burst[32];
    while (n < trace_len) {
      const size_t got = gen->RxBurst(0, {burst, std::min<size_t>(32, trace_len - n)});
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
    for (const Packet& t : trace_) trace_lens_.push_back(t.len);
    // From the trace's actual mix, not flood_share: in 4096 frames the
    // legitimate share varies by ~5% of itself between seeds, which would
    // offer (and deliver) that much more or less legit traffic under flood.
    if (legit_prefix_[trace_len] == 0) std::abort();
    offered_pps_ = legit_pps * trace_len / static_cast<double>(legit_prefix_[trace_len]);
  }

  std::string_view name() const override { return "replay"; }
  uint16_t port_id() const override { return 0; }
  uint16_t num_rx_queues() const override { return 1; }
  uint16_t num_tx_queues() const override { return 0; }
  bool RxExhausted(uint16_t) const override { return false; }
  size_t TxBurst(uint16_t, std::span<Packet* const>) override { return 0; }
  nic::PortStats Stats() const override { return {}; }

  // Arrivals are paced on CpuPacer, read once a burst.
  void Start() { pacer_.Start(); }
  uint64_t CpuNs() { return pacer_.Now(); }
  size_t RxBurst(uint16_t, std::span<Packet*> out) override {
    // Arrivals since the last call: into the ring while it has room, lost after.
    const double t = static_cast<double>(pacer_.Now()) * 1e-9;
    const uint64_t target = std::max(arrivals_, static_cast<uint64_t>(t * offered_pps_));
    const uint64_t fresh = target - arrivals_;
    const uint64_t admit = std::min<uint64_t>(fresh, kRingSize - (tail_ - head_));
    for (uint64_t k = 0; k < admit; ++k) ring_[(tail_++) % kRingSize] = (arrivals_ + k) % trace_len;
    missed_ += fresh - admit;
    arrivals_ = target;
    size_t n = 0;
    while (n < out.size() && head_ != tail_) {
      const uint32_t i = ring_[(head_++) % kRingSize];
      // A fresh descriptor, as a driver writes one: the fields the stack
      // changes (it trims len, sets the flowid; Layout is rebuilt by
      // ParseEther); the rest of pkts_[i] is still the trace's.
      Packet& p = pkts_[i];
      p.len = trace_lens_[i];
      p.SetFlowId(0, HashType::kNone);
      out[n++] = &pkts_[i];
    }
    return n;
  }

  uint64_t arrivals() const { return arrivals_; }
  uint64_t missed() const { return missed_; }
  uint64_t legit_offered() const {
    return arrivals_ / trace_len * legit_prefix_[trace_len] + legit_prefix_[arrivals_ % trace_len];
  }

 private:
  double offered_pps_ = 0;
  std::vector<uint8_t> bufs_;
  std::vector<Packet> trace_, pkts_;
  std::vector<uint64_t> legit_prefix_;
  std::vector<uint32_t> trace_lens_;
  uint32_t ring_[kRingSize];
  uint64_t head_ = 0, tail_ = 0, arrivals_ = 0, missed_ = 0;
  CpuPacer pacer_;
};

struct RunResult {
  double cpu_s = 0;
  uint64_t offered = 0, legit_offered = 0, missed = 0;
  uint64_t legit = 0, flood_delivered = 0, filtered = 0;
  double legit_per_s() const { return static_cast<double>(legit) / cpu_s; }
};

RunResult Run(double flood_share, double legit_pps, bool filter_on, double budget_s) {
  ReplayPort port(flood_share, legit_pps);
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
  const uint64_t t0 = ThreadCpuNs(), budget = static_cast<uint64_t>(budget_s * 1e9);
  port.Start();
  while (port.CpuNs() < budget) {
    for (int i = 0; i < 16; ++i) nisr->Step();
  }
  r.cpu_s = static_cast<double>(ThreadCpuNs() - t0) * 1e-9;
  nisr->Stop();
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

std::vector<double> ParseList(const char* p) {
  std::vector<double> v;
  while (*p) {
    char* end;
    v.push_back(std::strtod(p, &end));
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
  }
  return v;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int Main(int argc, char** argv) {
  double budget_s = 1, flood_share = 0.9;
  int reps = 3;
  bool filter_off = true;
  std::vector<double> legit_rates, fractions = {0.1, 0.25, 0.4, 0.5};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--trace_frames=", 0) == 0) {
      ReplayPort::trace_len = static_cast<uint32_t>(std::atoi(a.c_str() + 15));
    } else if (a.rfind("--budget_s=", 0) == 0) {
      budget_s = std::atof(a.c_str() + 11);
    } else if (a.rfind("--flood_share=", 0) == 0) {
      flood_share = std::atof(a.c_str() + 14);
    } else if (a.rfind("--reps=", 0) == 0) {
      reps = std::atoi(a.c_str() + 7);
    } else if (a.rfind("--legit_pps=", 0) == 0) {
      legit_rates = ParseList(a.c_str() + 12);
    } else if (a.rfind("--fractions=", 0) == 0) {
      fractions = ParseList(a.c_str() + 12);
    } else if (a == "--no_filter_off") {
      filter_off = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--budget_s=S] [--reps=N] [--flood_share=F] [--trace_frames=N] "
                   "[--fractions=F,F... | --legit_pps=R,R...] [--no_filter_off]\n",
                   argv[0]);
      return 2;
    }
  }
  if (budget_s <= 0 || reps < 1 || flood_share < 0 || flood_share >= 1 ||
      ReplayPort::trace_len < 1024 || ReplayPort::trace_len > (1u << 20)) {
    std::fprintf(stderr,
                 "need --budget_s > 0, --reps >= 1, --flood_share in [0, 1), "
                 "--trace_frames in [1024, 1048576]\n");
    return 2;
  }
  std::vector<std::string> labels;
  if (legit_rates.empty()) {
    // Capacity: legitimate traffic alone, offered far faster than one CPU takes.
    const RunResult cap = Run(0, 1e12, true, budget_s);
    std::printf("capacity, no flood, filter on: %.3f Mpps legit delivered per CPU second\n",
                cap.legit_per_s() * 1e-6);
    for (double f : fractions) {
      legit_rates.push_back(f * cap.legit_per_s());
      labels.push_back(std::to_string(static_cast<int>(f * 100 + 0.5)) + "% of capacity");
    }
  } else {
    labels.assign(legit_rates.size(), "");
  }
  std::printf(
      "flood share %.2f of offered packets; CPU budget %.2f s per run; %d reps; trace %u frames\n",
      flood_share, budget_s, reps, ReplayPort::trace_len);
  struct Row {
    std::vector<double> on, off;  // per-pair ratios
  };
  std::vector<Row> rows(legit_rates.size());
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t i = 0; i < legit_rates.size(); ++i) {
      const double l = legit_rates[i];
      std::printf("rep %d, legit offered %.3f Mpps %s:\n", rep + 1, l * 1e-6, labels[i].c_str());
      const RunResult base_on = Run(0, l, true, budget_s);
      const RunResult flood_on = Run(flood_share, l, true, budget_s);
      Print("no flood, filter on", base_on);
      Print("flood, filter on", flood_on);
      rows[i].on.push_back(flood_on.legit_per_s() / base_on.legit_per_s());
      if (filter_off) {
        const RunResult base_off = Run(0, l, false, budget_s);
        const RunResult flood_off = Run(flood_share, l, false, budget_s);
        Print("no flood, filter off", base_off);
        Print("flood, filter off", flood_off);
        rows[i].off.push_back(flood_off.legit_per_s() / base_off.legit_per_s());
      }
    }
  }
  std::printf("\nlegit delivered, flood / no flood (per-pair ratios; median):\n");
  for (size_t i = 0; i < legit_rates.size(); ++i) {
    std::string on, off;
    for (double r : rows[i].on) on += (on.empty() ? "" : " ") + std::to_string(r).substr(0, 5);
    for (double r : rows[i].off) off += (off.empty() ? "" : " ") + std::to_string(r).substr(0, 5);
    std::printf("  legit %7.3f Mpps %-16s filter on: %s; median %.3f", legit_rates[i] * 1e-6,
                labels[i].c_str(), on.c_str(), Median(rows[i].on));
    if (filter_off) std::printf("   filter off: %s; median %.3f", off.c_str(), Median(rows[i].off));
    std::printf("\n");
  }
  return 0;
}

}  // namespace
}  // namespace netisr::proto

int main(int argc, char** argv) { return netisr::proto::Main(argc, argv); }
