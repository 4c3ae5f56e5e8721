#include "nic/dpdk_port.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_ptype.h>
#include <rte_mempool.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "lockprof/lock.h"
#include "nic/internal/queue_counters.h"
#include "sched_feedback/clock.h"

namespace netisr::nic {

namespace internal {

struct alignas(64) DpdkRxQueue {
  uint64_t seq = 0;  // packets handed out so far (seq of the last one)
  RxQueueCounters counters;
  base::Counter multi_segment;
  base::Counter hw_hash;
};

struct alignas(64) DpdkTxQueue {
  TxQueueCounters counters;
  base::Counter copied;
  base::Counter oversize;
};

}  // namespace internal

namespace {

Status Bad(const std::string& m) { return Status(ErrorCode::kInvalidArgument, "dpdk: " + m); }
Status DpdkError(const std::string& what, int err) {
  return Status(ErrorCode::kUnavailable,
                "dpdk: " + what + " failed: " + rte_strerror(err < 0 ? -err : err));
}

constinit lockprof::LockClass kEalLock("nic.dpdk.eal");

// Process-wide EAL initialisation state. Every field is guarded by mu, which
// is held across rte_eal_init (so a second Init waits for the first to
// finish and gets its status). A leaf: nothing else is taken under it (EAL's
// own internal locks aside). Profiled as "nic.dpdk.eal".
struct EalState {
  lockprof::Mutex mu{kEalLock};
  bool attempted GUARDED_BY(mu) = false;
  std::string args GUARDED_BY(mu);
  Status status GUARDED_BY(mu);
  std::vector<std::string> argv_store GUARDED_BY(mu);  // EAL keeps pointers into argv
  std::vector<char*> argv GUARDED_BY(mu);
};

EalState& Eal() {
  static EalState* s = new EalState;  // never destroyed: EAL outlives statics
  return *s;
}

std::vector<std::string> SplitArgs(std::string_view args) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < args.size()) {
    while (i < args.size() && args[i] == ' ') ++i;
    size_t j = i;
    while (j < args.size() && args[j] != ' ') ++j;
    if (j > i) out.emplace_back(args.substr(i, j - i));
    i = j;
  }
  return out;
}

uint32_t RoundUpPow2Minus1(uint64_t n) {
  uint64_t p = 1;
  while (p - 1 < n) p <<= 1;
  return static_cast<uint32_t>(p - 1);
}

// rss_hf bits for the hash types `fields` asks for.
uint64_t WantedRssHf(const RssFields& f) {
  uint64_t hf = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER |
                RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER;
  if (f.tcp_ports) hf |= RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP;
  if (f.udp_ports) hf |= RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP;
  return hf;
}

// HashType of a device hash, from the packet type and the hash types the
// device was configured with.
HashType HwHashType(uint32_t ptype, uint64_t hf) {
  const uint32_t l3 = ptype & RTE_PTYPE_L3_MASK;
  const uint32_t l4 = ptype & RTE_PTYPE_L4_MASK;
  if (RTE_ETH_IS_IPV4_HDR(l3)) {
    if (l4 == RTE_PTYPE_L4_TCP && (hf & RTE_ETH_RSS_NONFRAG_IPV4_TCP)) return HashType::kTcpIpv4;
    if (l4 == RTE_PTYPE_L4_UDP && (hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP)) return HashType::kUdpIpv4;
    return HashType::kIpv4;
  }
  if (RTE_ETH_IS_IPV6_HDR(l3)) {
    if (l4 == RTE_PTYPE_L4_TCP && (hf & RTE_ETH_RSS_NONFRAG_IPV6_TCP)) return HashType::kTcpIpv6;
    if (l4 == RTE_PTYPE_L4_UDP && (hf & RTE_ETH_RSS_NONFRAG_IPV6_UDP)) return HashType::kUdpIpv6;
    return HashType::kIpv6;
  }
  return HashType::kOpaque;  // the device hashed it but did not say what it is
}

std::atomic<uint32_t> g_pool_serial{0};

