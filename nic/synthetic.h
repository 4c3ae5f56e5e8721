// SyntheticPort: a traffic generator behind the Port interface, standing in
// for a NIC so the dispatcher can be driven by real, checkable frames.
//
// What it guarantees:
//  * Real frames: Ethernet + IPv4/IPv6 + TCP/UDP, correct IPv4 header
//    checksum, TCP/UDP checksums over the pseudo-header, consistent lengths,
//    padded to 60 bytes. A flow's first TCP packet is a SYN with an MSS
//    option (data offset 6); the rest are ACK|PSH with the payload and a TCP
//    sequence number advancing by the payload length.
//  * Checkable order: packet k (from 1) of a flow has Packet::seq = k, and,
//    when the payload has room (>= 16 bytes), the payload starts with a
//    PayloadMark {flow, seq, kPayloadMagic} (little-endian). Flood packets
//    have seq 0 and flow kAttackFlow.
//  * NIC-like steering: the Toeplitz hash (default key, all TCP/UDP ports)
//    of each frame's tuple is its flowid, with the HashType a NIC reports
//    (kTcpIpv4, kUdpIpv6, ...), and the RETA picks its RX queue; HashFrame
//    on the frame gives the same value (tests/nic check it).
//  * Determinism: the same config (seed included) gives every RX queue the
//    same frames in the same order, whatever the timing or which thread
//    polls. (Flow tuples and weights derive from (seed, flow index); each
//    queue draws from its own RNG seeded from (seed, queue).)
//  * One thread per queue: everything RxBurst(q) writes is queue q's own
//    (RNG, per-flow counters, pacing, stats, on separate cache lines). The
//    flow table is read-only after Create. The PacketPool is shared by all
//    queues and is itself lock-free MPMC (one CAS per packet).
//  * Backpressure, not loss: when the pool is empty RxBurst returns fewer
//    packets (maybe 0) and the next call carries on; nothing is skipped or
//    counted as dropped.
//
// How flows land on queues: since RSS puts a flow on one queue, each queue
// generates only its own flows (those whose hash the RETA maps to it), with
// the flow distribution conditioned on the queue; its share of the port's
// packets (and of the rate) is its flows' weight, plus the RETA's share of
// flood packets. Flood packets come from random sources; a queue draws
// random tuples until one hashes to itself (about num_rx_queues draws,
// ~20 ns each), so floods spread over queues exactly as a NIC's RSS would
// spread them. Totals are split over queues by cumulative rounding, so they
// sum exactly to `packets`.
//
// Pacing (rate_pps > 0) is open-loop, as in harness/synthetic_source.h: packet
// k of a queue "arrives" at start + k / rate_q (start = that queue's first
// RxBurst) and carries that time as ingress_ns, so a late poll shows up as
// latency; RxBurst returns only packets that have arrived. Unpaced queues
// stamp the time of the burst.
//
// Cost, one thread, 2-vCPU AMD EPYC KVM guest at 2.6 GHz (a shared, noisy
// box), benchmarks/nic/nic_bench.cc with -c opt: 64-byte frames 12.3 Mpps
// IPv4 and 13.7 Mpps IPv6 (~80 ns a packet: pool alloc and free, RNG, alias
// draw, the flow's table entry (a cache miss for large tables), header
// build, two checksums), 9.4 Mpps for a Zipf mix with a 10% SYN flood,
// 3.7 Mpps for 1500-byte frames (checksum and copy of the payload). A
// binary search over cumulative weights instead of the alias table ran at
// 6.3 Mpps. Memory: ~90 B per flow.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "netisr/packet.h"
#include "nic/port.h"
#include "nic/rss.h"

namespace netisr::nic {

namespace internal {
struct SynthFlow;
struct SynthQueue;
struct TxQueueCounters;
}  // namespace internal

enum class FlowDistribution : uint8_t {
  kUniform,    // every flow equally likely
  kZipf,       // flow of rank r (1-based) has weight 1 / r^zipf_s
  kElephants,  // `elephant_flows` of the flows carry `elephant_share` of packets
};

// Leads the payload of every generated packet with room for it.
struct PayloadMark {
  uint32_t flow;   // flow index, or kAttackFlow
  uint64_t seq;    // Packet::seq
  uint32_t magic;  // kPayloadMagic
} __attribute__((packed));
static_assert(sizeof(PayloadMark) == 16);
inline constexpr uint32_t kPayloadMagic = 0x7273696e;  // "nisr"
inline constexpr uint32_t kAttackFlow = 0xffffffffu;

struct SyntheticConfig {
  uint16_t port_id = 0;        // [0, 1023]
  uint16_t num_rx_queues = 1;  // [1, 64]
  uint16_t num_tx_queues = 1;  // [0, 64]; TX is a sink that counts and releases
  uint32_t reta_size = 128;    // see Reta::Create

