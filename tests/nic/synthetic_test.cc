// The synthetic generator: determinism, frame validity (checked by
// frame_check.h's own decoder), RSS steering, distributions, flood shares,
// backpressure, quotas and pacing.
#include "nic/synthetic.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <thread>
#include <vector>

#include "tests/nic/frame_check.h"

namespace netisr::nic {
namespace {

using testing::CheckFrame;
using testing::Decoded;

std::unique_ptr<PacketPool> Pool(uint32_t n, uint32_t buf = 2048) {
  return std::move(PacketPool::Create(n, buf)).value();
}

std::unique_ptr<SyntheticPort> Port(const SyntheticConfig& c) {
  auto p = SyntheticPort::Create(c);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? std::move(p).value() : nullptr;
}

struct Rx {
  uint16_t queue;
  std::vector<uint8_t> bytes;
  uint32_t flowid;
  HashType type;
  uint16_t source;
  uint64_t seq;
  uint64_t ingress_ns;
};

// Drains every queue round-robin (bursts of 32) until all are exhausted or
// `limit` packets came; copies and releases each packet.
std::vector<Rx> Drain(SyntheticPort& port, uint64_t limit = UINT64_MAX) {
  std::vector<Rx> out;
  Packet* burst[32];
  bool more = true;
  while (more && out.size() < limit) {
    more = false;
    for (uint16_t q = 0; q < port.num_rx_queues(); ++q) {
      const size_t n = port.RxBurst(q, burst);
      more |= !port.RxExhausted(q);
      for (size_t i = 0; i < n; ++i) {
        Packet* p = burst[i];
        out.push_back({q,
                       {p->data, p->data + p->len},
                       p->flowid,
                       p->hash_type,
                       p->source,
                       p->seq,
                       p->ingress_ns});
        Release(p);
      }
    }
  }
  return out;
}

SyntheticConfig Mixed(PacketPool* pool) {
  SyntheticConfig c;
  c.num_rx_queues = 4;
  c.num_flows = 300;
  c.distribution = FlowDistribution::kZipf;
  c.ipv6_share = 0.5;
  c.tcp_share = 0.5;
  c.syn_flood_share = 0.1;
  c.udp_flood_share = 0.1;
  c.frame_min = 96;  // room for the payload mark behind any header (SYNs: 58..78 B)
  c.frame_max = 400;
  c.packets = 20000;
  c.seed = 42;
  c.pool = pool;
  return c;
}

TEST(Synthetic, SameSeedSameFramesDifferentSeedDifferent) {
  auto pool = Pool(4096);
  SyntheticConfig c = Mixed(pool.get());
  auto a = Drain(*Port(c));
  auto b = Drain(*Port(c));
  ASSERT_EQ(a.size(), 20000u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].queue, b[i].queue);
    ASSERT_EQ(a[i].bytes, b[i].bytes) << i;
    ASSERT_EQ(a[i].seq, b[i].seq);
  }
  c.seed = 43;
  auto d = Drain(*Port(c));
  size_t same = 0;
  for (size_t i = 0; i < std::min(a.size(), d.size()); ++i) same += a[i].bytes == d[i].bytes;
  EXPECT_LT(same, a.size() / 100);
}

