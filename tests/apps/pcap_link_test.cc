// `netisr run --source pcap:FILE` for captures that are not Ethernet, and
// for traces of bad frames replayed forever, through the public Run: the
// real parse chain, exact counts, conservation (packets_in == delivered +
// dropped, the port's own drops included).
//  * Link types (issue 12): a Linux cooked (tcpdump -i any), raw-IP or
//    loopback capture replays its IP packets into the chain at the ip / ip6
//    layer; its records that carry no IP packet are the port's rx_not_ip
//    drops; other link types are refused by name.
//  * --loops 0 with --packets N (issue 12): frames the port drops count
//    toward N, so a trace of nothing but bad frames still ends.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/run_command.h"
#include "nic/pcap_port.h"
#include "proto/frame_builder.h"

namespace netisr::apps {
namespace {

using Counts = std::map<std::string, uint64_t>;
using L4 = proto::FrameSpec::L4;

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

RunOptions PcapOptions(const std::string& path, const std::string& model) {
  RunOptions o;
  o.source = "pcap:" + path;
  o.model = model;
  o.cpus = 2;
  o.bind = false;
  o.packets = 1'000'000;
  o.qlimit = 10240;  // no queue overflows: counts stay exact
  return o;
}

RunReport RunOk(const RunOptions& o) {
  Result<RunReport> r = Run(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_TRUE(r->Conserved()) << "in " << r->packets_in << " delivered " << r->delivered
                              << " dropped " << r->dropped_total();
  EXPECT_EQ(r->reordered, 0u);
  return std::move(r).value();
}

proto::FrameSpec Spec(bool ipv6, L4 l4, uint16_t sport, uint32_t payload) {
  proto::FrameSpec s;
  s.ipv6 = ipv6;
  s.l4 = l4;
  s.src_port = sport;
  s.payload = payload;
  return s;
}

// A frame's link header, by link type; `ethertype` is what follows it.
std::vector<uint8_t> LinkHeader(const std::string& link, uint16_t ethertype) {
  const auto hi = static_cast<uint8_t>(ethertype >> 8), lo = static_cast<uint8_t>(ethertype);
  const bool v6 = ethertype == 0x86dd;
  if (link == "LINUX_SLL") return {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, hi, lo};
  if (link == "LINUX_SLL2") return {hi, lo, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
  // NULL in little-endian host order (Linux AF_INET6 = 10), LOOP in network
  // order (FreeBSD AF_INET6 = 28); a family that is neither for ARP.
  const uint8_t af = ethertype == 0x0800 ? 2 : v6 ? (link == "NULL" ? 10 : 28) : 7;
  if (link == "NULL") return {af, 0, 0, 0};
  if (link == "LOOP") return {0, 0, 0, af};
  return {};  // RAW, IPV4, IPV6
}

struct LinkTrace {
  std::vector<std::vector<uint8_t>> records;
  Counts delivered_by_layer;
  Counts drops;
  uint64_t rx_packets = 0;
};

// IPv4 and IPv6 packets of each terminal layer the IP layers lead to, one
// with a bad IPv4 header checksum (the chain still checks it), and an ARP
// record where the link type can carry one (a counted rx_not_ip drop).
LinkTrace MakeTrace(const std::string& link) {
  LinkTrace t;
  const bool v4 = link != "IPV6", v6 = link != "IPV4";
  auto add = [&](std::vector<uint8_t> eth) {
    const uint16_t type = static_cast<uint16_t>(eth[12] << 8 | eth[13]);
    std::vector<uint8_t> r = LinkHeader(link, type);
    r.insert(r.end(), eth.begin() + 14, eth.end());
    t.records.push_back(std::move(r));
  };
  auto good = [&](const proto::FrameSpec& s, const char* layer, int n) {
    for (int i = 0; i < n; ++i) {
      proto::FrameSpec si = s;
      si.src_port = static_cast<uint16_t>(s.src_port + i);
      add(proto::BuildFrame(si));
      ++t.delivered_by_layer[layer];
      ++t.rx_packets;
    }
  };
  if (v4) {
    good(Spec(false, L4::kTcp, 1000, 20), "tcp", 5);
    good(Spec(false, L4::kUdp, 2000, 30), "udp", 4);
    const proto::FrameSpec s = Spec(false, L4::kUdp, 6000, 30);
    auto bad = proto::BuildFrame(s);
    bad[proto::OffsetsOf(s).l3 + 10] ^= 0x01;
    add(bad);
    ++t.drops["bad_ip_checksum"];
    ++t.rx_packets;
  }
  if (v6) {
    good(Spec(true, L4::kUdp, 3000, 10), "udp", 3);
    good(Spec(true, L4::kTcp, 4000, 0), "tcp", 2);
    good(Spec(true, L4::kIcmpEcho, 5000, 8), "icmp6", 2);
  }
  if (link == "LINUX_SLL" || link == "LINUX_SLL2" || link == "NULL" || link == "LOOP") {
    add(proto::BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2}));
    ++t.drops["rx_not_ip"];
  }
  return t;
}

Counts Times(Counts c, uint64_t k) {
  for (auto& [name, n] : c) n *= k;
  return c;
}

class PcapLinkRunTest
    : public ::testing::TestWithParam<std::tuple<const char* /*link*/, const char* /*model*/>> {};

TEST_P(PcapLinkRunTest, IpPacketsGoThroughTheChainFromTheIpLayer) {
  const auto [link, model] = GetParam();
  const LinkTrace t = MakeTrace(link);
  const std::string path = TmpPath(std::string("run_") + link + "_" + model + ".pcap");
  ASSERT_TRUE(nic::WritePcap(path, t.records, 0, link).ok());
  RunOptions o = PcapOptions(path, model);
  o.loops = 2;
  const RunReport r = RunOk(o);
  EXPECT_EQ(r.packets_in, 2 * t.records.size());
  EXPECT_EQ(r.delivered_by_layer, Times(t.delivered_by_layer, 2));
  EXPECT_EQ(r.drops, Times(t.drops, 2));
  ASSERT_EQ(r.ports.size(), 1u);
  EXPECT_EQ(r.ports[0].rx_packets, 2 * t.rx_packets);
}

INSTANTIATE_TEST_SUITE_P(LinkTypes, PcapLinkRunTest,
                         ::testing::Combine(::testing::Values("LINUX_SLL", "LINUX_SLL2", "RAW",
                                                              "IPV4", "IPV6", "NULL", "LOOP"),
                                            ::testing::Values("threads", "inline")),
                         [](const auto& info) {
                           std::string n =
                               std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                           std::erase(n, '_');
                           return n;
                         });

// The early filter reads a raw-IP packet's addresses and ports at offset 0:
// `drop proto udp` drops the UDP packets at receive, TCP and ICMPv6 pass.
TEST(PcapLinkFilterTest, FilterClassifiesPacketsWithoutLinkHeader) {
  const LinkTrace t = MakeTrace("RAW");
  const std::string path = TmpPath("run_raw_filter.pcap");
  ASSERT_TRUE(nic::WritePcap(path, t.records, 0, "RAW").ok());
  RunOptions o = PcapOptions(path, "inline");
  o.filter = "drop proto udp";
  const RunReport r = RunOk(o);
  EXPECT_EQ(r.packets_in, t.records.size());
  // The bad-checksum packet is UDP too: the filter drops it first.
  EXPECT_EQ(r.drops, (Counts{{"filtered", t.delivered_by_layer.at("udp") + 1}}));
  EXPECT_EQ(r.delivered_by_layer, (Counts{{"tcp", t.delivered_by_layer.at("tcp")},
                                          {"icmp6", t.delivered_by_layer.at("icmp6")}}));
  ASSERT_TRUE(r.filter.has_value());
  EXPECT_EQ(r.filter->unclassified, 0u);
}

TEST(PcapLinkErrorTest, OtherLinkTypesAreRefusedByName) {
  const std::string path = TmpPath("run_wifi.pcap");
  const std::vector<std::vector<uint8_t>> frames = {std::vector<uint8_t>(40, 0)};
  ASSERT_TRUE(nic::WritePcap(path, frames, 0, "IEEE802_11").ok());
  Result<RunReport> r = apps::Run(PcapOptions(path, "inline"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("pcap link type 105 (IEEE802_11) is not supported; "
                                      "supported: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, "
                                      "IPV6, NULL, LOOP"),
            std::string::npos)
      << r.status().message();
}

// --- --loops 0 --packets N over bad frames ---------------------------------

// Records of `caplen` bytes that were `wire_len` on the wire.
void WriteRecords(const std::string& path, const std::vector<std::pair<uint32_t, uint32_t>>& recs) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(d, nullptr);
  for (const auto& [caplen, wire_len] : recs) {
    std::vector<uint8_t> frame = proto::BuildFrame(Spec(false, L4::kUdp, 1000, 20));
    frame.resize(caplen, 0);
    pcap_pkthdr h{};
    h.caplen = caplen;
    h.len = wire_len;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, frame.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

// Every frame longer than the pcap source's 2 KiB buffers: no frame is ever
// handed out, and the run used to spin in the port forever.
TEST(PcapLoopForeverTest, AllBadFramesStillEndAfterPacketsFrames) {
  const std::string path = TmpPath("all_too_long.pcap");
  WriteRecords(path, {{3000, 3000}, {4000, 4000}, {2100, 2100}});
  for (const char* model : {"inline", "threads"}) {
    SCOPED_TRACE(model);
    RunOptions o = PcapOptions(path, model);
    o.loops = 0;
    o.packets = 1000;
    const RunReport r = RunOk(o);
    EXPECT_EQ(r.packets_in, 1000u);
    EXPECT_EQ(r.delivered, 0u);
    EXPECT_EQ(r.drops, (Counts{{"rx_too_long", 1000}}));
  }
}

// Good, too long and truncated frames in turn: --packets counts all three.
TEST(PcapLoopForeverTest, PortDropsCountTowardPackets) {
  const std::string path = TmpPath("mixed_forever.pcap");
  const uint32_t good =
      static_cast<uint32_t>(proto::BuildFrame(Spec(false, L4::kUdp, 1, 20)).size());
  WriteRecords(path, {{good, good}, {3000, 3000}, {40, 200}});
  for (const char* model : {"inline", "threads"}) {
    SCOPED_TRACE(model);
    RunOptions o = PcapOptions(path, model);
    o.loops = 0;
    o.packets = 999;
    const RunReport r = RunOk(o);
    EXPECT_EQ(r.packets_in, 999u);
    EXPECT_EQ(r.delivered, 333u);
    EXPECT_EQ(r.drops, (Counts{{"rx_too_long", 333}, {"rx_truncated", 333}}));
    ASSERT_EQ(r.ports.size(), 1u);
    EXPECT_EQ(r.ports[0].rx_packets, 333u);
  }
}

}  // namespace
}  // namespace netisr::apps
