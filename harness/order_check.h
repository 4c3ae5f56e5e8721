// FlowOrderCheck: the one per-flow order checker of the measured runs and
// the tests. A packet is reordered when its Packet::seq is not above the
// last seq seen for its key (its flow, or whatever the caller keys by): a
// gap is a drop, which conservation accounts for; going back is not.
// seq 0 means "not numbered" (e.g. synthetic floods) and always passes.
//
// Two layouts, one rule:
//  * Exact(keys): keys in [0, keys), one cache line per key, 64-bit seqs.
//    Every check is made. The line per key matters in a measured run:
//    flows are spread over workstreams, and neighbouring flows' state on
//    one line would bounce between the CPUs handling them (the checker would
//    become the contended line the run measures). 64 B x keys.
//  * Hashed(bits): any 64-bit key, 2^bits slots of 8 B, each packing a
//    32-bit tag of the key and the low 32 bits of its last seq (compared
//    modulo 2^32). Keys sharing a slot evict each other: a check lost,
//    never a false report. For keys not known up front (the parse chain's
//    (layer, source, flowid)).
//
// Threading: a key's packets are checked one at a time, in an order netisr
// publishes (same thread, or a lane's release/acquire), so a relaxed load
// sees the previous store of the same key. Atomic anyway, so that a netisr
// bug shows up as a counted reorder rather than as undefined behaviour; in
// Hashed, another key sharing the slot may overwrite it concurrently, which
// only loses a check (the tag differs). No allocation after construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace netisr::harness {

class FlowOrderCheck {
 public:
  static FlowOrderCheck Exact(uint32_t keys) { return FlowOrderCheck(keys, 0); }
  static FlowOrderCheck Hashed(unsigned bits) { return FlowOrderCheck(size_t{1} << bits, bits); }

  FlowOrderCheck(FlowOrderCheck&&) = default;

  // True when `seq` may follow what `key` saw before; records it then.
  // Exact: key < keys.
  bool InOrder(uint64_t key, uint64_t seq) {
    if (seq == 0) return true;
    if (bits_ == 0) {
      std::atomic<uint64_t>& last = lines_[key].last;
      if (seq <= last.load(std::memory_order_relaxed)) return false;
      last.store(seq, std::memory_order_relaxed);
      return true;
    }
    const uint64_t h = key * 0x9e3779b97f4a7c15ull;  // Fibonacci hashing: a bijection
    std::atomic<uint64_t>& slot = slots_[h >> (64 - bits_)];
    const auto tag = static_cast<uint32_t>(h);
    const auto seq32 = static_cast<uint32_t>(seq);
    const uint64_t last = slot.load(std::memory_order_relaxed);
    const bool ok = static_cast<uint32_t>(last >> 32) != tag ||
                    static_cast<int32_t>(seq32 - static_cast<uint32_t>(last)) > 0;
    if (ok) slot.store((uint64_t{tag} << 32) | seq32, std::memory_order_relaxed);
    return ok;
  }

 private:
  struct alignas(64) Line {
    std::atomic<uint64_t> last{0};
  };

  FlowOrderCheck(size_t n, unsigned bits) : bits_(bits) {
    if (bits == 0) {
      lines_ = std::vector<Line>(n);
    } else {
      slots_ = std::vector<std::atomic<uint64_t>>(n);
    }
  }

  unsigned bits_;                             // 0: Exact
  std::vector<Line> lines_;                   // Exact: by key
  std::vector<std::atomic<uint64_t>> slots_;  // Hashed: tag << 32 | seq
};

}  // namespace netisr::harness
