// The oracle: the best static placement of flow buckets on CPUs, computed
// with full knowledge of the scenario's rates. It is the limit adaptive
// dispatch is measured against (adaptive / oracle throughput); the
// simulator applies it through the real dispatcher's affinity hints
// (Netisr::SetFlowAffinity) under hybrid dispatch, so the dispatcher runs
// it as it would any upper layer's hints.
//
// The problem: bucket b costs cost[b][j] ns of CPU per second on CPU j (its
// packets' work, plus the consumer's part of the handoff when j is not the
// CPU whose RX queue brings them), and push[b][h] on each CPU h != j whose
// RX queues bring some of them (the producer's part of that handoff); CPU
// j also carries base[j] (its RX queues' receive cost).
// Minimise the most loaded CPU (makespan on unrelated machines, NP-hard),
// ties to the least total cost (fewest crossings). Exact by branch and bound
// when the search is small (at most kExactLimit nodes' worth: few buckets
// with load, few CPUs); otherwise greedy (largest bucket first, onto the CPU
// that ends least loaded) improved by moving buckets off the most loaded CPU
// while that lowers the makespan, then, at that makespan, by moves and swaps
// that lower the total (a bucket back to the CPU where it costs least).
#pragma once

#include <cstdint>
#include <vector>

namespace netisr::sim {

struct PlacementProblem {
  int cpus = 0;
  std::vector<double> base;  // per CPU
  // [bucket][cpu]; a bucket whose cost and push rows are all zero may go
  // anywhere.
  std::vector<std::vector<double>> cost;
  // [bucket][cpu]: on that CPU while the bucket runs on another; empty (no
  // rows) when no producer pays.
  std::vector<std::vector<double>> push;
};

// Below this many candidate assignments (cpus ^ loaded buckets) the oracle
// searches exactly.
inline constexpr double kExactLimit = 2e6;

// Per bucket, its CPU. Empty buckets stay on CPU (bucket % cpus).
std::vector<int> PlaceBuckets(const PlacementProblem& p);
// Most loaded CPU's load under `placement`.
double Makespan(const PlacementProblem& p, const std::vector<int>& placement);

}  // namespace netisr::sim
