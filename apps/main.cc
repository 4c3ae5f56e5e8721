// The `netisr` command-line tool: one binary, one subcommand per job.
//
// main only turns the command line into each job's options struct and maps
// outcomes to exit codes; the jobs live in libraries (run_command.h) so that
// tests drive them without spawning processes. Range and choice checks
// belong to the jobs too, so the CLI and the tests see the same messages;
// CLI11 here rejects only what cannot be parsed at all.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>

#include "apps/lockprof_command.h"
#include "apps/router_command.h"
#include "apps/run_command.h"
#include "apps/sim_cli.h"
#include "apps/tcp_echo_command.h"

namespace {

using netisr::apps::DescribeChoices;
using netisr::apps::RunOptions;

// An option that fills a std::optional only when given.
template <typename T>
void AddOptional(CLI::App* cmd, const std::string& name, std::optional<T>& field,
                 const std::string& help) {
  cmd->add_option_function<T>(
      name, [&field](const T& v) { field = v; }, help);
}

CLI::App* AddRunCommand(CLI::App& app, RunOptions& o) {
  CLI::App* run = app.add_subcommand(
      "run",
      "Feed packets through the dispatcher and report throughput, drops by reason and "
      "conservation (in = delivered + dropped)");
  run->add_option("--source", o.source,
                  "Where frames come from: synthetic, pcap:FILE or dpdk:EAL-ARGS (EAL arguments "
                  "split on spaces, e.g. 'dpdk:--no-huge --no-pci --no-shconf -m 512 "
                  "--vdev=net_pcap0,rx_pcap=t.pcap,infinite_rx=1'); their frames go through the "
                  "parse chain (ether, ip/ip6, tcp/udp/icmp). Without it: the bench mode, a "
                  "trivial protocol fed by in-memory sources, for dispatch costs");
  run->add_option("--filter", o.filter,
                  "Early-drop rules applied at receive, before any queueing, e.g. 'drop proto "
                  "udp dport 53; limit src 10.0.0.0/8 rate 1000' (with --source)");
  AddOptional(run, "--distribution", o.distribution,
              "Flow popularity: " + DescribeChoices(netisr::apps::kDistributionChoices) +
                  " (elephants: 10% of flows carry 90%) (--source synthetic; default uniform)");
  AddOptional(run, "--zipf-s", o.zipf_s, "Zipf exponent, (0, 10] (--distribution zipf; default 1)");
  AddOptional(run, "--attack", o.attack,
              "Flood mixed in: " + DescribeChoices(netisr::apps::kAttackChoices) +
                  " (synflood: TCP SYNs to port 80, udpflood: UDP to port 53, random sources; "
                  "--source synthetic)");
  AddOptional(run, "--attack-share", o.attack_share,
              "Flood share of all packets, [0, 1) (default 0.9)");
  AddOptional(run, "--ipv6-share", o.ipv6_share,
              "Share of flows (and flood packets) on IPv6, [0, 1] (--source synthetic; default 0)");
  AddOptional(run, "--l4", o.l4,
              "Transport of the flows: " + DescribeChoices(netisr::apps::kL4Choices) +
                  " (half each) (--source synthetic; default tcp)");
  AddOptional(run, "--frame-size", o.frame_size,
              "Frame bytes without FCS, 60..1514 (--source synthetic; default 64)");
  AddOptional(run, "--loops", o.loops,
              "Replays of the trace, 0 = until --packets (--source pcap; default 1)");
  AddOptional(run, "--idle-ms", o.idle_ms,
              "End once a queue received nothing this long, ms, 0 = never (--source dpdk; "
              "default 1000)");
  run->add_option("--cpus", o.cpus, "Workstreams, 1..64")->capture_default_str();
  run->add_option("--dispatch", o.dispatch,
                  "Dispatch mode: " + DescribeChoices(netisr::apps::kDispatchChoices))
      ->capture_default_str();
  AddOptional(run, "--policy", o.policy,
              "Workstream policy: " + DescribeChoices(netisr::apps::kPolicyChoices) +
                  " (bench mode; default flow)");
  run->add_option("--model", o.model, "Work model: " + DescribeChoices(netisr::apps::kModelChoices))
      ->capture_default_str();
  AddOptional(run, "--flows", o.flows,
              "Flows, 1..1048576 (bench mode or --source synthetic; default 64)");
  run->add_option("--packets", o.packets,
                  "Packets in total, >= 1 (with --source: the most frames taken from the ports)")
      ->capture_default_str();
  AddOptional(run, "--sources", o.sources,
              "Ingress sources, 1..64 (with --source: RX queues per port) (default: one per "
              "cpu)");
  AddOptional(run, "--skew", o.skew,
              "Share of the packets source 0 brings in, [0, 1); the other sources share the "
              "rest evenly (default: in proportion to the flows each owns) (bench mode)");
  run->add_option("--rate", o.rate,
                  "Offered load, packets per second over all sources (0: as fast as possible; "
                  "at most 1e9, and --packets / --rate at most 3600 s) (bench mode or --source "
                  "synthetic)")
      ->capture_default_str();
  run->add_option("--handler-ns", o.handler_ns, "Busy work per packet in the handler, ns")
      ->capture_default_str();
  run->add_option("--qlimit", o.qlimit, "Protocol queue limit (0: netisr's default)")
      ->capture_default_str();
  run->add_option("--burst", o.burst,
                  "Packets a poll or a drain takes at most, 1..256 (0: netisr's default, 32)")
      ->capture_default_str();
  run->add_flag_callback(
      "--no-bind", [&o] { o.bind = false; }, "Do not pin worker threads to CPUs");
  run->add_flag("--json", o.json, "Print JSON instead of the table");
  run->add_flag("--lockprof", o.lockprof,
                "Print the run's lock profile at exit (table, and `locks` in the JSON)");
  AddOptional(run, "--seed", o.seed,
              "Seed for flow choice and flowids (bench mode or --source synthetic; default 1)");
  run->add_option("--trace-us", o.trace_us,
                  "Sample netisr's statistics this often, us, into the JSON report's "
                  "`trace` (threads, poll and fibers models, refused with inline; 0: off)")
      ->capture_default_str();
  // Adaptive dispatch tunables (netisr's AdaptiveSettings), for studying
  // the rule; unset ones keep netisr's defaults. Only with --dispatch
  // adaptive (refused otherwise).
  netisr::apps::AdaptiveOptions& a = o.adaptive;
  AddOptional(run, "--adaptive-busy-high", a.busy_high,
              "Busy fraction above which this CPU counts as saturated, (0, 1]");
  AddOptional(run, "--adaptive-busy-low", a.busy_low,
              "Busy fraction below which it stops being saturated, (0, busy-high]");
  AddOptional(run, "--adaptive-full-polls", a.full_polls,
              "Share of ingress poll rounds with a full burst from which a busy CPU counts as "
              "behind its sources (saturated), (0, 1]");
  AddOptional(run, "--adaptive-room-busy", a.room_busy,
              "Busy fraction below which another CPU has room, (0, 1]");
  AddOptional(run, "--adaptive-delay-low-us", a.delay_low_us,
              "Queueing delay under which a CPU may have room / stop being saturated, us");
  AddOptional(run, "--adaptive-delay-high-us", a.delay_high_us,
              "Queueing delay over which a CPU is saturated / overloaded, us");
  AddOptional(run, "--adaptive-interval-us", a.interval_us,
              "Least time between two bucket migrations by one producer, us");
  AddOptional(run, "--adaptive-step", a.step,
              "Load, in CPUs, a saturated producer may move out within one migration interval "
              "(each bucket counted as at least 1/128; 0 = one move per interval), 0..64");
  AddOptional(run, "--adaptive-window-us", a.window_us, "Load measurement window, us, 10..100000");
  AddOptional(run, "--adaptive-alpha", a.alpha, "EWMA weight of the newest load window, (0, 1]");
  AddOptional(run, "--adaptive-backpressure", a.backpressure,
              "Queue fill at which a producer stops polling its sources, (0, 1]");
  AddOptional(
      run, "--adaptive-spill", a.spill,
      "Queue fill past which a placed bucket's packets run on the producer instead, (0, 1]");
  AddOptional(run, "--adaptive-settle-windows", a.settle_windows,
              "Load windows a target gets to show a move before its room is read again, 0..1000");
  return run;
}

CLI::App* AddLockprofCommand(CLI::App& app, netisr::apps::LockprofOptions& o) {
  using netisr::apps::kLockprofModelChoices;
  using netisr::apps::kStrategyChoices;
  using netisr::apps::kWorkloadChoices;
  CLI::App* cmd = app.add_subcommand(
      "lockprof",
      "Drive TCP-input table operations (lookup and lock per segment, insert on SYN, remove on "
      "close) through netisr into the connection table, and report throughput and lock "
      "contention per lock class");
  cmd->add_option("--strategy", o.strategy,
                  "Connection-table locking: " + DescribeChoices(kStrategyChoices))
      ->capture_default_str();
  cmd->add_option("--workload", o.workload,
                  "Workload: " + DescribeChoices(kWorkloadChoices) +
                      " (churn: open, --segments data, close; steady: long-lived connections; "
                      "synflood: churn plus --flood-share of SYNs from random sources)")
      ->capture_default_str();
  cmd->add_option("--workers", o.workers, "netisr workers (one RSS queue each), 1..64")
      ->capture_default_str();
  cmd->add_option("--connections", o.connections, "Concurrent connections over all workers")
      ->capture_default_str();
  cmd->add_option("--duration", o.duration_s, "Seconds of traffic")->capture_default_str();
  AddOptional(cmd, "--segments", o.segments,
              "Data segments per connection (churn, synflood; default 4)");
  AddOptional(cmd, "--flood-share", o.flood_share,
              "Share of segments that are flood SYNs, [0, 1) (synflood; default 0.5)");
  AddOptional(cmd, "--groups", o.groups,
              "Connection groups (strategy groups) or writer stripes (epoch), power of two "
              "(default 256)");
  cmd->add_option("--model", o.model, "Work model: " + DescribeChoices(kLockprofModelChoices))
      ->capture_default_str();
  cmd->add_flag_callback(
      "--no-bind", [&o] { o.bind = false; }, "Do not pin worker threads to CPUs");
  cmd->add_flag("--json", o.json, "Print JSON instead of the table");
  cmd->add_option("--seed", o.seed, "Seed for flood sources")->capture_default_str();
  cmd->add_flag("--tcp", o.tcp,
                "Run the workload as real TCP connections between two stack instances (client "
                "and echo server, each with --workers workers) over an in-memory wire, so the "
                "profile is that of real TCP input");
  return cmd;
}

CLI::App* AddTcpEchoCommand(CLI::App& app, netisr::apps::TcpEchoOptions& o) {
  using netisr::apps::kLockprofModelChoices;
  using netisr::apps::kStrategyChoices;
  CLI::App* cmd = app.add_subcommand(
      "tcp-echo",
      "Echo server on this stack's TCP over a DPDK port: answers ARP and ICMP echo for --addr, "
      "echoes every byte on --port, runs until SIGINT/SIGTERM or --duration, then prints "
      "connection, segment and drop statistics");
  cmd->add_option("--dpdk", o.dpdk,
                  "EAL arguments (split on spaces), e.g. '--no-huge --no-pci --no-shconf -m 512 "
                  "--vdev=net_af_packet0,iface=veth0'; the first port EAL finds is used");
  cmd->add_option("--addr", o.addr, "Our IPv4 address and prefix, A.B.C.D/NN");
  cmd->add_option("--port", o.port, "TCP port to echo on, 1..65535")->capture_default_str();
  cmd->add_option("--strategy", o.strategy,
                  "Connection-table locking: " + DescribeChoices(kStrategyChoices))
      ->capture_default_str();
  cmd->add_option("--workers", o.workers,
                  "netisr workers, 1..64 (RX/TX queues: as many as the device offers, up to this)")
      ->capture_default_str();
  cmd->add_option("--model", o.model, "Work model: " + DescribeChoices(kLockprofModelChoices))
      ->capture_default_str();
  cmd->add_option("--duration", o.duration_s, "Seconds to run, 0 = until SIGINT/SIGTERM")
      ->capture_default_str();
  cmd->add_flag_callback(
      "--no-bind", [&o] { o.bind = false; }, "Do not pin worker threads to CPUs");
  cmd->add_flag("--json", o.json, "Print one JSON object instead of the text report");
  cmd->add_flag("--lockprof", o.lockprof,
                "Print the run's lock profile (table, and `locks` in the JSON)");
  return cmd;
}

CLI::App* AddRouterCommand(CLI::App& app, netisr::apps::RouterOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "router",
      "IPv4/IPv6 router on the netisr pipeline, configured by a TOML file (ports, routes, "
      "neighbours, filter, control API); runs until SIGINT/SIGTERM or --duration, printing "
      "netstat -Q style statistics every --stats-interval seconds and at exit");
  cmd->add_option("--config", o.config,
                  "The router's TOML file ([dataplane], [tables], [[port]], [[route]], "
                  "[[neighbour]], [filter], [control]; see docs/router.md)");
  AddOptional(cmd, "--stats-interval", o.stats_interval,
              "Seconds between statistics prints, 0 = only at exit (default: the config's "
              "[dataplane] stats_interval)");
  cmd->add_option("--duration", o.duration_s, "Seconds to run, 0 = until SIGINT/SIGTERM")
      ->capture_default_str();
  cmd->add_flag("--json", o.json,
                "Print one JSON object per line instead of the tables; the last is the final "
                "report");
  cmd->add_flag("--lockprof", o.lockprof,
                "Print the run's lock profile at exit (table, and `locks` in the JSON)");
  return cmd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"netisr: FreeBSD netisr2-style packet dispatch in user space"};
  app.require_subcommand(1);
  RunOptions run_options;
  CLI::App* run = AddRunCommand(app, run_options);
  netisr::apps::LockprofOptions lockprof_options;
  CLI::App* lockprof = AddLockprofCommand(app, lockprof_options);
  netisr::apps::TcpEchoOptions tcp_echo_options;
  CLI::App* tcp_echo = AddTcpEchoCommand(app, tcp_echo_options);
  netisr::apps::RouterOptions router_options;
  CLI::App* router = AddRouterCommand(app, router_options);
  netisr::apps::SimCli sim_cli(app);  // sim, compare, calibrate, sweep
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too, with exit code 0; everything else is usage.
    const int code = app.exit(e);
    return code == 0 ? netisr::apps::kExitOk : netisr::apps::kExitUsage;
  }
  if (run->parsed()) return netisr::apps::RunCommand(run_options, std::cout, std::cerr);
  if (lockprof->parsed())
    return netisr::apps::LockprofCommand(lockprof_options, std::cout, std::cerr);
  if (tcp_echo->parsed())
    return netisr::apps::TcpEchoCommand(tcp_echo_options, std::cout, std::cerr);
  if (router->parsed()) return netisr::apps::RouterCommand(router_options, std::cout, std::cerr);
  if (auto code = sim_cli.Dispatch(std::cout, std::cerr)) return *code;
  return netisr::apps::kExitUsage;
}
