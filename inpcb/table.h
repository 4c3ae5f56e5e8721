// ConnectionTable: the connection (inpcb) table TCP input searches once per
// segment, with four locking strategies behind one interface, chosen at start.
//
// Design note. Watson (BSDCan 2007) names the global tcbinfo lock as the
// bottleneck of TCP input on SMP and gives two ways out: true reference
// counting of inpcbs (inpcb.h) and decomposing the global lock into
// connection groups. Willmann et al. ("An evaluation of network stack
// parallelization strategies in modern operating systems", USENIX ATC 2006)
// measured ConnP-L: with 128 connection groups, contended acquisitions of the
// global lock fell from ~100% to 2-5%. FreeBSD 9 shipped that as
// in_pcbgroup.c (RSS-selected groups), FreeBSD 12 replaced the read side of
// the info lock by net epoch, FreeBSD 13 moved inpcbs to SMR (safe memory
// reclamation) lookups; user-space stacks (mTCP, Seastar, F-Stack) partition
// per core. All four are built here side by side; `global` is the baseline.
//
// Strategies (lock order is always "table lock before inpcb lock"; no path
// holds two table locks):
//  * kGlobal: one reader/writer info lock ("inpcb.info") over the connection
//    and listener hash tables, as FreeBSD 7-11: Lookup takes it shared,
//    Insert/Remove exclusive. Order: info -> inpcb.
//  * kGroups: `groups` connection groups, group = GroupOf(flowid, groups),
//    each with its own mutex ("inpcb.group") and hash table, so a group is
//    touched by one worker when netisr places flows by flowid (see GroupOf for
//    the alignment). Listeners live in a read-mostly copy-on-write snapshot
//    that lookups read with no lock (RCU, liburcu QSBR) — pcbgroup's weak
//    spot was taking every group lock to add a listener; here writers
//    serialize on "inpcb.listen" only. Orders: group -> inpcb, listen -> inpcb.
//  * kEpoch: lookups take no lock at all: hash chains are RCU-protected
//    (liburcu QSBR: readers are registered threads that announce quiescent
//    states between bursts). Writers take a mutex ("inpcb.epoch.writer"),
//    one per stripe — the table is split into `groups` stripes by
//    GroupOf(flowid) like kGroups, so SYNs and closes on different workers
//    do not serialize. A removed inpcb's table reference is dropped after a
//    grace period: removals go on the thread's limbo list, handed to
//    call_rcu in batches (at most 64, or at Quiescent()). A connection is
//    locked (its own lock) only once found, and removed() is re-checked
//    after locking. Listeners as in kGroups. Orders: epoch.writer -> inpcb,
//    listen -> inpcb.
//  * kPartitioned: one table per workstream, partition =
//    CpuOf(flowid, cpus, flow_buckets)
//    (the workstream index netisr's flow policy picks), touched only by the
//    worker bound to it with ThreadEnter(cpu): no table lock and no inpcb
//    lock for its connections. (`cpu`, `cpus` and CpuOf carry workstream
//    indices and counts, not OS CPUs; the names are older than the
//    glossary in docs/style.md.)
//    Any other thread touching a partition is a bug: the process prints who
//    touched what and aborts (always on: one thread_local read and a compare).
//    Listeners (shared by all partitions) as in kGroups.
//
// Why an RCU snapshot for listeners: a lookup that misses the connection
// table reads one acquire-loaded pointer and binary-searches an immutable
// sorted array, writing no shared memory for the search itself. Measured in
// benchmarks/inpcb/table_bench.cc (BM_ListenerRead_*, 16 listeners, CPU ns
// per read, medians of 5, this 2-vCPU VM while shared with other builds):
// RCU pointer 3.9 (1 thread) / 4.9 (2 threads); std::atomic<shared_ptr>
// (libstdc++ 12: a lock bit and a reference count on one shared line,
// three RMWs per read) 11.8 / 16-158 (it collapses when both threads read);
// std::shared_mutex 8.8 / 11.4. The whole table path (LookupRef of a
// listener: tuple hash, search, reference taken and dropped on the
// listener) costs 24 ns; the reference is what the API promises (the
// caller may keep the listener), and under a SYN flood on one port it is the
// one shared line the readers write. Listener changes are rare
// (listen/close of a listening socket) and cost a copy of the array plus a
// deferred free.
//
// Lookup+lock+count+unlock of an established connection (BM_LookupLocked,
// 4096 connections, each thread on its own partition's flows, no writers; CPU ns,
// same run): global 34.4, groups 36.0, epoch 32.2, partitioned 21.2 with one
// thread; 36.6 / 39.7 / 34.8 / 22.6 with two. Without writers a shared
// info lock costs about what a group mutex does; the strategies part ways
// under churn, where every insert/remove takes the global lock exclusive and
// stalls every lookup (the `netisr lockprof` harness measures that).
// BM_Churn (insert, 4 locked lookups, remove; CPU ns per connection, 1 / 2
// threads): global 217 / 238, groups 199 / 228, epoch 250 / 236,
// partitioned 124 / 157. Epoch pays for deferred reclamation: liburcu's
// call_rcu thread runs a round at most every 10 ms (poll(…, 10) in its
// loop), so ~10 ms of closed inpcbs stay allocated (MBs at millions of
// closes/s) and each insert gets cold memory, where groups reuse the inpcb
// just freed; perf shows Insert's chain walk and malloc dominating. (Freeing
// on the removing thread after the grace period did not change that.)
// Real-time figures on this shared VM vary by 2x run to run; trust ratios
// only within one run.
// Reproduce: bazel build -c opt //benchmarks/inpcb:table_bench &&
//   bazel-out/k8-opt/bin/benchmarks/inpcb/table_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//
// Threads: every thread that calls a table operation under kGroups, kEpoch
// or kPartitioned must first call ThreadEnter (RCU registration; under
// kPartitioned also the partition binding), call Quiescent() between bursts
// (no inpcb pointer obtained without a reference may be kept across it —
// InpcbRef/LockedInpcb are references, so they may), and ThreadExit() before
// it ends or blocks for long. An online thread that never announces a
// quiescent state delays every deferred free (and blocks the destructor); a
// thread that ends without ThreadExit is unregistered from RCU at its exit,
// but its partition stays bound.
// All three are no-ops under kGlobal. A Lookup from a thread that did not
// ThreadEnter aborts with a message (it would be a use-after-free risk).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "base/flow_bucket.h"
#include "base/status.h"
#include "inpcb/inpcb.h"

