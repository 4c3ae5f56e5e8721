// Lock-contention profiling: drop-in Mutex, SharedMutex and SpinLock that
// count, per lock class, acquisitions, contended acquisitions, wait time and
// hold time, like FreeBSD's LOCK_PROFILING and Solaris/illumos lockstat.
//
// What it guarantees:
//  * The profiler adds no contention of its own: every thread counts into its
//    own thread_local block (one 64-byte line per class, single writer,
//    relaxed load+store, no read-modify-write, no shared line). The only
//    shared lock is the registry's plain std::mutex, taken once per class
//    (first lock constructed with it), once per thread (first profiled
//    acquisition, and at thread exit), and by Snapshot/Reset.
//  * Counts are exact once the threads that took the locks are quiescent: a
//    thread's block survives its exit (folded into a retired total), so a
//    Snapshot after join() counts everything.
//  * "contended" = the first try failed; wait = from just after that failed
//    try to acquisition (the ~20 ns try itself is not counted); measured only
//    when contended, so an uncontended acquisition reads the clock once (hold
//    start) and its release once (hold end). Hold = acquisition to release.
//  * A failed try_lock/try_lock_shared is not an acquisition: it counts in
//    try_failures only. Shared (reader) acquisitions count in acquisitions and
//    also in shared_acquisitions; a thread's 17th nested shared hold is
//    counted but its hold time is not measured (internal::kMaxHeldShared).
//  * Lock classes are identified by name: two LockClass objects with the same
//    name are one class. At most kMaxClasses (256) names; further names are
//    counted together as "lockprof.overflow" and a one-line warning naming
//    the class goes to stderr once per name (the process goes on: a profiler
//    must not take down what it measures).
//
// Costs (benchmarks/lockprof/lock_bench.cc, figures in docs/architecture.md):
//  * Run-time off (SetEnabled(false)): one predictable branch on a relaxed
//    global load at lock and one on a field of the lock (or a thread_local,
//    for shared) at unlock.
//  * On: two FastClock reads (RDTSC, ~10 ns each here) and ~6 relaxed
//    thread-local loads/stores per acquire/release.
//  * Compile-time off (bazel --define=lockprof=off, which defines
//    NETISR_LOCKPROF_DISABLED for every dependent): the types *are* the plain
//    locks (internal::AdaptiveMutex, internal::AdaptiveSharedMutex,
//    internal::PlainSpinLock) with the same constructors; Snapshot() is
//    empty and Enabled() is false.
//  * Clang thread-safety analysis (`bazel build --config=tsa`): every lock
//    here is a capability (lockprof/thread_annotations.h) in both builds, and
//    MutexLock / ReaderLock / UniqueLock below are the scoped guards the
//    analysis understands (libstdc++'s std::lock_guard is not annotated: a
//    field marked GUARDED_BY(mu) must be reached under one of these).
//  * The sleeping locks are adaptive (internal/adaptive.h): a waiter retries
//    for a bounded ~2-10 us before it sleeps, as FreeBSD's mutex(9) and
//    rwlock(9) spin while the owner runs. Wait time counts the spin.
//
// Clock: sched_feedback's FastClock (lockprof -> sched_feedback; both are
// leaves below netisr). Its ~20 ms calibration runs at the first class
// registration, i.e. when the first profiled lock is constructed, not under
// a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "lockprof/internal/adaptive.h"
#include "lockprof/internal/counters.h"
#include "lockprof/internal/plain_spin_lock.h"
#include "lockprof/thread_annotations.h"
#include "sched_feedback/clock.h"

namespace netisr::lockprof {

#ifdef NETISR_LOCKPROF_DISABLED
inline constexpr bool kCompiledIn = false;
#else
inline constexpr bool kCompiledIn = true;
#endif

// A lock class: a name shared by every lock of one kind ("inpcb.info",
// "netisr.registration", ...). Declare one object of static storage duration
// per class (`inline constinit LockClass kInfoLock("inpcb.info");` or a
// function-local static). The constructor is constexpr (so constinit works);
// the class registers itself, getting its dense id, on first use (the first
// lock constructed with it, or id()).
class LockClass {
 public:
  explicit constexpr LockClass(const char* name) : name_(name) {}
  LockClass(const LockClass&) = delete;
  LockClass& operator=(const LockClass&) = delete;

  // Dense id in [0, kMaxClasses), or kOverflowClassId past the bound.
  uint32_t id() const {
    // Relaxed: the id is a plain index; RegisterClass is idempotent per name,
    // so racing first users store the same value.
    uint32_t id = id_.load(std::memory_order_relaxed);
    if (id == internal::kUnregistered) [[unlikely]] {
      id = internal::RegisterClass(name_);
      id_.store(id, std::memory_order_relaxed);
    }
    return id;
  }
  const char* name() const { return name_; }

