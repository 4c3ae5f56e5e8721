// The drive loop (drive.h). The trace sampler sleeps 50 us between looks,
// as RunUntilIdle does for self-driven models, so sampling costs the run no
// more than waiting does.
#include "apps/drive.h"

#include <chrono>
#include <thread>

namespace netisr::apps {

namespace {

TraceSample Sample(const Netisr& nisr, double t_us) {
  const Stats s = nisr.GetStats();
  TraceSample t;
  t.t_us = t_us;
  // Summed over protocols: the bench mode has one, the parse chain eight.
  for (size_t w = 0; w < s.workstreams.size(); ++w) {
    uint64_t handled = 0, queued = 0, qlen = 0;
    for (const WorkStats& cell : s.work[w]) {
      handled += cell.handled;
      queued += cell.queued;
      qlen += cell.qlen;
    }
    t.handled.push_back(handled);
    t.queued.push_back(queued);
    t.qlen.push_back(qlen);
    t.busy.push_back(s.workstreams[w].busy);
    t.queue_delay_ns.push_back(s.workstreams[w].queue_delay_ns);
    t.full_polls.push_back(s.workstreams[w].full_polls);
  }
  t.drops = s.TotalDrops();
  t.migrations = s.migrations;
  t.decisions = s.decisions;
  return t;
}

// RunUntilIdle, sampling statistics every trace_us on the way. Waits as
// RunUntilIdle does for self-driven models (a look every 50 us).
void RunTraced(Netisr& nisr, int64_t trace_us, std::chrono::steady_clock::time_point t0,
               std::vector<TraceSample>& trace) {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::microseconds(trace_us);
  auto next = t0 + period;
  while (!nisr.Idle()) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (const auto now = Clock::now(); now >= next) {
      trace.push_back(Sample(nisr, std::chrono::duration<double, std::micro>(now - t0).count()));
      next += period;
    }
  }
}

}  // namespace

Result<double> DriveToIdle(Netisr& nisr, const RunOptions& o, std::vector<TraceSample>& trace) {
  const bool traced = o.trace_us > 0 && o.model != "inline";
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = nisr.Start(); !st.ok()) return st;
  if (traced) {
    RunTraced(nisr, o.trace_us, t0, trace);
  } else {
    nisr.RunUntilIdle();
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  nisr.Stop();
  return took.count();
}
}  // namespace netisr::apps