  uint32_t num_flows = 1024;  // [1, 1 << 24]
  FlowDistribution distribution = FlowDistribution::kUniform;
  double zipf_s = 1.0;          // (0, 10]
  double elephant_flows = 0.1;  // (0, 1): fraction of flows (at least one)
  double elephant_share = 0.9;  // (0, 1): fraction of non-flood packets

  // Floods, each a fraction of all packets; together < 1. SYN flood: TCP
  // SYNs (with MSS) from random sources and ports to one victim, port 80.
  // UDP flood: random sources to the victim, port 53.
  double syn_flood_share = 0;
  double udp_flood_share = 0;

  double ipv6_share = 0;  // [0, 1]: fraction of flows (and flood packets) on IPv6
  double tcp_share = 1;   // [0, 1]: fraction of flows on TCP, the rest UDP

  // Frame bytes without FCS, uniform in [frame_min, frame_max]; a frame is
  // never shorter than its headers (54..78 B) nor than 60 B. frame_max must
  // fit the pool's buffers (as must 78 B).
  uint32_t frame_min = 64;
  uint32_t frame_max = 64;

  double rate_pps = 0;   // whole port, split over queues by share; 0 = unpaced
  uint64_t packets = 0;  // whole port; 0 = never ends
  uint64_t seed = 1;

  PacketPool* pool = nullptr;  // required; must outlive the port and its packets
};

class SyntheticPort final : public Port {
 public:
  // Errors name the field and its bound.
  static Result<std::unique_ptr<SyntheticPort>> Create(const SyntheticConfig& config);
  ~SyntheticPort() override;

  std::string_view name() const override { return name_; }
  uint16_t port_id() const override { return config_.port_id; }
  uint16_t num_rx_queues() const override { return config_.num_rx_queues; }
  uint16_t num_tx_queues() const override { return config_.num_tx_queues; }
  // Flowids are the Toeplitz hash (default key) of the full tuple.
  RxFlowHash rx_flow_hash() const override { return {&Toeplitz::Default(), {}}; }
  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override;
  // Accepts every packet (a sink: counts and releases).
  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override;
  bool RxExhausted(uint16_t queue) const override;
  PortStats Stats() const override;

  const Reta& reta() const { return reta_; }
  // Packets queue `queue` will emit in all (UINT64_MAX when endless).
  uint64_t quota(uint16_t queue) const;
  // Flows RSS maps to `queue`.
  uint32_t flows_on(uint16_t queue) const;
  // Weight of flow `flow` in [0, 1] (weights sum to 1): its expected share
  // of the non-flood packets.
  double flow_weight(uint32_t flow) const;

 private:
  SyntheticPort(const SyntheticConfig& config, Reta reta);
  void Setup();
  void Fill(internal::SynthQueue& q, Packet& pkt, uint64_t ingress_ns);

  const SyntheticConfig config_;
  const Reta reta_;
  const std::string name_;
  std::vector<internal::SynthFlow> flows_;                 // read-only after Create
  std::vector<double> weights_;                            // by flow, sum 1
  std::vector<std::unique_ptr<internal::SynthQueue>> rx_;  // one per RX queue
  std::vector<std::unique_ptr<internal::TxQueueCounters>> tx_;
};

// Generates `packets` frames from a generator with `config` (its pool, rate
// and packet count are ignored) and writes them to a pcap file at `path`:
// queue 0's first burst, queue 1's, ... round-robin, so every flow's frames
// stay in order. A trace for replay (PcapPort, or a DPDK pcap vdev).
Status WriteSyntheticTrace(const SyntheticConfig& config, uint64_t packets,
                           const std::string& path);

}  // namespace netisr::nic
