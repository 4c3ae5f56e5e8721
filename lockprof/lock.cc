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
  into.acquisitions.Add(from.acquisitions.Get());
  into.shared_acquisitions.Add(from.shared_acquisitions.Get());
  into.contended.Add(from.contended.Get());
  into.try_failures.Add(from.try_failures.Get());
  into.wait_ns.Add(from.wait_ns.Get());
  into.max_wait_ns.Max(from.max_wait_ns.Get());
  into.hold_ns.Add(from.hold_ns.Get());
  into.max_hold_ns.Max(from.max_hold_ns.Get());
}

void Zero(Counters& c) {
  for (base::Counter* f : {&c.acquisitions, &c.shared_acquisitions, &c.contended, &c.try_failures,
                           &c.wait_ns, &c.max_wait_ns, &c.hold_ns, &c.max_hold_ns}) {
    f->Reset();
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
    const Counters& c = sum[i];
    if (c.acquisitions.Get() == 0 && c.try_failures.Get() == 0) continue;
    ClassStats s;
    s.name = i == kOverflowClassId ? internal::kOverflowName : reg.names[i];
    s.acquisitions = c.acquisitions.Get();
    s.contended = c.contended.Get();
    s.wait_ns = c.wait_ns.Get();
    s.max_wait_ns = c.max_wait_ns.Get();
    s.hold_ns = c.hold_ns.Get();
    s.max_hold_ns = c.max_hold_ns.Get();
    s.shared_acquisitions = c.shared_acquisitions.Get();
    s.try_failures = c.try_failures.Get();
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
