#include "router/route_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" int rte_eal_init(int argc, char** argv);

namespace netisr::router {
namespace {

// rte_lpm_create allocates from EAL memory: one EAL per process.
void EnsureEal() {
  static std::once_flag once;
  std::call_once(once, [] {
    static std::string prefix = "--file-prefix=nisr_rt_test_" + std::to_string(getpid());
    static const char* args[] = {"route_table_test",
                                 "--no-huge",
                                 "--no-pci",
                                 "--no-shconf",
                                 "-m",
                                 "512",
                                 prefix.c_str(),
                                 "--log-level=lib.eal:warning"};
    ASSERT_GE(rte_eal_init(8, const_cast<char**>(args)), 0) << "rte_eal_init failed";
  });
}

IpPrefix P(const char* text) {
  auto p = IpPrefix::Parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().message();
  return p.ok() ? *p : IpPrefix{};
}

IpAddr A(const char* text) {
  auto a = IpAddr::Parse(text);
  EXPECT_TRUE(a.ok()) << text;
  return a.ok() ? *a : IpAddr{};
}

uint32_t V4(const char* text) { return A(text).v4; }
std::array<uint8_t, 16> V6(const char* text) { return A(text).v6_bytes; }

Route R(const char* prefix, uint16_t port, const char* via = nullptr) {
  Route r{P(prefix), NextHop{port, {}}};
  if (via != nullptr) r.next_hop.gateway = A(via);
  return r;
}

class RouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EnsureEal();
    auto t = RouteTable::Create(opts_);
    ASSERT_TRUE(t.ok()) << t.status().message();
    table_ = std::move(*t);
  }
  int Port4(const char* dst) {
    auto nh = table_->Lookup4(V4(dst));
    return nh ? nh->port : -1;
  }
  int Port6(const char* dst) {
    auto nh = table_->Lookup6(V6(dst));
    return nh ? nh->port : -1;
  }
  RouteTableOptions opts_;
  std::unique_ptr<RouteTable> table_;
};

