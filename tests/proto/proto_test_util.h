// Shared fixtures for the proto tests: a netisr with the protocol stack
// registered, a packet pool to send frames from, and a sink that counts
// deliveries per terminal layer.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "netisr/netisr.h"
#include "proto/stack.h"
#include "tests/base/naive_checksum.h"

namespace netisr::proto::testing {

// For the hand-written frames; see tests/base/naive_checksum.h.
using base::testing::NaiveChecksum;

class StackHarness {
 public:
  // model: "inline" or "threads"; workstreams: netisr's max_threads.
  // fused_ipv4: StackOptions::fused_ipv4.
  StackHarness(const char* model, int workstreams, DispatchMode mode, uint32_t pool_size = 256,
               bool fused_ipv4 = true) {
    Settings s;
    s.max_threads = workstreams;
    s.bind_threads = false;
    auto m = MakeWorkModel(model);
    EXPECT_TRUE(m.ok());
    auto n = Netisr::Create(s, std::move(m).value());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    nisr_ = std::move(n).value();
    pool_ = std::move(PacketPool::Create(pool_size, 2048)).value();
    StackOptions o;
    o.dispatch = mode;
    o.fused_ipv4 = fused_ipv4;
    o.deliver = [this](Layer layer, Burst b) {
      delivered_[static_cast<size_t>(layer)].fetch_add(b.size(), std::memory_order_relaxed);
      deliver_calls_.fetch_add(1, std::memory_order_relaxed);
      for (Packet* p : b) {
        if (on_deliver) on_deliver(layer, *p);
        Release(p);
      }
    };
    auto st = ProtocolStack::Register(*nisr_, std::move(o));
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    stack_ = std::move(st).value();
    EXPECT_TRUE(nisr_->Start().ok());
  }
  ~StackHarness() { nisr_->Stop(); }

  // Called with each delivered packet before it is released (set it before
  // sending; it runs on the workers).
  std::function<void(Layer, const Packet&)> on_deliver;

  // Copies each frame into a pool packet and dispatches them to ether as
  // one burst from an external producer; then runs until idle. Returns how
  // many were sent. `csum_good`: Packet::rx_csum_good, as a NIC reporting
  // checksum-good flags would set it.
  size_t Send(const std::vector<std::vector<uint8_t>>& frames, uint16_t source = 0,
              uint8_t csum_good = 0) {
    Netisr::ProducerScope scope(*nisr_);
    EXPECT_TRUE(scope.status().ok());
    std::vector<Packet*> pkts;
    for (const auto& f : frames) {
      Packet* p = pool_->Alloc();
      EXPECT_NE(p, nullptr);
      EXPECT_LE(f.size(), pool_->buf_size());
      if (!f.empty()) std::memcpy(p->data, f.data(), f.size());
      p->len = static_cast<uint32_t>(f.size());
      p->source = source;
      p->rx_csum_good = csum_good;
      pkts.push_back(p);
    }
    nisr_->DispatchBurst(source, stack_->ether(), pkts);
    return pkts.size();
  }
  void Drain() { nisr_->RunUntilIdle(); }

  uint64_t delivered(Layer l) const { return delivered_[static_cast<size_t>(l)].load(); }
  uint64_t delivered_total() const {
    uint64_t n = 0;
    for (const auto& d : delivered_) n += d.load();
    return n;
  }
  // Calls of StackOptions::deliver (each with a burst), over all layers.
  uint64_t deliver_calls() const { return deliver_calls_.load(); }
  Netisr& nisr() { return *nisr_; }
  PacketPool& pool() { return *pool_; }
  ProtocolStack& stack() { return *stack_; }

 private:
  std::unique_ptr<Netisr> nisr_;
  std::unique_ptr<PacketPool> pool_;
  std::unique_ptr<ProtocolStack> stack_;
  std::array<std::atomic<uint64_t>, kNumLayers> delivered_{};
  std::atomic<uint64_t> deliver_calls_{0};
};

}  // namespace netisr::proto::testing
