// kGlobal: one reader/writer info lock over the connection and listener
// hash tables (FreeBSD 7-11's pcbinfo lock; table.h). Lookups take it
// shared, find and reference the inpcb, drop it and only then lock the
// inpcb (FreeBSD 9-11 in_pcblookup_hash: in_pcbref, INP_HASH_RUNLOCK,
// INP_WLOCK, in_pcbrele_wlocked), so a plain lookup never waits for an
// inpcb lock while holding the info lock. Insert/Remove take it exclusive.
// TCP input's state-changing segments hold it exclusive throughout
// (BeginInput, table.h's InputSection, FreeBSD 8-10's tcp_input); inside
// one, this thread's own calls find it held and take nothing, so there a
// lookup does lock the inpcb under the info lock, and Remove keeps the
// inpcb locked. Order: info -> inpcb, always. What keeps a section free of
// deadlock: no thread ever asks for the info lock while holding an inpcb
// lock (Remove outside a section drops the inpcb's first; TCP input drops
// a listener's before Insert and before taking a section), and the info
// lock is never taken twice (a nested section is empty).
#include <atomic>

#include "inpcb/internal/access.h"
#include "inpcb/internal/conn_hash.h"
#include "inpcb/internal/lock_classes.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb::internal {

namespace {

// Listening sockets are few; 256 chains keep them at about one per chain.
constexpr uint32_t kListenChains = 256;

class GlobalTable;
// The table whose info lock this thread holds through an InputSection
// (one at a time: a TCP engine's input touches its own table only).
thread_local const GlobalTable* tls_section = nullptr;

class GlobalTable final : public TableBase {
 public:
  explicit GlobalTable(const TableSettings& s)
      : settings_(s), info_(kInfoLock), conns_(ChainsPerTable(s, 1)), listeners_(kListenChains) {}

  ~GlobalTable() override {
    conns_.Drain([](Inpcb* p) { InpcbAccess::Unref(*p); });
    listeners_.Drain([](Inpcb* p) { InpcbAccess::Unref(*p); });
  }

  TableStrategy strategy() const override { return TableStrategy::kGlobal; }
  Status ThreadEnter(int cpu) override { return CheckCpu(cpu, settings_.cpus); }
  void ThreadExit() override {}
  void Quiescent() override {}

  // The lock is handed to the InputSection, released by EndInput: a
  // holder object the analysis cannot follow (thread_annotations.h).
  InputSection BeginInput() override NO_THREAD_SAFETY_ANALYSIS {
    if (tls_section == this) return {};  // held by an outer section
    // One table's section at a time on a thread: a second would overwrite
    // tls_section, and the first table's own calls would then lock again.
    if (tls_section != nullptr) Fatal("global table: an input section inside another table's");
    info_.lock();
    tls_section = this;
    return MakeSection(this);
  }

  Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) override {
    if (Status st = CheckTuple(t); !st.ok()) return st;
    if (InSection()) {
      SectionHeld();
      return InsertLocked(t, flowid);
    }
    lockprof::MutexLock g(info_);
    return InsertLocked(t, flowid);
  }

  Status Remove(LockedInpcb& l) override {
    if (!l) return EmptyRemove();
    Inpcb* inp = l.get();
    if (InSection()) {
      // info (held by the section) -> inpcb (held by the caller): in order.
      SectionHeld();
      if (inp->removed()) return NotFound(*inp);
      Unlink(inp);
    } else {
      // Order info -> inpcb: our reference keeps inp while it is unlocked.
      InpcbAccess::Unlock(*inp);
      lockprof::MutexLock g(info_);
      InpcbAccess::Lock(*inp);
      if (inp->removed()) return NotFound(*inp);
      Unlink(inp);
    }
    // Lookups reference what they find under the info lock, so after it no
    // one reaches inp without a reference of their own.
    InpcbAccess::Unref(*inp);
    return Status::Ok();
  }

