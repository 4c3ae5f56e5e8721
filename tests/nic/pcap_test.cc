// pcap replay and capture: generator -> WritePcap -> PcapPort RX gives the
// same bytes and RSS hashes on the same queues; looping; TX capture; drops;
// and errors that name the file.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <fstream>
#include <map>
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

}  // namespace
}  // namespace netisr::nic
