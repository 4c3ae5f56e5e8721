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

#include "base/status.h"
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

  // For worker w's own thread, when a full round found nothing to do: first
  // spends what is left of this idle period's spin budget (idle_spin
  // pauses), returning as soon as queued work or Stop is visible and, if w
  // has live ingress sources, every kSourcePollPauses pauses so that the
  // caller polls them again (sources are polled, not signalled: a spin that
  // only watched the queues left a paced source unpolled for the whole
  // spin). Once the budget is spent, blocks until Wake(w), Stop, or (with
  // live sources) idle_sleep_us. May return spuriously.
  void SleepUntilWoken(int w);

  // For worker w's own thread, when a round did work: the next idle period
  // starts with a full spin budget.
  void Worked(int w) { spin_left_[w].pauses = rt_->idle_spin(); }

  // Pauses between two returns to poll live sources while spinning: ~1.6 us
  // at the 25 ns a pause takes on the development VM's AMD EPYC (10-140
  // cycles by CPU), under a 300 ns handler's share of a 32-packet burst.
  static constexpr uint32_t kSourcePollPauses = 64;

  // Ends a SleepUntilWoken of worker w in progress or about to start.
  // Producers call it (through WorkModel::Wake) only after seeing
  // signal(w).sleeping == 1. Any thread.
  void Wake(int w);

 private:
  const Idle idle_;
  WorkerRuntime* rt_ = nullptr;       // set by Start, before any thread exists
  std::vector<std::thread> threads_;  // control thread only (Start/Stop)
  // Spin budget left in each worker's current idle period, in pauses.
  // Sized by Start before any thread exists; slot w is then read and
  // written only by worker w's thread (a line each: no false sharing).
  struct alignas(64) SpinBudget {
    uint32_t pauses = 0;
  };
  std::vector<SpinBudget> spin_left_;
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
