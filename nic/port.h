// Port: what the dispatcher's ingress sees of a network interface, whatever
// is behind it (DPDK ethdev, the synthetic generator, a pcap trace).
//
// The shape is DPDK's rte_eth_rx_burst / rte_eth_tx_burst: several RX and
// TX queues per port, each driven by one thread at a time, moving bursts of
// descriptors. A backend hands out netisr::Packet descriptors whose Release
// returns the buffer to that backend (a PacketPool here; a DPDK backend puts
// the Packet in the mbuf's private area, points `data` into the mbuf,
// `backing` at it and `release` at rte_pktmbuf_free, so no byte is copied).
//
// Guarantees every backend gives (and tests/nic check for the ones here):
//  * Ownership: a packet RxBurst returns belongs to the caller until it
//    calls Release (directly, or through netisr); a packet TxBurst accepted
//    belongs to the port. Nothing is ever released twice or leaked,
//    including on partial sends (see TxBurst).
//  * Queues are independent: RxBurst(q) and RxBurst(r), q != r, may run on
//    different threads at once, and likewise TxBurst. One queue is driven
//    by one thread at a time (as in DPDK; no per-queue lock).
//  * Flow order: all packets of one flow arrive on one RX queue, in order.
//  * Stats() may be called from any thread at any time; counters are exact
//    once the queues are quiescent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "netisr/packet.h"
#include "nic/link_type.h"
#include "nic/rss.h"

namespace netisr::nic {

// Queues per port the ingress-source numbering reserves (DPDK's
// RTE_MAX_QUEUES_PER_PORT is 1024, but no NIC here exposes more than 64
// RSS queues). Ports number 0..1023.
inline constexpr uint16_t kMaxQueuesPerPort = 64;

// The netisr ingress source id of (port, RX queue): port * 64 + queue.
// Stable whatever queue counts the ports have, so that a source id names
// the same queue across runs (netisr's source policy maps it to a CPU).
constexpr uint16_t SourceId(uint16_t port_id, uint16_t queue) {
  return static_cast<uint16_t>(port_id * kMaxQueuesPerPort + queue);
}

// Why a port dropped a received frame before handing it out.
enum class RxDrop : uint8_t {
  kNoBuffer,   // no free packet buffer (a real NIC's rx_nombuf / imissed)
  kTooLong,    // frame larger than the packet buffers
  kTruncated,  // captured shorter than it was on the wire (pcap snaplen)
  kNotIp,      // a cooked/loopback capture's record carrying no IPv4/IPv6 packet
               // (ARP, another protocol, a record shorter than its link header)
  kCount,
};
const char* ToString(RxDrop r);

struct PortStats {
  uint64_t rx_packets = 0;  // handed out by RxBurst
  uint64_t rx_bytes = 0;
  std::array<uint64_t, static_cast<size_t>(RxDrop::kCount)> rx_drops{};
  uint64_t tx_packets = 0;  // accepted by TxBurst
  uint64_t tx_bytes = 0;
  uint64_t tx_full = 0;  // offered to TxBurst and refused (left with the caller)

  uint64_t rx_dropped() const;
};

// How a port's RxBurst sets Packet::flowid: not at all (toeplitz null: the
// stack's m2flow computes one), or the Toeplitz hash, with *toeplitz's key,
// of the fields `fields` names (TcpFlowHash for a TCP segment).
struct RxFlowHash {
  const Toeplitz* toeplitz = nullptr;
  RssFields fields;
};

class Port {
 public:
  virtual ~Port() = default;

  // Human-readable identity, e.g. "synthetic0" or "pcap:trace.pcap".
  virtual std::string_view name() const = 0;
  // Port number in [0, 1023]; with the queue it makes the netisr source id.
  virtual uint16_t port_id() const = 0;
  virtual uint16_t num_rx_queues() const = 0;  // >= 1, <= kMaxQueuesPerPort
  virtual uint16_t num_tx_queues() const = 0;  // >= 0, <= kMaxQueuesPerPort

  // What every frame of this port starts with (link_type.h).
  virtual LinkType link_type() const { return LinkType::kEthernet; }

  // Receives up to out.size() frames from RX queue `queue` (< num_rx_queues)
  // into out[0..n) and returns n (0 when nothing is pending now). Each
  // packet has `data`/`len` set to one whole frame of link_type() (an
  // Ethernet frame without FCS, or an IP packet),
  // `source` = SourceId(port_id(), queue), `ingress_ns` = arrival time on
  // sched::FastClock's timeline, and, when the backend computes RSS, the
  // Toeplitz hash as flowid with its HashType (kNone when it does not or the
  // frame is not IP). Other metadata is backend-defined and documented there
  // (e.g. `seq`). Never blocks. Frames the port could not deliver are
  // counted in Stats().rx_drops, by reason, and in RxDropped(queue). One
  // call takes at most out.size() frames off the queue, delivered and
  // dropped together: its work is bounded however many frames are bad, and
  // a caller that budgets frames (apps' CappedPort) can count the drops.
  virtual size_t RxBurst(uint16_t queue, std::span<Packet*> out) = 0;

  // Frames RxBurst took off RX queue `queue` and dropped, so far (this
  // queue's part of Stats().rx_drops that RxBurst counted; drops a device
  // counts on its own, such as DPDK's imissed, are not in it). Exact when
  // read by the queue's polling thread, between its RxBurst calls; any
  // thread may read it. A port that never drops in RxBurst keeps the 0.
  virtual uint64_t RxDropped(uint16_t /*queue*/) const { return 0; }

  // How RxBurst computes flowids, so that a stack that opens connections
  // can predict the flowid of the packets coming back: to pick a local port
  // whose flow lands on its own workstream, and to file the connection
  // where the lookups of those packets look. Default: it sets none.
  virtual RxFlowHash rx_flow_hash() const { return {}; }

  // Sends pkts[0..n) on TX queue `queue` (< num_tx_queues) and returns n.
  // The port owns (and eventually releases) exactly those n packets; the
  // caller still owns pkts[n..), which it must retry or Release: that is
  // how a partial send never leaks nor double-frees. n < pkts.size() only
  // when the queue is full (counted in tx_full). Never blocks.
  virtual size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) = 0;

  // True once RX queue `queue` will never deliver again (a finite trace or
  // generator ran out). A live NIC never is.
  virtual bool RxExhausted(uint16_t queue) const = 0;

  // Counters summed over the queues. Any thread.
  virtual PortStats Stats() const = 0;
};

}  // namespace netisr::nic
