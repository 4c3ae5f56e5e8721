// pcap replay and capture: generator -> WritePcap -> PcapPort RX gives the
// same bytes and RSS hashes on the same queues; looping; TX capture; drops;
// and errors that name the file.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nic/pcap_port.h"
#include "nic/synthetic.h"

namespace netisr::nic {
namespace {

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::unique_ptr<PacketPool> Pool(uint32_t n, uint32_t buf = 2048) {
  return std::move(PacketPool::Create(n, buf)).value();
}

struct Frame {
  std::vector<uint8_t> bytes;
  uint32_t flowid;
  HashType type;
  uint64_t seq;
};

// Everything `port` delivers, per RX queue, in order.
std::vector<std::vector<Frame>> DrainPort(Port& port) {
  std::vector<std::vector<Frame>> out(port.num_rx_queues());
  Packet* burst[32];
  for (bool more = true; more;) {
    more = false;
    for (uint16_t q = 0; q < port.num_rx_queues(); ++q) {
      const size_t n = port.RxBurst(q, burst);
      more |= !port.RxExhausted(q);
      for (size_t i = 0; i < n; ++i) {
        out[q].push_back({{burst[i]->data, burst[i]->data + burst[i]->len},
                          burst[i]->flowid,
                          burst[i]->hash_type,
                          burst[i]->seq});
        Release(burst[i]);
      }
    }
  }
  return out;
}

SyntheticConfig GenConfig(PacketPool* pool) {
  SyntheticConfig c;
  c.num_rx_queues = 4;
  c.num_flows = 200;
  c.distribution = FlowDistribution::kZipf;
  c.ipv6_share = 0.3;
  c.tcp_share = 0.6;
  c.syn_flood_share = 0.05;
  c.frame_min = 60;
  c.frame_max = 600;
  c.packets = 3000;
  c.seed = 7;
  c.pool = pool;
  return c;
}

TEST(Pcap, RoundTripKeepsBytesHashesAndQueues) {
  auto pool = Pool(1024);
  auto gen = std::move(SyntheticPort::Create(GenConfig(pool.get()))).value();
  auto sent = DrainPort(*gen);
  // File order: queue by queue (any order keeps per-queue order).
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& q : sent)
    for (const Frame& f : q) frames.push_back(f.bytes);
  const std::string path = TmpPath("roundtrip.pcap");
  ASSERT_TRUE(WritePcap(path, frames).ok());

