// See oracle.h.
#include "sim/oracle.h"

#include <algorithm>
#include <cmath>

namespace netisr::sim {

namespace {

bool Better(double mk, double total, double best_mk, double best_total) {
  constexpr double kEps = 1e-9;
  if (mk < best_mk * (1 - kEps)) return true;
  return mk <= best_mk * (1 + kEps) && total < best_total * (1 - kEps);
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
      const double c = p.cost[b][j];
      load[j] += c;
      cur[b] = j;
      Run(i + 1, std::max(mk, load[j]), total + c);
      load[j] -= c;
    }
  }
};

}  // namespace

double Makespan(const PlacementProblem& p, const std::vector<int>& placement) {
  std::vector<double> load = p.base;
  load.resize(p.cpus, 0);
  for (size_t b = 0; b < placement.size(); ++b) load[placement[b]] += p.cost[b][placement[b]];
  return *std::max_element(load.begin(), load.end());
}

std::vector<int> PlaceBuckets(const PlacementProblem& p) {
  const int nb = static_cast<int>(p.cost.size());
  std::vector<int> placement(nb);
  for (int b = 0; b < nb; ++b) placement[b] = b % p.cpus;
  std::vector<int> loaded;
  for (int b = 0; b < nb; ++b) {
    if (*std::max_element(p.cost[b].begin(), p.cost[b].end()) > 0) loaded.push_back(b);
  }
  auto weight = [&](int b) { return *std::min_element(p.cost[b].begin(), p.cost[b].end()); };
  std::stable_sort(loaded.begin(), loaded.end(),
                   [&](int a, int b) { return weight(a) > weight(b); });
  std::vector<double> base = p.base;
  base.resize(p.cpus, 0);

  if (std::pow(static_cast<double>(p.cpus), static_cast<double>(loaded.size())) <= kExactLimit) {
    Search s{p, loaded, base, placement, placement};
    s.Run(0, *std::max_element(base.begin(), base.end()), 0);
    return s.best;
  }

  // Greedy: each bucket, largest first, where the resulting load is least
  // (ties: where it costs least, then the lower CPU).
  std::vector<double> load = base;
  for (int b : loaded) {
    int best = 0;
    for (int j = 1; j < p.cpus; ++j) {
      const double lj = load[j] + p.cost[b][j], lb = load[best] + p.cost[b][best];
      if (lj < lb || (lj == lb && p.cost[b][j] < p.cost[b][best])) best = j;
    }
    placement[b] = best;
    load[best] += p.cost[b][best];
  }
  // Improvement: move a bucket off the most loaded CPU while both ends stay
  // under the current makespan. Bounded: each move lowers the sum of loads
  // above the makespan or the makespan itself.
  for (int iter = 0; iter < 100000; ++iter) {
    const int top = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
    const double mk = load[top];
    int mb = -1, mj = -1;
    double m_gain = 0;
    for (int b : loaded) {
      if (placement[b] != top) continue;
      for (int j = 0; j < p.cpus; ++j) {
        if (j == top) continue;
        const double nt = load[top] - p.cost[b][top], nj = load[j] + p.cost[b][j];
        const double gain = mk - std::max(nt, nj);
        if (gain > m_gain + 1e-9) {
          m_gain = gain;
          mb = b;
          mj = j;
        }
      }
    }
    if (mb < 0) break;
    load[top] -= p.cost[mb][top];
    load[mj] += p.cost[mb][mj];
    placement[mb] = mj;
  }
  return placement;
}

}  // namespace netisr::sim
