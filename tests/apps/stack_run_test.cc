// `netisr run --source synthetic|pcap:FILE` through the public Run and
// RunCommand functions: frames go through the real parse chain, every one is
// delivered or dropped under its reason (exact counts for a pcap of known
// good and malformed frames), the filter drops a flood at receive with its
// hits counted, and bad --source/--filter arguments get specific errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "apps/run_command.h"
#include "base/checksum.h"
#include "nic/pcap_port.h"
#include "nic/synthetic.h"
#include "proto/frame_builder.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;
using Counts = std::map<std::string, uint64_t>;

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

RunOptions SourceOptions(const std::string& source, const std::string& model = "threads") {
  RunOptions o;
  o.source = source;
  o.model = model;
  o.cpus = 2;
  o.bind = false;
  o.packets = 20000;
  // Large enough that no layer's queue overflows: counts stay exact.
  o.qlimit = 10240;
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

// --- synthetic -------------------------------------------------------------

// The flood packets the run's generator emits, counted by replaying the same
// generator config (synthetic.h: flood packets have seq 0).
uint64_t FloodPackets(uint16_t queues, uint32_t flows, double udp_flood, uint64_t packets,
                      uint64_t seed) {
  auto pool = std::move(PacketPool::Create(1024, 128)).value();
  nic::SyntheticConfig c;
  c.num_rx_queues = queues;
  c.num_tx_queues = 0;
  c.num_flows = flows;
  c.udp_flood_share = udp_flood;
  c.tcp_share = 1;
  c.frame_min = c.frame_max = 64;
  c.packets = packets;
  c.seed = seed;
  c.pool = pool.get();
  auto port = std::move(nic::SyntheticPort::Create(c)).value();
  uint64_t flood = 0;
  Packet* burst[64];
  for (uint16_t q = 0; q < queues; ++q) {
    while (!port->RxExhausted(q)) {
      const size_t n = port->RxBurst(q, burst);
      for (size_t i = 0; i < n; ++i) {
        flood += burst[i]->seq == 0 ? 1 : 0;
        Release(burst[i]);
      }
    }
  }
  return flood;
}

class SyntheticFloodTest : public ::testing::TestWithParam<const char*> {};

TEST_P(SyntheticFloodTest, FilterDropsTheFloodAtReceiveAndLegitTrafficIsDelivered) {
  RunOptions o = SourceOptions("synthetic", GetParam());
  o.flows = 64;
  o.attack = "udpflood";
  o.attack_share = 0.5;
  o.l4 = "tcp";
  o.filter = "drop proto udp dport 53";
  const RunReport r = RunOk(o);
  const uint64_t flood = FloodPackets(2, 64, 0.5, 20000, o.seed_value());
  ASSERT_GT(flood, 8000u);  // a 50% share of 20000, give or take the draw
  ASSERT_LT(flood, 12000u);
  EXPECT_EQ(r.source_kind, "synthetic");
  EXPECT_EQ(r.packets_in, 20000u);
  ASSERT_TRUE(r.filter.has_value());
  ASSERT_EQ(r.filter->rules.size(), 1u);
  EXPECT_EQ(r.filter->rules[0].text, "drop proto udp dport 53");
  EXPECT_EQ(r.filter->rules[0].hits, flood);
  EXPECT_EQ(r.filter->rules[0].dropped, flood);
  EXPECT_EQ(r.filter->passed, 20000 - flood);
  // Legit traffic is all TCP and valid: nothing else is dropped.
  EXPECT_EQ(r.drops, (Counts{{"filtered", flood}}));
  EXPECT_EQ(r.delivered, 20000 - flood);
  EXPECT_EQ(r.delivered_by_layer, (Counts{{"tcp", 20000 - flood}}));
  EXPECT_EQ(r.latency.samples, r.delivered);
}

TEST_P(SyntheticFloodTest, WithoutFilterTheFloodIsDeliveredAsUdp) {
  RunOptions o = SourceOptions("synthetic", GetParam());
  o.flows = 64;
  o.attack = "udpflood";
  o.attack_share = 0.5;
  const RunReport r = RunOk(o);
  const uint64_t flood = FloodPackets(2, 64, 0.5, 20000, o.seed_value());
  EXPECT_FALSE(r.filter.has_value());
  EXPECT_TRUE(r.drops.empty()) << ToJson(r)["dropped"].dump();
  EXPECT_EQ(r.delivered_by_layer, (Counts{{"tcp", 20000 - flood}, {"udp", flood}}));
}

INSTANTIATE_TEST_SUITE_P(Models, SyntheticFloodTest, ::testing::Values("threads", "inline"));

TEST(SyntheticSourceTest, TrafficMixFlagsReachTheGenerator) {
  RunOptions o = SourceOptions("synthetic");
  o.packets = 6000;
  o.flows = 200;
  o.distribution = "zipf";
  o.zipf_s = 1.2;
  o.ipv6_share = 0.5;
  o.l4 = "mix";
  o.frame_size = 300;
  o.sources = 3;
  o.attack = "synflood";
  o.attack_share = 0.2;
  const RunReport r = RunOk(o);
  EXPECT_EQ(r.packets_in, 6000u);
  EXPECT_EQ(r.delivered, 6000u);
  EXPECT_EQ(r.source_packets.size(), 3u);  // --sources = RX queues
  // TCP and UDP over IPv4 and IPv6 all arrive at their terminal layers.
  EXPECT_GT(r.delivered_by_layer.count("tcp") ? r.delivered_by_layer.at("tcp") : 0, 0u);
  EXPECT_GT(r.delivered_by_layer.count("udp") ? r.delivered_by_layer.at("udp") : 0, 0u);
  // IPv6 goes through its ip6 layer; IPv4 is checked by the Ethernet
  // layer in one pass and handed straight to tcp/udp (StackOptions::
  // fused_ipv4), so the ip layer sees none of it.
  for (const char* layer : {"ip", "ip6"}) {
    const auto& names = r.stats.protocols;
    const auto it = std::find(names.begin(), names.end(), layer);
    ASSERT_NE(it, names.end()) << layer;
    const uint64_t handled = r.stats.Total(static_cast<int>(it - names.begin())).handled;
    if (std::string_view(layer) == "ip") {
      EXPECT_EQ(handled, 0u) << layer;
    } else {
      EXPECT_GT(handled, 0u) << layer;
    }
  }
  const nlohmann::json j = ToJson(r);
  EXPECT_EQ(j["config"]["frame_size"], 300);
  EXPECT_EQ(j["config"]["distribution"], "zipf");
}

TEST(SyntheticSourceTest, PacketsBoundAndRateAreKept) {
  RunOptions o = SourceOptions("synthetic");
  o.packets = 2000;
  o.rate = 100000;  // 20 ms of arrivals
  const RunReport r = RunOk(o);
  EXPECT_EQ(r.packets_in, 2000u);
  EXPECT_GE(r.seconds, 0.015);
}

// A --source run checks its buffers as the bench mode does (issue 12): a
// frame the sink never releases fails the run (exit 1) and is reported in
// the JSON; a sound run reports its port's pool full.
TEST(SyntheticSourceTest, BufferNotReturnedFailsTheRun) {
  RunOptions o = SourceOptions("synthetic");
  o.json = true;
  std::atomic<int> withheld{0};
  RunHooks hooks;
  hooks.withhold = [&](const Packet&) { return withheld.fetch_add(1) < 3; };
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand(o, out, err, hooks), kExitFailure);
  EXPECT_THAT(err.str(), HasSubstr("buffers not returned: pool synthetic"));
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["buffers_out"], 3);
  ASSERT_EQ(j["pools"].size(), 1u);
  EXPECT_EQ(j["pools"][0]["capacity"].get<uint64_t>() - j["pools"][0]["free"].get<uint64_t>(), 3u);
  EXPECT_EQ(j["packets_in"], j["delivered"]);  // conserved: only the buffers are missing

  std::ostringstream out2, err2;
  ASSERT_EQ(RunCommand(o, out2, err2), kExitOk) << err2.str();
  const nlohmann::json k = nlohmann::json::parse(out2.str());
  EXPECT_EQ(k["buffers_out"], 0);
  EXPECT_EQ(k["pools"][0]["free"], k["pools"][0]["capacity"]);
}

