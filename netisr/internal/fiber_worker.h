// The link between netisr/fiber_sync.h (what a handler waits on) and the
// fibers work model (which fibers a worker runs): the calling fiber's frame
// and the worker that suspends and resumes it. See fibers_model.cc.
#pragma once

#include <boost/fiber/condition_variable.hpp>
#include <cstdint>

#include "base/status.h"
#include "netisr/fiber_sync.h"

namespace netisr::internal {

class FiberWorker;

// What the running code may do, per fiber. Kept in a thread_local because
// a worker's fibers share its thread; every switch point (fiber_sync's
// waits, the model's yields and parks) saves it before switching and
// restores it after, so each fiber sees its own. Handlers must not switch
// fibers any other way (no raw boost::this_fiber calls).
struct FiberFrame {
  FiberWorker* worker = nullptr;  // the fibers-model worker, or nullptr
  bool drain = false;             // a drain fiber (runs queued handlers)
  // Entry-point calls the fiber is inside (NoWaitScope): no waiting there.
  uint32_t no_wait = 0;
};
inline thread_local constinit FiberFrame tls_fiber_frame{};

// Marks a producer's Enter (classification, m2flow/m2cpuid and the
// handlers it runs directly) and the direct fast path's handler, where the
// fiber must not suspend (fiber_sync.h says why). Costs a thread_local
// increment and decrement per entry-point call, on every model.
class NoWaitScope {
 public:
  NoWaitScope() { ++tls_fiber_frame.no_wait; }
  ~NoWaitScope() { --tls_fiber_frame.no_wait; }
  NoWaitScope(const NoWaitScope&) = delete;
  NoWaitScope& operator=(const NoWaitScope&) = delete;
};

// Flushes the calling thread's producer's pending wakeups (Dispatcher::Flush
// on the thread's own dispatcher); a no-op without one. Defined in entry.cc,
// which owns the producer identity (tls_producer). A fiber calls it before
// it suspends, so packets it queued wake their workers now, not at some
// other fiber's flush.
void FlushCurrentProducer();

struct NullLock {
  void lock() {}
  void unlock() {}
};

}  // namespace netisr::internal

namespace netisr::fiber::internal {
struct WaitNode {
  WaitNode* next = nullptr;
  netisr::internal::FiberWorker* worker = nullptr;
  bool woken = false;  // Set / Unlock's hand-off reached this waiter
};
}  // namespace netisr::fiber::internal

namespace netisr::internal {

// One fibers-model worker's waiting machinery; lives on its thread's stack
// and is touched only by that thread's fibers (no locks, no atomics).
class FiberWorker {
 public:
  virtual ~FiberWorker() = default;
  // Suspends the calling drain fiber until Wake(n) or Cancel. Ok if woken;
  // kFailedPrecondition if cancelled (before or during); kResourceExhausted
  // if the model cannot keep another fiber draining.
  Status Block(fiber::internal::WaitNode& n);
  void Wake(fiber::internal::WaitNode& n);
  // fiber::Yield: hands the queues to another drain fiber as Block does,
  // lets every ready fiber run once, and resumes. False, without yielding,
  // if cancelled or at kMaxWaitingHandlers.
  bool YieldOnce();
  // The worker is stopping: ends every Block in progress, fails later ones.
  void Cancel();
  bool cancelling() const { return cancelling_; }
  // True if Wake ran since the last call: a fiber is ready, so the worker
  // must not sleep on its futex.
  bool TakeWoken() {
    const bool w = woken_;
    woken_ = false;
    return w;
  }

 protected:
  // A drain fiber is about to block: the model makes sure another drain
  // fiber will run the queues meanwhile. False if it cannot.
  virtual bool OnBlock() = 0;
  virtual void OnUnblock() = 0;

 private:
  // All blocked fibers of the worker wait here and re-check their own node
  // when notified: few waiters per worker, so one variable beats one each.
  boost::fibers::condition_variable_any cv_;
  bool cancelling_ = false;
  bool woken_ = false;
};

}  // namespace netisr::internal
