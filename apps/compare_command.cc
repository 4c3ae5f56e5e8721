// See compare_command.h.
//
// What `netisr compare` runs, per scenario (each sim run is one RunSim):
//   1. the simulation of every policy at every --cpus count and at this
//      machine's, at --load (saturate by default): `results`, the table,
//      throughput vs CPU count;
//   2. at this machine's CPU count, a load sweep from 20% to 120% of the
//      best policy's saturated throughput: throughput and p99 vs load;
//   3. where `netisr run`'s bench mode can generate the scenario (uniform,
//      skew), the real dispatcher (threads model, this machine's CPUs) for
//      every policy, beside the simulation of the same layout
//      (SimConfig::bench, fixed service): `validation`. The real oracle run
//      is hybrid with the simulated oracle's bucket placement as affinity
//      hints (RunHooks::registered), set before traffic starts.
// The profile is the same for every scenario: gaps are reported, never
// tuned away.
#include "apps/compare_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "apps/bench_run.h"
#include "apps/exit_codes.h"
#include "apps/sim_command.h"
#include "harness/synthetic_source.h"
#include "inpcb/table.h"
#include "sched_feedback/clock.h"
#include "sched_feedback/topology.h"

namespace netisr::apps {

namespace {

namespace fs = std::filesystem;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) {
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

template <size_t N>
Status CheckList(const char* flag, const std::string& list, const std::string_view (&choices)[N]) {
  const auto items = Split(list, ',');
  if (items.empty()) return Status(ErrorCode::kInvalidArgument, std::string(flag) + " is empty");
  for (const std::string& v : items) {
    if (std::find(std::begin(choices), std::end(choices), v) == std::end(choices)) {
      std::string all;
      for (std::string_view c : choices) all += (all.empty() ? "" : ", ") + std::string(c);
      return Status(ErrorCode::kInvalidArgument,
                    std::string(flag) + " '" + v + "' is not one of: " + all);
    }
  }
  return Status::Ok();
}

Result<std::vector<int>> ParseCpus(const std::string& s) {
  std::vector<int> out;
  for (const std::string& v : Split(s, ',')) {
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (end != v.c_str() + v.size() || n < 1 || n > 64)
      return Status(ErrorCode::kInvalidArgument,
                    "--cpus '" + v + "' is not a CPU count in [1, 64]");
    out.push_back(static_cast<int>(n));
  }
  if (out.empty()) return Status(ErrorCode::kInvalidArgument, "--cpus is empty");
  return out;
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int MachineCpus() {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(n == 0 ? 1 : n, 1, 64));
}

Point FromSim(const sim::SimResult& r, const std::string& kind) {
  Point p;
  p.scenario = r.config.scenario;
  p.policy = r.config.dispatch;
  p.kind = kind;
  p.cpus = r.config.cpus;
  p.offered_pps = r.config.load_pps;
  p.throughput_pps = r.throughput_pps;
  p.steady_pps = r.steady_pps;
  p.throughput_lo = p.throughput_hi = r.throughput_pps;
  p.p50_us = r.p50_us;
  p.p99_us = p.p99_lo = p.p99_hi = r.p99_us;
  p.dropped = r.TotalDropped();
  p.reordered = r.reordered;
  return p;
}

// Draws the progress bar on a terminal only.
class Progress {
 public:
  Progress(std::ostream& out, int total, bool on) : out_(out), total_(total), on_(on) {}
  void Step(const std::string& what) {
    ++done_;
    if (!on_) return;
    const int width = 30, filled = total_ > 0 ? std::min(width, done_ * width / total_) : width;
    out_ << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << done_
         << "/" << total_ << " " << fmt::format("{:<40}", what.substr(0, 40)) << std::flush;
  }
  ~Progress() {
    if (on_) out_ << "\r" << std::string(90, ' ') << "\r" << std::flush;
  }

