// minimal_forwarder: the smallest program on the pipeline API
// (pipeline/pipeline.h; docs/embedding.md walks through it). Two ports;
// every IPv4 and IPv6 packet that arrives on one leaves by the other, its
// MACs rewritten; everything else (ARP, garbage) is counted, never lost.
//
//   minimal_forwarder [--workers N] --synthetic PACKETS
//       two synthetic ports, PACKETS frames each, run until they are sent
//   minimal_forwarder [--workers N] --seconds S -- EAL-ARGS...
//       the first two DPDK ports the EAL arguments give, for S seconds
//
// Prints `in=I out=O dropped=D` and the drops by reason; exits 0 when
// I == O + D (every frame accounted for), 1 otherwise, 2 on bad usage.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "nic/dpdk_port.h"
#include "nic/synthetic.h"
#include "pipeline/pipeline.h"

using namespace netisr;

namespace {

// Our MAC on port p and the next hop's behind it (locally administered).
void RewriteMacs(Packet* pkt, uint16_t out) {
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0x02, static_cast<uint8_t>(out)};
  const uint8_t src[6] = {0x02, 0, 0, 0, 0x01, static_cast<uint8_t>(out)};
  std::memcpy(pkt->data, dst, 6);
  std::memcpy(pkt->data + 6, src, 6);
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "minimal_forwarder: %s\nusage: minimal_forwarder [--workers N] "
               "(--synthetic PACKETS | --seconds S -- EAL-ARGS...)\n",
               why);
  return 2;
}

int Fail(const Status& st) {  // a runtime failure: exit 1
  std::fprintf(stderr, "minimal_forwarder: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long workers = 1, synthetic = 0, seconds = 0;
  std::string eal;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    long* into = a == "--workers"     ? &workers
                 : a == "--synthetic" ? &synthetic
                 : a == "--seconds"   ? &seconds
                                      : nullptr;
    if (a == "--") {
      for (++i; i < argc; ++i) eal += std::string(eal.empty() ? "" : " ") + argv[i];
    } else if (into != nullptr && i + 1 < argc) {
      char* end;
      *into = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || *into < 1) return Usage((a + " needs a positive integer").c_str());
    } else {
      return Usage(("unknown or incomplete argument " + a).c_str());
    }
  }
  if ((synthetic > 0) == (seconds > 0)) return Usage("give --synthetic or --seconds");

  // 1. The pipeline: netisr with `workers` polling workers, direct dispatch
  // (each frame runs up to the hook on the worker that polled it).
  pipeline::PipelineOptions o;
  o.netisr.max_threads = static_cast<int>(workers);
  o.netisr.bind_threads = false;
  o.model = "poll";
  o.dispatch = DispatchMode::kDirect;
  pipeline::Pipeline* pipe = nullptr;  // set below, before Start
  // 2. The IP-layer hook: every IP packet is transit here. It runs on a
  // worker, once per stage of up to 32 packets, before any L4 check.
  o.ip_hook = [&pipe](proto::Layer, std::span<Packet* const> pkts, proto::IpVerdict* verdict) {
    for (size_t i = 0; i < pkts.size(); ++i) {
      const uint16_t in = pkts[i]->source / nic::kMaxQueuesPerPort;  // nic::SourceId
      const uint16_t out = in ^ 1;
      RewriteMacs(pkts[i], out);
      verdict[i] = proto::IpVerdict::kTaken;  // ours now: staged for `out`
      pipe->Send(out, pkts[i]);
    }
  };
  // No deliver: ARP and the like are released and counted (local_unclaimed).
  auto created = pipeline::Pipeline::Create(std::move(o));
  if (!created.ok()) return Fail(created.status());
  pipe = created->get();

  // 3. The ports: two synthetic generators, or the first two DPDK ports.
  for (uint16_t p = 0; p < 2; ++p) {
    Result<uint16_t> added = Status(ErrorCode::kNotFound, "no port");
    if (synthetic > 0) {
      auto pool = PacketPool::Create(4096, 128);
      if (!pool.ok()) return Fail(pool.status());
      nic::SyntheticConfig c;
      c.port_id = p;
      c.num_tx_queues = static_cast<uint16_t>(workers);
      c.packets = static_cast<uint64_t>(synthetic);
      c.ipv6_share = 0.3;
      c.pool = pool->get();
      (void)pipe->AdoptPool(std::move(*pool));  // outlives the port
      auto port = nic::SyntheticPort::Create(c);
      if (!port.ok()) return Fail(port.status());
      added = pipe->AddPort(std::move(*port));
    } else {
      if (p == 0) {
        if (Status st = nic::DpdkEal::Init(eal); !st.ok()) return Fail(st);
      }
      const auto ids = nic::DpdkEal::PortIds();
      if (ids.size() < 2)
        return Fail(Status(ErrorCode::kNotFound, "EAL gave fewer than two ports"));
      nic::DpdkConfig c;
      c.port_id = ids[p];
      c.num_tx_queues = static_cast<uint16_t>(workers);  // one per worker: no TX lock
      added = pipe->AddDpdkPort(c);
    }
    if (!added.ok()) return Fail(added.status());
  }

  // 4. Run: each RX queue is polled by the worker its source id maps to.
  if (Status st = pipe->Start(); !st.ok()) return Fail(st);
  if (synthetic > 0) {
    pipe->netisr().RunUntilIdle();  // the generators run out
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  }
  // 5. Stop: workers stop, queued packets drain, TX stages flush. The
  // counters are exact from here; the destructor frees in order.
  pipe->Stop();
  const pipeline::PipelineStats s = pipe->Stats();
  uint64_t dropped = 0, in = s.rx_packets;  // `in`: ports' RX drops too (in s.drops)
  for (const auto& [reason, n] : s.drops) dropped += n;
  for (const pipeline::PortCounters& p : s.ports) in += p.port.rx_dropped();
  std::printf("in=%lu out=%lu dropped=%lu\n", static_cast<unsigned long>(in),
              static_cast<unsigned long>(s.tx_packets), static_cast<unsigned long>(dropped));
  for (const auto& [reason, n] : s.drops)
    std::printf("  %s=%lu\n", reason.c_str(), static_cast<unsigned long>(n));
  created->reset();  // the teardown the header states (as leaving main would)
  return in == s.tx_packets + dropped ? 0 : 1;
}
