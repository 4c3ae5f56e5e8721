// `netisr run` driven through its library interface (run_command.h), the
// same code the binary runs. The run is itself a checker: the handler counts
// reordered packets and the report counts every packet in and out, so these
// tests mostly sweep configurations and demand a sound report from each.
// Threads runs do not pin (the test machine may have fewer CPUs than
// workstreams) and use small packet counts so that they stay fast under
// ThreadSanitizer.
#include "apps/run_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>

#include "apps/synthetic_source.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kPackets = 20000;

RunOptions Small(std::string model, std::string dispatch, std::string policy) {
  RunOptions o;
  o.cpus = 2;
  o.model = std::move(model);
  o.dispatch = std::move(dispatch);
  o.policy = std::move(policy);
  o.packets = kPackets;
  o.bind = false;
  return o;
}

// Runs `o` and checks that every packet came in, none was lost and no flow
// was reordered.
RunReport RunSound(const RunOptions& o) {
  Result<RunReport> r = RunSynthetic(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_EQ(r->packets_in, static_cast<uint64_t>(o.packets));
  EXPECT_TRUE(r->Conserved()) << "in " << r->packets_in << ", delivered " << r->delivered
                              << ", dropped " << r->dropped_total();
  EXPECT_EQ(r->reordered, 0u);
  return std::move(r).value();
}

using Config = std::tuple<std::string, std::string, std::string>;  // model, dispatch, policy

class RunModesTest : public ::testing::TestWithParam<Config> {};

TEST_P(RunModesTest, ConservesPacketsAndKeepsFlowOrder) {
  const auto& [model, dispatch, policy] = GetParam();
  RunSound(Small(model, dispatch, policy));
}

INSTANTIATE_TEST_SUITE_P(ModelDispatchPolicy, RunModesTest,
                         ::testing::Combine(::testing::Values("threads", "inline"),
                                            ::testing::Values("direct", "deferred", "hybrid"),
                                            ::testing::Values("flow", "source", "cpu")),
                         [](const ::testing::TestParamInfo<Config>& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_" +
                                  std::get<2>(info.param);
                         });

TEST(RunSyntheticTest, QueueFullDropsAreCountedNotMistakenForReordering) {
  // Inline is deterministic: one source's burst of 32 overflows a queue of 1
  // at the other workstream before that workstream runs.
  RunOptions o = Small("inline", "deferred", "flow");
  o.qlimit = 1;
  const RunReport r = RunSound(o);
  EXPECT_GT(r.dropped_total(), 0u);
  EXPECT_EQ(r.stats.drops.count("queue_full"), 1u);
}

TEST(RunSyntheticTest, MoreSourcesThanFlowsAndMoreWorkstreamsThanCores) {
  // Sources 3 and 4 own no flow and must count as exhausted from the start.
  RunOptions o = Small("threads", "hybrid", "flow");
  o.cpus = 3;
  o.sources = 5;
  o.flows = 3;
  const RunReport r = RunSound(o);
  EXPECT_EQ(r.options.sources, 5);
}

TEST(RunSyntheticTest, SourcesDefaultToOnePerCpu) {
  RunOptions o = Small("inline", "hybrid", "flow");
  o.cpus = 3;
  EXPECT_EQ(RunSound(o).options.sources, 3);
}

TEST(RunSyntheticTest, HandlerCostIsSpent) {
  RunOptions o = Small("inline", "direct", "flow");
  o.cpus = 1;
  o.packets = 2000;
  o.handler_ns = 1000;
  // 2 ms of handler work; half of it as a floor leaves room for a
  // calibration taken while the machine was busy.
  EXPECT_GE(RunSound(o).seconds, 1e-3);
}

struct BadOption {
  std::string flag;
  void (*apply)(RunOptions&);
};

TEST(ValidateRunOptionsTest, RejectsBadValuesNamingTheFlag) {
  const BadOption cases[] = {
      {"--cpus", [](RunOptions& o) { o.cpus = 0; }},
      {"--cpus", [](RunOptions& o) { o.cpus = 65; }},
      {"--dispatch", [](RunOptions& o) { o.dispatch = "sideways"; }},
      {"--policy", [](RunOptions& o) { o.policy = "random"; }},
      {"--model", [](RunOptions& o) { o.model = "bogus"; }},
      {"--flows", [](RunOptions& o) { o.flows = 0; }},
      {"--packets", [](RunOptions& o) { o.packets = -1; }},
      {"--sources", [](RunOptions& o) { o.sources = 0; }},
      {"--sources", [](RunOptions& o) { o.sources = 65; }},
      {"--handler-ns", [](RunOptions& o) { o.handler_ns = 1000001; }},
      {"--qlimit", [](RunOptions& o) { o.qlimit = 10241; }},
  };
  EXPECT_TRUE(ValidateRunOptions(RunOptions{}).ok());
  for (const BadOption& c : cases) {
    RunOptions o;
    c.apply(o);
    const Status st = ValidateRunOptions(o);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(st.message(), HasSubstr(c.flag));
    EXPECT_EQ(RunSynthetic(o).status().code(), ErrorCode::kInvalidArgument) << c.flag;
  }
}

TEST(ValidateRunOptionsTest, MessagesGiveTheAcceptedValues) {
  RunOptions o;
  o.cpus = 0;
  EXPECT_EQ(ValidateRunOptions(o).message(), "--cpus 0 out of range [1, 64]");
  o = RunOptions{};
  o.dispatch = "sideways";
  EXPECT_EQ(ValidateRunOptions(o).message(),
            "--dispatch 'sideways' is not one of: direct, deferred, hybrid");
}

TEST(RunCommandTest, BadOptionExitsWithUsageCodeAndMessage) {
  RunOptions o;
  o.dispatch = "sideways";
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand(o, out, err), kExitUsage);
  EXPECT_EQ(out.str(), "");
  EXPECT_THAT(err.str(), HasSubstr("--dispatch"));
}

