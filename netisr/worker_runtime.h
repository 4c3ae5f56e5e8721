// WorkerRuntime: what a work model drives, for work-model authors. The
// dispatcher (internal::Dispatcher) implements it; a WorkModel
// (work_model.h) decides on which thread and when each worker's RunOnce
// runs, and how an idle worker waits and is woken.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace netisr {

// The sleep/wake handshake of one workstream (work_model.h).
struct WorkerSignal;

// What a work model drives. Implemented by the dispatcher.
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

}  // namespace netisr
