// See sim_command.h.
#include "apps/sim_command.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

#include "apps/exit_codes.h"

namespace netisr::apps {

Result<double> ParseLoad(const std::string& s) {
  if (s == "saturate") return 0.0;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !(v > 0) || v > 1e10) {
    return Status(ErrorCode::kInvalidArgument,
                  "--load '" + s + "' is neither saturate nor packets per second in (0, 1e10]");
  }
  return v;
}

Result<sim::SimConfig> ToSimConfig(const SimOptions& o) {
  sim::SimConfig c;
  auto load = ParseLoad(o.load);
  if (!load.ok()) return load.status();
  auto profile = sim::LoadProfile(o.profile);
  if (!profile.ok()) return profile.status();
  auto narrow = [](int64_t v) {
    return static_cast<int>(std::max<int64_t>(-1, std::min<int64_t>(v, int64_t{1} << 30)));
  };
  c.cpus = narrow(o.cpus);
  c.packets = o.packets;
  c.scenario = o.scenario;
  c.dispatch = o.dispatch;
  c.policy = o.policy;
  c.load_pps = *load;
  c.arrival = o.arrival;
  c.service_ns = o.service_ns;
  c.service_dist = o.service_dist;
  c.profile = *profile;
  c.seed = o.seed;
  c.queues = narrow(o.queues);
  c.flows = narrow(o.flows);
  c.table = o.table;
  c.qlimit = static_cast<uint32_t>(std::max<int64_t>(0, std::min<int64_t>(o.qlimit, 1 << 30)));
  if (Status st = sim::ValidateSimConfig(c); !st.ok()) return st;
  return c;
}

std::string FormatSim(const sim::SimResult& r) {
  std::string out = fmt::format(
      "sim: {} on {} CPUs, dispatch {} policy {}, load {}, profile {}\n"
      "  packets {}  delivered {}  dropped {}  reordered {}  migrations {}\n"
      "  throughput {:.0f} pps over {:.6f} virtual s\n"
      "  sojourn us: mean {:.3f}  p50 {:.3f}  p99 {:.3f}  p99.9 {:.3f}\n"
      "  cpu util:",
      r.config.scenario, r.config.cpus, r.config.dispatch, r.config.policy,
      r.config.load_pps > 0 ? fmt::format("{:.0f} pps {}", r.config.load_pps, r.config.arrival)
                            : std::string("saturate"),
      r.config.profile.name, r.packets, r.delivered, r.TotalDropped(), r.reordered, r.migrations,
      r.throughput_pps, r.virtual_s, r.mean_us, r.p50_us, r.p99_us, r.p999_us);
  for (double u : r.cpu_util) out += fmt::format(" {:.2f}", u);
  out += "\n";
  for (const auto& [reason, n] : r.dropped) out += fmt::format("  dropped {}: {}\n", reason, n);
  out +=
      fmt::format("  simulated {:.0f} packets per wall second ({:.3f} s)\n", r.sim_pps, r.wall_s);
  return out;
}

int SimCommand(const SimOptions& o, std::ostream& out, std::ostream& err) {
  auto config = ToSimConfig(o);
  if (!config.ok()) {
    err << "netisr sim: " << config.status().message() << "\n";
    return kExitUsage;
  }
  auto r = sim::RunSim(*config);
  if (!r.ok()) {
    err << "netisr sim: " << r.status().message() << "\n";
    return kExitFailure;
  }
  out << (o.json ? r->ToJson() + "\n" : FormatSim(*r));
  if (!r->conserved) {
    err << fmt::format("netisr sim: conservation violated: packets={} delivered={} dropped={}\n",
                       r->packets, r->delivered, r->TotalDropped());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace netisr::apps
