#include "harness/delivery_tally.h"

namespace netisr::harness {

DeliveryTally::DeliveryTally(int workstreams, uint64_t handler_ns)
    : handler_ns_(handler_ns),
      clock_(sched::FastClock::Global()),
      tallies_(workstreams),
      latency_(workstreams) {}

void DeliveryTally::Count(int ws, size_t kind, uint64_t delivered, uint64_t reordered) {
  Tally& t = tallies_.For(ws);
  if (!tallies_.IsWorker(ws)) {
    t.delivered[kind].AddShared(delivered);
    t.reordered.AddShared(reordered);
    return;
  }
  // Single writer (this workstream): load + store, no read-modify-write.
  t.delivered[kind].Add(delivered);
  t.reordered.Add(reordered);
}

uint64_t DeliveryTally::delivered(size_t kind) const {
  uint64_t n = 0;
  tallies_.ForEach([&](const Tally& t) { n += t.delivered[kind].Get(); });
  return n;
}

uint64_t DeliveryTally::delivered() const {
  uint64_t n = 0;
  for (size_t k = 0; k < kMaxKinds; ++k) n += delivered(k);
  return n;
}

uint64_t DeliveryTally::reordered() const {
  uint64_t n = 0;
  tallies_.ForEach([&](const Tally& t) { n += t.reordered.Get(); });
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
  latency_.ForEach([&](const LatencyHistogram& h) { all.Merge(h); });
  return Summarize(all);
}

LatencySummary DeliveryTally::Latency(int ws) const { return Summarize(latency_.For(ws)); }

}  // namespace netisr::harness
