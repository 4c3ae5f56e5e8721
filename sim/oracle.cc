// See oracle.h.
#include "sim/oracle.h"

#include <algorithm>
#include <cmath>

namespace netisr::sim {

namespace {

// Relative tolerance of load comparisons (sums of doubles drift under
// repeated adds and subtracts).
constexpr double kEps = 1e-9;

bool Better(double mk, double total, double best_mk, double best_total) {
  if (mk < best_mk * (1 - kEps)) return true;
  return mk <= best_mk * (1 + kEps) && total < best_total * (1 - kEps);
}

// Adds (sign 1) or takes away (-1) bucket b placed on CPU j in `load`: its
// cost there, and its pushes on the other CPUs. Returns the CPU time it
// costs in all.
double Apply(const PlacementProblem& p, int b, int j, double sign, std::vector<double>& load) {
  double total = p.cost[b][j];
  load[j] += sign * p.cost[b][j];
  if (p.push.empty()) return total;
  for (int h = 0; h < p.cpus; ++h) {
    if (h == j || p.push[b][h] == 0) continue;
    load[h] += sign * p.push[b][h];
    total += p.push[b][h];
  }
  return total;
}

double Max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

// The most loaded of the CPUs bucket b placed on j loads: j, and its
// pushes' CPUs.
double TouchedMax(const PlacementProblem& p, int b, int j, const std::vector<double>& load) {
  double m = load[j];
  if (p.push.empty()) return m;
  for (int h = 0; h < p.cpus; ++h) {
    if (h != j && p.push[b][h] != 0) m = std::max(m, load[h]);
  }
  return m;
}

struct Search {
  const PlacementProblem& p;
  std::vector<int> order;  // loaded buckets, largest first
  std::vector<double> load;
  std::vector<int> cur;
  std::vector<int> best;
  double best_mk = INFINITY, best_total = INFINITY;

