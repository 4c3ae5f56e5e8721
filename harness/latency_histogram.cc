#include "harness/latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace netisr::harness {

uint64_t LatencyHistogram::HighestEquivalent(size_t idx) {
  using latency_internal::kHalf;
  constexpr size_t kLinear = size_t{1} << latency_internal::kSubBits;
  if (idx < kLinear) return idx;
  const size_t shift = (idx - kLinear) / kHalf + 1;
  const uint64_t sub = kHalf + (idx - kLinear) % kHalf;  // in [128, 256)
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::RecordShared(uint64_t ns) {
  counts_[Index(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t seen = max_.load(std::memory_order_relaxed);
  while (ns > seen && !max_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) {
    if (const uint64_t n = other.counts_[i].load(std::memory_order_relaxed); n != 0)
      Bump(counts_[i], n);
  }
  Bump(count_, other.count());
  if (other.max() > max()) max_.store(other.max(), std::memory_order_relaxed);
}

uint64_t LatencyHistogram::ValueAtQuantile(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const double clamped = std::clamp(q, 0.0, 1.0);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(clamped * static_cast<double>(n))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return std::min(HighestEquivalent(i), max());
  }
  return max();
}

}  // namespace netisr::harness
