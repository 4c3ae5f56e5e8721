// DpdkPort over DPDK virtual devices, no hugepages, no NIC: round trips
// through net_ring (TX loops back to RX of the same port) and net_pcap
// (rx_pcap = a synthetic trace, tx_pcap = a capture read back and compared
// byte for byte), flowids (software Toeplitz on these vdevs), partial sends,
// mbuf accounting (the mempool is full again at the end), and errors.
//
// EAL can be initialised once per process, so every test that needs a live
// EAL shares one init (DpdkTest::SetUpTestSuite, lazily, rather than a gtest
// Environment: the death tests below re-execute this binary for one test and
// must start without EAL, to check what an EAL init failure or a missing
// device reports).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "nic/dpdk_port.h"
#include "nic/pcap_port.h"
#include "nic/rss.h"
#include "nic/synthetic.h"

namespace netisr::nic {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

constexpr size_t kTraceFrames = 2000;

SyntheticConfig GenConfig() {
  SyntheticConfig c;
  c.num_rx_queues = 1;
  c.num_flows = 100;
  c.distribution = FlowDistribution::kZipf;
  c.ipv6_share = 0.3;
  c.tcp_share = 0.6;
  c.frame_min = 60;
  c.frame_max = 1400;
  c.seed = 11;
  return c;
}

std::string EalArgs(const std::string& trace, const std::string& out) {
  return "--no-huge --no-pci --no-shconf -m 512 --file-prefix=nisr_dpdk_test_" +
         std::to_string(getpid()) +
         " --log-level=lib.eal:warning --vdev=net_ring0 --vdev=net_ring1 --vdev=net_ring2 "
         "--vdev=net_ring3 --vdev=net_ring4 --vdev=net_null0 --vdev=net_null1" +
         " --vdev=net_pcap0,rx_pcap=" + trace + ",tx_pcap=" + out;
}

class DpdkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (DpdkEal::initialized()) return;
    trace_ = TmpPath("dpdk_trace.pcap");
    out_ = TmpPath("dpdk_out.pcap");
    // The pcap vdev opens its files at EAL init: write the trace first.
    ASSERT_TRUE(WriteSyntheticTrace(GenConfig(), kTraceFrames, trace_).ok());
    const Status st = DpdkEal::Init(EalArgs(trace_, out_));
    ASSERT_TRUE(st.ok()) << st.message();
  }
  static std::unique_ptr<DpdkPort> Open(const std::string& dev, uint16_t rxq = 1, uint16_t txq = 1,
                                        bool software_flowid_ipv4 = true) {
    auto id = DpdkEal::FindPort(dev);
    EXPECT_TRUE(id.ok()) << id.status().message();
    if (!id.ok()) return nullptr;
    DpdkConfig c;
    c.port_id = *id;
    c.num_rx_queues = rxq;
    c.num_tx_queues = txq;
    c.rx_desc = 512;
    c.tx_desc = 512;
    c.in_flight = 4096;
    c.software_flowid_ipv4 = software_flowid_ipv4;
    auto p = DpdkPort::Create(c);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  static std::string trace_, out_;
};
std::string DpdkTest::trace_, DpdkTest::out_;

