// The inputs of benchmarks/router/l3fwd_reference.sh, all from one seed, so
// that DPDK's l3fwd and `netisr router` forward the same frames through the
// same table:
//
//   trace.pcap     --frames Ethernet/IPv4/UDP frames of --bytes bytes, frame
//                  i of flow i % --flows; each flow a (source address,
//                  destination address, ports) tuple whose destination lies
//                  inside one of the --prefixes routes (drawn uniformly), so
//                  every frame is routed and none is dropped for want of a
//                  route. Replayed by net_pcap with infinite_rx=1.
//   rules_v4.cfg   l3fwd 22.11's LPM rule file (lpm_route_parse.c: one
//                  `R<address>/<length> <port>` a line), every route out of
//                  port 1.
//   rules_v6.cfg   the same for IPv6: one route out of port 1 (l3fwd refuses
//                  to start with only one of the two files, and an empty one
//                  is an error); the trace sends it nothing.
//   router.toml    the router's config with the same routes ([[route]]
//                  prefix / via), via a static [[neighbour]] on port 1 (so
//                  no ARP or ND is needed: l3fwd resolves nothing either),
//                  port 0 the replaying net_pcap, port 1 a net_null that
//                  receives nothing (no-rx=1) and frees what it is sent.
//
// The table: the prefixes are disjoint (each inside its own /16 of
// 20.0.0.0-99.255.255.255, picked without replacement), of mixed lengths:
// 60% /24, 30% /16-/23, 10% /25-/28. Longer than /24 costs rte_lpm a tbl8
// group each; l3fwd's table has 256 (IPV4_L3FWD_LPM_NUMBER_TBL8S), so the
// /25-/28 share is bounded well below that.
//
// Frame MACs: destination --dst_mac (the receiving port's own address: a
// router, unlike l3fwd, may drop frames not addressed to it), source
// FrameBuilder's. Headers and the UDP checksum are FrameBuilder's, correct.
//
//   route_trace_gen --out_dir=DIR [--seed=1] [--flows=4096] [--frames=4096]
//       [--prefixes=1000] [--bytes=64] [--dst_mac=02:70:63:61:70:00]
//       [--nexthop_mac=02:00:00:00:00:b2] [--control=127.0.0.1:9180]
//       [--lcore=1]
//
// Exit status 2 for a bad flag, 1 if a file cannot be written.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "nic/pcap_port.h"
#include "proto/frame_builder.h"

