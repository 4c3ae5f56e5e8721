#include "apps/stack_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "apps/ingress_spec.h"
#include "harness/capped_port.h"
#include "harness/delivery_tally.h"
#include "harness/order_check.h"
#include "netisr/netisr.h"
#include "nic/dpdk_port.h"
#include "nic/pcap_port.h"
#include "nic/rx_source.h"
#include "nic/synthetic.h"
#include "pipeline/pipeline.h"
#include "proto/filter.h"
#include "proto/stack.h"

namespace netisr::apps {

namespace {

using harness::CappedPort;
using harness::DeliveryTally;
using harness::FlowOrderCheck;
using harness::RxBudget;

// Packet buffers per port for the synthetic and pcap sources: enough for the
// parse chain's queues (8 layers x qlimit 256 per workstream, mostly empty)
// and a few bursts per RX queue; an empty pool is backpressure, not loss.
constexpr uint32_t kPoolPackets = 16384;
// pcap frames up to this size replay; longer ones are dropped by the port as
// rx_too_long (counted). 2 KiB: a 1518-byte Ethernet frame with room to spare,
// 32 MiB per pool.
constexpr uint32_t kPcapBufBytes = 2048;
// A --flood share when --attack is given without --attack-share: the
// early-drop measurement's point (a flood that is 90% of offered packets).
constexpr double kDefaultAttackShare = 0.9;
constexpr uint32_t kDefaultFrameBytes = 64;
constexpr int64_t kDefaultIdleMs = 1000;
constexpr unsigned kOrderSlotBits = 16;  // 64K slots, 512 KiB

// The parse chain's DeliverFn: what passed every layer.
class StackSink {
 public:
  StackSink(int workstreams, uint64_t handler_ns, std::function<bool(const Packet&)> withhold)
      : tally_(workstreams, handler_ns), withhold_(std::move(withhold)) {}

  void Deliver(proto::Layer layer, Burst burst) {
    const int ws = Netisr::CurrentWorkstream();
    uint64_t reordered = 0;
    for (Packet* pkt : burst) {
      tally_.Serve(ws, *pkt);
      reordered += InOrder(layer, *pkt) ? 0 : 1;
    }
    if (withhold_) {
      ReleaseUnlessWithheld(burst, withhold_);
    } else {
      for (Packet* pkt : burst) Release(pkt);
    }
    tally_.Count(ws, static_cast<size_t>(layer), burst.size(), reordered);
  }

  const DeliveryTally& tally() const { return tally_; }

 private:
  static_assert(proto::kNumLayers <= DeliveryTally::kMaxKinds);

  // Keyed by (terminal layer, ingress source, flowid): see stack_run.h.
  bool InOrder(proto::Layer layer, const Packet& pkt) {
    const uint64_t key =
        (uint64_t{pkt.flowid} << 24) ^ (uint64_t{pkt.source} << 8) ^ static_cast<uint64_t>(layer);
    return order_.InOrder(key, pkt.seq);
  }

