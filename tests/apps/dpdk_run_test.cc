// `netisr run --source dpdk:EAL-ARGS` over DPDK's pcap vdev, no hugepages,
// no NIC: a synthetic trace replayed by net_pcap0 (infinite_rx, so
// --packets is what ends the run) goes through RxQueueSource, the filter
// and the parse chain, and every frame is accounted for. EAL can be
// initialised once per process, so the error cases (a vdev DPDK does not
// know, no device at all) run as threadsafe death tests, each in a fresh
// process of this binary that starts without EAL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "apps/run_command.h"
#include "nic/synthetic.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;

std::string TmpPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string EalArgs(const std::string& vdevs) {
  return "--no-huge --no-pci --no-shconf -m 512 --file-prefix=nisr_dpdk_run_test_" +
         std::to_string(getpid()) + " --log-level=lib.eal:warning " + vdevs;
}

RunOptions DpdkOptions(const std::string& eal) {
  RunOptions o;
  o.source = "dpdk:" + eal;
  o.cpus = 2;
  o.bind = false;
  o.packets = 6000;
  o.qlimit = 10240;
  return o;
}

TEST(DpdkRunTest, PcapVdevFramesGoThroughFilterAndParseChain) {
  // 1000 valid frames: UDP flows (30% on IPv6) and a 50% UDP flood to port 53.
  const std::string trace = TmpPath("dpdk_run_trace.pcap");
  nic::SyntheticConfig c;
  c.num_flows = 50;
  c.tcp_share = 0;
  c.ipv6_share = 0.3;
  c.udp_flood_share = 0.5;
  c.frame_min = 60;
  c.frame_max = 200;
  c.seed = 5;
  ASSERT_TRUE(nic::WriteSyntheticTrace(c, 1000, trace).ok());

  RunOptions o = DpdkOptions(EalArgs("--vdev=net_pcap0,rx_pcap=" + trace + ",infinite_rx=1"));
  o.filter = "drop proto udp dport 53";
  o.json = true;
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), kExitOk) << err.str();
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["source"], "dpdk");
  ASSERT_EQ(j["ports"].size(), 1u);
  EXPECT_EQ(j["ports"][0]["rx_packets"], 6000);  // --packets ends the infinite replay
  // Every frame is valid: the flood is filtered, the rest delivered as UDP;
  // only a full mempool (rx_no_buffer) could add to what came in.
  const uint64_t filtered = j["dropped"].value("filtered", uint64_t{0});
  EXPECT_GT(filtered, 2000u);
  EXPECT_LT(filtered, 4000u);
  EXPECT_EQ(j["filter"]["rules"][0]["hits"], filtered);
  EXPECT_EQ(j["delivered"], 6000 - filtered);
  EXPECT_EQ(j["delivered_by_layer"]["udp"], 6000 - filtered);
  uint64_t dropped = 0;
  for (const auto& [reason, n] : j["dropped"].items()) {
    EXPECT_TRUE(reason == "filtered" || reason == "rx_no_buffer") << reason;
    dropped += n.get<uint64_t>();
  }
  EXPECT_EQ(j["packets_in"].get<uint64_t>(), j["delivered"].get<uint64_t>() + dropped);
  EXPECT_EQ(j["reordered"], 0);
}

class DpdkRunDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(DpdkRunDeathTest, UnknownVdevFailsNamingTheEalError) {
  EXPECT_EXIT(
      {
        std::ostringstream out;
        std::_Exit(RunCommand(DpdkOptions(EalArgs("--vdev=net_nosuchpmd0")), out, std::cerr));
      },
      ::testing::ExitedWithCode(kExitFailure), "dpdk: rte_eal_init with .*net_nosuchpmd0.* failed");
}

TEST_F(DpdkRunDeathTest, NoDeviceFailsSayingSo) {
  EXPECT_EXIT(
      {
        std::ostringstream out;
        std::_Exit(RunCommand(DpdkOptions(EalArgs("")), out, std::cerr));
      },
      ::testing::ExitedWithCode(kExitFailure), "EAL found no ethernet port");
}

TEST_F(DpdkRunDeathTest, PcapVdevWithMissingFileFails) {
  EXPECT_EXIT(
      {
        std::ostringstream out;
        std::_Exit(RunCommand(DpdkOptions(EalArgs("--vdev=net_pcap0,rx_pcap=/no/such/trace.pcap")),
                              out, std::cerr));
      },
      ::testing::ExitedWithCode(kExitFailure), "dpdk");
}

}  // namespace
}  // namespace netisr::apps
