// `netisr compare`, the main job: the dispatch policies side by side over a
// scenario mix, in the simulator at 2..64 CPUs and on the real dispatcher at
// this machine's CPU count, with validation of the one against the other,
// a table, one verdict per scenario and a report folder (report.md,
// self-contained report.html with gnuplot plots, results.csv,
// results.json). Also `netisr calibrate` (measures a cost profile) and
// `netisr sweep` (a grid of `netisr sim` runs for GNU parallel or Slurm, and
// the merge of their results into the same report).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sim/simulator.h"

namespace netisr::apps {

struct CompareOptions {
  std::string scenarios = "uniform,skew,synflood,reqresp";          // --scenario: comma list
  std::string cpus = "2,4,8,16,32,64";                              // --cpus: simulated CPU counts
  std::string policies = "direct,deferred,hybrid,adaptive,oracle";  // --policies
  std::string load = "auto";  // --load: PPS, saturate, or auto (70% of the profile's capacity)
  std::string profile = "default";    // --profile
  std::string out = "netisr-report";  // --out: report folder
  int64_t packets = 500'000;          // --packets: per simulated run (at least)
  // --sim-ms: each CPU-count run carries at least this many milliseconds of
  // arrivals at its offered load (more than --packets at high CPU counts),
  // so that adaptive placement has settled well inside the steady-state
  // window (SimResult::steady_pps skips the first quarter). [0, 1000]; 0:
  // --packets exactly.
  double sim_ms = 30;
  int64_t real_packets = 400'000;  // --real-packets: per real run, 0 = no real runs
  // --real-reps: real runs per policy, in interleaved rounds, [1, 9]. The
  // point is their median; their range is the noise the ranking check
  // allows (RankingConflicts). 3: a single 0.1 s run on a shared machine
  // swings +-5%, more than the policies differ by in the bench layout.
  int64_t real_reps = 3;
  double service_ns = 300;  // --service-ns
  uint64_t seed = 1;        // --seed
  bool json = false;        // --json: results.json on stdout, no table
  bool progress = true;     // progress bar, when stderr is a terminal
};

// One point measured (simulated or real).
struct Point {
  std::string scenario, policy, kind;  // kind: "sim" or "real"
  int cpus = 0;
  double offered_pps = 0;  // 0 = saturate
  double throughput_pps = 0, p50_us = 0, p99_us = 0;
  double steady_pps = 0;  // sim: SimResult::steady_pps; real: throughput_pps
  uint64_t dropped = 0, reordered = 0;
  // Real runs: delivered x CPUs / process CPU seconds (throughput_pps is
  // the wall-clock rate); see RunCompare.
  double cpu_pps = 0;
  // Real runs: the lowest and highest wall-clock rate over the repetitions
  // (throughput_pps is their median); simulated: both throughput_pps.
  double throughput_lo = 0, throughput_hi = 0;
  // Repeated runs (MedianRun): the lowest and highest p99 (p99_us is their
  // median); a single run: both p99_us.
  double p99_lo = 0, p99_hi = 0;
};

// One policy in the validation: its real runs' range and median, and the
// simulation of the same layout.
struct RankedPolicy {
  std::string policy;
  double real_lo = 0, real_mid = 0, real_hi = 0;
  double sim = 0;
};

// The pairs the real runs order beyond their own noise (a's lowest run
// above b's highest) while the simulation orders them the other way
// (sim b > sim a), as "a > b". Pairs whose real ranges overlap cannot be
// told apart by the measurement, so either simulated order agrees with
// them. Empty: the same ranking. With one run per policy the ranges are
// points and this is the strict comparison of the two orders.
std::vector<std::string> RankingConflicts(const std::vector<RankedPolicy>& p);

// What the real dispatcher costs here beyond its handler, measured with
// `netisr run`'s bench mode on `cpus` workers (threads model, 1024 flows,
// handler work service_ns): `rounds` interleaved direct/deferred/adaptive
// runs of `packets` each (adaptive with its moves held off), CPU ns per
// packet less service_ns (sorted). The costs are the cheapest rounds'
// (noise only adds): rx_pkt_ns = direct; adaptive_pkt_ns = the median of
// the rounds' adaptive - direct (a small difference: paired, not minimums);
// handoff_pkt_ns = (deferred - direct) / crossed, `crossed` the share of
// packets that change CPU in this layout, (cpus - 1) / cpus (0 with one
// CPU). The stalls are measured first (MeasureStalls, `stall_seconds`) and
// the CPU times taken net of the share of time they took: this VM counts
// them as the process's CPU time, and the simulator charges them itself.
// What `calibrate` writes and compare's validation simulates with.
struct DispatchCosts {
  std::vector<double> direct, deferred, adaptive;
  // Each round's adaptive less its direct run (sorted): adaptive_pkt_ns's
  // sample.
  std::vector<double> decision;
  std::vector<double> consumer;  // ConsumerSideNs per round (2+ CPUs)
  // With per-burst costs measured (calibrate): direct and deferred again
  // with bursts of one packet (Settings::burst 1), per round.
  std::vector<double> direct_single, deferred_single;
  // The consumers' mean drained burst in each full-burst deferred run
  // (WorkStats::bursts): the crossing's per-burst divisor.
  std::vector<double> deferred_drain;
  // The one-way runs' (ConsumerSideNs) mean drained burst, per round.
  std::vector<double> consumer_drain;
  double crossed = 0;
  double rx_pkt_ns = 0, handoff_pkt_ns = 0;
  // Per burst (CostProfile::rx_burst_ns, handoff_burst_ns), when measured:
  // SplitPerBurst of the full-burst and one-packet figures; rx_pkt_ns and
  // handoff_pkt_ns are then net of them. 0 (folded into the per-packet
  // figures) otherwise.
  double rx_burst_ns = 0, handoff_burst_ns = 0;
  // Adaptive's decision per packet beyond direct's (CostProfile::
  // adaptive_pkt_ns): the median over rounds of each round's adaptive run
  // less its direct one, at least 0. The layout is balanced and the adaptive runs' moves
  // are held off (MeasureDispatchCosts), so the difference is the decision
  // alone.
  double adaptive_pkt_ns = 0;
  // Of handoff_pkt_ns, what the producer pays: handoff_pkt_ns less the
  // cheapest consumer side, within [0, handoff_pkt_ns]; 0 on one CPU.
  double handoff_producer_ns = 0;
  // Stalls (CostProfile::stall_gap_ns, stall_ns), from MeasureStalls.
  double stall_gap_ns = 0, stall_ns = 0;
  double stall_lost = 0;  // share of the spinning threads' time lost to them
  // Their lengths, ascending (at most 65,536 a CPU a measurement), for
  // CostProfile::SetStallLengths; what the derived figures above come from
  // with the tallies below (MeasureStalls adds to them).
  std::vector<uint64_t> stall_lengths;
  uint64_t stall_count = 0, stall_lost_ns = 0, stall_span_ns = 0;
  // Of the stalls kept, how many met a stall of another CPU, and how many
  // would have by chance (independent CPUs); from them stall_shared, the
  // share beyond chance (CostProfile::stall_shared).
  uint64_t stall_sampled = 0, stall_met = 0;
  double stall_met_by_chance = 0;
  double stall_shared = 0;
  // stall_gap_ns and the stall lengths onto `p`, or no stalls.
  void ApplyStalls(sim::CostProfile& p) const;
};
struct CompareReport {
  CompareOptions options;
  int machine_cpus = 0;
  std::vector<Point> points;
  double wall_s = 0;
  // The profile's measured lines, and (with real runs) the same measured
  // now: the validation's simulations use these, so that its gaps are the
  // model's and not the machine's drift since the profile was measured
  // (cross-CPU costs here move 2-4x within an hour: docs/sim.md).
  double profile_rx_pkt_ns = 0, profile_handoff_pkt_ns = 0, profile_handoff_producer_ns = 0;
  std::optional<DispatchCosts> costs_now;
  // By scenario: the stalls measured in slices between its real runs, which
  // its validation simulations get (RunCompare).
  std::map<std::string, DispatchCosts> stalls_during;
};
// Seconds of stall measurement before each real run of the validation
// (~150-200 stalls a CPU here; the default 3 repetitions of 5 policies
// pool 2,000-3,000 a CPU a scenario).
inline constexpr double kStallSliceSeconds = 0.1;
// Above this share of the measuring threads' time taken away (stall_lost),
// compare warns that the machine is loaded: a quiet run here loses 3-8%.
inline constexpr double kLoadedStallShare = 0.25;

// Validates `o`; errors are usage errors naming the flag.
Status ValidateCompareOptions(const CompareOptions& o);
// Runs everything; errors are runtime failures (a run failed).
Result<CompareReport> RunCompare(const CompareOptions& o, std::ostream& progress);
// results.json's text: per scenario `results` (policy -> throughput_pps,
// p50_us, p99_us, dropped; simulation at the machine's CPU count),
// `adaptive_vs_oracle`, `validation` (throughput_gap, p99_gap,
// same_ranking, within_15pct for the throughput gap and p99_within_15pct)
// and `verdict`; plus every point.
std::string CompareJson(const CompareReport& r);
// The policy x metric table and the verdict lines.
std::string CompareTable(const CompareReport& r);
// Writes report.md, report.html, results.csv, results.json and the plots
// into `dir` (created). gnuplot missing: the report says so, no plots.
Status WriteReport(const CompareReport& r, const std::string& dir, std::ostream& err);
int CompareCommand(const CompareOptions& o, std::ostream& out, std::ostream& err);

struct CalibrateOptions {
  std::string out;              // --out: profile file ("" = stdout)
  int64_t packets = 2'000'000;  // --packets per measurement run, [10000, 1e8]
  // --service-ns: the bench handler's work per packet during the runs,
  // subtracted from their cost; compare's default, so that the dispatcher
  // is measured at the working point compare validates (a handler that
  // spins on the clock adds ~15 ns of its own, which 0 would leave out).
  int64_t service_ns = 300;
};
int CalibrateCommand(const CalibrateOptions& o, std::ostream& out, std::ostream& err);

// `per_burst`: also measure direct and deferred with one-packet bursts and
// split each cost into a per-packet and a per-burst part (SplitPerBurst);
// else the per-burst parts stay folded into the per-packet figures (the
// validation runs saturated, where bursts are full).
Result<DispatchCosts> MeasureDispatchCosts(int cpus, int64_t packets, int64_t service_ns,
                                           int rounds, double stall_seconds,
                                           bool per_burst = false);

// A cost per packet measured with bursts of `full` packets on average
// (`at_full`) and with bursts of one (`at_single`), as per packet + per
// burst / burst size: the two unknowns of two equations, each at least 0.
struct PerBurstSplit {
  double per_packet = 0, per_burst = 0;
};
PerBurstSplit SplitPerBurst(double at_full, double at_single, double full);

// The consumer's side of a crossing (CostProfile::handoff_pkt_ns less
// handoff_producer_ns), ns per packet: `netisr run`'s bench mode with one
// source on worker 0 and every flow bucket hinted to worker 1, so that
// worker 1 handles only crossing packets and is the bottleneck (its queue
// fills and the producer tail-drops the rest). Two runs: one saturating
// (`packets`), then one paced at 1.2x the rate that reached (~0.15 s of
// arrivals), used if it dropped at least 5% (still consumer-bound; else
// the saturating figure, which a producer hammering the full queue
// inflates). The result is the run's wall ns per delivered packet, net of
// the stalls' share `stall_lost`, less the handler's work `service_ns`:
// wall time, since the bottleneck worker is busy throughout (start and
// drain aside), and its own CPU time is not separable from the producer's
// in the process's. The producer's receive is not in it; the handler
// call and the release are, which the simulator charges with rx_pkt_ns to
// the producer: with this split they move to the consumer, and each
// side's total stays (unless MeasureDispatchCosts clamps the producer's
// part to [0, handoff_pkt_ns]).
// `drain` (if given) gets the consumer's mean drained burst in the run used.
Result<double> ConsumerSideNs(int64_t packets, int64_t service_ns, double stall_lost,
                              double* drain = nullptr);

// A sleeping worker's wakeup (CostProfile::wakeup_ns), ns: `netisr run`'s
// bench mode on 2 workers (threads model, deferred, one source on worker 0,
// paced at 5,000 packets a second, so worker 1 has slept out its idle spin
// before each of its packets), the median latency of the packets handled on
// worker 1 (pushed to it asleep, then woken) less that of those handled on
// worker 0 (which polled them). Both wait for worker 0's poll (it sleeps
// idle_sleep_us at a time between packets, and arrivals are stamped at
// their scheduled time), so that part cancels. 0 on one CPU.
Result<double> MeasureWakeupNs(int cpus);

// A connection lookup under table strategy `strategy` (CostProfile::
// lookup_<strategy>_ns), ns: what TCP input does per segment (look up the
// connection by 4-tuple, lock it, count the segment, unlock; a quiescent
// state every 32) over 4,096 connections, on one thread, uncontended: CPU
// ns per lookup, the cheapest of 3 runs of 1 M.
Result<double> MeasureLookupNs(const std::string& strategy);

// How often and for how long the machine takes a CPU away from a thread
// that wants it: one thread bound to each of `cpus` CPUs spins on the clock
// for `seconds`, and every gap between two reads over kStallThresholdNs is
// a stall. Adds to `c`'s tallies (so that measurements in slices pool),
// then sets from them stall_gap_ns (mean time between stalls on one CPU;
// 0 if fewer than one a second a CPU was seen), stall_ns (their median
// length, 0 likewise), stall_lengths (all of them, sorted: here 40% last
// ~3 us, most of the rest 15-20 us, and the few of 0.3-8 ms, 1 in 1,000,
// make the mean ~1.4x the median and hold a sojourn's p99), stall_shared
// (the share that took every CPU at once: 70-90% of those of 10-50 us
// here) and stall_lost (their share of the time).
inline constexpr uint64_t kStallThresholdNs = 2'000;
Status MeasureStalls(int cpus, double seconds, DispatchCosts& c);

// One CPU's stalls in a measurement: the kept ones as [begin, end) on the
// steady clock (ascending, disjoint), and the tallies of all of them.
struct StallSpan {
  uint64_t begin = 0, end = 0;
};
struct StallTally {
  std::vector<StallSpan> spans;
  uint64_t count = 0, lost_ns = 0, span_ns = 0;  // span_ns: how long it looked
};
// Adds a measurement (one StallTally per CPU, same interval) to `c` and
// derives its figures again (MeasureStalls' arithmetic, pure).
void AddStalls(const std::vector<StallTally>& cpus, DispatchCosts& c);

struct SweepOptions {
  std::string grid;       // --grid 'cpus=2,4;dispatch=direct,adaptive;load=1e6'
  std::string emit_jobs;  // --emit-jobs FILE: one `netisr sim ... --json` line per point
  // --merge PATH: gather results into a report: a folder of *.json (one
  // result each), or a file of JSON lines (what --stdout jobs print; "-":
  // standard input).
  std::string merge;
  std::string out = "netisr-report";  // --out (with --merge)
  std::string binary = "netisr";      // --binary: the command the job lines call
  // --stdout: job lines print their result instead of writing a file under
  // --out, so that `parallel --sshloginfile` brings it back from hosts that
  // share no folder with this one (a redirect would write on the remote).
  bool to_stdout = false;
  bool json = false;
};
int SweepCommand(const SweepOptions& o, std::ostream& out, std::ostream& err);

}  // namespace netisr::apps