 private:
  const char* name_;
  mutable std::atomic<uint32_t> id_{internal::kUnregistered};
};

// Run-time switch (default: on). Takes effect for acquisitions that start
// after the flip; a hold that started measured is measured to its end.
void SetEnabled(bool on);
bool Enabled();

// Per-class totals over all threads, live and exited.
struct ClassStats {
  std::string name;
  uint64_t acquisitions = 0;  // exclusive + shared, successful try_lock included
  // Acquisitions whose first try failed. Counted when the try fails, before
  // waiting, so a Snapshot taken while threads wait shows them here already
  // (and contended may briefly exceed acquisitions).
  uint64_t contended = 0;
  uint64_t wait_ns = 0;  // total wait of the contended acquisitions
  uint64_t max_wait_ns = 0;
  uint64_t hold_ns = 0;  // total hold (shared holds included)
  uint64_t max_hold_ns = 0;
  uint64_t shared_acquisitions = 0;  // the reader subset of acquisitions
  uint64_t try_failures = 0;         // try_lock / try_lock_shared that returned false
};

// Classes with acquisitions or try failures, sorted by wait_ns descending
// (ties by name). Exact for threads that are not inside a profiled lock call.
std::vector<ClassStats> Snapshot();
// Zeroes every thread's counters. Call while no thread is acquiring or
// releasing a profiled lock: a thread updating a counter concurrently may
// write back its pre-reset value (single-writer counters, see counters.h).
void Reset();

namespace internal {

// Profiled exclusive locking over a plain lock L; the hold start lives in the
// lock object, written and read only by the holder (protected by L itself).
// lock/try_lock/unlock are the capability's implementation, which the
// analysis cannot check against itself: NO_THREAD_SAFETY_ANALYSIS.
template <class L>
class CAPABILITY("mutex") Exclusive {
 public:
  explicit Exclusive(const LockClass& cls) : class_id_(cls.id()) {}
  Exclusive(const Exclusive&) = delete;
  Exclusive& operator=(const Exclusive&) = delete;

  void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    if (!On()) [[unlikely]] {
      lock_.lock();
      return;
    }
    Counters& c = ThisThread().per_class[class_id_];
    uint64_t now;
    if (lock_.try_lock()) [[likely]] {
      now = sched::NowNs();
    } else {
      const uint64_t first_try = sched::NowNs();
      c.contended.Add(1);  // before blocking: Snapshot shows who is waiting
      lock_.lock();
      now = sched::NowNs();
      Waited(c, now - first_try);
    }
    c.acquisitions.Add(1);
    hold_start_ns_ = now;
  }

  bool try_lock() TRY_ACQUIRE(true) NO_THREAD_SAFETY_ANALYSIS {
    if (!On()) [[unlikely]] {
      return lock_.try_lock();
    }
    Counters& c = ThisThread().per_class[class_id_];
    if (!lock_.try_lock()) {
      c.try_failures.Add(1);
      return false;
    }
    c.acquisitions.Add(1);
    hold_start_ns_ = sched::NowNs();
    return true;
  }

  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    // Nonzero only while held by an acquisition made with profiling on
    // (NowNs is nanoseconds since boot, never 0).
    const uint64_t start = hold_start_ns_;
    if (start != 0) {
      hold_start_ns_ = 0;
      Held(ThisThread().per_class[class_id_], sched::NowNs() - start);
    }
    lock_.unlock();
  }

  static void Waited(Counters& c, uint64_t wait) {
    c.wait_ns.Add(wait);
    c.max_wait_ns.Max(wait);
  }
  static void Held(Counters& c, uint64_t hold) {
    c.hold_ns.Add(hold);
    c.max_hold_ns.Max(hold);
  }

 protected:
  L lock_;
  const uint32_t class_id_;
  uint64_t hold_start_ns_ GUARDED_BY(lock_) = 0;  // exclusive holder only
};

}  // namespace internal

#ifndef NETISR_LOCKPROF_DISABLED

class CAPABILITY("mutex") Mutex : public internal::Exclusive<internal::AdaptiveMutex> {
 public:
  explicit Mutex(const LockClass& cls) : Exclusive(cls) {}
};

class CAPABILITY("mutex") SpinLock : public internal::Exclusive<internal::PlainSpinLock> {
 public:
  explicit SpinLock(const LockClass& cls) : Exclusive(cls) {}
};

