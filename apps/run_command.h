// `netisr run`: one dispatch experiment, in the bench mode (bench_run.h) or
// from NIC ports through the parse chain (--source, stack_run.h). The run
// reports throughput and the dispatcher's statistics (run_report.h), and is
// judged on conservation: every packet that came in was either delivered or
// dropped with a reason, and every buffer went back to its pool.
//
// Kept apart from the CLI (main.cc) so that tests run the very same job
// through Run/RunCommand without a process boundary. Includes every header
// of the job, so that one include serves callers.
#pragma once

#include <ostream>

#include "apps/bench_run.h"
#include "apps/drive.h"
#include "apps/exit_codes.h"
#include "apps/option_checks.h"
#include "apps/run_options.h"
#include "apps/run_report.h"
#include "apps/stack_run.h"

namespace netisr::apps {

// Runs either mode: RunSynthetic without --source, RunStack with it.
Result<RunReport> Run(const RunOptions& opts, const RunHooks& hooks = {});

// The whole subcommand: validate, run, print the report (JSON or table) to
// `out` and problems to `err`. Returns the process exit code: kExitUsage for
// bad options, kExitFailure for a runtime error, a conservation failure or
// a buffer that did not go back to its pool (both reported first).
int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err,
               const RunHooks& hooks = {});

}  // namespace netisr::apps
