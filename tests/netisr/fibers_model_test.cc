// The fibers model's own promise, beyond the conformance suite: a
// workstream's source polling and its deferred protocol work run on the same
// OS thread, in different fibers (receive and drain), a worker asleep in the
// futex handshake is woken by producers, and a queued handler may wait
// (netisr/fiber_sync.h) while the worker runs its other protocol work,
// without reordering a flow or losing a packet.
//
// Not tagged `concurrency`: ThreadSanitizer cannot follow Boost 1.74's
// fiber stack switches (see tests/netisr/BUILD).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/fiber/operations.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "netisr/fiber_sync.h"
#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

// The OS threads and fibers one kind of work of one workstream ran on.
struct Where {
  std::set<std::thread::id> threads;
  std::set<boost::fibers::fiber::id> fibers;
};

// Where each workstream polled its sources and ran its handlers. A mutex
// rather than relying on the model under test to keep them apart.
class Recorder {
 public:
  explicit Recorder(int nws) : poll_(nws), handle_(nws) {}
  void Poll(int ws) { Record(poll_, ws); }
  void Handle(int ws) { Record(handle_, ws); }
  Where poll(int ws) const {
    std::lock_guard<std::mutex> lock(mu_);
    return poll_[ws];
  }
  Where handle(int ws) const {
    std::lock_guard<std::mutex> lock(mu_);
    return handle_[ws];
  }
  int misplaced() const {
    std::lock_guard<std::mutex> lock(mu_);
    return misplaced_;
  }

 private:
  void Record(std::vector<Where>& where, int ws) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ws < 0 || ws >= static_cast<int>(where.size())) {
      ++misplaced_;
      return;
    }
    where[ws].threads.insert(std::this_thread::get_id());
    where[ws].fibers.insert(boost::this_fiber::get_id());
  }

  mutable std::mutex mu_;
  std::vector<Where> poll_;
  std::vector<Where> handle_;
  int misplaced_ = 0;
};

// A SeqSource that records where it is polled.
class RecordingSource : public IngressSource {
 public:
  RecordingSource(Recorder& rec, PacketPool& pool, ProtocolId proto, uint16_t id,
                  std::vector<uint32_t> flows, uint64_t count)
      : rec_(rec), inner_(pool, proto, id, std::move(flows), count) {}
  size_t Poll(Netisr& nisr, size_t budget) override {
    rec_.Poll(Netisr::CurrentWorkstream());
    return inner_.Poll(nisr, budget);
  }
  bool Exhausted() const override { return inner_.Exhausted(); }

 private:
  Recorder& rec_;
  SeqSource inner_;
};

// Queues one packet of `proto` from a producer that is not a worker (the
// test's thread), so that a worker's drain fiber runs its handler.
void QueueOneFromOutside(Netisr& nisr, PacketPool& pool, ProtocolId proto) {
  Netisr::ProducerScope scope(nisr);
  ASSERT_TRUE(scope.status().ok());
  ASSERT_EQ(nisr.QueueSrc(0, proto, pool.Alloc()), Outcome::kQueued);
}

// Conservation after Stop: nothing dropped, every buffer back in its pool.
void ExpectEveryPacketHandledAndBack(Netisr& nisr, const PacketPool& pool) {
  EXPECT_EQ(pool.available(), pool.capacity());
  EXPECT_EQ(nisr.GetStats().TotalDrops(), 0u);
}