// A thread that is not an EAL lcore has no mempool cache: every mbuf the
// PMD allocates to refill its RX ring and every free goes to the mempool's
// shared ring (a CAS each). A netisr worker is such a thread. The first
// RxBurst or TxBurst on a thread registers it (rte_thread_register: a free
// lcore id, and with it that lcore's cache), and the thread's exit gives
// the id back. If none is free (RTE_MAX_LCORE), the thread works uncached,
// as before. benchmarks/nic/pipeline_bench, poll model: 3.8 -> 5.6 Mpps
// per CPU second (docs/benchmarks.md).
struct LcoreRegistration {
  bool tried = false, registered = false;
  ~LcoreRegistration() {
    if (registered) rte_thread_unregister();
  }
};

inline void RegisterThreadAsLcore() {
  thread_local LcoreRegistration reg;
  if (reg.tried) [[likely]]
    return;
  reg.tried = true;
  if (rte_lcore_id() == LCORE_ID_ANY) reg.registered = rte_thread_register() == 0;
}

}  // namespace

// Packet::rx_csum_good from an mbuf's verdicts. "Good" and "none" count:
// DPDK's "none" means the checksum field is not filled in (e.g. virtio's
// partial checksums from a host that set VIRTIO_NET_HDR_F_NEEDS_CSUM) but
// the data's integrity is verified, so checking it in software would drop
// a valid packet. "Bad" and "unknown" leave the check to software. For a
// tunnel the flags describe the inner headers, while the parse chain reads
// the outer ones: nothing is trusted then.
uint8_t DpdkPort::RxCsumGood(uint64_t ol_flags, uint32_t packet_type) {
  if ((packet_type & RTE_PTYPE_TUNNEL_MASK) != 0) return 0;
  uint8_t good = 0;
  const uint64_t ip = ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE) good |= kRxCsumIpGood;
  const uint64_t l4 = ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE) good |= kRxCsumL4Good;
  return good;
}

// --- DpdkEal ---------------------------------------------------------------

Status DpdkEal::Init(std::string_view args) {
  EalState& s = Eal();
  lockprof::MutexLock lock(s.mu);
  if (s.attempted) {
    if (s.args != args) {
      return Status(ErrorCode::kFailedPrecondition,
                    "dpdk: EAL already initialised with '" + s.args +
                        "'; cannot re-initialise with '" + std::string(args) +
                        "' (EAL can be initialised once per process)");
    }
    return s.status;
  }
  s.attempted = true;
  s.args = std::string(args);
  s.argv_store = SplitArgs(args);
  s.argv_store.insert(s.argv_store.begin(), "netisr");
  for (std::string& a : s.argv_store) s.argv.push_back(a.data());
  s.argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(s.argv.size() - 1), s.argv.data());
  if (rc < 0) {
    const int err = rte_errno;
    s.status = Status(ErrorCode::kInvalidArgument, "dpdk: rte_eal_init with '" + s.args +
                                                       "' failed: " + rte_strerror(err) +
                                                       " (DPDK's log above says which argument)");
    return s.status;
  }
  s.status = Status::Ok();
  return s.status;
}

bool DpdkEal::initialized() {
  EalState& s = Eal();
  lockprof::MutexLock lock(s.mu);
  return s.attempted && s.status.ok();
}

std::string DpdkEal::args() {
  EalState& s = Eal();
  lockprof::MutexLock lock(s.mu);
  return s.args;
}

uint16_t DpdkEal::num_ports() { return initialized() ? rte_eth_dev_count_avail() : 0; }

Result<uint16_t> DpdkEal::FindPort(std::string_view name) {
  if (!initialized()) return Status(ErrorCode::kFailedPrecondition, "dpdk: EAL not initialised");
  uint16_t id;
  const std::string n(name);
  if (rte_eth_dev_get_port_by_name(n.c_str(), &id) == 0) return id;
  std::string have;
  RTE_ETH_FOREACH_DEV(id) {
    char buf[RTE_ETH_NAME_MAX_LEN];
    if (rte_eth_dev_get_name_by_port(id, buf) == 0)
      have += (have.empty() ? "" : ", ") + std::string(buf);
  }
  return Status(ErrorCode::kNotFound,
                "dpdk: no port named '" + n + "' (ports: " + (have.empty() ? "none" : have) + ")");
}

std::vector<uint16_t> DpdkEal::PortIds() {
  std::vector<uint16_t> ids;
  if (!initialized()) return ids;
  uint16_t id;
  RTE_ETH_FOREACH_DEV(id) { ids.push_back(id); }
  return ids;
}

