// The simulator's guarantees through its public interface (sim/simulator.h):
// determinism, conservation and per-flow order in every scenario, the
// closed forms of queueing theory under the ideal profile, and its
// config errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "sim/simulator.h"

namespace netisr::sim {
namespace {

// The JSON without what depends on the machine's speed.
nlohmann::json Stable(const SimResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.ToJson());
  j.erase("wall_s");
  j.erase("cpu_s");
  j.erase("sim_pps");
  return j;
}

SimResult MustRun(const SimConfig& c) {
  auto r = RunSim(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : SimResult{};
}

// The adaptive controller's tests below fix their costs: those of the
// profile shipped until 2026-12-07 (rx 150 and handoff 170 ns, calibrated on
// a loaded machine; lookups 45/30/22/18 ns and wakeup 12 us, estimated; no
// stalls, no per-burst costs, no cost of adaptive's own decision), with
// which their loads and bounds were chosen. The
// shipped profile follows the machine (`netisr calibrate`) and must not
// change what these tests mean.
SimConfig ControllerConfig() {
  SimConfig c;
  c.profile.rx_burst_ns = 0;
  c.profile.rx_pkt_ns = 150;
  c.profile.adaptive_pkt_ns = 0;
  c.profile.handoff_burst_ns = 0;
  c.profile.handoff_pkt_ns = 170;
  c.profile.handoff_producer_ns = 0;  // the consumer paid it all then
  c.profile.lookup_global_ns = 45;
  c.profile.lookup_groups_ns = 30;
  c.profile.lookup_epoch_ns = 22;
  c.profile.lookup_partitioned_ns = 18;
  c.profile.wakeup_ns = 12000;
  c.profile.stall_gap_ns = 0;
  c.profile.stall_ns = 0;
  return c;
}

TEST(SimTest, SameSeedSameResultBitForBit) {
  for (const char* dispatch : {"hybrid", "adaptive", "oracle"}) {
    SimConfig c;
    c.cpus = 4;
    c.packets = 60'000;
    c.scenario = "mix";
    c.dispatch = dispatch;
    c.load_pps = 3e6;
    c.seed = 7;
    const nlohmann::json a = Stable(MustRun(c)), b = Stable(MustRun(c));
    EXPECT_EQ(a.dump(), b.dump()) << dispatch;
    c.seed = 8;
    EXPECT_NE(a.dump(), Stable(MustRun(c)).dump()) << "the seed must matter: " << dispatch;
  }
}

// Every scenario, bit for bit, under the most stateful mode (adaptive:
// loads, migrations, the order fence) and deferred.
TEST(SimTest, EveryScenarioIsDeterministic) {
  for (std::string_view scenario : kScenarioChoices) {
    for (const char* dispatch : {"deferred", "adaptive"}) {
      SimConfig c;
      c.cpus = 3;
      c.packets = 20'000;
      c.scenario = std::string(scenario);
      c.dispatch = dispatch;
      c.load_pps = 2e6;
      c.seed = 11;
      EXPECT_EQ(Stable(MustRun(c)).dump(), Stable(MustRun(c)).dump())
          << scenario << " " << dispatch;
    }
  }
}

// Every scenario under every dispatch mode and policy: every packet that
// entered is delivered or dropped under a named reason, every buffer comes
// back, and no flow is reordered.
TEST(SimTest, ConservationAndOrderInEveryScenario) {
  for (std::string_view scenario : kScenarioChoices) {
    for (std::string_view dispatch : kSimDispatchChoices) {
      for (std::string_view policy : kSimPolicyChoices) {
        if (dispatch == "oracle" && policy != "flow") continue;
        for (double load : {0.0, 2e6}) {
          SimConfig c;
          // Not a power of two: when the flow policy placed flows by
          // flowid % 3, a flow bucket (flowid & 255) held flows of different
          // workstreams, a packet queued behind its bucket's outstanding one
          // ran on another flow's workstream, and reqresp's responses then
          // left from two producers and were reordered (base/flow_bucket.h).
          c.cpus = 3;
          c.packets = 20'000;
          c.flows = 64;
          c.scenario = std::string(scenario);
          c.dispatch = std::string(dispatch);
          c.policy = std::string(policy);
          c.load_pps = load;
          c.qlimit = 64;  // small, so that saturation tail-drops somewhere
          const SimResult r = MustRun(c);
          const std::string what =
              c.scenario + "/" + c.dispatch + "/" + c.policy + "/" + std::to_string(load);
          EXPECT_TRUE(r.conserved) << what << " " << r.ToJson();
          EXPECT_EQ(r.packets, r.delivered + r.TotalDropped()) << what;
          EXPECT_GE(r.packets, 20'000u) << what;
          EXPECT_EQ(r.reordered, 0u) << what;
          EXPECT_EQ(r.cpu_util.size(), 3u) << what;
        }
      }
    }
  }
}

// One CPU, Poisson arrivals, exponential service, no overheads: M/M/1, whose
// mean sojourn is 1 / (mu - lambda).
TEST(SimTest, MM1MeanSojournMatchesTheClosedForm) {
  const double service_ns = 1000;  // mu = 1e6 / s
  for (double rho : {0.5, 0.6, 0.7, 0.8, 0.9}) {
    SimConfig c;
    c.cpus = 1;
    c.packets = rho < 0.85 ? 1'000'000 : 3'000'000;
    c.dispatch = "direct";
    c.load_pps = rho * 1e9 / service_ns;
    c.service_ns = service_ns;
    c.service_dist = "exp";
    c.profile = IdealProfile();
    c.seed = 3;
    const SimResult r = MustRun(c);
    const double expect_us = 1e6 / (1e9 / service_ns - c.load_pps);
    const double err = std::abs(r.mean_us - expect_us) / expect_us;
    EXPECT_LT(err, 0.03) << "rho " << rho << ": mean " << r.mean_us << " us, M/M/1 says "
                         << expect_us;
    std::printf("M/M/1 rho %.1f: mean %.3f us, closed form %.3f us, error %.2f%%\n", rho, r.mean_us,
                expect_us, 100 * err);
  }
}

// Deterministic service: M/D/1, Pollaczek-Khinchine: W = S + rho S / (2 (1 - rho)).
TEST(SimTest, MD1MeanSojournMatchesPollaczekKhinchine) {
  const double service_ns = 1000;
  for (double rho : {0.5, 0.7, 0.9}) {
    SimConfig c;
    c.cpus = 1;
    c.packets = 2'000'000;
    c.dispatch = "direct";
    c.load_pps = rho * 1e6;
    c.service_ns = service_ns;
    c.service_dist = "fixed";
    c.profile = IdealProfile();
    const SimResult r = MustRun(c);
    const double expect_us = 1.0 + rho / (2 * (1 - rho));
    const double err = std::abs(r.mean_us - expect_us) / expect_us;
    EXPECT_LT(err, 0.03) << "rho " << rho << ": mean " << r.mean_us << " us, P-K says "
                         << expect_us;
    std::printf("M/D/1 rho %.1f: mean %.3f us, closed form %.3f us, error %.2f%%\n", rho, r.mean_us,
                expect_us, 100 * err);
  }
}

// The bimodal service (90% at x/2, 10% at 5.5x: mean x, E[S^2] = 3.25 x^2)
// under Poisson arrivals is an M/G/1 queue: Pollaczek-Khinchine's mean
// sojourn x + lambda E[S^2] / (2 (1 - rho)).
TEST(SimTest, MG1BimodalMeanSojournMatchesPollaczekKhinchine) {
  for (double rho : {0.5, 0.8}) {
    SimConfig c;
    c.cpus = 1;
    c.packets = 2'000'000;
    c.dispatch = "direct";
    c.load_pps = rho * 1e6;
    c.service_ns = 1000;
    c.service_dist = "bimodal";
    c.profile = IdealProfile();
    const SimResult r = MustRun(c);
    const double expect_us = 1.0 + 3.25 * rho / (2 * (1 - rho));
    const double err = std::abs(r.mean_us - expect_us) / expect_us;
    EXPECT_LT(err, 0.03) << "rho " << rho << ": mean " << r.mean_us << " us, P-K says "
                         << expect_us;
    std::printf("M/G/1 bimodal rho %.1f: mean %.3f us, closed form %.3f us, error %.2f%%\n", rho,
                r.mean_us, expect_us, 100 * err);
  }
}

// Fixed arrivals below a fixed service rate never queue: D/D/1 sojourn is
// exactly the service time.
TEST(SimTest, DD1NeverQueues) {
  SimConfig c;
  c.cpus = 1;
  c.packets = 100'000;
  c.dispatch = "direct";
  c.arrival = "fixed";
  c.load_pps = 5e5;
  c.service_ns = 1000;
  c.service_dist = "fixed";
  c.profile = IdealProfile();
  const SimResult r = MustRun(c);
  EXPECT_NEAR(r.mean_us, 1.0, 1e-9);
  EXPECT_NEAR(r.throughput_pps, 5e5, 5e5 * 1e-3);
  EXPECT_NEAR(r.cpu_util[0], 0.5, 1e-3);
}

// Saturated, ideal: throughput is the CPUs' service rate; direct dispatch on
// one hot RX queue is limited by that queue's CPU.
TEST(SimTest, SaturatedThroughputIsTheServiceRate) {
  SimConfig c;
  c.cpus = 4;
  c.packets = 400'000;
  c.dispatch = "deferred";
  c.service_ns = 1000;
  c.service_dist = "fixed";
  c.profile = IdealProfile();
  const SimResult r = MustRun(c);
  EXPECT_GT(r.throughput_pps, 4e6 * 0.9) << r.ToJson();
  EXPECT_LE(r.throughput_pps, 4e6 * 1.001) << r.ToJson();
}

// One CPU saturated with 1 us packets, no overheads: the stall tests'
// baseline (a busy CPU's share of time is its throughput's).
SimConfig SaturatedOneCpu(int64_t packets) {
  SimConfig c;
  c.cpus = 1;
  c.packets = packets;
  c.dispatch = "direct";
  c.service_ns = 1000;
  c.service_dist = "fixed";
  c.profile = IdealProfile();
  return c;
}

// Stalls (CostProfile::stall_gap_ns, stall_ns) take that share of a busy
// CPU: stalls of S every G on average (a stall, then exponential free time)
// leave a saturated worker 1 - S/G of its time, so it carries mu (1 - S/G).
// A sleeping worker loses only what is left of a stall at its wakeup: at
// 10% load they cost the throughput nothing, and the latency a little.
// Same seed, same result.
TEST(SimTest, StallsTakeTheirShareOfABusyCpu) {
  SimConfig c = SaturatedOneCpu(400'000);
  const SimResult clean = MustRun(c);
  c.profile.stall_gap_ns = 100'000;
  c.profile.stall_ns = 10'000;
  const SimResult stalled = MustRun(c);
  EXPECT_NEAR(stalled.throughput_pps / clean.throughput_pps, 0.9, 0.01) << stalled.ToJson();
  EXPECT_EQ(Stable(MustRun(c)), Stable(stalled));
  c.load_pps = 1e5;  // 10% busy
  c.packets = 50'000;
  const SimResult light = MustRun(c);
  EXPECT_NEAR(light.throughput_pps, 1e5, 1e3) << light.ToJson();
  EXPECT_GT(light.p99_us, 1.0) << light.ToJson();  // some arrivals meet a stall
  EXPECT_LT(light.p50_us, 1.5) << light.ToJson();  // most do not
  EXPECT_TRUE(light.conserved);
}

// A distribution of stall lengths (CostProfile::stall_p10_ns ..
// stall_max_ns) takes its mean's share of a busy CPU, not its median's:
// here most stalls are short and one in ten long, as on the development VM.
TEST(SimTest, StallLengthsAreDrawnFromTheirDistribution) {
  SimConfig c = SaturatedOneCpu(400'000);
  const SimResult clean = MustRun(c);
  std::vector<uint64_t> lengths(900, 2'000);
  lengths.insert(lengths.end(), 100, 82'000);  // sample mean 10 us, median 2 us
  c.profile.stall_gap_ns = 100'000;
  c.profile.SetStallLengths(lengths);
  ASSERT_TRUE(c.profile.StallsVary());
  ASSERT_EQ(c.profile.stall_ns, 2'000);
  // The model's mean (~6.4 us: between p90 and p99 its inverse is linear,
  // where the sample steps): the tail counts, if smoothed.
  const double mean = c.profile.MeanStallNs();
  ASSERT_GT(mean, 5'000);
  const SimResult stalled = MustRun(c);
  const double kept = stalled.throughput_pps / clean.throughput_pps;
  EXPECT_NEAR(kept, 1 - mean / c.profile.stall_gap_ns, 0.01) << stalled.ToJson();
  EXPECT_LT(kept, 0.97);  // every stall at the median would keep 0.98
  EXPECT_EQ(Stable(MustRun(c)), Stable(stalled));
  EXPECT_TRUE(stalled.conserved);
}

// Shared stalls (CostProfile::stall_shared) take every CPU at once. A
// consumer stalled alone lets its producer fill its queue; stalled with
// it, nothing piles up. Each CPU loses the same share either way.
TEST(SimTest, SharedStallsStopTheProducerToo) {
  SimConfig c;
  c.cpus = 2;
  c.packets = 400'000;
  c.dispatch = "deferred";
  c.bench = true;
  c.service_ns = 300;
  c.service_dist = "fixed";
  c.profile = DefaultProfile();  // the crossing's costs keep the queues short
  // Stalls as measured on the development VM: 40% of ~3 us, half of 15-20
  // us, a tail to a millisecond; one every ~0.6 ms on each CPU.
  std::vector<uint64_t> lengths(400, 3'000);
  lengths.insert(lengths.end(), 500, 17'000);
  lengths.insert(lengths.end(), 90, 40'000);
  lengths.insert(lengths.end(), 9, 100'000);
  lengths.push_back(1'000'000);
  c.profile.stall_gap_ns = 600'000;
  c.profile.SetStallLengths(lengths);
  const SimResult alone = MustRun(c);
  c.profile.stall_shared = 1;
  const SimResult together = MustRun(c);
  EXPECT_NEAR(together.throughput_pps / alone.throughput_pps, 1.0, 0.03)
      << alone.ToJson() << together.ToJson();
  EXPECT_LT(together.p99_us, 0.8 * alone.p99_us) << alone.ToJson() << together.ToJson();
  EXPECT_EQ(Stable(MustRun(c)), Stable(together));
  EXPECT_TRUE(together.conserved);
  EXPECT_EQ(together.reordered, 0u);
}

// One CPU with shared stalls: the shared stream alone, long enough that
// it is trimmed many times over (its generation does not read what the
// trim dropped), taking the same share of the CPU as private stalls.
TEST(SimTest, SharedStallsOnOneCpu) {
  SimConfig c = SaturatedOneCpu(200'000);
  c.profile.stall_gap_ns = 20'000;  // ~10,000 stalls in the run
  c.profile.stall_ns = 1'000;
  const SimResult alone = MustRun(c);
  c.profile.stall_shared = 1;
  const SimResult shared = MustRun(c);
  EXPECT_NEAR(shared.throughput_pps / alone.throughput_pps, 1.0, 0.01)
      << alone.ToJson() << shared.ToJson();
  EXPECT_TRUE(shared.conserved);
}

// Stalls that take most of a CPU: a stream's stalls never pile up, so a
// share S/G of 0.9 leaves a saturated worker 0.1 of its time, and a
// profile whose mean stall is longer than its gap (built in code: the
// parser refuses it) still ends, each CPU running free / (stall + free)
// of the time, the free time floored at 5% of the gap (here 1 / 31).
// Before, stall begins were a Poisson stream whose stalls summed:
// at a share near 1 the clock ran away and the run never ended (netisr
// compare hung with stalls measured on a loaded machine).
TEST(SimTest, StallsTakingMostOfTheCpuStillEnd) {
  SimConfig c = SaturatedOneCpu(100'000);
  const SimResult clean = MustRun(c);
  c.profile.stall_gap_ns = 20'000;
  c.profile.stall_ns = 18'000;
  const SimResult most = MustRun(c);
  EXPECT_NEAR(most.throughput_pps / clean.throughput_pps, 0.1, 0.01) << most.ToJson();
  EXPECT_TRUE(most.conserved);
  c.profile.stall_ns = 30'000;  // longer than the gap
  c.packets = 20'000;
  const SimResult beyond = MustRun(c);
  EXPECT_TRUE(beyond.conserved);
  EXPECT_GT(beyond.throughput_pps, 0.01 * clean.throughput_pps) << beyond.ToJson();
  EXPECT_LT(beyond.throughput_pps, 0.1 * clean.throughput_pps) << beyond.ToJson();
  // Both streams on two CPUs, as netisr compare measures them.
  c.cpus = 2;
  c.dispatch = "deferred";
  c.profile.stall_ns = 18'000;
  c.profile.stall_shared = 0.5;
  const SimResult both = MustRun(c);
  EXPECT_TRUE(both.conserved);
  EXPECT_EQ(both.reordered, 0u);
  EXPECT_GT(both.throughput_pps, 0) << both.ToJson();
}

// Stalls as compare measured them beside the test suite on both CPUs (the
// measuring threads lost ~97% of their time: stalls to 36 ms every 1.5 ms),
// under skew with adaptive dispatch, whose producer holds its sources
// while its consumer's queue is full. The producer retries behind a long
// stall of the consumer; the stalls that fall on it meanwhile cost it
// nothing more. Before, they piled up as pending stall time spent at its
// next poll, which stalled it for seconds while the consumer retried in
// turn: the virtual clock ran away (netisr compare hung in cli_test).
TEST(SimTest, RetryingBehindAStalledConsumerDoesNotPileUpStalls) {
  SimConfig c;
  c.cpus = 2;
  c.packets = 20'000;
  c.scenario = "skew";
  c.dispatch = "adaptive";
  c.bench = true;
  c.profile = DefaultProfile();
  c.profile.stall_gap_ns = 1'465'616;
  c.profile.stall_p10_ns = 3'000;
  c.profile.stall_p25_ns = 6'000;
  c.profile.stall_ns = 10'780;
  c.profile.stall_p75_ns = 30'000;
  c.profile.stall_p90_ns = 200'000;
  c.profile.stall_p99_ns = 24'308'469;
  c.profile.stall_p999_ns = 32'272'661;
  c.profile.stall_max_ns = 36'140'299;
  ASSERT_LT(c.profile.MeanStallNs(), c.profile.stall_gap_ns);
  // At 4 CPUs, every queue a producer, several retry behind one stalled
  // consumer at once (they used to cap each other's backoff).
  for (int cpus : {2, 4}) {
    c.cpus = cpus;
    const SimResult r = MustRun(c);
    EXPECT_TRUE(r.conserved) << cpus;
    EXPECT_EQ(r.reordered, 0u) << cpus;
    // The CPUs lose ~97% of their time: the run takes ~30x the ~5 ms it
    // takes unstalled, not the minutes of virtual time the pile-up gave.
    EXPECT_LT(r.virtual_s, 2.0) << cpus << ": " << r.ToJson();
  }
}

TEST(SimTest, BadConfigNamesTheFieldAndTheChoices) {
  SimConfig c;
  c.scenario = "bogus";
  Status st = ValidateSimConfig(c);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--scenario 'bogus' is not one of: uniform, zipf"), std::string::npos)
      << st.message();
  c = SimConfig{};
  c.dispatch = "fast";
  EXPECT_NE(ValidateSimConfig(c).message().find("oracle"), std::string::npos);
  c = SimConfig{};
  c.cpus = 65;
  EXPECT_NE(ValidateSimConfig(c).message().find("--cpus 65 out of range [1, 64]"),
            std::string::npos);
  c = SimConfig{};
  c.dispatch = "oracle";
  c.policy = "source";
  EXPECT_NE(ValidateSimConfig(c).message().find("needs --policy flow"), std::string::npos);
  EXPECT_FALSE(RunSim(c).ok());
}

// The dispatcher's load metering reads the injected virtual clock
// (Settings::clock): under skew the hot RX queue's CPU reads as saturated
// in virtual time and adaptive moves buckets off it. Were the workers to
// time their handlers on the real clock, each would look idle (a simulated
// handler takes nanoseconds of real time) and nothing would move.
TEST(SimTest, AdaptiveSeesTheVirtualLoad) {
  SimConfig c = ControllerConfig();
  c.cpus = 2;
  c.packets = 400'000;
  c.scenario = "skew";
  c.dispatch = "adaptive";
  c.load_pps = 2.7e6;
  const SimResult r = MustRun(c);
  EXPECT_GT(r.migrations, 0u) << r.ToJson();
  EXPECT_GT(r.cpu_util[1], 0.45) << r.ToJson();
  EXPECT_EQ(r.reordered, 0u);
}

// A hot RX queue's CPU sheds its buckets faster with a migration budget
// (AdaptiveSettings::migration_step) than one move per interval, and gets
// closer to the oracle's placement: compare's skew run at 32 CPUs.
TEST(SimTest, MigrationStepShedsAHotQueueFaster) {
  SimConfig c = ControllerConfig();
  c.cpus = 32;
  c.packets = 500'000;
  c.scenario = "skew";
  c.load_pps = 43.077e6;  // compare's auto load for skew at 32 CPUs
  c.dispatch = "oracle";
  const SimResult oracle = MustRun(c);
  c.dispatch = "adaptive";
  c.adaptive.migration_step = 0;  // one move per interval
  const SimResult one = MustRun(c);
  c.adaptive.migration_step = AdaptiveSettings{}.migration_step;
  const SimResult step = MustRun(c);
  EXPECT_GT(step.steady_pps, 1.08 * one.steady_pps) << one.ToJson() << step.ToJson();
  EXPECT_GT(step.steady_pps, 0.88 * oracle.steady_pps) << oracle.ToJson() << step.ToJson();
  EXPECT_LT(step.p99_us, 0.75 * one.p99_us);
  EXPECT_EQ(step.reordered, 0u);
  EXPECT_TRUE(step.conserved);
}

// Consumers never idle inside a handler waiting for an RX packet stamped
// in their future (engine.cc PollQueue): the dispatcher's load meter times
// whole rounds, so such waits read as busy and adaptive, seeing every CPU
// near room_busy, stopped shedding the hot queue at ~0.55 utilisation
// (steady 0.82x the oracle here before the RX stamp moved to the round's
// start).
TEST(SimTest, AdaptiveFillsConsumersUnderSkewAtEightCpus) {
  SimConfig c = ControllerConfig();
  c.cpus = 8;
  c.packets = 1'000'000;
  c.scenario = "skew";
  c.load_pps = 12e6;  // above capacity: the hot CPU stays saturated
  c.dispatch = "oracle";
  const SimResult oracle = MustRun(c);
  c.dispatch = "adaptive";
  const SimResult adaptive = MustRun(c);
  EXPECT_GT(adaptive.steady_pps, 0.93 * oracle.steady_pps) << oracle.ToJson() << adaptive.ToJson();
  EXPECT_EQ(adaptive.reordered, 0u);
  EXPECT_TRUE(adaptive.conserved);
}

// A hot RX queue's producer, deeply behind, moves more than one bucket to
// a target within its settle period while the target's room holds them
// (AdaptiveView::pending): compare's skew run at 8 CPUs (70% load, 500 k
// packets) carried 0.74 of the oracle's throughput with one move per target
// and settle period, 0.93 with this.
TEST(SimTest, DeeplyBehindProducerFillsSettlingTargets) {
  SimConfig c = ControllerConfig();
  c.cpus = 8;
  c.load_pps = 10.769e6;  // compare's auto load for skew at 8 CPUs
  c.packets = 500'000;    // compare's least per run
  c.scenario = "skew";
  c.dispatch = "oracle";
  const SimResult oracle = MustRun(c);
  c.dispatch = "adaptive";
  const SimResult adaptive = MustRun(c);
  EXPECT_GT(adaptive.throughput_pps, 0.9 * oracle.throughput_pps)
      << oracle.ToJson() << adaptive.ToJson();
  EXPECT_EQ(adaptive.reordered, 0u);
  EXPECT_TRUE(adaptive.conserved);
}

// Request/response with adaptive dispatch on many CPUs: a request bucket
// that moves takes its responses' producer with it, and a consumer drains
// its lanes in producer order, so a response from the new CPU overtook one
// still queued from the old (180 and 123 reordered packets here before the
// order fence, OrderFence in netisr/internal/adaptive_placement.h); and a
// response re-placing its bucket from inside the direct run of a request
// in the same bucket moved it before that request had run (1 in 2 M
// packets at 64 CPUs, Producer::direct_floor).
TEST(SimTest, AdaptiveRequestResponseKeepsOrderAtManyCpus) {
  for (const auto& [cpus, packets] : {std::pair{16, 400'000}, std::pair{32, 200'000}}) {
    SimConfig c = ControllerConfig();
    c.cpus = cpus;
    c.packets = packets;
    c.scenario = "reqresp";
    c.dispatch = "adaptive";
    c.seed = 1;
    const SimResult r = MustRun(c);
    EXPECT_EQ(r.reordered, 0u) << cpus << " CPUs: " << r.ToJson();
    EXPECT_TRUE(r.conserved) << cpus;
    EXPECT_GT(r.migrations, 0u) << cpus << ": no bucket moved, nothing was tested";
  }
}

// With RX cheap enough that a hot queue's CPU can feed many others (the
// costs calibrated on 2026-12-07, rx 53 and handoff 180 ns, pinned here),
// its first moves out land on targets chosen from loads that do not show
// them yet; some overfill and spill back onto the hot CPU, others stay
// idle. Moving such a bucket on (kRebalance) brought compare's skew at 16
// simulated CPUs from 0.83 to 1.05 of the oracle (before: six of the 16
// CPUs at ~0.30 busy, the hot one at 1.0 with a 12 ms backlog; this test
// reads 0.84 without the rule).
TEST(SimTest, AdaptiveMovesBucketsOffOverfullTargetsUnderSkewAtSixteenCpus) {
  SimConfig c = ControllerConfig();
  c.profile.rx_pkt_ns = 53;
  c.profile.handoff_pkt_ns = 180;
  c.cpus = 16;
  c.packets = 2'000'000;
  c.scenario = "skew";
  c.load_pps = 26.353e6;  // compare's auto load for skew at 16 CPUs
  c.dispatch = "oracle";
  const SimResult oracle = MustRun(c);
  c.dispatch = "adaptive";
  const SimResult adaptive = MustRun(c);
  EXPECT_GT(adaptive.steady_pps, 0.95 * oracle.steady_pps) << oracle.ToJson() << adaptive.ToJson();
  EXPECT_GT(adaptive.decisions.at("rebalance"), 0u) << adaptive.ToJson();
  for (int w = 1; w < c.cpus; ++w) EXPECT_GT(adaptive.cpu_util[w], 0.5) << w;
  EXPECT_EQ(adaptive.reordered, 0u);
  EXPECT_TRUE(adaptive.conserved);
}

// Who pays the crossing (CostProfile::handoff_producer_ns). Saturated
// deferred dispatch in the bench layout on 2 CPUs: when the consumer pays
// all of it, a CPU with a longer backlog of crossing packets runs longer
// rounds, polls less, and the other CPU pushes more at it: the queues run
// away to the queue limit (with rx 36 and a crossing of 171 ns, as
// measured beside the real runs: 11% tail-dropped, p99 138 us, where the
// real dispatcher dropped 0-1.7% with a p99 of 34-55 us). With the
// producer paying its measured part the run is stable. The costs are those
// of the profile shipped when this was found (rx 53, a crossing of 180 ns
// of which the producer measured 147, nothing per burst): the shipped
// profile follows the machine.
TEST(SimTest, ProducerPaysItsPartOfTheCrossingAndDeferredQueuesStayShort) {
  SimConfig c;
  c.cpus = 2;
  c.packets = 400'000;
  c.dispatch = "deferred";
  c.service_dist = "fixed";
  c.bench = true;
  c.profile.stall_gap_ns = 0;
  c.profile.rx_burst_ns = 0;
  c.profile.rx_pkt_ns = 53;
  c.profile.handoff_burst_ns = 0;
  c.profile.handoff_pkt_ns = 180;
  c.profile.handoff_producer_ns = 0;
  const SimResult consumer_pays = MustRun(c);
  c.profile.handoff_producer_ns = 147;
  const SimResult split = MustRun(c);
  EXPECT_GT(consumer_pays.TotalDropped(), c.packets / 20) << consumer_pays.ToJson();
  EXPECT_EQ(split.TotalDropped(), 0u) << split.ToJson();
  EXPECT_LT(split.p99_us, 0.5 * consumer_pays.p99_us) << split.ToJson();
  EXPECT_TRUE(split.conserved);
  // The total is the same: only where it falls moved.
  EXPECT_NEAR(split.throughput_pps, consumer_pays.throughput_pps,
              0.05 * consumer_pays.throughput_pps);
}

// A push is paid for once. Under hybrid dispatch at a light load a poll
// runs each request in place, and the request's handler sends its response
// from inside (a nested dispatch, queued, to the other CPU for about half
// of them); the handler's clock pays the producer's part of that crossing,
// and the poll, when its dispatch returns, must not pay it again. At a
// fixed offered load the CPU time spent is the same whichever side pays a
// large crossing; charging the nested push twice cost the producer-pays
// run the whole crossing again (the two CPUs' summed busy 0.17 higher
// here).
TEST(SimTest, ANestedPushIsPaidForOnce) {
  SimConfig c;
  c.cpus = 2;
  c.packets = 100'000;
  c.scenario = "reqresp";
  c.dispatch = "hybrid";
  c.load_pps = 2e5;
  c.service_dist = "fixed";
  c.profile = IdealProfile();
  c.profile.rx_pkt_ns = 50;
  c.profile.handoff_pkt_ns = 2000;
  c.profile.handoff_producer_ns = 0;
  const SimResult consumer = MustRun(c);
  c.profile.handoff_producer_ns = 2000;
  const SimResult producer = MustRun(c);
  auto busy = [](const SimResult& r) { return r.cpu_util[0] + r.cpu_util[1]; };
  EXPECT_NEAR(busy(producer), busy(consumer), 0.02 * busy(consumer))
      << consumer.ToJson() << producer.ToJson();
  EXPECT_TRUE(producer.conserved);
  EXPECT_EQ(producer.reordered, 0u);
}

TEST(ProfileTest, ShippedFileIsTheDefault) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string path =
      std::string(srcdir ? srcdir : ".") + "/netisr/sim/profiles/default.profile";
  auto p = LoadProfile(path);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(FormatProfile(*p), FormatProfile(DefaultProfile()));
}

TEST(ProfileTest, RoundTripsAndRejectsBadLines) {
  CostProfile d = DefaultProfile();
  auto back = ParseProfile(FormatProfile(d), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(FormatProfile(*back), FormatProfile(d));
  EXPECT_EQ(FormatProfile(IdealProfile()), FormatProfile(*ParseProfile("# nothing\n", "y")));
  auto bad = ParseProfile("rx_pkt_ns = 3\nwarp_ns = 4\n", "f.profile");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("f.profile:2: unknown key 'warp_ns'"), std::string::npos)
      << bad.status().message();
  bad = ParseProfile("rx_pkt_ns = -1\n", "g");
  EXPECT_NE(bad.status().message().find("g:1: rx_pkt_ns '-1'"), std::string::npos);
  bad = ParseProfile("rx_pkt_ns 3\n", "h");
  EXPECT_NE(bad.status().message().find("h:1: expected `key = value`"), std::string::npos);
  EXPECT_EQ(LoadProfile("/nonexistent/x.profile").status().code(), ErrorCode::kNotFound);
  bad = ParseProfile("handoff_pkt_ns = 100\nhandoff_producer_ns = 120\n", "k");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("handoff_producer_ns 120"), std::string::npos)
      << bad.status().message();
}

// The quantiles by nearest rank, read back as a piecewise-linear inverse
// distribution; all or none of them, ascending; stall_shared is a share.
TEST(ProfileTest, StallLengthsAreAPiecewiseLinearDistribution) {
  CostProfile p = IdealProfile();
  p.stall_ns = 7'000;
  EXPECT_FALSE(p.StallsVary());
  EXPECT_EQ(p.StallNsAt(0.999), 7'000);
  EXPECT_EQ(p.MeanStallNs(), 7'000);
  std::vector<uint64_t> lengths;
  for (uint64_t i = 1; i <= 1000; ++i) lengths.push_back(i * 1000);  // 1..1000 us, evenly
  p.SetStallLengths(lengths);
  EXPECT_EQ(p.stall_p10_ns, 100'000);
  EXPECT_EQ(p.stall_p25_ns, 250'000);
  EXPECT_EQ(p.stall_ns, 500'000);
  EXPECT_EQ(p.stall_p99_ns, 990'000);
  EXPECT_EQ(p.stall_p999_ns, 999'000);
  EXPECT_EQ(p.stall_max_ns, 1'000'000);
  EXPECT_EQ(p.StallNsAt(0.05), 100'000);                  // below p10: p10
  EXPECT_DOUBLE_EQ(p.StallNsAt(0.3), 300'000);            // between p25 and p50
  EXPECT_DOUBLE_EQ(p.StallNsAt(1.0), 1'000'000);          // the longest seen
  EXPECT_NEAR(p.MeanStallNs(), 500'500, 0.02 * 500'500);  // the sample's mean
  auto back = ParseProfile(FormatProfile(p), "q");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(FormatProfile(*back), FormatProfile(p));
  p.SetStallLengths({});
  EXPECT_FALSE(p.StallsVary());
  EXPECT_EQ(p.stall_ns, 500'000);  // kept: the single length

  auto bad = ParseProfile("stall_ns = 10\nstall_p99_ns = 50\n", "partial");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("partial: the stall quantiles"), std::string::npos)
      << bad.status().message();
  bad = ParseProfile(
      "stall_p10_ns = 1\nstall_p25_ns = 2\nstall_ns = 3\nstall_p75_ns = 4\n"
      "stall_p90_ns = 5\nstall_p99_ns = 4\nstall_p999_ns = 7\nstall_max_ns = 8\n",
      "unordered");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("ascending"), std::string::npos);
  bad = ParseProfile("stall_shared = 1.5\n", "share");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("share:1: stall_shared '1.5' is not a share in [0, 1]"),
            std::string::npos)
      << bad.status().message();
  EXPECT_TRUE(ParseProfile("stall_shared = 0.8\n", "ok").ok());
  bad = ParseProfile("stall_gap_ns = 1000\nstall_ns = 1000\n", "never");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not shorter than stall_gap_ns"), std::string::npos)
      << bad.status().message();
  EXPECT_TRUE(ParseProfile("stall_gap_ns = 1000\nstall_ns = 999\n", "ok").ok());
}

}  // namespace
}  // namespace netisr::sim