TEST(RunCommandTest, JsonReportHasTheDocumentedFields) {
  RunOptions o = Small("inline", "hybrid", "flow");
  o.json = true;
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), kExitOk) << err.str();
  const nlohmann::json j = nlohmann::json::parse(out.str());
  for (const char* key : {"packets_in", "delivered", "dropped", "dropped_total", "reordered",
                          "mpps", "seconds", "config", "netisr"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_TRUE(j["dropped"].is_object());
  EXPECT_EQ(j["packets_in"], kPackets);
  EXPECT_EQ(j["config"]["sources"], 2);
  EXPECT_EQ(j["config"]["dispatch"], "hybrid");
  EXPECT_TRUE(j["netisr"]["workstreams"].is_array());
}

TEST(RunCommandTest, TableEndsWithSummaryLine) {
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(Small("inline", "direct", "source"), out, err), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("WSID"));
  EXPECT_THAT(out.str(), HasSubstr("packets_in=20000 delivered=20000 dropped=0 reordered=0 mpps="));
  EXPECT_THAT(out.str(), HasSubstr("model=inline dispatch=direct policy=source cpus=2\n"));
}

TEST(SourceQuotaTest, QuotasFollowOwnedFlowsAndSumToTotal) {
  for (const auto& [total, flows, sources] :
       {std::tuple<uint64_t, uint32_t, uint16_t>{1000000, 64, 2},
        {7, 5, 3},
        {10, 3, 5},
        {1, 1, 64}}) {
    uint64_t sum = 0;
    for (uint16_t s = 0; s < sources; ++s) {
      const uint64_t q = SourceQuota(total, flows, sources, s);
      if (s >= flows) {
        EXPECT_EQ(q, 0u) << "source " << s << " owns no flow";
      }
      sum += q;
    }
    EXPECT_EQ(sum, total);
  }
}

}  // namespace
}  // namespace netisr::apps