// --- pcap --------------------------------------------------------------------

struct Trace {
  std::vector<std::vector<uint8_t>> frames;
  Counts delivered_by_layer;
  Counts drops;
};

proto::FrameSpec Spec(bool ipv6, proto::FrameSpec::L4 l4, uint16_t sport, uint32_t payload = 0) {
  proto::FrameSpec s;
  s.ipv6 = ipv6;
  s.l4 = l4;
  s.src_port = sport;
  s.payload = payload;
  s.pad_to = 60;
  return s;
}

void FixIpChecksum(std::vector<uint8_t>& f, uint32_t l3) {
  f[l3 + 10] = f[l3 + 11] = 0;
  const uint16_t sum = base::Checksum(f.data() + l3, 20);  // of big-endian words
  f[l3 + 10] = static_cast<uint8_t>(sum >> 8);
  f[l3 + 11] = static_cast<uint8_t>(sum);
}

// Known-good frames of every terminal layer, each malformation the parse
// chain names, and a frame too long for the port's buffers.
Trace KnownTrace() {
  using L4 = proto::FrameSpec::L4;
  Trace t;
  auto good = [&](const proto::FrameSpec& s, const char* layer, int n) {
    for (int i = 0; i < n; ++i) {
      proto::FrameSpec si = s;
      si.src_port = static_cast<uint16_t>(s.src_port + i);  // several flows
      t.frames.push_back(proto::BuildFrame(si));
      ++t.delivered_by_layer[layer];
    }
  };
  good(Spec(false, L4::kTcp, 1000, 20), "tcp", 7);
  good(Spec(false, L4::kUdp, 2000, 30), "udp", 5);
  good(Spec(true, L4::kUdp, 3000, 10), "udp", 4);
  good(Spec(true, L4::kTcp, 4000), "tcp", 3);
  good(Spec(true, L4::kIcmpEcho, 5000, 8), "icmp6", 2);
  for (int i = 0; i < 2; ++i) {
    t.frames.push_back(proto::BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, static_cast<uint8_t>(i)}));
    ++t.delivered_by_layer["arp"];
  }
  auto bad = [&](std::vector<uint8_t> f, const char* reason) {
    t.frames.push_back(std::move(f));
    ++t.drops[reason];
  };
  {  // IPv4 header checksum off by one bit.
    const auto s = Spec(false, L4::kUdp, 6000, 30);
    auto f = proto::BuildFrame(s);
    f[proto::OffsetsOf(s).l3 + 10] ^= 0x01;
    bad(f, "bad_ip_checksum");
    bad(f, "bad_ip_checksum");
  }
  {  // IPv4 total length leaves 10 bytes of TCP header (valid IP checksum).
    const auto s = Spec(false, L4::kTcp, 7000, 20);
    auto f = proto::BuildFrame(s);
    const uint32_t l3 = proto::OffsetsOf(s).l3;
    f[l3 + 2] = 0;
    f[l3 + 3] = 30;
    FixIpChecksum(f, l3);
    bad(f, "truncated_tcp");
  }
  {  // UDP payload changed after the checksum was computed.
    const auto s = Spec(false, L4::kUdp, 8000, 30);
    auto f = proto::BuildFrame(s);
    f[proto::OffsetsOf(s).l4 + 8 + 5] ^= 0xff;
    bad(f, "bad_udp_checksum");
  }
  {  // An EtherType none of the layers takes.
    auto f = proto::BuildFrame(Spec(false, L4::kUdp, 9000));
    f[12] = 0x88;
    f[13] = 0xb5;
    bad(f, "unknown_ethertype");
  }
  bad(std::vector<uint8_t>(10, 0xab), "truncated_ether");
  // Larger than the pcap source's 2 KiB buffers: dropped by the port.
  bad(proto::BuildFrame(Spec(false, L4::kUdp, 10000, 3000)), "rx_too_long");
  return t;
}

