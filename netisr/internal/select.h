// The policy decision: which workstream a packet belongs to, and whether it
// runs here or is queued. Pure functions of their arguments so that the
// simulator and tests can call the very same code the dispatcher runs.
#pragma once

#include <cstdint>
#include <span>

#include "netisr/packet.h"
#include "netisr/protocol.h"
#include "netisr/settings.h"
#include "sched_feedback/load.h"

namespace netisr::internal {

// Workstream for `pkt` under `spec`'s policy, or -1 if the policy cannot
// place it (kCpu and m2cpuid returned nothing valid). May call m2flow (which
// may set pkt.flowid) or m2cpuid. `buckets` is Settings::flow_buckets.
int SelectWorkstream(const ProtocolSpec& spec, Packet& pkt, uint16_t source, int nws,
                     uint32_t buckets);

// An m2cpuid answer if it names one of the nws workstreams, else -1.
inline int CheckedWorkstream(int ws, int nws) { return ws >= 0 && ws < nws ? ws : -1; }

// What the caller knows when it decides one packet's fate.
struct DispatchContext {
  DispatchMode mode;
  int target;                 // workstream the policy chose
  int here;                   // caller's workstream, -1 outside workers
  bool here_dispatching;      // caller's workstream holds a handler run (Workstream::dispatching)
  uint64_t lane_outstanding;  // caller's packets queued or running in target's lane
  int64_t target_qlen;        // packets queued at target for this protocol
};

enum class Decision : uint8_t { kDirect, kHybridDirect, kQueue };

// Queue fill (qlen / qlimit) bounds of the adaptive rule, read now rather
// than averaged: a quarter full is still room; three quarters full is
// overload whatever the averages say, and an adaptive producer stops
// polling its sources while its own packets sit in a queue that full
// (backpressure: the NIC ring holds the rest, instead of a tail drop).
inline constexpr float kRoomFill = 0.25f;
inline constexpr float kOverloadFill = 0.75f;

// A saturated producer whose sources came back full in at least this share
// of its poll rounds (sched::LoadSample::full_polls) is deeply behind: only
// then may it move a bucket to a target still settling from its last move
// (AdaptiveView::pending). Short bursts behind, which one move per settle
// period answers, stay under it: paced at 2 Mpps with skew 0.9 (CPU 0 ~65%
// busy), a bound at full_polls_high moved 60-90 buckets a run instead of
// 5-19 and the median rose from 0.1-0.6 us to ~1 us (docs/adaptive.md 4).
inline constexpr double kDeeplyBehind = 0.9;

// FreeBSD's netisr_dispatch_src rules, plus the lane-outstanding check that
// keeps order when the mode changes under traffic (see DispatchMode).
inline Decision Decide(const DispatchContext& c) {
  switch (c.mode) {
    case DispatchMode::kDirect:
      return c.lane_outstanding == 0 ? Decision::kDirect : Decision::kQueue;
    case DispatchMode::kHybrid:
      return (c.target == c.here && !c.here_dispatching && c.target_qlen == 0 &&
              c.lane_outstanding == 0)
                 ? Decision::kHybridDirect
                 : Decision::kQueue;
    case DispatchMode::kAdaptive:  // reached only for packets without a flow bucket
      return Decide({DispatchMode::kHybrid, c.target, c.here, c.here_dispatching,
                     c.lane_outstanding, c.target_qlen});
    case DispatchMode::kDeferred:
      break;
  }
  return Decision::kQueue;
}

// Why the adaptive rule placed a packet where it did (counted in stats).
enum class AdaptiveReason : uint8_t {
  kHasRoom,      // this CPU has capacity: run here
  kNoRoom,       // saturated, but no CPU has room (or moved too recently): run here
  kMigrateOut,   // saturated: bucket moved to a CPU with room, queued there
  kPlaced,       // bucket lives on another CPU: queued there
  kMigrateHome,  // the bucket's CPU is overloaded and this one is not: back here
  kReturn,       // this CPU is light again (busy under busy_low) and the
                 // bucket's load fits under busy_high: back here, where it
                 // runs without crossing CPUs
  kHinted,       // an affinity hint names the CPU
  kInFlight,     // earlier packets of the bucket still queued: behind them
  kSpill,        // the bucket's CPU has a queue past spill_fill: this packet
                 // runs here, the bucket stays placed there
  kOrdered,      // the rule would run it elsewhere, but what its handlers
                 // emitted where it last ran is not all handled yet: there
                 // again, or that output could be overtaken
  kRebalance,    // this CPU saturated, the bucket's CPU overloaded or busy
                 // past busy_high with a queue past spill_fill: moved on
                 // to another CPU with room
  kCount,
};
const char* ToString(AdaptiveReason r);

// What the adaptive rule sees for one packet: all of it plain values, so a
// simulator can build it from a virtual clock and synthetic loads.
struct AdaptiveView {
  int here;                                  // caller's workstream (a worker)
  int placement;                             // where the bucket lives now (here = run directly)
  bool here_saturated;                       // hysteresis state after UpdateSaturation
  bool may_migrate;                          // bucket drained and migration interval elapsed
  std::span<const sched::LoadSample> loads;  // by workstream
  uint64_t cache_peers;                      // workstreams sharing a cache with `here` (bit mask)
  // This protocol's queue fill (qlen / qlimit) by workstream, read now (for
  // the bucket's own CPU: at the start of this chunk, plus what this
  // producer staged for it since). The published loads are up to a window
  // old, the fill is not, so it vetoes moving work into a queue that is
  // filling faster than the EWMA shows.
  std::span<const float> fill;
  // Workstreams this producer moved a bucket to within the last
  // settle_windows of their load windows (bit mask): their published load
  // does not show those moves yet, so a further bucket goes there only if
  // the target's capacity, counting them, holds it (`pending`). The bit of
  // `here` is set the same way after a bucket returned here: no further one
  // returns until this CPU's load shows that one.
  uint64_t settling = 0;
  // Workstreams whose queue made this producer hold back its sources
  // (backpressure) within the last load window (bit mask): overloaded,
  // whatever their averages say, so buckets come home from them and none
  // moves there.
  uint64_t pressured = 0;
  // The fraction of this CPU the bucket's packets would take if they ran
  // here: its packets in the last bucket epoch times this CPU's service
  // time per packet, over the epoch's length. 0 if unknown. A return must
  // leave this CPU under busy_high with it, or the bucket would bounce
  // straight back out.
  double bucket_load = 0;
  // By workstream, read only where `settling` is set: the load, in CPUs of
  // the producer's measure, this producer moved there since that target
  // began settling. A producer deeply behind its sources (kDeeplyBehind)
  // may move a bucket to a settling target while pending plus move_load
  // stays under half the target's room (room_busy minus its effective
  // busy): a capacity model of what the target carries once its load shows
  // the moves. Shorter than `loads` (empty): a settling target takes
  // nothing more. The target's busy may already show part of the pending
  // moves: counted twice, the model errs on the side of fewer moves.
  std::span<const float> pending = {};
  // The load, in CPUs, this bucket would move with it (a move out only).
  double move_load = 0;
  // A saturated producer's move of a bucket it placed elsewhere on to a
  // third CPU (kRebalance) fits the migration budget this interval, as its
  // moves out do.
  bool may_rebalance = false;
};

struct AdaptiveChoice {
  int placement;
  AdaptiveReason reason;
};

// Hysteresis on this CPU's own load: saturated above busy_high while behind
// its sources (full_polls at least full_polls_high), or above
// delay_high_ns; unsaturated again once below busy_low or keeping up (under
// half full_polls_high), and below delay_low_ns.
bool UpdateSaturation(bool was, const sched::LoadSample& here, const AdaptiveSettings& s);

// The least-loaded workstream other than `here` and not `excluded`, with room
// for more work (preferring cache peers), or -1. Room: queue under a quarter
// full, and either idle (asleep with stale load) or busy below room_busy
// with queueing delay below delay_low_ns.
int PickRoomyWorkstream(std::span<const sched::LoadSample> loads, std::span<const float> fill,
                        int here, uint64_t cache_peers, const AdaptiveSettings& s,
                        uint64_t excluded = 0);

// The bucket's CPU (v.placement) is overloaded: its queue past
// kOverloadFill, its queueing delay past delay_high_ns, or it made this
// producer hold back its sources within the last load window.
bool PlacementOverloaded(const AdaptiveView& v, const AdaptiveSettings& s);

// The per-packet adaptive rule (see DispatchMode::kAdaptive).
AdaptiveChoice DecideAdaptive(const AdaptiveView& v, const AdaptiveSettings& s);

}  // namespace netisr::internal