  DeliveryTally tally_;
  FlowOrderCheck order_ = FlowOrderCheck::Hashed(kOrderSlotBits);
  const std::function<bool(const Packet&)> withhold_;  // RunHooks::withhold
};

// Everything one run owns, destroyed in reverse: netisr first (its Stop may
// still run handlers that release into the ports and pools), then the
// sources, the ports (a DpdkPort closes its device), the pools.
struct StackJob {
  RunOptions options;
  RunHooks hooks;
  IngressSpec ingress;
  std::unique_ptr<StackSink> sink;
  std::unique_ptr<proto::EarlyFilter> filter;
  std::unique_ptr<RxBudget> budget;
  std::vector<std::unique_ptr<PacketPool>> pools;
  std::vector<std::unique_ptr<CappedPort>> ports;
  std::vector<std::unique_ptr<nic::RxQueueSource>> sources;
  std::unique_ptr<proto::ProtocolStack> stack;
  std::unique_ptr<Netisr> nisr;
};

Result<PacketPool*> AddPool(StackJob& job, uint32_t buf_bytes) {
  auto pool = PacketPool::Create(kPoolPackets, buf_bytes);
  if (!pool.ok()) return pool.status();
  job.pools.push_back(std::move(*pool));
  return job.pools.back().get();
}

void AddPort(StackJob& job, std::unique_ptr<nic::Port> port, uint64_t idle_ns) {
  job.ports.push_back(std::make_unique<CappedPort>(std::move(port), *job.budget, idle_ns));
}

nic::FlowDistribution DistributionOf(const std::string& name) {
  if (name == "zipf") return nic::FlowDistribution::kZipf;
  if (name == "elephants") return nic::FlowDistribution::kElephants;
  return nic::FlowDistribution::kUniform;
}

Status OpenSynthetic(StackJob& job) {
  const RunOptions& o = job.options;
  const auto frame = static_cast<uint32_t>(o.frame_size.value_or(kDefaultFrameBytes));
  // Buffers hold the largest frame and the longest headers (78 B), rounded
  // to a cache line.
  auto pool = AddPool(job, (std::max<uint32_t>(frame, 128) + 63) / 64 * 64);
  if (!pool.ok()) return pool.status();
  nic::SyntheticConfig c;
  c.num_rx_queues = static_cast<uint16_t>(*o.sources);
  c.num_tx_queues = 0;
  c.num_flows = static_cast<uint32_t>(o.flow_count());
  c.distribution = DistributionOf(o.distribution.value_or("uniform"));
  if (o.zipf_s) c.zipf_s = *o.zipf_s;
  const std::string attack = o.attack.value_or("none");
  const double share = o.attack_share.value_or(kDefaultAttackShare);
  if (attack == "synflood") c.syn_flood_share = share;
  if (attack == "udpflood") c.udp_flood_share = share;
  c.ipv6_share = o.ipv6_share.value_or(0);
  const std::string l4 = o.l4.value_or("tcp");
  c.tcp_share = l4 == "tcp" ? 1 : l4 == "udp" ? 0 : 0.5;
  c.frame_min = c.frame_max = frame;
  c.rate_pps = o.rate;
  c.packets = static_cast<uint64_t>(o.packets);
  c.seed = o.seed_value();
  c.pool = *pool;
  auto port = nic::SyntheticPort::Create(c);
  if (!port.ok()) return port.status();
  AddPort(job, std::move(*port), 0);
  return Status::Ok();
}

Status OpenPcap(StackJob& job) {
  const RunOptions& o = job.options;
  auto pool = AddPool(job, kPcapBufBytes);
  if (!pool.ok()) return pool.status();
  nic::PcapConfig c;
  c.rx_path = job.ingress.arg;
  c.num_rx_queues = static_cast<uint16_t>(*o.sources);
  c.loops = static_cast<uint64_t>(o.loops.value_or(1));
  c.pool = *pool;
  auto port = nic::PcapPort::Open(c);
  if (!port.ok()) return port.status();
  AddPort(job, std::move(*port), 0);
  return Status::Ok();
}

Status OpenDpdk(StackJob& job, bool queues_given) {
  const RunOptions& o = job.options;
  if (Status st = nic::DpdkEal::Init(job.ingress.arg); !st.ok()) return st;
  const std::vector<uint16_t> ids = nic::DpdkEal::PortIds();
  if (ids.empty())
    return Status(ErrorCode::kNotFound,
                  fmt::format("--source dpdk: EAL found no ethernet port (EAL args '{}'); add "
                              "--vdev=net_pcap0,rx_pcap=FILE or bind a NIC to a DPDK driver",
                              job.ingress.arg));
  const uint64_t idle_ns = static_cast<uint64_t>(o.idle_ms.value_or(kDefaultIdleMs)) * 1'000'000;
  for (const uint16_t id : ids) {
    auto max_queues = nic::DpdkEal::MaxRxQueues(id);
    if (!max_queues.ok()) return max_queues.status();
    nic::DpdkConfig c;
    c.port_id = id;
    c.num_rx_queues = queues_given ? static_cast<uint16_t>(*o.sources)
                                   : std::min<uint16_t>(static_cast<uint16_t>(o.cpus),
                                                        std::max<uint16_t>(*max_queues, 1));
    c.num_tx_queues = 0;
    auto port = nic::DpdkPort::Create(c);
    if (!port.ok()) return port.status();
    AddPort(job, std::move(*port), idle_ns);
  }
  return Status::Ok();
}

Status Build(StackJob& job, bool queues_given) {
  const RunOptions& o = job.options;
  (void)sched::FastClock::Global();  // calibrate now, not inside the timed run
  if (!o.filter.empty()) {
    auto filter = proto::EarlyFilter::Parse(o.filter);
    if (!filter.ok()) return filter.status();
    job.filter = std::move(*filter);
  }
  job.budget = std::make_unique<RxBudget>(static_cast<uint64_t>(o.packets));
  Status opened = Status::Ok();
  switch (job.ingress.kind) {
    case IngressKind::kSynthetic:
      opened = OpenSynthetic(job);
      break;
    case IngressKind::kPcap:
      opened = OpenPcap(job);
      break;
    case IngressKind::kDpdk:
      opened = OpenDpdk(job, queues_given);
      break;
    case IngressKind::kBench:
      opened = Status(ErrorCode::kInvalidArgument, "RunStack needs --source");
      break;
  }
  if (!opened.ok()) return opened;

  auto model = MakeWorkModel(o.model);
  if (!model.ok()) return model.status();
  auto nisr = Netisr::Create(NetisrSettingsFor(o), std::move(*model));
  if (!nisr.ok()) return nisr.status();
  job.nisr = std::move(*nisr);
  if (job.hooks.created) job.hooks.created(*job.nisr);
  job.sink = std::make_unique<StackSink>(static_cast<int>(o.cpus),
                                         static_cast<uint64_t>(o.handler_ns), job.hooks.withhold);
  proto::StackOptions so;
  StackSink* sink = job.sink.get();
  so.deliver = [sink](proto::Layer layer, Burst burst) { sink->Deliver(layer, burst); };
  so.dispatch = *ParseDispatchMode(o.dispatch);
  so.qlimit = static_cast<uint32_t>(o.qlimit);
  auto stack = proto::ProtocolStack::Register(*job.nisr, std::move(so));
  if (!stack.ok()) return stack.status();
  job.stack = std::move(*stack);

  // Each queue on the worker netisr's source policy maps its source id to
  // (pipeline::WorkerOfRxQueue): one thread per queue, as Port asks, and
  // the Ethernet layer (policy source) runs where its queue is polled.
  // Ethernet frames enter the chain at ether; a raw-IP, cooked or loopback
  // capture's packets at ip / ip6 (nic/link_type.h).
  const nic::RxProtocols entry{job.stack->ether(), job.stack->id(proto::Layer::kIp),
                               job.stack->id(proto::Layer::kIp6)};
  for (const auto& port : job.ports) {
    for (uint16_t q = 0; q < port->num_rx_queues(); ++q) {
      job.sources.push_back(
          std::make_unique<nic::RxQueueSource>(*port, q, entry, job.filter.get()));
      if (Status st = job.nisr->AttachSource(
              pipeline::WorkerOfRxQueue(*job.nisr, port->port_id(), q), job.sources.back().get());
          !st.ok())
        return st;
    }
  }
  return Status::Ok();
}

void AddDrops(std::map<std::string, uint64_t>& into, const std::map<std::string, uint64_t>& from) {
  for (const auto& [reason, n] : from)
    if (n != 0) into[reason] += n;
}

RunReport Report(StackJob& job, double seconds) {
  RunReport r;
  r.options = job.options;
  r.source_kind = std::string(ToString(job.ingress.kind));
  for (const auto& src : job.sources) r.source_packets.push_back(src->received());
  for (const auto& port : job.ports) {
    const nic::PortStats ps = port->Stats();
    PortReport pr;
    pr.name = std::string(port->name());
    pr.rx_packets = ps.rx_packets;
    for (size_t d = 0; d < ps.rx_drops.size(); ++d) {
      if (ps.rx_drops[d] == 0) continue;
      pr.rx_drops[std::string("rx_") + nic::ToString(static_cast<nic::RxDrop>(d))] = ps.rx_drops[d];
    }
    AddDrops(r.drops, pr.rx_drops);
    r.packets_in += ps.rx_packets + ps.rx_dropped();
    r.ports.push_back(std::move(pr));
  }
  r.stats = job.nisr->GetStats();
  AddDrops(r.drops, r.stats.drops);
  AddDrops(r.drops, job.stack->DropSnapshot());
  if (job.filter) {
    AddDrops(r.drops, job.filter->DropSnapshot());
    r.filter = job.filter->Stats();
  }
  const DeliveryTally& t = job.sink->tally();
  for (size_t l = 0; l < proto::kNumLayers; ++l) {
    if (const uint64_t n = t.delivered(l); n != 0)
      r.delivered_by_layer[std::string(proto::ToString(static_cast<proto::Layer>(l)))] = n;
  }
  r.delivered = t.delivered();
  r.reordered = t.reordered();
  // Synthetic and pcap: one pool per port, in port order.
  for (size_t i = 0; i < job.pools.size(); ++i) {
    r.pools.push_back(PoolReportOf(
        i < job.ports.size() ? std::string(job.ports[i]->name()) : fmt::format("pool{}", i),
        *job.pools[i]));
  }
  r.latency = t.Latency();
  r.seconds = seconds;
  r.mpps = seconds > 0 ? static_cast<double>(r.delivered) / seconds / 1e6 : 0;
  return r;
}

}  // namespace

Result<RunReport> RunStack(const RunOptions& opts, const RunHooks& hooks) {
  if (Status st = ValidateRunOptions(opts); !st.ok()) return st;
  auto ingress = ParseIngress(opts.source);
  if (!ingress.ok()) return ingress.status();
  StackJob job;
  job.options = opts;
  job.hooks = hooks;
  job.ingress = *ingress;
  const bool queues_given = opts.sources.has_value();
  if (!job.options.sources) job.options.sources = job.options.cpus;
  if (Status st = Build(job, queues_given); !st.ok()) return st;
  std::vector<TraceSample> trace;
  auto took = DriveToIdle(*job.nisr, job.options, trace);
  if (!took.ok()) return took.status();
  double seconds = *took;
  if (job.ingress.kind == IngressKind::kDpdk &&
      job.budget->handed.load(std::memory_order_relaxed) < job.budget->cap) {
    // Ended by --idle-ms: the queues were silent that long before the end,
    // which is not packet-processing time.
    const double idle_s = static_cast<double>(job.options.idle_ms.value_or(kDefaultIdleMs)) / 1e3;
    seconds = std::max(0.0, seconds - idle_s);
  }
  RunReport r = Report(job, seconds);
  r.trace = std::move(trace);
  if (job.ingress.kind == IngressKind::kDpdk) {
    // The RX queues the devices gave, over all ports, for the report.
    r.options.sources = static_cast<int64_t>(job.sources.size());
  }
  return r;
}

}  // namespace netisr::apps
