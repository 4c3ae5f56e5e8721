// The registry behind the profiled locks: class names, the list of live
// per-thread counter blocks and the retired total of exited threads. See
// lock.h for the guarantees and internal/counters.h for the counters.
#include "lockprof/lock.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace netisr::lockprof {
namespace internal {

constinit thread_local ThreadBlock* t_block = nullptr;
constinit thread_local HeldShared t_held[kMaxHeldShared] = {};
constinit thread_local uint32_t t_held_count = 0;

EnabledFlag g_enabled;

namespace {

constexpr const char* kOverflowName = "lockprof.overflow";

struct Registry {
  // The profiler's own lock: plain, never profiled, off the hot path (class
  // registration, thread start and exit, Snapshot, Reset). Lock order: a
  // leaf; nothing else is taken while it is held.
  PlainMutex mu;
  std::string names[kMaxClasses] GUARDED_BY(mu);  // [0, count) set
  uint32_t count GUARDED_BY(mu) = 0;
  std::vector<std::string> overflowed GUARDED_BY(mu);  // names past the bound
  std::vector<ThreadBlock*> live GUARDED_BY(mu);       // blocks of running threads
  // Sums (and maxima) of the blocks of exited threads. Its counters are
  // written only under mu, so no single-writer caveat.
  ThreadBlock retired GUARDED_BY(mu);
};

// Never destroyed: threads (and static destructors) may still take profiled
// locks during process exit.
Registry& TheRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

void Fold(const Counters& from, Counters& into) {
  constexpr auto r = std::memory_order_relaxed;
  Bump(into.acquisitions, from.acquisitions.load(r));
  Bump(into.shared_acquisitions, from.shared_acquisitions.load(r));
  Bump(into.contended, from.contended.load(r));
  Bump(into.try_failures, from.try_failures.load(r));
  Bump(into.wait_ns, from.wait_ns.load(r));
  Max(into.max_wait_ns, from.max_wait_ns.load(r));
  Bump(into.hold_ns, from.hold_ns.load(r));
  Max(into.max_hold_ns, from.max_hold_ns.load(r));
}

void Zero(Counters& c) {
  for (std::atomic<uint64_t>* f :
       {&c.acquisitions, &c.shared_acquisitions, &c.contended, &c.try_failures, &c.wait_ns,
        &c.max_wait_ns, &c.hold_ns, &c.max_hold_ns}) {
    f->store(0, std::memory_order_relaxed);
  }
}

// Folds the thread's block into the retired total when the thread exits.
// A profiled lock taken by a thread_local destructor that runs after this one
// gets a fresh block (RegisterThisThread sees t_owner_gone) which stays in
// the live list for the rest of the process: counted, never folded.
constinit thread_local bool t_owner_gone = false;
struct BlockOwner {
  ThreadBlock* block = nullptr;
  ~BlockOwner() {
    if (block == nullptr) return;
    Registry& reg = TheRegistry();
    {
      MutexLock lock(reg.mu);
      for (uint32_t i = 0; i <= kMaxClasses; ++i)
        Fold(block->per_class[i], reg.retired.per_class[i]);
      reg.live.erase(std::find(reg.live.begin(), reg.live.end(), block));
    }
    delete block;
    t_block = nullptr;
    t_owner_gone = true;
  }
};
thread_local BlockOwner t_owner;

}  // namespace

ThreadBlock* RegisterThisThread() {
  auto* block = new ThreadBlock;
  Registry& reg = TheRegistry();
  {
    MutexLock lock(reg.mu);
    reg.live.push_back(block);
  }
  t_block = block;
  if (!t_owner_gone) t_owner.block = block;
  return block;
}

uint32_t RegisterClass(const char* name) {
  // Calibrate the clock now (~20 ms once), not inside the first lock.
  (void)sched::FastClock::Global();
  if (name == nullptr || *name == '\0') {
    std::fprintf(stderr,
                 "lockprof: a LockClass has an empty name; counted as \"lockprof.unnamed\"\n");
    name = "lockprof.unnamed";
  }
  Registry& reg = TheRegistry();
  MutexLock lock(reg.mu);
  for (uint32_t i = 0; i < reg.count; ++i) {
    if (reg.names[i] == name) return i;
  }
  if (reg.count < kMaxClasses) {
    reg.names[reg.count] = name;
    return reg.count++;
  }
  if (std::find(reg.overflowed.begin(), reg.overflowed.end(), name) == reg.overflowed.end()) {
    reg.overflowed.emplace_back(name);
    std::fprintf(stderr,
                 "lockprof: lock class \"%s\" is past the bound of %u classes "
                 "(lockprof::kMaxClasses); it is counted under \"%s\"\n",
                 name, kMaxClasses, kOverflowName);
  }
  return kOverflowClassId;
}

}  // namespace internal

void SetEnabled(bool on) { internal::g_enabled.on.store(on, std::memory_order_relaxed); }

bool Enabled() { return kCompiledIn && internal::g_enabled.on.load(std::memory_order_relaxed); }

std::vector<ClassStats> Snapshot() {
  using internal::Counters;
  internal::Registry& reg = internal::TheRegistry();
  Counters sum[kMaxClasses + 1];
  std::vector<ClassStats> out;
  MutexLock lock(reg.mu);
  for (uint32_t i = 0; i <= kMaxClasses; ++i) {
    internal::Fold(reg.retired.per_class[i], sum[i]);
    for (const internal::ThreadBlock* b : reg.live) internal::Fold(b->per_class[i], sum[i]);
  }
  for (uint32_t i = 0; i <= kMaxClasses; ++i) {
    constexpr auto r = std::memory_order_relaxed;
    const Counters& c = sum[i];
    if (c.acquisitions.load(r) == 0 && c.try_failures.load(r) == 0) continue;
    ClassStats s;
    s.name = i == kOverflowClassId ? internal::kOverflowName : reg.names[i];
    s.acquisitions = c.acquisitions.load(r);
    s.contended = c.contended.load(r);
    s.wait_ns = c.wait_ns.load(r);
    s.max_wait_ns = c.max_wait_ns.load(r);
    s.hold_ns = c.hold_ns.load(r);
    s.max_hold_ns = c.max_hold_ns.load(r);
    s.shared_acquisitions = c.shared_acquisitions.load(r);
    s.try_failures = c.try_failures.load(r);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const ClassStats& a, const ClassStats& b) {
    return a.wait_ns != b.wait_ns ? a.wait_ns > b.wait_ns : a.name < b.name;
  });
  return out;
}

void Reset() {
  internal::Registry& reg = internal::TheRegistry();
  MutexLock lock(reg.mu);
  for (uint32_t i = 0; i <= kMaxClasses; ++i) {
    internal::Zero(reg.retired.per_class[i]);
    for (internal::ThreadBlock* b : reg.live) internal::Zero(b->per_class[i]);
  }
}

}  // namespace netisr::lockprof
