// LaneRing: the single-producer, single-consumer ring of one lane (a
// producer's FIFO into one workstream for one protocol), holding packet
// pointers, eight to a cache line.
//
// What it guarantees: FIFO; push and pop move a whole burst with one index
// store each (release), and the data written before a push happens-before
// whatever the consumer does after the pop that returns it (the acquire
// load of the index that covered it). At most `capacity` packets are in the
// ring; a push takes what fits and says how many.
//
// Why not boost::lockfree::spsc_queue (used before issue 13): its push
// reads the consumer's index and its pop the producer's on every call, so
// each burst-of-1 handoff moved both index lines across the CPUs twice.
// Here each side keeps a private copy of the other's index (the "cached
// head/tail" of DPDK's rte_ring peers, Lamport's queue with Lee's
// and Giacomoni's caching, FastForward/MCRingBuffer) and re-reads the
// shared one only when its copy says the ring has too little room
// (producer) or too few packets for the burst asked (consumer). Lines, by who writes them:
//   producer line: write index (shared) + its cached read index;
//   consumer line: read index (shared) + its cached write index;
//   a read-only line: size and slot array.
// So a producer that keeps ahead never touches the consumer's line, and a
// consumer that finds packets never touches the producer's. The slots
// themselves are indexed modulo size (capacity + 1, one slot kept free as
// boost did, so the memory is what Settings::max_memory_bytes accounts).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "netisr/packet.h"

namespace netisr::internal {

class LaneRing {
 public:
  explicit LaneRing(uint32_t capacity)
      : size_(size_t{capacity} + 1), slots_(new Packet*[size_t{capacity} + 1]) {}
  LaneRing(const LaneRing&) = delete;
  LaneRing& operator=(const LaneRing&) = delete;

  // Producer thread only. Appends up to n packets of `in`; returns how many.
  size_t push(Packet* const* in, size_t n) {
    const size_t w = prod_.write.load(std::memory_order_relaxed);
    size_t room = Room(w, prod_.cached_read);
    if (room < n) {
      // Acquire: pairs with the consumer's release store of `read` after it
      // copied the slots out, so they may be overwritten now.
      prod_.cached_read = cons_.read.load(std::memory_order_acquire);
      room = Room(w, prod_.cached_read);
    }
    n = std::min(n, room);
    if (n == 0) return 0;
    const size_t first = std::min(n, size_ - w);
    CopySlots(slots_.get() + w, in, first);
    if (n > first) CopySlots(slots_.get(), in + first, n - first);
    // Release: the slots written above are visible to the consumer that
    // acquires this index.
    prod_.write.store(Next(w, n), std::memory_order_release);
    return n;
  }

  // Consumer thread only. Takes up to `max` packets into `out`; returns how
  // many (0 when empty). If `found` is given, sets it to the packets the
  // ring held as this pop saw them (at least `max` when it did not look).
  size_t pop(Packet** out, size_t max, size_t* found = nullptr) {
    const size_t r = cons_.read.load(std::memory_order_relaxed);
    size_t avail = Avail(cons_.cached_write, r);
    if (avail < max) {
      // Short of a full burst by its copy: look again, so that bursts do not
      // shrink to the remainder of an old count. Acquire: pairs with the
      // producer's release store of `write`.
      cons_.cached_write = prod_.write.load(std::memory_order_acquire);
      avail = Avail(cons_.cached_write, r);
    }
    if (found != nullptr) *found = avail;
    if (avail == 0) return 0;
    const size_t n = std::min(max, avail);
    const size_t first = std::min(n, size_ - r);
    CopySlots(out, slots_.get() + r, first);
    if (n > first) CopySlots(out + first, slots_.get(), n - first);
    // Release: pairs with the producer's acquire load above; the slots are
    // read before they can be reused.
    cons_.read.store(Next(r, n), std::memory_order_release);
    return n;
  }

 private:
  // Copies n slot pointers. A short burst (the single packets of a
  // QueueSrc, a trickle) is copied inline: a library memcpy call costs ~25
  // instructions for one pointer, more than the rest of the push.
  static void CopySlots(Packet** dst, Packet* const* src, size_t n) {
    if (n > kInlineCopy) {
      std::memcpy(dst, src, n * sizeof(Packet*));
      return;
    }
#pragma GCC unroll 4
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
  // Longest copy done inline (pointers); at 4 it stays a few moves.
  static constexpr size_t kInlineCopy = 4;

  size_t Next(size_t i, size_t n) const { return i + n >= size_ ? i + n - size_ : i + n; }
  // Free slots seen from write index w and read index r (one kept empty).
  size_t Room(size_t w, size_t r) const { return (r > w ? r - w : size_ - w + r) - 1; }
  size_t Avail(size_t w, size_t r) const { return w >= r ? w - r : size_ - r + w; }

  // Read-only after construction; both threads read it.
  const size_t size_;
  const std::unique_ptr<Packet*[]> slots_;
  // Written by the producer only: `write` (the consumer loads it with
  // acquire when its copy says empty) and its copy of the read index.
  struct alignas(64) Producer {
    std::atomic<size_t> write{0};
    size_t cached_read = 0;
  } prod_;
  // Written by the consumer only: `read` (the producer loads it with
  // acquire when its copy says full) and its copy of the write index.
  struct alignas(64) Consumer {
    std::atomic<size_t> read{0};
    size_t cached_write = 0;
  } cons_;
};

}  // namespace netisr::internal
