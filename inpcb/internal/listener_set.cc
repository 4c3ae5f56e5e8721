#include "inpcb/internal/listener_set.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "inpcb/internal/access.h"
#include "inpcb/internal/lock_classes.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb::internal {

namespace {

// The sort key as integers, kept next to the pointer so a search compares
// in-line words instead of dereferencing each probed inpcb and memcmp-ing
// its address: port and family first (the discriminating fields), then the
// address as two native-order words (any consistent order will do).
ListenerSet::Key KeyOf(const FourTuple& t) {
  ListenerSet::Key k;
  k.port_family = (uint32_t{t.lport} << 8) | static_cast<uint8_t>(t.family);
  std::memcpy(k.addr, t.laddr.bytes.data(), sizeof(k.addr));
  return k;
}

auto Tie(const ListenerSet::Key& k) { return std::tie(k.port_family, k.addr[0], k.addr[1]); }

bool EntryLess(const ListenerSet::Entry& e, const ListenerSet::Key& k) {
  return Tie(e.key) < Tie(k);
}

// The listener with exactly t's (port, family, address) in `v`, or nullptr.
Inpcb* Search(const std::vector<ListenerSet::Entry>& v, const FourTuple& t) {
  const ListenerSet::Key k = KeyOf(t);
  auto it = std::lower_bound(v.begin(), v.end(), k, EntryLess);
  return (it != v.end() && Tie(it->key) == Tie(k)) ? it->inp : nullptr;
}

}  // namespace

ListenerSet::ListenerSet(FreeHook hook, void* hook_arg)
    : hook_(hook), hook_arg_(hook_arg), mu_(kListenLock) {}

ListenerSet::~ListenerSet() {
  // Earlier arrays first (their callbacks unreference listeners the current
  // array may also hold), then the current one directly: no reader is left.
  qsbr::Barrier();
  Snapshot* s = current_.load(std::memory_order_relaxed);
  if (s != nullptr) FreeSnapshot(s);
}

Inpcb* ListenerSet::FindRef(const FourTuple& t, bool exact_only) const {
  // Acquire pairs with Publish's release: the array and the listeners'
  // immutable fields are visible.
  const Snapshot* s = current_.load(std::memory_order_acquire);
  if (s == nullptr) return nullptr;
  Inpcb* found = Search(s->sorted, t);
  if (found == nullptr && !exact_only && !t.laddr.any()) {
    FourTuple any = t;
    any.laddr = IpAddr{};
    found = Search(s->sorted, any);
  }
  // The array's own reference keeps `found` alive until a grace period
  // after the array is replaced, which cannot end before this thread's next
  // quiescent state: the relaxed increment is safe (see inpcb.h).
  if (found != nullptr) InpcbAccess::Ref(*found);
  return found;
}

Result<LockedInpcb> ListenerSet::Insert(const FourTuple& t) {
  if (!qsbr::Online()) {
    return Status(ErrorCode::kFailedPrecondition,
                  "inpcb: listener insert from a thread that did not call ThreadEnter");
  }
  lockprof::MutexLock g(mu_);
  const Snapshot* old = current_.load(std::memory_order_relaxed);
  if (old != nullptr && Search(old->sorted, t) != nullptr) {
    return Status(ErrorCode::kAlreadyExists, "inpcb: listener " + ToString(t) + " already exists");
  }
  Inpcb* inp = InpcbAccess::New(t, /*flowid=*/0, /*shard=*/0, /*locked=*/true, hook_, hook_arg_);
  auto* next = new Snapshot;
  if (old != nullptr) {
    next->sorted.reserve(old->sorted.size() + 1);
    next->sorted = old->sorted;
  }
  const Key k = KeyOf(t);
  next->sorted.insert(std::lower_bound(next->sorted.begin(), next->sorted.end(), k, EntryLess),
                      Entry{k, inp});
  for (const Entry& e : next->sorted) {
    if (e.inp != inp) InpcbAccess::Ref(*e.inp);  // inp's creation reference is the array's
  }
  InpcbAccess::Ref(*inp);   // the caller's
  InpcbAccess::Lock(*inp);  // listen -> inpcb; no one else can see it yet
  Publish(next);
  count_.Add();
  return InpcbAccess::AdoptLocked(inp);
}

Status ListenerSet::Remove(LockedInpcb& l) {
  if (!qsbr::Online()) {
    return Status(ErrorCode::kFailedPrecondition,
                  "inpcb: listener remove from a thread that did not call ThreadEnter");
  }
  Inpcb* inp = l.get();
  // Order listen -> inpcb: drop the inpcb's lock (our reference keeps it),
  // take the writer lock, relock.
  InpcbAccess::Unlock(*inp);
  lockprof::MutexLock g(mu_);
  InpcbAccess::Lock(*inp);
  if (inp->removed()) {
    return Status(ErrorCode::kNotFound,
                  "inpcb: listener " + ToString(inp->tuple()) + " was already removed");
  }
  const Snapshot* old = current_.load(std::memory_order_relaxed);
  Snapshot* next = nullptr;
  if (old->sorted.size() > 1) {
    next = new Snapshot;
    next->sorted.reserve(old->sorted.size() - 1);
    for (const Entry& e : old->sorted) {
      if (e.inp != inp) {
        next->sorted.push_back(e);
        InpcbAccess::Ref(*e.inp);
      }
    }
  }
  InpcbAccess::MarkRemoved(*inp);
  Publish(next);
  count_.Sub();
  return Status::Ok();
}

void ListenerSet::ForEach(const std::function<void(const Inpcb&)>& fn) {
  lockprof::MutexLock g(mu_);
  const Snapshot* s = current_.load(std::memory_order_relaxed);
  if (s == nullptr) return;
  for (const Entry& e : s->sorted) {
    InpcbAccess::Lock(*e.inp);
    fn(*e.inp);
    InpcbAccess::Unlock(*e.inp);
  }
}

void ListenerSet::Publish(Snapshot* next) {
  Snapshot* old = current_.exchange(next, std::memory_order_acq_rel);  // release: next's contents
  if (old != nullptr) qsbr::Defer(&old->deferred, &ListenerSet::FreeSnapshot, old);
}

void ListenerSet::FreeSnapshot(void* snapshot) {
  auto* s = static_cast<Snapshot*>(snapshot);
  for (const Entry& e : s->sorted) InpcbAccess::Unref(*e.inp);
  delete s;
}

}  // namespace netisr::inpcb::internal
