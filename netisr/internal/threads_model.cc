// The `threads` work model: one thread per workstream, pinned to its CPU,
// sleeping on a futex when idle.
//
// A worker loops RunOnce until it finds nothing to do, then spins a while
// (idle_spin pauses, going back to poll its live sources every 64) and
// sleeps (the WorkerSignal handshake in work_model.h, implemented by
// WorkerThreads).
// Producers wake it at most once per burst and only if it is asleep, so a
// loaded worker costs no syscalls. A worker that polls ingress sources
// sleeps at most idle_sleep_us, as a NIC driver without interrupts would
// (interrupt moderation). The trade-off against `poll`: an idle worker
// gives its CPU back, at the price of a wakeup's latency on the next burst.
#include "netisr/internal/work_models.h"
#include "netisr/internal/worker_threads.h"

namespace netisr::internal {

namespace {

class ThreadsModel final : public ThreadPerWorkerModel {
 public:
  ThreadsModel() : ThreadPerWorkerModel(WorkerThreads::Idle::kSleep) {}
  ~ThreadsModel() override { Stop(); }
  std::string_view name() const override { return "threads"; }

 private:
  void Loop(int w) override {
    while (!threads_.stopping()) {
      if (rt_->RunOnce(w)) {
        threads_.Worked(w);
      } else {
        threads_.SleepUntilWoken(w);
      }
    }
  }
};

}  // namespace

std::unique_ptr<WorkModel> MakeThreadsModel() { return std::make_unique<ThreadsModel>(); }

}  // namespace netisr::internal
