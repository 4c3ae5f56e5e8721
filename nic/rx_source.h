// RxQueueSource: how a worker polls one NIC RX queue. Attached to a netisr
// worker (Netisr::AttachSource), each Poll pulls one burst from the queue
// (Port::RxBurst), runs it through the optional early filter
// (proto/filter.h: drop and rate-limit rules, applied here so that a flood
// is released before it costs a queue slot or a parse), and hands the rest
// to a protocol with one DispatchBurst, under the queue's source id
// (SourceId(port, queue)).
//
// One source per (port, queue), attached to exactly one worker: that is the
// one-thread-per-queue rule Port asks for, and it keeps each flow's packets
// (which RSS puts on one queue) in one producer's order, so netisr keeps
// them in order too (the filter keeps the order of what it passes).
#pragma once

#include <cstdint>

#include "netisr/netisr.h"
#include "nic/port.h"
#include "proto/filter.h"

namespace netisr::nic {

class RxQueueSource final : public IngressSource {
 public:
  // `port` must outlive the source; `queue` < port.num_rx_queues(). A
  // non-null `filter` must outlive the source too; it may be shared by
  // several sources (it keeps per-workstream state, see filter.h).
  RxQueueSource(Port& port, uint16_t queue, ProtocolId proto, proto::EarlyFilter* filter = nullptr)
      : port_(port), queue_(queue), proto_(proto), filter_(filter) {}

  // Receives at most min(budget, 256) frames, filters them and dispatches
  // the survivors as one burst; returns how many were received (filtered
  // ones included: the worker did that work).
  size_t Poll(Netisr& nisr, size_t budget) override;
  bool Exhausted() const override { return port_.RxExhausted(queue_); }

  // Packets received so far, before the filter (read on the polling worker
  // or after Stop); the filter's Stats() say how many it dropped.
  uint64_t received() const { return received_; }

 private:
  Port& port_;
  const uint16_t queue_;
  const ProtocolId proto_;
  proto::EarlyFilter* const filter_;
  uint64_t received_ = 0;
};

}  // namespace netisr::nic