  void Run(size_t i, double mk, double total) {
    if (mk > best_mk * (1 + 1e-9)) return;  // cannot beat the best any more
    if (i == order.size()) {
      if (Better(mk, total, best_mk, best_total)) {
        best_mk = mk;
        best_total = total;
        best = cur;
      }
      return;
    }
    const int b = order[i];
    for (int j = 0; j < p.cpus; ++j) {
      const double c = Apply(p, b, j, 1, load);
      cur[b] = j;
      Run(i + 1, std::max(mk, Max(load)), total + c);
      Apply(p, b, j, -1, load);
    }
  }
};

// The greedy pass and the improvement above minimise the makespan only: at
// an equal makespan they leave buckets away from the CPU where they cost
// least (their RX CPU), each a crossing per packet that the makespan does
// not see. Under reqresp at 8 CPUs, whose response buckets cost the same
// everywhere and filled the RX CPUs first, 72% of the request buckets ran
// away from home; the real dispatcher then paid two crossings a round trip
// where hybrid pays one, and the oracle carried 0.67x hybrid's throughput.
// So, at the makespan reached: move a bucket to a CPU where it costs less
// in all if no CPU goes past the makespan, else swap it with a bucket there
// that costs no more where it goes than where it is, while the total falls.
// Each accepted step lowers the total; passes end when none is found.
void FewerCrossings(const PlacementProblem& p, const std::vector<int>& loaded,
                    std::vector<int>& placement, std::vector<double>& load) {
  const int nb = static_cast<int>(p.cost.size());
  // total[b][j]: bucket b's CPU time on every CPU when placed on j.
  std::vector<std::vector<double>> total(nb);
  std::vector<double> scratch(p.cpus, 0);
  for (int b : loaded) {
    total[b].resize(p.cpus);
    for (int j = 0; j < p.cpus; ++j) total[b][j] = Apply(p, b, j, 1, scratch);
  }
  const double mk = Max(load);
  auto fits = [&] { return Max(load) <= mk * (1 + kEps); };
  auto move = [&](int b, int from, int to) {
    Apply(p, b, from, -1, load);
    Apply(p, b, to, 1, load);
  };
  for (int pass = 0; pass < 32; ++pass) {
    bool changed = false;
    for (int a : loaded) {
      const int j = placement[a];
      const int h =
          static_cast<int>(std::min_element(total[a].begin(), total[a].end()) - total[a].begin());
      const double saving = total[a][j] - total[a][h];
      if (h == j || saving <= kEps * total[a][j]) continue;
      move(a, j, h);
      if (fits()) {
        placement[a] = h;
        changed = true;
        continue;
      }
      bool swapped = false;
      for (int c : loaded) {
        if (c == a || placement[c] != h || total[c][j] - total[c][h] >= saving) continue;
        move(c, h, j);
        if (fits()) {
          placement[a] = h;
          placement[c] = j;
          swapped = changed = true;
          break;
        }
        move(c, j, h);
      }
      if (!swapped) move(a, h, j);
    }
    if (!changed) break;
  }
}

}  // namespace

double Makespan(const PlacementProblem& p, const std::vector<int>& placement) {
  std::vector<double> load = p.base;
  load.resize(p.cpus, 0);
  for (size_t b = 0; b < placement.size(); ++b)
    Apply(p, static_cast<int>(b), placement[b], 1, load);
  return Max(load);
}

std::vector<int> PlaceBuckets(const PlacementProblem& p) {
  const int nb = static_cast<int>(p.cost.size());
  std::vector<int> placement(nb);
  for (int b = 0; b < nb; ++b) placement[b] = b % p.cpus;
  std::vector<int> loaded;
  for (int b = 0; b < nb; ++b) {
    if (Max(p.cost[b]) > 0 || (!p.push.empty() && Max(p.push[b]) > 0)) loaded.push_back(b);
  }
  // Its least CPU time anywhere.
  auto weight = [&](int b) {
    std::vector<double> scratch(p.cpus, 0);
    double w = INFINITY;
    for (int j = 0; j < p.cpus; ++j) w = std::min(w, Apply(p, b, j, 1, scratch));
    return w;
  };
  std::vector<double> weights(nb, 0);
  for (int b : loaded) weights[b] = weight(b);
  std::stable_sort(loaded.begin(), loaded.end(),
                   [&](int a, int b) { return weights[a] > weights[b]; });
  std::vector<double> base = p.base;
  base.resize(p.cpus, 0);

  if (std::pow(static_cast<double>(p.cpus), static_cast<double>(loaded.size())) <= kExactLimit) {
    Search s{p, loaded, base, placement, placement};
    s.Run(0, Max(base), 0);
    return s.best;
  }

  // Greedy: each bucket, largest first, where the most loaded CPU it
  // touches ends least loaded (ties: where it costs least in all, then the
  // lower CPU).
  std::vector<double> load = base;
  for (int b : loaded) {
    int best = 0;
    double best_mk = INFINITY, best_cost = INFINITY;
    for (int j = 0; j < p.cpus; ++j) {
      const double c = Apply(p, b, j, 1, load);
      const double mk = TouchedMax(p, b, j, load);
      Apply(p, b, j, -1, load);
      if (mk < best_mk * (1 - kEps) || (mk <= best_mk * (1 + kEps) && c < best_cost)) {
        best = j;
        best_mk = mk;
        best_cost = c;
      }
    }
    placement[b] = best;
    Apply(p, b, best, 1, load);
  }
  // Improvement: move a bucket off the most loaded CPU while every CPU the
  // move touches (the two ends, the bucket's pushes' CPUs) ends below the
  // current makespan. Bounded: each move lowers the makespan or the number
  // of CPUs at it.
  for (int iter = 0; iter < 100000; ++iter) {
    const int top = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
    const double mk = load[top];
    int mb = -1, mj = -1;
    double m_gain = 0;
    for (int b : loaded) {
      if (placement[b] != top) continue;
      Apply(p, b, top, -1, load);
      for (int j = 0; j < p.cpus; ++j) {
        if (j == top) continue;
        Apply(p, b, j, 1, load);
        const double gain = mk - std::max(load[top], TouchedMax(p, b, j, load));
        Apply(p, b, j, -1, load);
        if (gain > m_gain + kEps) {
          m_gain = gain;
          mb = b;
          mj = j;
        }
      }
      Apply(p, b, top, 1, load);
    }
    if (mb < 0) break;
    Apply(p, mb, top, -1, load);
    Apply(p, mb, mj, 1, load);
    placement[mb] = mj;
  }
  FewerCrossings(p, loaded, placement, load);
  return placement;
}

}  // namespace netisr::sim
