// The drive loop both run kinds share: start netisr, wait until it is idle
// (sampling its statistics for --trace-us on the way), stop it; and the test
// seams a run offers (RunHooks).
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "apps/run_options.h"
#include "apps/run_report.h"
#include "netisr/netisr.h"
#include "netisr/packet.h"

namespace netisr::apps {

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
  // Bench mode: called with the Netisr and the bench protocol once it is
  // registered, before Start (to set affinity hints, Netisr::SetFlowAffinity,
  // as `compare` does for the oracle's placement). An error ends the run.
  std::function<Status(Netisr&, ProtocolId)> registered;
};

// Releases the packets of a consumed burst, except those `withhold` keeps
// (RunHooks::withhold).
inline void ReleaseUnlessWithheld(std::span<Packet* const> burst,
                                  const std::function<bool(const Packet&)>& withhold) {
  for (Packet* pkt : burst) {
    if (!withhold(*pkt)) Release(pkt);
  }
}

// Both modes' run loop: starts `nisr`, waits until it is idle (sampling
// its statistics into `trace` every o.trace_us), stops it; returns the
// seconds from Start until idle.
Result<double> DriveToIdle(Netisr& nisr, const RunOptions& o, std::vector<TraceSample>& trace);

}  // namespace netisr::apps