namespace netisr::bench {
namespace {

struct Args {
  std::string out_dir;
  uint64_t seed = 1;
  uint32_t flows = 4096, frames = 4096, prefixes = 1000, bytes = 64;
  std::string dst_mac = "02:70:63:61:70:00";  // net_pcap's first port (rte_eth_pcap.c)
  std::string nexthop_mac = "02:00:00:00:00:b2";
  std::string control = "127.0.0.1:9180";
  int lcore = 1;
};

struct Route {
  uint32_t prefix;  // host order, host bits zero
  uint8_t len;
};

bool Flag(const std::string& a, const char* name, std::string& out) {
  const std::string p = std::string("--") + name + "=";
  if (a.rfind(p, 0) != 0) return false;
  out = a.substr(p.size());
  return true;
}

bool ParseU32(const std::string& s, uint32_t lo, uint32_t hi, uint32_t& out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool ParseMac(const std::string& s, std::array<uint8_t, 6>& out) {
  unsigned b[6];
  char tail;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) != 6) {
    return false;
  }
  for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(b[i]);
  return true;
}

std::string Dotted(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

int Usage(const char* argv0, const std::string& what) {
  std::fprintf(stderr,
               "%s: %s\n"
               "usage: %s --out_dir=DIR [--seed=N] [--flows=N] [--frames=N] [--prefixes=N]\n"
               "       [--bytes=B] [--dst_mac=MAC] [--nexthop_mac=MAC] [--control=ADDR:PORT]\n"
               "       [--lcore=CPU]\n",
               argv0, what.c_str(), argv0);
  return 2;
}

// `prefixes` disjoint routes, each in its own /16 of 20.0.0.0/8-99.0.0.0/8.
std::vector<Route> MakeTable(uint32_t prefixes, std::mt19937_64& rng) {
  constexpr uint32_t kFirst16 = 20u << 8, kNum16 = 80u << 8;  // /16 blocks 20.0 .. 99.255
  std::vector<uint32_t> blocks(kNum16);
  for (uint32_t i = 0; i < kNum16; ++i) blocks[i] = kFirst16 + i;
  std::shuffle(blocks.begin(), blocks.end(), rng);
  std::vector<Route> table;
  table.reserve(prefixes);
  for (uint32_t i = 0; i < prefixes; ++i) {
    const uint32_t pick = static_cast<uint32_t>(rng() % 10);
    uint8_t len = 24;
    if (pick >= 6 && pick < 9) len = static_cast<uint8_t>(16 + rng() % 8);  // /16-/23
    if (pick == 9) len = static_cast<uint8_t>(25 + rng() % 4);              // /25-/28
    const uint32_t mask = ~0u << (32 - len);
    const uint32_t addr = (blocks[i] << 16) | static_cast<uint32_t>(rng() & 0xffff);
    table.push_back({addr & mask, len});
  }
  return table;
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    std::string v;
    if (Flag(s, "out_dir", a.out_dir) || Flag(s, "dst_mac", a.dst_mac) ||
        Flag(s, "nexthop_mac", a.nexthop_mac) || Flag(s, "control", a.control)) {
    } else if (Flag(s, "seed", v)) {
      char* end = nullptr;
      a.seed = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0') return Usage(argv[0], "bad --seed: " + v);
    } else if (Flag(s, "flows", v)) {
      if (!ParseU32(v, 1, 1u << 24, a.flows)) return Usage(argv[0], "bad --flows: " + v);
    } else if (Flag(s, "frames", v)) {
      if (!ParseU32(v, 1, 1u << 24, a.frames)) return Usage(argv[0], "bad --frames: " + v);
    } else if (Flag(s, "prefixes", v)) {
      // l3fwd's table holds 1024 rules (IPV4_L3FWD_LPM_MAX_RULES).
      if (!ParseU32(v, 1, 1024, a.prefixes)) return Usage(argv[0], "bad --prefixes (1-1024): " + v);
    } else if (Flag(s, "bytes", v)) {
      // 42 = Ethernet + IPv4 + UDP headers; 1514 = a 1500-byte MTU.
      if (!ParseU32(v, 42, 1514, a.bytes)) return Usage(argv[0], "bad --bytes (42-1514): " + v);
    } else if (Flag(s, "lcore", v)) {
      uint32_t l = 0;
      if (!ParseU32(v, 0, 1023, l)) return Usage(argv[0], "bad --lcore: " + v);
      a.lcore = static_cast<int>(l);
    } else {
      return Usage(argv[0], "unknown argument: " + s);
    }
  }
  std::array<uint8_t, 6> dst_mac{}, nexthop_mac{};
  if (a.out_dir.empty()) return Usage(argv[0], "--out_dir is required");
  if (!ParseMac(a.dst_mac, dst_mac)) return Usage(argv[0], "bad --dst_mac: " + a.dst_mac);
  if (!ParseMac(a.nexthop_mac, nexthop_mac)) {
    return Usage(argv[0], "bad --nexthop_mac: " + a.nexthop_mac);
  }

  std::mt19937_64 rng(a.seed);
  const std::vector<Route> table = MakeTable(a.prefixes, rng);

  // Flows: distinct 5-tuples (sources in 10.1.0.0/16, the port-0 side).
  std::vector<std::vector<uint8_t>> flows;
  flows.reserve(a.flows);
  std::unordered_set<uint64_t> seen;
  while (flows.size() < a.flows) {
    const Route& r = table[rng() % table.size()];
    const uint32_t host_bits = 32 - r.len;
    const uint32_t dst = r.prefix | static_cast<uint32_t>(rng() & ((1ull << host_bits) - 1));
    const uint32_t src = (10u << 24) | (1u << 16) | static_cast<uint32_t>(2 + rng() % 65000);
    const uint16_t sport = static_cast<uint16_t>(1024 + rng() % 60000);
    const uint64_t key =
        (static_cast<uint64_t>(dst) << 32) ^ (static_cast<uint64_t>(src) << 16) ^ sport;
    if (!seen.insert(key).second) continue;
    proto::FrameSpec f;
    f.l4 = proto::FrameSpec::L4::kUdp;
    f.src4 = {static_cast<uint8_t>(src >> 24), static_cast<uint8_t>(src >> 16),
              static_cast<uint8_t>(src >> 8), static_cast<uint8_t>(src)};
    f.dst4 = {static_cast<uint8_t>(dst >> 24), static_cast<uint8_t>(dst >> 16),
              static_cast<uint8_t>(dst >> 8), static_cast<uint8_t>(dst)};
    f.src_port = sport;
    f.dst_port = 9;  // discard
    f.payload = a.bytes - 42;
    std::vector<uint8_t> frame = proto::BuildFrame(f);
    std::copy(dst_mac.begin(), dst_mac.end(), frame.begin());
    flows.push_back(std::move(frame));
  }
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(a.frames);
  for (uint32_t i = 0; i < a.frames; ++i) frames.push_back(flows[i % flows.size()]);

  const std::string dir = a.out_dir + "/";
  if (Status st = nic::WritePcap(dir + "trace.pcap", frames); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }

  std::string v4 = "# l3fwd LPM rules from route_trace_gen --seed=" + std::to_string(a.seed) + "\n";
  for (const Route& r : table) {
    v4 += "R" + Dotted(r.prefix) + "/" + std::to_string(r.len) + " 1\n";
  }
  const std::string v6 =
      "# l3fwd needs both files; the trace sends this route nothing\nRfd00:3::/48 1\n";

  // The router: port "a" (0) replays the trace, port "b" (1) drops what it
  // is sent; every route via 10.2.0.2, a static neighbour on "b". The
  // trace path goes into the device string, so it is absolute.
  char cwd[4096];
  std::string trace = dir + "trace.pcap";
  if (trace[0] != '/' && getcwd(cwd, sizeof(cwd)) != nullptr)
    trace = std::string(cwd) + "/" + trace;
  std::string toml =
      "# netisr router config from route_trace_gen --seed=" + std::to_string(a.seed) +
      " (benchmarks/router/l3fwd_reference.sh)\n"
      "[dataplane]\n"
      "eal = \"--no-huge --no-pci --no-shconf -m 512 -l " +
      std::to_string(a.lcore) +
      " --file-prefix=nisr_router_bench --log-level=lib.eal:warning\"\n"
      "workers = 1\n"
      // The worker on l3fwd's core (EAL's -l pins only the main thread).
      "cpus = [" +
      std::to_string(a.lcore) +
      "]\n"
      "model = \"poll\"\n"
      "dispatch = \"direct\"\n\n"
      "[[port]]\n"
      "name = \"a\"\n"
      "device = \"net_pcap0,rx_pcap=" +
      trace +
      ",infinite_rx=1\"\n"
      "address = [\"10.1.0.1/16\"]\n\n"
      "[[port]]\n"
      "name = \"b\"\n"
      "device = \"net_null0,no-rx=1\"\n"
      "address = [\"10.2.0.1/24\", \"fd00:2::1/64\"]\n\n"
      "[[neighbour]]\n"
      "address = \"10.2.0.2\"\n"
      "mac = \"" +
      a.nexthop_mac +
      "\"\n"
      "port = \"b\"\n\n"
      "[[neighbour]]\n"
      "address = \"fd00:2::2\"\n"
      "mac = \"" +
      a.nexthop_mac +
      "\"\n"
      "port = \"b\"\n\n"
      "[control]\n"
      "listen = \"" +
      a.control + "\"\n";
  for (const Route& r : table) {
    toml += "\n[[route]]\nprefix = \"" + Dotted(r.prefix) + "/" + std::to_string(r.len) +
            "\"\nvia = \"10.2.0.2\"\n";
  }
  toml += "\n[[route]]\nprefix = \"fd00:3::/48\"\nvia = \"fd00:2::2\"\n";

  if (!WriteText(dir + "rules_v4.cfg", v4) || !WriteText(dir + "rules_v6.cfg", v6) ||
      !WriteText(dir + "router.toml", toml)) {
    return 1;
  }
  std::printf("%u frames of %u bytes, %u flows, %u routes (seed %llu) in %s\n", a.frames, a.bytes,
              a.flows, a.prefixes, static_cast<unsigned long long>(a.seed), a.out_dir.c_str());
  return 0;
}

}  // namespace
}  // namespace netisr::bench

int main(int argc, char** argv) { return netisr::bench::Main(argc, argv); }