uint64_t Sum(const Counts& c) {
  uint64_t n = 0;
  for (const auto& [k, v] : c) n += v;
  return n;
}

Counts Times(Counts c, uint64_t k) {
  for (auto& [name, n] : c) n *= k;
  return c;
}

class PcapSourceTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PcapSourceTest, KnownFramesAreDeliveredOrDroppedUnderTheirReason) {
  const Trace t = KnownTrace();
  const std::string path = TmpPath(std::string("known_") + GetParam() + ".pcap");
  ASSERT_TRUE(nic::WritePcap(path, t.frames).ok());
  RunOptions o = SourceOptions("pcap:" + path, GetParam());
  o.loops = 3;
  const RunReport r = RunOk(o);
  EXPECT_EQ(r.source_kind, "pcap");
  EXPECT_EQ(r.packets_in, 3 * t.frames.size());
  EXPECT_EQ(r.delivered, 3 * Sum(t.delivered_by_layer));
  EXPECT_EQ(r.delivered_by_layer, Times(t.delivered_by_layer, 3));
  EXPECT_EQ(r.drops, Times(t.drops, 3));
  ASSERT_EQ(r.ports.size(), 1u);
  EXPECT_EQ(r.ports[0].rx_drops, (Counts{{"rx_too_long", 3}}));
  EXPECT_EQ(r.ports[0].rx_packets, 3 * (t.frames.size() - 1));
}

