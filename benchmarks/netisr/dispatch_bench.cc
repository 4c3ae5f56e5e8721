// What netisr's packet path costs over the primitives it is built on.
//
// Each netisr benchmark runs next to the baseline it should be judged
// against, in the same binary and run, so the ratios mean something on a
// noisy machine:
//   * BM_BareHandlerCall (+ function-pointer and burst variants) vs.
//     BM_DirectDispatch / BM_DirectDispatchBurst: what Netisr::DispatchSrc /
//     DispatchBurst add to calling the handler (identity, policy, order
//     check, counters). Inline model, one workstream, external producer.
//   * BM_BareSpscHandoff vs. BM_DeferredHandoff: what netisr's deferred path
//     (queue-limit reservation, lane ring, order counters, Flush and the
//     futex wakeup of a sleeping worker) adds to moving pointers through a
//     boost::lockfree::spsc_queue from CPU 0 to a consumer on CPU 1.
//     BM_DeferredHandoffPoll runs the same path under the never-sleeping
//     "poll" model, which separates the wakeup cost from the rest.
//   * BM_PoolAllocFree: one PacketPool Alloc+Release, for scale.
//
// Every handler is the same function: Release each packet (a no-op release,
// so no pool is measured) and bump a single-writer handled counter. The
// cross-CPU benchmarks share one producer loop that keeps at most
// kMaxInFlight packets sent but not yet handled (so netisr never drops at its
// queue limit) and waits, inside the timed region, until the consumer has
// handled everything, so items/s is end-to-end throughput.
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "netisr/netisr.h"
#include "netisr/packet.h"
#include "netisr/protocol.h"
#include "netisr/settings.h"
#include "netisr/stats.h"
#include "netisr/work_model.h"

namespace netisr {
namespace {

// Queue limit of the deferred protocol and capacity of the bare ring.
constexpr uint32_t kQlimit = 4096;
// Packets sent but not handled, at most, in both handoff benchmarks. Half
// the queue limit: the queue-length reservation can never reach kQlimit, so netisr
// never tail-drops.
constexpr uint64_t kMaxInFlight = kQlimit / 2;
// Packets cycled through by the handoff benchmarks. A packet is reused only
// after it was handled (kNumPackets >= kMaxInFlight + burst), and bursts
// never wrap (kNumPackets is a multiple of every burst).
constexpr size_t kNumPackets = 2 * kMaxInFlight;
constexpr size_t kMaxBurst = 32;
static_assert(kNumPackets >= kMaxInFlight + kMaxBurst && kNumPackets % kMaxBurst == 0);
// The bare handoff's producer and consumer CPUs (the deferred one takes its
// workstreams' CPUs, which are the same two on a 2-CPU machine).
constexpr int kProducerCpu = 0;
constexpr int kConsumerCpu = 1;

// ---------------------------------------------------------------------------
// Shared setup

void NoopRelease(Packet*) {}

// The one handler body. `handled` has a single writer (the consumer), so a
// load+store suffices; release so that the producer's acquire load of it
// orders the packets' reuse after the handler's last touch.
void CountAndRelease(std::atomic<uint64_t>& handled, Burst burst) {
  for (Packet* p : burst) Release(p);
  handled.store(handled.load(std::memory_order_relaxed) + burst.size(), std::memory_order_release);
}

HandlerFn CountingHandler(std::atomic<uint64_t>& handled) {
  return [&handled](Burst burst) { CountAndRelease(handled, burst); };
}

std::atomic<uint64_t> g_fnptr_handled{0};
void FunctionPointerHandler(Burst burst) { CountAndRelease(g_fnptr_handled, burst); }

// Preallocated packets with a no-op release, so no pool is on the path.
class PacketSet {
 public:
  explicit PacketSet(size_t n) : packets_(n), ptrs_(n) {
    for (size_t i = 0; i < n; ++i) {
      packets_[i].release = &NoopRelease;
      ptrs_[i] = &packets_[i];
    }
  }
  std::span<Packet* const> Slice(size_t first, size_t n) const { return {ptrs_.data() + first, n}; }
  size_t size() const { return ptrs_.size(); }

