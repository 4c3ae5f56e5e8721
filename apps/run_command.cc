// `netisr run` (run_command.h): validate, run either mode, print, judge.
#include "apps/run_command.h"

#include <fmt/format.h>

#include "lockprof/lock.h"
#include "lockprof/report.h"

namespace netisr::apps {

Result<RunReport> Run(const RunOptions& opts, const RunHooks& hooks) {
  // Both validate.
  return opts.source.empty() ? RunSynthetic(opts, hooks) : RunStack(opts, hooks);
}

int RunCommand(const RunOptions& opts, std::ostream& out, std::ostream& err,
               const RunHooks& hooks) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) {
    err << "netisr run: " << st.message() << "\n";
    return kExitUsage;
  }
  // --lockprof: the profile of this run only; Run has joined every worker
  // when it returns, so the snapshot counts all of their acquisitions.
  if (opts.lockprof) lockprof::Reset();
  Result<RunReport> report = Run(opts, hooks);
  if (!report.ok()) {
    err << "netisr run: " << report.status().message() << "\n";
    return kExitFailure;
  }
  if (opts.json) {
    nlohmann::json j = ToJson(*report);
    if (opts.lockprof) j["locks"] = lockprof::ToJson(lockprof::Snapshot());
    out << j.dump(2) << "\n";
  } else {
    out << FormatHuman(*report);
    if (opts.lockprof) out << "\n" << lockprof::FormatTable(lockprof::Snapshot());
  }
  int code = kExitOk;
  if (!report->Conserved()) {
    err << fmt::format(
        "netisr run: conservation violated: packets_in={} != delivered={} + dropped={}\n",
        report->packets_in, report->delivered, report->dropped_total());
    code = kExitFailure;
  }
  for (const PoolReport& p : report->pools) {
    if (p.free == p.capacity) continue;
    err << fmt::format(
        "netisr run: buffers not returned: pool {} has {} of {} packets free after Stop; the "
        "rest were never released\n",
        p.name, p.free, p.capacity);
    code = kExitFailure;
  }
  return code;
}

}  // namespace netisr::apps
