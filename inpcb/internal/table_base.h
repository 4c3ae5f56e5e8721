// What the four strategies share: the lookup protocol (find and reference
// under the strategy's scheme, then lock and re-check for removal), input
// checks, and the constructors CreateTable picks from.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "inpcb/table.h"

namespace netisr::inpcb::internal {

// Prints "inpcb: FATAL: <msg>" to stderr and aborts: for misuse that would
// otherwise corrupt memory (a non-owner touching a partition, a lookup from
// a thread that is not an RCU reader).
[[noreturn]] void Fatal(const std::string& msg);

class TableBase : public ConnectionTable {
 public:
  using ConnectionTable::Remove;

  // FindRef, then lock and re-check: an inpcb removed between the two (the
  // only way removed() can be set) is skipped and the search starts over on
  // the current table, so the segment finds what is there now — the
  // any-address listener when a specific one closed, a re-inserted
  // connection. Unbounded: each retry needs a removal of the very inpcb
  // found, after the search began; a bound (4 was tried) lost 2 of 122,000
  // lookups in the listener-churn stress test. FreeBSD's in_pcblookup gives
  // up instead (in_pcbrele_wlocked returns NULL).
  LockedInpcb Lookup(const FourTuple& t, uint32_t flowid, bool wildcard) final;
  InpcbRef LookupRef(const FourTuple& t, uint32_t flowid, bool wildcard) final;

 protected:
  // The strategy's search: the exact connection, else (wildcard) the
  // listener, with a reference taken; nullptr if none. `h` = TupleHash(t).
  virtual Inpcb* FindRef(const FourTuple& t, uint64_t h, uint32_t flowid, bool wildcard) = 0;

  // Insert's input check: ports, addresses, IPv4 padding.
  static Status CheckTuple(const FourTuple& t);
  // ThreadEnter's check: cpu in [-1, cpus).
  static Status CheckCpu(int cpu, uint32_t cpus);
  static Status NotFound(const Inpcb& inp);
  static Status Duplicate(const FourTuple& t);
};

// A count with a single writer at a time (under a writer lock, or the
// owner thread) read lock-free by Counts: a relaxed load and store, no RMW.
inline void AddCount(std::atomic<uint64_t>& c, int64_t d) {
  c.store(c.load(std::memory_order_relaxed) + static_cast<uint64_t>(d), std::memory_order_relaxed);
}

// Chains per table when `tables` tables share settings.hash_buckets: a
// power of two, at least 1.
uint32_t ChainsPerTable(const TableSettings& s, uint32_t tables);

std::unique_ptr<ConnectionTable> NewGlobalTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewGroupsTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewEpochTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewPartitionedTable(const TableSettings& s);

}  // namespace netisr::inpcb::internal