 private:
  std::vector<Packet> packets_;
  std::vector<Packet*> ptrs_;
};

bool PinCurrentThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

// Pins the calling thread to one CPU for a scope, then restores its mask.
class ScopedAffinity {
 public:
  explicit ScopedAffinity(int cpu) {
    saved_ok_ = pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) == 0;
    ok_ = PinCurrentThread(cpu);
  }
  ~ScopedAffinity() {
    if (saved_ok_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t saved_;
  bool saved_ok_ = false;
  bool ok_ = false;
};

// Voluntary context switches of the whole process so far (sleeps).
int64_t VoluntaryContextSwitches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw;
}

// items/s (from SetItemsProcessed) and its inverse, time per item.
void ReportPerItem(benchmark::State& state, size_t burst) {
  const double items = static_cast<double>(state.iterations()) * static_cast<double>(burst);
  state.SetItemsProcessed(static_cast<int64_t>(items));
  state.counters["per_item"] =
      benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Fails the benchmark unless every packet reached the handler.
void CheckHandled(benchmark::State& state, const std::atomic<uint64_t>& handled, size_t burst) {
  const uint64_t want = static_cast<uint64_t>(state.iterations()) * burst;
  const uint64_t got = handled.load(std::memory_order_acquire);
  if (got != want) {
    state.SkipWithError(
        ("handled " + std::to_string(got) + " of " + std::to_string(want) + " packets").c_str());
  }
}

// A started Netisr with one counting protocol and a producer identity for
// the benchmark thread; ok() is false (and the benchmark skipped) on error.
class NetisrFixture {
 public:
  NetisrFixture(benchmark::State& state, const Settings& settings, std::string_view model,
                ProtocolSpec spec) {
    Status st = Init(settings, model, std::move(spec));
    ok_ = st.ok();
    if (!ok_) Fail(state, st);
  }
  NetisrFixture(const NetisrFixture&) = delete;
  NetisrFixture& operator=(const NetisrFixture&) = delete;

  // Takes an external producer slot for the calling thread.
  bool EnterAsProducer(benchmark::State& state) {
    scope_.emplace(*nisr_);
    if (!scope_->status().ok()) {
      Fail(state, scope_->status());
      return false;
    }
    return true;
  }

  bool ok() const { return ok_; }
  Netisr& nisr() { return *nisr_; }
  ProtocolId proto() const { return proto_; }
  const std::atomic<uint64_t>& handled() const { return handled_; }

 private:
  Status Init(const Settings& settings, std::string_view model, ProtocolSpec spec) {
    auto wm = MakeWorkModel(model);
    if (!wm.ok()) return wm.status();
    auto created = Netisr::Create(settings, std::move(wm).value());
    if (!created.ok()) return created.status();
    nisr_ = std::move(created).value();
    spec.handler = CountingHandler(handled_);
    auto proto = nisr_->Register(spec);
    if (!proto.ok()) return proto.status();
    proto_ = *proto;
    return nisr_->Start();
  }
  static void Fail(benchmark::State& state, const Status& st) {
    state.SkipWithError(st.message().c_str());
  }

  std::atomic<uint64_t> handled_{0};
  std::unique_ptr<Netisr> nisr_;
  ProtocolId proto_ = 0;
  // Declared last: released (and flushed) before the Netisr stops.
  std::optional<Netisr::ProducerScope> scope_;
  bool ok_ = false;
};

// The producer side of both handoff benchmarks, on the calling thread: one
// `send` of `burst` packets per iteration, at most kMaxInFlight packets sent
// but not handled, and on the last iteration a wait (still timed) until the
// consumer has handled every packet.
template <typename SendFn>
void RunHandoffProducer(benchmark::State& state, size_t burst, const PacketSet& packets,
                        const std::atomic<uint64_t>& handled, SendFn send) {
  uint64_t sent = 0;
  uint64_t seen_handled = 0;  // last value read; re-read only when needed
  size_t next = 0;
  benchmark::IterationCount iteration = 0;
  for (auto _ : state) {
    while (sent + burst - seen_handled > kMaxInFlight) {
      _mm_pause();
      seen_handled = handled.load(std::memory_order_acquire);
    }
    send(packets.Slice(next, burst));
    sent += burst;
    next = (next + burst) % packets.size();
    if (++iteration == state.max_iterations) {
      while (handled.load(std::memory_order_acquire) != sent) _mm_pause();
    }
  }
  ReportPerItem(state, burst);
}

// ---------------------------------------------------------------------------
// 1. The handler called directly

// Through the std::function type netisr stores (HandlerFn), reloaded every
// call as netisr reloads pe.spec.handler.
void BareHandlerCall(benchmark::State& state, size_t burst) {
  std::atomic<uint64_t> handled{0};
  HandlerFn handler = CountingHandler(handled);
  const PacketSet packets(burst);
  const Burst pkts = packets.Slice(0, burst);
  for (auto _ : state) {
    benchmark::DoNotOptimize(handler);
    handler(pkts);
  }
  CheckHandled(state, handled, burst);
  ReportPerItem(state, burst);
}

void BM_BareHandlerCall(benchmark::State& state) { BareHandlerCall(state, 1); }
void BM_BareHandlerCallBurst(benchmark::State& state) { BareHandlerCall(state, state.range(0)); }

// Reference: a plain indirect call of the same body.
void BM_BareFunctionPointerCall(benchmark::State& state) {
  g_fnptr_handled.store(0);
  void (*fn)(Burst) = &FunctionPointerHandler;
  const PacketSet packets(1);
  const Burst pkts = packets.Slice(0, 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn);
    fn(pkts);
  }
  CheckHandled(state, g_fnptr_handled, 1);
  ReportPerItem(state, 1);
}

// ---------------------------------------------------------------------------
// 2. Direct dispatch: inline model, one workstream, direct mode, the
// benchmark thread as an external producer (ProducerScope).

class DirectFixture : public NetisrFixture {
 public:
  explicit DirectFixture(benchmark::State& state)
      : NetisrFixture(state, DirectSettings(), "inline", DirectSpec()) {}

