// kEpoch: lock-free lookups under liburcu QSBR (FreeBSD 12's net epoch,
// 13's SMR). A lookup walks the RCU-protected chains with acquire loads and
// no lock, takes a reference on what it finds (safe: the table's reference
// is dropped only after a grace period, which cannot end while this thread
// is between quiescent states), and only then locks the connection and
// re-checks removed() (TableBase::Lookup).
//
// Writers take a mutex ("inpcb.epoch.writer"), one per stripe: the table is
// split like kGroups (stripe = GroupOf(flowid, groups), each with its own
// chains), so inserts and removes of flows on different CPUs never share a
// lock or a chain. (One writer mutex for the whole table serialized every
// SYN and close: BM_Churn with 2 threads ran at 1.28x global against
// groups' 1.82x.) Order: epoch.writer -> inpcb.
//
// Remove unlinks, marks removed under the inpcb's lock, and queues the
// inpcb on the removing thread's limbo list; the list goes to call_rcu as
// one batch (one call_rcu per kLimboBatch removals, or at the thread's next
// Quiescent / ThreadExit / WaitForDeferredFrees), so a close costs no
// call_rcu enqueue on a shared queue and never a synchronize_rcu.
#include <atomic>
#include <memory>
#include <vector>

#include "inpcb/internal/access.h"
#include "inpcb/internal/conn_hash.h"
#include "inpcb/internal/listener_set.h"
#include "inpcb/internal/lock_classes.h"
#include "inpcb/internal/qsbr.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb::internal {

namespace {

// An inpcb with room for its deferred release.
class EpochInpcb final : public Inpcb {
 public:
  EpochInpcb(const FourTuple& t, uint64_t hash, uint32_t flowid, uint32_t shard, bool locked,
             FreeHook hook, void* hook_arg)
      : Inpcb(t, hash, flowid, shard, locked, hook, hook_arg) {}
  qsbr::Deferred deferred;           // the batch's call_rcu node, if it heads one
  EpochInpcb* limbo_next = nullptr;  // the removing thread's limbo list (thread-confined)
};

// Removals of this thread whose table references await a grace period
// (any epoch table's: the release does not touch the table). Bounded so a
// thread that rarely announces quiescent states still hands them over.
constexpr int kLimboBatch = 64;
thread_local EpochInpcb* t_limbo = nullptr;
thread_local int t_limbo_len = 0;

void DropBatch(void* head) {
  for (auto* e = static_cast<EpochInpcb*>(head); e != nullptr;) {
    EpochInpcb* next = e->limbo_next;
    InpcbAccess::Unref(*e);
    e = next;
  }
}

// Hands this thread's limbo list to call_rcu. Caller: registered online.
void FlushLimbo() {
  if (t_limbo == nullptr) return;
  EpochInpcb* head = t_limbo;
  t_limbo = nullptr;
  t_limbo_len = 0;
  qsbr::Defer(&head->deferred, &DropBatch, head);
}

struct alignas(64) Stripe {
  explicit Stripe(uint32_t chains) : conns(chains) {}
  lockprof::Mutex writer{kEpochWriterLock};  // serializes changes to conns
  // Written under writer; read lock-free (RCU) by FindRef, the one function
  // the analysis is told to skip.
  ConnHash conns GUARDED_BY(writer);
  base::Counter count;  // written under writer, read lock-free by Counts
};

class EpochTable final : public ShardedTable<Stripe> {
 public:
  explicit EpochTable(const TableSettings& s) : ShardedTable(s, s.groups) {}

  // Earlier removals' deferred releases first; ~ShardedTable then drops
  // what is still linked (no reader is left).
  ~EpochTable() override { qsbr::Barrier(); }

  TableStrategy strategy() const override { return TableStrategy::kEpoch; }