  void ForEach(const std::function<void(const Inpcb&)>& fn) override {
    if (InSection()) {
      SectionHeld();
      ForEachLocked(fn);
      return;
    }
    lockprof::ReaderLock g(info_);
    ForEachLocked(fn);
  }

  TableCounts Counts() const override { return {conn_count_.Get(), listener_count_.Get()}; }

  void WaitForDeferredFrees() override {}

 protected:
  Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid, bool wildcard) override {
    if (InSection()) {
      SectionHeld();
      return FindRefLocked(t, h, wildcard);
    }
    lockprof::ReaderLock g(info_);
    return FindRefLocked(t, h, wildcard);
  }

 private:
  bool InSection() const { return tls_section == this; }
  // Vouches for info_ to the analysis: called only when InSection(), where
  // this thread holds it exclusively (BeginInput) until EndInput.
  void SectionHeld() const ASSERT_CAPABILITY(info_) {}

  void EndInput() override NO_THREAD_SAFETY_ANALYSIS {  // BeginInput's lock
    // A moved section ended on another thread would unlock from a non-owner.
    if (tls_section != this) Fatal("global table: an input section ended off its thread");
    tls_section = nullptr;
    info_.unlock();
  }

  Result<LockedInpcb> InsertLocked(const FourTuple& t, uint32_t flowid) REQUIRES(info_) {
    const bool listener = t.listener();
    ConnHash& hash = listener ? listeners_ : conns_;
    if (hash.Find(t, TupleHash(t)) != nullptr) return Duplicate(t);
    Inpcb* inp = InpcbAccess::New(t, listener ? 0 : flowid, 0, /*locked=*/true, settings_.free_hook,
                                  settings_.free_hook_arg);
    InpcbAccess::Ref(*inp);   // the caller's; the creation reference is the table's
    InpcbAccess::Lock(*inp);  // info -> inpcb; invisible until linked
    hash.Insert(inp);
    (listener ? listener_count_ : conn_count_).Add();
    return InpcbAccess::AdoptLocked(inp);
  }

  void Unlink(Inpcb* inp) REQUIRES(info_) {
    const bool listener = inp->listener();
    (listener ? listeners_ : conns_).Erase(inp);
    InpcbAccess::MarkRemoved(*inp);
    (listener ? listener_count_ : conn_count_).Sub();
  }

  void ForEachLocked(const std::function<void(const Inpcb&)>& fn) REQUIRES_SHARED(info_) {
    auto visit = [&](Inpcb* p) {
      InpcbAccess::Lock(*p);
      fn(*p);
      InpcbAccess::Unlock(*p);
    };
    conns_.ForEach(visit);
    listeners_.ForEach(visit);
  }

  Inpcb* FindRefLocked(const FourTuple& t, uint64_t h, bool wildcard) REQUIRES_SHARED(info_) {
    Inpcb* p = conns_.Find(t, h);
    if (p == nullptr && wildcard) {
      FourTuple key = FourTuple::Listener(t.family, t.laddr, t.lport);
      p = listeners_.Find(key, TupleHash(key));
      if (p == nullptr && !t.laddr.any()) {
        key.laddr = IpAddr{};
        p = listeners_.Find(key, TupleHash(key));
      }
    }
    // Relaxed increment under the info lock: the table's reference cannot
    // go while we hold it.
    if (p != nullptr) InpcbAccess::Ref(*p);
    return p;
  }

  const TableSettings settings_;
  lockprof::SharedMutex info_;  // "inpcb.info": protects the chains
  ConnHash conns_ GUARDED_BY(info_);
  ConnHash listeners_ GUARDED_BY(info_);
  // Written under info_ exclusive, read lock-free by Counts (so not
  // GUARDED_BY): single-writer counters.
  base::Counter conn_count_;
  base::Counter listener_count_;
};

}  // namespace

std::unique_ptr<ConnectionTable> NewGlobalTable(const TableSettings& s) {
  return std::make_unique<GlobalTable>(s);
}

}  // namespace netisr::inpcb::internal
