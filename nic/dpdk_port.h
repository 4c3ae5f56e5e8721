// DpdkPort: a Port over a DPDK ethdev (a NIC bound to a PMD, or a virtual
// device: net_ring, net_pcap, net_null, ...). Debian's DPDK 22.11.
//
// EAL. DPDK's Environment Abstraction Layer can be initialised once per
// process (rte_eal_init refuses a second call, even after a failure), so
// DpdkEal::Init is a process-wide singleton: the first call splits its
// argument string on spaces (the CLI's `--source dpdk:EAL-ARGS`, e.g.
// `dpdk:--no-huge --no-pci --no-shconf -m 512 --vdev=net_pcap0,rx_pcap=t.pcap`)
// and runs rte_eal_init; later calls with the same string return the first
// call's outcome, with a different string FailedPrecondition. A failed init
// stays failed (DPDK cannot retry). Errors carry rte_strerror(rte_errno).
// rte_eal_cleanup is not called (DPDK forbids using EAL after it, and an
// exit releases everything); --no-shconf avoids leftover runtime files.
// Without hugepages: `--no-huge -m 512` (--in-memory is refused with
// --no-huge); add --no-shconf so several DPDK processes can run at once.
//
// Drivers: Debian builds the PMDs as shared plugins, and EAL loads every
// one found in its default plugin directory
// (/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0, RTE_EAL_PMD_PATH) at init; a
// binary linked against the DPDK shared libraries needs nothing more
// (checked: net_ring, net_null, net_pcap probe with no -d option). Another
// plugin directory or file can be named with the EAL option `-d PATH`.
//
// Memory. One mempool per port, created by Create:
//   mbufs = rx_queues * rx_desc            (filled RX rings)
//         + tx_queues * tx_desc            (TX rings not yet completed)
//         + lcores * 1.5 * cache           (per-lcore caches, which may hold
//                                           up to 1.5x their size)
//         + rx_queues * kMaxBurst          (a burst in the caller's hands)
//         + in_flight                      (packets the application keeps:
//                                           netisr queues, reorder, TX retry)
// rounded up to 2^k - 1 (the mempool ring's best size). Each mbuf's private
// area (priv_size = sizeof(Packet) rounded up to RTE_MBUF_PRIV_ALIGN) holds
// the netisr::Packet that describes it: RX never copies a byte nor touches
// another allocator.
//
// RX (zero-copy): rte_eth_rx_burst, then for each mbuf the Packet in its
// private area gets data = rte_pktmbuf_mtod, len = data_len, backing = the
// mbuf, release = rte_pktmbuf_free of it (release_bulk: rte_pktmbuf_free_bulk,
// for ReleaseBulk); source = SourceId(port, queue);
// ingress_ns = time of the burst (sched::FastClock); seq = the packet's
// 1-based arrival number on its queue. Flowid: the device's RSS hash when
// the mbuf carries one (RTE_MBUF_F_RX_RSS_HASH), typed from packet_type
// (kTcpIpv4, ... ; kOpaque when the PMD gives no type), else the software
// Toeplitz hash of nic/rss.h (default key, config.rss); rss_mode() says
// which the port was configured for. Multi-segment mbufs (a frame larger
// than one mbuf's data room, e.g. a jumbo frame replayed by net_pcap) are
// dropped, not linearised: counted as RxDrop::kTooLong in Stats() and as
// rx_multi_segment in ExtendedStats(). Checksums: when the device offers
// RX checksum offloads (IPv4, TCP, UDP) they are enabled, and the mbuf's
// "good" and "none" verdicts (none: field unfilled, data verified) on non-tunnel
// packets become Packet::rx_csum_good (RxCsumGood), which the parse
// chain trusts instead of summing the bytes again; net_pcap offers none.
//
// Hardware RSS: configured when the device reports RSS offloads
// (rte_eth_dev_info.flow_type_rss_offloads != 0): RTE_ETH_MQ_RX_RSS with the
// default key of nic/rss.h (so hardware and software hashes agree) when the
// device takes a 40-byte key, hash types IPv4/IPv6 and their TCP/UDP
// variants as far as supported, and the RSS_HASH offload. Virtual devices
// mostly report none: then each RX queue is whatever the device puts on it
// (net_ring: its own ring; net_pcap: one rx_pcap file per queue) and the
// flowid is computed in software.
//
// TX: TxBurst sends packets whose `release` is DpdkPort's (any DpdkPort's
// mbuf: the mbuf's data_off/data_len/pkt_len are first set from the
// Packet's data/len, so a protocol may trim or move the frame within the
// mbuf). Packets with another owner (a PacketPool, a test's array) are
// copied into a fresh mbuf from this port's pool (counted in tx_copied);
// the original is released once the copy is accepted, or stays with the
// caller if not. rte_eth_tx_burst may take fewer than offered: per Port,
// the caller keeps pkts[n..) (their copies, if any, are freed here) and
// the refused count goes to tx_full; an mbuf allocation failure for a copy
// ends the burst the same way. A non-mbuf packet longer than an mbuf's data
// room (data_room - RTE_PKTMBUF_HEADROOM) can never be sent: it is accepted
// and released (dropped, counted in tx_oversize, not in tx_packets) rather
// than refused, which a retrying caller would retry forever. tx_packets /
// tx_bytes count what the driver took.
//
// Lifetime: the destructor drains the RX queues, stops and closes the
// ethdev (releasing its queues' mbufs) and frees the mempool. Every packet
// the port handed out must have been released by then. A closed port
// cannot be created again in the same process (DPDK releases the port).
//
// Speed: RxBurst + Release of 64-byte frames from net_pcap0 looping a
// 4096-frame synthetic trace (infinite_rx=1), one thread, -c opt:
// 10-23 Mpps (benchmarks/nic/dpdk_bench), against 12-38 Mpps of RX for
// dpdk-testpmd io-forwarding two such ports on one core
// (benchmarks/nic/testpmd_reference.sh): ratio 0.3-1.1, about 0.5 in the
// quieter runs (16.7 vs 38.4). 2-vCPU KVM guest with a load average of ~3
// from other builds, so the spread is the machine's. perf: ~35% in the pcap
// PMD (its memcpy into the mbuf), ~18% software Toeplitz (HashFrame),
// ~12% Packet setup, ~10% rte_pktmbuf_free; testpmd neither hashes nor
// writes a descriptor, and frees in bulk.
//
// Threads: as Port says, one thread per queue. The polling threads need
// not be EAL lcores: the first RxBurst/TxBurst on a thread that is not one
// registers it (rte_thread_register, undone when the thread exits), so that
// its mbuf allocations and frees go through a per-lcore mempool cache rather
// than a CAS each on the mempool's ring (pipeline_bench's netisr worker:
// 3.8 -> 5.6 Mpps per CPU second). With no lcore id free (RTE_MAX_LCORE
// threads registered) a thread stays unregistered and works uncached.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "netisr/packet.h"
#include "nic/port.h"
#include "nic/rss.h"

