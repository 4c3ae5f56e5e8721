// The plain (unprofiled) spin lock under lockprof::SpinLock, and what
// SpinLock is when profiling is compiled out.
//
// Test-and-test-and-set: waiters spin on a relaxed load (the line stays
// shared in their caches) with PAUSE, and only try the exchange once the lock
// looks free, so a held lock costs no coherence traffic beyond the holder's
// release. No fairness, no back-off to the scheduler: for critical sections
// of tens of nanoseconds between threads on different CPUs; a holder that
// is preempted makes waiters burn their quantum (use Mutex when a holder can
// block or run long).
#pragma once

#include <x86intrin.h>

#include <atomic>

#include "lockprof/thread_annotations.h"

namespace netisr::lockprof::internal {

// A capability for the thread-safety analysis; lock/try_lock/unlock are its
// implementation, which the analysis cannot check (NO_THREAD_SAFETY_ANALYSIS).
class CAPABILITY("mutex") PlainSpinLock {
 public:
  PlainSpinLock() = default;
  PlainSpinLock(const PlainSpinLock&) = delete;
  PlainSpinLock& operator=(const PlainSpinLock&) = delete;

  // acquire on the successful exchange pairs with the release in unlock():
  // the previous holder's writes are visible to the next holder.
  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) _mm_pause();
    }
  }
  bool try_lock() TRY_ACQUIRE(true) NO_THREAD_SAFETY_ANALYSIS {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace netisr::lockprof::internal
