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
  counts_[Index(ns)].AddShared(1);
  count_.AddShared(1);
  max_.MaxShared(ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) {
    if (const uint64_t n = other.counts_[i].Get(); n != 0) counts_[i].Add(n);
  }
  count_.Add(other.count());
  max_.Max(other.max());
}

uint64_t LatencyHistogram::ValueAtQuantile(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const double clamped = std::clamp(q, 0.0, 1.0);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(clamped * static_cast<double>(n))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i].Get();
    if (seen >= rank) return std::min(HighestEquivalent(i), max());
  }
  return max();
}

}  // namespace netisr::harness
