// Cooperative waiting for protocol handlers: fiber-aware Event and Mutex,
// and Yield. Under the `fibers` work model a handler may wait on these and
// the worker runs its other protocol work meanwhile, on the same thread,
// with no lock for per-CPU state (the rump kernel's idea: a virtual CPU
// scheduled by its host thread; a blocked thread gives the CPU to another).
//
// Where a caller may wait (CanWait): in a handler that a `fibers` worker
// runs from its queues (deferred work, DrainQueues), not inside a dispatch
// that handler makes itself. Everywhere else waiting is refused, never
// attempted:
//  * other work models (threads, poll, inline), non-worker threads, and the
//    final drain at Stop: a wait would block the only context that could
//    end it, as it would deadlock a thread;
//  * handlers run directly (direct or hybrid dispatch, including nested
//    dispatch from another handler) and ingress sources: they run inside
//    the producer's Enter, whose per-chunk classification (flow buckets
//    filed to run with the suspended packet) another fiber's dispatch would
//    not see, so a later packet of the flow could run first.
// There, Wait and a contended Lock return kFailedPrecondition at once and
// Yield returns false without yielding; Set, Reset, TryLock and Unlock work
// in every context.
//
// What a wait keeps (see internal/fibers_model.cc for the dispatcher side):
//  * Per-flow order: the waiting handler's lane runs nothing else until the
//    handler returns (its `handled` count does not move), so no later packet
//    of its flows from the same producer runs, queued or direct, before it.
//  * Conservation: the handler still owns its packets; whatever its wait
//    returns, it must release or pass each one on, as always.
//  * Stop: a worker that stops ends every wait in progress (and refuses new
//    ones) with kFailedPrecondition "worker stopping", so Stop never waits
//    for an Event nobody will set.
//  * At most kMaxWaitingHandlers handlers wait at once on one worker; the
//    wait that would exceed it returns kResourceExhausted at once.
//
// Objects are per worker: an Event or Mutex is used by the handlers of one
// worker (per-CPU state); calls from two threads at once are a data race,
// as for any per-CPU state. They are not recursive and not timed.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace netisr::fiber {

// Handlers that may be waiting at once on one fibers-model worker: each
// holds a fiber (a 1 MiB reserved stack) and its lane; more than this many
// on one CPU means work that should be queued, not waited for.
inline constexpr int kMaxWaitingHandlers = 64;

// True if the caller may suspend here (see above).
bool CanWait();

// Lets the worker's other fibers run once (source polling, other lanes:
// another drain fiber takes the queues meanwhile, as for a wait) and
// returns true, where CanWait(). Returns false at once elsewhere, once the
// worker is stopping, or with kMaxWaitingHandlers handlers already waiting:
// a handler that yields until something happens must give up on false, or
// Stop would wait for it forever.
bool Yield();

namespace internal {
// A fiber suspended in Event::Wait or Mutex::Lock, linked into the object's
// FIFO of waiters. Lives on the waiting fiber's stack.
struct WaitNode;
struct WaitList {
  WaitNode* head = nullptr;
  WaitNode* tail = nullptr;
};
}  // namespace internal

// A flag handlers wait for. Set wakes every waiter; it stays set until Reset.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  // Must not be destroyed while a handler waits on it.
  ~Event() = default;

  void Set();
  void Reset() { set_ = false; }
  bool is_set() const { return set_; }
  // Ok once the event is set (at once if it already is). Errors:
  // kFailedPrecondition where !CanWait() or the worker stops while waiting,
  // kResourceExhausted past kMaxWaitingHandlers.
  Status Wait();

 private:
  bool set_ = false;
  internal::WaitList waiters_;
};

// Mutual exclusion between handlers of one worker across their waits.
// Unlock hands the mutex to the longest waiter (FIFO, no barging).
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  ~Mutex() = default;

  bool TryLock();
  // Ok once the caller holds the mutex (at once if free). Errors as
  // Event::Wait's; on error the caller does not hold it.
  Status Lock();
  // By the holder only.
  void Unlock();
  bool locked() const { return locked_; }

 private:
  bool locked_ = false;
  internal::WaitList waiters_;
};

}  // namespace netisr::fiber
