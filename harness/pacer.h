// OpenLoopPacer: the arrival schedule of a paced source. Packet k "arrives"
// at start + k / rate whether or not anyone polls then (open loop), so a
// source asks how many packets have arrived by now, emits that many at most,
// and stamps each with its scheduled arrival: time spent waiting for a poll
// then counts as latency (no coordinated omission, as in wrk2 or
// HdrHistogram's corrected recording). The clock starts at the first
// Arrived call, so set-up time before the first poll is not a backlog.
//
// Rate: any value in (0, 1e9] packets per second with a finite period;
// callers bound it (`netisr run --rate`) so that a run stays finite. 0 is
// unpaced: every packet has arrived, at `now`.
//
// One thread at a time (the polling worker); no allocation, no syscall: a
// division per Arrived call and a multiplication per stamp.
#pragma once

#include <algorithm>
#include <cstdint>

namespace netisr::harness {

class OpenLoopPacer {
 public:
  explicit OpenLoopPacer(double rate_pps) : ns_per_packet_(rate_pps > 0 ? 1e9 / rate_pps : 0) {}

  bool paced() const { return ns_per_packet_ > 0; }
  // Period between arrivals, ns; 0 when unpaced.
  double ns_per_packet() const { return ns_per_packet_; }

  // Packets 0..n-1 have arrived by `now_ns` (packet k at start + k x
  // period); the first call sets start. Unpaced: UINT64_MAX.
  uint64_t Arrived(uint64_t now_ns) {
    if (!paced()) return UINT64_MAX;
    if (start_ns_ == 0) start_ns_ = now_ns;
    return static_cast<uint64_t>(static_cast<double>(now_ns - start_ns_) / ns_per_packet_) + 1;
  }

  // Ingress stamp of packet k seen at `now_ns`: its scheduled arrival, never
  // after now (paced), or now (unpaced: packets of a burst arrive together).
  uint64_t StampNs(uint64_t k, uint64_t now_ns) const {
    if (!paced()) return now_ns;
    return std::min(start_ns_ + static_cast<uint64_t>(static_cast<double>(k) * ns_per_packet_),
                    now_ns);
  }

 private:
  const double ns_per_packet_;  // 0 = unpaced
  uint64_t start_ns_ = 0;       // arrival of packet 0 (first Arrived call)
};

}  // namespace netisr::harness
