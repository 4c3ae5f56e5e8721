// What the sleeping work models (threads, fibers) do when a round finds
// nothing: spin a while, then sleep. Sources are polled, not signalled, so
// the spin must keep polling a worker's live sources; before it did, a
// paced source waited out the whole spin and then the sleep (threads model,
// paced 0.5-2 Mpps: median latency ~100 us; docs/adaptive.md 4, "Light
// load").
//
// Built twice like conformance_test: the threads model here, which
// ThreadSanitizer checks, and the fibers model with
// NETISR_TEST_MODELS_FIBERS (see tests/netisr/BUILD for why not under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

#ifdef NETISR_TEST_MODELS_FIBERS
constexpr const char* kModel = "fibers";
#else
constexpr const char* kModel = "threads";
#endif

// One unbound worker of the model under test, with the given idle spin
// (pauses) and source-poll sleep (us).
Settings OneWorker(uint32_t idle_spin, uint32_t idle_sleep_us) {
  Settings s = UnboundWorkers(1);
  s.idle_spin = idle_spin;
  s.idle_sleep_us = idle_sleep_us;
  return s;
}

ProtocolSpec DirectSpec(Checker& checker) {
  ProtocolSpec spec;
  spec.name = "tcp";
  spec.handler = checker.handler();
  spec.dispatch = DispatchMode::kDirect;
  return spec;
}

// Brings nothing in on its first `empty` polls, then its packets: a NIC
// ring that fills only after its worker first found it empty. Touched only
// by the polling worker.
class LateSource : public IngressSource {
 public:
  LateSource(SeqSource& inner, int empty) : inner_(inner), empty_left_(empty) {}
  size_t Poll(Netisr& nisr, size_t budget) override {
    if (empty_left_ > 0) {
      --empty_left_;
      return 0;
    }
    return inner_.Poll(nisr, budget);
  }
  bool Exhausted() const override { return inner_.Exhausted(); }

 private:
  SeqSource& inner_;
  int empty_left_;
};

// With the longest spin and sleep the settings allow (1e6 pauses, ~25 ms
// here; 1 s), 20 empty polls cost ~20 s if the spin does not poll sources,
// and microseconds if it does. The deadline sits far between the two.
TEST(SleepingModel, SpinKeepsPollingLiveSources) {
  auto nisr = MakeNetisr(kModel, OneWorker(1'000'000, 1'000'000));
  ASSERT_NE(nisr, nullptr);
  Checker checker(4);
  auto proto = nisr->Register(DirectSpec(checker));
  ASSERT_TRUE(proto.ok());
  auto pool = MakePool(256);
  SeqSource inner(*pool, *proto, 0, Range(0, 4), 100);
  LateSource late(inner, 20);
  ASSERT_TRUE(nisr->AttachSource(0, &late).ok());
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::seconds(5);
  ASSERT_TRUE(nisr->Start().ok());
  while (checker.delivered() < 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  nisr->Stop();
  EXPECT_EQ(checker.delivered(), 100u);
  EXPECT_LT(took, std::chrono::seconds(5)) << "the idle spin did not poll the source";
  EXPECT_EQ(checker.reordered(), 0u);
}

// A live source that never brings anything in: the worker must still
// sleep between spins. Each idle period polls it idle_spin /
// kSourcePollPauses + 1 times (11 here) and then sleeps idle_sleep_us, so
// 100 ms hold ~110 polls; a budget that restarted on every poll would never
// sleep and poll every ~2 us, tens of thousands of times. The bound is an
// upper one, so a slow or loaded machine only makes it easier to meet.
class EmptySource : public IngressSource {
 public:
  size_t Poll(Netisr&, size_t) override {
    polls_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  bool Exhausted() const override { return finished_.load(std::memory_order_relaxed); }
  void Finish() { finished_.store(true, std::memory_order_relaxed); }
  uint64_t polls() const { return polls_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> polls_{0};
  std::atomic<bool> finished_{false};
};

TEST(SleepingModel, IdleWorkerWithAnEmptySourceStillSleeps) {
  auto nisr = MakeNetisr(kModel, OneWorker(640, 10'000));
  ASSERT_NE(nisr, nullptr);
  Checker checker(1);
  ASSERT_TRUE(nisr->Register(DirectSpec(checker)).ok());
  EmptySource empty;
  ASSERT_TRUE(nisr->AttachSource(0, &empty).ok());
  ASSERT_TRUE(nisr->Start().ok());
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const uint64_t polls = empty.polls();
  const auto took = std::chrono::steady_clock::now() - t0;
  empty.Finish();
  nisr->Stop();
  const double ms = std::chrono::duration<double, std::milli>(took).count();
  std::printf("%llu polls in %.1f ms\n", static_cast<unsigned long long>(polls), ms);
  EXPECT_GT(polls, 0u);
  // ~11 polls per 10 ms; allow 10x for early timer expiries.
  EXPECT_LT(static_cast<double>(polls), 11.0 * ms);
}

}  // namespace
}  // namespace netisr::testing
