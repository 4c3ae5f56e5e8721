// The report's two renderings (run_report.h): the table with its summary
// line, and JSON. Keys and line fields are an interface: scripts parse them.
#include "apps/run_report.h"

#include <fmt/format.h>

#include <utility>

#include "netisr/stats_json.h"

namespace netisr::apps {

PoolReport PoolReportOf(std::string name, const PacketPool& pool) {
  return {std::move(name), pool.capacity(), pool.available()};
}

namespace {

std::string JoinCounts(const std::map<std::string, uint64_t>& counts) {
  std::string out;
  for (const auto& [name, n] : counts) out += fmt::format(" {}={}", name, n);
  return out.empty() ? " none" : out;
}

// The --source lines between the table and the summary: ports, deliveries
// by layer, drops by reason, filter hits.
std::string FormatSource(const RunReport& r) {
  std::string out;
  for (const PortReport& p : r.ports)
    out += fmt::format("port {}: rx_packets={}{}\n", p.name, p.rx_packets,
                       p.rx_drops.empty() ? "" : JoinCounts(p.rx_drops));
  out += "delivered:" + JoinCounts(r.delivered_by_layer) + "\n";
  out += "dropped:" + JoinCounts(r.drops) + "\n";
  if (r.filter) {
    for (size_t i = 0; i < r.filter->rules.size(); ++i) {
      const proto::FilterStats::Rule& rule = r.filter->rules[i];
      out += fmt::format("filter rule {} '{}': hits={} dropped={}\n", i, rule.text, rule.hits,
                         rule.dropped);
    }
    out += fmt::format("filter: passed={} unclassified={}\n", r.filter->passed,
                       r.filter->unclassified);
  }
  return out;
}

}  // namespace

std::string FormatHuman(const RunReport& r) {
  const RunOptions& o = r.options;
  const bool bench = r.source_kind == "bench";
  return FormatTable(r.stats) + (bench ? "" : FormatSource(r)) +
         fmt::format(
             "packets_in={} delivered={} dropped={} reordered={} mpps={:.2f} seconds={:.3f} "
             "p50_us={:.1f} p99_us={:.1f} migrations={} model={} dispatch={} policy={} cpus={} "
             "source={} buffers_out={}\n",
             r.packets_in, r.delivered, r.dropped_total(), r.reordered, r.mpps, r.seconds,
             r.latency.p50_us, r.latency.p99_us, r.stats.migrations, o.model, o.dispatch,
             bench ? o.policy_name() : "per-layer", o.cpus, r.source_kind, r.buffers_out());
}

namespace {

nlohmann::json TraceJson(const std::vector<TraceSample>& trace) {
  nlohmann::json out = nlohmann::json::array();
  for (const TraceSample& t : trace) {
    out.push_back({{"t_us", t.t_us},
                   {"handled", t.handled},
                   {"queued", t.queued},
                   {"qlen", t.qlen},
                   {"busy", t.busy},
                   {"queue_delay_ns", t.queue_delay_ns},
                   {"full_polls", t.full_polls},
                   {"drops", t.drops},
                   {"migrations", t.migrations},
                   {"decisions",
                    t.decisions.empty() ? nlohmann::json::object() : nlohmann::json(t.decisions)}});
  }
  return out;
}

nlohmann::json PoolsJson(const std::vector<PoolReport>& pools) {
  nlohmann::json a = nlohmann::json::array();
  for (const PoolReport& p : pools)
    a.push_back({{"name", p.name}, {"capacity", p.capacity}, {"free", p.free}});
  return a;
}

nlohmann::json LatencyJson(const std::vector<LatencySummary>& by_ws) {
  nlohmann::json a = nlohmann::json::array();
  for (const LatencySummary& l : by_ws) {
    a.push_back({{"samples", l.samples}, {"p50_us", l.p50_us}, {"p99_us", l.p99_us}});
  }
  return a;
}

// nlohmann turns an empty std::map into null; a report's maps are objects.
nlohmann::json Object(const std::map<std::string, uint64_t>& m) {
  return m.empty() ? nlohmann::json::object() : nlohmann::json(m);
}

nlohmann::json FilterJson(const proto::FilterStats& f) {
  nlohmann::json rules = nlohmann::json::array();
  for (size_t i = 0; i < f.rules.size(); ++i)
    rules.push_back({{"index", i},
                     {"rule", f.rules[i].text},
                     {"hits", f.rules[i].hits},
                     {"dropped", f.rules[i].dropped}});
  return {{"rules", rules},
          {"passed", f.passed},
          {"unclassified", f.unclassified},
          {"filtered", f.dropped[static_cast<size_t>(proto::FilterDrop::kFiltered)]},
          {"rate_limited", f.dropped[static_cast<size_t>(proto::FilterDrop::kRateLimited)]}};
}

}  // namespace

nlohmann::json ToJson(const RunReport& r) {
  const RunOptions& o = r.options;
  const AdaptiveSettings a = ResolveAdaptive(o.adaptive);
  nlohmann::json j = {
      {"packets_in", r.packets_in},
      {"delivered", r.delivered},
      {"source", r.source_kind},
      {"dropped", Object(r.drops)},
      {"dropped_total", r.dropped_total()},
      {"reordered", r.reordered},
      {"mpps", r.mpps},
      {"seconds", r.seconds},
      {"source_packets", r.source_packets},
      {"latency_samples", r.latency.samples},
      {"p50_us", r.latency.p50_us},
      {"p99_us", r.latency.p99_us},
      {"p999_us", r.latency.p999_us},
      {"max_us", r.latency.max_us},
      {"latency_by_workstream", LatencyJson(r.latency_by_workstream)},
      {"migrations", r.stats.migrations},
      // nlohmann turns an empty std::map into null, hence the explicit object.
      {"decisions",
       r.stats.decisions.empty() ? nlohmann::json::object() : nlohmann::json(r.stats.decisions)},
      {"trace", TraceJson(r.trace)},
      {"buffers_out", r.buffers_out()},
      {"pools", PoolsJson(r.pools)},
      {"config",
       {{"cpus", o.cpus},
        {"dispatch", o.dispatch},
        {"policy", o.policy_name()},
        {"model", o.model},
        {"flows", o.flow_count()},
        {"packets", o.packets},
        {"sources", o.sources.value_or(o.cpus)},
        {"skew", o.skew ? nlohmann::json(*o.skew) : nlohmann::json(nullptr)},
        {"rate", o.rate},
        {"handler_ns", o.handler_ns},
        {"qlimit", o.qlimit},
        {"burst", o.burst},
        {"trace_us", o.trace_us},
        {"adaptive",
         {{"busy_high", a.busy_high},
          {"busy_low", a.busy_low},
          {"full_polls", a.full_polls_high},
          {"room_busy", a.room_busy},
          {"delay_low_us", a.delay_low_ns / 1e3},
          {"delay_high_us", a.delay_high_ns / 1e3},
          {"interval_us", a.migration_interval_ns / 1e3},
          {"step", a.migration_step},
          {"window_us", a.load_window_ns / 1e3},
          {"alpha", a.load_alpha},
          {"backpressure", a.backpressure_fill},
          {"spill", a.spill_fill},
          {"settle_windows", a.settle_windows}}},
        {"bind", o.bind},
        {"seed", o.seed_value()}}},
      {"netisr", netisr::ToJson(r.stats)},
  };
  if (r.source_kind != "bench") {
    j["delivered_by_layer"] = Object(r.delivered_by_layer);
    nlohmann::json ports = nlohmann::json::array();
    for (const PortReport& p : r.ports)
      ports.push_back(
          {{"name", p.name}, {"rx_packets", p.rx_packets}, {"rx_drops", Object(p.rx_drops)}});
    j["ports"] = ports;
    j["filter"] = r.filter ? FilterJson(*r.filter) : nlohmann::json(nullptr);
    nlohmann::json& c = j["config"];
    c["source"] = o.source;
    c["filter"] = o.filter;
    c["policy"] = "per-layer";
    auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    c["distribution"] = opt(o.distribution);
    c["zipf_s"] = opt(o.zipf_s);
    c["attack"] = opt(o.attack);
    c["attack_share"] = opt(o.attack_share);
    c["ipv6_share"] = opt(o.ipv6_share);
    c["l4"] = opt(o.l4);
    c["frame_size"] = opt(o.frame_size);
    c["loops"] = opt(o.loops);
    c["idle_ms"] = opt(o.idle_ms);
  }
  return j;
}
}  // namespace netisr::apps
