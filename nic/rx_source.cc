#include "nic/rx_source.h"

#include <algorithm>

namespace netisr::nic {

size_t RxQueueSource::Poll(Netisr& nisr, size_t budget) {
  // DPDK's usual RX burst is 32; netisr's burst setting is capped at 256.
  constexpr size_t kMaxBurst = 256;
  Packet* burst[kMaxBurst];
  const size_t want = std::min(budget, kMaxBurst);
  size_t kept = 0, received = 0;
  // RX bursts into the free tail of `burst` until it holds `want`
  // survivors or the queue comes up empty (see the header: refill after
  // filtering, and PMDs that return fewer than asked); with a filter, also
  // at most kMaxRxBurstsPerPoll bursts. Without one every frame received is
  // kept, so `want` alone bounds the loop.
  for (int i = 0; kept < want && (filter_ == nullptr || i < kMaxRxBurstsPerPoll); ++i) {
    const size_t n = port_.RxBurst(queue_, {burst + kept, want - kept});
    if (n == 0) break;
    received += n;
    kept += filter_ != nullptr ? filter_->Apply({burst + kept, n}) : n;
  }
  received_ += received;
  if (kept != 0) nisr.DispatchBurst(SourceId(port_.port_id(), queue_), proto_, {burst, kept});
  return received;
}

}  // namespace netisr::nic
