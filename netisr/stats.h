// Statistics: a consistent-enough snapshot of every workstream and protocol,
// printed like FreeBSD's `netstat -Q` or as JSON.
//
// Counters are single-writer (each lives on a cache line owned by the thread
// that bumps it) and read with relaxed loads, so a snapshot taken while
// traffic flows may be off by the packets in flight; taken after
// Netisr::Stop() it is exact.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace netisr {

// Why netisr itself dropped a packet (protocol layers keep their own).
enum class DropReason : uint8_t {
  kQueueFull,   // the workstream's queue for the protocol was at its qlimit
  kNoCpu,       // policy kCpu and m2cpuid named no valid workstream
  kNoProtocol,  // dispatched to a protocol id that is not registered
  kNoProducer,  // called from a thread that is neither a worker nor holds a ProducerScope
  kShutdown,    // still queued at Stop() with ShutdownMode::kDrop, or handed to an
                // entry point after Stop()
  kCount,
};
const char* ToString(DropReason r);

// One (workstream, protocol) cell, FreeBSD's struct sysctl_netisr_work.
// Rows are indexed by the workstream the policy chose, whichever thread ran
// the handler.
struct WorkStats {
  uint64_t dispatched = 0;         // handled directly by the caller (direct mode)
  uint64_t hybrid_dispatched = 0;  // handled directly under the hybrid rule
  uint64_t queued = 0;             // accepted into the queue
  uint64_t qdrops = 0;             // refused: queue at its limit
  uint64_t handled = 0;            // passed to the handler, by any path
  uint64_t qlen = 0;               // queued now
  uint64_t watermark = 0;          // highest qlen a drain found (or qlen now, if higher)
  // Bursts the worker popped from the queue (each one handler call, but
  // for those a kDrop shutdown releases): queued over bursts is the mean
  // drained burst.
  uint64_t bursts = 0;
};

struct WorkstreamStats {
  int index = 0;
  int cpu = -1;  // OS CPU the worker is bound to, -1 if unbound
  uint64_t wakeups = 0;
  double busy = 0;              // published busy fraction (EWMA)
  uint32_t queue_delay_ns = 0;  // published queueing delay (EWMA)
  double full_polls = 1;        // published share of full ingress polls (EWMA)
};

struct Stats {
  std::vector<std::string> protocols;        // by ProtocolId; "" if unused
  std::vector<WorkstreamStats> workstreams;  // by workstream index
  std::vector<std::vector<WorkStats>> work;  // [workstream][protocol]
  std::map<std::string, uint64_t> drops;     // reason -> count, zeroes omitted
  std::string dispatch_override;             // "" when none
  // Adaptive mode: per-packet decisions by reason, and flow-bucket moves.
  std::map<std::string, uint64_t> decisions;
  uint64_t migrations = 0;

  WorkStats Total(int protocol) const;  // summed over workstreams
  uint64_t TotalDrops() const;
};

// `netstat -Q`-style table: one row per (workstream, protocol) with traffic.
// As JSON: ToJson in stats_json.h.
std::string FormatTable(const Stats& s);

}  // namespace netisr
