// RxQueueSource: how a worker polls one NIC RX queue. Attached to a netisr
// worker (Netisr::AttachSource), each Poll pulls up to a burst from the
// queue (Port::RxBurst, again if the port returned short), runs it through
// the optional receive filter
// (rx_filter.h, e.g. proto's EarlyFilter: drop and rate-limit rules, applied
// here so that a flood is released before it costs a queue slot or a
// parse), and hands the rest to a protocol with one DispatchBurst, under the
// queue's source id (SourceId(port, queue)).
//
// Entry protocol by link type (link_type.h): an Ethernet port's frames go to
// RxProtocols::link; an IP port's packets (a raw-IP, cooked or loopback
// capture) to RxProtocols::ipv4 or ::ipv6 by their version nibble (any
// other nibble goes to ipv4, whose parser drops and counts it), one
// DispatchBurst per run of equal protocol, so arrival order is kept.
//
// Refill after filtering: when the filter drops part of a burst, the source
// receives again into the freed slots (at most kMaxRxBurstsPerPoll RX bursts
// per Poll) before dispatching, so that the survivors reach the stack in
// full bursts. Without it, legitimate packets under a 90% flood reached the
// stack in bursts of ~3 instead of 32, and the per-burst costs of netisr and
// the stack (clock reads, staging, dispatch) nearly doubled their cost per
// packet (310 against 168 ns, benchmarks/proto/early_drop_bench).
//
// Short RX bursts: a PMD may return fewer frames than asked while more are
// pending (many cap one call at 32), so the source receives again until it
// has its budget or a burst comes back empty. A short Poll then means the
// queue ran dry, which is what netisr reads from it: the share of full polls
// tells adaptive dispatch whether this CPU keeps up with its queues
// (sched::LoadSample::full_polls). The price is one empty RX burst per
// poll that drains the queue.
//
// One source per (port, queue), attached to exactly one worker: that is the
// one-thread-per-queue rule Port asks for, and it keeps each flow's packets
// (which RSS puts on one queue) in one producer's order, so netisr keeps
// them in order too (the filter keeps the order of what it passes).
#pragma once

#include <cstdint>

#include "netisr/netisr.h"
#include "nic/port.h"
#include "nic/rx_filter.h"

namespace netisr::nic {

// The netisr protocols the receive path hands packets to, by what they start
// with: a link-layer frame, an IPv4 or an IPv6 header.
struct RxProtocols {
  ProtocolId link = 0;
  ProtocolId ipv4 = 0;
  ProtocolId ipv6 = 0;
};

class RxQueueSource final : public IngressSource {
 public:
  // `port` must outlive the source; `queue` < port.num_rx_queues(). A
  // non-null `filter` must outlive the source too; it may be shared by
  // several sources.
  RxQueueSource(Port& port, uint16_t queue, RxProtocols protos, RxFilter* filter = nullptr)
      : port_(port), queue_(queue), protos_(protos), filter_(filter), link_(port.link_type()) {}
  // Every packet to `proto`, whatever the port's link type (an Ethernet
  // port's frames, or a test's protocol that takes anything).
  RxQueueSource(Port& port, uint16_t queue, ProtocolId proto, RxFilter* filter = nullptr)
      : RxQueueSource(port, queue, RxProtocols{proto, proto, proto}, filter) {}

  // RX bursts taken per Poll at most with a filter, refilling what it dropped:
  // 8 bounds one Poll to 8 x 32 received frames with the default burst
  // (~3 us of filtering at ~10 ns a frame), so that a flooded queue cannot
  // hold its worker much longer than an unfiltered Poll would.
  static constexpr int kMaxRxBurstsPerPoll = 8;

  // Receives frames, filters them and dispatches at most min(budget, 256)
  // survivors as one burst (receiving again after filtering or a short RX
  // burst, see above); returns how many were received (filtered ones
  // included: the worker did that work).
  size_t Poll(Netisr& nisr, size_t budget) override;
  bool Exhausted() const override { return port_.RxExhausted(queue_); }

  // Packets received so far, before the filter (read on the polling worker
  // or after Stop); the filter's Stats() say how many it dropped.
  uint64_t received() const { return received_; }

 private:
  // Dispatches `pkts` (an IP port's) in runs of equal entry protocol.
  void DispatchByVersion(Netisr& nisr, uint16_t source, std::span<Packet*> pkts);

  Port& port_;
  const uint16_t queue_;
  const RxProtocols protos_;
  RxFilter* const filter_;
  const LinkType link_;
  uint64_t received_ = 0;
};

}  // namespace netisr::nic
