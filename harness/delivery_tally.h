// DeliveryTally: what the final handler of a measured run counts, shared by
// `netisr run`'s bench-mode protocol and its parse-chain sink (DeliverFn):
// per-packet latency from the ingress stamp, the --handler-ns busy cost,
// delivered packets by kind (the parse chain's terminal layer; the bench
// protocol uses kind 0) and reordered packets.
//
// Every per-packet write has a single writer: each netisr workstream owns a
// cache-line-aligned block (its counters and latency histogram) and is the
// only thread writing it, also when it dispatches directly, so a relaxed
// load + store suffices and the checker does not become the contended line
// the run measures. A thread acting as no workstream (CurrentWorkstream() ==
// -1; would be a netisr bug for these runs) shares one stray block updated
// with fetch_add, so it is still counted. Sums are exact once netisr has
// stopped (Stop joins every handler thread).
//
// The cost is wall-clock time spun on the TSC clock (a read is ~10 ns, so
// the cost is exact to about that), rather than a loop calibrated once: on
// a shared or SMT machine a fixed iteration count takes anywhere from 0.5x
// to 2x its calibrated time depending on the sibling thread, which showed up
// as 300 ns handlers running at 250 ns per packet.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "harness/latency_histogram.h"
#include "netisr/packet.h"
#include "sched_feedback/clock.h"

namespace netisr::harness {

// Latency from a packet's ingress stamp to the start of its handler, over
// every delivered packet (see LatencyHistogram for the precision).
struct LatencySummary {
  uint64_t samples = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

class DeliveryTally {
 public:
  // Kinds delivered packets are counted under: the parse chain's layers
  // (proto::kNumLayers = 8) fit.
  static constexpr size_t kMaxKinds = 8;

  DeliveryTally(int workstreams, uint64_t handler_ns);

  // A packet reached the final handler on workstream `ws`: records its
  // latency and spins handler_ns. Call once per packet, before Release.
  void Serve(int ws, const Packet& pkt) {
    const uint64_t start = clock_.NowNs();
    RecordLatency(ws, pkt, start);
    if (handler_ns_ > 0) {
      while (clock_.NowNs() - start < handler_ns_) {
      }
    }
  }
  // Adds a burst's counts on `ws`'s block (kind < kMaxKinds).
  void Count(int ws, size_t kind, uint64_t delivered, uint64_t reordered);

  uint64_t delivered() const;
  uint64_t delivered(size_t kind) const;
  uint64_t reordered() const;
  LatencySummary Latency() const;
  // The same over the packets handled on workstream `ws` alone.
  LatencySummary Latency(int ws) const;

 private:
  struct alignas(64) Tally {
    std::array<std::atomic<uint64_t>, kMaxKinds> delivered{};
    std::atomic<uint64_t> reordered{0};
  };

  // Ingress stamps come from the source's thread: a stamp taken there may
  // read up to ~100 ns later than this one (unordered RDTSC; see
  // sched_feedback/clock.h), so the difference saturates at 0.
  void RecordLatency(int ws, const Packet& pkt, uint64_t now) {
    const uint64_t ns = now > pkt.ingress_ns ? now - pkt.ingress_ns : 0;
    if (ws < 0) {
      stray_latency_.RecordShared(ns);
    } else {
      latency_[ws].Record(ns);
    }
  }

  const uint64_t handler_ns_;
  const sched::FastClock& clock_;
  std::vector<Tally> tallies_;  // by workstream
  Tally stray_;
  std::vector<LatencyHistogram> latency_;  // by workstream, same single-writer rule
  LatencyHistogram stray_latency_;
};

}  // namespace netisr::harness
