#include "lockprof/report.h"

#include <fmt/format.h>

#include <algorithm>

namespace netisr::lockprof {
namespace {

double Us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }
uint64_t Avg(uint64_t total, uint64_t n) { return n == 0 ? 0 : total / n; }

}  // namespace

std::string FormatTable(const std::vector<ClassStats>& stats) {
  std::vector<const ClassStats*> rows;
  for (const ClassStats& s : stats) rows.push_back(&s);
  std::stable_sort(rows.begin(), rows.end(), [](const ClassStats* a, const ClassStats* b) {
    return a->wait_ns > b->wait_ns;
  });
  std::string out = fmt::format(
      "{:>14} {:>12} {:>10} {:>14} {:>12} {:>10} {:>12} {:>12} {:>6} {:>12} {:>10}  {}\n",
      "wait_total_us", "wait_max_us", "wait_avg_ns", "hold_total_us", "hold_max_us", "hold_avg_ns",
      "acquisitions", "contended", "cont%", "shared", "try_failed", "class");
  for (const ClassStats* s : rows) {
    const double pct =
        s->acquisitions == 0 ? 0.0 : 100.0 * static_cast<double>(s->contended) / s->acquisitions;
    out += fmt::format(
        "{:>14.1f} {:>12.1f} {:>10} {:>14.1f} {:>12.1f} {:>10} {:>12} {:>12} {:>6.2f} {:>12} "
        "{:>10}  {}\n",
        Us(s->wait_ns), Us(s->max_wait_ns), Avg(s->wait_ns, s->contended), Us(s->hold_ns),
        Us(s->max_hold_ns), Avg(s->hold_ns, s->acquisitions), s->acquisitions, s->contended, pct,
        s->shared_acquisitions, s->try_failures, s->name);
  }
  return out;
}

nlohmann::json ToJson(const std::vector<ClassStats>& stats) {
  nlohmann::json out = nlohmann::json::object();
  for (const ClassStats& s : stats) {
    out[s.name] = {{"acquisitions", s.acquisitions},
                   {"contended", s.contended},
                   {"wait_ns", s.wait_ns},
                   {"max_wait_ns", s.max_wait_ns},
                   {"hold_ns", s.hold_ns},
                   {"max_hold_ns", s.max_hold_ns},
                   {"shared_acquisitions", s.shared_acquisitions},
                   {"try_failures", s.try_failures}};
  }
  return out;
}

}  // namespace netisr::lockprof
