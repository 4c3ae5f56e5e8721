// See worker_threads.h. The sleep is a futex wait on WorkerSignal::wake_seq:
// a wake bumps the word before FUTEX_WAKE, so a wake that lands between the
// sleeper's read of the word and its FUTEX_WAIT makes the wait return at
// once (the kernel compares the word) instead of being lost.
#include "netisr/internal/worker_threads.h"

#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <latch>
#include <utility>

namespace netisr::internal {

namespace {

// Timer slack of sleeping workers, ns: how late the kernel may end their
// timed futex waits to batch wakeups. 1 us against Linux's 50 us default,
// which is as long as the whole default idle_sleep_us.
constexpr unsigned long kTimerSlackNs = 1000;

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, const timespec* timeout) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

Status WorkerThreads::Start(WorkerRuntime& rt, std::function<void(int)> loop) {
  rt_ = &rt;
  const int n = rt.num_workers();
  spin_left_.assign(n, SpinBudget{rt.idle_spin()});
  std::vector<Status> started(n);
  std::latch ready(n);
  for (int w = 0; w < n; ++w) {
    threads_.emplace_back([this, w, loop, &started, &ready] {
      if (idle_ == Idle::kSleep) {
        // A sleeping worker with live sources polls them at least every
        // idle_sleep_us, and Linux's default 50 us timer slack may end each
        // of those sleeps up to 50 us late (twice the default
        // idle_sleep_us): the timeout is the latency bound, so the kernel
        // may not stretch it.
        prctl(PR_SET_TIMERSLACK, kTimerSlackNs);
      }
      Status st = rt_->OnWorkerStart(w);
      const bool ok = st.ok();
      started[w] = std::move(st);
      ready.count_down();  // `started` and `ready` are dead past this point
      if (ok) loop(w);
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

void WorkerThreads::Stop() {
  if (threads_.empty()) return;
  // seq_cst: pairs with the fence in SleepUntilWoken, so a worker about to
  // sleep either sees the flag or is asleep by the time Wake runs below.
  stop_.store(true, std::memory_order_seq_cst);
  if (idle_ == Idle::kSleep) {
    for (int w = 0; w < static_cast<int>(threads_.size()); ++w) Wake(w);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void WorkerThreads::SleepUntilWoken(int w) {
  // Spin a little first: a producer's next burst often follows within a
  // few microseconds, and catching it here saves the producer a wake
  // syscall and this thread a sleep/wake cycle (~5-10 us each). A worker
  // with live sources goes back to poll them every kSourcePollPauses; the
  // budget carries over those returns, so an idle period spins idle_spin
  // pauses in all before it sleeps. Measured (threads model, paced 0.5
  // and 2 Mpps, skew 0.9): p50 ~100 us when the spin watched only the
  // queues, ~70 us with the timer slack fix alone, 0.5-1.4 us now
  // (docs/adaptive.md 4, "Light load"; the timer-slack step is in its
  // history, `git show 337e67c:docs/adaptive.md`, session 4).
  uint32_t& left = spin_left_[w].pauses;
  const bool sources = rt_->HasLiveSources(w);
  while (left > 0) {
    --left;
    if (rt_->HasQueued(w) || stop_.load(std::memory_order_relaxed)) return;
    __builtin_ia32_pause();
    if (sources && left % kSourcePollPauses == 0) return;
  }
  left = rt_->idle_spin();  // the next idle period, after this sleep
  WorkerSignal& sig = rt_->signal(w);
  // Acquire: pairs with Wake's release bump, so work published before a
  // wake we observe here is visible to the re-check below.
  const uint32_t seq = sig.wake_seq.load(std::memory_order_acquire);
  // Relaxed: ordered before the re-check by the fence that follows.
  sig.sleeping.store(1, std::memory_order_relaxed);
  // Dekker: pairs with the producer's fence in Dispatcher::Flush (and Stop's
  // seq_cst store): either we see its packets (or the stop flag) below, or
  // it sees sleeping == 1 and bumps wake_seq, failing our FUTEX_WAIT.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!rt_->HasQueued(w) && !stop_.load(std::memory_order_relaxed)) {
    if (rt_->HasLiveSources(w)) {
      // Sources are polled, not signalled: sleep no longer than a NIC's
      // interrupt moderation would.
      const uint32_t us = rt_->idle_sleep_us();
      const timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
      FutexWait(&sig.wake_seq, seq, &ts);
    } else {
      FutexWait(&sig.wake_seq, seq, nullptr);
    }
  }
  // Relaxed: only saves producers a needless Wake; a stale 1 costs a syscall.
  sig.sleeping.store(0, std::memory_order_relaxed);
}

void WorkerThreads::Wake(int w) {
  WorkerSignal& sig = rt_->signal(w);
  // Release: pairs with the acquire load of wake_seq in SleepUntilWoken.
  sig.wake_seq.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&sig.wake_seq);
}

}  // namespace netisr::internal
