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

// What a work model drives. Implemented by netisr::Netisr.
class WorkerRuntime {
 public:
  virtual ~WorkerRuntime() = default;
  virtual int num_workers() const = 0;
  // Called once on the thread that will run `worker`, before its first
  // RunOnce; binds the thread to the worker's CPU when settings ask for it.
  virtual Status OnWorkerStart(int worker) = 0;
  // One bounded round of the worker's work: PollSources then DrainQueues.
  // Returns true if it did anything. For one worker, RunOnce, PollSources
  // and DrainQueues must never run concurrently (one thread, or fibers of
  // one thread, at a time).
  virtual bool RunOnce(int worker) = 0;
  // Polls the worker's ingress sources once each (at most `burst` packets
  // apiece) and flushes wakeups. True if any packet came in.
  virtual bool PollSources(int worker) = 0;
  // Hands the worker's queued packets to their handlers, at most a few
  // bursts per lane. True if any packet was handled.
  virtual bool DrainQueues(int worker) = 0;
  // True if packets are queued for `worker`. Any thread may ask.
  virtual bool HasQueued(int worker) const = 0;
  // True if `worker` polls ingress sources that may still produce; such a
  // worker must not sleep without a timeout.
  virtual bool HasLiveSources(int worker) const = 0;
  // Longest sleep for a worker with live sources, microseconds.
  virtual uint32_t idle_sleep_us() const = 0;
  // Pause instructions an idle worker spins before it sleeps, re-checking
  // its queues and polling its live sources (Settings::idle_spin).
  virtual uint32_t idle_spin() const = 0;
  virtual WorkerSignal& signal(int worker) = 0;
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
  // For caller-driven models: one round of RunOnce over every worker in
  // index order; returns true if any did work. Self-driven models return
  // false and do nothing.
  virtual bool Pump() = 0;
};

// "threads", "poll", "fibers" or "inline"; kNotFound naming the choices
// otherwise.
Result<std::unique_ptr<WorkModel>> MakeWorkModel(std::string_view name);

}  // namespace netisr