TEST(FibersModel, PollingAndDeferredWorkShareTheWorkersThread) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(2));
  ASSERT_NE(nisr, nullptr);
  EXPECT_EQ(nisr->model_name(), "fibers");
  auto pool = MakePool(4096);
  Checker checker(100);
  Recorder rec(2);
  ProtocolSpec spec;
  spec.name = "f";
  spec.handler = [&](Burst b) {
    rec.Handle(Netisr::CurrentWorkstream());
    checker.Handle(b);
  };
  spec.dispatch = DispatchMode::kDeferred;  // every handler runs from DrainQueues
  spec.qlimit = 1024;
  auto proto = nisr->Register(spec);
  ASSERT_TRUE(proto.ok());
  // Each source's flows spread over both workstreams, so each worker's
  // softirq fiber runs packets of both sources.
  RecordingSource a(rec, *pool, *proto, 0, Range(0, 20), 5000);
  RecordingSource b(rec, *pool, *proto, 1, Range(50, 20), 5000);
  ASSERT_TRUE(nisr->AttachSource(0, &a).ok());
  ASSERT_TRUE(nisr->AttachSource(1, &b).ok());
  ASSERT_TRUE(nisr->Start().ok());
  nisr->RunUntilIdle();
  nisr->Stop();  // nothing left queued: no handler runs on this thread

  const Stats st = nisr->GetStats();
  EXPECT_EQ(checker.delivered() + st.TotalDrops(), 10000u);
  EXPECT_EQ(checker.reordered(), 0u);
  EXPECT_EQ(rec.misplaced(), 0);
  std::set<std::thread::id> worker_threads;
  for (int w = 0; w < 2; ++w) {
    SCOPED_TRACE("workstream " + std::to_string(w));
    const Where poll = rec.poll(w);
    const Where handle = rec.handle(w);
    ASSERT_EQ(poll.threads.size(), 1u);
    ASSERT_EQ(handle.threads.size(), 1u);
    EXPECT_EQ(*poll.threads.begin(), *handle.threads.begin());
    EXPECT_NE(*poll.threads.begin(), std::this_thread::get_id());
    worker_threads.insert(*poll.threads.begin());
    // One receive fiber, one drain fiber (no handler waits, so no other
    // drainer is started), and they are not the same.
    ASSERT_EQ(poll.fibers.size(), 1u);
    ASSERT_EQ(handle.fibers.size(), 1u);
    EXPECT_NE(*poll.fibers.begin(), *handle.fibers.begin());
  }
  EXPECT_EQ(worker_threads.size(), 2u);  // one thread per workstream
  EXPECT_EQ(pool->available(), pool->capacity());
}

// Workers without sources sleep with no timeout, so only producers' wakes
// get these packets handled: were a wake lost, RunUntilIdle would never
// return. The pauses let the workers fall asleep between bursts.
TEST(FibersModel, SleepingWorkersAreWokenByProducers) {
  Checker checker(10);
  constexpr int kBursts = 100;
  const Stats st = RunExternalBursts("fibers", checker, kBursts);
  EXPECT_EQ(checker.delivered(), kBursts * 32u);
  EXPECT_EQ(checker.reordered(), 0u);
  for (const auto& w : st.workstreams) EXPECT_LE(w.wakeups, static_cast<uint64_t>(kBursts));
  // And they did sleep: the producer pauses 1 ms every 10 bursts, far
  // longer than the idle spin (2000 pauses), so a sleeping model is asleep
  // at some of those bursts and gets woken; a model that never slept would
  // count no wakeup at all.
  EXPECT_GT(st.workstreams[0].wakeups + st.workstreams[1].wakeups, 0u);
}

// --- Cooperative waiting (fiber_sync.h) -------------------------------

// Handler of protocol "setter": sets the event the packet's waiter waits
// on (carried in Packet::seq as an index into `events`).
struct PingPong {
  std::vector<std::unique_ptr<fiber::Event>> events;
  std::atomic<uint64_t> sets{0};
  HandlerFn setter() {
    return [this](Burst b) {
      for (Packet* p : b) {
        events[p->seq]->Set();
        sets.fetch_add(1, std::memory_order_relaxed);
        Release(p);
      }
    };
  }
};