namespace {

Result<rte_eth_dev_info> DevInfo(uint16_t port_id) {
  if (!DpdkEal::initialized())
    return Status(ErrorCode::kFailedPrecondition, "dpdk: EAL not initialised");
  if (!rte_eth_dev_is_valid_port(port_id))
    return Status(ErrorCode::kNotFound, "dpdk: no port " + std::to_string(port_id));
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0)
    return DpdkError("rte_eth_dev_info_get on port " + std::to_string(port_id), rc);
  return info;
}

}  // namespace

Result<uint16_t> DpdkEal::MaxRxQueues(uint16_t port_id) {
  auto info = DevInfo(port_id);
  if (!info.ok()) return info.status();
  return info->max_rx_queues;
}

Result<uint16_t> DpdkEal::MaxTxQueues(uint16_t port_id) {
  auto info = DevInfo(port_id);
  if (!info.ok()) return info.status();
  return info->max_tx_queues;
}

const char* ToString(RssMode m) { return m == RssMode::kHardware ? "hardware" : "software"; }

// --- DpdkPort --------------------------------------------------------------

Packet* DpdkPort::PacketOf(rte_mbuf* m) { return static_cast<Packet*>(rte_mbuf_to_priv(m)); }

int DpdkPort::CurrentLcore() {
  const unsigned id = rte_lcore_id();
  return id == LCORE_ID_ANY ? -1 : static_cast<int>(id);
}

bool DpdkPort::IsMbufPacket(const Packet* pkt) {
  return pkt->release == &DpdkPort::ReleaseMbuf && pkt->backing != nullptr;
}

namespace {

// The mbuf that sends `p` as it is, or nullptr when p is not a
// single-segment mbuf (of any DpdkPort) with its bytes still inside it: TX
// must copy it then. The protocol may have moved or trimmed the frame in
// the mbuf: that is written back into the mbuf's data fields.
[[gnu::always_inline]] inline rte_mbuf* InPlaceMbuf(Packet* p) {
  if (!DpdkPort::IsMbufPacket(p)) return nullptr;
  rte_mbuf* mb = static_cast<rte_mbuf*>(p->backing);
  const uint8_t* base = static_cast<const uint8_t*>(mb->buf_addr);
  if (mb->nb_segs != 1 || p->data < base || p->data + p->len > base + mb->buf_len) return nullptr;
  mb->data_off = static_cast<uint16_t>(p->data - base);
  mb->data_len = static_cast<uint16_t>(p->len);
  mb->pkt_len = p->len;
  return mb;
}

}  // namespace

void DpdkPort::ReleaseMbuf(Packet* pkt) { rte_pktmbuf_free(static_cast<rte_mbuf*>(pkt->backing)); }

void DpdkPort::ReleaseMbufBulk(std::span<Packet* const> pkts) {
  // rte_pktmbuf_free_bulk groups the mbufs by mempool itself, so packets of
  // several ports may share one call.
  rte_mbuf* m[kMaxBurst];
  for (size_t i = 0; i < pkts.size(); i += kMaxBurst) {
    const size_t n = std::min(kMaxBurst, pkts.size() - i);
    for (size_t j = 0; j < n; ++j) m[j] = static_cast<rte_mbuf*>(pkts[i + j]->backing);
    rte_pktmbuf_free_bulk(m, static_cast<unsigned>(n));
  }
}

DpdkPort::DpdkPort(const DpdkConfig& config) : config_(config) {}

