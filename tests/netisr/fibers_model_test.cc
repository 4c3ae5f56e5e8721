// The fibers model's own promise, beyond the conformance suite: a
// workstream's source polling and its deferred protocol work run on the same
// OS thread, in two different fibers (receive and softirq), and a worker
// asleep in the futex handshake is woken by producers.
//
// Not tagged `concurrency`: ThreadSanitizer cannot follow Boost 1.74's
// fiber stack switches (see tests/netisr/BUILD).
#include <gtest/gtest.h>

#include <boost/fiber/operations.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

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
    // One receive fiber, one softirq fiber, and they are not the same.
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
}

}  // namespace
}  // namespace netisr::testing
