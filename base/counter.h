// Counter: a statistic with exactly one writer, read from any thread.
//
// Every layer keeps per-thread statistics (a lane's drops, a queue's
// packets, a lock class's wait time, a table shard's connections) that one
// thread writes and any thread reads. The writer adds with a relaxed load
// and a relaxed store: no read-modify-write, so no lock prefix and no
// contention for the line (on x86-64 the same MOVs as a plain uint64_t); the
// atomic only makes the readers' loads data-race free. Two writers would lose
// counts, hence the rule: one writer thread at a time (a lock serialising the
// writers counts as one). Nothing synchronises through a Counter: every
// access is relaxed and pairs with nothing; a reader sees a recent value,
// torn-free, and a set of counters not as one snapshot; all exact once the
// writer has stopped (joined, or released a lock the reader then takes).
//
// The few counters that several threads write (the shared slot of a
// PerWorkstream block, base/per_workstream.h) say so at each write with
// AddShared/MaxShared, relaxed read-modify-writes.
#pragma once

#include <atomic>
#include <cstdint>

namespace netisr::base {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Only the counter's one writer calls these.
  void Add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // For a gauge (connections in a table): wraps like unsigned arithmetic.
  void Sub(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  // Raises the value to v if it is lower (a high-water mark).
  void Max(uint64_t v) {
    if (v > v_.load(std::memory_order_relaxed)) v_.store(v, std::memory_order_relaxed);
  }

  // For a counter with several writers: relaxed read-modify-writes.
  void AddShared(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  void MaxShared(uint64_t v) {
    uint64_t seen = v_.load(std::memory_order_relaxed);
    while (v > seen && !v_.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
  }

  // Any thread.
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  // Zeroes the counter. Racing the writer's Add, the reset may be undone
  // (the Add stores its old value plus n): callers reset only what they own
  // or accept that, as a profiler's reset does.
  void Reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Eight counters fill one cache line (lockprof's per-class line relies on it).
static_assert(sizeof(Counter) == sizeof(uint64_t));

}  // namespace netisr::base