// A deferred handler waits for an event that only another protocol's
// handler, queued behind it on the same worker, sets: with one thread and
// one drainer (or the threads model) this is a deadlock; under fibers the
// worker drains the setter's lane in another fiber meanwhile.
TEST(FibersWait, AHandlerWaitsForAnEventAnotherFiberOnItsWorkerSets) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
  ASSERT_NE(nisr, nullptr);
  auto pool = MakePool(64);
  PingPong pp;
  pp.events.push_back(std::make_unique<fiber::Event>());
  ProtocolSpec setter;
  setter.name = "setter";
  setter.handler = pp.setter();
  setter.dispatch = DispatchMode::kDeferred;
  auto setter_id = nisr->Register(setter);
  ASSERT_TRUE(setter_id.ok());
  std::atomic<int> waits_ok{0}, waits_failed{0};
  std::thread::id waiter_thread, setter_thread;
  ProtocolSpec waiter;
  waiter.name = "waiter";
  waiter.dispatch = DispatchMode::kDeferred;
  waiter.handler = [&](Burst b) {
    waiter_thread = std::this_thread::get_id();
    Packet* ping = pool->Alloc();
    ping->seq = 0;
    EXPECT_EQ(nisr->QueueSrc(0, *setter_id, ping), Outcome::kQueued);
    const Status st = pp.events[0]->Wait();
    (st.ok() ? waits_ok : waits_failed).fetch_add(1);
    for (Packet* p : b) Release(p);
  };
  auto waiter_id = nisr->Register(waiter);
  ASSERT_TRUE(waiter_id.ok());
  ASSERT_TRUE(nisr->Start().ok());
  QueueOneFromOutside(*nisr, *pool, *waiter_id);
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(waits_ok.load(), 1);
  EXPECT_EQ(waits_failed.load(), 0);
  EXPECT_EQ(pp.sets.load(), 1u);
  ExpectEveryPacketHandledAndBack(*nisr, *pool);
}

// As above with Yield instead of a wait: a handler yielding until another
// protocol's handler, queued behind it on the same worker, sets a flag.
// Yield used to switch fibers without handing the queues to another drain
// fiber, so only the receive fiber ran and the flag was never set.
TEST(FibersWait, AYieldingHandlerLetsOtherLanesRun) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
  ASSERT_NE(nisr, nullptr);
  auto pool = MakePool(64);
  PingPong pp;
  pp.events.push_back(std::make_unique<fiber::Event>());
  ProtocolSpec setter;
  setter.name = "setter";
  setter.handler = pp.setter();
  setter.dispatch = DispatchMode::kDeferred;
  auto setter_id = nisr->Register(setter);
  ASSERT_TRUE(setter_id.ok());
  // Bounded, so that a Yield that lets nothing else run fails the test
  // instead of hanging it.
  constexpr int kMaxYields = 100000;
  std::atomic<int> yields{0};
  std::atomic<bool> saw_set{false};
  ProtocolSpec spinner;
  spinner.name = "spinner";
  spinner.dispatch = DispatchMode::kDeferred;
  spinner.handler = [&](Burst b) {
    Packet* ping = pool->Alloc();
    ping->seq = 0;
    EXPECT_EQ(nisr->QueueSrc(0, *setter_id, ping), Outcome::kQueued);
    int n = 0;
    while (!pp.events[0]->is_set() && n < kMaxYields && fiber::Yield()) ++n;
    yields.store(n);
    saw_set.store(pp.events[0]->is_set());
    for (Packet* p : b) Release(p);
  };
  auto spinner_id = nisr->Register(spinner);
  ASSERT_TRUE(spinner_id.ok());
  ASSERT_TRUE(nisr->Start().ok());
  QueueOneFromOutside(*nisr, *pool, *spinner_id);
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_TRUE(saw_set.load());
  EXPECT_GE(yields.load(), 1);
  EXPECT_LT(yields.load(), kMaxYields);
  EXPECT_EQ(pp.sets.load(), 1u);
  ExpectEveryPacketHandledAndBack(*nisr, *pool);
}