struct rte_mempool;
struct rte_mbuf;

namespace netisr::nic {

namespace internal {
struct DpdkRxQueue;
struct DpdkTxQueue;
}  // namespace internal

class DpdkEal {
 public:
  // Initialises EAL from `args` (split on spaces; argv[0] is supplied) the
  // first time; see the file comment for later calls.
  static Status Init(std::string_view args);
  static bool initialized();
  // The argument string of the first Init ("" if none yet).
  static std::string args();
  // Ethdev ports EAL found (rte_eth_dev_count_avail); 0 before Init.
  static uint16_t num_ports();
  // Port id of the device named `name` (e.g. "net_ring0"), NotFound
  // listing the available names otherwise.
  static Result<uint16_t> FindPort(std::string_view name);
  // Ids of every ethdev port EAL found, in id order (empty before Init).
  static std::vector<uint16_t> PortIds();
  // RX queues the device of `port_id` offers (rte_eth_dev_info.max_rx_queues,
  // e.g. one per rx_pcap of a net_pcap vdev), so a caller can ask for
  // min(wanted, this) instead of failing Create.
  static Result<uint16_t> MaxRxQueues(uint16_t port_id);
  // Same for TX queues (net_pcap: one per tx_pcap/tx_iface).
  static Result<uint16_t> MaxTxQueues(uint16_t port_id);
};

enum class RssMode : uint8_t {
  kHardware,  // the device spreads the queues (its hash is the flowid if it took our key)
  kSoftware,  // nic/rss.h Toeplitz on every received frame
};
const char* ToString(RssMode m);

struct DpdkConfig {
  uint16_t port_id = 0;        // ethdev port id (< DpdkEal::num_ports()); also Port::port_id
  uint16_t num_rx_queues = 1;  // [1, min(64, device max)]
  uint16_t num_tx_queues = 1;  // [0, min(64, device max)]
  uint16_t rx_desc = 1024;     // ring sizes, adjusted to the device's limits
  uint16_t tx_desc = 1024;
  uint32_t in_flight = 8192;        // mbufs the application may hold (see Memory)
  uint32_t mempool_cache = 256;     // per lcore, <= 512
  uint16_t data_room = 2048 + 128;  // mbuf buffer incl. RTE_PKTMBUF_HEADROOM
  bool hardware_rss = true;         // device RSS when it has it and takes our key; false: software
  // false: an untagged IPv4 frame the device did not hash gets no flowid,
  // instead of the software Toeplitz (~4.5 ns a frame); other frames are
  // hashed as ever. For a consumer that reads none for IPv4: a router's
  // Ethernet layer (source policy) routes IPv4 at its hook without
  // dispatching it again, while IPv6 goes on to a flow-policy layer (so
  // its flowid is still computed here, once), and netisr's m2flow fills one
  // in where a flow-policy layer needs it (IPv4 delivered locally). Then
  // rx_flow_hash() says none, unless the device hashes with our key.
  bool software_flowid_ipv4 = true;
  bool promiscuous = true;  // when the device supports it
  RssFields rss;            // hash types, hardware and software
};

// Counters beyond PortStats: the device's own (rte_eth_stats_get) and the
// port's special cases.
struct DpdkStats {
  uint64_t hw_ipackets = 0, hw_opackets = 0, hw_ibytes = 0, hw_obytes = 0;
  uint64_t hw_imissed = 0, hw_ierrors = 0, hw_oerrors = 0, hw_rx_nombuf = 0;
  uint64_t rx_multi_segment = 0;  // dropped, also in rx_drops[kTooLong]
  uint64_t rx_hw_hash = 0;        // packets whose flowid the device computed
  uint64_t tx_copied = 0;         // non-mbuf packets copied into mbufs
  uint64_t tx_oversize = 0;       // non-mbuf packets too big for an mbuf: dropped
};

class DpdkPort final : public Port {
 public:
  // Largest burst RxBurst asks the device for at once (longer spans are
  // filled in several calls).
  static constexpr size_t kMaxBurst = 64;