std::vector<std::vector<uint8_t>> TraceFrames(const std::string& path) {
  auto r = ReadPcap(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  std::vector<std::vector<uint8_t>> out;
  if (r.ok())
    for (auto& rec : *r) out.push_back(rec.bytes);
  return out;
}

void CheckRxPacket(const DpdkPort& port, const Packet* p, uint16_t queue) {
  EXPECT_TRUE(DpdkPort::IsMbufPacket(p));
  EXPECT_NE(p->backing, nullptr);
  EXPECT_EQ(DpdkPort::PacketOf(static_cast<rte_mbuf*>(p->backing)), p);
  EXPECT_EQ(p->source, SourceId(port.port_id(), queue));
  const RssHash h = HashFrame(Toeplitz::Default(), {p->data, p->len});
  EXPECT_EQ(p->hash_type, h.type);
  EXPECT_EQ(p->flowid, h.hash);
}

// n packets of `pool` holding copies of the frames, in order, from the
// first again when n is more.
std::vector<Packet*> Copies(PacketPool& pool, const std::vector<std::vector<uint8_t>>& frames,
                            size_t n) {
  std::vector<Packet*> pkts;
  for (size_t i = 0; i < n; ++i) {
    Packet* p = pool.Alloc();
    const auto& f = frames[i % frames.size()];
    std::memcpy(p->data, f.data(), f.size());
    p->len = static_cast<uint32_t>(f.size());
    pkts.push_back(p);
  }
  return pkts;
}

// Receives until `want` packets came or ~2 s of empty polls.
std::vector<Packet*> Receive(DpdkPort& port, uint16_t queue, size_t want) {
  std::vector<Packet*> got;
  Packet* burst[32];
  for (int idle = 0; got.size() < want && idle < 20000;) {
    const size_t n = port.RxBurst(queue, burst);
    if (n == 0) {
      ++idle;
      usleep(100);
    }
    got.insert(got.end(), burst, burst + n);
  }
  return got;
}

TEST_F(DpdkTest, RingRoundTripCopiesThenZeroCopy) {
  auto port = Open("net_ring0");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->rss_mode(), RssMode::kSoftware);  // net_ring has no RSS
  EXPECT_EQ(port->driver(), "net_ring");
  const uint32_t full = port->mempool_available();
  EXPECT_EQ(full, port->mempool_size());
  const auto frames = TraceFrames(trace_);
  ASSERT_EQ(frames.size(), kTraceFrames);

  // Frames in PacketPool packets (not mbufs): TX copies them into mbufs.
  auto pool = std::move(PacketPool::Create(256, 2048)).value();
  std::vector<Packet*> pkts = Copies(*pool, frames, 200);
  ASSERT_EQ(port->TxBurst(0, pkts), pkts.size());
  EXPECT_EQ(pool->available(), pool->capacity());  // originals released after the copy
  EXPECT_EQ(port->ExtendedStats().tx_copied, 200u);

  auto rx = Receive(*port, 0, 200);
  ASSERT_EQ(rx.size(), 200u);
  for (size_t i = 0; i < rx.size(); ++i) {
    ASSERT_EQ(std::vector<uint8_t>(rx[i]->data, rx[i]->data + rx[i]->len), frames[i]) << i;
    EXPECT_EQ(rx[i]->seq, i + 1);
    CheckRxPacket(*port, rx[i], 0);
  }
  // Zero-copy: send the received mbufs back (a protocol trimmed 4 bytes
  // off the front of each, which TX must honour), receive them again.
  for (Packet* p : rx) {
    p->data += 4;
    p->len -= 4;
  }
  ASSERT_EQ(port->TxBurst(0, rx), rx.size());
  EXPECT_EQ(port->ExtendedStats().tx_copied, 200u);  // none copied this time
  auto rx2 = Receive(*port, 0, 200);
  ASSERT_EQ(rx2.size(), 200u);
  for (size_t i = 0; i < rx2.size(); ++i) {
    ASSERT_EQ(std::vector<uint8_t>(rx2[i]->data, rx2[i]->data + rx2[i]->len),
              std::vector<uint8_t>(frames[i].begin() + 4, frames[i].end()))
        << i;
    Release(rx2[i]);
  }
  const PortStats s = port->Stats();
  EXPECT_EQ(s.rx_packets, 400u);
  EXPECT_EQ(s.tx_packets, 400u);
  EXPECT_EQ(s.tx_full, 0u);
  EXPECT_EQ(s.rx_dropped(), 0u);
  EXPECT_EQ(port->ExtendedStats().hw_opackets, 400u);
  EXPECT_EQ(port->mempool_available(), full);
}

