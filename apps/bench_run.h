// `netisr run` without --source, the bench mode: harness::SyntheticSource
// ingress sources, polled by the workers as RX queues are, feed a trivial
// protocol through the real dispatcher; its handler burns --handler-ns per
// packet (harness::DeliveryTally) and checks that no flow was reordered
// (harness::FlowOrderCheck). It measures the dispatcher alone.
#pragma once

#include <functional>
#include <vector>

#include "apps/drive.h"
#include "apps/run_options.h"
#include "apps/run_report.h"
#include "base/status.h"

namespace netisr::apps {

// Runs the bench-mode experiment (no --source). Errors: bad options
// (kInvalidArgument, as ValidateRunOptions), or whatever netisr refused
// (creation, start).
Result<RunReport> RunSynthetic(const RunOptions& opts, const RunHooks& hooks = {});

// A RunHooks::registered that hints flow bucket b to workstream
// placement[b] (Netisr::SetFlowAffinity, flowid b), e.g. the simulated
// oracle's SimResult::oracle_placement. Errors: a workstream out of range,
// as SetFlowAffinity reports it.
std::function<Status(Netisr&, ProtocolId)> AffinityHints(std::vector<int> placement);

}  // namespace netisr::apps