 private:
  std::ostream& out_;
  int total_, done_ = 0;
  bool on_;
};

// The point of one kind at one CPU count (kinds "sim", "sim-bench" and
// "real" have one load per CPU count).
const Point* Find(const std::vector<Point>& pts, const std::string& scenario,
                  const std::string& policy, const std::string& kind, int cpus) {
  for (const Point& p : pts) {
    if (p.scenario == scenario && p.policy == policy && p.kind == kind && p.cpus == cpus) return &p;
  }
  return nullptr;
}

std::vector<std::string> Ordered(const std::set<std::string>& s,
                                 std::span<const std::string_view> canon) {
  std::vector<std::string> out;
  for (std::string_view c : canon) {
    if (s.count(std::string(c))) out.push_back(std::string(c));
  }
  return out;
}

// What the report says per scenario, derived from the points.
struct Summary {
  std::string scenario;
  std::vector<std::string> policies;
  nlohmann::json results = nlohmann::json::object();
  std::optional<double> adaptive_vs_oracle;
  nlohmann::json validation;  // null when no real run
  std::string verdict;
};

// `netisr run`'s bench mode in the layout the simulation's bench mode
// mirrors (SimConfig::bench: flow policy, 1024 flows, a source per worker)
// under the threads model: what the real runs of the validation and the
// calibration measure.
RunOptions BenchLayout(int cpus, const std::string& dispatch, int64_t packets, int64_t handler_ns) {
  RunOptions ro;
  ro.cpus = cpus;
  ro.dispatch = dispatch;
  ro.policy = "flow";
  ro.model = "threads";
  ro.flows = sim::SimConfig{}.flows;
  ro.packets = packets;
  ro.handler_ns = handler_ns;
  return ro;
}

// One real run of the validation; the oracle runs as hybrid with its
// placement as affinity hints.
Result<Point> RealRun(const std::string& scen, const std::string& pol, int cpus,
                      const CompareOptions& o, const std::vector<int>& oracle_placement) {
  RunOptions ro = BenchLayout(cpus, pol == "oracle" ? "hybrid" : pol, o.real_packets,
                              static_cast<int64_t>(o.service_ns));
  RunHooks hooks;
  if (pol == "oracle") hooks.registered = AffinityHints(oracle_placement);
  if (scen == "skew") ro.skew = sim::kBenchSkew;
  ro.seed = o.seed;
  const double cpu0 = ProcessCpuSeconds();
  auto real = RunSynthetic(ro, hooks);
  if (!real.ok()) return real.status();
  const double cpu_s = ProcessCpuSeconds() - cpu0;
  Point p;
  p.scenario = scen;
  p.policy = pol;
  p.kind = "real";
  p.cpus = cpus;
  // Wall-clock rate, what the simulation predicts on a quiet machine.
  // On a shared one other processes' turns slow it; cpu_pps (per CPU
  // second the run got, times its CPUs) is then the fairer figure for
  // a balanced run, but flatters an unbalanced one (an idle worker
  // sleeps and costs nothing), so it is reported, not compared.
  p.throughput_pps = real->mpps * 1e6;
  p.steady_pps = p.throughput_pps;
  p.throughput_lo = p.throughput_hi = p.throughput_pps;
  p.cpu_pps = cpu_s > 0 ? static_cast<double>(real->delivered) * cpus / cpu_s : 0;
  p.p50_us = real->latency.p50_us;
  p.p99_us = p.p99_lo = p.p99_hi = real->latency.p99_us;
  p.dropped = real->dropped_total();
  p.reordered = real->reordered;
  return p;
}

// The run with the median throughput (the upper middle one for an even
// count) stands for a policy's repetitions
// (its latencies and drops are one run's, not a blend), with the range of
// all of them; reordering is summed, so that no run's is hidden.
// Repetitions of one point: the median throughput's run, with each latency
// the median of its own. Why not that run's p99: in a 0.1 s run, whether one
// of the machine's rare millisecond stalls (1 in 1,000 here) fell in it
// moves the p99 2x, independently of the throughput.
Point MedianRun(std::vector<Point> runs) {
  auto median_of = [&](double Point::*f) {
    std::vector<double> v;
    for (const Point& p : runs) v.push_back(p.*f);
    std::sort(v.begin(), v.end());
    return std::tuple{v.front(), v[v.size() / 2], v.back()};
  };
  const auto [p50_lo, p50, p50_hi] = median_of(&Point::p50_us);
  const auto [p99_lo, p99, p99_hi] = median_of(&Point::p99_us);
  std::sort(runs.begin(), runs.end(),
            [](const Point& a, const Point& b) { return a.throughput_pps < b.throughput_pps; });
  Point m = runs[runs.size() / 2];
  m.throughput_lo = runs.front().throughput_pps;
  m.throughput_hi = runs.back().throughput_pps;
  m.p50_us = p50;
  m.p99_us = p99;
  m.p99_lo = p99_lo;
  m.p99_hi = p99_hi;
  m.reordered = 0;
  for (const Point& p : runs) m.reordered += p.reordered;
  return m;
}

// Stalls as a profile gives them to the simulator (CostProfile's keys),
// with their share of the time and how many were seen.
nlohmann::json StallsJson(const DispatchCosts& c) {
  sim::CostProfile p;
  c.ApplyStalls(p);
  return {{"stall_gap_ns", p.stall_gap_ns},
          {"stall_ns", p.stall_ns},
          {"stall_p99_ns", p.stall_p99_ns},
          {"stall_p999_ns", p.stall_p999_ns},
          {"stall_max_ns", p.stall_max_ns},
          {"stall_mean_ns", p.MeanStallNs()},
          {"stall_lost", c.stall_lost},
          {"stalls_seen", c.stall_count},
          // The sample's own mean, beside the model's (its piecewise-linear
          // inverse through eight quantiles can be well off it).
          {"stall_sample_mean_ns", c.stall_count > 0 ? static_cast<double>(c.stall_lost_ns) /
                                                           static_cast<double>(c.stall_count)
                                                     : 0.0},
          {"stall_shared", p.stall_shared}};
}

// What the validation measured before its runs: the dispatch costs its
// simulations were given (the stalls measured then only net the CPU
// times; the simulations get those measured between the runs).
nlohmann::json CostsNowJson(const DispatchCosts& c) {
  return {{"rx_pkt_ns", c.rx_pkt_ns},
          {"adaptive_pkt_ns", c.adaptive_pkt_ns},
          {"handoff_pkt_ns", c.handoff_pkt_ns},
          {"handoff_producer_ns", c.handoff_producer_ns}};
}

std::vector<Summary> Summarise(const CompareReport& r) {
  std::set<std::string> scen_set, pol_set;
  for (const Point& p : r.points) {
    scen_set.insert(p.scenario);
    pol_set.insert(p.policy);
  }
  const std::vector<std::string> policies = Ordered(pol_set, sim::kSimDispatchChoices);
  std::vector<Summary> out;
  for (const std::string& scen : Ordered(scen_set, sim::kScenarioChoices)) {
    Summary s;
    s.scenario = scen;
    s.policies = policies;
    std::vector<std::pair<double, std::string>> thr;
    for (const std::string& pol : policies) {
      const Point* p = Find(r.points, scen, pol, "sim", r.machine_cpus);
      if (p == nullptr) continue;
      s.results[pol] = {{"throughput_pps", p->throughput_pps},
                        {"steady_pps", p->steady_pps},
                        {"p50_us", p->p50_us},
                        {"p99_us", p->p99_us},
                        {"dropped", p->dropped}};
      thr.push_back({p->steady_pps, pol});
    }
    const Point* a = Find(r.points, scen, "adaptive", "sim", r.machine_cpus);
    const Point* o = Find(r.points, scen, "oracle", "sim", r.machine_cpus);
    // Steady state: a run too short for adaptive to converge would
    // measure the transient (docs/sim.md).
    if (a && o && o->steady_pps > 0) s.adaptive_vs_oracle = a->steady_pps / o->steady_pps;
    // Validation: the real runs against the simulation of their layout.
    std::vector<RankedPolicy> ranked;
    double worst_thr = 0, worst_p99 = 0;
    nlohmann::json per = nlohmann::json::object();
    int p99_meet = 0;
    for (const std::string& pol : policies) {
      const Point* re = Find(r.points, scen, pol, "real", r.machine_cpus);
      const Point* si = Find(r.points, scen, pol, "sim-bench", r.machine_cpus);
      if (!re || !si || re->throughput_pps <= 0) continue;
      const double tg = (si->throughput_pps - re->throughput_pps) / re->throughput_pps;
      const double pg = re->p99_us > 0 ? (si->p99_us - re->p99_us) / re->p99_us : 0;
      per[pol] = {{"real_pps", re->throughput_pps},
                  {"real_lo_pps", re->throughput_lo},
                  {"real_hi_pps", re->throughput_hi},
                  {"real_cpu_pps", re->cpu_pps},
                  {"sim_pps", si->throughput_pps},
                  {"throughput_gap", tg},
                  {"real_p99_us", re->p99_us},
                  {"real_p99_lo_us", re->p99_lo},
                  {"real_p99_hi_us", re->p99_hi},
                  {"sim_p99_us", si->p99_us},
                  {"sim_p99_lo_us", si->p99_lo},
                  {"sim_p99_hi_us", si->p99_hi},
                  {"p99_gap", pg},
                  // The runs' p99 ranges meet: within what the repetitions
                  // themselves tell apart (a short run's p99 moves 2x with
                  // whether a long stall fell in it).
                  {"p99_ranges_meet", si->p99_lo <= re->p99_hi && re->p99_lo <= si->p99_hi}};
      p99_meet += per[pol]["p99_ranges_meet"].get<bool>() ? 1 : 0;
      if (std::abs(tg) > std::abs(worst_thr)) worst_thr = tg;
      if (std::abs(pg) > std::abs(worst_p99)) worst_p99 = pg;
      ranked.push_back(
          {pol, re->throughput_lo, re->throughput_pps, re->throughput_hi, si->throughput_pps});
    }
    if (!per.empty()) {
      auto order = [&](auto key) {
        std::vector<RankedPolicy> v = ranked;
        std::stable_sort(v.begin(), v.end(), [&](const RankedPolicy& a, const RankedPolicy& b) {
          return key(a) > key(b);
        });
        std::string o;
        for (const RankedPolicy& e : v) o += (o.empty() ? "" : " > ") + e.policy;
        return o;
      };
      const std::vector<std::string> conflicts = RankingConflicts(ranked);
      s.validation = {
          {"throughput_gap", worst_thr},
          {"p99_gap", worst_p99},
          {"p99_ranges_meet", p99_meet},
          {"same_ranking", conflicts.empty()},
          {"ranking_conflicts", conflicts},
          {"real_ranking", order([](const RankedPolicy& e) { return e.real_mid; })},
          {"sim_ranking", order([](const RankedPolicy& e) { return e.sim; })},
          {"real_reps", r.options.real_reps},
          {"profile_costs",
           {{"rx_pkt_ns", r.profile_rx_pkt_ns},
            {"handoff_pkt_ns", r.profile_handoff_pkt_ns},
            {"handoff_producer_ns", r.profile_handoff_producer_ns}}},
          {"costs_now", r.costs_now ? CostsNowJson(*r.costs_now) : nlohmann::json()},
          {"stalls", r.stalls_during.count(scen) != 0 ? StallsJson(r.stalls_during.at(scen))
                                                      : nlohmann::json()},
          {"policies", per},
          {"within_15pct", std::abs(worst_thr) <= 0.15},  // the throughput gap
          {"p99_within_15pct", std::abs(worst_p99) <= 0.15}};
    }
    std::sort(thr.begin(), thr.end(), std::greater<>());
    if (!thr.empty()) {
      s.verdict = fmt::format("{}: {} wins at {} CPUs with {:.2f} Mpps steady", scen, thr[0].second,
                              r.machine_cpus, thr[0].first / 1e6);
      if (thr.size() > 1 && thr[1].first > 0) {
        const double lead = thr[0].first / thr[1].first - 1;
        if (lead >= 0.01) {
          s.verdict += fmt::format(", {:+.1f}% over {}", 100 * lead, thr[1].second);
        } else {
          // Those within 1% carried the same load: the lowest p99 wins.
          std::string best_pol, tied;
          double best_p99 = INFINITY, worst_p99 = 0;
          for (const auto& [v, pol] : thr) {
            if (v < thr[0].first * 0.99) continue;
            const double p99 = s.results[pol]["p99_us"].get<double>();
            tied += (tied.empty() ? "" : ", ") + pol;
            if (p99 < best_p99) {
              best_p99 = p99;
              best_pol = pol;
            }
            worst_p99 = std::max(worst_p99, p99);
          }
          s.verdict = fmt::format(
              "{}: {} carry the same {:.2f} Mpps at {} CPUs (within 1%); {} has the lowest p99, "
              "{:.1f} us (worst {:.1f} us)",
              scen, tied, thr[0].first / 1e6, r.machine_cpus, best_pol, best_p99, worst_p99);
        }
      }
      // The same at the largest simulated count.
      int top = 0;
      for (const Point& p : r.points) {
        if (p.scenario == scen && p.kind == "sim") top = std::max(top, p.cpus);
      }
      double best = -1;
      std::string best_pol;
      for (const std::string& pol : policies) {
        const Point* p = Find(r.points, scen, pol, "sim", top);
        if (p && p->steady_pps > best) {
          best = p->steady_pps;
          best_pol = pol;
        }
      }
      if (top != r.machine_cpus && best >= 0)
        s.verdict += fmt::format("; at {} CPUs {} ({:.2f} Mpps)", top, best_pol, best / 1e6);
      if (s.adaptive_vs_oracle)
        s.verdict += fmt::format("; adaptive/oracle {:.3f}", *s.adaptive_vs_oracle);
      if (!s.validation.is_null()) {
        s.verdict += fmt::format("; real vs sim: worst throughput gap {:+.1f}%, {} ranking",
                                 100 * s.validation["throughput_gap"].get<double>(),
                                 s.validation["same_ranking"].get<bool>() ? "same" : "DIFFERENT");
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string Csv(const CompareReport& r) {
  std::string out =
      "scenario,kind,policy,cpus,offered_pps,throughput_pps,steady_pps,p50_us,p99_us,dropped,"
      "reordered\n";
  for (const Point& p : r.points) {
    out += fmt::format("{},{},{},{},{},{:.1f},{:.1f},{:.3f},{:.3f},{},{}\n", p.scenario, p.kind,
                       p.policy, p.cpus, p.offered_pps, p.throughput_pps, p.steady_pps, p.p50_us,
                       p.p99_us, p.dropped, p.reordered);
  }
  return out;
}

// One gnuplot script per plot; returns the SVG text ("" if gnuplot failed).
std::string Plot(const fs::path& dir, const std::string& name, const std::string& title,
                 const std::string& xlabel, const std::string& ylabel, bool logx,
                 const std::map<std::string, std::vector<std::pair<double, double>>>& series) {
  const fs::path dat = dir / (name + ".dat"), gp = dir / (name + ".gp"),
                 svg = dir / (name + ".svg");
  {
    std::ofstream d(dat);
    for (const auto& [label, pts] : series) {
      d << "# " << label << "\n";
      for (auto [x, y] : pts) d << x << " " << y << "\n";
      d << "\n\n";
    }
    std::ofstream g(gp);
    g << "set terminal svg size 640,400 dynamic background rgb 'white'\n"
      << "set output '" << svg.string() << "'\n"
      << "set title '" << title << "'\nset xlabel '" << xlabel << "'\nset ylabel '" << ylabel
      << "'\nset key outside right\nset grid\n"
      << (logx ? "set logscale x 2\n" : "") << "plot ";
    int i = 0;
    for (const auto& [label, pts] : series) {
      g << (i ? ", " : "") << "'" << dat.string() << "' index " << i << " with linespoints title '"
        << label << "'";
      ++i;
    }
    g << "\n";
  }
  if (series.empty()) return "";
  const std::string cmd = "gnuplot '" + gp.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream in(svg);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "; real orders a > b beyond its noise, sim the other way" for the
// report, or "" when the rankings agree.
std::string Conflicts(const nlohmann::json& v) {
  std::string out;
  for (const auto& c : v["ranking_conflicts"])
    out += (out.empty() ? "" : ", ") + c.get<std::string>();
  return out.empty() ? ""
                     : "; real orders " + out +
                           " beyond its runs' range, the simulation the "
                           "other way";
}

// The dispatch costs the validation simulated with, for the report.
std::string CostsNow(const nlohmann::json& v) {
  if (v["costs_now"].is_null()) return "";
  const nlohmann::json stalls =
      v.contains("stalls") && v["stalls"].is_object() ? v["stalls"] : nlohmann::json::object();
  return fmt::format(
      " The simulation of the real runs uses the dispatch costs measured now in their layout: "
      "receive {:.0f} ns a packet, a CPU crossing {:.0f} of which the producer pays {:.0f} "
      "(the profile's: {:.0f}, {:.0f} and {:.0f}), adaptive's decision {:.0f} ns a packet, "
      "and the machine's stalls measured between the real runs: one every {:.0f} us on "
      "each CPU, median {:.1f} us, p99 {:.1f} us, mean {:.1f} us.",
      v["costs_now"]["rx_pkt_ns"].get<double>(), v["costs_now"]["handoff_pkt_ns"].get<double>(),
      v["costs_now"].value("handoff_producer_ns", 0.0),
      v["profile_costs"]["rx_pkt_ns"].get<double>(),
      v["profile_costs"]["handoff_pkt_ns"].get<double>(),
      v["profile_costs"].value("handoff_producer_ns", 0.0),
      v["costs_now"].value("adaptive_pkt_ns", 0.0), stalls.value("stall_gap_ns", 0.0) / 1e3,
      stalls.value("stall_ns", 0.0) / 1e3, stalls.value("stall_p99_ns", 0.0) / 1e3,
      stalls.value("stall_mean_ns", 0.0) / 1e3);
}

// " **The simulation misses ...**" when the worst throughput or p99 gap is
// beyond the 15% aim, naming which; "" when both are within it.
std::string Misses(const nlohmann::json& v) {
  std::string what;
  for (const auto& [key, name] : {std::pair{"throughput_gap", "throughput"}, {"p99_gap", "p99"}}) {
    const double gap = v[key].get<double>();
    if (std::abs(gap) > 0.15)
      what += fmt::format("{}{} by {:+.0f}%", what.empty() ? "" : " and ", name, 100 * gap);
  }
  if (what.empty()) return "";
  return " **The simulation misses the real run here: " + what +
         " (the aim is within 15%); the profile was not tuned to hide it.**";
}

std::string HtmlEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

// The inline markup the report's markdown uses: `code` and **bold**, on
// text already escaped.
std::string HtmlInline(const std::string& text) {
  std::string o;
  const std::string s = HtmlEscape(text);
  bool code = false, bold = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '`') {
      o += code ? "</code>" : "<code>";
      code = !code;
    } else if (!code && s.compare(i, 2, "**") == 0) {
      o += bold ? "</strong>" : "<strong>";
      bold = !bold;
      ++i;
    } else {
      o += s[i];
    }
  }
  if (code) o += "</code>";
  if (bold) o += "</strong>";
  return o;
}

// report.md's subset of markdown as HTML: headings, tables (the first row
// the header, the |---| row dropped), bullet lists, paragraphs, and images,
// which become the inline SVG in `figures` (keyed by the image's path) so
// that report.html is one self-contained file.
std::string MarkdownToHtml(const std::string& md,
                           const std::map<std::string, std::string>& figures) {
  std::string o, para;
  bool in_table = false, in_list = false, header_row = false;
  auto close = [&] {
    if (!para.empty()) o += "<p>" + HtmlInline(para) + "</p>\n";
    para.clear();
    if (in_table) o += "</table>\n";
    if (in_list) o += "</ul>\n";
    in_table = in_list = false;
  };
  std::istringstream in(md);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("|")) {
      if (!in_table) {
        close();
        o += "<table>\n";
        in_table = header_row = true;
      }
      if (line.starts_with("|---")) continue;
      const char* cell = header_row ? "th" : "td";
      o += "<tr>";
      size_t a = 1;
      for (size_t b; (b = line.find('|', a)) != std::string::npos; a = b + 1) {
        std::string c = line.substr(a, b - a);
        c.erase(0, c.find_first_not_of(' '));
        c.erase(c.find_last_not_of(' ') + 1);
        o += fmt::format("<{}>{}</{}>", cell, HtmlInline(c), cell);
      }
      o += "</tr>\n";
      header_row = false;
    } else if (line.starts_with("* ") || line.starts_with("- ")) {
      if (!in_list) {
        close();
        o += "<ul>\n";
        in_list = true;
      }
      o += "<li>" + HtmlInline(line.substr(2)) + "</li>\n";
    } else if (line.starts_with("#")) {
      close();
      const size_t hashes = std::min(line.find_first_not_of('#'), line.size());
      const size_t level = std::min<size_t>(hashes, 6);
      const std::string text = line.substr(std::min(hashes + 1, line.size()));
      o += fmt::format("<h{}>{}</h{}>\n", level, HtmlInline(text), level);
    } else if (line.starts_with("![")) {
      close();
      const size_t open = line.find("](");
      const std::string path = line.substr(open + 2, line.rfind(')') - open - 2);
      const auto f = figures.find(path);
      if (f != figures.end()) o += "<figure>" + f->second + "</figure>\n";
    } else if (line.empty()) {
      close();
    } else {
      if (in_table || in_list) close();
      para += (para.empty() ? "" : " ") + line;
    }
  }
  close();
  return o;
}

}  // namespace

std::vector<std::string> RankingConflicts(const std::vector<RankedPolicy>& p) {
  std::vector<std::string> out;
  for (const RankedPolicy& a : p) {
    for (const RankedPolicy& b : p) {
      if (a.real_lo > b.real_hi && b.sim > a.sim) out.push_back(a.policy + " > " + b.policy);
    }
  }
  return out;
}

Status ValidateCompareOptions(const CompareOptions& o) {
  if (Status st = CheckList("--scenario", o.scenarios, sim::kScenarioChoices); !st.ok()) return st;
  if (Status st = CheckList("--policies", o.policies, sim::kSimDispatchChoices); !st.ok())
    return st;
  if (auto c = ParseCpus(o.cpus); !c.ok()) return c.status();
  if (o.load != "auto") {
    if (auto l = ParseLoad(o.load); !l.ok())
      return Status(ErrorCode::kInvalidArgument, l.status().message() + " (or auto)");
  }
  if (auto p = sim::LoadProfile(o.profile); !p.ok()) return p.status();
  if (o.packets < 1000 || o.packets > 100'000'000)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--packets {} out of range [1000, 1e8]", o.packets));
  if (!(o.sim_ms >= 0 && o.sim_ms <= 1000))
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--sim-ms {} out of range [0, 1000]", o.sim_ms));
  if (o.real_packets < 0 || o.real_packets > 100'000'000)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--real-packets {} out of range [0, 1e8]", o.real_packets));
  if (o.real_reps < 1 || o.real_reps > 9)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--real-reps {} out of range [1, 9]", o.real_reps));
  if (!(o.service_ns >= 0) || o.service_ns > 1e6)
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("--service-ns {} out of range [0, 1e6]", o.service_ns));
  if (o.out.empty()) return Status(ErrorCode::kInvalidArgument, "--out is empty");
  return Status::Ok();
}

Result<CompareReport> RunCompare(const CompareOptions& o, std::ostream& progress_out) {
  if (Status st = ValidateCompareOptions(o); !st.ok()) return st;
  const auto t0 = std::chrono::steady_clock::now();
  CompareReport rep;
  rep.options = o;
  rep.machine_cpus = MachineCpus();
  const auto scenarios = Split(o.scenarios, ',');
  const auto policies = Split(o.policies, ',');
  std::vector<int> cpus = *ParseCpus(o.cpus);
  if (std::find(cpus.begin(), cpus.end(), rep.machine_cpus) == cpus.end())
    cpus.push_back(rep.machine_cpus);
  std::sort(cpus.begin(), cpus.end());
  const sim::CostProfile profile = *sim::LoadProfile(o.profile);
  // --load auto: 70% of what n CPUs can carry by the profile with the
  // scenario's packets spread evenly and no handoff (receive, stages,
  // lookup, service; reqresp's responses double the packets, SYNs add
  // syn_ns), so that the policies that balance carry it and those that
  // cannot (direct under skew) show it. An open-loop load keeps every RX
  // queue's share for the whole run, which saturation would not.
  auto load_for = [&](const std::string& scen, int n) {
    if (o.load != "auto") return *ParseLoad(o.load);
    double per_packet = o.service_ns + profile.rx_pkt_ns + profile.rx_burst_ns / 32 +
                        profile.ether_ns + profile.ip_ns + profile.tcp_ns +
                        profile.LookupNs("epoch");
    if (scen == "reqresp") per_packet *= 2;
    if (scen == "synflood") per_packet += 0.9 * profile.syn_ns;
    if (scen == "churn") per_packet += profile.syn_ns / 8;
    if (scen == "mix") per_packet += (0.1 + 0.2 / 8) * profile.syn_ns;
    return std::round(0.7 * n * 1e9 / std::max(per_packet, 1.0) / 1e3) * 1e3;
  };
  const std::vector<double> fractions = {0.2, 0.4, 0.6, 0.8, 1.0, 1.2};
  auto benchable = [](const std::string& s) { return s == "uniform" || s == "skew"; };
  int total = 0;
  for (const std::string& s : scenarios) {
    total += static_cast<int>(policies.size() * (cpus.size() + fractions.size()));
    if (o.real_packets > 0 && benchable(s)) {
      // Real runs and simulations, and the oracle's placement run.
      total += static_cast<int>(2 * o.real_reps * policies.size()) +
               static_cast<int>(std::count(policies.begin(), policies.end(), "oracle"));
    }
  }
  if (o.real_packets > 0 && std::any_of(scenarios.begin(), scenarios.end(), benchable)) ++total;
  Progress bar(progress_out, total, o.progress && !o.json && isatty(STDERR_FILENO));

  rep.profile_rx_pkt_ns = profile.rx_pkt_ns + profile.rx_burst_ns / 32;
  rep.profile_handoff_pkt_ns = profile.handoff_pkt_ns + profile.handoff_burst_ns / 32;
  rep.profile_handoff_producer_ns = profile.handoff_producer_ns;
  // The validation simulates with this machine's dispatch costs measured
  // now, in the runs' own layout and handler work; everything else is the
  // profile's.
  sim::CostProfile bench_profile = profile;
  const bool validate =
      o.real_packets > 0 && std::any_of(scenarios.begin(), scenarios.end(), benchable);
  if (validate) {
    bar.Step("measuring dispatch costs");
    // Five times the real runs' packets, up to calibrate's 2 M: a run's
    // set-up (threads, pools) weighs on short runs (receive read 92-110 ns
    // a packet at 400 k, 48-65 at 2 M, in the same hour).
    auto c = MeasureDispatchCosts(
        rep.machine_cpus, std::clamp<int64_t>(5 * o.real_packets, 250'000, 2'000'000),
        static_cast<int64_t>(o.service_ns), static_cast<int>(o.real_reps), 0.5);
    if (!c.ok()) return c.status();
    rep.costs_now = *c;
    bench_profile.rx_burst_ns = 0;
    bench_profile.rx_pkt_ns = c->rx_pkt_ns;
    bench_profile.adaptive_pkt_ns = c->adaptive_pkt_ns;
    bench_profile.handoff_burst_ns = 0;
    bench_profile.handoff_pkt_ns = c->handoff_pkt_ns;
    bench_profile.handoff_producer_ns = c->handoff_producer_ns;
    c->ApplyStalls(bench_profile);
  }

  // bench: the validation's layout, with `bench_stalls` as its stalls.
  auto sim_run = [&](const std::string& scen, const std::string& pol, int n, double l,
                     int64_t packets, bool bench, uint64_t seed_offset = 0,
                     const DispatchCosts* bench_stalls = nullptr) -> Result<sim::SimResult> {
    sim::SimConfig c;
    c.cpus = n;
    c.packets = packets;
    c.scenario = scen;
    c.dispatch = pol;
    c.load_pps = l;
    c.service_ns = o.service_ns;
    c.service_dist = bench ? "fixed" : "exp";
    c.profile = bench ? bench_profile : profile;
    if (bench && bench_stalls != nullptr) bench_stalls->ApplyStalls(c.profile);
    c.seed = o.seed + seed_offset;
    c.bench = bench;
    bar.Step(fmt::format("{} {} {} cpus", scen, pol, n));
    return sim::RunSim(c);
  };

  for (const std::string& scen : scenarios) {
    double cap = 0;
    for (int n : cpus) {
      for (const std::string& pol : policies) {
        const double l = load_for(scen, n);
        const int64_t packets = std::max<int64_t>(
            o.packets, std::min<int64_t>(std::llround(l * o.sim_ms * 1e-3), 100'000'000));
        auto r = sim_run(scen, pol, n, l, packets, false);
        if (!r.ok()) return r.status();
        rep.points.push_back(FromSim(*r, "sim"));
        if (n == rep.machine_cpus) cap = std::max(cap, r->throughput_pps);
      }
    }
    // The load sweep, relative to the best saturated throughput here.
    if (load_for(scen, rep.machine_cpus) > 0) cap = std::max(cap, load_for(scen, rep.machine_cpus));
    for (double f : fractions) {
      const double l = std::max(1e3, std::round(cap * f / 1e3) * 1e3);
      for (const std::string& pol : policies) {
        auto r =
            sim_run(scen, pol, rep.machine_cpus, l, std::max<int64_t>(o.packets / 2, 1000), false);
        if (!r.ok()) return r.status();
        Point p = FromSim(*r, "sim-load");
        rep.points.push_back(p);
      }
    }
    if (o.real_packets > 0 && benchable(scen)) {
      // The oracle's placement, for its real run's affinity hints.
      std::vector<std::vector<int>> oracle_placement(policies.size());
      for (size_t i = 0; i < policies.size(); ++i) {
        if (policies[i] != "oracle") continue;
        auto s = sim_run(scen, policies[i], rep.machine_cpus, 0, o.real_packets, true);
        if (!s.ok()) return s.status();
        oracle_placement[i] = s->oracle_placement;
      }
      // Interleaved rounds, each starting one policy later, so that a
      // slow spell of the machine falls on every policy alike; before
      // each run, a slice of stall measurement, pooled: the simulations
      // get the stalls of the minutes the real runs had (a real p99 moves
      // 10 -> 31 us between spells here, with the stalls' share of the
      // time 3 -> 5%).
      std::vector<std::vector<Point>> runs(policies.size());
      DispatchCosts stalls;
      for (int64_t round = 0; round < o.real_reps; ++round) {
        for (size_t k = 0; k < policies.size(); ++k) {
          const size_t i = (k + static_cast<size_t>(round)) % policies.size();
          bar.Step(fmt::format("{} {} real {}", scen, policies[i], round + 1));
          if (Status st = MeasureStalls(rep.machine_cpus, kStallSliceSeconds, stalls); !st.ok())
            return st;
          auto p = RealRun(scen, policies[i], rep.machine_cpus, o, oracle_placement[i]);
          if (!p.ok()) return p.status();
          runs[i].push_back(*p);
        }
      }
      for (auto& v : runs) rep.points.push_back(MedianRun(v));
      rep.stalls_during[scen] = stalls;
      for (size_t i = 0; i < policies.size(); ++i) {
        // As many seeds as real repetitions, medians alike: the p99 of one
        // short run is as much the luck of its stalls in the simulation
        // as on the machine (MedianRun).
        std::vector<Point> seeds;
        for (int64_t k = 0; k < o.real_reps; ++k) {
          auto s = sim_run(scen, policies[i], rep.machine_cpus, 0, o.real_packets, true,
                           static_cast<uint64_t>(k), &stalls);
          if (!s.ok()) return s.status();
          seeds.push_back(FromSim(*s, "sim-bench"));
        }
        Point m = MedianRun(std::move(seeds));
        m.throughput_lo = m.throughput_hi = m.throughput_pps;  // FromSim's convention
        rep.points.push_back(m);
      }
    }
  }
  rep.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

std::string CompareJson(const CompareReport& r) {
  nlohmann::json j;
  j["machine_cpus"] = r.machine_cpus;
  j["wall_s"] = r.wall_s;
  j["profile"] = r.options.profile;
  j["load"] = r.options.load;
  j["sim_ms"] = r.options.sim_ms;
  j["scenarios"] = nlohmann::json::object();
  for (const Summary& s : Summarise(r)) {
    nlohmann::json e;
    e["results"] = s.results;
    e["adaptive_vs_oracle"] =
        s.adaptive_vs_oracle ? nlohmann::json(*s.adaptive_vs_oracle) : nlohmann::json();
    e["validation"] = s.validation;
    e["verdict"] = s.verdict;
    j["scenarios"][s.scenario] = e;
  }
  j["points"] = nlohmann::json::array();
  for (const Point& p : r.points) {
    j["points"].push_back({{"scenario", p.scenario},
                           {"kind", p.kind},
                           {"policy", p.policy},
                           {"cpus", p.cpus},
                           {"offered_pps", p.offered_pps},
                           {"throughput_pps", p.throughput_pps},
                           {"steady_pps", p.steady_pps},
                           {"p50_us", p.p50_us},
                           {"p99_us", p.p99_us},
                           {"dropped", p.dropped},
                           {"reordered", p.reordered}});
  }
  return j.dump(2);
}

std::string CompareTable(const CompareReport& r) {
  std::string out;
  int top = 0;
  for (const Point& p : r.points) top = std::max(top, p.kind == "sim" ? p.cpus : 0);
  for (const Summary& s : Summarise(r)) {
    out += fmt::format("\n{} (simulated at {} CPUs, load {}; profile {})\n", s.scenario,
                       r.machine_cpus, r.options.load, r.options.profile);
    out +=
        fmt::format("  {:<9} {:>10} {:>9} {:>9} {:>9} {:>12} {:>10} {:>8}\n", "policy", "Mpps",
                    "p50 us", "p99 us", "dropped", fmt::format("Mpps@{}", top), "real Mpps", "gap");
    for (const std::string& pol : s.policies) {
      const Point* p = Find(r.points, s.scenario, pol, "sim", r.machine_cpus);
      if (!p) continue;
      const Point* t = Find(r.points, s.scenario, pol, "sim", top);
      std::string real = "-", gap = "-";
      if (!s.validation.is_null() && s.validation["policies"].contains(pol)) {
        const auto& v = s.validation["policies"][pol];
        real = fmt::format("{:.3f}", v["real_pps"].get<double>() / 1e6);
        gap = fmt::format("{:+.1f}%", 100 * v["throughput_gap"].get<double>());
      }
      out += fmt::format("  {:<9} {:>10.3f} {:>9.2f} {:>9.2f} {:>9} {:>12.3f} {:>10} {:>8}\n", pol,
                         p->steady_pps / 1e6, p->p50_us, p->p99_us, p->dropped,
                         t ? t->steady_pps / 1e6 : 0.0, real, gap);
    }
  }
  out += "\n";
  for (const Summary& s : Summarise(r)) out += "verdict: " + s.verdict + "\n";
  out += fmt::format(
      "(Mpps: steady state, while every RX queue still brings packets; p50/p99: sojourn, whole "
      "run; real "
      "Mpps: wall clock)\ncompare: {} runs in {:.1f} s\n",
      r.points.size(), r.wall_s);
  return out;
}

Status WriteReport(const CompareReport& r, const std::string& dir_name, std::ostream& err) {
  const fs::path dir(dir_name);
  std::error_code ec;
  fs::create_directories(dir / "plots", ec);
  if (ec) return Status(ErrorCode::kUnavailable, "--out " + dir_name + ": " + ec.message());
  {
    std::ofstream(dir / "results.csv") << Csv(r);
    std::ofstream(dir / "results.json") << CompareJson(r) << "\n";
  }
  const std::vector<Summary> sums = Summarise(r);
  std::string md = "# netisr compare\n\n";
  std::map<std::string, std::string> figures;  // image path in md -> inline SVG
  md += fmt::format(
      "Simulated with the real dispatcher in virtual time (profile `{}`), load `{}`; this "
      "machine: {} CPUs; {} runs in {:.1f} s. Raw data: `results.csv`, `results.json`.\n\n",
      r.options.profile, r.options.load, r.machine_cpus, r.points.size(), r.wall_s);
  md += "## Verdicts\n\n";
  for (const Summary& s : sums) md += "* " + s.verdict + "\n";
  bool plots_missing = false;
  for (const Summary& s : sums) {
    md += fmt::format(
        "\n## {}\n\n| policy | Mpps | p50 us | p99 us | dropped |\n|---|---|---|---|---|\n",
        s.scenario);
    std::map<std::string, std::vector<std::pair<double, double>>> by_load, p99_load, by_cpus;
    for (const std::string& pol : s.policies) {
      if (const Point* p = Find(r.points, s.scenario, pol, "sim", r.machine_cpus))
        md += fmt::format("| {} | {:.3f} | {:.2f} | {:.2f} | {} |\n", pol, p->steady_pps / 1e6,
                          p->p50_us, p->p99_us, p->dropped);
      for (const Point& p : r.points) {
        if (p.scenario != s.scenario || p.policy != pol) continue;
        if (p.kind == "sim-load") {
          by_load[pol].push_back({p.offered_pps / 1e6, p.throughput_pps / 1e6});
          p99_load[pol].push_back({p.offered_pps / 1e6, p.p99_us});
        } else if (p.kind == "sim") {
          by_cpus[pol].push_back({p.cpus, p.steady_pps / 1e6});
        }
      }
    }
    for (auto* m : {&by_load, &p99_load, &by_cpus})
      for (auto& [k, v] : *m) std::sort(v.begin(), v.end());
    if (s.adaptive_vs_oracle)
      md += fmt::format("\nadaptive / oracle throughput: {:.3f}\n", *s.adaptive_vs_oracle);
    if (!s.validation.is_null()) {
      const auto& v = s.validation;
      md += fmt::format(
          "\nValidation against the real dispatcher ({} CPUs, threads model, bench layout, "
          "median of {} interleaved runs per policy, the simulation likewise over as many "
          "seeds): worst throughput gap {:+.1f}%, worst p99 gap {:+.1f}% (the p99 ranges of "
          "real runs and simulations meet for {} of {} policies), ranking {} (real: {}; sim: "
          "{}{}).{}{}\n\n| policy | real Mpps (range) | sim Mpps | gap | real p99 us (range) | "
          "sim p99 us (range) |\n|---|---|---|---|---|---|\n",
          r.machine_cpus, v["real_reps"].get<int64_t>(), 100 * v["throughput_gap"].get<double>(),
          100 * v["p99_gap"].get<double>(), v.value("p99_ranges_meet", 0), v["policies"].size(),
          v["same_ranking"].get<bool>() ? "same" : "different",
          v["real_ranking"].get<std::string>(), v["sim_ranking"].get<std::string>(), Conflicts(v),
          CostsNow(v), Misses(v));
      for (const auto& [pol, e] : v["policies"].items()) {
        md += fmt::format(
            "| {} | {:.3f} ({:.3f}-{:.3f}) | {:.3f} | {:+.1f}% | {:.1f} ({:.1f}-{:.1f}) "
            "| {:.1f} ({:.1f}-{:.1f}) |\n",
            pol, e["real_pps"].get<double>() / 1e6, e["real_lo_pps"].get<double>() / 1e6,
            e["real_hi_pps"].get<double>() / 1e6, e["sim_pps"].get<double>() / 1e6,
            100 * e["throughput_gap"].get<double>(), e["real_p99_us"].get<double>(),
            e.value("real_p99_lo_us", 0.0), e.value("real_p99_hi_us", 0.0),
            e["sim_p99_us"].get<double>(), e.value("sim_p99_lo_us", 0.0),
            e.value("sim_p99_hi_us", 0.0));
      }
    } else {
      md += "\nNo real run: `netisr run`'s bench mode cannot generate this scenario.\n";
    }
    struct PlotSpec {
      std::string suffix, title, x, y;
      bool logx;
      const std::map<std::string, std::vector<std::pair<double, double>>>* data;
    };
    for (const PlotSpec& ps :
         {PlotSpec{"_throughput_vs_load", s.scenario + ": throughput vs offered load",
                   "offered Mpps", "Mpps", false, &by_load},
          PlotSpec{"_p99_vs_load", s.scenario + ": p99 sojourn vs offered load", "offered Mpps",
                   "p99 us", false, &p99_load},
          PlotSpec{"_throughput_vs_cpus", s.scenario + ": throughput vs CPUs", "CPUs", "Mpps", true,
                   &by_cpus}}) {
      const std::string name = s.scenario + ps.suffix;
      const std::string svg = Plot(dir / "plots", name, ps.title, ps.x, ps.y, ps.logx, *ps.data);
      if (svg.empty()) {
        plots_missing = true;
        continue;
      }
      md += fmt::format("\n![{}](plots/{}.svg)\n", ps.title, name);
      figures["plots/" + name + ".svg"] = svg.substr(svg.find("<svg"));
    }
  }
  std::string reorders;
  for (const Point& p : r.points) {
    if (p.reordered != 0)
      reorders += fmt::format("* {} {} ({}) at {} CPUs: {} packets\n", p.scenario, p.policy, p.kind,
                              p.cpus, p.reordered);
  }
  if (!reorders.empty()) {
    md +=
        "\n## Reordered packets\n\nThe dispatcher keeps a flow's order per producer; these "
        "runs delivered packets of a flow out of order (docs/sim.md, \"Order across "
        "producers\"):\n\n" +
        reorders;
  }
  if (plots_missing) {
    md +=
        "\n(Some plots are missing: gnuplot was not found or failed; scripts/bootstrap.sh "
        "installs gnuplot-nox.)\n";
    err << "netisr compare: gnuplot missing or failed; the report has no plots\n";
  }
  std::ofstream(dir / "report.md") << md;
  // report.html: the same text as HTML, tables as tables and the plots
  // inline, so the one file carries everything.
  std::ofstream(dir / "report.html")
      << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>netisr compare</title>"
         "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
         "table{border-collapse:collapse;margin:8px 0}"
         "th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}"
         "th:first-child,td:first-child{text-align:left}figure{margin:8px 0}</style>"
         "</head><body>\n"
      << MarkdownToHtml(md, figures) << "</body></html>\n";
  return Status::Ok();
}

int CompareCommand(const CompareOptions& o, std::ostream& out, std::ostream& err) {
  if (Status st = ValidateCompareOptions(o); !st.ok()) {
    err << "netisr compare: " << st.message() << "\n";
    return kExitUsage;
  }
  auto r = RunCompare(o, err);
  if (!r.ok()) {
    err << "netisr compare: " << r.status().message() << "\n";
    return kExitFailure;
  }
  if (Status st = WriteReport(*r, o.out, err); !st.ok()) {
    err << "netisr compare: " << st.message() << "\n";
    return kExitFailure;
  }
  out << (o.json ? CompareJson(*r) + "\n" : CompareTable(*r) + "report: " + o.out + "/report.md\n");
  // Reordering is reported, not hidden; it is a finding about the
  // dispatcher (docs/sim.md, "Order across producers"), not a failed run.
  for (const Point& p : r->points) {
    if (p.reordered != 0) {
      err << fmt::format("netisr compare: warning: {} {} ({}) at {} CPUs reordered {} packets\n",
                         p.scenario, p.policy, p.kind, p.cpus, p.reordered);
    }
  }
  // A machine that took much of the measuring threads' time was busy
  // with more than this run: its real runs say more of that load than of
  // the dispatcher (docs/sim.md, "Stalls as the machine has them").
  for (const auto& [scen, stalls] : r->stalls_during) {
    if (stalls.stall_lost > kLoadedStallShare) {
      err << fmt::format(
          "netisr compare: warning: during {}'s real runs the machine took {:.0f}% of the "
          "measuring threads' time (other load): the validation compares against a loaded "
          "machine\n",
          scen, 100 * stalls.stall_lost);
    }
  }
  return kExitOk;
}

// Calibration: what the real dispatcher costs per packet here, from
// `netisr run`'s bench mode (threads model, this machine's CPUs, 1024
// flows, handler work --service-ns), kCalibrationRounds interleaved rounds
// of one run in each mode:
//   direct:   every packet received, classified and handled on its RX
//             queue's worker: the process's CPU time per delivered packet
//             (CPU time, not wall: the machine may be shared; backlogged
//             sources keep the workers from idling) less the handler's
//             nominal work is the receive-and-dispatch cost -> rx_pkt_ns
//             (compare's validation: rx_burst_ns 0, folded in; calibrate
//             splits it with a run of one-packet bursts, SplitPerBurst);
//   deferred: the same plus the queue crossing. The simulator charges
//             handoff_pkt_ns to a packet only when it crosses CPUs, and in
//             this layout (flowids unrelated to the source) a packet's
//             workstream is its own CPU's for 1 in `cpus` packets: the
//             difference over the (cpus - 1) / cpus that crossed is the
//             handoff per crossing packet (handoff_burst_ns as rx_burst_ns;
//             the queueing of the packets that stayed is folded in too).
//             With one CPU nothing crosses: 0.
// Each mode's cost is its cheapest round: other processes on a shared
// machine only ever add to a run's CPU time (cache and memory-bandwidth
// theft, preempted lock holders), so the minimum is the estimate of the
// machine's own cost and a median would bake the neighbours' load of the
// moment into the profile (seen here, handler work 0: 139 and 134 ns on a
// busy afternoon, 42 and 21 on a quiet night, same binary).
// The connection lookups and the wakeup are measured apart
// (MeasureLookupNs, MeasureWakeupNs); the protocol stages, the SYN's extra
// and the cache penalty are not measured (the fused fast path runs
// Ethernet, IPv4 and TCP as one step): they keep the default profile's
// values, and the file says which lines were measured.
namespace {
// Nine: adaptive's decision (a paired median) read 14-33 ns over eight
// calibrations of five rounds in a row.
constexpr int kCalibrationRounds = 9;
// Seconds of clock spinning per CPU for the stall rate: ~1,000-2,000 stalls
// a CPU here, enough for their mean.
constexpr double kStallSeconds = 1.0;
}  // namespace

namespace {

// The consumers' mean drained burst in a run: its queued packets over the
// bursts its workers popped (WorkStats::bursts); 0 if nothing was queued.
double MeanDrain(const Stats& st) {
  uint64_t queued = 0, bursts = 0;
  for (size_t x = 0; x < st.protocols.size(); ++x) {
    if (st.protocols[x].empty()) continue;
    const WorkStats t = st.Total(static_cast<int>(x));
    queued += t.queued;
    bursts += t.bursts;
  }
  return bursts > 0 ? static_cast<double>(queued) / static_cast<double>(bursts) : 0;
}

// The median of `v` (the upper one of an even count), `if_empty` for none.
double MedianOr(std::vector<double> v, double if_empty) {
  if (v.empty()) return if_empty;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

struct OneWay {
  double ns = 0;         // the consumer's wall ns per delivered packet
  uint64_t dropped = 0;  // at its full queue
  double drain = 0;      // its mean drained burst (MeanDrain)
};

// One one-way run: a single source on worker 0 whose every flow bucket is
// hinted to worker 1 (hybrid mode, so all of it crosses). Paced at `rate`
// (0: saturating). The ns are net of the stalls.
Result<OneWay> OneWayRun(int64_t packets, int64_t service_ns, double rate, double stall_lost) {
  RunOptions ro = BenchLayout(2, "hybrid", packets, service_ns);
  ro.sources = 1;
  ro.rate = rate;
  RunHooks hooks;
  hooks.registered = AffinityHints(std::vector<int>(Settings{}.flow_buckets, 1));
  auto r = RunSynthetic(ro, hooks);
  if (!r.ok()) return r.status();
  if (r->delivered == 0) return Status(ErrorCode::kUnavailable, "a one-way run moved nothing");
  return OneWay{r->seconds * 1e9 / static_cast<double>(r->delivered) * (1 - stall_lost),
                r->dropped_total(), MeanDrain(r->stats)};
}

}  // namespace

Result<double> ConsumerSideNs(int64_t packets, int64_t service_ns, double stall_lost,
                              double* drain) {
  // Saturating first: the producer outruns the consumer ~5-8x and drops
  // the excess at the full queue, and its constant pushes at that queue's
  // shared lines slow the consumer (65-82 ns here where a paced producer
  // gives 55-66). So again, paced at 1.2x the rate the consumer managed:
  // still consumer-bound (drops), without most of the hammering.
  auto sat = OneWayRun(packets, service_ns, 0, stall_lost);
  if (!sat.ok()) return sat.status();
  if (!(sat->ns > 0))
    return Status(ErrorCode::kUnavailable,
                  "a one-way run took no time (the machine stalled throughout?)");
  const double rate = 1.2e9 / sat->ns;
  // ~0.15 s of arrivals: as long as a saturating run delivers.
  const int64_t n = std::max<int64_t>(10'000, std::llround(rate * 0.15));
  auto paced = OneWayRun(n, service_ns, rate, stall_lost);
  if (!paced.ok()) return paced.status();
  // Consumer-bound only if it dropped about the sixth it could not take
  // (at least 5%): a run that kept up, but for a stall's burst of drops,
  // measured the pacing instead.
  const OneWay& used = paced->dropped * 20 >= static_cast<uint64_t>(n) ? *paced : *sat;
  if (drain != nullptr) *drain = used.drain;
  return std::max(0.0, used.ns - static_cast<double>(service_ns));
}

PerBurstSplit SplitPerBurst(double at_full, double at_single, double full) {
  PerBurstSplit s;
  if (full > 1) s.per_burst = std::max(0.0, at_single - at_full) / (1.0 - 1.0 / full);
  s.per_packet = std::max(0.0, at_full - s.per_burst / full);
  return s;
}

Result<DispatchCosts> MeasureDispatchCosts(int cpus, int64_t packets, int64_t service_ns,
                                           int rounds, double stall_seconds, bool per_burst) {
  DispatchCosts c;
  if (Status st = MeasureStalls(cpus, stall_seconds, c); !st.ok()) return st;
  auto cpu_ns_per_packet = [&](const std::string& mode, int64_t burst) -> Result<double> {
    RunOptions ro = BenchLayout(cpus, mode, packets, service_ns);
    ro.burst = burst;
    if (mode == "adaptive") {
      // Moves held off (at most one: an interval of 1 s, one move an
      // interval), so that the difference from direct is the decision
      // alone: a stall makes a CPU look saturated, and the moves that
      // follow are the simulator's to model (35-40 ns a packet measured
      // with them, on a noisy machine).
      ro.adaptive.interval_us = 1'000'000;
      ro.adaptive.step = 0;
    }
    const double cpu0 = ProcessCpuSeconds();
    auto r = RunSynthetic(ro);
    if (!r.ok()) return r.status();
    if (r->delivered == 0)
      return Status(ErrorCode::kUnavailable, "a calibration run moved nothing");
    if (mode == "deferred" && burst == 0) {
      // The consumers' mean drained burst: a producer's poll is spread
      // over every CPU's lane, so a drain takes about burst / cpus, not
      // the burst (SplitPerBurst's divisor for the crossing).
      if (const double d = MeanDrain(r->stats); d > 0) c.deferred_drain.push_back(d);
    }
    // Net of the stalls, which this VM counts as the process's CPU time
    // (/proc/stat shows no steal) and the simulator charges on its own.
    return (ProcessCpuSeconds() - cpu0) * 1e9 / static_cast<double>(r->delivered) *
               (1 - c.stall_lost) -
           static_cast<double>(service_ns);
  };
  // Interleaved (direct, deferred, direct, ...): the two modes share the
  // machine's quiet and busy spells, and the handoff is their difference.
  for (int round = 0; round < rounds; ++round) {
    using ModeRuns = std::pair<const char*, std::vector<double>*>;
    for (auto [mode, runs] : {ModeRuns{"direct", &c.direct}, ModeRuns{"deferred", &c.deferred},
                              ModeRuns{"adaptive", &c.adaptive}}) {
      auto ns = cpu_ns_per_packet(mode, 0);
      if (!ns.ok()) return ns.status();
      runs->push_back(*ns);
    }
    if (per_burst) {
      // Settings::burst 1: every poll and every drain takes one packet.
      for (auto [mode, runs] :
           {ModeRuns{"direct", &c.direct_single}, ModeRuns{"deferred", &c.deferred_single}}) {
        auto ns = cpu_ns_per_packet(mode, 1);
        if (!ns.ok()) return ns.status();
        runs->push_back(*ns);
      }
    }
    if (cpus > 1) {
      double drain = 0;
      auto ns = ConsumerSideNs(packets, service_ns, c.stall_lost, &drain);
      if (!ns.ok()) return ns.status();
      c.consumer.push_back(*ns);
      if (drain > 0) c.consumer_drain.push_back(drain);
    }
  }
  // Adaptive's decision, paired by round before the runs are sorted: each
  // round's adaptive run less the same round's direct one, the median of
  // those. The minimum of each, as for the other figures, let one round's
  // cheap direct run decide a difference of 10-25 ns (13, 24 and 25 ns in
  // three calibrations in a row); the rounds share the machine's spell.
  for (size_t r = 0; r < c.adaptive.size() && r < c.direct.size(); ++r)
    c.decision.push_back(c.adaptive[r] - c.direct[r]);
  std::sort(c.decision.begin(), c.decision.end());
  std::sort(c.consumer.begin(), c.consumer.end());
  std::sort(c.direct.begin(), c.direct.end());
  std::sort(c.deferred.begin(), c.deferred.end());
  std::sort(c.adaptive.begin(), c.adaptive.end());
  std::sort(c.direct_single.begin(), c.direct_single.end());
  std::sort(c.deferred_single.begin(), c.deferred_single.end());
  c.crossed = cpus > 1 ? static_cast<double>(cpus - 1) / cpus : 0;
  // Not below 0: a handler spins on the wall clock, so a run whose threads
  // were descheduled mid-handler (a loaded machine; tests run in parallel)
  // can read less CPU time than the handlers' nominal work.
  c.rx_pkt_ns = std::max(0.0, c.direct.front());
  c.adaptive_pkt_ns = c.decision.empty() ? 0 : std::max(0.0, c.decision[c.decision.size() / 2]);
  c.handoff_pkt_ns =
      c.crossed > 0 ? std::max(0.0, c.deferred.front() - c.direct.front()) / c.crossed : 0;
  c.handoff_producer_ns =
      c.consumer.empty() ? 0
                         : std::clamp(c.handoff_pkt_ns - c.consumer.front(), 0.0, c.handoff_pkt_ns);
  if (per_burst) {
    // Each split on its own pair: direct's receive and dispatch, and the
    // crossing (deferred less direct, over the packets that crossed) at
    // each burst size. The consumer pays the crossing's per-burst part in
    // the simulator (its pop, clock reads, load meter and `handled` store
    // a burst), so the producer's per-packet part stays as measured and
    // the consumer's per-packet part shrinks by the burst's share.
    // Backlogged sources: every poll brings a full burst.
    const PerBurstSplit rx = SplitPerBurst(c.rx_pkt_ns, c.direct_single.front(), Settings{}.burst);
    c.rx_pkt_ns = rx.per_packet;
    c.rx_burst_ns = rx.per_burst;
    if (c.crossed > 0) {
      const double single =
          std::max(0.0, c.deferred_single.front() - c.direct_single.front()) / c.crossed;
      const double drain = MedianOr(c.deferred_drain, Settings{}.burst);
      const PerBurstSplit x = SplitPerBurst(c.handoff_pkt_ns, single, drain);
      c.handoff_pkt_ns = x.per_packet;
      c.handoff_burst_ns = x.per_burst;
      // The consumer's side was measured draining its own bursts (the
      // one-way run's, ~32: every packet crosses), so it holds the
      // per-burst part over that size, not over `drain`: the producer's
      // part is the per-packet crossing less the consumer's per-packet part.
      const double one_way = MedianOr(c.consumer_drain, Settings{}.burst);
      if (!c.consumer.empty()) {
        const double consumer_pkt = std::max(0.0, c.consumer.front() - x.per_burst / one_way);
        c.handoff_producer_ns = std::clamp(x.per_packet - consumer_pkt, 0.0, x.per_packet);
      }
    }
  }
  return c;
}

void DispatchCosts::ApplyStalls(sim::CostProfile& p) const {
  p.stall_gap_ns = stall_gap_ns;
  p.stall_ns = stall_ns;
  p.stall_shared = stall_gap_ns > 0 ? stall_shared : 0;
  p.SetStallLengths(stall_gap_ns > 0 ? stall_lengths : std::vector<uint64_t>{});
  // The model's mean (interpolated quantiles) can reach the gap on a
  // machine loaded beyond its CPUs while the sample's own mean stays below
  // it: keep a profile ParseProfile accepts, the gap just above that mean.
  if (p.stall_gap_ns > 0 && p.MeanStallNs() >= p.stall_gap_ns)
    p.stall_gap_ns = std::ceil(p.MeanStallNs() * 1.05);
}

namespace {

// The steady clock's ns: one clock for every CPU (the stalls of two CPUs
// are compared), read through the vDSO in ~20 ns, far below a stall.
uint64_t SteadyNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

void AddStalls(const std::vector<StallTally>& cpus, DispatchCosts& c) {
  for (size_t i = 0; i < cpus.size(); ++i) {
    const StallTally& my = cpus[i];
    uint64_t my_len = 0;
    for (const StallSpan& s : my.spans) {
      c.stall_lengths.push_back(s.end - s.begin);
      my_len += s.end - s.begin;
    }
    c.stall_count += my.count;
    c.stall_lost_ns += my.lost_ns;
    c.stall_span_ns += my.span_ns;
    // Shared: meeting a stall of another CPU. By chance a stall of length
    // L meets one of CPU j's with probability ~ lost_j + rate_j x L;
    // summed over this CPU's stalls, what independence would give.
    if (cpus.size() < 2 || my.spans.empty()) continue;
    const double mean_len = static_cast<double>(my_len) / static_cast<double>(my.spans.size());
    double none = 1;  // by chance: meeting no other CPU's stall
    std::vector<bool> met(my.spans.size(), false);
    for (size_t j = 0; j < cpus.size(); ++j) {
      const StallTally& other = cpus[j];
      if (j == i || other.span_ns == 0) continue;
      none *= 1 - std::min(1.0, (static_cast<double>(other.lost_ns) +
                                 static_cast<double>(other.count) * mean_len) /
                                    static_cast<double>(other.span_ns));
      size_t k = 0;  // both sorted, disjoint within a CPU
      for (size_t a = 0; a < my.spans.size(); ++a) {
        while (k < other.spans.size() && other.spans[k].end <= my.spans[a].begin) ++k;
        if (k < other.spans.size() && other.spans[k].begin < my.spans[a].end) met[a] = true;
      }
    }
    c.stall_met += static_cast<uint64_t>(std::count(met.begin(), met.end(), true));
    c.stall_met_by_chance += (1 - none) * static_cast<double>(my.spans.size());
    c.stall_sampled += my.spans.size();
  }
  std::sort(c.stall_lengths.begin(), c.stall_lengths.end());
  c.stall_gap_ns = c.stall_ns = 0;
  // Fewer than one a second a CPU is left out: it would not matter, and a
  // profile's values stop at 1 s.
  const double gap = c.stall_count > 0
                         ? static_cast<double>(c.stall_span_ns) / static_cast<double>(c.stall_count)
                         : 0;
  if (c.stall_count > 0 && gap <= 1e9 && !c.stall_lengths.empty()) {
    c.stall_gap_ns = gap;
    // The nearest-rank median, as CostProfile::SetStallLengths takes it.
    c.stall_ns = static_cast<double>(c.stall_lengths[(c.stall_lengths.size() + 1) / 2 - 1]);
  }
  // The share of stalls that take every CPU: those met beyond chance.
  const double sampled = static_cast<double>(c.stall_sampled);
  c.stall_shared = sampled > c.stall_met_by_chance
                       ? std::clamp((static_cast<double>(c.stall_met) - c.stall_met_by_chance) /
                                        (sampled - c.stall_met_by_chance),
                                    0.0, 1.0)
                       : 0;
  c.stall_lost = c.stall_span_ns > 0
                     ? static_cast<double>(c.stall_lost_ns) / static_cast<double>(c.stall_span_ns)
                     : 0;
}

Status MeasureStalls(int cpus, double seconds, DispatchCosts& c) {
  // The CPUs the workers are bound to (netisr's order), not 0..cpus-1: a
  // restricted cpuset may not hold those.
  std::string topo_error;
  const auto topo = sched::Topology::Discover(&topo_error);
  if (topo == nullptr) return Status(ErrorCode::kUnavailable, "stall measurement: " + topo_error);
  const std::vector<int> order = topo->WorkerCpuOrder();
  if (order.empty()) return Status(ErrorCode::kUnavailable, "stall measurement: no CPU to bind");
  std::vector<StallTally> t(static_cast<size_t>(cpus));
  std::vector<std::string> errors(static_cast<size_t>(cpus));
  std::vector<std::thread> threads;
  for (int i = 0; i < cpus; ++i) {
    const int cpu = order[static_cast<size_t>(i) % order.size()];
    threads.emplace_back([&, i, cpu] {
      StallTally& my = t[static_cast<size_t>(i)];
      if (!sched::BindCurrentThread(cpu, &errors[static_cast<size_t>(i)])) return;
      my.spans.reserve(1 << 16);  // the first 65,536 kept: ~2,000 a second here
      const uint64_t start = SteadyNs(), end = start + static_cast<uint64_t>(seconds * 1e9);
      uint64_t prev = start;
      for (uint64_t now = start; now < end; prev = now) {
        now = SteadyNs();
        if (now > prev && now - prev > kStallThresholdNs) {
          if (my.spans.size() < my.spans.capacity()) my.spans.push_back({prev, now});
          ++my.count;
          my.lost_ns += now - prev;
        }
      }
      my.span_ns = prev - start;
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return Status(ErrorCode::kUnavailable, "stall measurement: " + e);
  }
  AddStalls(t, c);
  return Status::Ok();
}

Result<double> MeasureWakeupNs(int cpus) {
  if (cpus < 2) return 0.0;
  RunOptions ro = BenchLayout(2, "deferred", 3000, 0);
  ro.sources = 1;
  ro.rate = 5000;
  auto r = RunSynthetic(ro);
  if (!r.ok()) return r.status();
  if (r->latency_by_workstream.size() < 2 || r->latency_by_workstream[0].samples == 0 ||
      r->latency_by_workstream[1].samples == 0)
    return Status(ErrorCode::kUnavailable, "the wakeup run handled nothing on one worker");
  return std::max(0.0,
                  (r->latency_by_workstream[1].p50_us - r->latency_by_workstream[0].p50_us) * 1e3);
}

Result<double> MeasureLookupNs(const std::string& strategy) {
  auto s = inpcb::ParseTableStrategy(strategy);
  if (!s.ok()) return s.status();
  inpcb::TableSettings ts;
  ts.strategy = *s;
  ts.cpus = 1;
  auto table = inpcb::CreateTable(ts);
  if (!table.ok()) return table.status();
  constexpr int kConnections = 4096, kLookups = 1'000'000, kRuns = 3;
  struct Flow {
    inpcb::FourTuple tuple;
    uint32_t flowid;
  };
  std::vector<Flow> flows;
  for (int i = 0; i < kConnections; ++i) {
    flows.push_back(
        {inpcb::FourTuple::V4(0x0a000001, 80, 0x0b000000 + static_cast<uint32_t>(i / 1000),
                              static_cast<uint16_t>(1024 + i % 1000)),
         harness::FlowIdOf(static_cast<uint32_t>(i), 1)});
  }
  Result<double> best = Status(ErrorCode::kUnavailable, "no lookup run");
  // A thread of its own: ThreadEnter registers it with RCU (and, under
  // partitioned, binds it to the one partition).
  std::thread([&] {
    if (Status st = (*table)->ThreadEnter(0); !st.ok()) {
      best = st;
      return;
    }
    for (const Flow& f : flows) {
      if (auto l = (*table)->Insert(f.tuple, f.flowid); !l.ok()) {
        best = l.status();
        (*table)->ThreadExit();
        return;
      }
    }
    double min_ns = 0;
    for (int run = 0; run < kRuns; ++run) {
      timespec a, b;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      for (int i = 0; i < kLookups; ++i) {
        const Flow& f = flows[static_cast<size_t>(i) % flows.size()];
        inpcb::LockedInpcb l = (*table)->Lookup(f.tuple, f.flowid);
        if (l) l->CountSegmentIn(1);
        l.reset();
        if (i % 32 == 31) (*table)->Quiescent();
      }
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      const double ns = (static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 +
                         static_cast<double>(b.tv_nsec - a.tv_nsec)) /
                        kLookups;
      min_ns = run == 0 ? ns : std::min(min_ns, ns);
    }
    best = min_ns;
    (*table)->ThreadExit();
  }).join();
  return best;
}

int CalibrateCommand(const CalibrateOptions& o, std::ostream& out, std::ostream& err) {
  if (o.packets < 10'000 || o.packets > 100'000'000) {
    err << fmt::format("netisr calibrate: --packets {} out of range [10000, 1e8]\n", o.packets);
    return kExitUsage;
  }
  if (o.service_ns < 0 || o.service_ns > 100'000) {
    err << fmt::format("netisr calibrate: --service-ns {} out of range [0, 100000]\n",
                       o.service_ns);
    return kExitUsage;
  }
  const int cpus = MachineCpus();
  auto c = MeasureDispatchCosts(cpus, o.packets, o.service_ns, kCalibrationRounds, kStallSeconds,
                                /*per_burst=*/true);
  if (!c.ok()) {
    err << "netisr calibrate: " << c.status().message() << "\n";
    return kExitFailure;
  }
  sim::CostProfile p = sim::DefaultProfile();
  p.rx_burst_ns = std::round(c->rx_burst_ns);
  p.rx_pkt_ns = std::round(c->rx_pkt_ns);
  p.adaptive_pkt_ns = std::round(c->adaptive_pkt_ns);
  p.handoff_burst_ns = std::round(c->handoff_burst_ns);
  p.handoff_pkt_ns = std::round(c->handoff_pkt_ns);
  p.handoff_producer_ns = std::min(p.handoff_pkt_ns, std::round(c->handoff_producer_ns));
  c->ApplyStalls(p);
  p.stall_gap_ns = std::round(p.stall_gap_ns);
  auto wakeup = MeasureWakeupNs(cpus);
  if (!wakeup.ok()) {
    err << "netisr calibrate: " << wakeup.status().message() << "\n";
    return kExitFailure;
  }
  // One CPU has no worker to wake: the default's value stays.
  if (cpus > 1) p.wakeup_ns = std::round(*wakeup);
  for (auto [name, field] : {std::pair{"global", &sim::CostProfile::lookup_global_ns},
                             std::pair{"groups", &sim::CostProfile::lookup_groups_ns},
                             std::pair{"epoch", &sim::CostProfile::lookup_epoch_ns},
                             std::pair{"partitioned", &sim::CostProfile::lookup_partitioned_ns}}) {
    auto ns = MeasureLookupNs(name);
    if (!ns.ok()) {
      err << "netisr calibrate: lookup under " << name << ": " << ns.status().message() << "\n";
      return kExitFailure;
    }
    p.*field = std::round(*ns);
  }
  const std::string text = fmt::format(
      "# netisr simulator cost profile, virtual ns (sim/profile.h).\n"
      "# Measured by `netisr calibrate` on {} CPUs with `netisr run`'s bench mode\n"
      "# (threads model, 1024 flows, handler work {} ns, {} packets; the cheapest\n"
      "# of {} interleaved rounds, CPU ns per packet less the handler's work):\n"
      "#   rx_pkt_ns      = direct dispatch ({:.1f}; median {:.1f}, most {:.1f})\n"
      "#   handoff_pkt_ns = deferred ({:.1f}; median {:.1f}, most {:.1f}) minus direct,\n"
      "#                    over the share of packets that crossed CPUs ({:.2f})\n"
      "#   rx_burst_ns, handoff_burst_ns = the same with bursts of one packet\n"
      "#                    (direct {:.1f}, deferred {:.1f}): the cost at one packet\n"
      "#                    a burst less that at full bursts is the per-burst\n"
      "#                    part's (1 - 1/B), B = {} for receive and {:.1f} for the\n"
      "#                    crossing (deferred's mean drained burst); rx_pkt_ns and\n"
      "#                    handoff_pkt_ns above are net of it (the figures in\n"
      "#                    brackets are not)\n"
      "#   adaptive_pkt_ns = adaptive minus direct, paired by round (least\n"
      "#                    {:.1f}, median {:.1f}, most {:.1f}): balanced\n"
      "#                    layout, moves held off (interval 1 s)\n"
      "#   handoff_producer_ns = handoff_pkt_ns less the consumer's part a packet:\n"
      "#                    one source on worker 0, every flow to worker 1, that\n"
      "#                    worker's wall ns per packet less the handler's work\n"
      "#                    ({:.1f}; median {:.1f}, most {:.1f}; on one CPU 0),\n"
      "#                    less handoff_burst_ns over its mean drain ({:.1f})\n"
      "#   stall_gap_ns, stall_ns, stall_p10_ns .. stall_max_ns = gaps over {} ns\n"
      "#                    in a clock-spinning thread bound to each CPU, {} s\n"
      "#                    ({:.2f}% of the time lost; the CPU times above are\n"
      "#                    taken net of that share): their mean interval, median\n"
      "#                    and quantiles; stall_shared = the share of them that\n"
      "#                    met a stall of another CPU, beyond chance\n"
      "#   wakeup_ns      = median latency of packets pushed to a sleeping worker\n"
      "#                    less that of packets its producer polled (paced;\n"
      "#                    on one CPU the default's: there is no worker to wake)\n"
      "#   lookup_*_ns    = locked connection lookup, one thread, 4,096\n"
      "#                    connections, the cheapest of 3 runs of 1 M\n"
      "# The parse stages, syn_ns, cache_move_ns and spin_ns are the default profile's,\n"
      "# not measured here.\n",
      cpus, o.service_ns, o.packets, kCalibrationRounds, c->direct.front(),
      c->direct[c->direct.size() / 2], c->direct.back(), c->deferred.front(),
      c->deferred[c->deferred.size() / 2], c->deferred.back(), c->crossed, c->direct_single.front(),
      c->deferred_single.front(), Settings{}.burst, MedianOr(c->deferred_drain, 0),
      c->decision.front(), c->decision[c->decision.size() / 2], c->decision.back(),
      c->consumer.empty() ? 0.0 : c->consumer.front(),
      c->consumer.empty() ? 0.0 : c->consumer[c->consumer.size() / 2],
      c->consumer.empty() ? 0.0 : c->consumer.back(), MedianOr(c->consumer_drain, 0),
      kStallThresholdNs, kStallSeconds, 100 * c->stall_lost);
  if (o.out.empty()) {
    out << text << sim::FormatProfile(p);
  } else {
    std::ofstream f(o.out);
    f << text << sim::FormatProfile(p);
    if (!f) {
      err << "netisr calibrate: cannot write " << o.out << "\n";
      return kExitFailure;
    }
    out << "calibrate: wrote " << o.out << "\n";
  }
  return kExitOk;
}

namespace {

// "k=v1,v2;k2=w" -> every combination, as (key, value) lists.
Result<std::vector<std::vector<std::pair<std::string, std::string>>>> ExpandGrid(
    const std::string& grid) {
  static const std::set<std::string> kKeys = {
      "cpus",         "packets", "scenario", "dispatch", "policy", "load",  "arrival", "service-ns",
      "service-dist", "profile", "seed",     "queues",   "flows",  "table", "qlimit"};
  std::vector<std::vector<std::pair<std::string, std::string>>> out(1);
  for (const std::string& axis : Split(grid, ';')) {
    const size_t eq = axis.find('=');
    if (eq == std::string::npos)
      return Status(ErrorCode::kInvalidArgument, "--grid: '" + axis + "' is not key=v1,v2");
    const std::string key = axis.substr(0, eq);
    if (!kKeys.count(key)) {
      std::string all;
      for (const std::string& k : kKeys) all += (all.empty() ? "" : ", ") + k;
      return Status(ErrorCode::kInvalidArgument, "--grid: key '" + key + "' is not one of: " + all);
    }
    const auto values = Split(axis.substr(eq + 1), ',');
    if (values.empty())
      return Status(ErrorCode::kInvalidArgument, "--grid: key '" + key + "' has no values");
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& point : out) {
      for (const std::string& v : values) {
        auto p = point;
        p.push_back({key, v});
        next.push_back(std::move(p));
      }
    }
    out = std::move(next);
  }
  if (out.size() > 1'000'000)
    return Status(ErrorCode::kInvalidArgument, "--grid: more than 1e6 points");
  return out;
}

std::string ShellQuote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

int SweepCommand(const SweepOptions& o, std::ostream& out, std::ostream& err) {
  if (o.emit_jobs.empty() == o.merge.empty()) {
    err << "netisr sweep: give exactly one of --emit-jobs FILE (with --grid) or --merge DIR\n";
    return kExitUsage;
  }
  if (o.to_stdout && o.emit_jobs.empty()) {
    err << "netisr sweep: --stdout goes with --emit-jobs\n";
    return kExitUsage;
  }
  if (!o.emit_jobs.empty()) {
    if (o.grid.empty()) {
      err << "netisr sweep: --emit-jobs needs --grid\n";
      return kExitUsage;
    }
    auto points = ExpandGrid(o.grid);
    if (!points.ok()) {
      err << "netisr sweep: " << points.status().message() << "\n";
      return kExitUsage;
    }
    // Check each point as `netisr sim` would, so a bad value fails here and
    // not in a thousand jobs.
    for (const auto& point : *points) {
      SimOptions so;
      for (const auto& [k, v] : point) {
        if (k == "cpus")
          so.cpus = std::atoll(v.c_str());
        else if (k == "packets")
          so.packets = std::atoll(v.c_str());
        else if (k == "scenario")
          so.scenario = v;
        else if (k == "dispatch")
          so.dispatch = v;
        else if (k == "policy")
          so.policy = v;
        else if (k == "load")
          so.load = v;
        else if (k == "arrival")
          so.arrival = v;
        else if (k == "service-ns")
          so.service_ns = std::atof(v.c_str());
        else if (k == "service-dist")
          so.service_dist = v;
        else if (k == "profile")
          so.profile = v;
        else if (k == "seed")
          so.seed = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "queues")
          so.queues = std::atoll(v.c_str());
        else if (k == "flows")
          so.flows = std::atoll(v.c_str());
        else if (k == "table")
          so.table = v;
        else if (k == "qlimit")
          so.qlimit = std::atoll(v.c_str());
      }
      if (auto c = ToSimConfig(so); !c.ok()) {
        err << "netisr sweep: --grid: " << c.status().message() << "\n";
        return kExitUsage;
      }
    }
    std::ofstream f(o.emit_jobs);
    const std::string dir = o.out + "/runs";
    int i = 0;
    for (const auto& point : *points) {
      std::string line = ShellQuote(o.binary) + " sim";
      for (const auto& [k, v] : point) line += " --" + k + " " + ShellQuote(v);
      line += " --json";
      if (!o.to_stdout) line += fmt::format(" > {}/point-{:06d}.json", ShellQuote(dir), i++);
      f << line << "\n";
    }
    if (!f) {
      err << "netisr sweep: cannot write " << o.emit_jobs << "\n";
      return kExitFailure;
    }
    if (o.to_stdout) {
      out << fmt::format(
          "sweep: {} jobs in {}, each printing one JSON line; run them with `parallel "
          "[--sshloginfile HOSTS] < {} > results.jsonl`, then `netisr sweep --merge "
          "results.jsonl`\n",
          points->size(), o.emit_jobs, o.emit_jobs);
      return kExitOk;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    out << fmt::format(
        "sweep: {} jobs in {}; run them with `parallel < {}` (or a Slurm array; on hosts that "
        "share no folder, emit with --stdout), then `netisr sweep --merge {}`\n",
        points->size(), o.emit_jobs, o.emit_jobs, dir);
    return kExitOk;
  }
  // --merge: every *.json a job wrote, or every line of a JSON-lines file,
  // becomes a point of the report.
  std::vector<std::pair<std::string, std::string>> results;  // (where, JSON text)
  std::error_code ec;
  if (fs::is_directory(o.merge, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(o.merge)) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      results.emplace_back(f.string(), text.str());
    }
  } else if (o.merge == "-" || fs::is_regular_file(o.merge, ec)) {
    // "-": standard input (`parallel ... | netisr sweep --merge -`).
    std::ifstream file;
    if (o.merge != "-") file.open(o.merge);
    std::istream& in = o.merge == "-" ? std::cin : file;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      results.emplace_back(fmt::format("{}:{}", o.merge, n), line);
    }
  } else {
    err << "netisr sweep: --merge " << o.merge
        << " is neither a folder of results nor a file of JSON lines\n";
    return kExitUsage;
  }
  CompareReport rep;
  rep.options.out = o.out;
  rep.options.profile = "(per job)";
  std::map<int, int> cpus_seen;
  std::set<double> loads;
  for (const auto& [where, text] : results) {
    try {
      const nlohmann::json j = nlohmann::json::parse(text);
      Point p;
      p.scenario = j.at("scenario").get<std::string>();
      p.policy = j.at("dispatch").get<std::string>();
      p.kind = "sim";
      p.cpus = j.at("cpus").get<int>();
      p.offered_pps = j.at("load_pps").get<double>();
      p.throughput_pps = j.at("throughput_pps").get<double>();
      p.steady_pps = j.value("steady_pps", p.throughput_pps);
      p.p50_us = j.at("p50_us").get<double>();
      p.p99_us = j.at("p99_us").get<double>();
      for (const auto& [k, v] : j.at("dropped").items()) p.dropped += v.get<uint64_t>();
      p.reordered = j.at("reordered").get<uint64_t>();
      ++cpus_seen[p.cpus];
      loads.insert(p.offered_pps);
      rep.points.push_back(p);
    } catch (const std::exception& e) {
      err << "netisr sweep: " << where << ": not a `netisr sim --json` result (" << e.what()
          << ")\n";
      return kExitFailure;
    }
  }
  if (rep.points.empty()) {
    err << "netisr sweep: no results in " << o.merge << "\n";
    return kExitFailure;
  }
  // The summary's reference: the largest CPU count and load in the sweep
  // (the load sweep's points are plotted against it).
  rep.machine_cpus = cpus_seen.rbegin()->first;
  const double ref = *loads.rbegin();
  rep.options.load = ref > 0 ? fmt::format("{}", ref) : "saturate";  // for the report text
  for (const Point& p : std::vector<Point>(rep.points)) {
    if (p.cpus == rep.machine_cpus && p.offered_pps > 0) {
      Point q = p;
      q.kind = "sim-load";
      rep.points.push_back(q);
    }
  }
  if (Status st = WriteReport(rep, o.out, err); !st.ok()) {
    err << "netisr sweep: " << st.message() << "\n";
    return kExitFailure;
  }
  out << (o.json ? CompareJson(rep) + "\n"
                 : CompareTable(rep) + "report: " + o.out + "/report.md\n");
  return kExitOk;
}

}  // namespace netisr::apps