  PcapConfig pc;
  pc.rx_path = path;
  pc.num_rx_queues = 4;
  pc.pool = pool.get();
  auto port = PcapPort::Open(pc);
  ASSERT_TRUE(port.ok()) << port.status().message();
  EXPECT_EQ((*port)->trace_frames(), 3000u);
  auto got = DrainPort(**port);
  for (uint16_t q = 0; q < 4; ++q) {
    ASSERT_EQ(got[q].size(), sent[q].size()) << q;
    for (size_t i = 0; i < got[q].size(); ++i) {
      ASSERT_EQ(got[q][i].bytes, sent[q][i].bytes);
      ASSERT_EQ(got[q][i].flowid, sent[q][i].flowid);
      ASSERT_EQ(got[q][i].type, sent[q][i].type);
      if (i > 0) {
        ASSERT_GT(got[q][i].seq, got[q][i - 1].seq);
      }
    }
  }
  const PortStats s = (*port)->Stats();
  EXPECT_EQ(s.rx_packets, 3000u);
  EXPECT_EQ(s.rx_dropped(), 0u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST(Pcap, SyntheticTraceIsDeterministicAndValid) {
  auto pool = Pool(16);
  SyntheticConfig c = GenConfig(pool.get());
  const std::string a = TmpPath("trace_a.pcap"), b = TmpPath("trace_b.pcap");
  ASSERT_TRUE(WriteSyntheticTrace(c, 5000, a).ok());
  ASSERT_TRUE(WriteSyntheticTrace(c, 5000, b).ok());
  auto ra = ReadPcap(a);
  auto rb = ReadPcap(b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  ASSERT_EQ(ra->size(), 5000u);
  ASSERT_EQ(rb->size(), 5000u);
  std::map<uint32_t, HashType> types;
  for (size_t i = 0; i < ra->size(); ++i) {
    ASSERT_EQ((*ra)[i].bytes, (*rb)[i].bytes);
    ASSERT_EQ((*ra)[i].wire_len, (*ra)[i].bytes.size());
    ASSERT_NE(HashFrame(Toeplitz::Default(), (*ra)[i].bytes).type, HashType::kNone);
  }
}

TEST(Pcap, LoopsReplayTheTraceAgain) {
  auto pool = Pool(64);
  const std::string path = TmpPath("loop.pcap");
  ASSERT_TRUE(WriteSyntheticTrace(GenConfig(pool.get()), 100, path).ok());
  PcapConfig pc;
  pc.rx_path = path;
  pc.num_rx_queues = 2;
  pc.loops = 3;
  pc.pool = pool.get();
  auto port = std::move(PcapPort::Open(pc)).value();
  auto got = DrainPort(*port);
  EXPECT_EQ(got[0].size() + got[1].size(), 300u);
  for (const auto& q : got)
    for (size_t i = 1; i < q.size(); ++i) ASSERT_GT(q[i].seq, q[i - 1].seq);

  pc.loops = 0;  // forever
  auto endless = std::move(PcapPort::Open(pc)).value();
  Packet* burst[32];
  uint64_t n = 0;
  for (int i = 0; i < 100; ++i) {
    const size_t k = endless->RxBurst(0, burst);
    for (size_t j = 0; j < k; ++j) Release(burst[j]);
    n += k;
  }
  EXPECT_EQ(n, 3200u);
  EXPECT_FALSE(endless->RxExhausted(0));
}

TEST(Pcap, CaptureWritesWhatWasSent) {
  auto pool = Pool(256);
  auto gen = std::move(SyntheticPort::Create(GenConfig(pool.get()))).value();
  const std::string path = TmpPath("capture.pcap");
  std::vector<std::vector<uint8_t>> sent;
  {
    PcapConfig pc;
    pc.tx_path = path;
    pc.num_tx_queues = 2;
    auto cap = PcapPort::Open(pc);
    ASSERT_TRUE(cap.ok()) << cap.status().message();
    EXPECT_EQ((*cap)->num_tx_queues(), 2);
    EXPECT_TRUE((*cap)->RxExhausted(0));
    Packet* burst[32];
    for (int round = 0; round < 10; ++round) {
      const size_t n = gen->RxBurst(0, burst);
      for (size_t i = 0; i < n; ++i)
        sent.emplace_back(burst[i]->data, burst[i]->data + burst[i]->len);
      ASSERT_EQ((*cap)->TxBurst(round % 2, {burst, n}), n);
    }
    EXPECT_EQ((*cap)->Stats().tx_packets, sent.size());
  }
  EXPECT_EQ(pool->available(), pool->capacity());
  auto back = ReadPcap(path);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) ASSERT_EQ((*back)[i].bytes, sent[i]);
}

TEST(Pcap, OversizeAndTruncatedFramesAreCountedDrops) {
  const std::string path = TmpPath("odd.pcap");
  {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(d, nullptr);
    std::vector<uint8_t> frame(200, 0);
    pcap_pkthdr h{};
    h.caplen = 100;  // cut by snaplen
    h.len = 200;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frame.data());
    h.caplen = h.len = 200;  // larger than the pool's buffers
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frame.data());
    h.caplen = h.len = 60;  // fine (not IP: no hash, queue 0)
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frame.data());
    pcap_dump_close(d);
    pcap_close(dead);
  }
  auto pool = Pool(8, 128);
  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  auto port = std::move(PcapPort::Open(pc)).value();
  auto got = DrainPort(*port);
  ASSERT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[0][0].type, HashType::kNone);
  const PortStats s = port->Stats();
  EXPECT_EQ(s.rx_drops[static_cast<size_t>(RxDrop::kTruncated)], 1u);
  EXPECT_EQ(s.rx_drops[static_cast<size_t>(RxDrop::kTooLong)], 1u);
}

