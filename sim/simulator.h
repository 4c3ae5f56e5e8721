// The netisr simulator: the real dispatcher (netisr::Netisr, with its
// classification, flow buckets and tail marks, hybrid and adaptive
// decisions, load feedback and backpressure) run in virtual time.
//
// How (sim/internal/engine.cc): the dispatcher is created with a virtual
// Clock (Settings::clock) and a work model of the simulator's own that never
// runs anything by itself. The engine keeps one virtual time per worker and
// always runs the worker that is earliest (lowest index on ties) for one
// RunOnce round, with the clock set to that worker's time; the RX-queue
// sources it polls and the protocol handler it runs advance the clock by the
// CostProfile's costs and each packet's drawn service time. A worker that
// finds nothing sleeps (WorkerSignal::sleeping, as the threads model does)
// until its next arrival or a producer's Wake. So every decision is the
// dispatcher's own code; only time is modelled. Single-threaded and seeded:
// the same config gives the same result, bit for bit (wall_s and sim_pps
// aside).
//
// Trade-offs: a worker's round is atomic in virtual time, so packets another
// worker queues during a long round may be seen "early". Packets an RX poll
// hands over are visible from the start of the producer's round or their
// arrival if later (up to its receive cost, ~1.4 us a 32-packet burst by
// the default profile, early, plus the producer's part of the handoff of
// those it pushed elsewhere, charged after the whole dispatch; more for a
// worker's later RX queues), so no consumer waits for one with one RX
// queue per worker. A response a handler sends (reqresp) is visible from
// the same round start (or its request's visibility, if later): up to the
// rest of the producer's round early, so it may even finish before its
// request's handler ends in virtual time. That understates the round trip
// of responses that cross CPUs (hybrid, the oracle), not of those run
// where they are produced (adaptive's, mostly). Stamped exactly (when
// sent, or when its request's handler began), consumers behind the
// producer idled for them, their RX queues waited, and from 16 CPUs that
// ran away to millisecond p50s with the CPUs half idle (docs/sim.md,
// "Causality"). Lock contention and memory bandwidth are not modelled
// beyond the profile's per-step costs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "netisr/settings.h"
#include "sim/profile.h"

namespace netisr::sim {

inline constexpr std::string_view kScenarioChoices[] = {
    "uniform", "zipf", "elephants", "skew", "synflood", "udpflood", "reqresp", "churn", "mix"};
inline constexpr std::string_view kSimDispatchChoices[] = {"direct", "deferred", "hybrid",
                                                           "adaptive", "oracle"};
inline constexpr std::string_view kSimPolicyChoices[] = {"flow", "source", "cpu"};
inline constexpr std::string_view kArrivalChoices[] = {"poisson", "fixed"};
inline constexpr std::string_view kServiceDistChoices[] = {"fixed", "exp", "bimodal"};
inline constexpr std::string_view kTableChoices[] = {"global", "groups", "epoch", "partitioned"};

// One simulated run. Bounds are checked by ValidateSimConfig.
struct SimConfig {
  int cpus = 2;                      // workstreams, [1, 64]
  int64_t packets = 1'000'000;       // arrivals over all RX queues, [1, 1e10]
  std::string scenario = "uniform";  // kScenarioChoices
  std::string dispatch = "hybrid";   // kSimDispatchChoices; oracle = hybrid + affinity hints
  std::string policy = "flow";       // kSimPolicyChoices
  double load_pps = 0;               // offered load, packets/s; 0 = saturate
  std::string arrival = "poisson";   // kArrivalChoices (ignored when saturating)
  double service_ns = 300;           // mean handler work per packet beyond the stages, [0, 1e9]
  std::string service_dist = "exp";  // kServiceDistChoices; bimodal: 90% at x/2, 10% at 5.5x
  CostProfile profile = DefaultProfile();
  uint64_t seed = 1;
  int queues = 0;               // RX queues, [0, 256]; 0 = one per CPU
  int flows = 1024;             // flows (connection slots) per scenario, [1, 1<<20]
  std::string table = "epoch";  // kTableChoices: connection lookup cost
  uint32_t qlimit = 256;        // netisr queue limit per workstream
  uint32_t flow_buckets = 256;  // netisr flow buckets (power of two)
  // The dispatcher's adaptive tunables (netisr's defaults; netisr
  // validates them when the run creates it).
  AdaptiveSettings adaptive;
  // Mirror `netisr run`'s bench mode (harness::SyntheticSource), for
  // validation against real runs: flow f on RX queue f % queues with an
  // unrelated flowid, skew = 60% of the packets on queue 0 (kBenchSkew), and
  // no protocol stages (its trivial handler costs only service_ns). Only
  // scenarios uniform and skew.
  bool bench = false;
};

// Share of the packets on queue 0 in the skew scenario's bench layout
// (`netisr run --skew`).
inline constexpr double kBenchSkew = 0.6;

// Ok, or the first bad field with the valid values or bound (kInvalidArgument).
Status ValidateSimConfig(const SimConfig& c);

struct SimResult {
  SimConfig config;
  uint64_t packets = 0;       // packets that entered netisr (arrivals, plus reqresp's responses)
  uint64_t delivered = 0;     // handled by the protocol's handler
  double wall_s = 0;          // wall-clock seconds of the run
  double cpu_s = 0;           // this thread's CPU seconds for the run
  double sim_pps = 0;         // packets / wall_s
  double virtual_s = 0;       // first arrival to last completion, virtual seconds
  double offered_pps = 0;     // config load, 0 when saturating
  double throughput_pps = 0;  // delivered / virtual_s
  // Completions per second while every RX queue still brings packets,
  // after the first quarter of that time (65.5 us slots): the steady
  // state, without the start-up transient (adaptive placement converging)
  // or the end (queues running dry one by one, which under saturation and
  // skew leaves the hot queue alone). throughput_pps includes both.
  double steady_pps = 0;
  // Sojourn: from a packet's arrival (its poll, when saturating) to the end
  // of its handler; microseconds. Mean exact, quantiles from the harness's
  // LatencyHistogram (within 0.4%).
  double mean_us = 0, p50_us = 0, p99_us = 0, p999_us = 0;
  uint64_t reordered = 0;
  std::map<std::string, uint64_t> dropped;    // reason -> count
  std::vector<double> cpu_util;               // per worker, busy share of virtual_s
  uint64_t migrations = 0;                    // adaptive bucket moves
  std::map<std::string, uint64_t> decisions;  // adaptive: per-packet decisions by reason
  uint64_t wakeups = 0;                       // sleeping workers woken by producers
  bool conserved = false;                     // packets == delivered + dropped, pool whole
  // --dispatch oracle: the workstream of each flow bucket, as applied
  // (Netisr::SetFlowAffinity); empty otherwise. Not in the JSON. `compare`
  // gives the real dispatcher the same hints.
  std::vector<int> oracle_placement;

  uint64_t TotalDropped() const;
  // The JSON the CLI prints (`netisr sim --json`): packets, wall_s, sim_pps,
  // throughput_pps, mean_us, p50_us, p99_us, p999_us, reordered, dropped,
  // cpu_util and the rest above.
  std::string ToJson() const;
};

// Runs one simulation. Errors: a bad config (ValidateSimConfig), or what
// netisr refused (creation, registration).
Result<SimResult> RunSim(const SimConfig& c);

}  // namespace netisr::sim
