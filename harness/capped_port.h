// CappedPort: a Port that ends a run's ingress. The ports of a run share
// one RxBudget: together they hand out at most `cap` frames over all their
// RX queues (`netisr run --packets`),
// and, when idle_ns > 0, calls an RX queue exhausted once it has returned
// nothing for idle_ns since its last frame (or its first poll) (--idle-ms:
// a DPDK device never says it ran dry, see DpdkPort::RxExhausted). Everything
// else passes through to the wrapped port, whose Stats stay the truth about
// what it received and dropped.
//
// The cap is exact and counts every frame the port takes off a queue,
// delivered or dropped by the port (rx_too_long, rx_truncated, ...: a trace
// of bad frames looped forever still ends after `cap` frames, and the run's
// packets_in is the cap). A burst first claims up to `remaining` frames
// with a CAS, asks the port for only that many (Port::RxBurst takes at most
// that many, delivered and dropped), reads how many it dropped meanwhile
// (Port::RxDropped, exact on the polling thread) and gives back what it did
// not take; a queue is exhausted once `handed` (frames taken) reaches the cap, so a claim
// in flight on another queue or port never ends this one early.
// Cost: a claim and a give-back, two relaxed read-modify-writes on a line
// shared by the queues, per RX burst (~50-100 ns when contended, ~2-3 ns a
// packet for a 32-frame burst; RxQueueSource adds one empty burst per poll
// that drains a queue), none per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "nic/port.h"
#include "sched_feedback/clock.h"

namespace netisr::harness {

// The frames a run may still take, shared by its ports. Both counters are
// bumped by the RX threads with relaxed read-modify-writes: they count, the
// frames themselves are ordered by the port and by netisr.
struct RxBudget {
  explicit RxBudget(uint64_t cap) : cap(cap), remaining(cap) {}
  const uint64_t cap;
  alignas(64) std::atomic<uint64_t> remaining;  // not yet claimed (CAS)
  std::atomic<uint64_t> handed{0};  // taken by a port: handed out or dropped (fetch_add)
};

class CappedPort final : public nic::Port {
 public:
  // `budget` must outlive the port.
  CappedPort(std::unique_ptr<nic::Port> inner, RxBudget& budget, uint64_t idle_ns);

  std::string_view name() const override { return inner_->name(); }
  uint16_t port_id() const override { return inner_->port_id(); }
  uint16_t num_rx_queues() const override { return inner_->num_rx_queues(); }
  uint16_t num_tx_queues() const override { return inner_->num_tx_queues(); }
  nic::LinkType link_type() const override { return inner_->link_type(); }
  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override;
  uint64_t RxDropped(uint16_t queue) const override { return inner_->RxDropped(queue); }
  nic::RxFlowHash rx_flow_hash() const override { return inner_->rx_flow_hash(); }
  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override {
    return inner_->TxBurst(queue, pkts);
  }
  bool RxExhausted(uint16_t queue) const override;
  nic::PortStats Stats() const override { return inner_->Stats(); }

  nic::Port& inner() { return *inner_; }

 private:
  // Written by the queue's polling thread, read by RxExhausted (the same
  // thread in netisr, any thread otherwise): relaxed, a heuristic clock.
  struct alignas(64) QueueClock {
    std::atomic<uint64_t> last_rx_ns{0};  // 0 = never polled
  };

  const std::unique_ptr<nic::Port> inner_;
  RxBudget& budget_;
  const uint64_t idle_ns_;
  const sched::FastClock& clock_;
  std::vector<QueueClock> clocks_;  // by RX queue
};

}  // namespace netisr::harness
