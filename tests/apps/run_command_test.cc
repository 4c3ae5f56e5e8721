// `netisr run` driven through its library interface (run_command.h), the
// same code the binary runs. The run is itself a checker: the handler counts
// reordered packets and the report counts every packet in and out, so these
// tests mostly sweep configurations and demand a sound report from each.
// Threads runs do not pin (the test machine may have fewer CPUs than
// workstreams) and use small packet counts so that they stay fast under
// ThreadSanitizer; poll workers spin, so their runs are smaller still.
//
// Built twice (tests/apps/BUILD): plainly, sweeping the inline, threads and
// poll models, checked under ThreadSanitizer; and with
// NETISR_TEST_MODELS_FIBERS, sweeping the fibers model, which TSan cannot
// follow (Boost 1.74 switches fiber stacks behind its back) and which the
// ASan/UBSan run checks instead. The other tests run in both builds, so the
// app's own code gets the ASan/UBSan run too (the harness pieces have
// their own tests, tests/harness).
#include "apps/run_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "apps/bench_run.h"

namespace netisr::apps {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kPackets = 20000;
constexpr int64_t kPollPackets = 4000;  // two spinning workers on a 2-core machine

RunOptions Small(std::string model, std::string dispatch, std::string policy) {
  RunOptions o;
  o.cpus = 2;
  o.packets = model == "poll" ? kPollPackets : kPackets;
  o.model = std::move(model);
  o.dispatch = std::move(dispatch);
  o.policy = std::move(policy);
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
  // Every delivered packet's latency was recorded, and the percentiles
  // are ordered.
  EXPECT_EQ(r->latency.samples, r->delivered);
  EXPECT_LE(r->latency.p50_us, r->latency.p99_us);
  EXPECT_LE(r->latency.p99_us, r->latency.p999_us);
  EXPECT_LE(r->latency.p999_us, r->latency.max_us);
  // Per workstream: one summary each, and together every sample (a
  // handler always runs as some workstream in these runs).
  EXPECT_EQ(r->latency_by_workstream.size(), static_cast<size_t>(o.cpus));
  uint64_t by_ws = 0;
  for (const LatencySummary& l : r->latency_by_workstream) {
    by_ws += l.samples;
    EXPECT_LE(l.p50_us, l.p99_us);
  }
  EXPECT_EQ(by_ws, r->latency.samples);
  return std::move(r).value();
}

using Config = std::tuple<std::string, std::string, std::string>;  // model, dispatch, policy

class RunModesTest : public ::testing::TestWithParam<Config> {};

TEST_P(RunModesTest, ConservesPacketsAndKeepsFlowOrder) {
  const auto& [model, dispatch, policy] = GetParam();
  RunSound(Small(model, dispatch, policy));
}

std::string ConfigName(const ::testing::TestParamInfo<Config>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_" + std::get<2>(info.param);
}

#ifdef NETISR_TEST_MODELS_FIBERS
#define RUN_TEST_MODELS "fibers"
#else
#define RUN_TEST_MODELS "threads", "inline", "poll"
#endif

INSTANTIATE_TEST_SUITE_P(ModelDispatchPolicy, RunModesTest,
                         ::testing::Combine(::testing::Values(RUN_TEST_MODELS),
                                            ::testing::Values("direct", "deferred", "hybrid",
                                                              "adaptive"),
                                            ::testing::Values("flow", "source", "cpu")),
                         ConfigName);

// Skewed load is where adaptive dispatch moves flow buckets: conservation
// and order must hold across the moves, in every model.
class SkewedRunTest : public ::testing::TestWithParam<Config> {};

TEST_P(SkewedRunTest, ConservesPacketsAndKeepsFlowOrder) {
  const auto& [model, dispatch, policy] = GetParam();
  RunOptions o = Small(model, dispatch, policy);
  o.skew = 0.9;
  o.handler_ns = 300;
  // Moves happen at most once per interval: a short one lets a small run
  // make several (an adaptive tunable: refused with the other modes).
  if (o.dispatch == "adaptive") o.adaptive.interval_us = 20;
  const RunReport r = RunSound(o);
  EXPECT_EQ(r.source_packets[0], static_cast<uint64_t>(o.packets) * 9 / 10);
}

INSTANTIATE_TEST_SUITE_P(Skew, SkewedRunTest,
                         ::testing::Combine(::testing::Values(RUN_TEST_MODELS),
                                            ::testing::Values("hybrid", "adaptive"),
                                            ::testing::Values("flow")),
                         ConfigName);

TEST(RunSyntheticTest, QueueFullDropsAreCountedNotMistakenForReordering) {
  // Inline is deterministic: one source's burst of 32 overflows a queue of 1
  // at the other workstream before that workstream runs.
  RunOptions o = Small("inline", "deferred", "flow");
  o.qlimit = 1;
  const RunReport r = RunSound(o);
  EXPECT_GT(r.dropped_total(), 0u);
  EXPECT_EQ(r.stats.drops.count("queue_full"), 1u);
}

TEST(RunSyntheticTest, AffinityHintsSetBeforeTrafficPlaceEveryBucket) {
  // compare's real oracle run: hybrid with every flow bucket hinted before
  // Start. All hinted to workstream 1, so workstream 0 runs no handler,
  // not even for the packets its own source brings in.
  RunOptions o = Small("threads", "hybrid", "flow");
  RunHooks hooks;
  hooks.registered = AffinityHints(std::vector<int>(256, 1));
  Result<RunReport> r = RunSynthetic(o, hooks);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // One CPU's queue takes two sources: some packets drop, counted.
  EXPECT_EQ(r->packets_in, static_cast<uint64_t>(o.packets));
  EXPECT_TRUE(r->Conserved());
  EXPECT_GT(r->delivered, 0u);
  EXPECT_EQ(r->reordered, 0u);
  ASSERT_EQ(r->latency_by_workstream.size(), 2u);
  EXPECT_EQ(r->latency_by_workstream[0].samples, 0u);
  EXPECT_EQ(r->latency_by_workstream[1].samples, r->delivered);
}

TEST(RunSyntheticTest, AffinityHintOutOfRangeFailsTheRun) {
  RunOptions o = Small("threads", "hybrid", "flow");
  RunHooks hooks;
  hooks.registered = AffinityHints({0, 2});  // 2 CPUs: workstreams 0..1
  Result<RunReport> r = RunSynthetic(o, hooks);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("affinity workstream"));
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

TEST(RunSyntheticTest, SkewSendsItsShareToSourceZero) {
  RunOptions o = Small("inline", "hybrid", "flow");
  o.skew = 0.9;
  EXPECT_EQ(RunSound(o).source_packets, (std::vector<uint64_t>{18000, 2000}));
  o.sources = 3;
  o.skew = 0.5;
  EXPECT_EQ(RunSound(o).source_packets, (std::vector<uint64_t>{10000, 5000, 5000}));
  o.skew = 0.0;
  EXPECT_EQ(RunSound(o).source_packets, (std::vector<uint64_t>{0, 10000, 10000}));
}

TEST(RunSyntheticTest, WithoutSkewSourcesShareByFlows) {
  RunOptions o = Small("inline", "hybrid", "flow");
  o.sources = 3;
  o.flows = 4;  // source 0 owns flows 0 and 3
  EXPECT_EQ(RunSound(o).source_packets, (std::vector<uint64_t>{10000, 5000, 5000}));
}

TEST(RunSyntheticTest, RateIsRoughlyKept) {
  // 2000 packets at 100 kpps is 20 ms of arrivals; only a floor is
  // checked (a slow machine may take longer, never much shorter).
  RunOptions o = Small("threads", "adaptive", "flow");
  o.packets = 2000;
  o.rate = 100000;
  EXPECT_GE(RunSound(o).seconds, 15e-3);
  o.model = "inline";
  EXPECT_GE(RunSound(o).seconds, 15e-3);
}

TEST(RunSyntheticTest, TraceSamplesWhileTheRunLasts) {
  RunOptions o = Small("threads", "adaptive", "flow");
  o.packets = 2000;
  o.rate = 100000;  // >= 20 ms of arrivals
  o.trace_us = 2000;
  const RunReport r = RunSound(o);
  ASSERT_FALSE(r.trace.empty());
  double prev_t = 0;
  uint64_t prev_handled = 0;
  for (const TraceSample& t : r.trace) {
    EXPECT_GT(t.t_us, prev_t);
    ASSERT_EQ(t.handled.size(), 2u);
    ASSERT_EQ(t.busy.size(), 2u);
    const uint64_t handled = t.handled[0] + t.handled[1];
    EXPECT_GE(handled, prev_handled);  // cumulative
    prev_t = t.t_us;
    prev_handled = handled;
  }
  // Inline runs have no thread to sample from: --trace-us is refused, not
  // ignored.
  o.model = "inline";
  EXPECT_THAT(ValidateRunOptions(o).message(), HasSubstr("--trace-us applies only"));
}

TEST(RunSyntheticTest, LatencyIsMeasuredFromIngressToHandler) {
  RunOptions o = Small("inline", "deferred", "flow");
  o.handler_ns = 1000;
  const RunReport r = RunSound(o);
  EXPECT_EQ(r.latency.samples, static_cast<uint64_t>(kPackets));
  // One thread polls a source (a burst of 32, stamped together) and then
  // serves them one after another, each for at least 1 us on the clock the
  // stamps come from: the last of a burst started at least 31 us after its
  // stamp, and most packets wait behind several others. A measurement that
  // lost the stamp (near 0, or clamped at 10 s), used another clock or
  // timed something else fails these bounds.
  EXPECT_GE(r.latency.max_us, 31.0);
  EXPECT_GE(r.latency.p50_us, 3.0);
  EXPECT_LT(r.latency.p50_us, 1000.0);
  EXPECT_LT(r.latency.max_us, 1e6);
}

// What the Netisr the run created got (RunHooks::created), not only what
// the report echoes back.
TEST(RunSyntheticTest, AdaptiveTunablesReachNetisr) {
  RunOptions o = Small("inline", "adaptive", "flow");
  o.json = true;
  o.adaptive.interval_us = 0;
  o.adaptive.step = 0.5;
  o.adaptive.busy_high = 0.5;
  o.adaptive.busy_low = 0.25;
  o.adaptive.full_polls = 0.75;
  o.adaptive.delay_high_us = 60;
  o.adaptive.window_us = 50;
  o.adaptive.alpha = 0.125;
  o.adaptive.backpressure = 0.625;
  o.adaptive.spill = 0.875;
  o.adaptive.settle_windows = 7;
  std::optional<AdaptiveSettings> got;
  int created = 0;
  RunHooks hooks;
  hooks.created = [&](const Netisr& nisr) {
    ++created;
    got = nisr.settings().adaptive;
  };
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err, hooks), kExitOk) << err.str();
  ASSERT_EQ(created, 1);
  const AdaptiveSettings def;
  EXPECT_EQ(got->migration_interval_ns, 0u);
  EXPECT_EQ(got->migration_step, 0.5);
  EXPECT_EQ(got->busy_high, 0.5);
  EXPECT_EQ(got->busy_low, 0.25);
  EXPECT_EQ(got->full_polls_high, 0.75);
  EXPECT_EQ(got->delay_high_ns, 60'000u);
  EXPECT_EQ(got->load_window_ns, 50'000u);
  EXPECT_EQ(got->load_alpha, 0.125);
  EXPECT_EQ(got->backpressure_fill, 0.625);
  EXPECT_EQ(got->spill_fill, 0.875);
  EXPECT_EQ(got->settle_windows, 7u);
  EXPECT_EQ(got->delay_low_ns, def.delay_low_ns);  // not given: netisr's default
  EXPECT_EQ(got->room_busy, def.room_busy);
  // And the report says the same.
  const nlohmann::json a = nlohmann::json::parse(out.str())["config"]["adaptive"];
  EXPECT_EQ(a["interval_us"], 0.0);
  EXPECT_EQ(a["step"], 0.5);
  EXPECT_EQ(a["busy_high"], 0.5);
  EXPECT_EQ(a["busy_low"], 0.25);
  EXPECT_EQ(a["full_polls"], 0.75);
  EXPECT_EQ(a["delay_high_us"], 60.0);
  EXPECT_EQ(a["window_us"], 50.0);
  EXPECT_EQ(a["delay_low_us"], AdaptiveSettings{}.delay_low_ns / 1e3);  // default kept
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
      {"--burst", [](RunOptions& o) { o.burst = 257; }},
      {"--burst", [](RunOptions& o) { o.burst = -1; }},
      {"--skew", [](RunOptions& o) { o.skew = 1.5; }},
      {"--skew", [](RunOptions& o) { o.skew = 1.0; }},
      {"--skew", [](RunOptions& o) { o.skew = -0.1; }},
      {"--skew", [](RunOptions& o) { o.skew = std::nan(""); }},
      {"--rate", [](RunOptions& o) { o.rate = -1; }},
      {"--adaptive-busy-high", [](RunOptions& o) { o.adaptive.busy_high = 0; }},
      {"--adaptive-busy-low", [](RunOptions& o) { o.adaptive.busy_low = 0.95; }},
      {"--adaptive-room-busy", [](RunOptions& o) { o.adaptive.room_busy = 1.5; }},
      {"--adaptive-full-polls", [](RunOptions& o) { o.adaptive.full_polls = 0; }},
      {"--adaptive-delay-low-us", [](RunOptions& o) { o.adaptive.delay_low_us = 200; }},
      {"--adaptive-delay-high-us", [](RunOptions& o) { o.adaptive.delay_high_us = 0; }},
      {"--adaptive-interval-us", [](RunOptions& o) { o.adaptive.interval_us = -1; }},
      {"--adaptive-window-us", [](RunOptions& o) { o.adaptive.window_us = 5; }},
      {"--adaptive-alpha", [](RunOptions& o) { o.adaptive.alpha = 0; }},
      {"--adaptive-backpressure", [](RunOptions& o) { o.adaptive.backpressure = 0; }},
      {"--adaptive-backpressure", [](RunOptions& o) { o.adaptive.backpressure = 1.5; }},
      {"--adaptive-spill", [](RunOptions& o) { o.adaptive.spill = -0.1; }},
      {"--adaptive-step", [](RunOptions& o) { o.adaptive.step = 65; }},
      {"--adaptive-step", [](RunOptions& o) { o.adaptive.step = -1; }},
      {"--adaptive-settle-windows", [](RunOptions& o) { o.adaptive.settle_windows = 1001; }},
      {"--trace-us", [](RunOptions& o) { o.trace_us = -1; }},
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

// A flag of another mode is refused by name, never ignored (issue 12): the
// run would otherwise report a configuration it did not run.
TEST(ValidateRunOptionsTest, RefusesFlagsOfAnotherModeByName) {
  struct Case {
    const char* message;
    void (*set)(RunOptions&);
  };
  const Case cases[] = {
      {"--flows applies only", [](RunOptions& o) { o.source = "pcap:x.pcap", o.flows = 8; }},
      {"--flows applies only", [](RunOptions& o) { o.source = "dpdk:--no-pci", o.flows = 8; }},
      {"--seed applies only", [](RunOptions& o) { o.source = "pcap:x.pcap", o.seed = 3; }},
      {"--seed applies only", [](RunOptions& o) { o.source = "dpdk:--no-pci", o.seed = 3; }},
      {"--policy applies only", [](RunOptions& o) { o.source = "synthetic", o.policy = "flow"; }},
      {"--adaptive-alpha applies only with --dispatch adaptive",
       [](RunOptions& o) { o.adaptive.alpha = 0.5; }},
      {"--adaptive-interval-us applies only with --dispatch adaptive",
       [](RunOptions& o) { o.dispatch = "direct", o.adaptive.interval_us = 10; }},
      {"--adaptive-settle-windows applies only with --dispatch adaptive",
       [](RunOptions& o) { o.dispatch = "deferred", o.adaptive.settle_windows = 3; }},
      {"--trace-us applies only", [](RunOptions& o) { o.model = "inline", o.trace_us = 100; }},
      // 1e-300 pps: an infinite gap between packets; 1000 pps for 10^7
      // packets: almost 3 hours.
      {"--rate 1e-300 paces --packets 1000000 over 1e+306 s, more than the 3600 s bound",
       [](RunOptions& o) { o.rate = 1e-300; }},
      {"--rate 1000 paces --packets 10000000 over 1e+04 s",
       [](RunOptions& o) { o.rate = 1000, o.packets = 10'000'000; }},
      {"--rate", [](RunOptions& o) { o.source = "synthetic", o.rate = 1e-9; }},
  };
  for (const Case& c : cases) {
    RunOptions o;
    c.set(o);
    const Status st = ValidateRunOptions(o);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << c.message;
    EXPECT_THAT(st.message(), HasSubstr(c.message));
    std::ostringstream out, err;
    EXPECT_EQ(RunCommand(o, out, err), kExitUsage) << c.message;
    EXPECT_THAT(err.str(), HasSubstr(c.message));
  }
  // Their own modes take them; the bound is on the run's paced length.
  RunOptions ok;
  ok.dispatch = "adaptive";
  ok.adaptive.alpha = 0.5;
  ok.flows = 8;
  ok.seed = 3;
  ok.policy = "cpu";
  ok.trace_us = 100;
  ok.rate = 1000;
  ok.packets = 3'600'000;  // exactly the hour
  EXPECT_TRUE(ValidateRunOptions(ok).ok()) << ValidateRunOptions(ok).message();
}

// A packet the handler never releases: the run reports it (buffers_out,
// pools) and fails, as it does for a conservation failure.
TEST(RunCommandTest, BufferNotReturnedFailsTheRun) {
  RunOptions o = Small("inline", "direct", "flow");
  o.json = true;
  std::atomic<int> withheld{0};
  RunHooks hooks;
  hooks.withhold = [&](const Packet&) { return withheld.fetch_add(1) < 2; };
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand(o, out, err, hooks), kExitFailure);
  EXPECT_THAT(err.str(), HasSubstr("buffers not returned: pool source"));
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["buffers_out"], 2);
  EXPECT_EQ(j["delivered"], kPackets);  // counted, only not released
  uint64_t missing = 0;
  for (const auto& p : j["pools"])
    missing += p["capacity"].get<uint64_t>() - p["free"].get<uint64_t>();
  EXPECT_EQ(missing, 2u);
  // And a sound run reports every pool full.
  std::ostringstream out2, err2;
  ASSERT_EQ(RunCommand(o, out2, err2), kExitOk) << err2.str();
  const nlohmann::json k = nlohmann::json::parse(out2.str());
  EXPECT_EQ(k["buffers_out"], 0);
  EXPECT_EQ(k["pools"].size(), 2u);
}

