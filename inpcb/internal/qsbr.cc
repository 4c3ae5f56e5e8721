#include "inpcb/internal/qsbr.h"

#include <urcu/urcu-qsbr.h>

#include <condition_variable>
#include <new>

#include "inpcb/internal/lock_classes.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define INPCB_TSAN_RELEASE(p) __tsan_release(p)
#define INPCB_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define INPCB_TSAN_RELEASE(p) ((void)(p))
#define INPCB_TSAN_ACQUIRE(p) ((void)(p))
#endif

namespace netisr::inpcb::internal::qsbr {

namespace {

static_assert(sizeof(rcu_head) <= sizeof(Deferred::head), "Deferred::head too small");
static_assert(alignof(rcu_head) <= alignof(void*), "Deferred::head misaligned");

// Only its address is used (TSan sync object).
char g_readers_sync;

// This thread's registration depth and online state (thread-confined).
thread_local int t_depth = 0;
thread_local bool t_online = false;

void GoOffline() {
  INPCB_TSAN_RELEASE(&g_readers_sync);
  urcu_qsbr_thread_offline();
  t_online = false;
}

void GoOnline() {
  urcu_qsbr_thread_online();
  t_online = true;
}

// A thread that ends while registered would hold up every grace period
// forever (liburcu keeps waiting for its quiescent state): unregister it at
// thread exit if ThreadExit was forgotten.
struct ExitGuard {
  ~ExitGuard() {
    if (t_depth > 0) {
      t_depth = 1;
      Unregister();
    }
  }
};
thread_local ExitGuard t_exit_guard;

void Trampoline(rcu_head* h) {
  // Deferred is standard layout and head its first member.
  Deferred* d = reinterpret_cast<Deferred*>(reinterpret_cast<unsigned char*>(h));
  INPCB_TSAN_ACQUIRE(&g_readers_sync);  // every reader's accesses before its quiescent state
  INPCB_TSAN_ACQUIRE(d);                // the writer's accesses before Defer
  d->fn(d->ctx);
}

}  // namespace

void Register() {
  if (t_depth++ == 0) {
    (void)&t_exit_guard;          // constructs it on this thread, so its destructor runs
    urcu_qsbr_register_thread();  // registers online
    t_online = true;
  }
}

void Unregister() {
  if (t_depth == 0) return;
  if (--t_depth == 0) {
    INPCB_TSAN_RELEASE(&g_readers_sync);
    urcu_qsbr_unregister_thread();
    t_online = false;
  }
}

bool Online() { return t_online; }

void Quiescent() {
  if (!t_online) return;
  INPCB_TSAN_RELEASE(&g_readers_sync);
  urcu_qsbr_quiescent_state();
}

void Defer(Deferred* d, void (*fn)(void* ctx), void* ctx) {
  d->fn = fn;
  d->ctx = ctx;
  INPCB_TSAN_RELEASE(d);
  urcu_qsbr_call_rcu(new (d->head) rcu_head{}, Trampoline);
}

// Not urcu_qsbr_barrier(): it hands a calloc'ed node to the call_rcu thread
// through liburcu's (uninstrumented) queue, which TSan reports as a race
// inside the library. A deferred call of our own does the same job: the
// call_rcu thread runs callbacks in the order they were queued (one default
// call_rcu thread; inpcb creates no per-CPU ones), so once ours has run,
// every earlier one has.
void Barrier() {
  struct Waiter {
    Deferred deferred;
    lockprof::Mutex mu{kBarrierLock};
    std::condition_variable_any cv;
    bool done GUARDED_BY(mu) = false;
  } w;
  const bool was_registered = t_depth > 0;
  const bool was_online = t_online;
  if (!was_registered) {
    Register();  // call_rcu wants a registered online caller
  } else if (!was_online) {
    GoOnline();
  }
  Defer(
      &w.deferred,
      [](void* p) {
        auto* w = static_cast<Waiter*>(p);
        // Notify under the lock: the waiter cannot return (and destroy w)
        // before we have let go of it.
        lockprof::MutexLock g(w->mu);
        w->done = true;
        w->cv.notify_one();
      },
      &w);
  GoOffline();  // our own quiescent state must not hold up the wait
  {
    lockprof::UniqueLock g(w.mu);
    while (!w.done) w.cv.wait(g);  // a loop, not a predicate: see UniqueLock
  }
  if (!was_registered) {
    Unregister();
  } else if (was_online) {
    GoOnline();
  }
}

}  // namespace netisr::inpcb::internal::qsbr
