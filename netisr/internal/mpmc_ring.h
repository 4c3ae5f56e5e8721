// MpmcRing: a bounded multi-producer/multi-consumer FIFO of small values,
// after D. Vyukov's bounded MPMC queue (1024cores.net, 2010).
//
// Each cell carries a sequence number that says whose turn it is: a producer
// may fill cell i at position p when seq == p, a consumer may take it when
// seq == p + 1. One CAS on the shared head or tail per operation, no
// allocation after construction, and every access is atomic or ordered by
// the cell's release/acquire pair, so ThreadSanitizer sees no race (unlike
// a Treiber stack, whose optimistic read of a node's `next` is a formal
// data race). Not strictly lock-free: a producer preempted between its CAS
// and its release store stalls consumers of that one cell.
//
// Bulk operations (TryPushBulk/TryPopBulk) move up to n values with one CAS:
// they first count how many consecutive cells from the current position are
// ready for them (seq == pos + i to fill, pos + i + 1 to take), then claim
// that prefix with one CAS of tail (head) from pos to pos + k. The count is
// safe to act on because a cell ready for position p stays so until someone
// claims p, and claiming p means moving tail (head) past it, which makes
// this CAS fail. Each cell is then filled (taken) and released as in the
// single-value case. A prefix shorter than n is returned rather than waited
// for (DPDK's rte_ring "burst" semantics, not its all-or-nothing "bulk").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace netisr::internal {

template <typename T>
class MpmcRing {
 public:
  // Capacity is rounded up to a power of two, at least 2.
  explicit MpmcRing(uint64_t capacity) {
    uint64_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    cells_ = std::make_unique<Cell[]>(n);
    for (uint64_t i = 0; i < n; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }

  bool TryPush(T v) {
    uint64_t pos = tail_.load(std::memory_order_relaxed);
    Cell* c;
    for (;;) {
      c = &cells_[pos & mask_];
      // Acquire: pairs with the consumer's release that freed the cell.
      const uint64_t seq = c->seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - pos);
      if (dif == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        // Full, or the cell still held by a consumer between its CAS and
        // its release store (transient).
        return false;
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
    c->value = v;
    // Release: publishes `value` to the consumer's acquire load of seq.
    c->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  // Pushes a prefix of v[0..n) with one CAS; returns its length (0 when the
  // ring is full or its next cell is still held by a consumer).
  size_t TryPushBulk(const T* v, size_t n) {
    if (n == 0) return 0;
    uint64_t pos = tail_.load(std::memory_order_relaxed);
    size_t k;
    for (;;) {
      // Acquire: pairs with the consumer's release that freed each cell.
      const uint64_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - pos);
      if (dif < 0) return 0;
      if (dif > 0) {
        pos = tail_.load(std::memory_order_relaxed);
        continue;
      }
      k = 1;
      while (k < n && cells_[(pos + k) & mask_].seq.load(std::memory_order_acquire) == pos + k) ++k;
      if (tail_.compare_exchange_weak(pos, pos + k, std::memory_order_relaxed)) break;
    }
    for (size_t i = 0; i < k; ++i) {
      Cell& c = cells_[(pos + i) & mask_];
      c.value = v[i];
      // Release: publishes `value` to the consumer's acquire load of seq.
      c.seq.store(pos + i + 1, std::memory_order_release);
    }
    return k;
  }

  // Takes up to n values into out[0..) with one CAS; returns how many (0
  // when the ring is empty or its next cell is still being filled).
  size_t TryPopBulk(T* out, size_t n) {
    if (n == 0) return 0;
    uint64_t pos = head_.load(std::memory_order_relaxed);
    size_t k;
    for (;;) {
      // Acquire: pairs with the producer's release that filled each cell.
      const uint64_t seq = cells_[pos & mask_].seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - (pos + 1));
      if (dif < 0) return 0;
      if (dif > 0) {
        pos = head_.load(std::memory_order_relaxed);
        continue;
      }
      k = 1;
      while (k < n &&
             cells_[(pos + k) & mask_].seq.load(std::memory_order_acquire) == pos + k + 1) {
        ++k;
      }
      if (head_.compare_exchange_weak(pos, pos + k, std::memory_order_relaxed)) break;
    }
    for (size_t i = 0; i < k; ++i) {
      Cell& c = cells_[(pos + i) & mask_];
      out[i] = c.value;
      // Release: hands the cell back to the producer one lap later.
      c.seq.store(pos + i + mask_ + 1, std::memory_order_release);
    }
    return k;
  }

  // Values in the ring: exact when no push or pop runs concurrently,
  // otherwise a recent approximation. Relaxed loads; no synchronisation.
  uint64_t size() const {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    return tail > head ? tail - head : 0;
  }

  bool TryPop(T* out) {
    uint64_t pos = head_.load(std::memory_order_relaxed);
    Cell* c;
    for (;;) {
      c = &cells_[pos & mask_];
      // Acquire: pairs with the producer's release that filled the cell.
      const uint64_t seq = c->seq.load(std::memory_order_acquire);
      const int64_t dif = static_cast<int64_t>(seq - (pos + 1));
      if (dif == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        return false;  // empty
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
    *out = c->value;
    // Release: hands the cell back to the producer one lap later.
    c->seq.store(pos + mask_ + 1, std::memory_order_release);
    return true;
  }

 private:
  struct Cell {
    std::atomic<uint64_t> seq{0};
    T value{};
  };
  uint64_t mask_ = 0;
  std::unique_ptr<Cell[]> cells_;
  // Producers' and consumers' positions, on separate cache lines so the two
  // sides do not false-share.
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) std::atomic<uint64_t> head_{0};
};

}  // namespace netisr::internal
