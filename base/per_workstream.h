// PerWorkstream<T>: one T per netisr workstream, plus one shared slot for
// every thread that is no workstream's worker.
//
// Per-packet state that every worker touches (drop counters, filter lanes,
// delivery tallies) is split by workstream so that each slot has a single
// writer, the workstream's worker (netisr runs a workstream on one thread at
// a time), and the hot path neither shares a cache line nor needs a
// read-modify-write. Threads that are no worker (external producers
// dispatching directly, tests; Netisr::CurrentWorkstream() == -1) all land
// in the one shared slot, which therefore has several writers: its user
// serialises them (a lock) or writes with read-modify-writes
// (Counter::AddShared). IsWorker(ws) tells the caller which case it is in.
//
// Slots are cache-line aligned (a T smaller than a line gets a line of its
// own) and allocated once, at construction; lookups are an index, no
// allocation or lock. The caller passes the workstream (this layer knows
// nothing of netisr); a workstream outside [0, workstreams) is treated as a
// non-worker, so a bad index can never reach past the array. Slot 0 is the
// shared one, slot ws + 1 workstream ws's.
#pragma once

#include <cstddef>
#include <memory>

namespace netisr::base {

template <typename T>
class PerWorkstream {
 public:
  // `workstreams` worker slots and the shared slot, each a value-initialised T.
  explicit PerWorkstream(size_t workstreams)
      : workstreams_(workstreams), slots_(new Slot[workstreams + 1]()) {}
  PerWorkstream(const PerWorkstream&) = delete;
  PerWorkstream& operator=(const PerWorkstream&) = delete;

  size_t workstreams() const { return workstreams_; }

  // True if `ws` names one of the worker slots (its only writer is that
  // workstream's worker); false for -1 and anything else out of range.
  bool IsWorker(int ws) const { return ws >= 0 && static_cast<size_t>(ws) < workstreams_; }

  // Workstream ws's slot, or the shared slot if !IsWorker(ws).
  T& For(int ws) { return slots_[IsWorker(ws) ? static_cast<size_t>(ws) + 1 : 0].value; }
  const T& For(int ws) const {
    return slots_[IsWorker(ws) ? static_cast<size_t>(ws) + 1 : 0].value;
  }

  T& Shared() { return slots_[0].value; }
  const T& Shared() const { return slots_[0].value; }

  // Calls f(T&) on every slot, the shared one first: to initialise slots or
  // to sum them (each read is the slot's own business, e.g. relaxed loads).
  template <typename F>
  void ForEach(F&& f) {
    for (size_t i = 0; i <= workstreams_; ++i) f(slots_[i].value);
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; i <= workstreams_; ++i) f(static_cast<const T&>(slots_[i].value));
  }

 private:
  struct alignas(64) Slot {
    T value;
  };

  const size_t workstreams_;
  const std::unique_ptr<Slot[]> slots_;
};

}  // namespace netisr::base
