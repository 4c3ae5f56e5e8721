// EarlyFilter on garbage: the field reader checks bounds before every read,
// so no frame (cut anywhere, damaged anywhere) makes it read past pkt.len or
// crash. Not tagged `concurrency`: scripts/test.sh runs it under ASan+UBSan,
// which is what makes the exact-size buffers below catch an over-read.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "proto/filter.h"
#include "proto/frame_builder.h"

namespace netisr::proto {
namespace {

// Arbitrary bytes must never make the filter read past the frame nor
// crash: each frame sits in a heap block of exactly its length, so that
// AddressSanitizer (the asan config) reports any over-read. Frames start
// from valid IPv4/IPv6/VLAN headers with random damage and random lengths
// (including every cut of a valid frame), and conservation holds.
TEST(FilterBounds, RandomAndTruncatedFramesAreSafe) {
  auto f =
      std::move(EarlyFilter::Parse(
                    "pass src 10.0.0.0/8 proto tcp dport 80; drop src 2001:db8::/32 dport "
                    "1-1000; limit proto udp rate 100 burst 10; drop proto icmp6; drop dport 53"))
          .value();
  std::mt19937_64 rng(42);
  std::vector<std::vector<uint8_t>> templates;
  for (bool v6 : {false, true}) {
    for (auto l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp, FrameSpec::L4::kIcmpEcho}) {
      FrameSpec s;
      s.ipv6 = v6;
      s.l4 = l4;
      s.vlans = rng() % 2 ? std::vector<uint16_t>{7} : std::vector<uint16_t>{};
      s.ip6_ext_headers = v6 ? 2 : 0;
      s.ip_option_words = v6 ? 0 : 1;
      templates.push_back(BuildFrame(s));
    }
  }
  uint64_t in = 0, kept_total = 0;
  std::vector<std::unique_ptr<uint8_t[]>> bufs;
  std::vector<Packet> descs(64);
  for (int round = 0; round < 2000; ++round) {
    std::vector<Packet*> burst;
    bufs.clear();
    for (Packet& d : descs) {
      const auto& t = templates[rng() % templates.size()];
      size_t len = rng() % 3 == 0 ? rng() % (t.size() + 1) : t.size();  // cuts
      auto buf = std::make_unique<uint8_t[]>(len == 0 ? 1 : len);
      std::memcpy(buf.get(), t.data(), std::min(len, t.size()));
      for (int k = rng() % 4; k-- > 0 && len != 0;) buf[rng() % len] = static_cast<uint8_t>(rng());
      d = Packet{};
      d.data = buf.get();
      d.len = static_cast<uint32_t>(len);
      d.release = [](Packet*) {};
      bufs.push_back(std::move(buf));
      burst.push_back(&d);
    }
    in += burst.size();
    kept_total += f->Apply(burst, static_cast<uint64_t>(round) * 1000);
  }
  const FilterStats s = f->Stats();
  EXPECT_EQ(s.passed + s.total_dropped(), in);
  EXPECT_EQ(s.passed, kept_total);
  uint64_t hits = 0;
  for (const auto& r : s.rules) hits += r.hits;
  EXPECT_GT(hits, 0u);
}

}  // namespace
}  // namespace netisr::proto
