// The `threads` work model: one thread per workstream, pinned to its CPU,
// sleeping on a futex when idle.
//
// A worker loops RunOnce until it finds nothing to do, then sleeps (the
// WorkerSignal handshake in work_model.h). Producers wake it at most once
// per burst and only if it is asleep, so a loaded worker costs no syscalls.
// A worker that polls ingress sources sleeps at most idle_sleep_us, as a
// NIC driver without interrupts would (interrupt moderation).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <ctime>
#include <latch>
#include <thread>
#include <vector>

#include "netisr/internal/work_models.h"

namespace netisr::internal {

namespace {

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, const timespec* timeout) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

class ThreadsModel final : public WorkModel {
 public:
  ~ThreadsModel() override { Stop(); }
  std::string_view name() const override { return "threads"; }
  bool self_driven() const override { return true; }
  bool Pump() override { return false; }

  Status Start(WorkerRuntime& rt) override {
    rt_ = &rt;
    const int n = rt.num_workers();
    std::vector<Status> started(n);
    std::latch ready(n);
    for (int w = 0; w < n; ++w) {
      threads_.emplace_back([this, w, &started, &ready] {
        Status st = rt_->OnWorkerStart(w);
        const bool ok = st.ok();
        started[w] = std::move(st);
        ready.count_down();  // `started` and `ready` are dead past this point
        if (ok) Loop(w);
      });
    }
    ready.wait();
    for (Status& st : started) {
      if (!st.ok()) {
        Stop();
        return st;
      }
    }
    return Status::Ok();
  }

  void Wake(int worker) override {
    WorkerSignal& sig = rt_->signal(worker);
    // Release: pairs with the acquire load of wake_seq before sleeping.
    sig.wake_seq.fetch_add(1, std::memory_order_release);
    FutexWakeAll(&sig.wake_seq);
  }

  void Stop() override {
    if (threads_.empty()) return;
    // seq_cst store: pairs with the worker's fence before it re-checks stop_.
    stop_.store(true, std::memory_order_seq_cst);
    for (int w = 0; w < static_cast<int>(threads_.size()); ++w) Wake(w);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Loop(int w) {
    WorkerSignal& sig = rt_->signal(w);
    while (!stop_.load(std::memory_order_relaxed)) {
      if (rt_->RunOnce(w)) continue;
      const uint32_t seq = sig.wake_seq.load(std::memory_order_acquire);
      sig.sleeping.store(1, std::memory_order_relaxed);
      // Dekker: pairs with the producer's fence in Netisr::Flush.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (!rt_->HasQueued(w) && !stop_.load(std::memory_order_relaxed)) {
        if (rt_->HasLiveSources(w)) {
          const uint32_t us = rt_->idle_sleep_us();
          const timespec ts{static_cast<time_t>(us / 1000000),
                            static_cast<long>(us % 1000000) * 1000};
          FutexWait(&sig.wake_seq, seq, &ts);
        } else {
          FutexWait(&sig.wake_seq, seq, nullptr);
        }
      }
      sig.sleeping.store(0, std::memory_order_relaxed);
    }
  }

  WorkerRuntime* rt_ = nullptr;
  std::vector<std::thread> threads_;  // control thread only (Start/Stop)
  std::atomic<bool> stop_{false};
};

}  // namespace

std::unique_ptr<WorkModel> MakeThreadsModel() { return std::make_unique<ThreadsModel>(); }

}  // namespace netisr::internal
