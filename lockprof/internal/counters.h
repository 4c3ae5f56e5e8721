// Per-thread counter blocks behind the profiled locks (internal to lockprof).
//
// Every thread that takes a profiled lock gets one ThreadBlock: a counter
// line per lock class, written only by that thread and read by Snapshot().
// The counters are base::Counters (base/counter.h): a single writer, so an
// add is a relaxed load, add, store, no read-modify-write; on x86 the same
// MOVs as a plain uint64_t. The relaxed atomics make the cross-thread reads
// of Snapshot/Reset data-race free; they need no ordering with anything
// else: a snapshot is a sum of
// independent counters, exact once the writers are quiescent (joined or
// between locks), approximate while they run.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/counter.h"

namespace netisr::lockprof {

// Bound on distinct lock-class names (ids 0..kMaxClasses-1). 256 covers every
// lock kind of a network stack many times over (FreeBSD's witness tracks
// ~400 classes for the whole kernel); each class costs 64 bytes in every
// thread's block (16 KiB per thread at 256). Names past the bound share one
// extra slot, kOverflowClassId, reported as "lockprof.overflow".
inline constexpr uint32_t kMaxClasses = 256;
inline constexpr uint32_t kOverflowClassId = kMaxClasses;

namespace internal {

inline constexpr uint32_t kUnregistered = ~uint32_t{0};

// One cache line per class per thread. Written only by the owning thread
// (relaxed load + relaxed store); read by Snapshot and zeroed by Reset under
// the registry lock (relaxed). See the file comment.
struct alignas(64) Counters {
  base::Counter acquisitions;         // exclusive + shared
  base::Counter shared_acquisitions;  // the shared subset
  base::Counter contended;            // the first try failed
  base::Counter try_failures;         // try_lock*/try_lock_shared returned false
  base::Counter wait_ns;
  base::Counter max_wait_ns;
  base::Counter hold_ns;
  base::Counter max_hold_ns;
};
static_assert(sizeof(Counters) == 64);

// Shared (reader) holds cannot keep their start time in the lock (several
// readers hold it at once), so each thread keeps the start of its own shared
// holds here, a small stack searched from the top (releases are normally
// LIFO). 16 nested shared holds by one thread is far beyond any lock order in
// this tree; a 17th is still counted as an acquisition but its hold time is
// not measured (documented in lock.h).
inline constexpr uint32_t kMaxHeldShared = 16;
struct HeldShared {
  const void* lock;
  uint64_t start_ns;
};

// The calling thread's shared holds, [0, t_held_count). Owner thread only
// (never read by others): plain thread_locals, constinit so the hot path
// reaches them without a TLS init wrapper.
extern constinit thread_local HeldShared t_held[kMaxHeldShared];
extern constinit thread_local uint32_t t_held_count;

struct ThreadBlock {
  Counters per_class[kMaxClasses + 1];  // + the overflow slot
};

// The calling thread's block; nullptr until its first profiled acquisition.
// constinit: no TLS init wrapper on the hot path.
extern constinit thread_local ThreadBlock* t_block;

// Allocates and registers the calling thread's block (slow path, once per
// thread) and returns it.
ThreadBlock* RegisterThisThread();

inline ThreadBlock& ThisThread() {
  ThreadBlock* b = t_block;
  if (b == nullptr) [[unlikely]] {
    b = RegisterThisThread();
  }
  return *b;
}

// Run-time switch. Relaxed: it only gates whether the next acquisition is
// measured; a thread seeing the flip a little late measures one lock more or
// less, which is the nature of turning a profiler on.
// Own cache line: read by every lock and unlock in the process, written only
// by SetEnabled, so no neighbouring global's writes can invalidate it.
struct alignas(64) EnabledFlag {
  std::atomic<bool> on{true};
};
static_assert(sizeof(EnabledFlag) == 64);
extern EnabledFlag g_enabled;

inline bool On() { return g_enabled.on.load(std::memory_order_relaxed); }

// Assigns the next dense id to `name` (or the id it already has: classes are
// identified by name), under the registry lock.
uint32_t RegisterClass(const char* name);

}  // namespace internal
}  // namespace netisr::lockprof
