// The plain (unprofiled) sleeping locks under lockprof::Mutex and
// SharedMutex, and what those are when profiling is compiled out: the
// standard locks made adaptive, as FreeBSD's mutex(9) and rwlock(9) are.
//
// Why: glibc's pthread_rwlock (std::shared_mutex) sleeps in the kernel on
// the first failed attempt, and std::mutex after a few. On this 2-vCPU VM a
// futex sleep/wake round costs 10-30 us, while the critical sections guarded
// here (a hash-chain walk, an insert) last 100-200 ns: a waiter that sleeps
// pays ~100x the wait it needed. `netisr lockprof --strategy global
// --workload churn --workers 2` measured 0.26 M ops/s with sleeping locks
// (7% of info-lock acquisitions contended, 30 us average wait) against
// 3.5 M ops/s on one worker. FreeBSD's locks spin while the owner runs and
// sleep only when it does not; user space cannot see whether the owner
// runs, so a waiter here retries for a bounded time and then sleeps.
//
// kAdaptiveSpins bounds the retries: each is one PAUSE (~40 cycles on
// Skylake-era cores, ~140 on Ice Lake and later) plus one try (a CAS), so
// 256 rounds are ~2-10 us — longer than the sections these locks guard,
// shorter than a futex round trip, and short enough that a waiter whose
// owner was preempted burns little before sleeping. No fairness beyond the
// underlying lock's.
//
// Thread-safety analysis: libstdc++'s locks carry no capability attributes,
// so each class here re-declares the lock functions it uses with them
// (lockprof/thread_annotations.h). Those bodies are the locks' own
// implementation, where the analysis has nothing to check (it would see an
// ACQUIRE function acquire nothing it knows of): NO_THREAD_SAFETY_ANALYSIS.
#pragma once

#include <x86intrin.h>

#include <mutex>
#include <shared_mutex>

#include "lockprof/thread_annotations.h"

namespace netisr::lockprof::internal {

inline constexpr int kAdaptiveSpins = 256;  // rounds of PAUSE + try; see above

// Retries `try_once` up to kAdaptiveSpins times with a PAUSE between tries;
// true as soon as one succeeds.
template <class TryFn>
bool SpinTry(TryFn try_once) {
  for (int i = 0; i < kAdaptiveSpins; ++i) {
    _mm_pause();
    if (try_once()) return true;
  }
  return false;
}

// std::mutex as a capability, nothing more: for lockprof's own registry
// lock (never profiled) and as the base of AdaptiveMutex.
class CAPABILITY("mutex") PlainMutex : public std::mutex {
 public:
  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS { std::mutex::lock(); }
  bool try_lock() TRY_ACQUIRE(true) NO_THREAD_SAFETY_ANALYSIS { return std::mutex::try_lock(); }
  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS { std::mutex::unlock(); }
};

class CAPABILITY("mutex") AdaptiveMutex : public PlainMutex {
 public:
  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    auto try_once = [this] { return std::mutex::try_lock(); };
    if (try_once() || SpinTry(try_once)) return;
    std::mutex::lock();
  }
};

class CAPABILITY("mutex") AdaptiveSharedMutex : public std::shared_mutex {
 public:
  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    auto try_once = [this] { return std::shared_mutex::try_lock(); };
    if (try_once() || SpinTry(try_once)) return;
    std::shared_mutex::lock();
  }
  bool try_lock() TRY_ACQUIRE(true) NO_THREAD_SAFETY_ANALYSIS {
    return std::shared_mutex::try_lock();
  }
  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS { std::shared_mutex::unlock(); }

  void lock_shared() ACQUIRE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    auto try_once = [this] { return std::shared_mutex::try_lock_shared(); };
    if (try_once() || SpinTry(try_once)) return;
    std::shared_mutex::lock_shared();
  }
  bool try_lock_shared() TRY_ACQUIRE_SHARED(true) NO_THREAD_SAFETY_ANALYSIS {
    return std::shared_mutex::try_lock_shared();
  }
  void unlock_shared() RELEASE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    std::shared_mutex::unlock_shared();
  }
};

}  // namespace netisr::lockprof::internal
