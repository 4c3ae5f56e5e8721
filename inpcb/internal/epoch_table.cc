// kEpoch: lock-free lookups under liburcu QSBR (FreeBSD 12's net epoch,
// 13's SMR). A lookup walks the RCU-protected chains with acquire loads and
// no lock, takes a reference on what it finds (safe: the table's reference
// is dropped only after a grace period, which cannot end while this thread
// is between quiescent states), and only then locks the connection and
// re-checks removed() (TableBase::Lookup). Writers serialize on one mutex
// ("inpcb.epoch.writer"); Remove unlinks, marks removed under the inpcb's
// lock, and defers dropping the table's reference with call_rcu: no
// synchronize_rcu on any packet path. Order: epoch.writer -> inpcb.
#include <atomic>
#include <mutex>

#include "inpcb/internal/access.h"
#include "inpcb/internal/conn_hash.h"
#include "inpcb/internal/listener_set.h"
#include "inpcb/internal/lock_classes.h"
#include "inpcb/internal/qsbr.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb::internal {

namespace {

// An inpcb with room for its deferred release (liburcu's rcu_head).
class EpochInpcb final : public Inpcb {
 public:
  EpochInpcb(const FourTuple& t, uint64_t hash, uint32_t flowid, uint32_t shard, bool locked,
             FreeHook hook, void* hook_arg)
      : Inpcb(t, hash, flowid, shard, locked, hook, hook_arg) {}
  qsbr::Deferred deferred;  // used once, by Remove
};

void DropTableReference(void* inp) { InpcbAccess::Unref(*static_cast<EpochInpcb*>(inp)); }

class EpochTable final : public TableBase {
 public:
  explicit EpochTable(const TableSettings& s)
      : settings_(s),
        writer_(kEpochWriterLock),
        conns_(ChainsPerTable(s, 1)),
        listeners_(s.free_hook, s.free_hook_arg) {}

  ~EpochTable() override {
    qsbr::Barrier();                                         // earlier removals' deferred releases
    conns_.Drain([](Inpcb* p) { InpcbAccess::Unref(*p); });  // no reader is left
  }

  TableStrategy strategy() const override { return TableStrategy::kEpoch; }

  Status ThreadEnter(int cpu) override {
    if (Status st = CheckCpu(cpu, settings_.cpus); !st.ok()) return st;
    qsbr::Register();
    return Status::Ok();
  }
  void ThreadExit() override { qsbr::Unregister(); }
  void Quiescent() override { qsbr::Quiescent(); }

  Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) override {
    if (Status st = CheckTuple(t); !st.ok()) return st;
    if (t.listener()) return listeners_.Insert(t);
    std::lock_guard<lockprof::Mutex> g(writer_);
    if (conns_.Find(t, TupleHash(t)) != nullptr) return Duplicate(t);
    Inpcb* inp = InpcbAccess::New<EpochInpcb>(t, flowid, 0, /*locked=*/true, settings_.free_hook,
                                              settings_.free_hook_arg);
    InpcbAccess::Ref(*inp);   // the caller's; the creation reference is the table's
    InpcbAccess::Lock(*inp);  // writer -> inpcb; invisible until linked
    conns_.Insert(inp);       // release: readers see it whole
    AddCount(count_, +1);
    return InpcbAccess::AdoptLocked(inp);
  }

  Status Remove(LockedInpcb& l) override {
    if (!l) return Status(ErrorCode::kInvalidArgument, "inpcb: Remove of an empty LockedInpcb");
    if (!qsbr::Online()) {
      return Status(ErrorCode::kFailedPrecondition,
                    "inpcb: epoch Remove from a thread that did not call ThreadEnter");
    }
    Inpcb* inp = l.get();
    if (inp->listener()) return listeners_.Remove(l);
    InpcbAccess::Unlock(*inp);  // order writer -> inpcb; our reference keeps it
    {
      std::lock_guard<lockprof::Mutex> g(writer_);
      InpcbAccess::Lock(*inp);
      if (inp->removed()) return NotFound(*inp);
      conns_.Erase(inp);
      InpcbAccess::MarkRemoved(*inp);
      AddCount(count_, -1);
    }
    // Readers that found inp before the unlink may still take a reference:
    // the table's goes only after they have all passed a quiescent state.
    auto* e = static_cast<EpochInpcb*>(inp);
    qsbr::Defer(&e->deferred, &DropTableReference, e);
    return Status::Ok();
  }

  void ForEach(const std::function<void(const Inpcb&)>& fn) override {
    {
      std::lock_guard<lockprof::Mutex> g(writer_);  // no unlink, so no free, meanwhile
      conns_.ForEach([&](Inpcb* p) {
        InpcbAccess::Lock(*p);
        fn(*p);
        InpcbAccess::Unlock(*p);
      });
    }
    listeners_.ForEach(fn);
  }

  TableCounts Counts() const override {
    return {count_.load(std::memory_order_relaxed), listeners_.count()};
  }

  void WaitForDeferredFrees() override { qsbr::Barrier(); }

 protected:
  Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid, bool wildcard) override {
    if (!qsbr::Online()) {
      Fatal("epoch table: Lookup from a thread that did not call ThreadEnter (or is offline)");
    }
    Inpcb* p = t.listener() ? nullptr : conns_.Find(t, h);
    // Relaxed: the table's reference lasts until a grace period after the
    // unlink, and this thread is inside its read-side section.
    if (p != nullptr) InpcbAccess::Ref(*p);
    if (p == nullptr && wildcard) p = listeners_.FindRef(t);
    return p;
  }

 private:
  const TableSettings settings_;
  lockprof::Mutex writer_;  // "inpcb.epoch.writer": serializes every change to conns_
  ConnHash conns_;          // written under writer_, read lock-free (RCU)
  ListenerSet listeners_;
  std::atomic<uint64_t> count_{0};  // written under writer_ (AddCount)
};

}  // namespace

std::unique_ptr<ConnectionTable> NewEpochTable(const TableSettings& s) {
  return std::make_unique<EpochTable>(s);
}

}  // namespace netisr::inpcb::internal
