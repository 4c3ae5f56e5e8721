// The policy decision: which workstream a packet belongs to, and whether it
// runs here or is queued. Pure functions of their arguments so that the
// simulator and tests can call the very same code the dispatcher runs.
#pragma once

#include <cstdint>

#include "netisr/packet.h"
#include "netisr/protocol.h"

namespace netisr::internal {

// Workstream for `pkt` under `spec`'s policy, or -1 if the policy cannot
// place it (kCpu and m2cpuid returned nothing valid). May call m2flow (which
// may set pkt.flowid) or m2cpuid.
int SelectWorkstream(const ProtocolSpec& spec, Packet& pkt, uint16_t source, int nws);

// What the caller knows when it decides one packet's fate.
struct DispatchContext {
  DispatchMode mode;
  int target;                  // workstream the policy chose
  int here;                    // caller's workstream, -1 outside workers
  bool here_draining;          // caller's workstream is running queued handlers
  uint64_t lane_outstanding;   // caller's packets queued or running in target's lane
  int64_t target_qlen;         // packets queued at target for this protocol
};

enum class Decision : uint8_t { kDirect, kHybridDirect, kQueue };

// FreeBSD's netisr_dispatch_src rules, plus the lane-outstanding check that
// keeps order when the mode changes under traffic (see DispatchMode).
inline Decision Decide(const DispatchContext& c) {
  switch (c.mode) {
    case DispatchMode::kDirect:
      return c.lane_outstanding == 0 ? Decision::kDirect : Decision::kQueue;
    case DispatchMode::kHybrid:
      return (c.target == c.here && !c.here_draining && c.target_qlen == 0 &&
              c.lane_outstanding == 0)
                 ? Decision::kHybridDirect
                 : Decision::kQueue;
    case DispatchMode::kDeferred:
      break;
  }
  return Decision::kQueue;
}

}  // namespace netisr::internal
