// Connection-table lookup costs per strategy, and the listener-snapshot
// choice, in one binary so the ratios come from one run.
//
//  * BM_LookupLocked/<strategy>: what TCP input does per segment — look up
//    the connection by 4-tuple, lock it, count the segment, unlock — over
//    4096 established connections, with 1 and 2 threads; each thread looks
//    up the flows netisr's flow policy would give its CPU (CpuOf), as a
//    worker would, and announces a quiescent state every 32 lookups.
//  * BM_Churn/<strategy>: insert, 4 locked lookups, remove per iteration,
//    over the same table, 1 and 2 threads (connections/s).
//  * BM_ListenerRead_<scheme>: reading a set of 16 listeners and finding
//    one. RcuPointer, AtomicSharedPtr and SharedMutex are the three ways to
//    publish the same sorted array of ports (the RCU pointer is what
//    ListenerSet does); Rcu is the whole table path (groups table LookupRef
//    of a listener: tuple hash, snapshot search, reference taken and
//    dropped), the baseline of the ratios.
//
// After the runs a table prints each strategy's throughput as a ratio of
// `global`'s (same thread count, same run). The lock profiler is off at
// run time (it measures, it is not measured here); INPCB_BENCH_LOCKPROF=1
// turns it on.
//
//   bazel build -c opt //benchmarks/inpcb:table_bench
//   bazel-bin/benchmarks/inpcb/table_bench
#include <benchmark/benchmark.h>
#include <urcu/urcu-qsbr.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "inpcb/table.h"
#include "lockprof/lock.h"

namespace netisr::inpcb {
namespace {

constexpr uint32_t kCpus = 2;
constexpr int kConnections = 4096;
constexpr int kQuiescentEvery = 32;

constexpr TableStrategy kStrategies[] = {TableStrategy::kGlobal, TableStrategy::kGroups,
                                         TableStrategy::kEpoch, TableStrategy::kPartitioned};

struct Flow {
  FourTuple tuple;
  uint32_t flowid;
};

uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352d;
  x ^= x >> 15;
  x *= 0x846ca68b;
  x ^= x >> 16;
  return x;
}

// One table per strategy, filled once, with its flows split by CPU.
struct Fixture {
  std::unique_ptr<ConnectionTable> table;
  std::vector<Flow> by_cpu[kCpus];
};
Fixture g_fixtures[4];

void Fill(TableStrategy s) {
  TableSettings ts;
  ts.strategy = s;
  ts.cpus = kCpus;
  Fixture& f = g_fixtures[static_cast<int>(s)];
  f.table = std::move(CreateTable(ts).value());
  for (int i = 0; i < kConnections; ++i) {
    Flow fl{FourTuple::V4(0x0a000001, 80, 0x0b000000 + static_cast<uint32_t>(i / 1000),
                          static_cast<uint16_t>(1024 + i % 1000)),
            Mix(static_cast<uint32_t>(i))};
    f.by_cpu[CpuOf(fl.flowid, kCpus, ts.flow_buckets)].push_back(fl);
  }
  // Each CPU's owner inserts its flows (required by partitioned).
  for (uint32_t cpu = 0; cpu < kCpus; ++cpu) {
    std::thread([&, cpu] {
      if (!f.table->ThreadEnter(static_cast<int>(cpu)).ok()) std::abort();
      for (const Flow& fl : f.by_cpu[cpu]) {
        if (!f.table->Insert(fl.tuple, fl.flowid).ok()) std::abort();
      }
      f.table->ThreadExit();
    }).join();
  }
}

void BM_LookupLocked(benchmark::State& state, TableStrategy s) {
  Fixture& f = g_fixtures[static_cast<int>(s)];
  const int cpu = state.thread_index();
  if (!f.table->ThreadEnter(cpu).ok()) {
    state.SkipWithError("ThreadEnter failed");
    return;
  }
  const std::vector<Flow>& flows = f.by_cpu[cpu];
  size_t i = 0;
  int since_quiescent = 0;
  for (auto _ : state) {
    const Flow& fl = flows[i];
    LockedInpcb l = f.table->Lookup(fl.tuple, fl.flowid);
    l->CountSegmentIn(1);
    l.reset();
    if (++i == flows.size()) i = 0;
    if (++since_quiescent == kQuiescentEvery) {
      since_quiescent = 0;
      f.table->Quiescent();
    }
  }
  f.table->ThreadExit();
  state.SetItemsProcessed(state.iterations());
}

// Connection churn on top of the 4096 steady connections: per iteration a
// connection is inserted (SYN), looked up and locked for 4 segments, and
// removed (close) — TCP input's writes to the table, which take the global
// info lock exclusive.
void BM_Churn(benchmark::State& state, TableStrategy s) {
  Fixture& f = g_fixtures[static_cast<int>(s)];
  const int cpu = state.thread_index();
  if (!f.table->ThreadEnter(cpu).ok()) {
    state.SkipWithError("ThreadEnter failed");
    return;
  }
  uint32_t n = 0;
  int since_quiescent = 0;
  for (auto _ : state) {
    // Flowids on this CPU (partitioned requires it; the others mimic netisr).
    const uint32_t flowid = (Mix(n) & ~1u) | static_cast<uint32_t>(cpu);
    const FourTuple t = FourTuple::V4(0x0a000002, 443, 0x0c000000 + static_cast<uint32_t>(cpu),
                                      static_cast<uint16_t>(1024 + n % 60000));
    ++n;
    auto r = f.table->Insert(t, flowid);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      break;
    }
    r.value().reset();
    for (int seg = 0; seg < 4; ++seg) {
      LockedInpcb l = f.table->Lookup(t, flowid);
      l->CountSegmentIn(1);
      if (seg == 3 && !f.table->Remove(l).ok()) std::abort();
    }
    if (++since_quiescent == kQuiescentEvery) {
      since_quiescent = 0;
      f.table->Quiescent();
    }
  }
  f.table->ThreadExit();
  state.SetItemsProcessed(state.iterations());
}