TEST(Pcap, ErrorsNameTheFile) {
  auto pool = Pool(8);
  PcapConfig pc;
  pc.pool = pool.get();
  pc.rx_path = TmpPath("does_not_exist.pcap");
  auto r = PcapPort::Open(pc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("does_not_exist.pcap"), std::string::npos)
      << r.status().message();

  const std::string junk = TmpPath("junk.pcap");
  std::ofstream(junk) << "this is not a capture file at all";
  pc.rx_path = junk;
  r = PcapPort::Open(pc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("junk.pcap"), std::string::npos) << r.status().message();

  pc.rx_path = "";
  pc.tx_path = TmpPath("no/such/dir/out.pcap");
  r = PcapPort::Open(pc);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no/such/dir/out.pcap"), std::string::npos);

  EXPECT_FALSE(WritePcap(TmpPath("no/such/dir/x.pcap"), {}).ok());
  auto rr = ReadPcap(TmpPath("missing.pcap"));
  ASSERT_FALSE(rr.ok());
  EXPECT_NE(rr.status().message().find("missing.pcap"), std::string::npos);

  pc.tx_path = "";
  pc.rx_path = junk;
  pc.pool = nullptr;
  EXPECT_FALSE(PcapPort::Open(pc).ok());
}

// Issue 12 (2): a looping trace whose frames are all bad used to spin in
// RxBurst (no frame ever came out, so the call never filled `out`). One call
// now takes at most out.size() frames, delivered and dropped together, and
// says how many it dropped (RxDropped).
TEST(Pcap, AllBadFramesCostACallAtMostItsBurst) {
  const std::string path = TmpPath("all_bad.pcap");
  ASSERT_TRUE(
      WritePcap(path, std::vector<std::vector<uint8_t>>(3, std::vector<uint8_t>(300))).ok());
  auto pool = Pool(8, 128);  // every frame is too long
  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  Packet* burst[32];
  // A finite but large loop count: the old RxBurst dropped all 3000 in one call.
  pc.loops = 1000;
  {
    auto port = std::move(PcapPort::Open(pc)).value();
    ASSERT_EQ(port->RxBurst(0, burst), 0u);
    ASSERT_EQ(port->RxDropped(0), 32u);
    ASSERT_EQ(port->Stats().rx_drops[static_cast<size_t>(RxDrop::kTooLong)], 32u);
  }
  // Forever: every call returns, each having dropped its burst's worth.
  pc.loops = 0;
  auto port = std::move(PcapPort::Open(pc)).value();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(port->RxBurst(0, burst), 0u);
  EXPECT_EQ(port->RxDropped(0), 320u);
  EXPECT_EQ(port->Stats().rx_dropped(), 320u);
  EXPECT_FALSE(port->RxExhausted(0));
  EXPECT_EQ(pool->available(), pool->capacity());
}

// Good and bad frames mixed: a call takes at most its burst, and what it took
// is what it handed out plus what it dropped.
TEST(Pcap, ABurstTakesDeliveredAndDroppedFramesTogether) {
  const std::string path = TmpPath("mixed.pcap");
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 4; ++i) {
    frames.push_back(std::vector<uint8_t>(300));  // too long
    frames.push_back(std::vector<uint8_t>(60));   // fine
  }
  ASSERT_TRUE(WritePcap(path, frames).ok());
  auto pool = Pool(64, 128);
  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  pc.loops = 0;
  auto port = std::move(PcapPort::Open(pc)).value();
  Packet* burst[5];
  uint64_t handed = 0;
  for (int i = 0; i < 8; ++i) {
    const uint64_t dropped = port->RxDropped(0);
    const size_t n = port->RxBurst(0, burst);
    EXPECT_EQ(n + (port->RxDropped(0) - dropped), 5u);
    handed += n;
    for (size_t k = 0; k < n; ++k) Release(burst[k]);
  }
  EXPECT_EQ(handed + port->RxDropped(0), 40u);
  EXPECT_EQ(handed, 20u);
}

// --- capture link types --------------------------------------------------

// Ethernet frames of the synthetic generator (IPv4 and IPv6, TCP and UDP).
std::vector<std::vector<uint8_t>> EthernetFrames(PacketPool* pool, uint64_t n) {
  SyntheticConfig c = GenConfig(pool);
  c.num_rx_queues = 1;
  c.packets = n;
  c.syn_flood_share = 0;
  auto gen = std::move(SyntheticPort::Create(c)).value();
  std::vector<std::vector<uint8_t>> out;
  const auto frames = DrainPort(*gen);
  for (const Frame& f : frames[0]) out.push_back(f.bytes);
  return out;
}