Result<std::unique_ptr<DpdkPort>> DpdkPort::Create(const DpdkConfig& config) {
  if (!DpdkEal::initialized())
    return Status(ErrorCode::kFailedPrecondition,
                  "dpdk: EAL not initialised (call DpdkEal::Init, e.g. --source dpdk:EAL-ARGS)");
  const uint16_t ports = rte_eth_dev_count_avail();
  if (ports == 0)
    return Status(ErrorCode::kNotFound,
                  "dpdk: no ports found (EAL args '" + DpdkEal::args() +
                      "': add a --vdev=net_ring0 or similar, or bind a NIC to a DPDK driver)");
  if (!rte_eth_dev_is_valid_port(config.port_id) || config.port_id > 1023)
    return Bad("port id " + std::to_string(config.port_id) +
               " out of range: " + std::to_string(ports) + " port(s) available");
  if (config.num_rx_queues < 1 || config.num_rx_queues > kMaxQueuesPerPort)
    return Bad("num_rx_queues " + std::to_string(config.num_rx_queues) + " out of range [1, 64]");
  if (config.num_tx_queues > kMaxQueuesPerPort)
    return Bad("num_tx_queues " + std::to_string(config.num_tx_queues) + " out of range [0, 64]");
  if (config.rx_desc == 0 || config.tx_desc == 0) return Bad("rx_desc and tx_desc must be > 0");
  if (config.mempool_cache > RTE_MEMPOOL_CACHE_MAX_SIZE)
    return Bad("mempool_cache " + std::to_string(config.mempool_cache) + " out of range [0, " +
               std::to_string(RTE_MEMPOOL_CACHE_MAX_SIZE) + "]");
  if (config.data_room < RTE_PKTMBUF_HEADROOM + 64)
    return Bad("data_room " + std::to_string(config.data_room) + " below headroom + 64");
  sched::FastClock::Global();
  auto port = std::unique_ptr<DpdkPort>(new DpdkPort(config));
  if (Status st = port->Setup(); !st.ok()) return st;
  return port;
}

Status DpdkPort::Setup() {
  const uint16_t pid = config_.port_id;
  char devname[RTE_ETH_NAME_MAX_LEN] = "";
  rte_eth_dev_get_name_by_port(pid, devname);
  name_ = std::string("dpdk:") + devname;
  const std::string who = "port " + std::to_string(pid) + " (" + devname + ")";

  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(pid, &info); rc != 0)
    return DpdkError("rte_eth_dev_info_get on " + who, rc);
  driver_ = info.driver_name != nullptr ? info.driver_name : "";
  rte_ether_addr mac;
  if (int rc = rte_eth_macaddr_get(pid, &mac); rc != 0)
    return DpdkError("rte_eth_macaddr_get on " + who, rc);
  std::copy(mac.addr_bytes, mac.addr_bytes + 6, mac_.begin());
  if (config_.num_rx_queues > info.max_rx_queues)
    return Bad(who + ": num_rx_queues " + std::to_string(config_.num_rx_queues) +
               " above the device's " + std::to_string(info.max_rx_queues));
  if (config_.num_tx_queues > info.max_tx_queues)
    return Bad(who + ": num_tx_queues " + std::to_string(config_.num_tx_queues) +
               " above the device's " + std::to_string(info.max_tx_queues));

  rte_eth_conf conf{};
  const uint64_t want_hf = WantedRssHf(config_.rss);
  const uint64_t hf = want_hf & info.flow_type_rss_offloads;
  // The device spreads the RX queues whenever it hashes any wanted type.
  // Its hash becomes the flowid only if it took our key (a longer key, 52
  // bytes on some parts, is ours padded with zeros, which hashes every input
  // of up to 36 bytes the same: input bit i meets key bits i..i+31 only) and
  // hashes every type we hash in software: otherwise a stack could not
  // predict the flowid of the segments it will receive (rx_flow_hash), so
  // each frame is hashed in software with config_.rss.
  if (config_.hardware_rss && hf != 0) {
    rss_mode_ = RssMode::kHardware;
    hw_rss_hf_ = hf;
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = hf;
    const bool our_key = info.hash_key_size >= kDefaultRssKey.size();
    if (our_key) {
      static std::array<uint8_t, 255> padded = [] {
        std::array<uint8_t, 255> k{};
        std::copy(kDefaultRssKey.begin(), kDefaultRssKey.end(), k.begin());
        return k;
      }();
      conf.rx_adv_conf.rss_conf.rss_key = padded.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
    }
    hw_flowid_ = our_key && hf == want_hf;
    if (hw_flowid_ && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH))
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
  }
  // RX checksum verification, where the device offers it: the mbuf's
  // RTE_MBUF_F_RX_*_CKSUM_GOOD flags become Packet::rx_csum_good, and the
  // parse chain skips what they vouch for.
  constexpr uint64_t kRxCsum =
      RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  conf.rxmode.offloads |= info.rx_offload_capa & kRxCsum;
  // RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE stays off: TX may carry mbufs of
  // other ports' pools.

  uint16_t rx_desc = config_.rx_desc, tx_desc = config_.tx_desc;
  if (int rc = rte_eth_dev_configure(pid, config_.num_rx_queues, config_.num_tx_queues, &conf);
      rc != 0)
    return DpdkError("rte_eth_dev_configure on " + who, rc);
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rx_desc, &tx_desc); rc != 0)
    return DpdkError("rte_eth_dev_adjust_nb_rx_tx_desc on " + who, rc);

  // Mempool: see the formula in the header.
  const uint64_t lcores = std::max(1u, rte_lcore_count());
  uint64_t n = uint64_t{config_.num_rx_queues} * rx_desc +
               uint64_t{config_.num_tx_queues} * tx_desc + lcores * config_.mempool_cache * 3 / 2 +
               uint64_t{config_.num_rx_queues} * kMaxBurst + config_.in_flight;
  mempool_size_ = RoundUpPow2Minus1(n);
  const uint16_t priv = static_cast<uint16_t>(RTE_ALIGN(sizeof(Packet), RTE_MBUF_PRIV_ALIGN));
  const std::string pool_name =
      "nisr" + std::to_string(pid) + "_" + std::to_string(g_pool_serial.fetch_add(1));
  int socket = rte_eth_dev_socket_id(pid);
  if (socket < 0) socket = SOCKET_ID_ANY;
  pool_ = rte_pktmbuf_pool_create(pool_name.c_str(), mempool_size_, config_.mempool_cache, priv,
                                  config_.data_room, socket);
  if (pool_ == nullptr)
    return DpdkError("rte_pktmbuf_pool_create of " + std::to_string(mempool_size_) + " mbufs for " +
                         who + " (raise -m?)",
                     rte_errno);

  for (uint16_t q = 0; q < config_.num_rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(pid, q, rx_desc, socket, nullptr, pool_); rc != 0)
      return DpdkError("rte_eth_rx_queue_setup of queue " + std::to_string(q) + " on " + who, rc);
    rx_.push_back(std::make_unique<internal::DpdkRxQueue>());
  }
  for (uint16_t q = 0; q < config_.num_tx_queues; ++q) {
    if (int rc = rte_eth_tx_queue_setup(pid, q, tx_desc, socket, nullptr); rc != 0)
      return DpdkError("rte_eth_tx_queue_setup of queue " + std::to_string(q) + " on " + who, rc);
    tx_.push_back(std::make_unique<internal::DpdkTxQueue>());
  }
  if (int rc = rte_eth_dev_start(pid); rc != 0) return DpdkError("rte_eth_dev_start on " + who, rc);
  started_ = true;
  if (config_.promiscuous) {
    // Unsupported by some vdevs (-ENOTSUP): not an error.
    (void)rte_eth_promiscuous_enable(pid);
  }
  rte_eth_stats_reset(pid);
  return Status::Ok();
}

