// StallSchedule: when the machine takes each simulated CPU away, and for how
// long (CostProfile::stall_*), in virtual time.
//
// Two streams, as measured on the development VM (docs/sim.md, "Stalls as
// the machine has them"):
//  * private stalls, one stream per CPU, at rate (1 - stall_shared) /
//    stall_gap_ns;
//  * shared stalls, one stream for the whole machine at rate stall_shared /
//    stall_gap_ns, each taking every CPU away at the same instant for the
//    same length: the hypervisor descheduling the VM.
// Each stream alternates: a stall, then free time drawn from an exponential
// of mean (its gap - the mean stall), at least 5% of its gap. So a stream's
// stalls never overlap one another, and it takes a CPU away for the share
// of time measured (mean stall / gap), even when that share is large: a
// Poisson stream of begins let stalls pile up, and at a share near 1 a
// CPU's clock ran away (netisr compare hung on a loaded machine). A private
// and a shared stall may overlap; the engine counts the overlap once.
// Why both: here 70-90% of the 10-50 us stalls of one vCPU overlap a stall
// of the other (0.2-0.4% would by chance), while most stalls over 50 us do
// not. With every stall private, a consumer stalled alone let its producer
// fill its queue, and the simulated deferred p99 ran at 1.6-2x the real one;
// a shared stall stops the producer too.
//
// Simplifications: a stall is shared or not whatever its length, although
// here the long ones (over 50 us) are mostly private; and at more CPUs
// than measured (2 here) a shared stall takes all of them, where the
// measurement only says it met one other.
//
// Each stall's length is a draw from the profile's distribution
// (CostProfile::StallNsAt). Every CPU has a cursor into the shared stream,
// which is generated as far as the furthest CPU has looked and trimmed
// behind the slowest; the engine consumes stalls in each CPU's own time
// order, so the schedule is the same whatever order the engine runs CPUs in.
// Determinism: the private streams draw from one RNG in the engine's
// (deterministic) order, the shared stream from its own; with stall_shared
// 0 the private draws are those of the single-stream model before it.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "sim/internal/random.h"
#include "sim/profile.h"

namespace netisr::sim::internal {

class StallSchedule {
 public:
  struct Stall {
    uint64_t begin = 0, len = 0;
  };
  static constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

  // No stalls unless the profile has both a gap and a length.
  StallSchedule(const CostProfile& p, int cpus, uint64_t seed, uint64_t start_ns);

  bool on() const { return on_; }
  // When CPU w's next stall begins (kNever with stalls off). The engine asks
  // several times a packet: the off case inline (~40 instructions a packet
  // as a call, callgrind on a default-profile sim).
  uint64_t Next(int w) { return on_ ? NextOn(w) : kNever; }
  // That stall, consumed.
  Stall Take(int w);

 private:
  uint64_t NextOn(int w);
  uint64_t Length(Rng& rng);
  const Stall& SharedAt(size_t i);  // generates up to index i

  const CostProfile p_;
  bool on_ = false;
  bool vary_ = false;
  double private_gap_ns_ = 0, shared_gap_ns_ = 0;    // 0: that stream is off
  double private_free_ns_ = 0, shared_free_ns_ = 0;  // mean free time after a stall
  Rng private_rng_, shared_rng_;
  std::vector<uint64_t> next_private_;  // by CPU
  std::vector<Stall> shared_;           // shared_[0] is stream index base_
  size_t base_ = 0;
  uint64_t shared_last_end_ = 0;  // the last shared stall generated ends (shared_ may be empty)
  std::vector<size_t> cursor_;    // by CPU: its next shared stall's stream index
};

}  // namespace netisr::sim::internal