INSTANTIATE_TEST_SUITE_P(Models, PcapSourceTest, ::testing::Values("threads", "inline"));

TEST(PcapSourceCommandTest, JsonReportsDropsFilterHitsAndConservation) {
  const Trace t = KnownTrace();
  const std::string path = TmpPath("known_json.pcap");
  ASSERT_TRUE(nic::WritePcap(path, t.frames).ok());
  RunOptions o = SourceOptions("pcap:" + path);
  o.json = true;
  // IPv6 UDP flows 3000-3003: the filter takes them out before the parse.
  o.filter = "drop src 2001:db8::1 proto udp; pass proto tcp";
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), kExitOk) << err.str();
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["source"], "pcap");
  EXPECT_EQ(j["packets_in"], t.frames.size());
  EXPECT_EQ(j["dropped"]["filtered"], 4);
  EXPECT_EQ(j["dropped"]["bad_ip_checksum"], 2);
  EXPECT_EQ(j["dropped"]["rx_too_long"], 1);
  EXPECT_EQ(j["delivered_by_layer"]["udp"], 5);
  ASSERT_EQ(j["filter"]["rules"].size(), 2u);
  EXPECT_EQ(j["filter"]["rules"][0]["hits"], 4);
  EXPECT_EQ(j["filter"]["rules"][0]["rule"], "drop src 2001:db8::1/128 proto udp");
  // 7 IPv4 + 3 IPv6 good TCP frames, and the truncated one: its protocol
  // byte says TCP (the parse chain then drops it as truncated_tcp).
  EXPECT_EQ(j["filter"]["rules"][1]["hits"], 11);
  uint64_t dropped = 0;
  for (const auto& [reason, n] : j["dropped"].items()) dropped += n.get<uint64_t>();
  EXPECT_EQ(j["packets_in"].get<uint64_t>(), j["delivered"].get<uint64_t>() + dropped);
  EXPECT_EQ(j["dropped_total"], dropped);
}

TEST(PcapSourceCommandTest, TableShowsDropsAndFilterHits) {
  const Trace t = KnownTrace();
  const std::string path = TmpPath("known_table.pcap");
  ASSERT_TRUE(nic::WritePcap(path, t.frames).ok());
  RunOptions o = SourceOptions("pcap:" + path);
  o.filter = "drop proto icmp6";
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("dropped: bad_ip_checksum=2 bad_udp_checksum=1 filtered=2"));
  EXPECT_THAT(out.str(), HasSubstr("filter rule 0 'drop proto icmp6': hits=2 dropped=2"));
  EXPECT_THAT(out.str(), HasSubstr("source=pcap"));
}

// --- errors --------------------------------------------------------------------

struct BadCase {
  std::string source;
  std::string filter;
  int exit_code;
  std::string message;
};

