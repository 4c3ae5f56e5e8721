// See stalls.h.
#include "sim/internal/stalls.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace netisr::sim::internal {

namespace {
// The shared stream's own seed, apart from the private streams'.
constexpr uint64_t kSharedSeed = 0x5ba2edc0ffeeull;
// Trim the shared stream once this many stalls lie behind every cursor.
constexpr size_t kTrimAt = 4096;
// The least mean free time after a stall, as a share of the stream's gap
// (stall_gap_ns for it), whatever the lengths' mean: a profile whose mean
// stall is as long as its gap (a measurement on a machine loaded beyond its
// CPUs, or quantiles whose interpolated mean exceeds the sample's) still
// lets each CPU run free / (mean stall + free) of the time (a few percent)
// instead of never.
constexpr double kMinFreeShare = 0.05;

// The mean time between the end of one of a stream's stalls and the
// beginning of its next, for a mean cycle (begin to begin) of gap_ns.
double FreeNs(double gap_ns, double mean_stall_ns) {
  return std::max(gap_ns - mean_stall_ns, gap_ns * kMinFreeShare);
}
}  // namespace

StallSchedule::StallSchedule(const CostProfile& p, int cpus, uint64_t seed, uint64_t start_ns)
    : p_(p), private_rng_(seed), shared_rng_(seed ^ kSharedSeed) {
  const auto n = static_cast<size_t>(cpus);
  next_private_.assign(n, kNever);
  cursor_.assign(n, 0);
  on_ = p.stall_gap_ns > 0 && p.stall_ns > 0;
  if (!on_) return;
  vary_ = p.StallsVary();
  // Shares within 1e-9 of 0 or 1 are those: a gap of stall_gap_ns / 1e-12
  // would overflow the ns clock (and llround).
  double shared = std::clamp(p.stall_shared, 0.0, 1.0);
  if (shared < 1e-9) shared = 0;
  if (shared > 1 - 1e-9) shared = 1;
  if (shared < 1) private_gap_ns_ = p.stall_gap_ns / (1 - shared);
  if (shared > 0) shared_gap_ns_ = p.stall_gap_ns / shared;
  const double mean = p.MeanStallNs();
  if (private_gap_ns_ > 0) private_free_ns_ = FreeNs(private_gap_ns_, mean);
  if (shared_gap_ns_ > 0) shared_free_ns_ = FreeNs(shared_gap_ns_, mean);
  if (private_gap_ns_ > 0) {
    for (uint64_t& t : next_private_)
      t = start_ns + static_cast<uint64_t>(std::llround(private_rng_.Exp(private_gap_ns_)));
  }
  if (shared_gap_ns_ > 0) {
    const Stall first{
        start_ns + static_cast<uint64_t>(std::llround(shared_rng_.Exp(shared_gap_ns_))),
        Length(shared_rng_)};
    shared_.push_back(first);
    shared_last_end_ = first.begin + first.len;
  }
}

uint64_t StallSchedule::Length(Rng& rng) {
  const double len = vary_ ? p_.StallNsAt(rng.Uniform()) : p_.stall_ns;
  return static_cast<uint64_t>(std::llround(len));
}

const StallSchedule::Stall& StallSchedule::SharedAt(size_t i) {
  while (base_ + shared_.size() <= i) {
    const uint64_t free = std::max<uint64_t>(1, std::llround(shared_rng_.Exp(shared_free_ns_)));
    const Stall s{shared_last_end_ + free, Length(shared_rng_)};
    shared_.push_back(s);
    shared_last_end_ = s.begin + s.len;
  }
  return shared_[i - base_];
}

uint64_t StallSchedule::NextOn(int w) {
  const auto i = static_cast<size_t>(w);
  uint64_t t = next_private_[i];
  if (shared_gap_ns_ > 0) t = std::min(t, SharedAt(cursor_[i]).begin);
  return t;
}

StallSchedule::Stall StallSchedule::Take(int w) {
  const auto i = static_cast<size_t>(w);
  if (shared_gap_ns_ > 0 && SharedAt(cursor_[i]).begin <= next_private_[i]) {
    const Stall s = SharedAt(cursor_[i]++);
    const size_t slowest = *std::min_element(cursor_.begin(), cursor_.end());
    if (slowest - base_ >= kTrimAt) {
      shared_.erase(shared_.begin(),
                    shared_.begin() + static_cast<std::ptrdiff_t>(slowest - base_));
      base_ = slowest;
    }
    return s;
  }
  // The private stream: the length drawn first, then the free time to the
  // next (the single-stream model's order of draws).
  const Stall s{next_private_[i], Length(private_rng_)};
  next_private_[i] =
      s.begin + s.len + std::max<uint64_t>(1, std::llround(private_rng_.Exp(private_free_ns_)));
  return s;
}

}  // namespace netisr::sim::internal
