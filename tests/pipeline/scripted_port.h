// ScriptedPort: a nic::Port for the pipeline tests. Each RX queue hands out
// a fixed list of frames (copied into pool packets) and then is exhausted;
// each TX queue records the size of every TxBurst, accepts at most
// `tx_accept` frames per call (the rest are refused, as a full ring would)
// and releases what it accepted. It notes which worker polled each RX queue
// and which sent on each TX queue. TX queue state is deliberately plain (no
// lock): one thread per queue is Port's rule, and ThreadSanitizer reports a
// caller that breaks it.
#pragma once

#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "netisr/netisr.h"
#include "nic/port.h"

namespace netisr::pipeline::testing {

class ScriptedPort final : public nic::Port {
 public:
  ScriptedPort(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues, PacketPool* pool,
               size_t tx_accept = std::numeric_limits<size_t>::max())
      : id_(port_id),
        name_("scripted" + std::to_string(port_id)),
        pool_(pool),
        tx_accept_(tx_accept),
        rx_(rx_queues),
        tx_(tx_queues) {
    for (auto& q : rx_) q = std::make_unique<Rx>();
    for (auto& q : tx_) q = std::make_unique<Tx>();
  }

  // Before the pipeline starts.
  void AddFrames(uint16_t queue, const std::vector<std::vector<uint8_t>>& frames) {
    for (const auto& f : frames) rx_[queue]->frames.push_back(f);
  }

  std::string_view name() const override { return name_; }
  uint16_t port_id() const override { return id_; }
  uint16_t num_rx_queues() const override { return static_cast<uint16_t>(rx_.size()); }
  uint16_t num_tx_queues() const override { return static_cast<uint16_t>(tx_.size()); }

  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override {
    Rx& q = *rx_[queue];
    Note(q.poller, q.mixed);
    size_t n = 0;
    size_t pos = q.pos.load(std::memory_order_relaxed);
    while (n < out.size() && pos < q.frames.size()) {
      Packet* p = pool_->Alloc();
      if (p == nullptr) break;  // backpressure, not loss
      const auto& f = q.frames[pos++];
      std::memcpy(p->data, f.data(), f.size());
      p->len = static_cast<uint32_t>(f.size());
      p->source = nic::SourceId(id_, queue);
      out[n++] = p;
    }
    q.pos.store(pos, std::memory_order_relaxed);
    q.handed.fetch_add(n, std::memory_order_relaxed);
    return n;
  }

  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override {
    Tx& q = *tx_[queue];
    q.bursts.push_back(pkts.size());  // plain: one thread per TX queue
    Note(q.sender, q.mixed);
    const size_t n = std::min(pkts.size(), tx_accept_);
    for (size_t i = 0; i < n; ++i) {
      q.last_frames.push_back(std::vector<uint8_t>(pkts[i]->data, pkts[i]->data + pkts[i]->len));
      Release(pkts[i]);
    }
    q.sent.fetch_add(n, std::memory_order_relaxed);
    q.refused.fetch_add(pkts.size() - n, std::memory_order_relaxed);
    return n;
  }

  bool RxExhausted(uint16_t queue) const override {
    const Rx& q = *rx_[queue];
    return q.pos.load(std::memory_order_relaxed) == q.frames.size();
  }

  nic::PortStats Stats() const override {
    nic::PortStats s;
    for (const auto& q : rx_) s.rx_packets += q->handed.load(std::memory_order_relaxed);
    for (const auto& q : tx_) {
      s.tx_packets += q->sent.load(std::memory_order_relaxed);
      s.tx_full += q->refused.load(std::memory_order_relaxed);
    }
    return s;
  }

  // After the pipeline stopped.
  int rx_poller(uint16_t queue) const { return rx_[queue]->poller.load(); }
  bool rx_mixed(uint16_t queue) const { return rx_[queue]->mixed.load(); }
  const std::vector<size_t>& tx_bursts(uint16_t queue) const { return tx_[queue]->bursts; }
  const std::vector<std::vector<uint8_t>>& tx_frames(uint16_t queue) const {
    return tx_[queue]->last_frames;
  }
  uint64_t tx_sent() const { return Stats().tx_packets; }

 private:
  // Which worker ran the call (-1 outside workers); `mixed` once two did.
  static void Note(std::atomic<int>& who, std::atomic<bool>& mixed) {
    const int ws = Netisr::CurrentWorkstream();
    int seen = -2;
    if (!who.compare_exchange_strong(seen, ws) && seen != ws) mixed.store(true);
  }

  struct Rx {
    std::vector<std::vector<uint8_t>> frames;
    std::atomic<size_t> pos{0};
    std::atomic<uint64_t> handed{0};
    std::atomic<int> poller{-2};
    std::atomic<bool> mixed{false};
  };
  struct Tx {
    std::vector<size_t> bursts;
    std::vector<std::vector<uint8_t>> last_frames;
    std::atomic<uint64_t> sent{0}, refused{0};
    std::atomic<int> sender{-2};
    std::atomic<bool> mixed{false};
  };

  const uint16_t id_;
  const std::string name_;
  PacketPool* const pool_;
  const size_t tx_accept_;
  std::vector<std::unique_ptr<Rx>> rx_;
  std::vector<std::unique_ptr<Tx>> tx_;
};

}  // namespace netisr::pipeline::testing
