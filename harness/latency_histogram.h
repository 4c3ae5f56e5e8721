// Latency histogram for measured runs (`netisr run`, DeliveryTally): log-linear buckets in the
// manner of HdrHistogram with 2 significant decimal digits, over 0 ns .. 10 s.
//
// Layout: values below 256 ns have a bucket each; above, every power-of-two
// range [2^k, 2^(k+1)) is cut into 128 equal buckets, so a bucket is never
// wider than 1/128 (0.8%) of the values it holds. 3478 buckets (27 KiB)
// cover 10 s; longer values are clamped into the last one. Percentiles
// report a bucket's highest equivalent value (HdrHistogram's convention:
// never below the true value), capped at the exact maximum.
//
// Threading: Record has one writer thread at a time (base::Counter: relaxed
// load+store, no read-modify-write: the handler's per-packet cost stays a
// clock read and a store to a line only its thread writes); RecordShared is
// for a slot with several writers (fetch_add). Readers (Merge, the queries) run once the
// writers have stopped, or see a slightly stale count. No allocation: the
// buckets are inline.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/counter.h"

namespace netisr::harness {

namespace latency_internal {

inline constexpr uint64_t kMaxNs = 10'000'000'000;  // 10 s; larger values clamp
inline constexpr int kSubBits = 8;                  // 256 linear buckets below 256 ns
inline constexpr size_t kHalf = size_t{1} << (kSubBits - 1);

constexpr size_t BucketIndex(uint64_t ns) {
  const uint64_t v = ns < kMaxNs ? ns : kMaxNs;
  if (v < (uint64_t{1} << kSubBits)) return static_cast<size_t>(v);
  const int shift = 63 - __builtin_clzll(v) - (kSubBits - 1);  // >= 1
  return (size_t{1} << kSubBits) + static_cast<size_t>(shift - 1) * kHalf +
         static_cast<size_t>((v >> shift) - kHalf);
}

}  // namespace latency_internal

class alignas(64) LatencyHistogram {
 public:
  static constexpr uint64_t kMaxNs = latency_internal::kMaxNs;
  static constexpr size_t kBuckets = latency_internal::BucketIndex(kMaxNs) + 1;  // 3478: 27 KiB

  // Bucket index of a value (clamped at kMaxNs).
  static constexpr size_t Index(uint64_t ns) { return latency_internal::BucketIndex(ns); }
  // Highest value that maps to bucket `idx`.
  static uint64_t HighestEquivalent(size_t idx);

  // One writer thread at a time.
  void Record(uint64_t ns) {
    counts_[Index(ns)].Add(1);
    count_.Add(1);
    max_.Max(ns);
  }
  // Any number of writers.
  void RecordShared(uint64_t ns);

  // Adds `other`'s samples into this one. Neither may be written meanwhile.
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_.Get(); }
  uint64_t max() const { return max_.Get(); }
  // Value at quantile q in [0, 1]: the highest equivalent value of the
  // bucket holding the ceil(q * count)-th smallest sample (at least the
  // first), capped at max(). 0 when empty. Monotonic in q.
  uint64_t ValueAtQuantile(double q) const;

 private:
  std::array<base::Counter, kBuckets> counts_;
  base::Counter count_;
  base::Counter max_;
};

static_assert(LatencyHistogram::kBuckets == 3478);

}  // namespace netisr::harness
