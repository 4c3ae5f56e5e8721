// ReadyTimes: the simulation engine's choice of the next worker to run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace netisr::sim::internal {

// The workers' ready times and the earliest of them (lowest index on
// ties), in a tournament tree: setting one time is log2(workers)
// comparisons and finding the earliest is one load, where a scan of every
// worker per round was ~25% of the engine's instructions at 64 CPUs
// (callgrind, `netisr sim --cpus 64 --dispatch oracle --load 2e6`). The
// same worker as the scan, so results are unchanged bit for bit.
// Times are the engine's virtual nanoseconds; kNeverReady: asleep with
// nothing due. Every worker starts at kNeverReady.
class ReadyTimes {
 public:
  static constexpr uint64_t kNeverReady = std::numeric_limits<uint64_t>::max();

  explicit ReadyTimes(int n) : n_(static_cast<size_t>(n)) {
    while (leaves_ < n_) leaves_ *= 2;
    t_.assign(leaves_, kNeverReady);
    win_.resize(2 * leaves_);
    for (size_t i = 0; i < leaves_; ++i) win_[leaves_ + i] = static_cast<uint32_t>(i);
    for (size_t i = leaves_ - 1; i >= 1; --i) win_[i] = Better(win_[2 * i], win_[2 * i + 1]);
  }
  size_t size() const { return n_; }
  uint64_t operator[](size_t w) const { return t_[w]; }
  void Set(size_t w, uint64_t t) {
    t_[w] = t;
    for (size_t i = (leaves_ + w) / 2; i >= 1; i /= 2)
      win_[i] = Better(win_[2 * i], win_[2 * i + 1]);
  }
  // The worker with the least time, lowest index on ties. Never a padding
  // leaf: leaf 0 is a worker and ties go left.
  size_t Earliest() const { return win_[1]; }

 private:
  // `a` is the left subtree's winner, so its index is the lower.
  uint32_t Better(uint32_t a, uint32_t b) const { return t_[b] < t_[a] ? b : a; }

  size_t n_;
  size_t leaves_ = 1;          // n_ rounded up to a power of two
  std::vector<uint64_t> t_;    // by worker; padding leaves kNeverReady
  std::vector<uint32_t> win_;  // win_[i]: the winner of subtree i (1: root)
};

}  // namespace netisr::sim::internal
