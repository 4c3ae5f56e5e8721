// Synthetic generator (see synthetic.h).
#include "nic/synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "nic/internal/frame.h"
#include "nic/internal/queue_counters.h"
#include "nic/internal/random.h"
#include "nic/pcap_port.h"
#include "sched_feedback/clock.h"

namespace netisr::nic {

namespace internal {

struct SynthFlow {
  FlowTuple tuple;
  uint32_t hash = 0;
  HashType type = HashType::kNone;
  uint16_t queue = 0;
  uint32_t isn = 0;  // TCP initial sequence number
  uint32_t ack = 0;  // TCP acknowledgement number carried by data packets
};

// Everything RxBurst(q) touches besides the read-only flow table and the
// pool. Aligned so that queues on different threads share no line.
struct alignas(64) SynthQueue {
  explicit SynthQueue(uint64_t seed) : rng(seed) {}

  uint16_t index = 0;
  Random rng;
  std::vector<uint32_t> flows;  // global indices of the flows on this queue
  // Walker's alias table over `flows` (Vose's construction): one draw picks
  // a slot and a coin, so sampling is O(1) with two loads, where a binary
  // search over cumulative weights cost ~14 mispredicted branches.
  std::vector<uint64_t> alias_threshold;  // keep the slot if coin < this (of 2^32)
  std::vector<uint32_t> alias;            // local index otherwise
  std::vector<double> local_weight;       // by local flow index (setup only)
  std::vector<uint64_t> next_seq;         // by local flow index: last seq emitted
  std::vector<uint32_t> tcp_seq;          // by local flow index: next TCP sequence number
  double attack_prob = 0;                 // chance a packet of this queue is a flood packet
  uint64_t quota = 0;
  uint64_t emitted = 0;
  double ns_per_packet = 0;  // 0 = unpaced
  uint64_t start_ns = 0;     // paced: arrival of packet 0 (first RxBurst)
  RxQueueCounters counters;
  std::vector<uint8_t> payload;  // frame_max bytes of filler; the mark is rewritten per packet
};

}  // namespace internal

using internal::FlowTuple;
using internal::SynthFlow;
using internal::SynthQueue;

namespace {

constexpr uint32_t kMaxFlows = 1u << 24;
// Largest headers a generated frame has: Ethernet + IPv6 + TCP with MSS.
constexpr uint32_t kMaxHeaders = 14 + 40 + 24;
constexpr uint16_t kTcpPorts[] = {80, 443, 8080, 22};
constexpr uint16_t kUdpPorts[] = {53, 123, 443, 4789};

Status Bad(const std::string& m) { return Status(ErrorCode::kInvalidArgument, "synthetic: " + m); }

bool In(double v, double lo, double hi) { return v >= lo && v <= hi; }

Status Validate(const SyntheticConfig& c) {
  if (c.pool == nullptr) return Bad("no packet pool given");
  if (c.port_id > 1023)
    return Bad("port_id " + std::to_string(c.port_id) + " out of range [0, 1023]");
  if (c.num_rx_queues < 1 || c.num_rx_queues > kMaxQueuesPerPort)
    return Bad("num_rx_queues " + std::to_string(c.num_rx_queues) + " out of range [1, 64]");
  if (c.num_tx_queues > kMaxQueuesPerPort)
    return Bad("num_tx_queues " + std::to_string(c.num_tx_queues) + " out of range [0, 64]");
  if (c.num_flows < 1 || c.num_flows > kMaxFlows)
    return Bad("num_flows " + std::to_string(c.num_flows) + " out of range [1, 16777216]");
  if (!(c.zipf_s > 0 && c.zipf_s <= 10)) return Bad("zipf_s must be in (0, 10]");
  if (!(c.elephant_flows > 0 && c.elephant_flows < 1))
    return Bad("elephant_flows must be in (0, 1)");
  if (!(c.elephant_share > 0 && c.elephant_share < 1))
    return Bad("elephant_share must be in (0, 1)");
  if (!In(c.syn_flood_share, 0, 1) || !In(c.udp_flood_share, 0, 1) ||
      !(c.syn_flood_share + c.udp_flood_share < 1))
    return Bad("syn_flood_share and udp_flood_share must be >= 0 with a sum < 1");
  if (!In(c.ipv6_share, 0, 1)) return Bad("ipv6_share must be in [0, 1]");
  if (!In(c.tcp_share, 0, 1)) return Bad("tcp_share must be in [0, 1]");
  if (c.frame_min < 60 || c.frame_min > c.frame_max)
    return Bad("frame sizes must satisfy 60 <= frame_min <= frame_max (got " +
               std::to_string(c.frame_min) + ", " + std::to_string(c.frame_max) + ")");
  const uint32_t need = std::max(c.frame_max, kMaxHeaders);
  if (c.pool->buf_size() < need)
    return Bad("pool buffers of " + std::to_string(c.pool->buf_size()) +
               " bytes cannot hold frames of " + std::to_string(need) + " bytes");
  if (!(c.rate_pps >= 0)) return Bad("rate_pps must be >= 0");
  return Status::Ok();
}

void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void FillRandom(internal::Random& r, uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(r.Next());
}

// Flow i: source 10.x.y.z (x.y.z = i, so tuples are distinct) or
// 2001:db8::<random>:<i>, random destination in 192.168/16 or
// 2001:db8:ffff::/48, random source port, a well-known destination port.
FlowTuple MakeFlowTuple(const SyntheticConfig& c, uint32_t i, internal::Random& r) {
  FlowTuple t;
  t.v6 = r.Unit() < c.ipv6_share;
  t.proto = r.Unit() < c.tcp_share ? internal::kProtoTcp : internal::kProtoUdp;
  if (t.v6) {
    const uint8_t src_prefix[] = {0x20, 0x01, 0x0d, 0xb8};
    const uint8_t dst_prefix[] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
    std::memcpy(t.src.data(), src_prefix, 4);
    FillRandom(r, t.src.data() + 8, 4);
    PutBe32(t.src.data() + 12, i);
    std::memcpy(t.dst.data(), dst_prefix, 6);
    FillRandom(r, t.dst.data() + 8, 8);
  } else {
    PutBe32(t.src.data(), 0x0a000000u | i);
    PutBe32(t.dst.data(), 0xc0a80000u | static_cast<uint32_t>(r.Below(65536)));
  }
  t.sport = static_cast<uint16_t>(1024 + r.Below(65536 - 1024));
  t.dport = t.proto == internal::kProtoTcp ? kTcpPorts[r.Below(4)] : kUdpPorts[r.Below(4)];
  return t;
}

// A flood packet's tuple: random source (address and port) to the victim.
FlowTuple MakeFloodTuple(const SyntheticConfig& c, bool syn, internal::Random& r) {
  FlowTuple t;
  t.v6 = r.Unit() < c.ipv6_share;
  t.proto = syn ? internal::kProtoTcp : internal::kProtoUdp;
  if (t.v6) {
    const uint8_t src_prefix[] = {0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad};
    const uint8_t victim[] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(t.src.data(), src_prefix, 6);
    FillRandom(r, t.src.data() + 6, 10);
    std::memcpy(t.dst.data(), victim, 16);
  } else {
    // Any unicast first octet (1..223).
    PutBe32(t.src.data(), (static_cast<uint32_t>(1 + r.Below(223)) << 24) |
                              static_cast<uint32_t>(r.Below(1u << 24)));
    PutBe32(t.dst.data(), 0xc0a80001u);  // 192.168.0.1
  }
  t.sport = static_cast<uint16_t>(1024 + r.Below(65536 - 1024));
  t.dport = syn ? 80 : 53;
  return t;
}

// Vose's alias method over the queue's flow weights; frees local_weight.
void BuildAlias(SynthQueue& q) {
  const size_t n = q.local_weight.size();
  q.alias_threshold.assign(n, uint64_t{1} << 32);
  q.alias.resize(n);
  for (size_t i = 0; i < n; ++i) q.alias[i] = static_cast<uint32_t>(i);
  if (n == 0) return;
  double sum = 0;
  for (double w : q.local_weight) sum += w;
  std::vector<double> p(n);
  std::vector<uint32_t> small, large;
  for (size_t i = 0; i < n; ++i) {
    p[i] = q.local_weight[i] * static_cast<double>(n) / sum;
    (p[i] < 1 ? small : large).push_back(static_cast<uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back(), l = large.back();
    small.pop_back();
    large.pop_back();
    q.alias_threshold[s] = static_cast<uint64_t>(p[s] * 4294967296.0);
    q.alias[s] = l;
    p[l] -= 1 - p[s];
    (p[l] < 1 ? small : large).push_back(l);
  }
  // Leftovers are 1 up to rounding: they keep their slot (threshold 2^32).
  q.local_weight = {};
}

std::vector<double> FlowWeights(const SyntheticConfig& c) {
  const uint32_t n = c.num_flows;
  std::vector<double> w(n, 1.0 / n);
  if (c.distribution == FlowDistribution::kZipf) {
    double sum = 0;
    for (uint32_t r = 0; r < n; ++r) sum += w[r] = std::pow(r + 1.0, -c.zipf_s);
    for (double& x : w) x /= sum;
  } else if (c.distribution == FlowDistribution::kElephants && n > 1) {
    const auto ne =
        static_cast<uint32_t>(std::clamp<double>(std::llround(c.elephant_flows * n), 1.0, n - 1.0));
    for (uint32_t r = 0; r < n; ++r)
      w[r] = r < ne ? c.elephant_share / ne : (1 - c.elephant_share) / (n - ne);
  }
  return w;
}

}  // namespace

Result<std::unique_ptr<SyntheticPort>> SyntheticPort::Create(const SyntheticConfig& config) {
  if (Status st = Validate(config); !st.ok()) return st;
  auto reta = Reta::Create(config.num_rx_queues, config.reta_size);
  if (!reta.ok()) return Bad(reta.status().message());
  sched::FastClock::Global();  // calibrates (~20 ms) here, not in RxBurst
  auto port = std::unique_ptr<SyntheticPort>(new SyntheticPort(config, std::move(reta).value()));
  port->Setup();
  return port;
}

SyntheticPort::SyntheticPort(const SyntheticConfig& config, Reta reta)
    : config_(config),
      reta_(std::move(reta)),
      name_("synthetic" + std::to_string(config.port_id)) {}

SyntheticPort::~SyntheticPort() = default;

void SyntheticPort::Setup() {
  const SyntheticConfig& c = config_;
  const Toeplitz& toeplitz = Toeplitz::Default();
  weights_ = FlowWeights(c);
  for (uint16_t q = 0; q < c.num_rx_queues; ++q) {
    rx_.push_back(std::make_unique<SynthQueue>(internal::MixSeed(c.seed, 0x5157000000ull + q)));
    rx_.back()->index = q;
    rx_.back()->payload.assign(std::max(c.frame_max, kMaxHeaders), 0);
    for (size_t i = 0; i < rx_.back()->payload.size(); ++i)
      rx_.back()->payload[i] = static_cast<uint8_t>(0xa5 ^ i);
  }
  for (uint16_t q = 0; q < c.num_tx_queues; ++q)
    tx_.push_back(std::make_unique<internal::TxQueueCounters>());

  flows_.resize(c.num_flows);
  std::vector<double> queue_weight(c.num_rx_queues, 0);
  for (uint32_t i = 0; i < c.num_flows; ++i) {
    internal::Random r(internal::MixSeed(c.seed, i));
    SynthFlow& f = flows_[i];
    f.tuple = MakeFlowTuple(c, i, r);
    const RssHash h = internal::HashTuple(toeplitz, f.tuple);
    f.hash = h.hash;
    f.type = h.type;
    f.queue = reta_.Queue(h.hash);
    f.isn = static_cast<uint32_t>(r.Next());
    f.ack = static_cast<uint32_t>(r.Next());
    SynthQueue& q = *rx_[f.queue];
    q.flows.push_back(i);
    q.local_weight.push_back(weights_[i]);
    queue_weight[f.queue] += weights_[i];
  }

  // Each queue's share of the port's packets: its flows' weight of the
  // legitimate traffic plus the RETA's share of the floods.
  const double flood = c.syn_flood_share + c.udp_flood_share;
  double cum = 0;
  uint64_t assigned = 0;
  for (uint16_t qi = 0; qi < c.num_rx_queues; ++qi) {
    SynthQueue& q = *rx_[qi];
    BuildAlias(q);
    q.next_seq.assign(q.flows.size(), 0);
    q.tcp_seq.resize(q.flows.size());
    for (size_t l = 0; l < q.flows.size(); ++l) q.tcp_seq[l] = flows_[q.flows[l]].isn;
    const double flood_part = flood * reta_.Share(qi);
    const double share = (1 - flood) * queue_weight[qi] + flood_part;
    q.attack_prob = share > 0 ? flood_part / share : 0;
    cum += share;
    if (c.packets == 0) {
      q.quota = share > 0 ? UINT64_MAX : 0;
    } else {
      // Cumulative rounding: quotas sum to exactly `packets`.
      const uint64_t upto = qi + 1 == c.num_rx_queues
                                ? c.packets
                                : std::min<uint64_t>(c.packets, std::llround(cum * c.packets));
      q.quota = upto - assigned;
      assigned = upto;
    }
    q.ns_per_packet = c.rate_pps > 0 && share > 0 ? 1e9 / (c.rate_pps * share) : 0;
  }
}

size_t SyntheticPort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_.size()) return 0;
  SynthQueue& q = *rx_[queue];
  uint64_t want = std::min<uint64_t>(out.size(), q.quota - q.emitted);
  if (want == 0) return 0;
  const uint64_t now = sched::FastClock::Global().NowNs();
  if (q.ns_per_packet > 0) {
    if (q.start_ns == 0) q.start_ns = now;
    // Packets 0..arrived-1 have arrived by now.
    const auto arrived =
        static_cast<uint64_t>(static_cast<double>(now - q.start_ns) / q.ns_per_packet) + 1;
    if (arrived <= q.emitted) return 0;
    want = std::min(want, arrived - q.emitted);
  }
  const size_t got = config_.pool->AllocBulk(out.first(want));
  uint64_t bytes = 0;
  for (size_t i = 0; i < got; ++i) {
    uint64_t ingress = now;
    if (q.ns_per_packet > 0) {
      ingress = std::min(
          now,
          q.start_ns + static_cast<uint64_t>(static_cast<double>(q.emitted + i) * q.ns_per_packet));
    }
    Fill(q, *out[i], ingress);
    bytes += out[i]->len;
  }
  q.emitted += got;
  q.counters.packets.Add(got);
  q.counters.bytes.Add(bytes);
  return got;
}

