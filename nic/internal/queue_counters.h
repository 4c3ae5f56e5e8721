// Per-queue counters of a Port backend: written by the one thread that owns
// the queue, read by Port::Stats from any thread. Single writer, so they are
// base::Counters (a relaxed load and store per increment); readers see each
// counter torn-free but the set not as one snapshot, which statistics do not
// need. Exact once the writer stopped.
#pragma once

#include <array>
#include <cstdint>

#include "base/counter.h"
#include "nic/port.h"

namespace netisr::nic::internal {

// One RX queue's counters, on lines of their own so that queues polled by
// different threads do not share a line.
struct alignas(64) RxQueueCounters {
  base::Counter packets;
  base::Counter bytes;
  std::array<base::Counter, static_cast<size_t>(RxDrop::kCount)> drops;

  // Frames dropped so far, all reasons (Port::RxDropped).
  uint64_t dropped() const {
    uint64_t n = 0;
    for (const auto& d : drops) n += d.Get();
    return n;
  }

  void AddTo(PortStats& s) const {
    s.rx_packets += packets.Get();
    s.rx_bytes += bytes.Get();
    for (size_t i = 0; i < drops.size(); ++i) s.rx_drops[i] += drops[i].Get();
  }
};

struct alignas(64) TxQueueCounters {
  base::Counter packets;
  base::Counter bytes;
  base::Counter full;

  void AddTo(PortStats& s) const {
    s.tx_packets += packets.Get();
    s.tx_bytes += bytes.Get();
    s.tx_full += full.Get();
  }
};

}  // namespace netisr::nic::internal
