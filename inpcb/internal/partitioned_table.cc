// kPartitioned: one table per workstream, partition = CpuOf(flowid, cpus, flow_buckets)
// (the workstream index of netisr's flow policy), used only by the thread
// bound to it with ThreadEnter(cpu), `cpu` being its workstream index:
// no table lock and no inpcb lock on its connections (mTCP, Seastar). The
// binding is checked on every access (one thread_local address compared with
// a relaxed load); a mismatch aborts naming the partition, the flow and the
// owner, since a second thread in a lock-free structure corrupts it.
// Listeners are shared by every partition: the lock-free snapshot
// (listener_set.h), and they keep their lock.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <vector>

#include "inpcb/internal/access.h"
#include "inpcb/internal/conn_hash.h"
#include "inpcb/internal/listener_set.h"
#include "inpcb/internal/qsbr.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb::internal {

namespace {

// Its address identifies the calling thread (unique among live threads).
thread_local char t_identity;
uintptr_t Me() { return reinterpret_cast<uintptr_t>(&t_identity); }

struct alignas(64) Partition {
  explicit Partition(uint32_t chains) : conns(chains) {}
  // The bound thread's identity, 0 if none. Bound with an acq_rel CAS and
  // unbound with a release store, so a new owner sees everything the
  // previous one did; checked with a relaxed load (only this thread can
  // have stored its own identity).
  std::atomic<uintptr_t> owner{0};
  ConnHash conns;       // owner only
  base::Counter count;  // written by the owner, read by Counts
};

class PartitionedTable final : public ShardedTable<Partition> {
 public:
  explicit PartitionedTable(const TableSettings& s) : ShardedTable(s, s.cpus) {}

  TableStrategy strategy() const override { return TableStrategy::kPartitioned; }

  Status ThreadEnter(int cpu) override {
    if (Status st = CheckCpu(cpu, settings_.cpus); !st.ok()) return st;
    if (cpu >= 0) {
      uintptr_t expected = 0;
      if (!shards_[cpu]->owner.compare_exchange_strong(expected, Me(), std::memory_order_acq_rel) &&
          expected != Me()) {
        return Status(ErrorCode::kFailedPrecondition,
                      "inpcb: partition " + std::to_string(cpu) +
                          " is already bound to another thread (ThreadExit it first)");
      }
    }
    qsbr::Register();  // listener lookups are RCU reads
    return Status::Ok();
  }

  void ThreadExit() override {
    for (auto& p : shards_) {
      if (p->owner.load(std::memory_order_relaxed) == Me()) {
        p->owner.store(0, std::memory_order_release);
      }
    }
    qsbr::Unregister();
  }

  void Quiescent() override { qsbr::Quiescent(); }

  Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) override {
    if (Status st = CheckTuple(t); !st.ok()) return st;
    if (t.listener()) return listeners_.Insert(t);
    const uint32_t pi = CpuOf(flowid, settings_.cpus, settings_.flow_buckets);
    Partition& part = Owned(pi, flowid, "Insert");
    if (part.conns.Find(t, TupleHash(t)) != nullptr) return Duplicate(t);
    Inpcb* inp = InpcbAccess::New(t, flowid, pi, /*locked=*/false, settings_.free_hook,
                                  settings_.free_hook_arg);
    InpcbAccess::Ref(*inp);  // the caller's; the creation reference is the partition's
    part.conns.Insert(inp);
    part.count.Add();
    return InpcbAccess::AdoptLocked(inp);  // owner-only: "locked" without a lock
  }

  Status Remove(LockedInpcb& l) override {
    if (!l) return EmptyRemove();
    Inpcb* inp = l.get();
    if (inp->listener()) return listeners_.Remove(l);
    Partition& part = Owned(inp->shard(), inp->flowid(), "Remove");
    if (inp->removed()) return NotFound(*inp);
    part.conns.Erase(inp);
    InpcbAccess::MarkRemoved(*inp);
    part.count.Sub();
    // Only the owner reaches the partition, and it is here: no one holds
    // inp without a reference, so the partition's goes now.
    InpcbAccess::Unref(*inp);
    return Status::Ok();
  }

  void ForEach(const std::function<void(const Inpcb&)>& fn) override {
    for (auto& p : shards_) {
      if (p->owner.load(std::memory_order_relaxed) != Me()) continue;
      p->conns.ForEach([&](Inpcb* i) { fn(*i); });
    }
    listeners_.ForEach(fn);
  }

  void WaitForDeferredFrees() override { qsbr::Barrier(); }

 protected:
  Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid, bool wildcard) override {
    if (!qsbr::Online()) {
      Fatal("partitioned table: Lookup from a thread that did not call ThreadEnter");
    }
    Inpcb* p = nullptr;
    if (!t.listener()) {
      p = Owned(CpuOf(flowid, settings_.cpus, settings_.flow_buckets), flowid, "Lookup").conns.Find(t, h);
      if (p != nullptr) InpcbAccess::Ref(*p);  // relaxed: the partition's reference is held
    }
    if (p == nullptr && wildcard) p = listeners_.FindRef(t);
    return p;
  }

 private:
  // The partition, if the calling thread owns it; otherwise aborts.
  Partition& Owned(uint32_t pi, uint32_t flowid, const char* op) {
    Partition& part = *shards_[pi];
    const uintptr_t owner = part.owner.load(std::memory_order_relaxed);
    if (owner != Me()) [[unlikely]] {
      char msg[256];
      std::snprintf(msg, sizeof(msg),
                    "partitioned table: %s of flowid 0x%08" PRIx32
                    " touches partition %u, which %s; only its owner may (ThreadEnter(%u) on the "
                    "worker netisr runs that flow on)",
                    op, flowid, pi, owner == 0 ? "no thread owns" : "another thread owns", pi);
      Fatal(msg);
    }
    return part;
  }
};

}  // namespace

std::unique_ptr<ConnectionTable> NewPartitionedTable(const TableSettings& s) {
  return std::make_unique<PartitionedTable>(s);
}

}  // namespace netisr::inpcb::internal