DpdkPort::~DpdkPort() {
  if (started_) {
    DrainRx();
    rte_eth_dev_stop(config_.port_id);
  }
  // Close even after a failed Setup: it releases the queues (and the mbufs
  // their rings hold) before the pool goes.
  if (pool_ != nullptr) {
    rte_eth_dev_close(config_.port_id);
    rte_mempool_free(pool_);
  }
}

size_t DpdkPort::DrainRx() {
  size_t total = 0;
  rte_mbuf* m[kMaxBurst];
  for (uint16_t q = 0; q < config_.num_rx_queues; ++q) {
    // Bounded: a looping source (net_pcap infinite_rx) never runs dry.
    for (int i = 0; i < 1024; ++i) {
      const uint16_t n = rte_eth_rx_burst(config_.port_id, q, m, kMaxBurst);
      if (n == 0) break;
      rte_pktmbuf_free_bulk(m, n);
      total += n;
    }
  }
  return total;
}

inline Packet* DpdkPort::InitRxPacket(rte_mbuf* mb, const RxSetup& s, uint64_t seq) {
  Packet* p = new (rte_mbuf_to_priv(mb)) Packet;
  p->data = rte_pktmbuf_mtod(mb, uint8_t*);
  p->len = mb->data_len;
  p->source = s.source;
  p->ingress_ns = s.now_ns;
  p->seq = seq;
  p->backing = mb;
  p->release = &DpdkPort::ReleaseMbuf;
  p->release_bulk = &DpdkPort::ReleaseMbufBulk;
  p->rx_csum_good = RxCsumGood(mb->ol_flags, mb->packet_type);
  return p;
}

