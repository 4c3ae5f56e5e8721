// Synthetic ingress: stands in for NIC RX queues so that a measured run
// (`netisr run`'s bench mode) can drive the real dispatcher with a known, checkable packet stream.
//
// Flows are partitioned across sources (flow f belongs to source
// f % sources), so every flow has exactly one producer and its per-flow
// sequence numbers are a total order the handler can check. Flowids are a
// bijective hash of the flow index, as an RSS hash would be; using the index
// itself would send flow f to workstream f % cpus, which is the source's own
// worker whenever sources == cpus, and nothing would ever cross CPUs.
//
// Each source allocates from its own pool, as each RX queue fills from its
// own mempool: allocation then never contends with other sources, and an
// empty pool is backpressure (Poll brings in nothing that round) rather
// than loss.
//
// Load shape: how many packets each source emits is its quota
// (SourceQuotas: in proportion to owned flows, or skewed onto source 0),
// and a source may be paced to a rate (OpenLoopPacer, pacer.h). A paced
// source is an open-loop arrival process: packet k "arrives" at start + k / rate whether or not
// its worker is polling then, and carries that arrival time as its ingress
// stamp, so time spent waiting for a poll counts as latency (no
// coordinated omission). An unpaced source is always backlogged and stamps
// the time it brought the burst in.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "harness/pacer.h"
#include "netisr/netisr.h"
#include "netisr/packet.h"

namespace netisr::harness {

// Bytes of payload each synthetic packet carries: the flow index, then a
// filler pattern.
inline constexpr uint32_t kPayloadBytes = 16;

struct SourceSpec {
  uint16_t id = 0;           // source index; also the ingress id netisr sees
  uint16_t num_sources = 1;  // sources sharing the flows
  uint32_t num_flows = 1;    // flows across all sources
  uint64_t packets = 0;      // packets this source emits before it is exhausted
  double rate_pps = 0;       // arrival rate, packets per second; 0 = unpaced
  uint64_t seed = 0;         // drives flow choice and flowids
  ProtocolId proto = 0;
  // Buffers of at least kPayloadBytes; must outlive every packet emitted.
  PacketPool* pool = nullptr;
};

// Packets each source emits; they sum to exactly `total`, and a source that
// owns no flow (source >= flows) gets none. Without `skew`, each source's
// share is in proportion to the flows it owns. With skew F in [0, 1),
// source 0 gets round(F * total) and the rest is spread evenly over the
// other sources that own flows (all of it to source 0 if none does).
std::vector<uint64_t> SourceQuotas(uint64_t total, uint32_t flows, uint16_t sources,
                                   std::optional<double> skew);

// The flowid (the "RSS hash") the generator stamps on flow `flow`.
uint32_t FlowIdOf(uint32_t flow, uint64_t seed);

// The flow index a synthetic packet's payload names.
uint32_t FlowOfPayload(const Packet& pkt);

class SyntheticSource final : public IngressSource {
 public:
  explicit SyntheticSource(const SourceSpec& spec);

  // Brings in at most `budget` packets: fewer if the pool runs short or
  // (paced) if only fewer have arrived by now; 0 when ahead of schedule.
  size_t Poll(Netisr& nisr, size_t budget) override;
  bool Exhausted() const override { return emitted_ == spec_.packets; }

  // Packets handed to netisr so far. Read it on the polling worker, or after
  // Netisr::Stop.
  uint64_t emitted() const { return emitted_; }

 private:
  // Stamps flow, sequence number, ingress time and payload on a fresh packet.
  void Fill(Packet& pkt, uint64_t ingress_ns);
  uint64_t NextRandom();

  const SourceSpec spec_;
  const uint32_t owned_flows_;  // flows id, id + sources, id + 2*sources, ...
  OpenLoopPacer pacer_;
  std::vector<uint64_t> next_seq_;  // by owned-flow index; sequences start at 1
  uint64_t rng_state_;
  uint64_t emitted_ = 0;
};

}  // namespace netisr::harness
