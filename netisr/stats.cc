// The Stats helpers, the `netstat -Q` table, and Dispatcher::GetStats,
// which sums the single-writer lane and producer counters into a snapshot.
#include "netisr/stats.h"

#include <fmt/format.h>

#include <algorithm>

#include "netisr/internal/dispatcher.h"

namespace netisr {

WorkStats Stats::Total(int protocol) const {
  WorkStats t;
  for (const auto& row : work) {
    const WorkStats& c = row[protocol];
    t.dispatched += c.dispatched;
    t.hybrid_dispatched += c.hybrid_dispatched;
    t.queued += c.queued;
    t.qdrops += c.qdrops;
    t.handled += c.handled;
    t.bursts += c.bursts;
    t.qlen += c.qlen;
    t.watermark = std::max(t.watermark, c.watermark);
  }
  return t;
}

uint64_t Stats::TotalDrops() const {
  uint64_t n = 0;
  for (const auto& [reason, count] : drops) n += count;
  return n;
}

std::string FormatTable(const Stats& s) {
  std::string out = fmt::format(
      "{:>4} {:>4} {:<10} {:>6} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>8}\n", "WSID", "CPU",
      "Name", "Len", "WMark", "Disp'd", "HDisp'd", "QDrops", "Queued", "Handled", "Wakeups");
  for (size_t w = 0; w < s.work.size(); ++w) {
    for (size_t x = 0; x < s.protocols.size(); ++x) {
      const WorkStats& c = s.work[w][x];
      out +=
          fmt::format("{:>4} {:>4} {:<10} {:>6} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>8}\n",
                      w, s.workstreams[w].cpu, s.protocols[x], c.qlen, c.watermark, c.dispatched,
                      c.hybrid_dispatched, c.qdrops, c.queued, c.handled, s.workstreams[w].wakeups);
    }
  }
  if (!s.decisions.empty()) {
    out += fmt::format("Adaptive: migrations={}", s.migrations);
    for (const auto& [reason, count] : s.decisions) out += fmt::format(" {}={}", reason, count);
    out += "\n";
  }
  if (!s.drops.empty()) {
    out += "Drops:";
    for (const auto& [reason, count] : s.drops) out += fmt::format(" {}={}", reason, count);
    out += "\n";
  }
  return out;
}

namespace internal {

Stats Dispatcher::GetStats() const {
  Stats s;
  const int nproto = num_protocols_.load(std::memory_order_acquire);
  s.protocols.resize(nproto);
  for (int x = 0; x < nproto; ++x) s.protocols[x] = protocols_[x]->spec.name;
  s.work.assign(nws_, std::vector<WorkStats>(nproto));
  uint64_t drops[static_cast<size_t>(DropReason::kCount)] = {};
  for (int w = 0; w < nws_; ++w) {
    const Workstream& ws = *workstreams_[w];
    const sched::LoadSample load = ws.load.Read();
    s.workstreams.push_back({w, ws.cpu, ws.signal.wakeups.load(std::memory_order_relaxed),
                             load.busy, load.queue_delay_ns, load.full_polls});
    for (int x = 0; x < nproto; ++x) {
      WorkStats& c = s.work[w][x];
      for (size_t p = 0; p < producers_.size(); ++p) {
        const Lane& lane = protocols_[x]->lane(static_cast<int>(p), w);
        c.dispatched += lane.dispatched.Get();
        c.hybrid_dispatched += lane.hybrid_dispatched.Get();
        c.queued += lane.enqueued.load(std::memory_order_relaxed);
        c.qdrops += lane.qdrops.Get();
        const uint64_t popped = lane.handled.load(std::memory_order_relaxed);
        const uint64_t shut = lane.shutdown_drops.Get();
        c.bursts += lane.drained_bursts.Get();
        c.handled += popped - std::min(popped, shut);
        drops[static_cast<size_t>(DropReason::kQueueFull)] += lane.qdrops.Get();
        drops[static_cast<size_t>(DropReason::kShutdown)] += shut;
      }
      c.handled += c.dispatched + c.hybrid_dispatched;
      c.qlen = static_cast<uint64_t>(ws.protos[x].Qlen());
      c.watermark = std::max(c.qlen, ws.protos[x].watermark.Get());
    }
  }
  for (const auto& prod : producers_) {
    for (size_t r = 0; r < prod->drops.size(); ++r) drops[r] += prod->drops[r].Get();
    for (size_t r = 0; r < prod->decisions.size(); ++r) {
      if (const uint64_t n = prod->decisions[r].Get(); n != 0)
        s.decisions[ToString(static_cast<AdaptiveReason>(r))] += n;
    }
    s.migrations += prod->migrations.Get();
  }
  for (size_t r = 0; r < orphan_drops_.size(); ++r)
    drops[r] += orphan_drops_[r].load(std::memory_order_relaxed);
  for (size_t r = 0; r < static_cast<size_t>(DropReason::kCount); ++r) {
    if (drops[r] != 0) s.drops[ToString(static_cast<DropReason>(r))] = drops[r];
  }
  if (auto ov = dispatch_override()) s.dispatch_override = std::string(ToString(*ov));
  return s;
}

uint64_t Dispatcher::QueuedElsewhere(int ws) const {
  if (ws < 0 || ws >= nws_) return 0;
  // Relaxed (Counter): a statistic; exact when read on the producer's own
  // thread.
  return producers_[ws]->queued_elsewhere.Get();
}

}  // namespace internal
}  // namespace netisr