size_t DpdkPort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_.size()) return 0;
  RegisterThreadAsLcore();
  internal::DpdkRxQueue& q = *rx_[queue];
  // Loop invariants in locals: the descriptor's 1-byte stores may alias
  // anything, so members read in the loop would be loaded again per packet.
  const RxSetup setup{SourceId(config_.port_id, queue),
                      sched::FastClock::Global().NowNs(),
                      hw_flowid_,
                      config_.software_flowid_ipv4,
                      config_.rss,
                      hw_rss_hf_};
  const Toeplitz& toeplitz = Toeplitz::Default();
  uint64_t seq = q.seq;
  size_t n = 0;
  uint64_t bytes = 0, multi = 0, hw = 0;
  // Multi-segment mbufs dropped count against out.size() too (Port::RxBurst
  // takes at most that many frames per call).
  while (n + multi < out.size()) {
    rte_mbuf* m[kMaxBurst];
    const uint16_t want = static_cast<uint16_t>(std::min(out.size() - n - multi, kMaxBurst));
    const uint16_t got = rte_eth_rx_burst(config_.port_id, queue, m, want);
    for (uint16_t i = 0; i < got; ++i) {
      rte_mbuf* mb = m[i];
      if (mb->nb_segs != 1) [[unlikely]] {
        rte_pktmbuf_free(mb);
        ++multi;
        continue;
      }
      if (i + 1 < got) rte_prefetch0(rte_pktmbuf_mtod(m[i + 1], void*));
      Packet* p = InitRxPacket(mb, setup, ++seq);
      if (setup.hw_flowid && (mb->ol_flags & RTE_MBUF_F_RX_RSS_HASH)) {
        p->SetFlowId(mb->hash.rss, HwHashType(mb->packet_type, setup.hw_rss_hf));
        ++hw;
      } else if (setup.software_flowid_ipv4 || !IsUntaggedIpv4({p->data, p->len})) {
        const RssHash h = HashFrame(toeplitz, {p->data, p->len}, setup.rss);
        p->SetFlowId(h.hash, h.type);
      }
      bytes += p->len;
      out[n++] = p;
    }
    if (got < want) break;
  }
  q.seq = seq;
  q.counters.packets.Add(n);
  q.counters.bytes.Add(bytes);
  if (multi != 0) {
    q.counters.drops[static_cast<size_t>(RxDrop::kTooLong)].Add(multi);
    q.multi_segment.Add(multi);
  }
  if (hw != 0) q.hw_hash.Add(hw);
  return n;
}

