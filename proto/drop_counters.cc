#include "proto/drop_counters.h"

#include "netisr/netisr.h"

namespace netisr::proto {

DropCounters::DropCounters() : blocks_(new Block[kMaxWorkstreams + 1]) {}

void DropCounters::Add(DropReason r, uint64_t n) {
  const size_t i = static_cast<size_t>(r);
  if (i >= kNumDropReasons) return;  // kCount is not a reason; no parser returns it
  const int ws = Netisr::CurrentWorkstream();
  if (ws < 0 || ws >= kMaxWorkstreams) {
    blocks_[0].count[i].fetch_add(n, std::memory_order_relaxed);
    return;
  }
  // Single writer: this workstream's worker (or the thread draining it at
  // Stop(), after the worker has stopped).
  auto& c = blocks_[ws + 1].count[i];
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

uint64_t DropCounters::Get(DropReason r) const {
  const size_t i = static_cast<size_t>(r);
  uint64_t sum = 0;
  for (int b = 0; b <= kMaxWorkstreams; ++b) {
    sum += blocks_[b].count[i].load(std::memory_order_relaxed);
  }
  return sum;
}

uint64_t DropCounters::Total() const {
  uint64_t sum = 0;
  for (size_t r = 0; r < kNumDropReasons; ++r) sum += Get(static_cast<DropReason>(r));
  return sum;
}

std::map<std::string, uint64_t> DropCounters::Snapshot() const {
  std::map<std::string, uint64_t> m;
  for (size_t r = 0; r < kNumDropReasons; ++r) {
    const uint64_t n = Get(static_cast<DropReason>(r));
    if (n != 0) m.emplace(ToString(static_cast<DropReason>(r)), n);
  }
  return m;
}

}  // namespace netisr::proto
