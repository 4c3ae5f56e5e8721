// Work models: who runs each workstream's worker, and how it waits.
//
// netisr's dispatcher (the WorkerRuntime) knows what work a workstream has;
// a WorkModel decides on which thread and when RunOnce is called, and how an
// idle worker waits and is woken. Keeping the two apart lets one dispatcher
// run under pinned sleeping threads, busy-polling threads, fibers, or a
// single deterministic thread for tests and simulation.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/status.h"
#include "netisr/worker_runtime.h"

namespace netisr {

// The handshake between producers and an idle worker, one per workstream.
//
// A worker about to sleep reads `wake_seq`, stores sleeping=1, issues a
// seq_cst fence and re-checks for work; a producer, after publishing packets
// into the worker's lanes, issues a seq_cst fence and reads `sleeping`. The
// two fences (Dekker's pattern) guarantee that either the worker sees the
// packets or the producer sees sleeping=1 and calls WorkModel::Wake, which
// bumps `wake_seq` (release) so the worker's wait on it returns.
struct alignas(64) WorkerSignal {
  std::atomic<uint32_t> sleeping{0};
  std::atomic<uint32_t> wake_seq{0};
  // Wake calls made on this workstream (statistic; relaxed fetch_add).
  std::atomic<uint64_t> wakeups{0};
};

class WorkModel {
 public:
  virtual ~WorkModel() = default;
  virtual std::string_view name() const = 0;
  // Begins running the runtime's workers. On error nothing is left running.
  virtual Status Start(WorkerRuntime& rt) = 0;
  // Makes `worker` re-check for work soon. Called by producers only after
  // they saw signal(worker).sleeping == 1; must be cheap and thread-safe.
  virtual void Wake(int worker) = 0;
  // Stops every worker and returns once none is inside RunOnce any more.
  // Idempotent.
  virtual void Stop() = 0;
  // True if the model runs workers on threads of its own. False (inline)
  // means the caller drives the workers through Pump().
  virtual bool self_driven() const = 0;
  // False if no worker ever sets WorkerSignal::sleeping (poll, inline):
  // producers then skip the wakeup handshake, its seq_cst fence and the
  // scan of the workers they pushed to, on every flush.
  virtual bool sleeps() const { return true; }
  // For caller-driven models: one round of RunOnce over every worker in
  // index order; returns true if any did work. Self-driven models return
  // false and do nothing.
  virtual bool Pump() = 0;
};

// "threads", "poll", "fibers" or "inline"; kNotFound naming the choices
// otherwise.
Result<std::unique_ptr<WorkModel>> MakeWorkModel(std::string_view name);

}  // namespace netisr
