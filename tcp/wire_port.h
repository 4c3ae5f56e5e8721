// WirePort: two nic::Ports joined back to back in memory, a virtual cable
// for running two TCP hosts (tcp/host.h) in one process: what one end's TX
// queue q sends, the other end's RX queue q receives, in order.
//
// Design: one bounded single-producer/single-consumer ring per direction
// and queue (both ends have the same queue count), so a queue costs no lock
// and no read-modify-write: the sender's TX queue q is driven by one thread
// (Port's rule) and so is the receiver's RX queue q. Packets move by
// pointer; the receiver owns them (and releases them into the sender's
// pool). A full ring refuses the rest of a burst (tx_full, left with the
// caller, as Port::TxBurst says). Frames carry no flowid (the receiving
// stack computes it, as for a NIC without RSS) unless the pair was made with
// `rss`: then each end hashes what it receives as a NIC's software RSS does
// (Toeplitz, kDefaultRssKey; rx_flow_hash says so). `seq` is the 1-based
// arrival number per queue.
//
// Trade-off: no loss, delay or reordering (the engine tests in
// tests/tcp/exchange_test have those); this wire exists to drive real
// hosts through netisr.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "netisr/packet.h"
#include "nic/port.h"

namespace netisr::tcp {

class WirePort final : public nic::Port {
 public:
  // Two joined ends, ports 0 and 1 (their `port_id`, hence source ids),
  // `queues` RX and TX queues each in [1, 64], `ring` packets per queue and
  // direction, a power of two in [2, 1 << 20]; `rss`: flowids as above.
  static Result<std::pair<std::unique_ptr<WirePort>, std::unique_ptr<WirePort>>> CreatePair(
      uint16_t queues, uint32_t ring = 4096, bool rss = false);
  // Releases whatever is still in flight towards this end.
  ~WirePort() override;

  std::string_view name() const override { return name_; }
  uint16_t port_id() const override { return id_; }
  uint16_t num_rx_queues() const override { return static_cast<uint16_t>(rx_->size()); }
  uint16_t num_tx_queues() const override { return static_cast<uint16_t>(rx_->size()); }
  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override;
  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override;
  bool RxExhausted(uint16_t) const override { return false; }
  nic::RxFlowHash rx_flow_hash() const override {
    return rss_ ? nic::RxFlowHash{&nic::Toeplitz::Default(), {}} : nic::RxFlowHash{};
  }
  nic::PortStats Stats() const override;

 private:
  // One direction of one queue. head: next slot to read (consumer only),
  // tail: next slot to write (producer only); each published with release,
  // read by the other side with acquire, so a slot's pointer is written
  // before the tail that exposes it and read before the head that frees it.
  struct alignas(64) Ring {
    std::unique_ptr<Packet*[]> slots;
    uint32_t mask = 0;
    alignas(64) std::atomic<uint64_t> head{0};
    alignas(64) std::atomic<uint64_t> tail{0};
    // Counters, each written by one side only (relaxed; read by Stats).
    std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};              // consumer
    std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, tx_full{0};  // producer
  };
  using Rings = std::vector<std::unique_ptr<Ring>>;

  WirePort(uint16_t id, std::shared_ptr<Rings> rx, std::shared_ptr<Rings> tx, bool rss);

  const uint16_t id_;
  const bool rss_;
  const std::string name_;
  std::shared_ptr<Rings> rx_;  // what this end receives (the peer's tx_)
  std::shared_ptr<Rings> tx_;  // what this end sends
};

}  // namespace netisr::tcp
