// See sim_cli.h.
#include "apps/sim_cli.h"

#include <string>

#include "apps/option_checks.h"

namespace netisr::apps {

SimCli::SimCli(CLI::App& app) {
  SimOptions& o = sim_;
  CLI::App* s = app.add_subcommand(
      "sim",
      "Simulate the real dispatcher in virtual time: throughput, sojourn latency, drops, "
      "reordering and CPU use of one policy on one scenario, at any CPU count");
  s->add_option("--cpus", o.cpus, "Simulated CPUs (workstreams), 1..64")->capture_default_str();
  s->add_option("--packets", o.packets, "Arrivals over all RX queues, 1..1e10")
      ->capture_default_str();
  s->add_option("--scenario", o.scenario,
                "Traffic: " + DescribeChoices(sim::kScenarioChoices) +
                    " (skew: 60% on one RX queue; reqresp: each request answered through "
                    "netisr)")
      ->capture_default_str();
  s->add_option("--dispatch", o.dispatch,
                "Dispatch: " + DescribeChoices(sim::kSimDispatchChoices) +
                    " (oracle: the best static bucket placement, as affinity hints)")
      ->capture_default_str();
  s->add_option("--policy", o.policy,
                "Workstream policy: " + DescribeChoices(sim::kSimPolicyChoices))
      ->capture_default_str();
  s->add_option("--load", o.load, "Offered load, packets per second (e.g. 2e6), or saturate")
      ->capture_default_str();
  s->add_option("--arrival", o.arrival, "Arrivals: " + DescribeChoices(sim::kArrivalChoices))
      ->capture_default_str();
  s->add_option("--service-ns", o.service_ns, "Mean handler work per packet, ns, 0..1e9")
      ->capture_default_str();
  s->add_option("--service-dist", o.service_dist,
                "Service time: " + DescribeChoices(sim::kServiceDistChoices) +
                    " (bimodal: 90% at half the mean, 10% at 5.5x)")
      ->capture_default_str();
  s->add_option("--profile", o.profile,
                "Cost profile: a file (netisr calibrate), default, or ideal (all costs zero)")
      ->capture_default_str();
  s->add_option("--seed", o.seed, "Seed: same seed, same result")->capture_default_str();
  s->add_option("--queues", o.queues, "RX queues, 0..256 (0: one per CPU)")->capture_default_str();
  s->add_option("--flows", o.flows, "Flows (connection slots), 1..1048576")->capture_default_str();
  s->add_option("--table", o.table,
                "Connection-table strategy whose lookup cost applies: " +
                    DescribeChoices(sim::kTableChoices))
      ->capture_default_str();
  s->add_option("--qlimit", o.qlimit, "netisr queue limit, 1..10240")->capture_default_str();
  s->add_flag("--json", o.json, "Print JSON instead of the summary");
  sim_cmd_ = s;

  CompareOptions& c = compare_;
  CLI::App* cmp = app.add_subcommand(
      "compare",
      "Compare the dispatch policies over a scenario mix: simulation at 2..64 CPUs, the real "
      "dispatcher on this machine, validation of one against the other, a table, verdicts and "
      "a report folder");
  cmp->add_option("--scenario", c.scenarios,
                  "Scenarios, comma-separated: " + DescribeChoices(sim::kScenarioChoices))
      ->capture_default_str();
  cmp->add_option("--cpus", c.cpus, "Simulated CPU counts, comma-separated, each 1..64")
      ->capture_default_str();
  cmp->add_option("--policies", c.policies,
                  "Policies, comma-separated: " + DescribeChoices(sim::kSimDispatchChoices))
      ->capture_default_str();
  cmp->add_option(
         "--load", c.load,
         "Offered load of the runs: packets per second, saturate, or auto (70% of what the "
         "CPUs carry by the profile, evenly spread; per CPU count)")
      ->capture_default_str();
  cmp->add_option("--profile", c.profile, "Cost profile: a file, default or ideal")
      ->capture_default_str();
  cmp->add_option("--out", c.out, "Report folder")->capture_default_str();
  cmp->add_option("--packets", c.packets, "Packets per simulated run (at least)")
      ->capture_default_str();
  cmp->add_option("--sim-ms", c.sim_ms,
                  "Least arrival time, ms, of each CPU-count run at its offered load (more packets "
                  "than --packets at high CPU counts, so that adaptive placement settles); 0: "
                  "--packets exactly")
      ->capture_default_str();
  cmp->add_option("--real-packets", c.real_packets,
                  "Packets per real run (0: no real runs, no validation)")
      ->capture_default_str();
  cmp->add_option("--real-reps", c.real_reps,
                  "Real runs per policy, in interleaved rounds (median reported; their range is "
                  "the noise the ranking check allows), [1, 9]")
      ->capture_default_str();
  cmp->add_option("--service-ns", c.service_ns, "Handler work per packet, ns")
      ->capture_default_str();
  cmp->add_option("--seed", c.seed, "Seed")->capture_default_str();
  cmp->add_flag("--json", c.json, "Print results.json instead of the table");
  compare_cmd_ = cmp;

  CLI::App* cal = app.add_subcommand(
      "calibrate",
      "Measure the simulator's cost profile on this machine with the real dispatcher and "
      "write it (the file --profile reads)");
  cal->add_option("--out", calibrate_.out, "Profile file to write (default: stdout)");
  cal->add_option("--packets", calibrate_.packets, "Packets per measurement run")
      ->capture_default_str();
  cal->add_option("--service-ns", calibrate_.service_ns,
                  "Handler work per packet during the runs, ns, subtracted from their cost "
                  "(compare's --service-ns)")
      ->capture_default_str();
  calibrate_cmd_ = cal;

  CLI::App* sw = app.add_subcommand(
      "sweep",
      "Large sweeps without a scheduler: --emit-jobs writes one `netisr sim ... --json` command "
      "per grid point (for GNU parallel or a Slurm array), --merge gathers their outputs into "
      "compare's report");
  sw->add_option("--grid", sweep_.grid,
                 "Grid, e.g. 'cpus=2,4,8;dispatch=direct,adaptive;load=1e6,2e6' (keys: any "
                 "`netisr sim` option without its dashes)");
  sw->add_option("--emit-jobs", sweep_.emit_jobs, "Write the job lines to this file");
  sw->add_option("--merge", sweep_.merge,
                 "The jobs' results to merge: a folder of .json files, or a file of JSON lines "
                 "(--stdout jobs' output; - for standard input)");
  sw->add_flag("--stdout", sweep_.to_stdout,
               "With --emit-jobs: each job prints its JSON line rather than writing a file under "
               "--out (for hosts that share no folder: `parallel --sshloginfile H < jobs > "
               "results.jsonl`)");
  sw->add_option("--out", sweep_.out, "Report folder (with --merge)")->capture_default_str();
  sw->add_option("--binary", sweep_.binary, "Command the job lines run")->capture_default_str();
  sw->add_flag("--json", sweep_.json, "With --merge: print the merged JSON");
  sweep_cmd_ = sw;
}

std::optional<int> SimCli::Dispatch(std::ostream& out, std::ostream& err) {
  if (sim_cmd_->parsed()) return SimCommand(sim_, out, err);
  if (compare_cmd_->parsed()) return CompareCommand(compare_, out, err);
  if (calibrate_cmd_->parsed()) return CalibrateCommand(calibrate_, out, err);
  if (sweep_cmd_->parsed()) return SweepCommand(sweep_, out, err);
  return std::nullopt;
}

}  // namespace netisr::apps