// `eth` with its Ethernet header replaced by `link_header`.
std::vector<uint8_t> Rewrap(const std::vector<uint8_t>& eth, std::vector<uint8_t> link_header) {
  link_header.insert(link_header.end(), eth.begin() + 14, eth.end());
  return link_header;
}

std::vector<uint8_t> SllHeader(uint16_t ethertype) {
  std::vector<uint8_t> h = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
  h.push_back(static_cast<uint8_t>(ethertype >> 8));
  h.push_back(static_cast<uint8_t>(ethertype));
  return h;
}

std::vector<uint8_t> Sll2Header(uint16_t ethertype) {
  return {static_cast<uint8_t>(ethertype >> 8),
          static_cast<uint8_t>(ethertype),
          0,
          0,
          0,
          0,
          0,
          1,
          0,
          1,
          0,
          6,
          2,
          0,
          0,
          0,
          0,
          1,
          0,
          0};
}

std::vector<uint8_t> Family(uint32_t af, bool big_endian) {
  if (big_endian)
    return {static_cast<uint8_t>(af >> 24), static_cast<uint8_t>(af >> 16),
            static_cast<uint8_t>(af >> 8), static_cast<uint8_t>(af)};
  return {static_cast<uint8_t>(af), static_cast<uint8_t>(af >> 8), static_cast<uint8_t>(af >> 16),
          static_cast<uint8_t>(af >> 24)};
}

bool IsV6(const std::vector<uint8_t>& eth) { return eth[12] == 0x86 && eth[13] == 0xdd; }

struct LinkCase {
  const char* name;
  // The link header of an IP frame, or nullopt for a frame this link type
  // cannot carry (IPV4/IPV6 captures hold one family).
  std::function<std::optional<std::vector<uint8_t>>(const std::vector<uint8_t>& eth)> header;
  std::vector<std::vector<uint8_t>> not_ip;  // whole records that are kNotIp
};

std::vector<LinkCase> LinkCases() {
  const std::vector<uint8_t> arp_body(28, 0x11);
  auto with = [](std::vector<uint8_t> h, const std::vector<uint8_t>& body) {
    h.insert(h.end(), body.begin(), body.end());
    return h;
  };
  using H = std::optional<std::vector<uint8_t>>;
  return {
      {"LINUX_SLL",
       [](const auto& e) -> H { return SllHeader(IsV6(e) ? 0x86dd : 0x0800); },
       {with(SllHeader(0x0806), arp_body), with(SllHeader(0x88cc), arp_body), {0, 0, 0, 1}}},
      {"LINUX_SLL2",
       [](const auto& e) -> H { return Sll2Header(IsV6(e) ? 0x86dd : 0x0800); },
       {with(Sll2Header(0x0806), arp_body)}},
      {"RAW", [](const auto&) -> H { return std::vector<uint8_t>{}; }, {}},
      {"IPV4", [](const auto& e) -> H { return IsV6(e) ? H{} : H{std::vector<uint8_t>{}}; }, {}},
      {"IPV6", [](const auto& e) -> H { return IsV6(e) ? H{std::vector<uint8_t>{}} : H{}; }, {}},
      // NULL: the capturing host's order, either; AF_INET6 as Linux, the
      // BSDs, FreeBSD and Darwin number it.
      {"NULL",
       [n = 0](const auto& e) mutable -> H {
         static constexpr uint32_t kInet6[] = {10, 24, 28, 30};
         ++n;
         return Family(IsV6(e) ? kInet6[n % 4] : 2, n % 2 == 0);
       },
       {with(Family(7, false), arp_body), with(Family(7, true), arp_body)}},
      {"LOOP",
       [](const auto& e) -> H { return Family(IsV6(e) ? 28 : 2, true); },
       {with(Family(2, false), arp_body)}},
  };
}

class PcapLinkTest : public ::testing::TestWithParam<size_t> {};

