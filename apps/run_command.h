// `netisr run`: one dispatch experiment. Synthetic ingress sources, polled by
// the workers as RX queues are, feed a trivial protocol through the real
// dispatcher; the protocol's handler burns a configurable cost per packet and
// checks that no flow was reordered. The run reports throughput and the
// dispatcher's statistics, and checks conservation: every packet that came in
// was either delivered or dropped with a reason.
//
// Kept apart from the CLI (main.cc) so that tests run the very same job
// through RunSynthetic/RunCommand without a process boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "apps/delivery_tally.h"
#include "apps/option_checks.h"
#include "netisr/netisr.h"
#include "netisr/settings.h"
#include "netisr/stats.h"
#include "netisr/status.h"
#include "proto/filter.h"

namespace netisr::apps {

// Process exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime error or a failed self-check
inline constexpr int kExitUsage = 2;    // bad command line

// Accepted values of the choice flags: the one list that validation, its
// messages and the CLI's --help all use.
inline constexpr std::string_view kDispatchChoices[] = {"direct", "deferred", "hybrid", "adaptive"};
inline constexpr std::string_view kPolicyChoices[] = {"flow", "source", "cpu"};
inline constexpr std::string_view kModelChoices[] = {"threads", "inline", "poll", "fibers"};
// --source synthetic traffic mix.
inline constexpr std::string_view kDistributionChoices[] = {"uniform", "zipf", "elephants"};
inline constexpr std::string_view kAttackChoices[] = {"none", "synflood", "udpflood"};
inline constexpr std::string_view kL4Choices[] = {"tcp", "udp", "mix"};

// Overrides of netisr's AdaptiveSettings (settings.h), one per
// --adaptive-* flag; unset fields keep netisr's defaults. Times in
// microseconds on the command line.
struct AdaptiveOptions {
  std::optional<double> busy_high;        // --adaptive-busy-high
  std::optional<double> busy_low;         // --adaptive-busy-low
  std::optional<double> full_polls;       // --adaptive-full-polls
  std::optional<double> room_busy;        // --adaptive-room-busy
  std::optional<int64_t> delay_low_us;    // --adaptive-delay-low-us
  std::optional<int64_t> delay_high_us;   // --adaptive-delay-high-us
  std::optional<int64_t> interval_us;     // --adaptive-interval-us: migration interval
  std::optional<int64_t> window_us;       // --adaptive-window-us: load window
  std::optional<double> alpha;            // --adaptive-alpha: load EWMA weight
  std::optional<double> backpressure;     // --adaptive-backpressure: queue fill
  std::optional<double> spill;            // --adaptive-spill: queue fill
  std::optional<int64_t> settle_windows;  // --adaptive-settle-windows
};

// Defaults of the flags that only some modes take (optional in RunOptions,
// so that giving one where it means nothing is refused by name).
inline constexpr std::string_view kDefaultPolicy = "flow";
inline constexpr int64_t kDefaultFlows = 64;
inline constexpr uint64_t kDefaultSeed = 1;
// --rate bound: the paced arrivals of a run (--packets / --rate) may span at
// most an hour. Paced experiments last seconds; a rate that stretches a run
// beyond an hour is a unit slip (pps for Mpps) more often than a soak test,
// and a run that silently lasts days looks hung. It also keeps every
// inter-packet gap finite: --rate 1e-300 would make it infinite, and its
// conversion to an integer undefined behaviour.
inline constexpr double kMaxPacedSeconds = 3600;

// The run's knobs, one per flag, as the user gave them; ValidateRunOptions
// says whether they make sense. Numbers are signed so that a negative value
// gets the same range message as any other out-of-range one.
struct RunOptions {
  int64_t cpus = 2;                   // --cpus: workstreams
  std::string dispatch = "hybrid";    // --dispatch: the protocol's dispatch mode
  std::optional<std::string> policy;  // --policy (bench mode); unset = kDefaultPolicy
  std::string model = "threads";      // --model: netisr work model
  std::optional<int64_t> flows;       // --flows (bench, synthetic); unset = kDefaultFlows
  int64_t packets = 1000000;          // --packets: total, over all sources
  std::optional<int64_t> sources;     // --sources: ingress sources; unset = cpus
  // --skew F in [0, 1): source 0 brings in a share F of the packets, the
  // other sources the rest evenly. Unset: shares follow owned flows
  // (uniform). Flows stay partitioned across sources either way.
  std::optional<double> skew;
  // --rate: offered load over all sources, packets per second, split by
  // their packet shares; 0 = every source as fast as it can.
  double rate = 0;
  int64_t handler_ns = 0;        // --handler-ns: busy work per packet
  int64_t qlimit = 0;            // --qlimit: 0 = netisr's default
  bool bind = true;              // cleared by --no-bind
  bool json = false;             // --json
  std::optional<uint64_t> seed;  // --seed (bench, synthetic); unset = kDefaultSeed
  AdaptiveOptions adaptive;      // --adaptive-* (--dispatch adaptive only)
  // --trace-us: sample netisr's statistics this often while the run lasts
  // (self-driven models only: refused with inline; 0 = off), for watching
  // the adaptive rule.
  int64_t trace_us = 0;