void SyntheticPort::Fill(SynthQueue& q, Packet& pkt, uint64_t ingress_ns) {
  const SyntheticConfig& c = config_;
  internal::Random& r = q.rng;
  const bool attack = q.flows.empty() || (q.attack_prob > 0 && r.Unit() < q.attack_prob);
  const uint32_t size =
      c.frame_min + static_cast<uint32_t>(r.Below(uint64_t{c.frame_max} - c.frame_min + 1));
  internal::TcpFields tcp;
  FlowTuple flood_tuple;
  const FlowTuple* tuple;
  RssHash hash;
  PayloadMark mark{kAttackFlow, 0, kPayloadMagic};
  uint32_t* tcp_next = nullptr;  // a legitimate TCP flow's next sequence number
  if (attack) {
    const bool syn = r.Unit() * (c.syn_flood_share + c.udp_flood_share) < c.syn_flood_share;
    // Random sources until one hashes to this queue, as RSS would steer it.
    do {
      flood_tuple = MakeFloodTuple(c, syn, r);
      hash = internal::HashTuple(Toeplitz::Default(), flood_tuple);
    } while (reta_.Queue(hash.hash) != q.index);
    tuple = &flood_tuple;
    tcp = {static_cast<uint32_t>(r.Next()), 0, internal::kTcpSyn, true};
  } else {
    const uint64_t x = r.Next();
    const size_t slot = ((x >> 32) * q.flows.size()) >> 32;
    const size_t local = (x & 0xffffffffu) < q.alias_threshold[slot] ? slot : q.alias[slot];
    const SynthFlow& f = flows_[q.flows[local]];
    tuple = &f.tuple;
    hash = {f.hash, f.type};
    mark.flow = q.flows[local];
    mark.seq = ++q.next_seq[local];
    if (f.tuple.proto == internal::kProtoTcp) {
      if (mark.seq == 1) {
        tcp = {f.isn, 0, internal::kTcpSyn, true};
        q.tcp_seq[local] = f.isn + 1;
      } else {
        tcp = {q.tcp_seq[local], f.ack, internal::kTcpAck | internal::kTcpPsh, false};
        tcp_next = &q.tcp_seq[local];
      }
    }
  }
  // SYNs carry no data; everything else fills the frame up to `size`.
  const bool syn = tuple->proto == internal::kProtoTcp && (tcp.flags & internal::kTcpSyn);
  const size_t headers = internal::HeaderBytes(*tuple, syn);
  const size_t payload_len = syn || size <= headers ? 0 : size - headers;
  if (payload_len >= sizeof(PayloadMark)) std::memcpy(q.payload.data(), &mark, sizeof(mark));
  if (tcp_next != nullptr) *tcp_next += static_cast<uint32_t>(payload_len);
  pkt.len = static_cast<uint32_t>(internal::BuildFrame(
      pkt.data, *tuple, tcp, static_cast<uint16_t>(mark.seq), q.payload.data(), payload_len));
  pkt.SetFlowId(hash.hash, hash.type);
  pkt.source = SourceId(c.port_id, q.index);
  pkt.ingress_ns = ingress_ns;
  pkt.seq = mark.seq;
}