// --- listener-set read schemes ---

constexpr int kListeners = 16;

struct ListenerFixture {
  std::unique_ptr<ConnectionTable> table;  // groups: listener reads go to the RCU snapshot
  std::vector<uint32_t> keys;              // the same set for the alternatives
  std::atomic<std::shared_ptr<const std::vector<uint32_t>>> shared;
  std::atomic<const std::vector<uint32_t>*> published{nullptr};
  std::shared_mutex rw;
} g_listeners;

bool Find(const std::vector<uint32_t>& v, uint32_t key) {
  return std::binary_search(v.begin(), v.end(), key);
}

uint16_t ListenerPort(int i) { return static_cast<uint16_t>(8000 + 7 * i); }

void FillListeners() {
  TableSettings ts;
  ts.strategy = TableStrategy::kGroups;
  ts.cpus = kCpus;
  g_listeners.table = std::move(CreateTable(ts).value());
  if (!g_listeners.table->ThreadEnter(-1).ok()) std::abort();
  for (int i = 0; i < kListeners; ++i) {
    if (!g_listeners.table->Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, ListenerPort(i)), 0)
             .ok()) {
      std::abort();
    }
    g_listeners.keys.push_back(ListenerPort(i));
  }
  g_listeners.table->ThreadExit();
  std::sort(g_listeners.keys.begin(), g_listeners.keys.end());
  g_listeners.shared.store(std::make_shared<const std::vector<uint32_t>>(g_listeners.keys));
  g_listeners.published.store(&g_listeners.keys, std::memory_order_release);
}

// The scheme ListenerSet uses, bare: an acquire load of the published array
// (liburcu QSBR keeps it alive), a binary search, a quiescent state every 32.
void BM_ListenerRead_RcuPointer(benchmark::State& state) {
  urcu_qsbr_register_thread();
  int i = 0, since_quiescent = 0;
  for (auto _ : state) {
    const std::vector<uint32_t>* s = g_listeners.published.load(std::memory_order_acquire);
    benchmark::DoNotOptimize(Find(*s, ListenerPort(i)));
    i = (i + 1) % kListeners;
    if (++since_quiescent == kQuiescentEvery) {
      since_quiescent = 0;
      urcu_qsbr_quiescent_state();
    }
  }
  urcu_qsbr_unregister_thread();
  state.SetItemsProcessed(state.iterations());
}

