#include "sched_feedback/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace netisr::sched {

namespace {

// hwloc topologies are costly to load (~1 ms); owns one for a scope.
class HwlocTopology {
 public:
  HwlocTopology() {
    if (hwloc_topology_init(&topo_) != 0) {
      topo_ = nullptr;
      return;
    }
    if (hwloc_topology_load(topo_) != 0) {
      hwloc_topology_destroy(topo_);
      topo_ = nullptr;
    }
  }
  ~HwlocTopology() {
    if (topo_ != nullptr) hwloc_topology_destroy(topo_);
  }
  hwloc_topology_t get() const { return topo_; }

 private:
  hwloc_topology_t topo_ = nullptr;
};

}  // namespace

Topology::~Topology() = default;

std::unique_ptr<Topology> Topology::Discover(std::string* error) {
  HwlocTopology h;
  if (h.get() == nullptr) {
    *error = "hwloc could not load the machine topology";
    return nullptr;
  }
  auto t = std::unique_ptr<Topology>(new Topology());
  const int ncores = hwloc_get_nbobjs_by_type(h.get(), HWLOC_OBJ_CORE);
  const int npus = hwloc_get_nbobjs_by_type(h.get(), HWLOC_OBJ_PU);
  for (int i = 0; i < npus; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(h.get(), HWLOC_OBJ_PU, i);
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(h.get(), HWLOC_OBJ_CORE, pu);
    // Machines hwloc shows without cores: every PU counts as its own core.
    const int core_idx = core != nullptr ? static_cast<int>(core->logical_index) : i;
    const int rank = core != nullptr ? static_cast<int>(pu->sibling_rank) : 0;
    hwloc_obj_t l3 = hwloc_get_ancestor_obj_by_type(h.get(), HWLOC_OBJ_L3CACHE, pu);
    hwloc_obj_t numa = hwloc_get_ancestor_obj_by_type(h.get(), HWLOC_OBJ_NUMANODE, pu);
    if (numa == nullptr) {
      // hwloc 2 hangs NUMA nodes off the side of the tree: find the one whose
      // cpuset covers this PU.
      for (hwloc_obj_t n = hwloc_get_next_obj_by_type(h.get(), HWLOC_OBJ_NUMANODE, nullptr);
           n != nullptr; n = hwloc_get_next_obj_by_type(h.get(), HWLOC_OBJ_NUMANODE, n)) {
        if (hwloc_bitmap_isset(n->cpuset, pu->os_index)) numa = n;
      }
    }
    t->pus_.push_back({static_cast<int>(pu->os_index), core_idx, rank,
                       l3 != nullptr ? static_cast<int>(l3->logical_index) : -1,
                       numa != nullptr ? static_cast<int>(numa->logical_index) : 0});
  }
  t->num_cores_ = ncores > 0 ? ncores : npus;
  if (t->pus_.empty()) {
    *error = "hwloc reports no usable CPU";
    return nullptr;
  }
  return t;
}

std::vector<int> Topology::WorkerCpuOrder() const {
  std::vector<Pu> sorted = pus_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Pu& a, const Pu& b) {
    return a.smt_rank != b.smt_rank ? a.smt_rank < b.smt_rank : a.core < b.core;
  });
  std::vector<int> order;
  for (const Pu& p : sorted) order.push_back(p.os_index);
  return order;
}

const Topology::Pu* Topology::Find(int os_cpu) const {
  for (const Pu& p : pus_) {
    if (p.os_index == os_cpu) return &p;
  }
  return nullptr;
}

bool Topology::SharesCache(int a, int b) const {
  const Pu* pa = Find(a);
  const Pu* pb = Find(b);
  return pa != nullptr && pb != nullptr && pa->l3 >= 0 && pa->l3 == pb->l3;
}

int Topology::NumaNode(int os_cpu) const {
  const Pu* p = Find(os_cpu);
  return p != nullptr ? p->numa : -1;
}

bool Topology::SameCore(int a, int b) const {
  const Pu* pa = Find(a);
  const Pu* pb = Find(b);
  return pa != nullptr && pb != nullptr && pa->core == pb->core;
}

bool BindCurrentThread(int os_cpu, std::string* error) {
  HwlocTopology h;
  if (h.get() == nullptr) {
    *error = "hwloc could not load the machine topology";
    return false;
  }
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  hwloc_bitmap_only(set, static_cast<unsigned>(os_cpu));
  const int rc = hwloc_set_cpubind(h.get(), set, HWLOC_CPUBIND_THREAD);
  const int err = errno;
  hwloc_bitmap_free(set);
  if (rc != 0) {
    *error = std::string("hwloc_set_cpubind failed: ") + std::strerror(err);
    return false;
  }
  return true;
}

}  // namespace netisr::sched
