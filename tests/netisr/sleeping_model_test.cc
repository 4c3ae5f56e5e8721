// What the sleeping work models (threads, fibers) do when a round finds
// nothing: spin a while, then sleep. Sources are polled, not signalled, so
// the spin must keep polling a worker's live sources; before it did, a
// paced source waited out the whole spin and then the sleep (threads model,
// paced 0.5-2 Mpps: median latency ~100 us, docs/adaptive.md 4).
//
// Built twice like conformance_test: the threads model here, which
// ThreadSanitizer checks, and the fibers model with
// NETISR_TEST_MODELS_FIBERS (see tests/netisr/BUILD for why not under TSan).
#include <gtest/gtest.h>

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
  Settings s;
  s.max_threads = 1;
  s.bind_threads = false;
  s.idle_spin = 1'000'000;
  s.idle_sleep_us = 1'000'000;
  auto nisr = MakeNetisr(kModel, s);
  ASSERT_NE(nisr, nullptr);
  Checker checker(4);
  ProtocolSpec spec;
  spec.name = "tcp";
  spec.handler = checker.handler();
  spec.dispatch = DispatchMode::kDirect;
  auto proto = nisr->Register(spec);
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

}  // namespace
}  // namespace netisr::testing