// m2flow (and m2cpuid) run inside the producer's Enter with the chunk's
// flow buckets half filed: a nested dispatch from a queued handler, which
// may itself wait, must not let them wait.
TEST(FibersWait, ClassificationCallbacksMayNotWait) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
  ASSERT_NE(nisr, nullptr);
  auto pool = MakePool(64);
  std::atomic<int> m2flow_calls{0}, m2flow_could_wait{0}, outer_could_wait{0};
  ProtocolSpec inner;
  inner.name = "inner";
  inner.policy = Policy::kFlow;
  inner.dispatch = DispatchMode::kDeferred;
  inner.m2flow = [&](Packet& p) {
    m2flow_calls.fetch_add(1);
    if (fiber::CanWait()) m2flow_could_wait.fetch_add(1);
    p.SetFlowId(7, HashType::kOpaque);
    return true;
  };
  inner.handler = [](Burst b) {
    for (Packet* p : b) Release(p);
  };
  auto inner_id = nisr->Register(inner);
  ASSERT_TRUE(inner_id.ok());
  ProtocolSpec outer;
  outer.name = "outer";
  outer.dispatch = DispatchMode::kDeferred;
  outer.handler = [&](Burst b) {
    if (fiber::CanWait()) outer_could_wait.fetch_add(1);
    for (Packet* p : b) EXPECT_EQ(nisr->QueueSrc(0, *inner_id, p), Outcome::kQueued);
  };
  auto outer_id = nisr->Register(outer);
  ASSERT_TRUE(outer_id.ok());
  ASSERT_TRUE(nisr->Start().ok());
  QueueOneFromOutside(*nisr, *pool, *outer_id);
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(outer_could_wait.load(), 1);  // the queued handler itself may
  EXPECT_EQ(m2flow_calls.load(), 1);
  EXPECT_EQ(m2flow_could_wait.load(), 0);
  EXPECT_EQ(pool->available(), pool->capacity());
}

// A worker's source feeds flows 0..7 of protocol "p", and an external
// producer queued flows 100..103 before Start; every third queued burst of
// p queues one packet of protocol "setter" and waits for it to run, while
// the worker keeps polling and queueing more p packets behind it. Checks: per-flow order, every
// packet handled or counted and back in the pool, no p burst of a lane starting while another of
// the same lane waits (source id stands for the lane: one producer each), and that the waits really
// happened. Under hybrid the worker's own packets run directly in the receive fiber, where the
// handler may not wait (CanWait false), whenever nothing is queued or running: direct and waiting
// runs of the same flows mix.
TEST(FibersWait, WaitingHandlersKeepFlowOrderAndConservePackets) {
  for (DispatchMode mode : {DispatchMode::kDeferred, DispatchMode::kHybrid}) {
    SCOPED_TRACE(std::string(ToString(mode)));
    auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
    ASSERT_NE(nisr, nullptr);
    constexpr uint64_t kPackets = 4000;
    auto pool = MakePool(2048);
    PingPong pp;
    for (int i = 0; i < 64; ++i) pp.events.push_back(std::make_unique<fiber::Event>());
    ProtocolSpec setter;
    setter.name = "setter";
    setter.handler = pp.setter();
    setter.dispatch = DispatchMode::kDeferred;
    auto setter_id = nisr->Register(setter);
    ASSERT_TRUE(setter_id.ok());
    Checker checker(128);
    int in_p[2] = {0, 0};  // p handlers entered and not returned, by source
    int overlapped = 0, waited = 0, wait_errors = 0, direct = 0;
    uint64_t next_event = 0, queued_bursts = 0;
    ProtocolSpec p;
    p.name = "p";
    p.dispatch = mode;
    p.handler = [&](Burst b) {
      const uint16_t lane = b[0]->source;
      overlapped += in_p[lane] > 0;
      ++in_p[lane];
      // Every third queued burst waits, so the queue empties at times and
      // hybrid runs the worker's packets directly in between.
      if (fiber::CanWait() && queued_bursts++ % 3 == 0) {
        fiber::Event& ev = *pp.events[next_event % pp.events.size()];
        ev.Reset();
        Packet* ping = pool->Alloc();
        if (ping != nullptr) {
          ping->seq = next_event++ % pp.events.size();
          nisr->QueueSrc(0, *setter_id, ping);
          if (ev.Wait().ok()) {
            ++waited;
          } else {
            ++wait_errors;
          }
        }
      } else if (!fiber::CanWait()) {
        ++direct;
      }
      --in_p[lane];
      checker.Handle(b);
    };
    auto p_id = nisr->Register(p);
    ASSERT_TRUE(p_id.ok());
    SeqSource src(*pool, *p_id, 0, Range(0, 8), kPackets);
    ASSERT_TRUE(nisr->AttachSource(0, &src).ok());
    constexpr uint64_t kExternal = 256;
    {
      Netisr::ProducerScope scope(*nisr);
      ASSERT_TRUE(scope.status().ok());
      Packet* pkts[kExternal];
      ASSERT_EQ(pool->AllocBulk(pkts), kExternal);
      for (uint64_t i = 0; i < kExternal; ++i) {
        pkts[i]->SetFlowId(100 + i % 4, HashType::kOpaque);
        pkts[i]->seq = 1 + i / 4;
      }
      ASSERT_EQ(nisr->QueueBurst(1, *p_id, pkts).queued, kExternal);
    }
    ASSERT_TRUE(nisr->Start().ok());
    nisr->RunUntilIdle();
    nisr->Stop();
    const Stats st = nisr->GetStats();
    EXPECT_EQ(checker.delivered() + st.TotalDrops(), kPackets + kExternal);
    EXPECT_EQ(checker.reordered(), 0u);
    EXPECT_EQ(overlapped, 0) << "a p burst ran while another of its lane waited";
    EXPECT_GT(waited, 0);
    EXPECT_EQ(wait_errors, 0);
    EXPECT_EQ(pp.sets.load(), static_cast<uint64_t>(waited));
    if (mode == DispatchMode::kDeferred) {
      EXPECT_EQ(direct, 0);
    }
    EXPECT_EQ(pool->available(), pool->capacity());
    std::printf("%s: %d bursts waited, %d ran directly\n", std::string(ToString(mode)).c_str(),
                waited, direct);
  }
}