// DpdkConfig::software_flowid_ipv4 off (what the router asks for): untagged
// IPv4 frames the device did not hash come without a flowid, every other
// frame (the trace's IPv6) with the software hash; bytes and the rest as
// ever; and the port no longer says how it hashes.
TEST_F(DpdkTest, SoftwareFlowidOffLeavesIpv4FramesWithoutOne) {
  auto port = Open("net_ring4", 1, 1, /*software_flowid_ipv4=*/false);
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(port->rx_flow_hash().toeplitz, nullptr);
  const auto frames = TraceFrames(trace_);
  auto pool = std::move(PacketPool::Create(64, 2048)).value();
  std::vector<Packet*> pkts = Copies(*pool, frames, 50);
  ASSERT_EQ(port->TxBurst(0, pkts), pkts.size());
  auto rx = Receive(*port, 0, 50);
  ASSERT_EQ(rx.size(), 50u);
  size_t v4 = 0, other = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    EXPECT_EQ(std::vector<uint8_t>(rx[i]->data, rx[i]->data + rx[i]->len), frames[i]) << i;
    if (IsUntaggedIpv4({rx[i]->data, rx[i]->len})) {
      EXPECT_FALSE(rx[i]->has_flowid()) << i;
      ++v4;
    } else {
      const RssHash h = HashFrame(Toeplitz::Default(), {rx[i]->data, rx[i]->len});
      EXPECT_EQ(rx[i]->hash_type, h.type) << i;
      EXPECT_EQ(rx[i]->flowid, h.hash) << i;
      ++other;
    }
    EXPECT_EQ(rx[i]->source, SourceId(port->port_id(), 0));
    EXPECT_EQ(rx[i]->seq, i + 1);
    Release(rx[i]);
  }
  EXPECT_GT(v4, 0u);
  EXPECT_GT(other, 0u);  // the trace is 30% IPv6
  EXPECT_EQ(port->mempool_available(), port->mempool_size());
}

TEST_F(DpdkTest, RingPartialSendLeavesTheRestWithTheCaller) {
  auto port = Open("net_ring1");
  ASSERT_NE(port, nullptr);
  const uint32_t full = port->mempool_available();
  const auto frames = TraceFrames(trace_);
  auto pool = std::move(PacketPool::Create(3000, 2048)).value();
  std::vector<Packet*> pkts = Copies(*pool, frames, 3000);
  // net_ring's ring holds 1023: the burst is cut short.
  const size_t n = port->TxBurst(0, pkts);
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, pkts.size());
  EXPECT_EQ(pool->available(), pool->capacity() - (pkts.size() - n));
  EXPECT_EQ(port->Stats().tx_full, pkts.size() - n);
  for (size_t i = n; i < pkts.size(); ++i) Release(pkts[i]);  // the caller's
  EXPECT_EQ(pool->available(), pool->capacity());
  auto rx = Receive(*port, 0, n);
  EXPECT_EQ(rx.size(), n);

  // The zero-copy burst cut short (TxBurst's all-mbuf fast path): fill the
  // ring with copies but for `room` slots, then offer the received mbufs.
  constexpr size_t kRoom = 100;
  std::vector<Packet*> fill = Copies(*pool, frames, n > kRoom ? n - kRoom : 0);
  ASSERT_EQ(port->TxBurst(0, fill), fill.size());
  const PortStats before = port->Stats();
  const size_t m = port->TxBurst(0, rx);
  EXPECT_EQ(m, kRoom);
  uint64_t sent_bytes = 0;
  for (size_t i = 0; i < m; ++i) sent_bytes += frames[i % frames.size()].size();
  const PortStats after = port->Stats();
  EXPECT_EQ(after.tx_packets - before.tx_packets, m);
  EXPECT_EQ(after.tx_bytes - before.tx_bytes, sent_bytes);
  EXPECT_EQ(after.tx_full - before.tx_full, rx.size() - m);
  for (size_t i = m; i < rx.size(); ++i) Release(rx[i]);  // refused: still the caller's
  auto back = Receive(*port, 0, n);
  EXPECT_EQ(back.size(), n);
  for (Packet* p : back) Release(p);
  EXPECT_EQ(pool->available(), pool->capacity());
  EXPECT_EQ(port->mempool_available(), full);
}

