#include "harness/delivery_tally.h"

namespace netisr::harness {

DeliveryTally::DeliveryTally(int workstreams, uint64_t handler_ns)
    : handler_ns_(handler_ns),
      clock_(sched::FastClock::Global()),
      tallies_(workstreams),
      latency_(workstreams) {}

void DeliveryTally::Count(int ws, size_t kind, uint64_t delivered, uint64_t reordered) {
  if (ws < 0) {
    stray_.delivered[kind].fetch_add(delivered, std::memory_order_relaxed);
    stray_.reordered.fetch_add(reordered, std::memory_order_relaxed);
    return;
  }
  // Single writer (this workstream): load + store, no read-modify-write.
  Tally& t = tallies_[ws];
  t.delivered[kind].store(t.delivered[kind].load(std::memory_order_relaxed) + delivered,
                          std::memory_order_relaxed);
  t.reordered.store(t.reordered.load(std::memory_order_relaxed) + reordered,
                    std::memory_order_relaxed);
}

uint64_t DeliveryTally::delivered(size_t kind) const {
  uint64_t n = stray_.delivered[kind].load(std::memory_order_relaxed);
  for (const Tally& t : tallies_) n += t.delivered[kind].load(std::memory_order_relaxed);
  return n;
}

uint64_t DeliveryTally::delivered() const {
  uint64_t n = 0;
  for (size_t k = 0; k < kMaxKinds; ++k) n += delivered(k);
  return n;
}

uint64_t DeliveryTally::reordered() const {
  uint64_t n = stray_.reordered.load(std::memory_order_relaxed);
  for (const Tally& t : tallies_) n += t.reordered.load(std::memory_order_relaxed);
  return n;
}

namespace {

LatencySummary Summarize(const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  return {h.count(), us(h.ValueAtQuantile(0.50)), us(h.ValueAtQuantile(0.99)),
          us(h.ValueAtQuantile(0.999)), us(h.max())};
}

}  // namespace

LatencySummary DeliveryTally::Latency() const {
  LatencyHistogram all;
  all.Merge(stray_latency_);
  for (const LatencyHistogram& h : latency_) all.Merge(h);
  return Summarize(all);
}

LatencySummary DeliveryTally::Latency(int ws) const { return Summarize(latency_[ws]); }

}  // namespace netisr::harness
