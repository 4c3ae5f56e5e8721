// CostProfile: what each step a packet takes costs in the simulator, in
// virtual nanoseconds. The dispatcher's decisions come from the real netisr
// code (sim/simulator.h); only the time those steps take is modelled here.
//
// Where each cost is charged (sim/internal/engine.cc):
//   rx_burst_ns + n x rx_pkt_ns  the worker that polls an RX queue, per poll
//                                that brings n > 0 packets (NIC receive)
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
//                                CPU, stalls start at exponential intervals
//                                of mean stall_gap_ns (0 = never) and last
//                                stall_ns; a worker busy then finishes that
//                                much later, one idle then starts no
//                                earlier than its end
//
// Files are `key = value` lines (# comments); unknown keys and bad numbers
// are errors naming the line. "ideal" sets every cost to zero: pure queueing,
// which the closed-form tests check. sim/profiles/default.profile, measured
// on the development VM by `netisr calibrate`, is what DefaultProfile()
// returns too (a test checks the two agree).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace netisr::sim {

struct CostProfile {
  std::string name = "default";
  double rx_burst_ns = 0;
  double rx_pkt_ns = 0;
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
  double stall_ns = 0;

  // Connection lookup per packet under `strategy` (global, groups, epoch,
  // partitioned).
  double LookupNs(std::string_view strategy) const;
};

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