TEST_F(DpdkTest, OversizeNonMbufPacketIsDroppedNotRefused) {
  auto port = Open("net_ring2");
  ASSERT_NE(port, nullptr);
  const uint32_t full = port->mempool_available();
  auto pool = std::move(PacketPool::Create(3, 4096)).value();
  const auto frames = TraceFrames(trace_);
  Packet* pkts[3];
  for (int i = 0; i < 3; ++i) {
    pkts[i] = pool->Alloc();
    const auto& f = frames[i];
    std::memcpy(pkts[i]->data, f.data(), f.size());
    pkts[i]->len = i == 1 ? 3000 : static_cast<uint32_t>(f.size());  // > 2048 data room
  }
  EXPECT_EQ(port->TxBurst(0, pkts), 3u);
  EXPECT_EQ(pool->available(), 3u);
  EXPECT_EQ(port->ExtendedStats().tx_oversize, 1u);
  EXPECT_EQ(port->Stats().tx_packets, 2u);
  auto rx = Receive(*port, 0, 2);
  ASSERT_EQ(rx.size(), 2u);
  EXPECT_EQ(std::vector<uint8_t>(rx[1]->data, rx[1]->data + rx[1]->len), frames[2]);
  for (Packet* p : rx) Release(p);
  EXPECT_EQ(port->mempool_available(), full);
}

// Port's queue independence: two threads each drive their own TX and RX
// queue (net_ring loops TX queue q to RX queue q) while the main thread
// reads Stats. Run under ThreadSanitizer by scripts/test.sh (`concurrency`).
TEST_F(DpdkTest, QueuesRunOnTheirOwnThreads) {
  auto port = Open("net_ring3", 2, 2);
  ASSERT_NE(port, nullptr);
  const uint32_t full = port->mempool_available();
  const auto frames = TraceFrames(trace_);
  constexpr size_t kPerQueue = 3000;
  bool ok[2] = {false, false};
  auto run = [&](uint16_t q) {
    auto pool = std::move(PacketPool::Create(64, 2048)).value();
    size_t sent = 0, got = 0;
    bool good = true;
    Packet* burst[32];
    for (int idle = 0; got < kPerQueue && idle < 100000;) {
      if (sent < kPerQueue) {
        Packet* p = pool->Alloc();
        if (p != nullptr) {
          const auto& f = frames[(sent * 2 + q) % frames.size()];
          std::memcpy(p->data, f.data(), f.size());
          p->len = static_cast<uint32_t>(f.size());
          if (port->TxBurst(q, {&p, 1}) == 1)
            ++sent;
          else
            Release(p);
        }
      }
      const size_t n = port->RxBurst(q, burst);
      if (n == 0) ++idle;
      for (size_t i = 0; i < n; ++i) {
        const auto& f = frames[(got * 2 + q) % frames.size()];
        good = good && burst[i]->source == SourceId(port->port_id(), q) &&
               burst[i]->seq == got + 1 &&
               std::equal(f.begin(), f.end(), burst[i]->data, burst[i]->data + burst[i]->len);
        ++got;
        Release(burst[i]);
      }
    }
    ok[q] = good && got == kPerQueue && pool->available() == pool->capacity();
  };
  std::thread t0(run, 0), t1(run, 1);
  uint64_t seen = 0;
  for (int i = 0; i < 100; ++i) seen = std::max(seen, port->Stats().rx_packets);
  t0.join();
  t1.join();
  EXPECT_TRUE(ok[0]);
  EXPECT_TRUE(ok[1]);
  const PortStats s = port->Stats();
  EXPECT_EQ(s.rx_packets, 2 * kPerQueue);
  EXPECT_EQ(s.tx_packets, 2 * kPerQueue);
  EXPECT_LE(seen, s.rx_packets);
  EXPECT_EQ(port->mempool_available(), full);
}

