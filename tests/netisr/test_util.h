// Shared fixtures for the netisr tests: a finite ingress source that stamps
// per-flow sequence numbers, and a handler that checks them.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "harness/order_check.h"
#include "netisr/netisr.h"

namespace netisr::testing {

// Emits `count` packets round-robin over `flows` (flowids), numbering each
// flow's packets 1, 2, 3... Owns nothing but a cursor; polled on one worker.
class SeqSource : public IngressSource {
 public:
  SeqSource(PacketPool& pool, ProtocolId proto, uint16_t source_id, std::vector<uint32_t> flows,
            uint64_t count)
      : pool_(pool),
        proto_(proto),
        source_id_(source_id),
        flows_(std::move(flows)),
        next_seq_(flows_.size(), 1),
        count_(count),
        remaining_(count) {}

  size_t Poll(Netisr& nisr, size_t budget) override {
    Packet* burst[256];
    size_t n = pool_.AllocBulk({burst, std::min<size_t>({budget, remaining_, 256})});
    for (size_t i = 0; i < n; ++i) {
      const size_t f = cursor_++ % flows_.size();
      burst[i]->SetFlowId(flows_[f], HashType::kOpaque);
      burst[i]->seq = next_seq_[f]++;
    }
    remaining_ -= n;
    nisr.DispatchBurst(source_id_, proto_, {burst, n});
    return n;
  }
  bool Exhausted() const override { return remaining_ == 0; }
  uint64_t sent() const { return count_ - remaining_; }

 private:
  PacketPool& pool_;
  ProtocolId proto_;
  uint16_t source_id_;
  std::vector<uint32_t> flows_;
  std::vector<uint64_t> next_seq_;
  uint64_t count_;
  uint64_t remaining_;
  size_t cursor_ = 0;
};

// Per-flow order checker (harness::FlowOrderCheck, exact by flowid) and
// delivery counter.
class Checker {
 public:
  explicit Checker(uint32_t max_flow) : order_(harness::FlowOrderCheck::Exact(max_flow + 1)) {}

  void Handle(Burst burst) {
    for (Packet* p : burst) {
      if (!order_.InOrder(p->flowid, p->seq)) reordered_.fetch_add(1, std::memory_order_relaxed);
      delivered_.fetch_add(1, std::memory_order_relaxed);
      Release(p);
    }
  }
  HandlerFn handler() {
    return [this](Burst b) { Handle(b); };
  }
  uint64_t delivered() const { return delivered_.load(); }
  uint64_t reordered() const { return reordered_.load(); }

 private:
  harness::FlowOrderCheck order_;
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> reordered_{0};
};

inline std::vector<uint32_t> Range(uint32_t first, uint32_t n) {
  std::vector<uint32_t> v;
  for (uint32_t i = 0; i < n; ++i) v.push_back(first + i);
  return v;
}

// `workers` workstreams whose threads are not pinned: tests share the
// machine's CPUs with each other.
inline Settings UnboundWorkers(int workers) {
  Settings s;
  s.max_threads = workers;
  s.bind_threads = false;
  return s;
}

inline std::unique_ptr<Netisr> MakeNetisr(const char* model, Settings s) {
  auto m = MakeWorkModel(model);
  if (!m.ok()) return nullptr;
  auto n = Netisr::Create(s, std::move(m).value());
  return n.ok() ? std::move(n).value() : nullptr;
}

inline std::unique_ptr<PacketPool> MakePool(uint32_t n) {
  return std::move(PacketPool::Create(n, 64)).value();
}

// As an external producer (the caller holds a ProducerScope), queues
// `bursts` bursts of 32 packets over flows 0 and 1 (both workstreams of a
// two-workstream netisr, one sequence per flow), pausing 1 ms every 10
// bursts so that workers of a sleeping model fall asleep in between and
// must be woken. Returns how many packets were queued; stops early if the
// pool runs dry.
inline uint64_t QueueBurstsToTwoWorkstreams(Netisr& nisr, PacketPool& pool, ProtocolId proto,
                                            int bursts) {
  uint64_t queued = 0;
  uint64_t seq[2] = {1, 1};
  for (int i = 0; i < bursts; ++i) {
    Packet* pkts[32];
    const size_t n = pool.AllocBulk(pkts);
    for (size_t k = 0; k < n; ++k) {
      pkts[k]->SetFlowId(static_cast<uint32_t>(k % 2), HashType::kOpaque);
      pkts[k]->seq = seq[k % 2]++;
    }
    queued += nisr.QueueBurst(0, proto, {pkts, n}).queued;
    if (n < 32) break;
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return queued;
}

// Starts a two-workstream dispatcher of `model` with a deferred protocol
// whose handler is `checker`, queues `bursts` bursts of 32 from an external
// producer (QueueBurstsToTwoWorkstreams), runs it to idle, stops it and
// returns its stats: the shared body of the wakeup tests of every model.
inline Stats RunExternalBursts(const char* model, Checker& checker, int bursts) {
  auto nisr = MakeNetisr(model, UnboundWorkers(2));
  if (nisr == nullptr) {
    ADD_FAILURE() << "could not create a " << model << " dispatcher";
    return {};
  }
  EXPECT_EQ(nisr->model_name(), model);
  ProtocolSpec spec;
  spec.name = "bursts";
  spec.handler = checker.handler();
  spec.dispatch = DispatchMode::kDeferred;
  spec.qlimit = 4096;
  auto proto = nisr->Register(spec);
  auto pool = MakePool(4096);
  if (!proto.ok() || !nisr->Start().ok()) {
    ADD_FAILURE() << "could not register or start";
    return {};
  }
  {
    Netisr::ProducerScope scope(*nisr);
    EXPECT_TRUE(scope.status().ok());
    EXPECT_EQ(QueueBurstsToTwoWorkstreams(*nisr, *pool, *proto, bursts), bursts * 32u);
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(pool->available(), pool->capacity());
  return nisr->GetStats();
}

}  // namespace netisr::testing
