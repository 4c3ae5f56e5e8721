// What the four strategies share: the lookup protocol (find and reference
// under the strategy's scheme, then lock and re-check for removal), input
// checks, and the constructors CreateTable picks from.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/counter.h"
#include "inpcb/internal/access.h"
#include "inpcb/internal/conn_hash.h"
#include "inpcb/internal/listener_set.h"
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
  // ThreadEnter's check: cpu (a workstream index) in [-1, cpus).
  static Status CheckCpu(int cpu, uint32_t cpus);
  static Status NotFound(const Inpcb& inp);
  // Remove's check of its argument.
  static Status EmptyRemove();
  static Status Duplicate(const FourTuple& t);
};

// Chains per table when `tables` tables share settings.hash_buckets: a
// power of two, at least 1.
uint32_t ChainsPerTable(const TableSettings& s, uint32_t tables);

// What the sharded strategies (groups, epoch stripes, partitions) share:
// `shards` Shards, each a cache-line-aligned struct with `conns` (its
// ConnHash) and `count` (a base::Counter: one writer at a time), fixed after
// construction, and the lock-free listener snapshot. The destructor drops
// the shards' references on what is still linked; a derived destructor
// runs first (epoch waits for its deferred releases there).
template <class Shard>
class ShardedTable : public TableBase {
 public:
  TableCounts Counts() const override {
    TableCounts c;
    for (const auto& sh : shards_) c.connections += sh->count.Get();
    c.listeners = listeners_.count();
    return c;
  }

 protected:
  ShardedTable(const TableSettings& s, uint32_t shards)
      : settings_(s), listeners_(s.free_hook, s.free_hook_arg) {
    shards_.reserve(shards);
    for (uint32_t i = 0; i < shards; ++i) {
      shards_.push_back(std::make_unique<Shard>(ChainsPerTable(s, shards)));
    }
  }
  ~ShardedTable() override {
    for (auto& sh : shards_) sh->conns.Drain([](Inpcb* p) { InpcbAccess::Unref(*p); });
  }

  const TableSettings settings_;
  std::vector<std::unique_ptr<Shard>> shards_;  // fixed after construction
  ListenerSet listeners_;
};

std::unique_ptr<ConnectionTable> NewGlobalTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewGroupsTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewEpochTable(const TableSettings& s);
std::unique_ptr<ConnectionTable> NewPartitionedTable(const TableSettings& s);

}  // namespace netisr::inpcb::internal