// Two protocols' handlers take one fiber::Mutex across a wait: the second
// blocks in Lock until the first unlocks, then gets it (hand-off).
TEST(FibersWait, MutexIsHandedToTheWaitingHandler) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
  ASSERT_NE(nisr, nullptr);
  auto pool = MakePool(16);
  fiber::Mutex mu;
  fiber::Event go;
  std::vector<std::string> log;  // worker thread only
  ProtocolSpec b;
  b.name = "b";
  b.dispatch = DispatchMode::kDeferred;
  b.handler = [&](Burst burst) {
    log.push_back("b locks");
    go.Set();  // lets a reach its Unlock once b blocks
    if (mu.Lock().ok()) {
      log.push_back("b holds");
      mu.Unlock();
    }
    for (Packet* p : burst) Release(p);
  };
  auto b_id = nisr->Register(b);
  ASSERT_TRUE(b_id.ok());
  ProtocolSpec a;
  a.name = "a";
  a.dispatch = DispatchMode::kDeferred;
  a.handler = [&](Burst burst) {
    ASSERT_TRUE(mu.Lock().ok());
    log.push_back("a holds");
    nisr->QueueSrc(0, *b_id, pool->Alloc());
    EXPECT_TRUE(go.Wait().ok());
    // b ran up to its Lock while we waited: the mutex is ours still.
    EXPECT_TRUE(fiber::Yield());
    log.push_back("a unlocks");
    mu.Unlock();
    for (Packet* p : burst) Release(p);
  };
  auto a_id = nisr->Register(a);
  ASSERT_TRUE(a_id.ok());
  ASSERT_TRUE(nisr->Start().ok());
  QueueOneFromOutside(*nisr, *pool, *a_id);
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(log, (std::vector<std::string>{"a holds", "b locks", "a unlocks", "b holds"}));
  EXPECT_FALSE(mu.locked());
  EXPECT_EQ(pool->available(), pool->capacity());
}

