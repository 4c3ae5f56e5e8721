#include "inpcb/internal/qsbr.h"

#include <urcu/urcu-qsbr.h>

#include <new>

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

void Barrier() {
  const bool was_online = t_online;
  if (was_online) GoOffline();
  urcu_qsbr_barrier();
  if (was_online) GoOnline();
}

}  // namespace netisr::inpcb::internal::qsbr
