// Worker threads for the self-driven work models (threads, poll, fibers):
// one OS thread per workstream, started and stopped together, and the
// sleeping half of the WorkerSignal handshake (work_model.h).
//
// Guarantees:
//  * Start returns only once every thread has run OnWorkerStart, so a
//    failure to bind a worker to its CPU is Start's error, and on error no
//    thread is left running.
//  * Stop returns only once every thread has returned from its loop, so the
//    model (and whatever the loop captured) may go away after it.
//  * SleepUntilWoken never sleeps through work a producer published and
//    flushed before or during the call (Dekker's pattern, see its comment),
//    nor through Stop.
//
// The three models differ only in what a worker does between two looks at
// stopping(); how threads come and go and how an idle worker sleeps is
// here, once. Single-use: one Start, then Stop (idempotent).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "netisr/status.h"
#include "netisr/work_model.h"

namespace netisr::internal {

class WorkerThreads {
 public:
  // Whether workers may block in SleepUntilWoken, and so must be woken to
  // notice Stop. kSpin workers never block (the poll model).
  enum class Idle : uint8_t { kSleep, kSpin };

  explicit WorkerThreads(Idle idle) : idle_(idle) {}
  ~WorkerThreads() { Stop(); }
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  // Starts one thread per worker of `rt`. Thread w runs rt.OnWorkerStart(w)
  // and, if it succeeded, loop(w); `loop` must return soon after
  // stopping() turns true. Returns OnWorkerStart's first error, if any,
  // after stopping every thread.
  Status Start(WorkerRuntime& rt, std::function<void(int)> loop);

  // Sets the stop flag, wakes sleepers (kSleep) and joins every thread.
  // Control thread only; idempotent.
  void Stop();

  // True once Stop began. Relaxed: a worker only needs to see the flag
  // eventually; Stop's join orders everything after.
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  // For worker w's own thread, when a full round found nothing to do: blocks
  // until Wake(w), Stop, or (if w has live ingress sources) idle_sleep_us,
  // unless queued work or Stop is already visible. May return spuriously.
  void SleepUntilWoken(int w);

  // Ends a SleepUntilWoken of worker w in progress or about to start.
  // Producers call it (through WorkModel::Wake) only after seeing
  // signal(w).sleeping == 1. Any thread.
  void Wake(int w);

 private:
  const Idle idle_;
  WorkerRuntime* rt_ = nullptr;       // set by Start, before any thread exists
  std::vector<std::thread> threads_;  // control thread only (Start/Stop)
  std::atomic<bool> stop_{false};
};

}  // namespace netisr::internal
