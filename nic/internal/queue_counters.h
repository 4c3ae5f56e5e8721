// Per-queue counters of a Port backend: written by the one thread that owns
// the queue, read by Port::Stats from any thread. Single writer, so an
// increment is a relaxed load and store (no read-modify-write, no lock
// prefix); readers see each counter torn-free but the set not as one
// snapshot, which statistics do not need. Exact once the writer stopped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "nic/port.h"

namespace netisr::nic::internal {

// counter += n by its single writer.
inline void Bump(std::atomic<uint64_t>& c, uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// One RX queue's counters, on lines of their own so that queues polled by
// different threads do not share a line.
struct alignas(64) RxQueueCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(RxDrop::kCount)> drops{};

  // Frames dropped so far, all reasons (Port::RxDropped).
  uint64_t dropped() const {
    uint64_t n = 0;
    for (const auto& d : drops) n += d.load(std::memory_order_relaxed);
    return n;
  }

  void AddTo(PortStats& s) const {
    s.rx_packets += packets.load(std::memory_order_relaxed);
    s.rx_bytes += bytes.load(std::memory_order_relaxed);
    for (size_t i = 0; i < drops.size(); ++i)
      s.rx_drops[i] += drops[i].load(std::memory_order_relaxed);
  }
};

struct alignas(64) TxQueueCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> full{0};

  void AddTo(PortStats& s) const {
    s.tx_packets += packets.load(std::memory_order_relaxed);
    s.tx_bytes += bytes.load(std::memory_order_relaxed);
    s.tx_full += full.load(std::memory_order_relaxed);
  }
};

}  // namespace netisr::nic::internal