 private:
  static Settings DirectSettings() {
    Settings s;
    s.max_threads = 1;
    s.bind_threads = false;
    return s;
  }
  static ProtocolSpec DirectSpec() {
    ProtocolSpec spec;
    spec.name = "direct";
    spec.policy = Policy::kSource;
    spec.dispatch = DispatchMode::kDirect;
    return spec;
  }
};

void BM_DirectDispatch(benchmark::State& state) {
  DirectFixture f(state);
  if (!f.ok() || !f.EnterAsProducer(state)) return;
  const PacketSet packets(1);
  Packet* const pkt = packets.Slice(0, 1)[0];
  for (auto _ : state) benchmark::DoNotOptimize(f.nisr().DispatchSrc(0, f.proto(), pkt));
  CheckHandled(state, f.handled(), 1);
  ReportPerItem(state, 1);
}

void BM_DirectDispatchBurst(benchmark::State& state) {
  const size_t burst = state.range(0);
  DirectFixture f(state);
  if (!f.ok() || !f.EnterAsProducer(state)) return;
  const PacketSet packets(burst);
  const Burst pkts = packets.Slice(0, burst);
  for (auto _ : state) benchmark::DoNotOptimize(f.nisr().DispatchBurst(0, f.proto(), pkts));
  CheckHandled(state, f.handled(), burst);
  ReportPerItem(state, burst);
}

// ---------------------------------------------------------------------------
// 3. Bare SPSC handoff: the benchmark thread on CPU 0 pushes, a thread on
// CPU 1 busy-polls, popping one at a time (burst 1) or up to 32.

void BM_BareSpscHandoff(benchmark::State& state) {
  const size_t burst = state.range(0);
  boost::lockfree::spsc_queue<Packet*> ring(kQlimit);
  std::atomic<uint64_t> handled{0};
  std::atomic<bool> stop{false};
  const PacketSet packets(kNumPackets);
  std::atomic<bool> pinned{true};
  std::thread consumer([&] {
    if (!PinCurrentThread(kConsumerCpu)) pinned.store(false);
    Packet* buf[kMaxBurst];
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t n = burst == 1 ? (ring.pop(buf[0]) ? 1 : 0) : ring.pop(buf, burst);
      if (n > 0) CountAndRelease(handled, {buf, n});
    }
  });
  {
    ScopedAffinity pin(kProducerCpu);
    if (!pin.ok()) pinned.store(false);
    // The in-flight bound keeps the ring at most half full, so a push never
    // comes up short; the loop is only a guard.
    RunHandoffProducer(state, burst, packets, handled, [&](Burst pkts) {
      if (pkts.size() == 1) {
        while (!ring.push(pkts[0])) _mm_pause();
        return;
      }
      for (size_t done = 0; done < pkts.size();) {
        done += ring.push(pkts.data() + done, pkts.size() - done);
      }
    });
  }
  stop.store(true, std::memory_order_relaxed);
  consumer.join();
  if (!pinned.load()) state.SkipWithError("could not pin to CPUs 0 and 1");
}

// ---------------------------------------------------------------------------
// 4. Deferred handoff: the benchmark thread, pinned to one CPU, QueueBursts
// to a kCpu protocol whose m2cpuid always names the consumer workstream,
// bound to the other CPU.
//  * BM_DeferredHandoff: model "threads", two workstreams on CPUs 0 and 1,
//    consumer workstream 1; the producer shares CPU 0 with worker 0, which
//    has nothing to do and sleeps on its futex. Idle workers sleep, so this
//    includes the futex wakeup path.
//  * BM_DeferredHandoffPoll: model "poll" (workers never sleep), one
//    workstream, the producer on the other CPU. Same enqueue/drain path
//    without wakeups, so the difference between the two is the wakeup cost.

struct DeferredSetup {
  std::string_view model;
  int workstreams;
  int consumer;  // workstream index m2cpuid names
};

class DeferredFixture : public NetisrFixture {
 public:
  DeferredFixture(benchmark::State& state, const DeferredSetup& setup)
      : NetisrFixture(state, DeferredSettings(setup), setup.model, DeferredSpec(setup)) {}