size_t SyntheticPort::TxBurst(uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_.size()) return 0;
  uint64_t bytes = 0;
  for (Packet* p : pkts) {
    bytes += p->len;
    Release(p);
  }
  tx_[queue]->packets.Add(pkts.size());
  tx_[queue]->bytes.Add(bytes);
  return pkts.size();
}

bool SyntheticPort::RxExhausted(uint16_t queue) const {
  return queue >= rx_.size() || rx_[queue]->emitted == rx_[queue]->quota;
}

PortStats SyntheticPort::Stats() const {
  PortStats s;
  for (const auto& q : rx_) q->counters.AddTo(s);
  for (const auto& t : tx_) t->AddTo(s);
  return s;
}

uint64_t SyntheticPort::quota(uint16_t queue) const { return rx_.at(queue)->quota; }
uint32_t SyntheticPort::flows_on(uint16_t queue) const {
  return static_cast<uint32_t>(rx_.at(queue)->flows.size());
}
double SyntheticPort::flow_weight(uint32_t flow) const { return weights_.at(flow); }

Status WriteSyntheticTrace(const SyntheticConfig& config, uint64_t packets,
                           const std::string& path) {
  if (packets == 0) return Bad("a trace needs at least one packet");
  SyntheticConfig c = config;
  auto pool = PacketPool::Create(256, std::max(c.frame_max, kMaxHeaders));
  if (!pool.ok()) return pool.status();
  c.pool = pool->get();
  c.rate_pps = 0;
  c.packets = packets;
  auto port = SyntheticPort::Create(c);
  if (!port.ok()) return port.status();
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(packets);
  Packet* burst[32];
  while (frames.size() < packets) {
    for (uint16_t q = 0; q < c.num_rx_queues; ++q) {
      const size_t n = (*port)->RxBurst(q, burst);
      for (size_t i = 0; i < n; ++i) {
        frames.emplace_back(burst[i]->data, burst[i]->data + burst[i]->len);
        Release(burst[i]);
      }
    }
  }
  return WritePcap(path, frames);
}

}  // namespace netisr::nic