  Status ThreadEnter(int cpu) override {
    if (Status st = CheckCpu(cpu, settings_.cpus); !st.ok()) return st;
    qsbr::Register();
    return Status::Ok();
  }
  void ThreadExit() override {
    if (qsbr::Online()) FlushLimbo();
    qsbr::Unregister();
  }
  void Quiescent() override {
    FlushLimbo();
    qsbr::Quiescent();
  }

  Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) override {
    if (Status st = CheckTuple(t); !st.ok()) return st;
    if (t.listener()) return listeners_.Insert(t);
    const uint32_t si = GroupOf(flowid, settings_.groups);
    Stripe& st = *shards_[si];
    lockprof::MutexLock g(st.writer);
    if (st.conns.Find(t, TupleHash(t)) != nullptr) return Duplicate(t);
    Inpcb* inp = InpcbAccess::New<EpochInpcb>(t, flowid, si, /*locked=*/true, settings_.free_hook,
                                              settings_.free_hook_arg);
    InpcbAccess::Ref(*inp);   // the caller's; the creation reference is the table's
    InpcbAccess::Lock(*inp);  // writer -> inpcb; invisible until linked
    st.conns.Insert(inp);     // release: readers see it whole
    st.count.Add();
    return InpcbAccess::AdoptLocked(inp);
  }

  Status Remove(LockedInpcb& l) override {
    if (!l) return EmptyRemove();
    if (!qsbr::Online()) {
      return Status(ErrorCode::kFailedPrecondition,
                    "inpcb: epoch Remove from a thread that did not call ThreadEnter");
    }
    Inpcb* inp = l.get();
    if (inp->listener()) return listeners_.Remove(l);
    Stripe& st = *shards_[inp->shard()];
    InpcbAccess::Unlock(*inp);  // order writer -> inpcb; our reference keeps it
    {
      lockprof::MutexLock g(st.writer);
      InpcbAccess::Lock(*inp);
      if (inp->removed()) return NotFound(*inp);
      st.conns.Erase(inp);
      InpcbAccess::MarkRemoved(*inp);
      st.count.Sub();
    }
    // Readers that found inp before the unlink may still take a reference:
    // the table's goes only after they have all passed a quiescent state.
    auto* e = static_cast<EpochInpcb*>(inp);
    e->limbo_next = t_limbo;
    t_limbo = e;
    if (++t_limbo_len >= kLimboBatch) FlushLimbo();
    return Status::Ok();
  }

  void ForEach(const std::function<void(const Inpcb&)>& fn) override {
    for (auto& st : shards_) {
      lockprof::MutexLock g(st->writer);  // no unlink, so no free, meanwhile
      st->conns.ForEach([&](Inpcb* p) {
        InpcbAccess::Lock(*p);
        fn(*p);
        InpcbAccess::Unlock(*p);
      });
    }
    listeners_.ForEach(fn);
  }

  void WaitForDeferredFrees() override {
    if (qsbr::Online()) FlushLimbo();
    qsbr::Barrier();
  }

 protected:
  // An RCU read of the stripe's chains without its writer lock (the point of
  // kEpoch): the analysis cannot express "inside a read-side section".
  Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid,
                 bool wildcard) override NO_THREAD_SAFETY_ANALYSIS {
    if (!qsbr::Online()) {
      Fatal("epoch table: Lookup from a thread that did not call ThreadEnter (or is offline)");
    }
    Inpcb* p =
        t.listener() ? nullptr : shards_[GroupOf(flowid, settings_.groups)]->conns.Find(t, h);
    // Relaxed: the table's reference lasts until a grace period after the
    // unlink, and this thread is inside its read-side section.
    if (p != nullptr) InpcbAccess::Ref(*p);
    if (p == nullptr && wildcard) p = listeners_.FindRef(t);
    return p;
  }

 private:
};

}  // namespace

std::unique_ptr<ConnectionTable> NewEpochTable(const TableSettings& s) {
  return std::make_unique<EpochTable>(s);
}

}  // namespace netisr::inpcb::internal