  // --source: "" = the bench mode (the trivial protocol fed by
  // apps/synthetic_source.h); otherwise `synthetic`, `pcap:FILE` or
  // `dpdk:EAL-ARGS` (ingress_spec.h), whose frames go through the parse
  // chain (stack_run.h). In that mode --sources is the RX queues per port.
  std::string source;
  std::string filter;  // --filter: proto::EarlyFilter rule text; "" = none
  // --source synthetic's traffic mix (nic::SyntheticConfig); unset = its
  // defaults. Refused with any other source.
  std::optional<std::string> distribution;  // --distribution
  std::optional<double> zipf_s;             // --zipf-s
  std::optional<std::string> attack;        // --attack
  std::optional<double> attack_share;       // --attack-share: flood share of all packets
  std::optional<double> ipv6_share;         // --ipv6-share: share of flows on IPv6
  std::optional<std::string> l4;            // --l4: tcp, udp or mix (half each)
  std::optional<int64_t> frame_size;        // --frame-size: bytes without FCS
  std::optional<int64_t> loops;             // --loops: pcap replays (0 = until --packets)
  std::optional<int64_t> idle_ms;           // --idle-ms: dpdk ends after this long silent

  std::string policy_name() const { return policy.value_or(std::string(kDefaultPolicy)); }
  int64_t flow_count() const { return flows.value_or(kDefaultFlows); }
  uint64_t seed_value() const { return seed.value_or(kDefaultSeed); }
};

// netisr's AdaptiveSettings with `o`'s overrides applied.
AdaptiveSettings ResolveAdaptive(const AdaptiveOptions& o);

// Ok, or kInvalidArgument naming the first bad flag and what it accepts.
Status ValidateRunOptions(const RunOptions& opts);

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

// Test seams: observe or perturb a run without a process boundary. Unset
// hooks cost a branch per burst.
struct RunHooks {
  // Called with the Netisr the run created, before Start (to check the
  // Settings it got: nisr.settings()).
  std::function<void(const Netisr&)> created;
  // The final handler (bench protocol or --source sink) offers it every
  // packet it consumed; true keeps the packet from being released: a leak,
  // for the buffer check's tests. Never release a withheld packet: its pool
  // goes away with the run.
  std::function<bool(const Packet&)> withhold;
};

// Runs the bench-mode experiment (no --source). Errors: bad options
// (kInvalidArgument, as ValidateRunOptions), or whatever netisr refused
// (creation, start).
Result<RunReport> RunSynthetic(const RunOptions& opts, const RunHooks& hooks = {});
// Runs either mode: RunSynthetic without --source, RunStack (stack_run.h)
// with it.
Result<RunReport> Run(const RunOptions& opts, const RunHooks& hooks = {});

// netisr's Settings for a run (workstreams, binding, adaptive tunables).
Settings NetisrSettingsFor(const RunOptions& o);

// Both modes' run loop: starts `nisr`, waits until it is idle (sampling
// its statistics into `trace` every o.trace_us), stops it; returns the
// seconds from Start until idle.
Result<double> DriveToIdle(Netisr& nisr, const RunOptions& o, std::vector<TraceSample>& trace);

// netstat -Q table followed by a one-line summary.
std::string FormatHuman(const RunReport& report);
nlohmann::json ToJson(const RunReport& report);

// The whole subcommand: validate, run, print the report (JSON or table) to
// `out` and problems to `err`. Returns the process exit code: kExitUsage for
// bad options, kExitFailure for a runtime error, a conservation failure or
// a buffer that did not go back to its pool (both reported first).
int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err,
               const RunHooks& hooks = {});

}  // namespace netisr::apps
