// ListenerSet: the listening (wildcard) inpcbs of kGroups, kEpoch and
// kPartitioned, read by lookups without any lock.
//
// The set is an immutable array sorted by (port, family, address),
// published through one atomic pointer. A reader (a QSBR-registered online
// thread) loads it with acquire and binary-searches it; it never writes
// shared memory except the found listener's reference count. A writer
// (serialized on mu_, class "inpcb.listen") copies the array with the change,
// publishes the copy with a release store and hands the old array to
// call_rcu: it is freed after a grace period, when no reader can still be
// searching it. So a reader sees the set before or after a change, never
// half of one: a listener that is not itself being added or removed is
// found by every lookup (the "no lookup lost" guarantee).
//
// References: each published array holds one reference on each of its
// listeners (taken when the array is built, dropped when it is freed), so a
// reader searching an old array may still take a reference on a listener
// removed meanwhile; it then finds removed() set once it locks it, and the
// lookup retries on the new array.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/counter.h"
#include "base/status.h"
#include "inpcb/inpcb.h"
#include "inpcb/internal/qsbr.h"
#include "lockprof/lock.h"

namespace netisr::inpcb::internal {

class ListenerSet {
 public:
  ListenerSet(FreeHook hook, void* hook_arg);
  ~ListenerSet();  // no concurrent use; waits for pending deferred frees
  ListenerSet(const ListenerSet&) = delete;
  ListenerSet& operator=(const ListenerSet&) = delete;

  // Reader (registered online thread; no lock): the listener on
  // t.laddr:t.lport, else on any:t.lport, of t.family, with a reference
  // taken; nullptr if none. `exact_only`: only t.laddr.
  Inpcb* FindRef(const FourTuple& t, bool exact_only = false) const;

  // Writers (registered online thread: they defer frees).
  Result<LockedInpcb> Insert(const FourTuple& t);  // t.listener()
  Status Remove(LockedInpcb& inp);

  // Under mu_ (writers wait), each listener locked while fn runs.
  void ForEach(const std::function<void(const Inpcb&)>& fn);
  // Relaxed; single writer under mu_.
  uint64_t count() const { return count_.Get(); }

  // A listener's search key (port, family, local address) and the listener.
  struct Key {
    uint32_t port_family;
    uint64_t addr[2];
  };
  struct Entry {
    Key key;
    Inpcb* inp;
  };

 private:
  struct Snapshot {
    qsbr::Deferred deferred;
    std::vector<Entry> sorted;  // immutable once published; one reference per inp
  };
  // Publishes `next` (may be null = empty) and defers freeing the old one.
  void Publish(Snapshot* next) REQUIRES(mu_);
  static void FreeSnapshot(void* snapshot);

  const FreeHook hook_;
  void* const hook_arg_;
  // "inpcb.listen": serializes writers; order listen -> inpcb.
  lockprof::Mutex mu_;
  // Written under mu_ (release), read lock-free (acquire), so not
  // GUARDED_BY: Publish, the one writer, REQUIRES(mu_). Null = no listeners.
  std::atomic<Snapshot*> current_{nullptr};
  base::Counter count_;  // written under mu_, read lock-free by count()
};

}  // namespace netisr::inpcb::internal
