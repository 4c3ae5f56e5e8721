#include "proto/drop_counters.h"

#include "netisr/netisr.h"

namespace netisr::proto {

DropCounters::DropCounters() = default;

DropCounters::DropCounters(std::vector<std::string> hook_reasons)
    : hook_reasons_(std::move(hook_reasons)) {
  // No verdict reaches past kMaxIpHookDrops (IpDrop clamps); the counters
  // end there.
  if (hook_reasons_.size() > kMaxIpHookDrops) hook_reasons_.resize(kMaxIpHookDrops);
}

void DropCounters::Bump(base::Counter& c, uint64_t n, int ws) {
  if (blocks_.IsWorker(ws)) {
    // Single writer: this workstream's worker (or the thread draining it at
    // Stop(), after the worker has stopped).
    c.Add(n);
  } else {
    c.AddShared(n);
  }
}

void DropCounters::Add(ParseDrop r, uint64_t n) {
  const size_t i = static_cast<size_t>(r);
  if (i >= kNumParseDrops) return;  // kCount is not a reason; no parser returns it
  const int ws = Netisr::CurrentWorkstream();
  Bump(blocks_.For(ws).count[i], n, ws);
}

void DropCounters::AddHook(size_t r, uint64_t n) {
  const int ws = Netisr::CurrentWorkstream();
  Bump(blocks_.For(ws).hook[std::min(r, hook_reasons_.size())], n, ws);
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
  blocks_.ForEach([&](const Block& b) {
    for (const base::Counter& c : b.hook) sum += c.Get();
  });
  return sum;
}

std::map<std::string, uint64_t> DropCounters::Snapshot() const {
  std::map<std::string, uint64_t> m;
  for (size_t r = 0; r < kNumParseDrops; ++r) {
    const uint64_t n = Get(static_cast<ParseDrop>(r));
    if (n != 0) m.emplace(ToString(static_cast<ParseDrop>(r)), n);
  }
  for (size_t r = 0; r <= hook_reasons_.size(); ++r) {
    uint64_t n = 0;
    blocks_.ForEach([&](const Block& b) { n += b.hook[r].Get(); });
    if (n != 0)
      m[r < hook_reasons_.size() ? hook_reasons_[r] : std::string(kIpHookUnnamedDrop)] += n;
  }
  return m;
}

}  // namespace netisr::proto