TEST_P(PcapLinkTest, ReplaysTheIpPacketWithItsRssHashAndDropsWhatIsNotIp) {
  const LinkCase k = LinkCases()[GetParam()];
  SCOPED_TRACE(k.name);
  auto pool = Pool(1024);
  std::vector<std::vector<uint8_t>> eth;      // the IP frames written, as Ethernet
  std::vector<std::vector<uint8_t>> records;  // what the capture holds
  for (const auto& e : EthernetFrames(pool.get(), 200)) {
    auto h = k.header(e);
    if (!h) continue;
    eth.push_back(e);
    records.push_back(Rewrap(e, *h));
  }
  ASSERT_GT(eth.size(), 50u);
  for (const auto& r : k.not_ip) records.push_back(r);
  const std::string path = TmpPath(std::string("link_") + k.name + ".pcap");
  ASSERT_TRUE(WritePcap(path, records, 0, k.name).ok());

  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  pc.num_rx_queues = 2;
  auto port = std::move(PcapPort::Open(pc)).value();
  EXPECT_EQ(port->link_type(), LinkType::kIp);
  auto got = DrainPort(*port);
  // Each IP frame comes out once, without link header, in file order per
  // queue, with the hash a NIC computes over the Ethernet frame.
  size_t delivered = 0;
  for (uint16_t q = 0; q < 2; ++q) {
    uint64_t last_seq = 0;
    for (const Frame& f : got[q]) {
      ASSERT_GE(f.seq, 1u);
      ASSERT_LE(f.seq, eth.size());
      EXPECT_GT(f.seq, last_seq);
      last_seq = f.seq;
      const std::vector<uint8_t>& e = eth[f.seq - 1];
      EXPECT_EQ(f.bytes, std::vector<uint8_t>(e.begin() + 14, e.end()));
      const RssHash h = HashFrame(Toeplitz::Default(), e);
      EXPECT_EQ(f.type, h.type);
      EXPECT_EQ(f.flowid, h.hash);
      EXPECT_NE(f.type, HashType::kNone);
      ++delivered;
    }
  }
  EXPECT_EQ(delivered, eth.size());
  const PortStats s = port->Stats();
  EXPECT_EQ(s.rx_packets, eth.size());
  EXPECT_EQ(s.rx_drops[static_cast<size_t>(RxDrop::kNotIp)], k.not_ip.size());
  EXPECT_EQ(s.rx_dropped(), k.not_ip.size());
  EXPECT_EQ(pool->available(), pool->capacity());
}

INSTANTIATE_TEST_SUITE_P(LinkTypes, PcapLinkTest, ::testing::Range<size_t>(0, 7),
                         [](const ::testing::TestParamInfo<size_t>& i) {
                           std::string n = LinkCases()[i.param].name;
                           n.erase(std::remove(n.begin(), n.end(), '_'), n.end());
                           return n;
                         });

TEST(Pcap, EthernetCapturesStayEthernet) {
  auto pool = Pool(1024);
  const std::string path = TmpPath("eth_link.pcap");
  ASSERT_TRUE(WritePcap(path, EthernetFrames(pool.get(), 10)).ok());
  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  auto port = std::move(PcapPort::Open(pc)).value();
  EXPECT_EQ(port->link_type(), LinkType::kEthernet);
}

TEST(Pcap, OtherLinkTypesAreRefusedByNameAndNumber) {
  const std::string path = TmpPath("wifi.pcap");
  const std::vector<std::vector<uint8_t>> frames = {std::vector<uint8_t>(40, 0)};
  ASSERT_TRUE(WritePcap(path, frames, 0, "IEEE802_11").ok());
  auto pool = Pool(8);
  PcapConfig pc;
  pc.rx_path = path;
  pc.pool = pool.get();
  auto r = PcapPort::Open(pc);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("wifi.pcap"), std::string::npos) << m;
  EXPECT_NE(m.find("pcap link type 105 (IEEE802_11) is not supported; supported: EN10MB, "
                   "LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP"),
            std::string::npos)
      << m;
  auto rr = ReadPcap(path);
  ASSERT_FALSE(rr.ok());
  EXPECT_NE(rr.status().message().find("IEEE802_11"), std::string::npos);
  EXPECT_FALSE(WritePcap(TmpPath("x.pcap"), {}, 0, "NO_SUCH_LINK").ok());
}

}  // namespace
}  // namespace netisr::nic
