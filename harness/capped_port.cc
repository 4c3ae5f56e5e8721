#include "harness/capped_port.h"

#include <algorithm>

namespace netisr::harness {

CappedPort::CappedPort(std::unique_ptr<nic::Port> inner, RxBudget& budget, uint64_t idle_ns)
    : inner_(std::move(inner)),
      budget_(budget),
      idle_ns_(idle_ns),
      clock_(sched::FastClock::Global()),
      clocks_(inner_->num_rx_queues()) {}

size_t CappedPort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  uint64_t left = budget_.remaining.load(std::memory_order_relaxed);
  size_t want;
  do {
    if (left == 0) return 0;
    want = static_cast<size_t>(std::min<uint64_t>(left, out.size()));
  } while (!budget_.remaining.compare_exchange_weak(left, left - want, std::memory_order_relaxed));
  const uint64_t dropped_before = inner_->RxDropped(queue);
  const size_t n = inner_->RxBurst(queue, out.first(want));
  // Frames the port dropped in this call used the budget too. The min is
  // for a port that breaks RxBurst's bound; the cap stays exact.
  const size_t took =
      std::min<size_t>(want, n + static_cast<size_t>(inner_->RxDropped(queue) - dropped_before));
  if (took < want) budget_.remaining.fetch_add(want - took, std::memory_order_relaxed);
  if (idle_ns_ > 0) {
    std::atomic<uint64_t>& last = clocks_[queue].last_rx_ns;
    if (took > 0 || last.load(std::memory_order_relaxed) == 0)
      last.store(clock_.NowNs(), std::memory_order_relaxed);
  }
  if (took > 0) budget_.handed.fetch_add(took, std::memory_order_relaxed);
  return n;
}

bool CappedPort::RxExhausted(uint16_t queue) const {
  if (budget_.handed.load(std::memory_order_relaxed) >= budget_.cap || inner_->RxExhausted(queue))
    return true;
  if (idle_ns_ == 0) return false;
  const uint64_t last = clocks_[queue].last_rx_ns.load(std::memory_order_relaxed);
  // Another thread's stamp may read a little ahead of this clock (RDTSC is
  // not ordered across CPUs), hence now > last first.
  const uint64_t now = clock_.NowNs();
  return last != 0 && now > last && now - last > idle_ns_;
}

}  // namespace netisr::harness
