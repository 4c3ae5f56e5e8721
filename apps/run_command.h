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
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "netisr/stats.h"
#include "netisr/status.h"

namespace netisr::apps {

// Process exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime error or a failed self-check
inline constexpr int kExitUsage = 2;    // bad command line

// The run's knobs, one per flag, as the user gave them; ValidateRunOptions
// says whether they make sense. Numbers are signed so that a negative value
// gets the same range message as any other out-of-range one.
struct RunOptions {
  int64_t cpus = 2;                 // --cpus: workstreams
  std::string dispatch = "hybrid";  // --dispatch: the protocol's dispatch mode
  std::string policy = "flow";      // --policy
  std::string model = "threads";    // --model: netisr work model
  int64_t flows = 64;               // --flows
  int64_t packets = 1000000;        // --packets: total, over all sources
  std::optional<int64_t> sources;   // --sources: ingress sources; unset = cpus
  int64_t handler_ns = 0;           // --handler-ns: busy work per packet
  int64_t qlimit = 0;               // --qlimit: 0 = netisr's default
  bool bind = true;                 // cleared by --no-bind
  bool json = false;                // --json
  uint64_t seed = 1;                // --seed
};

// Ok, or kInvalidArgument naming the first bad flag and what it accepts.
Status ValidateRunOptions(const RunOptions& opts);

struct RunReport {
  RunOptions options;       // as run, with `sources` filled in
  uint64_t packets_in = 0;  // packets the sources handed to netisr
  uint64_t delivered = 0;   // packets the protocol's handler consumed
  uint64_t reordered = 0;   // packets that arrived after a later one of their flow
  double seconds = 0;       // from Start until netisr was idle
  double mpps = 0;          // delivered packets per second, millions
  Stats stats;              // after Stop, so exact; drops by reason in stats.drops

  uint64_t dropped_total() const { return stats.TotalDrops(); }
  // Every packet accounted for: packets_in == delivered + dropped.
  bool Conserved() const { return packets_in == delivered + dropped_total(); }
};

// Runs the experiment. Errors: bad options (kInvalidArgument, as
// ValidateRunOptions), or whatever netisr refused (creation, start).
Result<RunReport> RunSynthetic(const RunOptions& opts);

// netstat -Q table followed by a one-line summary.
std::string FormatHuman(const RunReport& report);
nlohmann::json ToJson(const RunReport& report);

// The whole subcommand: validate, run, print the report (JSON or table) to
// `out` and problems to `err`. Returns the process exit code: kExitUsage for
// bad options, kExitFailure for a runtime error or a conservation failure.
int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err);

}  // namespace netisr::apps
