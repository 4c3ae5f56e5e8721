// `netisr lockprof --tcp` and `netisr tcp-echo` through their library
// interfaces: real TCP between two hosts accounts for every frame and
// segment under every strategy and workload, with no connection failing;
// tcp-echo's bad options are refused by name with exit 2 (its run against
// Linux is tcp_echo_e2e_test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "apps/exit_codes.h"
#include "apps/lockprof_command.h"
#include "apps/tcp_echo_command.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;

LockprofOptions ShortTcp(const std::string& strategy, const std::string& workload) {
  LockprofOptions o;
  o.tcp = true;
  o.strategy = strategy;
  o.workload = workload;
  o.workers = 2;
  o.connections = 32;
  o.duration_s = 0.3;
  o.model = "threads";  // shares the test machine's CPUs better than poll
  o.bind = false;
  return o;
}

class TcpLockprofTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(TcpLockprofTest, EveryConnectionCompletesAndEverythingIsAccounted) {
  const auto& [strategy, workload] = GetParam();
  auto r = RunLockprof(ShortTcp(strategy, workload));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->tcp.has_value());
  const TcpLoad& t = *r->tcp;
  EXPECT_TRUE(t.conserved);
  EXPECT_EQ(t.failed, 0u);
  EXPECT_GT(t.messages, 0u);
  EXPECT_GT(t.server_segments_in, 0u);
  if (workload == "steady") {
    EXPECT_EQ(t.completed, 0u);
    EXPECT_EQ(t.open_at_end, 32u);
  } else {
    EXPECT_GT(t.completed, 0u);
    EXPECT_EQ(t.open_at_end, 0u);
  }
  if (workload == "synflood") {
    EXPECT_GT(t.flood_syns, 0u);
  } else {
    EXPECT_EQ(t.flood_syns, 0u);
  }
  // The server's table lock shows up under global (the info lock).
  if (strategy == "global") {
    bool info = false;
    for (const auto& c : r->locks) info |= c.name == "inpcb.info" && c.acquisitions > 0;
    EXPECT_TRUE(info);
  }
  const nlohmann::json j = ToJson(*r);
  EXPECT_TRUE(j.contains("tcp"));
  EXPECT_EQ(j["tcp"]["conserved"], true);
  EXPECT_THAT(FormatHuman(*r), HasSubstr("connections/s"));
}

INSTANTIATE_TEST_SUITE_P(
    StrategiesAndWorkloads, TcpLockprofTest,
    ::testing::Combine(::testing::Values("global", "groups", "epoch", "partitioned"),
                       ::testing::Values("churn", "steady", "synflood")),
    [](const auto& i) { return std::get<0>(i.param) + "_" + std::get<1>(i.param); });

TcpEchoOptions Echo() {
  TcpEchoOptions o;
  o.dpdk = "--no-huge";
  o.addr = "10.0.0.1/24";
  return o;
}

// Exit 2, with the flag named on stderr.
void ExpectUsage(const TcpEchoOptions& o, const std::string& flag) {
  std::ostringstream out, err;
  EXPECT_EQ(TcpEchoCommand(o, out, err), kExitUsage) << flag;
  EXPECT_THAT(err.str(), HasSubstr(flag));
  EXPECT_TRUE(out.str().empty());
}

TEST(TcpEchoOptionsTest, RefusesBadOptionsByName) {
  EXPECT_TRUE(ValidateTcpEchoOptions(Echo()).ok());
  TcpEchoOptions o = Echo();
  o.dpdk = "";
  ExpectUsage(o, "--dpdk");
  for (const char* bad :
       {"", "10.0.0.1", "10.0.0/24", "10.0.0.256/24", "10.0.0.1/33", "10.0.0.1/0", "10.0.0.1/x",
        "a.b.c.d/24", "0.0.0.0/8", "127.0.0.1/8", "224.0.0.1/4", "10.0.0.1.5/24"}) {
    o = Echo();
    o.addr = bad;
    ExpectUsage(o, "--addr");
  }
  o = Echo();
  o.port = 0;
  ExpectUsage(o, "--port");
  o = Echo();
  o.port = 65536;
  ExpectUsage(o, "--port");
  o = Echo();
  o.workers = 0;
  ExpectUsage(o, "--workers");
  o = Echo();
  o.strategy = "bogus";
  ExpectUsage(o, "--strategy");
  o = Echo();
  o.model = "inline";
  ExpectUsage(o, "--model");
  o = Echo();
  o.duration_s = -1;
  ExpectUsage(o, "--duration");
}

TEST(TcpEchoOptionsTest, ParsesAddresses) {
  auto p = ParseIpv4Prefix("192.168.7.9/24");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->addr, 0xc0a80709u);
  EXPECT_EQ(p->prefix_len, 24);
}

}  // namespace
}  // namespace netisr::apps