size_t DpdkPort::TxBurst(uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_.size()) return 0;
  RegisterThreadAsLcore();
  internal::DpdkTxQueue& t = *tx_[queue];
  const uint32_t max_copy = rte_pktmbuf_data_room_size(pool_) - RTE_PKTMBUF_HEADROOM;
  size_t done = 0;
  uint64_t packets = 0, bytes = 0, copied = 0, oversize = 0;
  while (done < pkts.size()) {
    const size_t want = std::min(pkts.size() - done, kMaxBurst);
    rte_mbuf* send[kMaxBurst];  // what the driver is offered
    // The common burst: every packet a single-segment mbuf of ours with its
    // bytes still in it (forwarded or answered in place). No copies, no
    // index arrays: send[j] carries pkts[done + j], and what the driver
    // refuses is the tail, still ours to read. ~30 instructions a packet
    // less than the general loop below (callgrind, pipeline_bench).
    size_t fast = 0;
    uint64_t fast_bytes = 0;
    for (; fast < want; ++fast) {
      Packet* p = pkts[done + fast];
      rte_mbuf* mb = InPlaceMbuf(p);
      if (mb == nullptr) break;
      fast_bytes += p->len;
      send[fast] = mb;
    }
    if (fast == want) {
      const uint16_t sent =
          rte_eth_tx_burst(config_.port_id, queue, send, static_cast<uint16_t>(want));
      for (size_t j = sent; j < want; ++j) fast_bytes -= pkts[done + j]->len;
      bytes += fast_bytes;
      packets += sent;
      done += sent;
      if (sent < want) break;
      continue;
    }
    // The general case (the mbuf updates above are redone, harmlessly).
    size_t idx[kMaxBurst];  // send[j] carries pkts[done + idx[j]]
    bool copy[kMaxBurst];
    uint32_t len[kMaxBurst];  // read before sending: a sent mbuf may be freed at once
    uint16_t ns = 0;
    size_t k = 0;  // pkts[done .. done + k) were looked at
    for (; k < want; ++k) {
      Packet* p = pkts[done + k];
      if (rte_mbuf* mb = InPlaceMbuf(p)) {
        idx[ns] = k;
        copy[ns] = false;
        len[ns] = p->len;
        send[ns++] = mb;
        continue;
      }
      // Not an mbuf of ours (or its bytes moved out of the mbuf): copy.
      if (p->len > max_copy) continue;  // never fits: dropped below (not offered)
      rte_mbuf* c = rte_pktmbuf_alloc(pool_);
      if (c == nullptr) break;  // pool empty: like a full queue
      std::memcpy(rte_pktmbuf_append(c, static_cast<uint16_t>(p->len)), p->data, p->len);
      idx[ns] = k;
      copy[ns] = true;
      len[ns] = p->len;
      send[ns++] = c;
    }
    const uint16_t sent = ns == 0 ? 0 : rte_eth_tx_burst(config_.port_id, queue, send, ns);
    // Accepted: pkts[done .. done + cut), everything before the first
    // packet the driver refused (or the first that found no mbuf).
    const size_t cut = sent < ns ? idx[sent] : k;
    for (uint16_t j = 0; j < ns; ++j) {
      if (j < sent) {
        bytes += len[j];
        ++packets;
        if (copy[j]) {
          ++copied;
          Release(pkts[done + idx[j]]);  // the copy went out; the original is ours
        }
      } else if (copy[j]) {
        rte_pktmbuf_free(send[j]);  // the caller keeps the original
      }
    }
    // Oversize non-mbuf packets before the cut are accepted and dropped
    // (refusing them would have a retrying caller retry them forever).
    for (size_t i = 0, j = 0; i < cut; ++i) {
      if (j < ns && idx[j] == i) {
        ++j;
        continue;
      }
      Release(pkts[done + i]);
      ++oversize;
    }
    done += cut;
    if (cut < want) break;
  }
  t.counters.packets.Add(packets);
  t.counters.bytes.Add(bytes);
  if (done < pkts.size()) t.counters.full.Add(pkts.size() - done);
  if (copied != 0) t.copied.Add(copied);
  if (oversize != 0) t.oversize.Add(oversize);
  return done;
}

uint64_t DpdkPort::RxDropped(uint16_t queue) const {
  return queue < rx_.size() ? rx_[queue]->counters.dropped() : 0;
}

PortStats DpdkPort::Stats() const {
  PortStats s;
  for (const auto& q : rx_) q->counters.AddTo(s);
  for (const auto& t : tx_) t->counters.AddTo(s);
  rte_eth_stats es;
  if (rte_eth_stats_get(config_.port_id, &es) == 0)
    s.rx_drops[static_cast<size_t>(RxDrop::kNoBuffer)] += es.rx_nombuf + es.imissed;
  return s;
}

DpdkStats DpdkPort::ExtendedStats() const {
  DpdkStats d;
  rte_eth_stats es;
  if (rte_eth_stats_get(config_.port_id, &es) == 0) {
    d.hw_ipackets = es.ipackets;
    d.hw_opackets = es.opackets;
    d.hw_ibytes = es.ibytes;
    d.hw_obytes = es.obytes;
    d.hw_imissed = es.imissed;
    d.hw_ierrors = es.ierrors;
    d.hw_oerrors = es.oerrors;
    d.hw_rx_nombuf = es.rx_nombuf;
  }
  for (const auto& q : rx_) {
    d.rx_multi_segment += q->multi_segment.Get();
    d.rx_hw_hash += q->hw_hash.Get();
  }
  for (const auto& t : tx_) {
    d.tx_copied += t->copied.Get();
    d.tx_oversize += t->oversize.Get();
  }
  return d;
}

uint32_t DpdkPort::mempool_available() const {
  return pool_ == nullptr ? 0 : rte_mempool_avail_count(pool_);
}

}  // namespace netisr::nic
