// ConnHash: a fixed-size chained hash of inpcbs linked through their own
// hash_next_ field (no allocation per insert). One writer at a time (the
// owner's lock, or the partition's owner thread); readers either hold that
// lock or read lock-free under RCU. Sized once at creation (FreeBSD's
// hashinit): no resize, so an RCU reader never sees a table swap.
//
// RCU-safety of the writes: Insert links a fully built inpcb at the chain
// head with a release store (a lock-free reader's acquire load of the head
// then sees its fields). Erase unlinks with one release store to the
// predecessor's link and leaves the erased inpcb's own hash_next_ intact, so
// a reader standing on it walks on into the rest of the chain; the inpcb is
// freed only after a grace period (kEpoch) or when no one can be on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "inpcb/internal/access.h"

namespace netisr::inpcb::internal {

class ConnHash {
 public:
  // `buckets`: a power of two >= 1.
  explicit ConnHash(uint32_t buckets)
      : heads_(std::make_unique<std::atomic<Inpcb*>[]>(buckets)), mask_(buckets - 1) {}

  // The inpcb with tuple `t` (hash `h` = TupleHash(t)), or nullptr.
  Inpcb* Find(const FourTuple& t, uint64_t h) const {
    // Acquire pairs with the release stores in Insert/Erase (free on x86).
    for (Inpcb* p = heads_[h & mask_].load(std::memory_order_acquire); p != nullptr;
         p = InpcbAccess::Next(*p).load(std::memory_order_acquire)) {
      if (InpcbAccess::Hash(*p) == h && p->tuple() == t) return p;
    }
    return nullptr;
  }

  // Writer only. The inpcb must not be linked.
  void Insert(Inpcb* inp) {
    std::atomic<Inpcb*>& head = heads_[InpcbAccess::Hash(*inp) & mask_];
    InpcbAccess::Next(*inp).store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    head.store(inp, std::memory_order_release);  // publishes inp's fields and link
  }

  // Writer only. False if `inp` is not linked here.
  bool Erase(Inpcb* inp) {
    std::atomic<Inpcb*>* link = &heads_[InpcbAccess::Hash(*inp) & mask_];
    for (Inpcb* p = link->load(std::memory_order_relaxed); p != nullptr;
         p = link->load(std::memory_order_relaxed)) {
      if (p == inp) {
        // Release: a reader that loads the new link sees the successor's
        // fields (it was published earlier; this keeps the chain's order).
        link->store(InpcbAccess::Next(*inp).load(std::memory_order_relaxed),
                    std::memory_order_release);
        return true;
      }
      link = &InpcbAccess::Next(*p);
    }
    return false;
  }

  // Writer only (or with writers excluded): every linked inpcb.
  template <class F>
  void ForEach(F&& f) const {
    for (uint64_t b = 0; b <= mask_; ++b) {
      for (Inpcb* p = heads_[b].load(std::memory_order_relaxed); p != nullptr;
           p = InpcbAccess::Next(*p).load(std::memory_order_relaxed)) {
        f(p);
      }
    }
  }

  // Writer only: unlinks everything and calls f on each (for destruction).
  template <class F>
  void Drain(F&& f) {
    for (uint64_t b = 0; b <= mask_; ++b) {
      Inpcb* p = heads_[b].exchange(nullptr, std::memory_order_relaxed);
      while (p != nullptr) {
        Inpcb* next = InpcbAccess::Next(*p).load(std::memory_order_relaxed);
        f(p);
        p = next;
      }
    }
  }

 private:
  std::unique_ptr<std::atomic<Inpcb*>[]> heads_;
  const uint64_t mask_;
};

}  // namespace netisr::inpcb::internal