namespace netisr::inpcb {

enum class TableStrategy : uint8_t {
  // One reader/writer info lock over everything plus per-inpcb locks (the
  // FreeBSD 7-11 baseline). Simple and correct everywhere; every insert and
  // remove stalls every lookup on every CPU, and even shared acquisitions
  // bounce the lock's cache line between CPUs.
  kGlobal,
  // Connection groups selected by the flow's RSS hash, each with its own
  // mutex and tables (Willmann's ConnP-L, FreeBSD in_pcbgroup.c). Aligned
  // with netisr's flow buckets a group is touched by one worker, so its lock is
  // almost never contended; listeners are read lock-free.
  kGroups,
  // Lock-free RCU lookups (liburcu QSBR) with writers serialized per stripe
  // (GroupOf(flowid)) and deferred, batched frees (FreeBSD 12 net epoch, 13
  // SMR). Lookups write no shared line but the inpcb's own; the price is the
  // grace-period machinery (a call_rcu thread) and frees on another thread.
  kEpoch,
  // One table per workstream, owner thread only, no locks (mTCP/Seastar
  // style). Fastest, but only correct while every flow is handled by the
  // worker of the workstream CpuOf(flowid) names: netisr's flow policy without migration (no
  // adaptive
  // mode, no affinity hints); a violation aborts.
  kPartitioned,
};
const char* ToString(TableStrategy s);
// "global", "groups", "epoch", "partitioned".
Result<TableStrategy> ParseTableStrategy(std::string_view name);

struct TableSettings {
  TableStrategy strategy = TableStrategy::kGlobal;
  // Workstreams (netisr's num_workstreams(), not OS CPUs) whose workers
  // use the table; [1, 1024]. The partition count under kPartitioned; the
  // bound of ThreadEnter's `cpu`, a workstream index.
  uint32_t cpus = 1;
  // Connection groups under kGroups; power of two in [1, 4096]. Default
  // 256 = netisr's default Settings::flow_buckets, so a group is exactly one
  // flow bucket and moves between workstreams with it. Willmann used 128.
  uint32_t groups = 256;
  // netisr's Settings::flow_buckets, which with `cpus` says which
  // workstream a flow's packets run on (CpuOf), and so its partition under
  // kPartitioned. Power of two in [1, 65536], and under kPartitioned at
  // least `cpus` (a partition past the bucket count would hold nothing).
  uint32_t flow_buckets = 256;
  // Connection hash chains over the whole table (split evenly over groups or
  // partitions, at least one chain each); power of two in [16, 1 << 22].
  // 16384 chains x 8 B = 128 KiB; keep it near the connection count
  // (chain length ~1) — lookups walk the chain.
  uint32_t hash_buckets = 16384;
  // Optional; see FreeHook.
  FreeHook free_hook = nullptr;
  void* free_hook_arg = nullptr;
};

// Ok, or the first field out of range named with its bound.
Status Validate(const TableSettings& s);

// The group of a flow under kGroups: the low bits of the flowid, as
// netisr's flow buckets (base/flow_bucket.h) — so with groups ==
// flow_buckets a group is one bucket, and with groups a multiple of the
// workstream count every flow of a group starts on one workstream. Only an
// adaptive migration or an affinity hint moves a bucket (and so a group) to
// another workstream — then the group's lock is what keeps it correct.
// Otherwise a group's flows spread over workstreams (correct, just not
// aligned). `groups` must be a power of two.
inline uint32_t GroupOf(uint32_t flowid, uint32_t groups) {
  return base::FlowBucketOf(flowid, groups);
}
// The workstream index (not an OS CPU) netisr's flow policy gives a flow
// among `cpus` workstreams with `flow_buckets` flow buckets, and so its
// partition under kPartitioned.
inline uint32_t CpuOf(uint32_t flowid, uint32_t cpus, uint32_t flow_buckets) {
  return base::FlowWorkstreamOf(flowid, cpus, flow_buckets);
}

struct TableCounts {
  uint64_t connections = 0;
  uint64_t listeners = 0;
};

class ConnectionTable;

// The global strategy's serialisation of TCP input, as FreeBSD 8-10's
// tcp_input did it (7's held the lock for every segment): a segment with
// SYN, FIN or RST, or one for a listener or a connection not ESTABLISHED,
// is processed from lookup to output with the table's info lock held
// exclusively (INP_INFO_WLOCK, "ti_locked"), so that connection set-up and
// tear-down never race a lookup. That is the contention Watson (BSDCan
// 2007) and the pcbgroups (in_pcbgroup.c) set out to remove; the lookup-
// only discipline alone (the rest of `global`) is FreeBSD 11's. While a
// thread holds a non-empty section, its own Insert, Lookup, LookupRef,
// Remove and ForEach on that table take no table lock (the section holds
// it); other threads wait for it. Every other strategy gives an empty
// section: what they exist to avoid. Movable, not copyable, but ended on
// the thread that began it (else a fatal error); nesting on one thread
// gives an empty inner section, and a thread holds one table's section at a
// time. The holder must not take a section while it holds an inpcb lock
// (order: table -> inpcb).
class InputSection {
 public:
  InputSection() = default;
  InputSection(InputSection&& o) noexcept : table_(o.table_) { o.table_ = nullptr; }
  InputSection& operator=(InputSection&& o) noexcept {
    if (this != &o) {
      End();
      table_ = o.table_;
      o.table_ = nullptr;
    }
    return *this;
  }
  InputSection(const InputSection&) = delete;
  InputSection& operator=(const InputSection&) = delete;
  ~InputSection() { End(); }
  explicit operator bool() const { return table_ != nullptr; }
  void End();  // releases what it holds (idempotent)