// Reader/writer lock. Writers as Mutex; readers keep their hold start in a
// per-thread stack (internal::t_held) since several hold it at once.
class CAPABILITY("mutex") SharedMutex : public internal::Exclusive<internal::AdaptiveSharedMutex> {
 public:
  explicit SharedMutex(const LockClass& cls) : Exclusive(cls) {}

  void lock_shared() ACQUIRE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    if (!internal::On()) [[unlikely]] {
      lock_.lock_shared();
      return;
    }
    internal::Counters& c = internal::ThisThread().per_class[class_id_];
    uint64_t now;
    if (lock_.try_lock_shared()) [[likely]] {
      now = sched::NowNs();
    } else {
      const uint64_t first_try = sched::NowNs();
      c.contended.Add(1);  // before blocking: Snapshot shows who is waiting
      lock_.lock_shared();
      now = sched::NowNs();
      Waited(c, now - first_try);
    }
    SharedAcquired(c, now);
  }

  bool try_lock_shared() TRY_ACQUIRE_SHARED(true) NO_THREAD_SAFETY_ANALYSIS {
    if (!internal::On()) [[unlikely]] {
      return lock_.try_lock_shared();
    }
    internal::Counters& c = internal::ThisThread().per_class[class_id_];
    if (!lock_.try_lock_shared()) {
      c.try_failures.Add(1);
      return false;
    }
    SharedAcquired(c, sched::NowNs());
    return true;
  }

  void unlock_shared() RELEASE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    if (internal::t_held_count != 0) {
      ReleaseShared();
    }
    lock_.unlock_shared();
  }

 private:
  void SharedAcquired(internal::Counters& c, uint64_t now) {
    c.acquisitions.Add(1);
    c.shared_acquisitions.Add(1);
    if (internal::t_held_count < internal::kMaxHeldShared) [[likely]] {
      internal::t_held[internal::t_held_count++] = {this, now};
    }
  }

  // Finds this lock's entry from the top of the thread's stack (absent if
  // it was taken with profiling off or past the stack bound).
  void ReleaseShared() {
    for (uint32_t i = internal::t_held_count; i-- > 0;) {
      if (internal::t_held[i].lock == this) {
        const uint64_t start = internal::t_held[i].start_ns;
        internal::t_held[i] = internal::t_held[--internal::t_held_count];
        Held(internal::ThisThread().per_class[class_id_], sched::NowNs() - start);
        return;
      }
    }
  }
};

#else  // NETISR_LOCKPROF_DISABLED: the plain locks.

class CAPABILITY("mutex") Mutex : public internal::AdaptiveMutex {
 public:
  explicit Mutex(const LockClass&) {}
};

class CAPABILITY("mutex") SpinLock : public internal::PlainSpinLock {
 public:
  explicit SpinLock(const LockClass&) {}
};

class CAPABILITY("mutex") SharedMutex : public internal::AdaptiveSharedMutex {
 public:
  explicit SharedMutex(const LockClass&) {}
};

#endif  // NETISR_LOCKPROF_DISABLED

// std::mutex as a capability, never profiled: for a lock taken where
// lockprof's per-thread state may already be gone (a thread_local destructor
// at thread exit; netisr's pool cache-slot mutex), so that what it protects
// can still carry GUARDED_BY.
using PlainMutex = internal::PlainMutex;

// Scoped guards the thread-safety analysis follows (std::lock_guard,
// std::shared_lock and std::unique_lock are not annotated in libstdc++).
// For any of the locks above and PlainMutex.

// Holds `m` exclusively for the guard's scope: std::lock_guard.
template <class M>
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(M& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  M& m_;
};

// Holds `m` shared for the guard's scope: std::shared_lock without its
// deferred/try/unlock forms.
template <class M>
class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(M& m) ACQUIRE_SHARED(m) : m_(m) { m_.lock_shared(); }
  ~ReaderLock() RELEASE() { m_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  M& m_;
};

// Holds `m` exclusively from construction, and can let go and take it again:
// what std::condition_variable_any::wait needs (it calls unlock() and
// lock()). Wait in a loop on the condition (`while (!done) cv.wait(g);`)
// rather than with a predicate lambda: a lambda is a function of its own to
// the analysis, which cannot see that wait() calls it with `m` held.
template <class M>
class SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(M& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~UniqueLock() RELEASE() {
    if (held_) m_.unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() ACQUIRE() {
    m_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    m_.unlock();
  }

 private:
  M& m_;
  bool held_ = true;
};

}  // namespace netisr::lockprof