TEST_F(RouteTableTest, LongestPrefixWinsV4) {
  ASSERT_TRUE(table_->Add(R("10.0.0.0/8", 1)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.0.0/16", 2, "10.9.9.9")).ok());
  ASSERT_TRUE(table_->Add(R("10.1.2.0/24", 3)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.2.128/25", 4)).ok());  // past /24: a tbl8 group
  ASSERT_TRUE(table_->Add(R("10.1.2.200/32", 5)).ok());
  EXPECT_EQ(Port4("10.200.0.1"), 1);
  EXPECT_EQ(Port4("10.1.9.9"), 2);
  EXPECT_EQ(Port4("10.1.2.1"), 3);
  EXPECT_EQ(Port4("10.1.2.129"), 4);
  EXPECT_EQ(Port4("10.1.2.200"), 5);
  EXPECT_EQ(Port4("10.1.2.201"), 4);
  EXPECT_EQ(Port4("11.0.0.1"), -1);
  auto nh = table_->Lookup4(V4("10.1.9.9"));
  ASSERT_TRUE(nh.has_value());
  EXPECT_FALSE(nh->connected());
  EXPECT_EQ(nh->gateway, A("10.9.9.9"));
  EXPECT_TRUE(table_->Lookup4(V4("10.1.2.1"))->connected());
}

TEST_F(RouteTableTest, DefaultRouteAndHostRouteV4) {
  EXPECT_EQ(Port4("192.0.2.1"), -1);
  ASSERT_TRUE(table_->Add(R("0.0.0.0/0", 7, "10.0.0.254")).ok());
  ASSERT_TRUE(table_->Add(R("192.0.2.1/32", 8)).ok());
  EXPECT_EQ(Port4("192.0.2.1"), 8);
  EXPECT_EQ(Port4("192.0.2.2"), 7);
  EXPECT_EQ(Port4("255.255.255.255"), 7);
  EXPECT_EQ(table_->Lookup4(V4("1.2.3.4"))->gateway, A("10.0.0.254"));
}

TEST_F(RouteTableTest, LongestPrefixWinsV6) {
  ASSERT_TRUE(table_->Add(R("::/0", 1, "fe80::1")).ok());
  ASSERT_TRUE(table_->Add(R("fd00::/16", 2)).ok());
  ASSERT_TRUE(table_->Add(R("fd00:1::/64", 3)).ok());
  ASSERT_TRUE(table_->Add(R("fd00:1::42/128", 4)).ok());
  EXPECT_EQ(Port6("2001:db8::1"), 1);
  EXPECT_EQ(Port6("fd00:9::1"), 2);
  EXPECT_EQ(Port6("fd00:1::1"), 3);
  EXPECT_EQ(Port6("fd00:1::42"), 4);
  EXPECT_EQ(Port6("fd00:1::43"), 3);
  // The families are apart: no IPv4 route from the IPv6 default.
  EXPECT_EQ(Port4("10.0.0.1"), -1);
}

TEST_F(RouteTableTest, DeleteFallsBackToTheCoveringRoute) {
  ASSERT_TRUE(table_->Add(R("0.0.0.0/0", 1)).ok());
  ASSERT_TRUE(table_->Add(R("10.0.0.0/8", 2)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.0.0/16", 3)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.2.0/28", 4)).ok());
  EXPECT_EQ(Port4("10.1.2.3"), 4);
  ASSERT_TRUE(table_->Delete(P("10.1.2.0/28")).ok());
  EXPECT_EQ(Port4("10.1.2.3"), 3);
  ASSERT_TRUE(table_->Delete(P("10.1.0.0/16")).ok());
  EXPECT_EQ(Port4("10.1.2.3"), 2);
  ASSERT_TRUE(table_->Delete(P("10.0.0.0/8")).ok());
  EXPECT_EQ(Port4("10.1.2.3"), 1);
  ASSERT_TRUE(table_->Delete(P("0.0.0.0/0")).ok());
  EXPECT_EQ(Port4("10.1.2.3"), -1);

  ASSERT_TRUE(table_->Add(R("fd00::/16", 5)).ok());
  ASSERT_TRUE(table_->Add(R("fd00:1::1/128", 6)).ok());
  EXPECT_EQ(Port6("fd00:1::1"), 6);
  ASSERT_TRUE(table_->Delete(P("fd00:1::1/128")).ok());
  EXPECT_EQ(Port6("fd00:1::1"), 5);
  EXPECT_EQ(table_->size(), 1u);
}

TEST_F(RouteTableTest, NarrowedDeleteRemovesOnlyAMatchingNextHop) {
  ASSERT_TRUE(table_->Add(R("10.4.0.0/16", 2, "10.2.0.2")).ok());
  const auto on_port = [](uint16_t port) {
    return [port](const NextHop& nh) { return nh.port == port; };
  };
  Status other = table_->Delete(P("10.4.0.0/16"), on_port(3));
  EXPECT_EQ(other.code(), ErrorCode::kNotFound) << other.message();
  EXPECT_EQ(Port4("10.4.1.1"), 2);  // still there
  ASSERT_TRUE(table_->Delete(P("10.4.0.0/16"), on_port(2)).ok());
  EXPECT_EQ(Port4("10.4.1.1"), -1);
}

TEST_F(RouteTableTest, ErrorsAreSpecificAndLeaveTheTableAlone) {
  ASSERT_TRUE(table_->Add(R("10.0.0.0/8", 1)).ok());
  Status dup = table_->Add(R("10.0.0.0/8", 2));
  EXPECT_EQ(dup.code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(dup.message().find("10.0.0.0/8 already exists"), std::string::npos) << dup.message();
  EXPECT_EQ(Port4("10.0.0.1"), 1);

  Status missing = table_->Delete(P("10.1.0.0/16"));
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.message().find("no route 10.1.0.0/16"), std::string::npos);

  IpPrefix too_long = P("10.0.0.0/8");
  too_long.len = 33;
  Status bad = table_->Add(Route{too_long, {}});
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("prefix length 33 out of range [0, 32]"), std::string::npos)
      << bad.message();
  EXPECT_EQ(table_->Delete(too_long).code(), ErrorCode::kInvalidArgument);

  IpPrefix host_bits = P("10.0.0.0/8");
  host_bits.addr[3] = 1;
  Status hb = table_->Add(Route{host_bits, {}});
  EXPECT_EQ(hb.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(hb.message().find("host bits"), std::string::npos) << hb.message();

  Status fam = table_->Add(R("10.2.0.0/16", 1, "fd00::1"));
  EXPECT_EQ(fam.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(fam.message().find("family"), std::string::npos) << fam.message();
  EXPECT_EQ(table_->size(), 1u);
}

TEST_F(RouteTableTest, ListIsOrderedAndComplete) {
  ASSERT_TRUE(table_->Add(R("fd00::/16", 3)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.0.0/16", 2, "10.0.0.1")).ok());
  ASSERT_TRUE(table_->Add(R("10.0.0.0/8", 1)).ok());
  const std::vector<Route> want = {R("10.0.0.0/8", 1), R("10.1.0.0/16", 2, "10.0.0.1"),
                                   R("fd00::/16", 3)};
  EXPECT_EQ(table_->List(), want);
}

TEST_F(RouteTableTest, BurstLookupMatchesSingleLookups) {
  ASSERT_TRUE(table_->Add(R("0.0.0.0/0", 9)).ok());
  ASSERT_TRUE(table_->Add(R("10.0.0.0/8", 1)).ok());
  ASSERT_TRUE(table_->Add(R("10.1.2.128/25", 2)).ok());
  std::vector<uint32_t> dst;
  for (uint32_t i = 0; i < 150; ++i) dst.push_back(V4("10.1.2.0") + i);  // crosses a chunk
  std::vector<const NextHop*> out(dst.size());
  EXPECT_EQ(table_->Lookup4Burst(dst, out), dst.size());
  for (size_t i = 0; i < dst.size(); ++i) {
    ASSERT_NE(out[i], nullptr) << i;
    EXPECT_EQ(*out[i], *table_->Lookup4(dst[i])) << i;
  }
  EXPECT_EQ(out[0], out[1]);  // one next hop, one address: what a caller memoises by
  ASSERT_TRUE(table_->Delete(P("0.0.0.0/0")).ok());
  dst = {V4("11.0.0.1"), V4("10.0.0.1")};
  EXPECT_EQ(table_->Lookup4Burst(dst, out), 1u);
  EXPECT_EQ(out[0], nullptr);
  EXPECT_EQ(out[1]->port, 1);
}

TEST(RouteTableLimits, TableFullIsReportedAndNothingChanges) {
  EnsureEal();
  RouteTableOptions o;
  o.max_routes4 = 2;
  o.max_next_hops = 2;
  o.tbl8_groups4 = 1;
  auto t = RouteTable::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  RouteTable& table = **t;
  ASSERT_TRUE(table.Add(R("10.0.0.0/25", 1)).ok());  // takes the one tbl8 group
  Status tbl8 = table.Add(R("10.0.1.0/25", 1));      // another /24: needs a second
  EXPECT_EQ(tbl8.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(tbl8.message().find("tbl8_groups4"), std::string::npos) << tbl8.message();
  ASSERT_TRUE(table.Add(R("10.1.0.0/16", 2)).ok());
  Status rules = table.Add(R("10.2.0.0/16", 1));
  EXPECT_EQ(rules.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(rules.message().find("max_routes4"), std::string::npos) << rules.message();
  ASSERT_TRUE(table.Add(R("fd00::/16", 1)).ok());  // next hop shared with port 1's
  Status hops = table.Add(R("fd01::/16", 3));
  EXPECT_EQ(hops.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(hops.message().find("max_next_hops"), std::string::npos) << hops.message();
  // Failed adds left both instances as they were.
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.Lookup4(V4("10.0.0.1"))->port, 1);
  EXPECT_FALSE(table.Lookup4(V4("10.0.1.1")).has_value());
  EXPECT_FALSE(table.Lookup6(V6("fd01::1")).has_value());
  // A freed next-hop id is reused.
  ASSERT_TRUE(table.Delete(P("10.1.0.0/16")).ok());
  ASSERT_TRUE(table.Add(R("fd01::/16", 3)).ok());
  EXPECT_EQ(table.Lookup6(V6("fd01::1"))->port, 3);
  EXPECT_FALSE(table.Lookup4(V4("10.1.0.1")).has_value());
  // The delete gave its IPv4 slot back: one more fits, then the table is full again.
  ASSERT_TRUE(table.Add(R("10.3.0.0/16", 1)).ok());
  EXPECT_EQ(table.Add(R("10.4.0.0/16", 1)).code(), ErrorCode::kResourceExhausted);
}

TEST(RouteTableLimits, OptionsAndReadersAreChecked) {
  EnsureEal();
  RouteTableOptions o;
  o.max_readers = 0;
  auto bad = RouteTable::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("max_readers 0 out of range [1, 1024]"), std::string::npos);
  o.max_readers = 2;
  auto t = RouteTable::Create(o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->RegisterReader(2).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE((*t)->RegisterReader(1).ok());
  EXPECT_EQ((*t)->RegisterReader(1).code(), ErrorCode::kAlreadyExists);
  (*t)->UnregisterReader(1);
  ASSERT_TRUE((*t)->RegisterReader(1).ok());
  (*t)->UnregisterReader(1);
}

// Readers look up without pause while the writer adds and deletes routes
// under a permanent covering /8 and a permanent ::/0. Every looked-up
// address is covered before, during and after each change, so no lookup may
// miss; and each next hop read must be whole: the gateway encodes the port
// (10.0.0.<port>), which catches a reader seeing a next-hop slot being
// rewritten (the writer reuses freed next-hop ids with new values).
TEST(RouteTableConcurrency, LookupsNeverMissOrTearWhileRoutesChange) {
  EnsureEal();
  RouteTableOptions o;
  o.max_readers = 4;
  o.max_next_hops = 8;  // few ids: they are freed and reused all the time
  auto t = RouteTable::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  RouteTable& table = **t;
  auto hop4 = [](const char* prefix, uint16_t port) {
    return Route{P(prefix), NextHop{port, IpAddr::V4((10u << 24) | port)}};
  };
  auto hop6 = [](const char* prefix, uint16_t port) {
    std::array<uint8_t, 16> gw{0xfe, 0x80};
    gw[15] = static_cast<uint8_t>(port);
    return Route{P(prefix), NextHop{port, IpAddr::V6(gw)}};
  };
  ASSERT_TRUE(table.Add(hop4("10.0.0.0/8", 1)).ok());
  ASSERT_TRUE(table.Add(hop6("::/0", 1)).ok());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> misses{0}, torn{0}, lookups{0};
  auto reader = [&](uint32_t id) {
    ASSERT_TRUE(table.RegisterReader(id).ok());
    const uint32_t base = V4("10.1.2.0");
    const std::array<uint8_t, 16> v6 = V6("fd00:1::5");
    uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t i = 0; i < 32; ++i) {
        auto nh = table.Lookup4(base + (i * 37) % 256);
        if (!nh) {
          misses.fetch_add(1, std::memory_order_relaxed);
        } else if (nh->gateway != IpAddr::V4((10u << 24) | nh->port)) {
          torn.fetch_add(1, std::memory_order_relaxed);
        }
        auto nh6 = table.Lookup6(v6);
        if (!nh6) {
          misses.fetch_add(1, std::memory_order_relaxed);
        } else if (nh6->gateway.v6_bytes[15] != nh6->port) {
          torn.fetch_add(1, std::memory_order_relaxed);
        }
        n += 2;
      }
      table.Quiescent(id);
    }
    lookups.fetch_add(n, std::memory_order_relaxed);
    table.UnregisterReader(id);
  };
  std::vector<std::thread> readers;
  for (uint32_t id = 0; id < 2; ++id) readers.emplace_back(reader, id);

  for (int round = 0; round < 200; ++round) {
    const uint16_t a = static_cast<uint16_t>(2 + round % 5);
    const uint16_t b = static_cast<uint16_t>(2 + (round + 2) % 5);
    ASSERT_TRUE(table.Add(hop4("10.1.0.0/16", a)).ok());
    ASSERT_TRUE(table.Add(hop4("10.1.2.128/25", b)).ok());
    ASSERT_TRUE(table.Add(hop6("fd00:1::/64", a)).ok());
    ASSERT_TRUE(table.Add(hop6("fd00:1::5/128", b)).ok());
    ASSERT_TRUE(table.Delete(P("10.1.2.128/25")).ok());
    ASSERT_TRUE(table.Delete(P("10.1.0.0/16")).ok());
    ASSERT_TRUE(table.Delete(P("fd00:1::5/128")).ok());
    ASSERT_TRUE(table.Delete(P("fd00:1::/64")).ok());
  }
  stop.store(true);
  for (auto& th : readers) th.join();
  EXPECT_EQ(misses.load(), 0u);
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  EXPECT_EQ(table.size(), 2u);
}

}  // namespace
}  // namespace netisr::router
