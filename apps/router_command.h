// `netisr router --config FILE`: the IPv4/IPv6 router of router/router.h,
// configured by a TOML file (router/config.h has its shape), running until
// SIGINT/SIGTERM (or --duration seconds). Every --stats-interval seconds
// (default: the file's [dataplane] stats_interval; 0 = off) and at exit it
// prints its statistics in `netstat -Q` style (ports, RX queues and their
// workers, netisr's per-workstream table, the router's counters, drops by
// reason); --json prints one JSON object per line instead, the last one
// being the final report ("final": true). A stop drains what is in flight:
// every frame is sent or counted (the report's "balance" is 0).
//
// Exit codes: 2 for a bad command line or config (file:line and what is
// wrong), 1 for a runtime failure (a device that does not open, a control
// address in use), 0 otherwise.
#pragma once

#include <atomic>
#include <optional>
#include <ostream>
#include <string>

#include "base/status.h"

namespace netisr::apps {

struct RouterOptions {
  std::string config;                    // --config FILE (required)
  std::optional<double> stats_interval;  // --stats-interval S; unset = the config's
  double duration_s = 0;                 // --duration S; 0 = until a signal
  bool json = false;                     // --json
  bool lockprof = false;                 // --lockprof
};

Status ValidateRouterOptions(const RouterOptions& o);

// Runs until `stop` is true or --duration passes, printing to `out`.
// Returns the exit code.
int RunRouter(const RouterOptions& o, const std::atomic<bool>& stop, std::ostream& out,
              std::ostream& err);

// The subcommand: SIGINT/SIGTERM end it.
int RouterCommand(const RouterOptions& o, std::ostream& out, std::ostream& err);

}  // namespace netisr::apps
