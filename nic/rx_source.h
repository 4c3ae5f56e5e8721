// RxQueueSource: how a worker polls one NIC RX queue. Attached to a netisr
// worker (Netisr::AttachSource), each Poll pulls one burst from the queue
// (Port::RxBurst) and hands it to a protocol with one DispatchBurst, under
// the queue's source id (SourceId(port, queue)).
//
// One source per (port, queue), attached to exactly one worker: that is the
// one-thread-per-queue rule Port asks for, and it keeps each flow's packets
// (which RSS puts on one queue) in one producer's order, so netisr keeps
// them in order too.
#pragma once

#include <cstdint>

#include "netisr/netisr.h"
#include "nic/port.h"

namespace netisr::nic {

class RxQueueSource final : public IngressSource {
 public:
  // `port` must outlive the source; `queue` < port.num_rx_queues().
  RxQueueSource(Port& port, uint16_t queue, ProtocolId proto)
      : port_(port), queue_(queue), proto_(proto) {}

  // Receives at most min(budget, 256) frames and dispatches them as one
  // burst; returns how many.
  size_t Poll(Netisr& nisr, size_t budget) override;
  bool Exhausted() const override { return port_.RxExhausted(queue_); }

  // Packets dispatched so far (read on the polling worker or after Stop).
  uint64_t received() const { return received_; }

 private:
  Port& port_;
  const uint16_t queue_;
  const ProtocolId proto_;
  uint64_t received_ = 0;
};

}  // namespace netisr::nic