 private:
  static Settings DeferredSettings(const DeferredSetup& setup) {
    Settings s;
    s.max_threads = setup.workstreams;
    s.bind_threads = true;
    s.max_qlimit = kQlimit;
    return s;
  }
  static ProtocolSpec DeferredSpec(const DeferredSetup& setup) {
    ProtocolSpec spec;
    spec.name = "deferred";
    spec.m2cpuid = [ws = setup.consumer](Burst pkts, uint16_t, std::span<int> out) {
      std::fill_n(out.begin(), pkts.size(), ws);
    };
    spec.policy = Policy::kCpu;
    spec.dispatch = DispatchMode::kDeferred;
    spec.qlimit = kQlimit;
    return spec;
  }
};

void DeferredHandoff(benchmark::State& state, const DeferredSetup& setup) {
  const size_t burst = state.range(0);
  DeferredFixture f(state, setup);
  if (!f.ok()) return;
  const int consumer_cpu = f.nisr().GetStats().workstreams[setup.consumer].cpu;
  const int producer_cpu = consumer_cpu == kProducerCpu ? kConsumerCpu : kProducerCpu;
  ScopedAffinity pin(producer_cpu);
  if (!pin.ok()) return state.SkipWithError("could not pin the producer");
  if (!f.EnterAsProducer(state)) return;
  const PacketSet packets(kNumPackets);
  uint64_t drops = 0;
  const int64_t switches_before = VoluntaryContextSwitches();
  RunHandoffProducer(state, burst, packets, f.handled(), [&](Burst pkts) {
    // A queue_full drop releases the tail of the burst; queue it again.
    for (BurstOutcome r = f.nisr().QueueBurst(0, f.proto(), pkts); r.dropped > 0;) {
      drops += r.dropped;
      r = f.nisr().QueueBurst(0, f.proto(), pkts.last(r.dropped));
    }
  });
  const uint64_t wakeups = f.nisr().GetStats().workstreams[setup.consumer].wakeups;
  state.counters["drops"] = static_cast<double>(drops);
  state.counters["wakeups"] = static_cast<double>(wakeups);
  // Process-wide, but the producer spins and any other worker sleeps
  // throughout, so this is how often the consumer worker went to sleep.
  state.counters["sleeps"] = static_cast<double>(VoluntaryContextSwitches() - switches_before);
  state.counters["items_per_wakeup"] = static_cast<double>(state.iterations() * burst) /
                                       static_cast<double>(std::max<uint64_t>(1, wakeups));
  state.SetLabel("producer cpu " + std::to_string(producer_cpu) + ", consumer cpu " +
                 std::to_string(consumer_cpu));
}

void BM_DeferredHandoff(benchmark::State& state) {
  DeferredHandoff(state, {.model = "threads", .workstreams = 2, .consumer = 1});
}
void BM_DeferredHandoffPoll(benchmark::State& state) {
  DeferredHandoff(state, {.model = "poll", .workstreams = 1, .consumer = 0});
}

// ---------------------------------------------------------------------------
// 5. PacketPool: one Alloc + Release (a CAS on the free stack each), single
// thread, for scale against the per-packet costs above.

void BM_PoolAllocFree(benchmark::State& state) {
  auto pool = PacketPool::Create(1024, 2048);
  if (!pool.ok()) return state.SkipWithError(pool.status().message().c_str());
  for (auto _ : state) {
    Packet* p = (*pool)->Alloc();
    benchmark::DoNotOptimize(p);
    Release(p);
  }
  ReportPerItem(state, 1);
}

BENCHMARK(BM_BareHandlerCall);
BENCHMARK(BM_BareFunctionPointerCall);
BENCHMARK(BM_BareHandlerCallBurst)->Arg(32);
BENCHMARK(BM_DirectDispatch);
BENCHMARK(BM_DirectDispatchBurst)->Arg(32);
BENCHMARK(BM_BareSpscHandoff)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_DeferredHandoff)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_DeferredHandoffPoll)->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_PoolAllocFree);

}  // namespace
}  // namespace netisr
