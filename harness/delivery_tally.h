// DeliveryTally: what the final handler of a measured run counts, shared by
// `netisr run`'s bench-mode protocol and its parse-chain sink (DeliverFn):
// per-packet latency from the ingress stamp, the --handler-ns busy cost,
// delivered packets by kind (the parse chain's terminal layer; the bench
// protocol uses kind 0) and reordered packets.
//
// Every per-packet write has a single writer: each netisr workstream owns a
// cache-line-aligned block (its counters and latency histogram,
// base::PerWorkstream) and is the only thread writing it, also when it
// dispatches directly, so a relaxed load + store suffices and the checker
// does not become the contended line the run measures. A thread acting as no
// workstream (CurrentWorkstream() == -1; would be a netisr bug for these
// runs) shares the stray (shared) block updated with fetch_add, so it is
// still counted. Sums are exact once netisr has
// stopped (Stop joins every handler thread).
//
// The cost is wall-clock time spun on the TSC clock (a read is ~10 ns, so
// the cost is exact to about that), rather than a loop calibrated once: on
// a shared or SMT machine a fixed iteration count takes anywhere from 0.5x
// to 2x its calibrated time depending on the sibling thread, which showed up
// as 300 ns handlers running at 250 ns per packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/counter.h"
#include "base/per_workstream.h"
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
  // The same over the packets handled on workstream `ws` alone (for a `ws`
  // that is no workstream, over the stray block's).
  LatencySummary Latency(int ws) const;

 private:
  struct Tally {
    std::array<base::Counter, kMaxKinds> delivered;
    base::Counter reordered;
  };

  // Ingress stamps come from the source's thread: a stamp taken there may
  // read up to ~100 ns later than this one (unordered RDTSC; see
  // sched_feedback/clock.h), so the difference saturates at 0.
  void RecordLatency(int ws, const Packet& pkt, uint64_t now) {
    const uint64_t ns = now > pkt.ingress_ns ? now - pkt.ingress_ns : 0;
    if (latency_.IsWorker(ws)) {
      latency_.For(ws).Record(ns);
    } else {
      latency_.Shared().RecordShared(ns);
    }
  }

  const uint64_t handler_ns_;
  const sched::FastClock& clock_;
  base::PerWorkstream<Tally> tallies_;
  base::PerWorkstream<LatencyHistogram> latency_;  // same single-writer rule
};

}  // namespace netisr::harness
