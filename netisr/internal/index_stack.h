// IndexStack: a lock-free LIFO of indices in [0, capacity), the shared free
// list of a PacketPool: the index freed last is handed out first.
//
// Why a stack and not the FIFO MpmcRing: a pool's packets are often freed
// on one CPU and allocated on another (a TX frame freed by the wire's
// consumer, a deferred packet by its handler's worker). Through a FIFO every
// free index waits behind all the others, so with a pool much larger than
// the packets in flight each allocation gets the coldest buffer in the pool
// and its first store misses the cache: `lockprof --tcp`'s 65536-packet TX
// pool (128 MiB a host) spent 14% of all cycles on that one store, and
// churned 26.8-34.0 k connections/s against 35.2-38.8 k with 16384 packets
// (docs/tcp.md). A stack keeps the working set to what is in flight,
// whatever the pool's size (DPDK offers the same choice: its "stack"
// mempool handler against the default ring).
//
// Treiber's stack over an array: next_[i] is the index below i. The head
// word packs the top index with a 32-bit tag that every successful push or
// pop increments, so a CAS whose expected head was popped and pushed back
// meanwhile fails (ABA would need 2^32 operations while one thread sits
// between its load and its CAS). Every access is atomic and next_ is never
// freed, so the optimistic read of a popped node's link is stale at worst,
// never a data race: the tag check rejects what it read.
//
// Bulk operations move n indices with one CAS: a push links its indices
// into a chain privately first; a pop walks up to n links from the top and
// cuts them off together. The size is kept without a counter of its own
// (a shared counter would add a contended read-modify-write to every push
// and pop: the uncached Alloc + Release went from 19 to 30 ns with one):
// each node records its depth when pushed, so the top's depth is the size.
//
// Memory order: a push's CAS is a release (its links and depths, and the
// freed packet's contents written before the push, are published with the
// new head); a pop's load of the head and its CAS are acquires, pairing with
// it, and so is a push's load of the head (it reads the top's depth).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace netisr::internal {

class IndexStack {
 public:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  // Indices must be below `capacity`, at most UINT32_MAX - 1.
  explicit IndexStack(uint32_t capacity)
      : next_(std::make_unique<std::atomic<uint32_t>[]>(capacity)),
        depth_(std::make_unique<std::atomic<uint32_t>[]>(capacity)) {}

  // Pushes v[0..n): v[n - 1] ends on top (pop order: v[n - 1] first). Each
  // index must be absent from the stack.
  void PushBulk(const uint32_t* v, size_t n) {
    if (n == 0) return;
    // Private until the CAS publishes them: relaxed.
    for (size_t i = n - 1; i > 0; --i) next_[v[i]].store(v[i - 1], std::memory_order_relaxed);
    uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      const uint32_t top = Top(h);
      next_[v[0]].store(top, std::memory_order_relaxed);
      // The old top's depth may be stale if it was popped meanwhile: then
      // the tag moved and the CAS fails.
      const uint32_t base = top == kEmpty ? 0 : depth_[top].load(std::memory_order_relaxed);
      for (size_t i = 0; i < n; ++i)
        depth_[v[i]].store(base + static_cast<uint32_t>(i) + 1, std::memory_order_relaxed);
      // Acquire on failure too: the next attempt reads the new top's depth.
      if (head_.compare_exchange_weak(h, Pack(Tag(h) + 1, v[n - 1]), std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return;
    }
  }

  // Pops up to n indices into out (top first); returns how many (0: empty).
  size_t PopBulk(uint32_t* out, size_t n) {
    if (n == 0) return 0;
    uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      size_t k = 0;
      uint32_t cur = Top(h);
      // May read links of nodes another thread pops meanwhile: then the
      // head's tag has moved and the CAS below fails.
      while (k < n && cur != kEmpty) {
        out[k++] = cur;
        cur = next_[cur].load(std::memory_order_relaxed);
      }
      if (k == 0) return 0;
      // acq_rel rather than acquire: it also orders this pop's reads of
      // the links before the CAS for later pops (no cost on x86).
      if (head_.compare_exchange_weak(h, Pack(Tag(h) + 1, cur), std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return k;
    }
  }

  // Indices on the stack: the top's depth. Exact while no push or pop
  // runs; under concurrency it may be any value (a node's depth read after
  // it was popped and pushed again), so callers clamp it.
  uint64_t size() const {
    const uint32_t top = Top(head_.load(std::memory_order_acquire));
    return top == kEmpty ? 0 : depth_[top].load(std::memory_order_relaxed);
  }

 private:
  static uint32_t Top(uint64_t h) { return static_cast<uint32_t>(h); }
  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h >> 32); }
  static uint64_t Pack(uint32_t tag, uint32_t top) { return (uint64_t{tag} << 32) | top; }

  std::unique_ptr<std::atomic<uint32_t>[]> next_;
  // depth_[i]: nodes at and below i when i was pushed (its depth while on
  // the stack, since only the nodes above it change).
  std::unique_ptr<std::atomic<uint32_t>[]> depth_;
  // Top index and tag. Its own line: every push and pop of every thread
  // writes it.
  alignas(64) std::atomic<uint64_t> head_{Pack(0, kEmpty)};
};

}  // namespace netisr::internal