// A handler that waits for an event nobody sets does not hold up Stop: the
// stopping worker ends the wait with an error, the handler releases its
// packet, and nothing is lost.
TEST(FibersWait, StopEndsAWaitNobodyWillEnd) {
  auto nisr = MakeNetisr("fibers", UnboundWorkers(1));
  ASSERT_NE(nisr, nullptr);
  auto pool = MakePool(16);
  fiber::Event never;
  std::atomic<bool> waiting{false};
  Status result;
  ProtocolSpec spec;
  spec.name = "stuck";
  spec.dispatch = DispatchMode::kDeferred;
  spec.handler = [&](Burst b) {
    waiting.store(true);
    result = never.Wait();
    // Refused at once now: the worker is stopping.
    EXPECT_FALSE(fiber::CanWait());
    for (Packet* p : b) Release(p);
  };
  auto id = nisr->Register(spec);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(nisr->Start().ok());
  QueueOneFromOutside(*nisr, *pool, *id);
  while (!waiting.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(nisr->Idle());  // the waiting burst is still in flight
  nisr->Stop();
  EXPECT_EQ(result.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(result.message(), "worker stopping");
  ExpectEveryPacketHandledAndBack(*nisr, *pool);
}

// Where waiting is not allowed, Wait and a contended Lock fail at once and
// Yield does nothing: on a thread outside any worker, in a threads- or
// inline-model worker, and under fibers in a handler run directly, from
// the receive fiber (a source's dispatch) or nested in a queued handler
// (a drain fiber inside Enter). Were any of them to block, this test would
// hang instead.
void ExpectCannotWait(const char* where) {
  SCOPED_TRACE(where);
  EXPECT_FALSE(fiber::CanWait());
  EXPECT_FALSE(fiber::Yield());
  fiber::Event ev;
  const Status st = ev.Wait();
  EXPECT_EQ(st.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("fiber::Event::Wait"), std::string::npos) << st.message();
  fiber::Mutex mu;
  EXPECT_TRUE(mu.Lock().ok());  // uncontended: fine anywhere
  EXPECT_EQ(mu.Lock().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(mu.TryLock());
  mu.Unlock();
  EXPECT_FALSE(mu.locked());
  ev.Set();
  EXPECT_TRUE(ev.Wait().ok());  // already set: no need to wait
}

TEST(FibersWait, OutsideAQueuedFibersHandlerWaitsFailAtOnce) {
  ExpectCannotWait("test thread");
  struct Case {
    const char* model;
    DispatchMode mode;
    bool nested;  // fed through a queued "outer" handler that dispatches on
  };
  for (const Case c : {Case{"threads", DispatchMode::kDeferred, false},
                       Case{"inline", DispatchMode::kDeferred, false},
                       Case{"fibers", DispatchMode::kDirect, false},
                       Case{"fibers", DispatchMode::kDirect, true}}) {
    const std::string where =
        std::string(c.model) + " " + std::string(ToString(c.mode)) + (c.nested ? " nested" : "");
    auto nisr = MakeNetisr(c.model, UnboundWorkers(1));
    ASSERT_NE(nisr, nullptr);
    auto pool = MakePool(16);
    std::atomic<int> ran{0};
    ProtocolSpec spec;
    spec.name = "x";
    spec.dispatch = c.mode;
    spec.handler = [&](Burst b) {
      ExpectCannotWait(where.c_str());
      ran.fetch_add(1);
      for (Packet* p : b) Release(p);
    };
    auto id = nisr->Register(spec);
    ASSERT_TRUE(id.ok());
    ProtocolSpec outer;
    outer.name = "outer";
    outer.dispatch = DispatchMode::kDeferred;
    outer.handler = [&](Burst b) {
      EXPECT_TRUE(fiber::CanWait()) << where;  // a queued handler may wait...
      EXPECT_EQ(nisr->DispatchBurst(0, *id, b).handled, b.size()) << where;  // ...not x
    };
    auto outer_id = nisr->Register(outer);
    ASSERT_TRUE(outer_id.ok());
    auto src = std::make_unique<SeqSource>(*pool, c.nested ? *outer_id : *id, 0, Range(0, 1), 1);
    ASSERT_TRUE(nisr->AttachSource(0, src.get()).ok());
    ASSERT_TRUE(nisr->Start().ok());
    nisr->RunUntilIdle();
    nisr->Stop();
    EXPECT_EQ(ran.load(), 1) << where;
    EXPECT_EQ(pool->available(), pool->capacity());
  }
}

}  // namespace
}  // namespace netisr::testing
