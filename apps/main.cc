// The `netisr` command-line tool: one binary, one subcommand per job.
//
// main only turns the command line into each job's options struct and maps
// outcomes to exit codes; the jobs live in libraries (run_command.h) so that
// tests drive them without spawning processes. Range and choice checks
// belong to the jobs too, so the CLI and the tests see the same messages;
// CLI11 here rejects only what cannot be parsed at all.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/run_command.h"

namespace {

using netisr::apps::RunOptions;

CLI::App* AddRunCommand(CLI::App& app, RunOptions& o) {
  CLI::App* run = app.add_subcommand(
      "run", "Feed a synthetic packet stream through the dispatcher and report throughput");
  run->add_option("--cpus", o.cpus, "Workstreams, 1..64")->capture_default_str();
  run->add_option("--dispatch", o.dispatch, "Dispatch mode: direct, deferred or hybrid")
      ->capture_default_str();
  run->add_option("--policy", o.policy, "Workstream policy: flow, source or cpu")
      ->capture_default_str();
  run->add_option("--model", o.model, "Work model: threads or inline")->capture_default_str();
  run->add_option("--flows", o.flows, "Flows, 1..1048576")->capture_default_str();
  run->add_option("--packets", o.packets, "Packets in total, >= 1")->capture_default_str();
  run->add_option_function<int64_t>(
      "--sources", [&o](const int64_t& n) { o.sources = n; },
      "Ingress sources, 1..64 (default: one per cpu)");
  run->add_option("--handler-ns", o.handler_ns, "Busy work per packet in the handler, ns")
      ->capture_default_str();
  run->add_option("--qlimit", o.qlimit, "Protocol queue limit (0: netisr's default)")
      ->capture_default_str();
  run->add_flag_callback(
      "--no-bind", [&o] { o.bind = false; }, "Do not pin worker threads to CPUs");
  run->add_flag("--json", o.json, "Print JSON instead of the table");
  run->add_option("--seed", o.seed, "Seed for flow choice and flow ids")->capture_default_str();
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"netisr: FreeBSD netisr2-style packet dispatch in user space"};
  app.require_subcommand(1);
  RunOptions run_options;
  CLI::App* run = AddRunCommand(app, run_options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too, with exit code 0; everything else is usage.
    const int code = app.exit(e);
    return code == 0 ? netisr::apps::kExitOk : netisr::apps::kExitUsage;
  }
  if (run->parsed()) return netisr::apps::RunCommand(run_options, std::cout, std::cerr);
  return netisr::apps::kExitUsage;
}
