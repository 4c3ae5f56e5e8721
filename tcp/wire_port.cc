#include "tcp/wire_port.h"

#include <fmt/format.h>

#include "sched_feedback/clock.h"

namespace netisr::tcp {

Result<std::pair<std::unique_ptr<WirePort>, std::unique_ptr<WirePort>>> WirePort::CreatePair(
    uint16_t queues, uint32_t ring, bool rss) {
  if (queues < 1 || queues > nic::kMaxQueuesPerPort)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("wire: {} queues, want [1, {}]", queues, nic::kMaxQueuesPerPort));
  if (ring < 2 || ring > (1u << 20) || (ring & (ring - 1)) != 0)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("wire: ring of {} packets, want a power of two in [2, 2^20]", ring));
  auto make = [&] {
    auto rings = std::make_shared<Rings>();
    for (uint16_t q = 0; q < queues; ++q) {
      auto r = std::make_unique<Ring>();
      r->slots.reset(new Packet*[ring]());
      r->mask = ring - 1;
      rings->push_back(std::move(r));
    }
    return rings;
  };
  auto a_to_b = make();
  auto b_to_a = make();
  std::unique_ptr<WirePort> a(new WirePort(0, b_to_a, a_to_b, rss));
  std::unique_ptr<WirePort> b(new WirePort(1, a_to_b, b_to_a, rss));
  return std::make_pair(std::move(a), std::move(b));
}

WirePort::WirePort(uint16_t id, std::shared_ptr<Rings> rx, std::shared_ptr<Rings> tx, bool rss)
    : id_(id),
      rss_(rss),
      name_(fmt::format("wire{}", id)),
      rx_(std::move(rx)),
      tx_(std::move(tx)) {}

WirePort::~WirePort() {
  for (auto& r : *rx_) {
    uint64_t h = r->head.load(std::memory_order_relaxed);
    const uint64_t t = r->tail.load(std::memory_order_acquire);
    for (; h != t; ++h) Release(r->slots[h & r->mask]);
    r->head.store(h, std::memory_order_release);
  }
}

size_t WirePort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_->size()) return 0;
  Ring& r = *(*rx_)[queue];
  const uint64_t h = r.head.load(std::memory_order_relaxed);
  const uint64_t t = r.tail.load(std::memory_order_acquire);  // pairs with TxBurst's release
  const size_t n = std::min<uint64_t>(t - h, out.size());
  if (n == 0) return 0;
  const uint64_t now = sched::FastClock::Global().NowNs();
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    Packet* p = r.slots[(h + i) & r.mask];
    p->ResetMetadata();
    p->source = nic::SourceId(id_, queue);
    p->ingress_ns = now;
    p->seq = h + i + 1;
    if (rss_) {
      const nic::RssHash hash = nic::HashFrame(nic::Toeplitz::Default(), {p->data, p->len});
      p->SetFlowId(hash.hash, hash.type);
    }
    bytes += p->len;
    out[i] = p;
  }
  r.head.store(h + n, std::memory_order_release);  // pairs with TxBurst's acquire
  r.rx_packets.store(r.rx_packets.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  r.rx_bytes.store(r.rx_bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  return n;
}

size_t WirePort::TxBurst(uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_->size()) return 0;
  Ring& r = *(*tx_)[queue];
  const uint64_t t = r.tail.load(std::memory_order_relaxed);
  const uint64_t h = r.head.load(std::memory_order_acquire);  // pairs with RxBurst's release
  const size_t room = r.mask + 1 - (t - h);
  const size_t n = std::min(room, pkts.size());
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    r.slots[(t + i) & r.mask] = pkts[i];
    bytes += pkts[i]->len;
  }
  r.tail.store(t + n, std::memory_order_release);  // pairs with RxBurst's acquire
  r.tx_packets.store(r.tx_packets.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  r.tx_bytes.store(r.tx_bytes.load(std::memory_order_relaxed) + bytes, std::memory_order_relaxed);
  if (n < pkts.size())
    r.tx_full.store(r.tx_full.load(std::memory_order_relaxed) + (pkts.size() - n),
                    std::memory_order_relaxed);
  return n;
}

nic::PortStats WirePort::Stats() const {
  nic::PortStats s;
  for (const auto& r : *rx_) {
    s.rx_packets += r->rx_packets.load(std::memory_order_relaxed);
    s.rx_bytes += r->rx_bytes.load(std::memory_order_relaxed);
  }
  for (const auto& r : *tx_) {
    s.tx_packets += r->tx_packets.load(std::memory_order_relaxed);
    s.tx_bytes += r->tx_bytes.load(std::memory_order_relaxed);
    s.tx_full += r->tx_full.load(std::memory_order_relaxed);
  }
  return s;
}

}  // namespace netisr::tcp
