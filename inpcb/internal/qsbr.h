// The epoch mechanism of kEpoch and of the listener snapshots: liburcu's
// QSBR flavour (quiescent-state-based RCU, `-lurcu-qsbr`). Readers pay
// nothing per lookup — no fence, no store — because a registered thread is
// assumed to be inside a read-side section all the time except when it
// announces a quiescent state (Quiescent(), between bursts) or goes offline.
// A grace period ends once every online registered thread has announced one,
// so a pointer unlinked before call_rcu is freed only after every reader that
// could have seen it has moved on.
//
// ThreadSanitizer cannot see liburcu's synchronization (the library is not
// instrumented and its fast paths are plain loads/stores with fences), so
// under TSan the happens-before edges RCU provides are annotated: a reader
// releases a global sync object before every quiescent state / offline /
// unregister, and each deferred callback acquires it (and the deferring
// writer's own release on the callback's node) before it runs.
#pragma once

#include <cstddef>

namespace netisr::inpcb::internal::qsbr {

// Nestable per thread (several tables may each ThreadEnter the same
// thread): the first Register registers with liburcu and goes online, the
// matching last Unregister unregisters.
void Register();
void Unregister();
// Registered and online on this thread.
bool Online();
void Quiescent();

// A deferred call run after a grace period on liburcu's call_rcu thread.
// Embed it in the object to free; `head` is storage for liburcu's rcu_head.
struct Deferred {
  alignas(void*) unsigned char head[2 * sizeof(void*)];
  void (*fn)(void* ctx) = nullptr;
  void* ctx = nullptr;
};
// Calls fn(ctx) after a grace period. Caller: registered and online.
void Defer(Deferred* d, void (*fn)(void* ctx), void* ctx);
// Waits until every Defer made before it has run. The caller goes offline
// meanwhile if it is online; other online threads must keep announcing
// quiescent states or this never returns.
void Barrier();

}  // namespace netisr::inpcb::internal::qsbr
