// What a `netisr run` reports, in either mode (bench or --source): counts
// in and out, drops by reason, latency, netisr's statistics, the pools'
// buffers; and its two renderings, the netstat -Q style table with a
// one-line summary, and JSON. RunCommand (run_command.h) judges a report:
// Conserved() and buffers_out() == 0, or exit 1.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/run_options.h"
#include "harness/delivery_tally.h"
#include "netisr/packet.h"
#include "netisr/stats.h"
#include "proto/filter.h"

namespace netisr::apps {

using harness::LatencySummary;

// One sample of --trace: cumulative counters and the published loads at
// `t_us` after Start.
struct TraceSample {
  double t_us = 0;
  std::vector<uint64_t> handled;  // by workstream the policy chose
  std::vector<uint64_t> queued;   // by workstream, accepted into its queue
  std::vector<uint64_t> qlen;     // by workstream, queued now
  std::vector<double> busy;       // by workstream, published EWMA
  std::vector<uint32_t> queue_delay_ns;
  std::vector<double> full_polls;  // by workstream, published EWMA
  uint64_t drops = 0;
  uint64_t migrations = 0;
  std::map<std::string, uint64_t> decisions;
};

// One NIC port of a --source run: what it received and dropped before
// handing frames out (nic::RxDrop names prefixed `rx_`).
struct PortReport {
  std::string name;
  uint64_t rx_packets = 0;
  std::map<std::string, uint64_t> rx_drops;
};

// One packet pool of a run after Stop: every buffer must be back.
struct PoolReport {
  std::string name;  // "source0", ... (bench); the port's name (--source)
  uint64_t capacity = 0;
  uint64_t free = 0;  // available after Stop: ring plus the threads' caches
};

struct RunReport {
  RunOptions options;  // as run, with `sources` filled in
  // "bench", "synthetic", "pcap" or "dpdk".
  std::string source_kind = "bench";
  // Bench: packets the sources handed to netisr. --source: frames the ports
  // received, handed out or dropped by the port itself.
  uint64_t packets_in = 0;
  uint64_t delivered = 0;  // packets the final handler (bench protocol or sink) consumed
  // Every drop by reason: netisr's (queue_full, ...), and with --source the
  // ports' (rx_too_long, ...), the filter's (filtered, rate_limited) and the
  // parse chain's (bad_ip_checksum, ...). Zeroes omitted.
  std::map<std::string, uint64_t> drops;
  std::map<std::string, uint64_t> delivered_by_layer;  // --source: by terminal layer
  std::vector<PortReport> ports;                       // --source
  std::optional<proto::FilterStats> filter;            // --filter
  uint64_t reordered = 0;                // packets that arrived after a later one of their flow
  double seconds = 0;                    // from Start until netisr was idle
  double mpps = 0;                       // delivered packets per second, millions
  std::vector<uint64_t> source_packets;  // packets each source brought in
  LatencySummary latency;
  std::vector<LatencySummary> latency_by_workstream;  // where the handler ran
  std::vector<TraceSample> trace;                     // --trace-us
  Stats stats;  // after Stop, so exact; drops by reason in stats.drops
  // The run's PacketPools (bench sources; synthetic and pcap ports). A DPDK
  // port's mbuf mempool is not listed: a NIC keeps mbufs posted on its RX
  // rings while the port is up, so a full mempool is no check there.
  std::vector<PoolReport> pools;

  uint64_t dropped_total() const {
    uint64_t n = 0;
    for (const auto& [reason, count] : drops) n += count;
    return n;
  }
  // Every packet accounted for: packets_in == delivered + dropped.
  bool Conserved() const { return packets_in == delivered + dropped_total(); }
  // Buffers missing from the pools after Stop (never released); 0 when sound.
  uint64_t buffers_out() const {
    uint64_t n = 0;
    for (const PoolReport& p : pools) n += p.capacity - p.free;
    return n;
  }
};

// A pool's PoolReport, read after Stop.
PoolReport PoolReportOf(std::string name, const PacketPool& pool);

// netstat -Q table followed by a one-line summary.
std::string FormatHuman(const RunReport& report);
nlohmann::json ToJson(const RunReport& report);

}  // namespace netisr::apps