TEST(SourceErrorsTest, BadSourceOrFilterGivesASpecificErrorAndExitCode) {
  const std::string not_pcap = TmpPath("not_a.pcap");
  {
    std::FILE* f = std::fopen(not_pcap.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a pcap file, just text\n", f);
    std::fclose(f);
  }
  const BadCase cases[] = {
      {"pcap:", "", kExitUsage, "--source 'pcap:': needs a file"},
      {"pcap", "", kExitUsage, "needs a file"},
      {"netmap:eth0", "", kExitUsage, "unknown kind; expected synthetic, pcap:FILE or dpdk"},
      {"dpdk:", "", kExitUsage, "needs EAL arguments"},
      {"synthetic:fast", "", kExitUsage, "synthetic takes no argument"},
      {"pcap:/no/such/file.pcap", "", kExitFailure, "/no/such/file.pcap"},
      {"pcap:" + not_pcap, "", kExitFailure, not_pcap},
      {"synthetic", "drop proto udpx", kExitUsage, "--filter: 'udpx'"},
      {"synthetic", "drop src 10.0.0.1/8", kExitUsage, "--filter:"},
      {"synthetic", "limit proto udp", kExitUsage, "--filter:"},
      {"", "drop proto udp", kExitUsage, "--filter applies only with --source"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.source + " / " + c.filter);
    RunOptions o = SourceOptions(c.source);
    o.filter = c.filter;
    std::ostringstream out, err;
    EXPECT_EQ(RunCommand(o, out, err), c.exit_code);
    EXPECT_THAT(err.str(), HasSubstr(c.message));
    EXPECT_EQ(out.str(), "");
  }
}

TEST(SourceErrorsTest, FlagsOfOtherModesAreRefusedByName) {
  struct Case {
    const char* flag;
    void (*set)(RunOptions&);
  };
  const Case cases[] = {
      {"--attack", [](RunOptions& o) { o.source = "pcap:x.pcap", o.attack = "synflood"; }},
      {"--attack-share", [](RunOptions& o) { o.source = "synthetic", o.attack_share = 0.5; }},
      {"--attack-share",
       [](RunOptions& o) { o.source = "synthetic", o.attack = "udpflood", o.attack_share = 1; }},
      {"--attack", [](RunOptions& o) { o.source = "synthetic", o.attack = "pingflood"; }},
      {"--distribution", [](RunOptions& o) { o.source = "synthetic", o.distribution = "pareto"; }},
      {"--distribution", [](RunOptions& o) { o.distribution = "zipf"; }},
      {"--zipf-s", [](RunOptions& o) { o.source = "synthetic", o.zipf_s = 2; }},
      {"--zipf-s",
       [](RunOptions& o) { o.source = "synthetic", o.distribution = "zipf", o.zipf_s = 0; }},
      {"--ipv6-share", [](RunOptions& o) { o.source = "synthetic", o.ipv6_share = 1.5; }},
      {"--l4", [](RunOptions& o) { o.source = "synthetic", o.l4 = "sctp"; }},
      {"--frame-size", [](RunOptions& o) { o.source = "synthetic", o.frame_size = 59; }},
      {"--frame-size", [](RunOptions& o) { o.source = "synthetic", o.frame_size = 9000; }},
      {"--loops", [](RunOptions& o) { o.source = "synthetic", o.loops = 2; }},
      {"--loops", [](RunOptions& o) { o.source = "pcap:x.pcap", o.loops = -1; }},
      {"--idle-ms", [](RunOptions& o) { o.source = "pcap:x.pcap", o.idle_ms = 5; }},
      {"--skew", [](RunOptions& o) { o.source = "synthetic", o.skew = 0.5; }},
      {"--rate", [](RunOptions& o) { o.source = "pcap:x.pcap", o.rate = 1000; }},
      {"--policy", [](RunOptions& o) { o.source = "synthetic", o.policy = "cpu"; }},
      {"--sources", [](RunOptions& o) { o.source = "synthetic", o.sources = 65; }},
  };
  for (const Case& c : cases) {
    RunOptions o;
    c.set(o);
    const Status st = ValidateRunOptions(o);
    EXPECT_FALSE(st.ok()) << c.flag;
    EXPECT_THAT(st.message(), HasSubstr(c.flag));
    std::ostringstream out, err;
    EXPECT_EQ(RunCommand(o, out, err), kExitUsage) << c.flag;
  }
}

}  // namespace
}  // namespace netisr::apps