TEST(Synthetic, FramesAreValidAndSteeredByRss) {
  auto pool = Pool(4096);
  SyntheticConfig c = Mixed(pool.get());
  c.port_id = 3;
  auto port = Port(c);
  auto rx = Drain(*port);
  ASSERT_EQ(rx.size(), c.packets);
  std::map<uint32_t, uint64_t> last_seq;  // flow -> last seq
  std::map<uint32_t, uint16_t> flow_queue;
  size_t v6 = 0, tcp = 0, marks = 0, syns = 0;
  for (const Rx& r : rx) {
    Decoded d;
    const std::string err = CheckFrame(r.bytes, &d);
    ASSERT_EQ(err, "") << "packet seq " << r.seq;
    if (d.tcp_flags & 0x02) {  // SYNs carry no data: headers, padded to 60
      ASSERT_EQ(r.bytes.size(), d.v6 ? 78u : 60u);
    } else {
      ASSERT_GE(r.bytes.size(), c.frame_min);
      ASSERT_LE(r.bytes.size(), c.frame_max);
    }
    // The flowid is the Toeplitz hash of the frame, as a NIC computes it,
    // and the RETA put the packet on this queue.
    const RssHash h = HashFrame(Toeplitz::Default(), r.bytes);
    ASSERT_EQ(r.flowid, h.hash);
    ASSERT_EQ(r.type, h.type);
    ASSERT_EQ(port->reta().Queue(h.hash), r.queue);
    ASSERT_EQ(r.source, SourceId(3, r.queue));
    v6 += d.v6;
    tcp += d.proto == 6;
    syns += (d.tcp_flags & 0x02) != 0;
    if (d.has_mark) {
      ++marks;
      ASSERT_EQ(d.mark.seq, r.seq);
    }
    if (r.seq == 0) continue;  // flood packet
    ASSERT_TRUE(d.has_mark || (d.tcp_flags & 0x02)) << "legit data packet without room?";
    const uint32_t flow = d.has_mark ? d.mark.flow : UINT32_MAX;
    if (r.seq == 1 && d.proto == 6) {
      ASSERT_TRUE(d.tcp_flags & 0x02) << "first TCP packet not SYN";
    }
    if (flow == UINT32_MAX) continue;  // a SYN: no payload, no mark
    // Consecutive per flow; a TCP flow's SYN (seq 1) was not seen by flow.
    const uint64_t expect = last_seq[flow] == 0 && d.proto == 6 ? 2 : last_seq[flow] + 1;
    ASSERT_EQ(r.seq, expect) << "flow " << flow;
    last_seq[flow] = r.seq;
    auto [it, fresh] = flow_queue.emplace(flow, r.queue);
    ASSERT_EQ(it->second, r.queue) << "flow on two queues";
  }
  EXPECT_NEAR(static_cast<double>(v6) / rx.size(), 0.5, 0.1);
  EXPECT_GT(tcp, rx.size() / 4);
  EXPECT_GT(marks, rx.size() / 2);
  EXPECT_GT(syns, rx.size() / 20);
}

// Share of legitimate packets per flow index (from the payload mark).
std::map<uint32_t, double> FlowShares(const std::vector<Rx>& rx) {
  std::map<uint32_t, double> n;
  double total = 0;
  for (const Rx& r : rx) {
    if (r.seq == 0) continue;
    Decoded d;
    EXPECT_EQ(CheckFrame(r.bytes, &d), "");
    EXPECT_TRUE(d.has_mark);
    n[d.mark.flow] += 1;
    total += 1;
  }
  for (auto& [f, v] : n) v /= total;
  return n;
}

SyntheticConfig Udp(PacketPool* pool, FlowDistribution dist) {
  SyntheticConfig c;
  c.num_rx_queues = 4;
  c.num_flows = 1000;
  c.distribution = dist;
  c.tcp_share = 0;  // UDP: every packet carries the mark
  c.frame_min = c.frame_max = 128;
  c.packets = 200000;
  c.pool = pool;
  return c;
}

TEST(Synthetic, ElephantsCarryTheirShare) {
  auto pool = Pool(4096, 256);
  SyntheticConfig c = Udp(pool.get(), FlowDistribution::kElephants);
  auto shares = FlowShares(Drain(*Port(c)));
  double elephants = 0;
  for (uint32_t f = 0; f < 100; ++f) elephants += shares[f];
  EXPECT_NEAR(elephants, 0.9, 0.02);
}

TEST(Synthetic, ZipfHeadAndUniformSpread) {
  auto pool = Pool(4096, 256);
  SyntheticConfig c = Udp(pool.get(), FlowDistribution::kZipf);
  c.zipf_s = 1.0;
  auto zipf = FlowShares(Drain(*Port(c)));
  double h = 0;
  for (int r = 1; r <= 1000; ++r) h += 1.0 / r;
  EXPECT_NEAR(zipf[0], 1 / h, 0.1 / h);
  EXPECT_NEAR(zipf[1], 0.5 / h, 0.1 / h);
  EXPECT_NEAR(zipf[9], 0.1 / h, 0.05 / h);

  c.distribution = FlowDistribution::kUniform;
  auto uni = FlowShares(Drain(*Port(c)));
  EXPECT_EQ(uni.size(), 1000u);
  for (auto& [f, s] : uni) ASSERT_NEAR(s, 0.001, 0.0005) << f;
}

