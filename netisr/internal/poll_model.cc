// The `poll` work model: busy-polling run to completion, as DPDK lcores do.
// One thread per workstream, pinned to its CPU by OnWorkerStart, calls
// RunOnce in a loop and never sleeps.
//
// Guarantees: no wakeup is ever needed or made. A poll worker never sets
// WorkerSignal::sleeping, so producers never call Wake and pay no syscall
// per burst; a packet waits at most one round of its worker, whatever the
// load. Stop sets a flag and joins.
//
// Trade-off: each worker burns its CPU at 100% even when idle, so this
// model wants dedicated cores (bind_threads, and no more workers than
// cores: on an oversubscribed machine a spinning worker delays whoever
// shares its CPU, producers included, until the OS time slice ends). An
// idle round issues a pause instruction, which lets the sibling
// hyperthread run and keeps the spin from flooding the memory system.
#include "netisr/internal/work_models.h"
#include "netisr/internal/worker_threads.h"

namespace netisr::internal {

namespace {

// Spin-loop hint: x86 PAUSE, AArch64 YIELD.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class PollModel final : public ThreadPerWorkerModel {
 public:
  PollModel() : ThreadPerWorkerModel(WorkerThreads::Idle::kSpin) {}
  ~PollModel() override { Stop(); }
  std::string_view name() const override { return "poll"; }
  // Nothing sleeps, so there is nothing to wake (and producers, which see
  // sleeping == 0 forever, never call this).
  void Wake(int) override {}
  bool sleeps() const override { return false; }

 private:
  void Loop(int w) override {
    while (!threads_.stopping()) {
      if (!rt_->RunOnce(w)) CpuRelax();
    }
  }
};

}  // namespace

std::unique_ptr<WorkModel> MakePollModel() { return std::make_unique<PollModel>(); }

}  // namespace netisr::internal