// A polling thread that is not an EAL lcore becomes one on its first
// RxBurst (a mempool cache for its mbufs) and gives the id back when it
// exits: 200 threads in turn, more than RTE_MAX_LCORE (128), all get one.
// Received mbufs carry release_bulk, and ReleaseBulk returns them all.
TEST_F(DpdkTest, PollingThreadsBecomeLcoresAndFreeInBulk) {
  auto port = Open("net_null1");
  ASSERT_NE(port, nullptr);
  const uint32_t full = port->mempool_available();
  EXPECT_GE(DpdkPort::CurrentLcore(), 0);  // the EAL main thread
  for (int i = 0; i < 200; ++i) {
    int before = -2, during = -2;
    size_t got = 0, bulk = 0;
    std::thread t([&] {
      before = DpdkPort::CurrentLcore();
      Packet* burst[32];
      got = port->RxBurst(0, burst);
      during = DpdkPort::CurrentLcore();
      for (size_t k = 0; k < got; ++k) bulk += burst[k]->release_bulk != nullptr;
      ReleaseBulk({burst, got});
    });
    t.join();
    ASSERT_EQ(before, -1) << i;
    ASSERT_GE(during, 0) << i;
    ASSERT_GT(got, 0u) << i;  // net_null always has frames
    ASSERT_EQ(bulk, got) << i;
  }
  EXPECT_EQ(port->mempool_available(), full);
}

TEST_F(DpdkTest, PcapReplayAndCaptureKeepEveryByte) {
  const auto frames = TraceFrames(trace_);
  {
    auto port = Open("net_pcap0");
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->driver(), "net_pcap");
    EXPECT_EQ(port->rss_mode(), RssMode::kSoftware);
    // The pcap PMD's address: 02:70:63:61:70 ("\x02pcap"), then an index.
    EXPECT_EQ(std::vector<uint8_t>(port->mac().begin(), port->mac().begin() + 5),
              (std::vector<uint8_t>{0x02, 0x70, 0x63, 0x61, 0x70}));
    const uint32_t full = port->mempool_available();
    auto rx = Receive(*port, 0, frames.size());
    ASSERT_EQ(rx.size(), frames.size());
    for (size_t i = 0; i < rx.size(); ++i) {
      ASSERT_EQ(std::vector<uint8_t>(rx[i]->data, rx[i]->data + rx[i]->len), frames[i]) << i;
      EXPECT_NE(rx[i]->hash_type, HashType::kNone);  // real headers: all hashed
      CheckRxPacket(*port, rx[i], 0);
    }
    // Send them all to the capture, zero-copy, retrying partial sends.
    size_t sent = 0;
    for (int tries = 0; sent < rx.size() && tries < 1000; ++tries)
      sent += port->TxBurst(0, std::span<Packet* const>(rx).subspan(sent));
    ASSERT_EQ(sent, rx.size());
    EXPECT_EQ(port->ExtendedStats().tx_copied, 0u);
    EXPECT_EQ(port->Stats().rx_packets, frames.size());
    EXPECT_EQ(port->mempool_available(), full);
  }  // closing the port closes the capture file
  EXPECT_EQ(TraceFrames(out_), frames);
}

TEST_F(DpdkTest, ErrorsNameWhatWasWrong) {
  ASSERT_TRUE(DpdkEal::FindPort("net_null0").ok());
  DpdkConfig c;
  c.port_id = 77;
  auto p = DpdkPort::Create(c);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("port id 77 out of range"), std::string::npos)
      << p.status().message();

  auto id = DpdkEal::FindPort("net_nothere0");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(id.status().message().find("net_null0"), std::string::npos) << id.status().message();

  // Same args: the first outcome again; other args: refused.
  EXPECT_TRUE(DpdkEal::Init(DpdkEal::args()).ok());
  const Status again = DpdkEal::Init("--no-huge -m 64");
  EXPECT_EQ(again.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("already initialised"), std::string::npos) << again.message();

  c.port_id = *DpdkEal::FindPort("net_null0");  // no test opens (and closes) it
  c.num_rx_queues = 0;
  p = DpdkPort::Create(c);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("num_rx_queues 0"), std::string::npos);
}

