// `netisr sim`: one simulated run (sim/simulator.h) from the command line.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "base/status.h"
#include "sim/simulator.h"

namespace netisr::apps {

struct SimOptions {
  int64_t cpus = 2;                  // --cpus
  int64_t packets = 1'000'000;       // --packets
  std::string scenario = "uniform";  // --scenario
  std::string dispatch = "hybrid";   // --dispatch (adds oracle to run's modes)
  std::string policy = "flow";       // --policy
  std::string load = "saturate";     // --load: packets/s (e.g. 2e6) or saturate
  std::string arrival = "poisson";   // --arrival
  double service_ns = 300;           // --service-ns: mean handler work per packet
  std::string service_dist = "exp";  // --service-dist
  std::string profile = "default";   // --profile: FILE, default or ideal
  uint64_t seed = 1;                 // --seed
  int64_t queues = 0;                // --queues: RX queues, 0 = one per CPU
  int64_t flows = 1024;              // --flows
  std::string table = "epoch";       // --table: connection lookup strategy (cost)
  int64_t qlimit = 256;              // --qlimit
  bool json = false;                 // --json
};

// "saturate" -> 0, or a number of packets per second in (0, 1e10]. The
// error names --load and what it accepts.
Result<double> ParseLoad(const std::string& s);

// The simulator's config for `o`: choices, bounds, the profile file read.
// Errors are usage errors (kInvalidArgument, or kNotFound for a profile
// file that cannot be read).
Result<sim::SimConfig> ToSimConfig(const SimOptions& o);

// Runs it: exit 0, 2 on a usage error (message naming the flag and the
// valid values), 1 if the run failed or broke conservation.
int SimCommand(const SimOptions& o, std::ostream& out, std::ostream& err);

// The human-readable summary of one run.
std::string FormatSim(const sim::SimResult& r);

}  // namespace netisr::apps
