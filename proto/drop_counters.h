// DropCounters: per-reason drop counts kept per worker, summed on demand.
//
// The packet path bumps a counter for every dropped packet, possibly on every
// worker at once, so a shared atomic per reason would bounce its cache line
// between CPUs (a contended fetch_add costs ~50-100 ns against ~1 ns for a
// plain store to a line the CPU owns). Instead each netisr workstream owns
// one 64-byte-aligned block of counters (base::PerWorkstream) and is its
// block's only writer: a relaxed load and store, no read-modify-write, no
// sharing. Threads that are not workers (Netisr::CurrentWorkstream() == -1:
// external producers running direct dispatch, tests) share the extra block
// and use relaxed fetch_add, so they never lose a count. Readers sum all
// blocks with relaxed loads: a
// snapshot taken while traffic flows may miss drops in flight; after
// Netisr::Stop() it is exact (the same contract as netisr's Stats).
//
// Memory: (kMaxWorkstreams + 1) blocks x 33 reasons x 8 B = ~17 KiB.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "base/counter.h"
#include "base/per_workstream.h"
#include "netisr/settings.h"
#include "proto/parse_drop.h"

namespace netisr::proto {

class DropCounters {
 public:
  DropCounters();
  DropCounters(const DropCounters&) = delete;
  DropCounters& operator=(const DropCounters&) = delete;

  // Counts one drop on the calling thread's block.
  void Add(ParseDrop r, uint64_t n = 1);
  // Sum over all blocks.
  uint64_t Get(ParseDrop r) const;
  uint64_t Total() const;
  // Reason name -> count, zeroes omitted (the shape of netisr::Stats::drops).
  std::map<std::string, uint64_t> Snapshot() const;

 private:
  struct Block {
    std::array<base::Counter, kNumParseDrops> count;
  };
  base::PerWorkstream<Block> blocks_{kMaxWorkstreams};
};

}  // namespace netisr::proto
