// `netisr lockprof`: connection workloads driven through netisr into the
// connection table (inpcb/), under each table locking strategy, with the lock
// profiler's per-class report.
//
// What it does per segment is what TCP input does to the table (FreeBSD
// tcp_input: in_pcblookup, then in_pcbinsert via syncache_expand on the
// handshake's completion, in_pcbremove on close), without the TCP state
// machine itself (the next issue):
//   SYN   wildcard lookup finds the listener (a reference, no inpcb lock: the
//         syncache has its own locks in FreeBSD), then Insert of the new
//         connection (the table's writer lock);
//   DATA  exact lookup, the connection locked, its counters bumped, unlocked;
//   FIN   exact lookup, the connection locked, Remove (the writer lock);
//   flood SYN (synflood) wildcard lookup of a tuple no connection has: the
//         listener found, nothing inserted (the syncache would take it).
// A segment whose connection is not found is counted as `lost` (a table bug:
// every connection a source opened is there until the source closes it).
//
// Sources stand in for the RX queues of an RSS NIC: source s is polled by
// worker s and generates only connections whose RSS hash (Toeplitz over the
// 4-tuple, the netisr flowid) maps to workstream s under the flow policy, so
// every segment is dispatched directly on its own CPU (hybrid) and what the
// strategies differ in is the table, not packet handoff. Connections of one
// source are never touched by another, and `partitioned` is correct.
//
// Workloads (`--workload`):
//   churn     each source keeps --connections / workers connection slots; a
//             slot opens (SYN), sends --segments data segments, closes (FIN)
//             and opens the next connection, round robin over the slots;
//   steady    the slots open once and then only send data;
//   synflood  churn, plus SYNs from random sources (--flood-share of all
//             segments) that hit the listener and nothing else.
// The run lasts --duration seconds of generation, then drains.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "lockprof/lock.h"
#include "netisr/stats.h"

namespace netisr::apps {

inline constexpr std::string_view kStrategyChoices[] = {"global", "groups", "epoch", "partitioned"};
inline constexpr std::string_view kWorkloadChoices[] = {"churn", "steady", "synflood"};
// Models whose workers are threads of their own (a table's per-thread
// registration lives in them); `inline` and `fibers` are not offered.
inline constexpr std::string_view kLockprofModelChoices[] = {"poll", "threads"};

// Defaults of the flags that only some strategies or workloads take
// (optional below, so that one given where it means nothing is refused).
inline constexpr int64_t kDefaultSegments = 4;
inline constexpr double kDefaultFloodShare = 0.5;
inline constexpr int64_t kDefaultGroups = 256;

// One flag each, as given; ValidateLockprofOptions says whether they make
// sense. Signed so that negative values get the range message.
struct LockprofOptions {
  std::string strategy = "global";  // --strategy
  std::string workload = "churn";   // --workload
  int64_t workers = 2;              // --workers: netisr workstreams
  int64_t connections = 4096;       // --connections: concurrent slots, all workers
  double duration_s = 2.0;          // --duration: seconds of generation
  // --segments: data segments per connection (churn, synflood)
  std::optional<int64_t> segments;
  // --flood-share: share of segments that are flood SYNs (synflood)
  std::optional<double> flood_share;
  // --groups: connection groups (strategy groups) or writer stripes (epoch)
  std::optional<int64_t> groups;
  std::string model = "poll";  // --model
  bool bind = true;            // cleared by --no-bind
  bool json = false;           // --json
  uint64_t seed = 1;           // --seed: flood sources and connection ports
  bool tcp = false;            // --tcp: real TCP between two hosts (tcp_lockprof.h)

  int64_t segment_count() const { return segments.value_or(kDefaultSegments); }
  double flood_share_value() const { return flood_share.value_or(kDefaultFloodShare); }
  int64_t group_count() const { return groups.value_or(kDefaultGroups); }
};

Status ValidateLockprofOptions(const LockprofOptions& o);

// What the workers did to the table, summed over workers.
struct SegmentCounts {
  uint64_t opened = 0;      // SYNs that inserted a connection
  uint64_t data = 0;        // data segments that found their connection
  uint64_t closed = 0;      // FINs that removed their connection
  uint64_t flood_syns = 0;  // flood SYNs that found the listener
  uint64_t lost = 0;        // segments whose connection (or listener) was missing
  uint64_t total() const { return opened + data + closed + flood_syns + lost; }
};

// --tcp: what the connections did (tcp_lockprof.h).
struct TcpLoad {
  uint64_t completed = 0;    // connections that closed cleanly after their messages
  uint64_t failed = 0;       // connections that ended in an error (reset, timeout)
  uint64_t open_at_end = 0;  // still open when the run ended (steady)
  uint64_t messages = 0;     // messages the clients sent (each echoed)
  uint64_t flood_syns = 0;   // synflood: SYNs from random sources
  double connections_per_s = 0;
  uint64_t server_segments_in = 0, server_segments_out = 0, syncookies_sent = 0;
  std::map<std::string, uint64_t> server_drops, client_drops;  // host and engine reasons
  bool conserved = false;  // both hosts: frames, segments and TX all accounted for
};

struct LockprofReport {
  LockprofOptions options;
  double seconds = 0;       // from Start until every segment was handled
  uint64_t packets_in = 0;  // segments the sources handed to netisr
  SegmentCounts segments;   // segments the handler processed
  uint64_t ops = 0;         // = segments.total(): table operations done
  double ops_per_s = 0;
  uint64_t live_connections = 0;            // in the table after the run
  Stats stats;                              // netisr's, after Stop
  std::vector<lockprof::ClassStats> locks;  // profile of the run, by total wait
  std::optional<TcpLoad> tcp;               // --tcp only

  // Every segment accounted for: in == handled + dropped by netisr.
  bool Conserved() const { return packets_in == ops + stats.TotalDrops(); }
};

Result<LockprofReport> RunLockprof(const LockprofOptions& o);

std::string FormatHuman(const LockprofReport& r);
nlohmann::json ToJson(const LockprofReport& r);

// The subcommand: validate, run, print. Exit codes: exit_codes.h.
int LockprofCommand(const LockprofOptions& o, std::ostream& out, std::ostream& err);

}  // namespace netisr::apps