 private:
  friend class ConnectionTable;
  explicit InputSection(ConnectionTable* t) : table_(t) {}
  ConnectionTable* table_ = nullptr;
};

class ConnectionTable {
 public:
  virtual ~ConnectionTable() = default;
  // The destructor frees every inpcb still linked (after the free hooks of
  // earlier removals have run: it waits for pending deferred frees). Call it
  // after every thread's ThreadExit, with no operation running.

  virtual TableStrategy strategy() const = 0;

  // --- per-thread participation (no-ops under kGlobal) ---
  // `cpu` in [-1, cpus): the calling worker's workstream index
  // (Netisr::CurrentWorkstream(), not an OS CPU), -1 for a control thread.
  // Registers the thread as an RCU reader (nestable across tables); under
  // kPartitioned also binds partition `cpu` to this thread (error if another
  // thread owns it). Errors: cpu out of range, partition already owned.
  virtual Status ThreadEnter(int cpu) = 0;
  // Unbinds this thread's partitions and unregisters it.
  virtual void ThreadExit() = 0;
  // "This thread holds no unreferenced inpcb pointer": call between bursts.
  virtual void Quiescent() = 0;

  // --- operations ---
  // Inserts a connection (t.listener() false: every address and port set)
  // or a listening socket (foreign any:0; the local address may be any),
  // and returns it locked with state kSynReceived or kListen. `flowid` is
  // the flow's RSS hash, the one netisr dispatches the flow by, and must be
  // the same on every call for the tuple (ignored for listeners). Errors:
  // kInvalidArgument (zero port, any address on a connection, ...),
  // kAlreadyExists (same tuple present), kFailedPrecondition (ThreadEnter
  // missing where needed).
  virtual Result<LockedInpcb> Insert(const FourTuple& t, uint32_t flowid) = 0;

