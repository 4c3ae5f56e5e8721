// kGroups: connection groups selected by the flow's RSS hash (Willmann et
// al. ATC 2006 ConnP-L; FreeBSD in_pcbgroup.c), each with its own mutex
// ("inpcb.group") and chains, plus the lock-free listener snapshot
// (listener_set.h). A lookup locks one group, finds and references the
// connection, unlocks, then locks the connection (as kGlobal). Orders:
// group -> inpcb, listen -> inpcb; never two groups.
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

// One cache line apart so two CPUs' groups never share a line.
struct alignas(64) Group {
  explicit Group(uint32_t chains) : conns(chains) {}
  lockprof::Mutex mu{kGroupLock};
  ConnHash conns GUARDED_BY(mu);
  base::Counter count;  // written under mu, read lock-free by Counts
};

class GroupsTable final : public ShardedTable<Group> {
 public:
  explicit GroupsTable(const TableSettings& s) : ShardedTable(s, s.groups) {}

  TableStrategy strategy() const override { return TableStrategy::kGroups; }

  Status ThreadEnter(int cpu) override {
    if (Status st = CheckCpu(cpu, settings_.cpus); !st.ok()) return st;
    qsbr::Register();  // listener lookups are RCU reads
    return Status::Ok();
  }
  void ThreadExit() override { qsbr::Unregister(); }
  void Quiescent() override { qsbr::Quiescent(); }

  Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) override {
    if (Status st = CheckTuple(t); !st.ok()) return st;
    if (t.listener()) return listeners_.Insert(t);
    const uint32_t gi = GroupOf(flowid, settings_.groups);
    Group& g = *shards_[gi];
    lockprof::MutexLock lock(g.mu);
    if (g.conns.Find(t, TupleHash(t)) != nullptr) return Duplicate(t);
    Inpcb* inp = InpcbAccess::New(t, flowid, gi, /*locked=*/true, settings_.free_hook,
                                  settings_.free_hook_arg);
    InpcbAccess::Ref(*inp);   // the caller's; the creation reference is the group's
    InpcbAccess::Lock(*inp);  // group -> inpcb; invisible until linked
    g.conns.Insert(inp);
    g.count.Add();
    return InpcbAccess::AdoptLocked(inp);
  }

  Status Remove(LockedInpcb& l) override {
    if (!l) return EmptyRemove();
    Inpcb* inp = l.get();
    if (inp->listener()) return listeners_.Remove(l);
    Group& g = *shards_[inp->shard()];
    InpcbAccess::Unlock(*inp);  // order group -> inpcb; our reference keeps it
    {
      lockprof::MutexLock lock(g.mu);
      InpcbAccess::Lock(*inp);
      if (inp->removed()) return NotFound(*inp);
      g.conns.Erase(inp);
      InpcbAccess::MarkRemoved(*inp);
      g.count.Sub();
    }
    InpcbAccess::Unref(*inp);  // lookups reference under the group lock
    return Status::Ok();
  }

  void ForEach(const std::function<void(const Inpcb&)>& fn) override {
    for (auto& g : shards_) {
      lockprof::MutexLock lock(g->mu);
      g->conns.ForEach([&](Inpcb* p) {
        InpcbAccess::Lock(*p);
        fn(*p);
        InpcbAccess::Unlock(*p);
      });
    }
    listeners_.ForEach(fn);
  }

  void WaitForDeferredFrees() override { qsbr::Barrier(); }

 protected:
  Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid, bool wildcard) override {
    if (!qsbr::Online()) {
      Fatal("groups table: Lookup from a thread that did not call ThreadEnter (or is offline)");
    }
    Inpcb* p = nullptr;
    if (!t.listener()) {
      Group& g = *shards_[GroupOf(flowid, settings_.groups)];
      lockprof::MutexLock lock(g.mu);
      p = g.conns.Find(t, h);
      if (p != nullptr) InpcbAccess::Ref(*p);  // relaxed: the group's reference is held
    }
    if (p == nullptr && wildcard) p = listeners_.FindRef(t);
    return p;
  }

 private:
};

}  // namespace

std::unique_ptr<ConnectionTable> NewGroupsTable(const TableSettings& s) {
  return std::make_unique<GroupsTable>(s);
}

}  // namespace netisr::inpcb::internal
