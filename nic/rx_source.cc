#include "nic/rx_source.h"

#include <algorithm>

namespace netisr::nic {

size_t RxQueueSource::Poll(Netisr& nisr, size_t budget) {
  // DPDK's usual RX burst is 32; netisr's burst setting is capped at 256.
  constexpr size_t kMaxBurst = 256;
  Packet* burst[kMaxBurst];
  const size_t n = port_.RxBurst(queue_, {burst, std::min(budget, kMaxBurst)});
  if (n == 0) return 0;
  received_ += n;
  const size_t kept = filter_ != nullptr ? filter_->Apply({burst, n}) : n;
  if (kept != 0) nisr.DispatchBurst(SourceId(port_.port_id(), queue_), proto_, {burst, kept});
  return n;
}

}  // namespace netisr::nic