  // The connection for segment tuple `t` (exact match), else, when
  // `wildcard`, the listener on t.laddr:t.lport, else on any:t.lport (same
  // family). Returned locked (FreeBSD in_pcblookup, INPLOOKUP_WLOCKPCB);
  // empty if none. Never returns a removed inpcb.
  virtual LockedInpcb Lookup(const FourTuple& t, uint32_t flowid, bool wildcard = true) = 0;
  // The same search, returning a reference without taking the inpcb's lock
  // (statistics, or code that locks later); the table lock-free paths take
  // no lock of any kind here. May return an inpcb that is being removed.
  virtual InpcbRef LookupRef(const FourTuple& t, uint32_t flowid, bool wildcard = true) = 0;

  // Removes the inpcb the caller holds locked; on return the caller still
  // holds it locked, with state kClosed and removed() true, and frees it by
  // dropping its LockedInpcb (the table's reference is dropped now, or after
  // a grace period under kEpoch). To respect table -> inpcb order it drops
  // the inpcb's lock, takes the table's writer lock and relocks — the
  // reference keeps the inpcb alive meanwhile (inside an InputSection,
  // which holds the table lock already, it keeps the inpcb locked). Error
  // kNotFound if it was already removed (by another thread while unlocked).
  virtual Status Remove(LockedInpcb& inp) = 0;
  // Exact-tuple remove (a listener if t.listener()). kNotFound if absent.
  Status Remove(const FourTuple& t, uint32_t flowid);

  // Calls fn for every inpcb the calling thread may see — all of them, except
  // under kPartitioned: the partitions it owns plus all listeners — with
  // the inpcb locked (owner-only connections: unlocked), under the table's
  // writer locks (so inserts/removes wait). fn must not call the table.
  virtual void ForEach(const std::function<void(const Inpcb&)>& fn) = 0;
  // Lock-free, from any thread; exact when no insert/remove is running.
  virtual TableCounts Counts() const = 0;
  // Waits until every removal made before the call has dropped the table's
  // reference (kEpoch and listener snapshots: an RCU barrier; the caller
  // goes offline meanwhile). Other threads must keep announcing quiescent
  // states. For tests and shutdown, not the packet path.
  virtual void WaitForDeferredFrees() = 0;

  // See InputSection: under kGlobal the info lock, exclusive, until the
  // section ends (unless this thread already holds one); else empty.
  virtual InputSection BeginInput() { return {}; }

 protected:
  static InputSection MakeSection(ConnectionTable* t) { return InputSection(t); }

 private:
  friend class InputSection;
  virtual void EndInput() {}
};

Result<std::unique_ptr<ConnectionTable>> CreateTable(const TableSettings& s);

}  // namespace netisr::inpcb
