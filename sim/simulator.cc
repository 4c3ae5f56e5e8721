// See simulator.h.
#include "sim/simulator.h"

#include <nlohmann/json.hpp>

#include "sim/internal/engine.h"

namespace netisr::sim {

namespace {

Status Bad(const std::string& m) { return Status(ErrorCode::kInvalidArgument, m); }

template <size_t N>
Status CheckChoice(const char* flag, const std::string& v, const std::string_view (&choices)[N]) {
  std::string list;
  for (std::string_view c : choices) {
    if (v == c) return Status::Ok();
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  return Bad(std::string(flag) + " '" + v + "' is not one of: " + list);
}

}  // namespace

Status ValidateSimConfig(const SimConfig& c) {
  for (Status st : {CheckChoice("--scenario", c.scenario, kScenarioChoices),
                    CheckChoice("--dispatch", c.dispatch, kSimDispatchChoices),
                    CheckChoice("--policy", c.policy, kSimPolicyChoices),
                    CheckChoice("--arrival", c.arrival, kArrivalChoices),
                    CheckChoice("--service-dist", c.service_dist, kServiceDistChoices),
                    CheckChoice("--table", c.table, kTableChoices)}) {
    if (!st.ok()) return st;
  }
  if (c.cpus < 1 || c.cpus > 64)
    return Bad("--cpus " + std::to_string(c.cpus) + " out of range [1, 64]");
  if (c.packets < 1 || c.packets > 10'000'000'000)
    return Bad("--packets " + std::to_string(c.packets) + " out of range [1, 1e10]");
  if (!(c.load_pps >= 0) || c.load_pps > 1e10)
    return Bad("--load " + std::to_string(c.load_pps) + " out of range (0, 1e10] (or saturate)");
  if (!(c.service_ns >= 0) || c.service_ns > 1e9)
    return Bad("--service-ns " + std::to_string(c.service_ns) + " out of range [0, 1e9]");
  if (c.queues < 0 || c.queues > 256)
    return Bad("--queues " + std::to_string(c.queues) + " out of range [0, 256]");
  if (c.flows < 1 || c.flows > (1 << 20))
    return Bad("--flows " + std::to_string(c.flows) + " out of range [1, 1048576]");
  if (c.qlimit < 1 || c.qlimit > 10240)
    return Bad("--qlimit " + std::to_string(c.qlimit) + " out of range [1, 10240]");
  if (c.flow_buckets < 1 || c.flow_buckets > 65536 || (c.flow_buckets & (c.flow_buckets - 1)))
    return Bad("flow buckets " + std::to_string(c.flow_buckets) +
               " must be a power of two in [1, 65536]");
  if (c.bench && c.scenario != "uniform" && c.scenario != "skew")
    return Bad("the bench layout has scenarios uniform and skew only, not '" + c.scenario + "'");
  if (c.dispatch == "oracle" && c.policy != "flow")
    return Bad("--dispatch oracle places flow buckets: it needs --policy flow, not '" + c.policy +
               "'");
  return Status::Ok();
}

uint64_t SimResult::TotalDropped() const {
  uint64_t n = 0;
  for (const auto& [reason, count] : dropped) n += count;
  return n;
}

std::string SimResult::ToJson() const {
  nlohmann::json j;
  j["scenario"] = config.scenario;
  j["dispatch"] = config.dispatch;
  j["policy"] = config.policy;
  j["cpus"] = config.cpus;
  j["queues"] = config.queues > 0 ? config.queues : config.cpus;
  j["load_pps"] = config.load_pps;
  j["arrival"] = config.load_pps > 0 ? config.arrival : "saturate";
  j["service_ns"] = config.service_ns;
  j["service_dist"] = config.service_dist;
  j["profile"] = config.profile.name;
  j["table"] = config.table;
  j["seed"] = config.seed;
  j["bench"] = config.bench;
  j["packets"] = packets;
  j["delivered"] = delivered;
  j["wall_s"] = wall_s;
  j["cpu_s"] = cpu_s;
  j["sim_pps"] = sim_pps;
  j["virtual_s"] = virtual_s;
  j["throughput_pps"] = throughput_pps;
  j["steady_pps"] = steady_pps;
  j["mean_us"] = mean_us;
  j["p50_us"] = p50_us;
  j["p99_us"] = p99_us;
  j["p999_us"] = p999_us;
  j["reordered"] = reordered;
  j["dropped"] = nlohmann::json::object();
  for (const auto& [reason, count] : dropped) j["dropped"][reason] = count;
  j["cpu_util"] = cpu_util;
  j["migrations"] = migrations;
  j["decisions"] = decisions;
  j["wakeups"] = wakeups;
  j["conserved"] = conserved;
  return j.dump();
}

Result<SimResult> RunSim(const SimConfig& c) {
  if (Status st = ValidateSimConfig(c); !st.ok()) return st;
  return internal::RunEngine(c);
}

}  // namespace netisr::sim
