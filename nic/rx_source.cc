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
    kept += filter_ != nullptr ? filter_->Apply({burst + kept, n}, link_) : n;
  }
  received_ += received;
  if (kept == 0) return received;
  const uint16_t source = SourceId(port_.port_id(), queue_);
  if (link_ == LinkType::kEthernet) {
    nisr.DispatchBurst(source, protos_.link, {burst, kept});
  } else {
    DispatchByVersion(nisr, source, {burst, kept});
  }
  return received;
}

void RxQueueSource::DispatchByVersion(Netisr& nisr, uint16_t source, std::span<Packet*> pkts) {
  auto proto_of = [this](const Packet* p) {
    return p->len != 0 && p->data[0] >> 4 == 6 ? protos_.ipv6 : protos_.ipv4;
  };
  size_t begin = 0;
  ProtocolId run = proto_of(pkts[0]);
  for (size_t i = 1; i <= pkts.size(); ++i) {
    const ProtocolId next = i < pkts.size() ? proto_of(pkts[i]) : run;
    if (i == pkts.size() || next != run) {
      nisr.DispatchBurst(source, run, pkts.subspan(begin, i - begin));
      begin = i;
      run = next;
    }
  }
}

}  // namespace netisr::nic
