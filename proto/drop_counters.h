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
// Memory: (kMaxWorkstreams + 1) blocks x (34 + 17) reasons x 8 B, padded
// to 64 B: ~28 KiB.
//
// Beside the parse reasons, the IP-layer hook's own (StackOptions::
// ip_hook_drops, named by the embedder; stack.h): counted the same way,
// under their names, and in Total().
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/counter.h"
#include "base/per_workstream.h"
#include "netisr/settings.h"
#include "proto/parse_drop.h"

namespace netisr::proto {

// Most drop reasons an IP-layer hook may name (StackOptions::ip_hook_drops).
inline constexpr size_t kMaxIpHookDrops = 16;
// Where a hook's drop verdict naming no registered reason is counted.
inline constexpr std::string_view kIpHookUnnamedDrop = "ip_hook_unnamed";

class DropCounters {
 public:
  DropCounters();
  // The hook's reasons, by index (at most kMaxIpHookDrops; checked by
  // ProtocolStack::Register). Set before any packet flows.
  explicit DropCounters(std::vector<std::string> hook_reasons);
  DropCounters(const DropCounters&) = delete;
  DropCounters& operator=(const DropCounters&) = delete;

  // Counts one drop on the calling thread's block.
  void Add(ParseDrop r, uint64_t n = 1);
  // A drop under the hook's reason r; r past the registered reasons counts
  // under kIpHookUnnamedDrop.
  void AddHook(size_t r, uint64_t n = 1);
  // Sum over all blocks.
  uint64_t Get(ParseDrop r) const;
  uint64_t Total() const;
  // Reason name -> count, zeroes omitted (the shape of netisr::Stats::drops).
  std::map<std::string, uint64_t> Snapshot() const;

 private:
  struct Block {
    std::array<base::Counter, kNumParseDrops> count;
    std::array<base::Counter, kMaxIpHookDrops + 1> hook;  // the last: unnamed
  };
  void Bump(base::Counter& c, uint64_t n, int ws);
  std::vector<std::string> hook_reasons_;  // fixed at construction
  base::PerWorkstream<Block> blocks_{kMaxWorkstreams};
};

}  // namespace netisr::proto