TEST(ValidateRunOptionsTest, MessagesGiveTheAcceptedValues) {
  RunOptions o;
  o.cpus = 0;
  EXPECT_EQ(ValidateRunOptions(o).message(), "--cpus 0 out of range [1, 64]");
  o = RunOptions{};
  o.dispatch = "sideways";
  EXPECT_EQ(ValidateRunOptions(o).message(),
            "--dispatch 'sideways' is not one of: direct, deferred, hybrid, adaptive");
  o = RunOptions{};
  o.model = "bogus";
  EXPECT_EQ(ValidateRunOptions(o).message(),
            "--model 'bogus' is not one of: threads, inline, poll, fibers");
  o = RunOptions{};
  o.skew = 1.5;
  EXPECT_EQ(ValidateRunOptions(o).message(), "--skew 1.5 out of range [0, 1)");
  o = RunOptions{};
  o.rate = -1;
  EXPECT_EQ(ValidateRunOptions(o).message(), "--rate -1 out of range [0, 1000000000]");
  o = RunOptions{};
  o.adaptive.busy_low = 0.95;
  EXPECT_EQ(ValidateRunOptions(o).message(),
            "--adaptive-busy-low 0.95 exceeds --adaptive-busy-high 0.9");
}

TEST(ValidateRunOptionsTest, AcceptsEveryListedChoice) {
  for (std::string_view d : kDispatchChoices) {
    for (std::string_view m : kModelChoices) {
      RunOptions o;
      o.dispatch = d;
      o.model = m;
      EXPECT_TRUE(ValidateRunOptions(o).ok()) << d << " " << m;
    }
  }
  EXPECT_EQ(DescribeChoices(kPolicyChoices), "flow, source or cpu");
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
  for (const char* key : {"packets_in",
                          "delivered",
                          "dropped",
                          "dropped_total",
                          "reordered",
                          "mpps",
                          "seconds",
                          "config",
                          "netisr",
                          "migrations",
                          "decisions",
                          "p50_us",
                          "p99_us",
                          "p999_us",
                          "max_us",
                          "latency_samples",
                          "latency_by_workstream",
                          "source_packets",
                          "trace",
                          "buffers_out",
                          "pools"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  ASSERT_TRUE(j["latency_by_workstream"].is_array());
  uint64_t by_ws = 0;
  for (const auto& l : j["latency_by_workstream"]) by_ws += l["samples"].get<uint64_t>();
  EXPECT_EQ(by_ws, kPackets);
  for (const char* key : {"backpressure", "spill", "settle_windows"})
    EXPECT_TRUE(j["config"]["adaptive"].contains(key)) << key;
  EXPECT_TRUE(j["dropped"].is_object());
  EXPECT_TRUE(j["decisions"].is_object());
  EXPECT_TRUE(j["decisions"].empty());  // not adaptive
  EXPECT_EQ(j["migrations"], 0);
  EXPECT_EQ(j["latency_samples"], kPackets);
  EXPECT_LE(j["p50_us"].get<double>(), j["p99_us"].get<double>());
  EXPECT_TRUE(j["config"]["skew"].is_null());
  EXPECT_TRUE(j["trace"].is_array());
  EXPECT_EQ(j["config"]["rate"], 0.0);
  EXPECT_EQ(j["packets_in"], kPackets);
  EXPECT_EQ(j["config"]["sources"], 2);
  EXPECT_EQ(j["config"]["dispatch"], "hybrid");
  EXPECT_TRUE(j["netisr"]["workstreams"].is_array());
}

TEST(RunCommandTest, AdaptiveJsonReportsDecisions) {
  RunOptions o = Small("inline", "adaptive", "flow");
  o.json = true;
  o.skew = 0.5;
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(o, out, err), kExitOk) << err.str();
  const nlohmann::json j = nlohmann::json::parse(out.str());
  uint64_t decided = 0;
  for (const auto& [reason, n] : j["decisions"].items()) decided += n.get<uint64_t>();
  EXPECT_EQ(decided, static_cast<uint64_t>(kPackets));  // one decision per bucketed packet
  EXPECT_EQ(j["config"]["skew"], 0.5);
}

TEST(RunCommandTest, TableEndsWithSummaryLine) {
  std::ostringstream out, err;
  ASSERT_EQ(RunCommand(Small("inline", "direct", "source"), out, err), kExitOk) << err.str();
  EXPECT_THAT(out.str(), HasSubstr("WSID"));
  EXPECT_THAT(out.str(), HasSubstr("packets_in=20000 delivered=20000 dropped=0 reordered=0 mpps="));
  EXPECT_THAT(out.str(), HasSubstr(" p50_us="));
  EXPECT_THAT(out.str(), HasSubstr(" p99_us="));
  EXPECT_THAT(out.str(), HasSubstr(" migrations=0 "));
  EXPECT_THAT(out.str(), HasSubstr("model=inline dispatch=direct policy=source cpus=2 source=bench "
                                   "buffers_out=0\n"));
}

}  // namespace
}  // namespace netisr::apps