  // Needs DpdkEal::Init first. Errors name the port and the bound or the
  // DPDK call that failed (with rte_strerror).
  static Result<std::unique_ptr<DpdkPort>> Create(const DpdkConfig& config);
  ~DpdkPort() override;

  std::string_view name() const override { return name_; }
  uint16_t port_id() const override { return config_.port_id; }
  uint16_t num_rx_queues() const override { return config_.num_rx_queues; }
  uint16_t num_tx_queues() const override { return config_.num_tx_queues; }
  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override;
  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override;
  // A live device never runs dry (net_pcap without infinite_rx does, but
  // says nothing): always false.
  bool RxExhausted(uint16_t queue) const override { return queue >= config_.num_rx_queues; }
  // Toeplitz with kDefaultRssKey on config_.rss either way: by the device
  // when it took that key for every wanted hash type, else in software.
  RxFlowHash rx_flow_hash() const override {
    if (!config_.software_flowid_ipv4 && !hw_flowid_) return {};  // IPv4 unhashed
    return {&Toeplitz::Default(), config_.rss};
  }
  // Multi-segment frames dropped (kTooLong); not the device's own counts.
  uint64_t RxDropped(uint16_t queue) const override;
  // Own counters (handed out, accepted, refused), plus the device's
  // rx_nombuf + imissed as RxDrop::kNoBuffer.
  PortStats Stats() const override;
  DpdkStats ExtendedStats() const;

  RssMode rss_mode() const { return rss_mode_; }
  // Packet::rx_csum_good for an mbuf's ol_flags and packet_type: IP and L4
  // verdicts "good" or "none" (field not filled in, data verified) -> the
  // kRxCsum* bit; "bad" and "unknown" -> 0; a tunnel packet (whose flags
  // describe the inner headers) -> 0. RxBurst sets it on every packet.
  static uint8_t RxCsumGood(uint64_t ol_flags, uint32_t packet_type);
  const std::string& driver() const { return driver_; }
  // The device's MAC address (rte_eth_macaddr_get at Create), for the
  // frames an embedding application sends as this port (pipeline/).
  const std::array<uint8_t, 6>& mac() const { return mac_; }
  // Mempool size and how many mbufs are free now (per-lcore caches
  // included): equal once every packet is back and the queues are drained.
  uint32_t mempool_size() const { return mempool_size_; }
  uint32_t mempool_available() const;
  // Frees whatever the RX queues hold now (received, not handed out);
  // returns how many. For tests and shutdown; RX threads must be stopped.
  size_t DrainRx();

  // The Packet describing `m` (in its private area), and back.
  static Packet* PacketOf(rte_mbuf* m);
  // True when `pkt` wraps an mbuf of some DpdkPort.
  static bool IsMbufPacket(const Packet* pkt);
  // The calling thread's EAL lcore id, -1 if it has none (yet: see Threads).
  static int CurrentLcore();

 private:
  explicit DpdkPort(const DpdkConfig& config);
  Status Setup();
  static void ReleaseMbuf(Packet* pkt);
  static void ReleaseMbufBulk(std::span<Packet* const> pkts);
  // What RxBurst's per-packet set-up reads, copied out of the members once
  // a burst.
  struct RxSetup {
    uint16_t source;
    uint64_t now_ns;
    bool hw_flowid;
    bool software_flowid_ipv4;
    RssFields rss;
    uint64_t hw_rss_hf;
  };
  // The Packet in `mb`'s private area, every field set but the flowid.
  static Packet* InitRxPacket(rte_mbuf* mb, const RxSetup& s, uint64_t seq);

  const DpdkConfig config_;
  std::string name_;
  std::string driver_;
  std::array<uint8_t, 6> mac_{};
  RssMode rss_mode_ = RssMode::kSoftware;
  uint64_t hw_rss_hf_ = 0;
  // The device's RSS hash is the flowid (our key, every wanted type); set
  // by Setup.
  bool hw_flowid_ = false;
  rte_mempool* pool_ = nullptr;
  uint32_t mempool_size_ = 0;
  bool started_ = false;
  std::vector<std::unique_ptr<internal::DpdkRxQueue>> rx_;
  std::vector<std::unique_ptr<internal::DpdkTxQueue>> tx_;
};

}  // namespace netisr::nic
