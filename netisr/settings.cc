// Settings validation and the memory bound of Settings::max_memory_bytes.
#include "netisr/settings.h"

#include <algorithm>
#include <string>

#include "netisr/internal/dispatcher.h"
#include "netisr/internal/structures.h"

namespace netisr {

namespace internal {

std::string RangeError(const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
  return std::string(what) + " " + std::to_string(v) + " out of range [" + std::to_string(lo) +
         ", " + std::to_string(hi) + "]";
}

}  // namespace internal

namespace {

using internal::Lane;
using internal::ProtocolEntry;
using internal::RangeError;

Status ValidateAdaptive(const AdaptiveSettings& a) {
  auto bad = [](std::string m) {
    return Status(ErrorCode::kInvalidArgument, "adaptive." + std::move(m));
  };
  auto frac = [](double v) { return v > 0 && v <= 1; };
  if (!frac(a.busy_low) || !frac(a.busy_high) || a.busy_low > a.busy_high)
    return bad("busy_low/busy_high must satisfy 0 < low <= high <= 1 (got " +
               std::to_string(a.busy_low) + ", " + std::to_string(a.busy_high) + ")");
  if (a.delay_low_ns == 0 || a.delay_low_ns > a.delay_high_ns || a.delay_high_ns > 1'000'000'000)
    return bad("delay_low_ns/delay_high_ns must satisfy 0 < low <= high <= 1e9 (got " +
               std::to_string(a.delay_low_ns) + ", " + std::to_string(a.delay_high_ns) + ")");
  if (!frac(a.room_busy)) return bad("room_busy must be in (0, 1]");
  if (a.migration_interval_ns > 1'000'000'000)
    return bad(RangeError("migration_interval_ns", a.migration_interval_ns, 0, 1'000'000'000));
  if (a.load_window_ns < 10'000 || a.load_window_ns > 100'000'000)
    return bad(RangeError("load_window_ns", a.load_window_ns, 10'000, 100'000'000));
  if (!frac(a.load_alpha)) return bad("load_alpha must be in (0, 1]");
  if (!(a.migration_step >= 0 && a.migration_step <= 64))
    return bad("migration_step " + std::to_string(a.migration_step) + " out of range [0, 64]");
  if (a.settle_windows > 1000) return bad(RangeError("settle_windows", a.settle_windows, 0, 1000));
  if (!frac(a.backpressure_fill)) return bad("backpressure_fill must be in (0, 1]");
  if (!frac(a.spill_fill)) return bad("spill_fill must be in (0, 1]");
  if (!frac(a.full_polls_high)) return bad("full_polls_high must be in (0, 1]");
  return Status::Ok();
}

}  // namespace

Status Validate(const Settings& s) {
  auto bad = [](std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); };
  if (s.max_threads < 0 || s.max_threads > kMaxWorkstreams)
    return bad(RangeError("max_threads", s.max_threads, 0, kMaxWorkstreams));
  if (!s.worker_cpus.empty() && !s.bind_threads)
    return bad("worker_cpus given with bind_threads false: nothing would be pinned");
  for (int cpu : s.worker_cpus) {
    if (cpu < 0) return bad("worker_cpus: CPU " + std::to_string(cpu) + " is negative");
  }
  if (s.max_qlimit < 1 || s.max_qlimit > (1u << 20))
    return bad(RangeError("max_qlimit", s.max_qlimit, 1, 1u << 20));
  if (s.default_qlimit < 1 || s.default_qlimit > s.max_qlimit)
    return bad(RangeError("default_qlimit", s.default_qlimit, 1, s.max_qlimit));
  if (s.max_external_producers < 0 || s.max_external_producers > kMaxExternalProducers)
    return bad(
        RangeError("max_external_producers", s.max_external_producers, 0, kMaxExternalProducers));
  if (s.burst < 1 || s.burst > 256) return bad(RangeError("burst", s.burst, 1, 256));
  if (s.idle_sleep_us < 1 || s.idle_sleep_us > 1000000)
    return bad(RangeError("idle_sleep_us", s.idle_sleep_us, 1, 1000000));
  if (s.idle_spin > 1000000) return bad(RangeError("idle_spin", s.idle_spin, 0, 1000000));
  if (s.flow_buckets < 1 || s.flow_buckets > 65536 || (s.flow_buckets & (s.flow_buckets - 1)))
    return bad("flow_buckets " + std::to_string(s.flow_buckets) +
               " must be a power of two in [1, 65536]");
  if (s.max_memory_bytes < (uint64_t{1} << 20) || s.max_memory_bytes > (uint64_t{1} << 40))
    return bad(
        RangeError("max_memory_bytes", s.max_memory_bytes, uint64_t{1} << 20, uint64_t{1} << 40));
  return ValidateAdaptive(s.adaptive);
}

uint64_t ProtocolMemoryBytes(const Settings& s, int workstreams, uint32_t qlimit) {
  const uint64_t nws = static_cast<uint64_t>(std::max(workstreams, 0));
  const uint64_t nprod = nws + static_cast<uint64_t>(std::max(s.max_external_producers, 0));
  // The lane ring keeps one slot free: qlimit + 1 pointers (lane_ring.h).
  const uint64_t lane = sizeof(Lane) + (uint64_t{qlimit} + 1) * sizeof(Packet*);
  const uint64_t per_producer =
      nws * lane + uint64_t{s.flow_buckets} * sizeof(internal::Bucket) + sizeof(internal::Feedback);
  return sizeof(ProtocolEntry) + nprod * per_producer +
         uint64_t{s.flow_buckets} * sizeof(std::atomic<int16_t>);
}

}  // namespace netisr