// These run in a fresh process each (threadsafe death tests re-execute the
// binary for one test), where EAL has not been initialised.
class DpdkEalDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(DpdkEalDeathTest, BadEalArgsGiveAnError) {
  EXPECT_EXIT(
      {
        const Status s = DpdkEal::Init("--no-huge --no-shconf --no-such-option");
        std::fprintf(stderr, "STATUS: %s\n", s.message().c_str());
        const Status s2 = DpdkEal::Init("--no-huge --no-shconf --no-such-option");
        std::fprintf(stderr, "AGAIN: %s\n", s2.message().c_str());
        std::_Exit(s.ok() || DpdkEal::initialized() ? 0 : 3);
      },
      ::testing::ExitedWithCode(3),
      "STATUS: dpdk: rte_eal_init with '--no-huge --no-shconf --no-such-option' failed: "
      ".*\nAGAIN: dpdk: rte_eal_init");
}

TEST_F(DpdkEalDeathTest, NoDeviceGivesAnError) {
  EXPECT_EXIT(
      {
        const bool before = !DpdkPort::Create(DpdkConfig{}).ok();  // no EAL yet
        const Status s =
            DpdkEal::Init("--no-huge --no-pci --no-shconf -m 128 --file-prefix=nisr_nodev_" +
                          std::to_string(getpid()));
        if (!s.ok()) std::fprintf(stderr, "INIT: %s\n", s.message().c_str());
        auto p = DpdkPort::Create(DpdkConfig{});
        std::fprintf(stderr, "STATUS: %s\n", p.status().message().c_str());
        std::_Exit(before && s.ok() && !p.ok() ? 3 : 0);
      },
      ::testing::ExitedWithCode(3), "STATUS: dpdk: no ports found");
}

}  // namespace
}  // namespace netisr::nic

namespace netisr::nic {
namespace {

// DPDK's RX checksum verdicts (rte_mbuf_core.h: IP in bits 4 and 7, L4 in
// bits 3 and 8; both bits set is "none", neither "unknown"). "Good" and
// "none" (field not filled in, e.g. virtio partial checksums, data
// verified) become Packet::rx_csum_good bits, which the parse chain then
// trusts (tests/proto/fast_path_test checks that side); a tunnel packet's
// verdicts are about its inner headers and are not trusted.
TEST(DpdkCsumFlags, GoodAndNoneVerdictsAreTrustedOutsideTunnels) {
  constexpr uint64_t kIpBad = 1ull << 4, kIpGood = 1ull << 7, kIpNone = kIpBad | kIpGood;
  constexpr uint64_t kL4Bad = 1ull << 3, kL4Good = 1ull << 8, kL4None = kL4Bad | kL4Good;
  // rte_mbuf_ptype.h: L2_ETHER | L3_IPV4 | L4_TCP, and TUNNEL_VXLAN.
  constexpr uint32_t kPlain = 0x1 | 0x10 | 0x100;
  constexpr uint32_t kVxlan = kPlain | 0x3000;
  EXPECT_EQ(DpdkPort::RxCsumGood(0, kPlain), 0);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpGood, kPlain), kRxCsumIpGood);
  EXPECT_EQ(DpdkPort::RxCsumGood(kL4Good, kPlain), kRxCsumL4Good);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpGood | kL4Good, kPlain), kRxCsumIpGood | kRxCsumL4Good);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpBad | kL4Bad, kPlain), 0);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpNone | kL4None, kPlain), kRxCsumIpGood | kRxCsumL4Good);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpGood | kL4Bad, kPlain), kRxCsumIpGood);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpGood | kL4Good, kVxlan), 0);
  EXPECT_EQ(DpdkPort::RxCsumGood(kIpNone | kL4None, kVxlan), 0);
}

}  // namespace
}  // namespace netisr::nic