TEST(Synthetic, FloodSharesAndRandomSources) {
  auto pool = Pool(4096);
  SyntheticConfig c = Mixed(pool.get());
  c.syn_flood_share = 0.2;
  c.udp_flood_share = 0.1;
  c.packets = 100000;
  auto rx = Drain(*Port(c));
  size_t syn = 0, udp = 0;
  std::map<std::vector<uint8_t>, int> sources;
  for (const Rx& r : rx) {
    if (r.seq != 0) continue;
    Decoded d;
    ASSERT_EQ(CheckFrame(r.bytes, &d), "");
    if (d.proto == 6) {
      ASSERT_EQ(d.tcp_flags, 0x02);
      ++syn;
    } else {
      ASSERT_TRUE(d.has_mark);
      ASSERT_EQ(d.mark.flow, kAttackFlow);
      ++udp;
    }
    const size_t off = d.v6 ? 22 : 26, len = d.v6 ? 16 : 4;
    sources[{r.bytes.begin() + off, r.bytes.begin() + off + len}]++;
  }
  EXPECT_NEAR(static_cast<double>(syn) / rx.size(), 0.2, 0.01);
  EXPECT_NEAR(static_cast<double>(udp) / rx.size(), 0.1, 0.01);
  EXPECT_GT(sources.size(), (syn + udp) * 95 / 100);  // random, nearly all distinct
}

TEST(Synthetic, QuotasSumExactlyAndQueuesEnd) {
  auto pool = Pool(1024);
  SyntheticConfig c = Mixed(pool.get());
  c.packets = 12345;
  auto port = Port(c);
  uint64_t sum = 0;
  for (uint16_t q = 0; q < 4; ++q) sum += port->quota(q);
  EXPECT_EQ(sum, 12345u);
  EXPECT_EQ(Drain(*port).size(), 12345u);
  for (uint16_t q = 0; q < 4; ++q) EXPECT_TRUE(port->RxExhausted(q));
  const PortStats s = port->Stats();
  EXPECT_EQ(s.rx_packets, 12345u);
  EXPECT_EQ(s.rx_dropped(), 0u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST(Synthetic, EmptyPoolIsBackpressureNotLoss) {
  auto pool = Pool(16, 256);
  SyntheticConfig c = Udp(pool.get(), FlowDistribution::kUniform);
  c.num_rx_queues = 1;
  c.num_flows = 1;
  c.packets = 0;  // endless
  auto port = Port(c);
  Packet* a[32];
  Packet* b[32];
  EXPECT_EQ(port->RxBurst(0, a), 16u);
  EXPECT_EQ(port->RxBurst(0, b), 0u);
  for (int i = 0; i < 16; ++i) Release(a[i]);
  ASSERT_EQ(port->RxBurst(0, b), 16u);
  EXPECT_EQ(b[0]->seq, 17u);  // nothing skipped
  EXPECT_EQ(port->Stats().rx_dropped(), 0u);
  EXPECT_FALSE(port->RxExhausted(0));
  // TX is a sink that takes ownership of everything.
  ASSERT_EQ(port->TxBurst(0, {b, 16}), 16u);
  EXPECT_EQ(pool->available(), 16u);
  EXPECT_EQ(port->Stats().tx_packets, 16u);
}

TEST(Synthetic, PacedRateIsRoughlyHonoured) {
  auto pool = Pool(4096, 256);
  SyntheticConfig c = Udp(pool.get(), FlowDistribution::kUniform);
  c.num_rx_queues = 2;
  c.rate_pps = 200000;  // 200 packets per ms over the port
  c.packets = 0;
  auto port = Port(c);
  const auto start = std::chrono::steady_clock::now();
  uint64_t got = 0, last_ingress[2] = {0, 0};
  Packet* burst[64];
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50)) {
    for (uint16_t q = 0; q < 2; ++q) {
      const size_t n = port->RxBurst(q, burst);
      for (size_t i = 0; i < n; ++i) {
        EXPECT_GE(burst[i]->ingress_ns, last_ingress[q]);
        last_ingress[q] = burst[i]->ingress_ns;
        Release(burst[i]);
      }
      got += n;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // Never ahead of the rate (plus the first packet of each queue); loosely
  // behind is fine on a loaded machine.
  EXPECT_LE(got, 200 * ms + 2 + 64);
  EXPECT_GE(got, 200 * 50 / 4);
}

TEST(Synthetic, RejectsBadConfigsNamingTheField) {
  auto pool = Pool(16, 128);
  SyntheticConfig c;
  auto r = SyntheticPort::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pool"), std::string::npos);
  c.pool = pool.get();
  c.syn_flood_share = 0.6;
  c.udp_flood_share = 0.5;
  r = SyntheticPort::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("flood"), std::string::npos);
  c.syn_flood_share = c.udp_flood_share = 0;
  c.frame_max = 1514;
  r = SyntheticPort::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("128"), std::string::npos);
  c.frame_max = 64;
  c.num_rx_queues = 65;
  EXPECT_FALSE(SyntheticPort::Create(c).ok());
  c.num_rx_queues = 1;
  c.num_flows = 0;
  EXPECT_FALSE(SyntheticPort::Create(c).ok());
}

}  // namespace
}  // namespace netisr::nic
