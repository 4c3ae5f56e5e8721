// CPU topology from hwloc, and thread binding.
//
// Workers go on distinct physical cores first, SMT siblings after, so that
// two workers never share a core's execution units while a free core exists
// (on a 2-core/4-thread machine: PUs 0,2 then 1,3). This component knows
// nothing of netisr; netisr reads it.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace netisr::sched {

class Topology {
 public:
  // The machine as the process may use it (allowed CPUs only), or nullptr
  // with *error set.
  static std::unique_ptr<Topology> Discover(std::string* error);
  ~Topology();

  int num_pus() const { return static_cast<int>(pus_.size()); }
  int num_cores() const { return num_cores_; }
  // OS CPU numbers in worker placement order: the first PU of every core,
  // then the second of every core, and so on.
  std::vector<int> WorkerCpuOrder() const;
  // True if the two OS CPUs share a last-level (L3) cache; deferral prefers
  // such a CPU, since the packet's cache lines are likely still there.
  bool SharesCache(int os_cpu_a, int os_cpu_b) const;
  // NUMA node of an OS CPU, 0 if hwloc reports none; -1 if unknown CPU.
  int NumaNode(int os_cpu) const;
  // SMT siblings of the same physical core.
  bool SameCore(int os_cpu_a, int os_cpu_b) const;

 private:
  Topology() = default;
  struct Pu {
    int os_index;
    int core;      // logical index of its core
    int smt_rank;  // 0 for the core's first PU
    int l3;        // logical index of its L3 cache, -1 if none
    int numa;      // logical index of its NUMA node, 0 if none
  };
  const Pu* Find(int os_cpu) const;
  std::vector<Pu> pus_;
  int num_cores_ = 0;
};

// Binds the calling thread to one OS CPU; false with *error set otherwise.
bool BindCurrentThread(int os_cpu, std::string* error);

}  // namespace netisr::sched
