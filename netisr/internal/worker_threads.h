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

// The WorkModel plumbing shared by the models that run one thread per
// workstream (threads, poll, fibers); they differ only in their loop and in
// whether idle workers sleep. A derived destructor must call Stop() first:
// the threads run the derived Loop.
class ThreadPerWorkerModel : public WorkModel {
 public:
  bool self_driven() const final { return true; }
  bool Pump() final { return false; }
  Status Start(WorkerRuntime& rt) final {
    rt_ = &rt;
    return threads_.Start(rt, [this](int w) { Loop(w); });
  }
  void Wake(int worker) override { threads_.Wake(worker); }
  void Stop() final { threads_.Stop(); }

 protected:
  explicit ThreadPerWorkerModel(WorkerThreads::Idle idle) : threads_(idle) {}
  // Runs worker `w` until threads_.stopping().
  virtual void Loop(int w) = 0;

  WorkerRuntime* rt_ = nullptr;  // set by Start, before any thread runs
  WorkerThreads threads_;
};

}  // namespace netisr::internal
