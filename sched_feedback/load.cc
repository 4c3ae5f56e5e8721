#include "sched_feedback/load.h"

#include <algorithm>
#include <cmath>

namespace netisr::sched {

void LoadMeter::AddService(int cls, uint64_t ns, uint32_t packets) {
  if (packets == 0 || cls < 0 || cls >= kMaxLoadClasses) return;
  const double per_packet = static_cast<double>(ns) / packets;
  double& s = service_[cls];
  s = s == 0 ? per_packet : Blend(s, per_packet, cfg_.alpha);
  out_->service_ns[cls].store(static_cast<uint32_t>(std::min(s, 4e9)), std::memory_order_relaxed);
}

void LoadMeter::AddQueueDelay(uint64_t ns) {
  delay_sum_ += ns;
  ++delay_count_;
}

double LoadMeter::WindowWeight(uint64_t elapsed_ns) const {
  if (elapsed_ns <= cfg_.window_ns) return cfg_.alpha;
  const double k = static_cast<double>(elapsed_ns) / static_cast<double>(cfg_.window_ns);
  return 1.0 - std::pow(1.0 - cfg_.alpha, k);
}

void LoadMeter::Tick(uint64_t now_ns, uint32_t queue_depth) {
  if (window_start_ == 0) window_start_ = now_ns;
  const uint64_t elapsed = now_ns - window_start_;
  if (elapsed < cfg_.window_ns) return;
  const double weight = WindowWeight(elapsed);
  const double busy = std::min(1.0, static_cast<double>(busy_ns_) / elapsed);
  busy_ = Blend(busy_, busy, weight);
  // A window with no dequeues had nothing waiting: its delay sample is 0.
  const double delay = delay_count_ ? static_cast<double>(delay_sum_) / delay_count_ : 0.0;
  delay_ = Blend(delay_, delay, weight);
  out_->busy_ppm.store(static_cast<uint32_t>(busy_ * 1e6), std::memory_order_relaxed);
  out_->queue_delay_ns.store(static_cast<uint32_t>(std::min(delay_, 4e9)),
                             std::memory_order_relaxed);
  if (polls_ > 0) {
    // Only windows that polled say anything about keeping up; a sleeping
    // threads-model worker keeps its last share.
    full_share_ = Blend(full_share_, static_cast<double>(full_polls_) / polls_, weight);
    // Rounded: the blend only approaches 1 (0.9999999999999998 after one
    // short poll), and truncated it would never again reach a bound of 1.
    out_->full_poll_ppm.store(static_cast<uint32_t>(std::lround(full_share_ * 1e6)),
                              std::memory_order_relaxed);
  }
  out_->queue_depth.store(queue_depth, std::memory_order_relaxed);
  out_->windows.Add(1);
  out_->published_ns.store(now_ns, std::memory_order_relaxed);
  window_start_ = now_ns;
  busy_ns_ = 0;
  delay_sum_ = 0;
  delay_count_ = 0;
  polls_ = 0;
  full_polls_ = 0;
}

}  // namespace netisr::sched
