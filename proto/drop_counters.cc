#include "proto/drop_counters.h"

#include "netisr/netisr.h"

namespace netisr::proto {

DropCounters::DropCounters() = default;

void DropCounters::Add(ParseDrop r, uint64_t n) {
  const size_t i = static_cast<size_t>(r);
  if (i >= kNumParseDrops) return;  // kCount is not a reason; no parser returns it
  const int ws = Netisr::CurrentWorkstream();
  base::Counter& c = blocks_.For(ws).count[i];
  if (blocks_.IsWorker(ws)) {
    // Single writer: this workstream's worker (or the thread draining it at
    // Stop(), after the worker has stopped).
    c.Add(n);
  } else {
    c.AddShared(n);
  }
}

uint64_t DropCounters::Get(ParseDrop r) const {
  const size_t i = static_cast<size_t>(r);
  uint64_t sum = 0;
  blocks_.ForEach([&](const Block& b) { sum += b.count[i].Get(); });
  return sum;
}

uint64_t DropCounters::Total() const {
  uint64_t sum = 0;
  for (size_t r = 0; r < kNumParseDrops; ++r) sum += Get(static_cast<ParseDrop>(r));
  return sum;
}

std::map<std::string, uint64_t> DropCounters::Snapshot() const {
  std::map<std::string, uint64_t> m;
  for (size_t r = 0; r < kNumParseDrops; ++r) {
    const uint64_t n = Get(static_cast<ParseDrop>(r));
    if (n != 0) m.emplace(ToString(static_cast<ParseDrop>(r)), n);
  }
  return m;
}

}  // namespace netisr::proto