void BM_ListenerRead_Rcu(benchmark::State& state) {
  ConnectionTable& t = *g_listeners.table;
  if (!t.ThreadEnter(state.thread_index()).ok()) std::abort();
  int i = 0, since_quiescent = 0;
  for (auto _ : state) {
    InpcbRef r =
        t.LookupRef(FourTuple::Listener(Family::kIPv4, IpAddr{}, ListenerPort(i)), 0, true);
    benchmark::DoNotOptimize(r.get());
    i = (i + 1) % kListeners;
    if (++since_quiescent == kQuiescentEvery) {
      since_quiescent = 0;
      t.Quiescent();
    }
  }
  t.ThreadExit();
  state.SetItemsProcessed(state.iterations());
}

void BM_ListenerRead_AtomicSharedPtr(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    std::shared_ptr<const std::vector<uint32_t>> s = g_listeners.shared.load();
    benchmark::DoNotOptimize(Find(*s, ListenerPort(i)));
    i = (i + 1) % kListeners;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ListenerRead_SharedMutex(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    std::shared_lock<std::shared_mutex> g(g_listeners.rw);
    benchmark::DoNotOptimize(Find(g_listeners.keys, ListenerPort(i)));
    i = (i + 1) % kListeners;
  }
  state.SetItemsProcessed(state.iterations());
}

// Prints every result's throughput relative to its baseline (the `global`
// strategy, or the RCU snapshot for listener reads) at the same thread count.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Single runs, or the medians when --benchmark_repetitions is given.
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (!median && !(r.run_type == Run::RT_Iteration && r.repetitions <= 1)) continue;
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rate_.emplace_back(r.run_name.str(), it->second.value);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-52s %14s %10s\n", "benchmark", "Mops/s", "vs base");
    for (const auto& [name, rate] : rate_) {
      const std::string base = Baseline(name);
      double base_rate = 0;
      for (const auto& [n, r] : rate_) {
        if (n == base) base_rate = r;
      }
      std::printf("%-52s %14.2f %9.2fx\n", name.c_str(), rate / 1e6,
                  base_rate > 0 ? rate / base_rate : 0.0);
    }
  }

 private:
  static std::string Baseline(std::string name) {
    for (TableStrategy s : kStrategies) {
      const std::string token = std::string("/") + ToString(s) + "/";
      if (auto p = name.find(token); p != std::string::npos) {
        return name.replace(p, token.size(), "/global/");
      }
    }
    for (const char* scheme : {"_RcuPointer", "_AtomicSharedPtr", "_SharedMutex"}) {
      if (auto p = name.find(scheme); p != std::string::npos) {
        return name.replace(p, std::string(scheme).size(), "_Rcu");
      }
    }
    return name;
  }
  std::vector<std::pair<std::string, double>> rate_;
};

}  // namespace
}  // namespace netisr::inpcb

int main(int argc, char** argv) {
  using namespace netisr::inpcb;
  benchmark::Initialize(&argc, argv);
  const char* prof = std::getenv("INPCB_BENCH_LOCKPROF");
  netisr::lockprof::SetEnabled(prof != nullptr && std::string(prof) == "1");
  for (TableStrategy s : kStrategies) {
    Fill(s);
    benchmark::RegisterBenchmark((std::string("BM_LookupLocked/") + ToString(s)).c_str(),
                                 BM_LookupLocked, s)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
  for (TableStrategy s : kStrategies) {
    benchmark::RegisterBenchmark((std::string("BM_Churn/") + ToString(s)).c_str(), BM_Churn, s)
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
  FillListeners();
  struct Scheme {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  for (const Scheme& sc :
       {Scheme{"BM_ListenerRead_Rcu", BM_ListenerRead_Rcu},
        Scheme{"BM_ListenerRead_RcuPointer", BM_ListenerRead_RcuPointer},
        Scheme{"BM_ListenerRead_AtomicSharedPtr", BM_ListenerRead_AtomicSharedPtr},
        Scheme{"BM_ListenerRead_SharedMutex", BM_ListenerRead_SharedMutex}}) {
    benchmark::RegisterBenchmark(sc.name, sc.fn)->Threads(1)->Threads(2)->UseRealTime();
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  for (Fixture& f : g_fixtures) f.table.reset();
  g_listeners.table.reset();
  benchmark::Shutdown();
  return 0;
}
