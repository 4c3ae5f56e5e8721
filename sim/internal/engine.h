// The simulation engine behind sim::RunSim (design in sim/simulator.h).
#pragma once

#include "base/status.h"
#include "sim/simulator.h"

namespace netisr::sim::internal {

// Runs `c` (already validated).
Result<SimResult> RunEngine(const SimConfig& c);

}  // namespace netisr::sim::internal
