// CostProfile: what each step a packet takes costs in the simulator, in
// virtual nanoseconds. The dispatcher's decisions come from the real netisr
// code (sim/simulator.h); only the time those steps take is modelled here.
//
// Where each cost is charged (sim/internal/engine.cc):
//   rx_burst_ns + n x rx_pkt_ns  the worker that polls an RX queue, per poll
//                                that brings n > 0 packets (NIC receive)
//   adaptive_pkt_ns              under adaptive dispatch, the same worker,
//                                per packet received: the placement
//                                decision's cost beyond direct dispatch's
//                                (netisr's Place, its feedback reads); the
//                                real dispatcher pays it on every packet,
//                                moved or not (~4% of direct's throughput
//                                here, docs/adaptive.md 6)
//   ether/ip/tcp/udp/syn_ns      the worker running the handler, per packet,
//                                by packet kind (protocol stages; syn_ns is
//                                the listen lookup and syncache on a SYN)
//   lookup_<strategy>_ns         the same, per packet: connection lookup
//                                under the table strategy (inpcb/table.h)
//   handoff_pkt_ns               a packet queued to another worker (cache
//                                lines crossing CPUs), split between its
//                                two sides: handoff_producer_ns of it to
//                                the producer for each packet a poll's (or
//                                a handler's) dispatch queued elsewhere,
//                                after that dispatch (its stores into
//                                lines the consumer last held; a
//                                tail-dropped packet pays nothing), the
//                                rest to the consumer's handler run (its
//                                loads of what the producer wrote, and as
//                                calibrate measures it, the handler call
//                                and release there). Where
//                                it falls matters beyond the total: a
//                                consumer that pays it all slows as its
//                                backlog of crossing packets grows, its
//                                own polls thin out and the other CPU
//                                pushes more at it, so saturated deferred
//                                queues run away to the queue limit
//                                (docs/sim.md, "Who pays the crossing")
//   handoff_burst_ns             the consumer, per burst queued by another
//                                worker
//   wakeup_ns                    a sleeping worker's start after a wake
//   cache_move_ns                a packet whose flow last ran on another CPU
//   spin_ns                      not a cost: how long an idle worker polls
//                                before it sleeps (then arrivals pay wakeup)
//   stall_gap_ns, stall_ns       the machine taking a CPU away (interrupts,
//                                the hypervisor, other processes): on each
//                                CPU, stalls start every stall_gap_ns on
//                                average (0 = never; exponential free time
//                                after each) and last
//                                stall_ns; a worker busy then finishes that
//                                much later, one idle then starts no
//                                earlier than its end
//   stall_shared                 not a cost: the share of stalls that take
//                                every CPU at once (the VM descheduled),
//                                in [0, 1]; the rest take one CPU
//                                (sim/internal/stalls.h)
//   stall_p10_ns .. stall_max_ns the stalls' lengths as a distribution
//                                (optional, all or none; stall_ns is its
//                                median): each stall's length is drawn
//                                from it (StallNsAt). Why: a VM's stalls
//                                are not one length. Here 40% last ~3 us,
//                                most of the rest 15-20 us, 1 in 100 over
//                                40 us and 1 in 1,000 0.3-1.7 ms; that tail
//                                holds a sojourn's p99, which the median
//                                alone put at half the real one
//                                (docs/sim.md, "Stalls as the machine has them")
//
// Files are `key = value` lines (# comments); unknown keys and bad numbers
// are errors naming the line. "ideal" sets every cost to zero: pure queueing,
// which the closed-form tests check. sim/profiles/default.profile, measured
// on the development VM by `netisr calibrate`, is what DefaultProfile()
// returns too (a test checks the two agree).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace netisr::sim {

struct CostProfile {
  std::string name = "default";
  double rx_burst_ns = 0;
  double rx_pkt_ns = 0;
  double adaptive_pkt_ns = 0;
  double ether_ns = 0;
  double ip_ns = 0;
  double tcp_ns = 0;
  double udp_ns = 0;
  double syn_ns = 0;
  double lookup_global_ns = 0;
  double lookup_groups_ns = 0;
  double lookup_epoch_ns = 0;
  double lookup_partitioned_ns = 0;
  double handoff_pkt_ns = 0;
  double handoff_burst_ns = 0;
  double handoff_producer_ns = 0;  // of handoff_pkt_ns; at most it (ParseProfile checks)
  double wakeup_ns = 0;
  double cache_move_ns = 0;
  double spin_ns = 0;
  double stall_gap_ns = 0;
  double stall_ns = 0;      // the median stall when the quantiles below are given
  double stall_shared = 0;  // a share in [0, 1] (ParseProfile checks), not ns
  double stall_p10_ns = 0;
  double stall_p25_ns = 0;
  double stall_p75_ns = 0;
  double stall_p90_ns = 0;
  double stall_p99_ns = 0;
  double stall_p999_ns = 0;
  double stall_max_ns = 0;

  // Whether the stall quantiles are given (else every stall is stall_ns).
  bool StallsVary() const;
  // The stall length at quantile u in [0, 1]: the piecewise-linear inverse
  // of the distribution through the quantiles (kStallProbabilities; below
  // the 10th percentile, stall_p10_ns); stall_ns when they are not given.
  double StallNsAt(double u) const;
  // The mean of that distribution (a busy CPU loses MeanStallNs() /
  // stall_gap_ns of its time).
  double MeanStallNs() const;
  // Sets stall_ns and the quantiles from `sorted` stall lengths (ascending)
  // at kStallProbabilities (nearest rank); empty: clears the quantiles
  // (every stall is stall_ns).
  void SetStallLengths(const std::vector<uint64_t>& sorted);

  // Connection lookup per packet under `strategy` (global, groups, epoch,
  // partitioned).
  double LookupNs(std::string_view strategy) const;
};

// The probabilities of the stall quantiles, in CostProfile's order:
// stall_p10_ns, stall_p25_ns, stall_ns (median), stall_p75_ns, stall_p90_ns,
// stall_p99_ns, stall_p999_ns, stall_max_ns. Dense in the tail, where a
// sojourn's p99 comes from.
inline constexpr std::array<double, 8> kStallProbabilities = {0.10, 0.25, 0.50,  0.75,
                                                              0.90, 0.99, 0.999, 1.0};

// Every cost zero.
CostProfile IdealProfile();
// The shipped default (sim/profiles/default.profile).
CostProfile DefaultProfile();
// "ideal", "default", or a profile file's path. Errors name the file and
// line (kInvalidArgument) or that the file cannot be read (kNotFound).
Result<CostProfile> LoadProfile(const std::string& spec);
Result<CostProfile> ParseProfile(std::string_view text, const std::string& name);
// The file form (what calibrate writes and LoadProfile reads back).
std::string FormatProfile(const CostProfile& p);

}  // namespace netisr::sim
