// Reports of lockprof::Snapshot(): a lockstat / LOCK_PROFILING-style table
// and JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lockprof/lock.h"

namespace netisr::lockprof {

// One row per class, sorted by total wait descending (the order lockstat -C
// and `sysctl debug.lock.prof.stats | sort` are read in): total/max/avg wait,
// total/max/avg hold, acquisitions, contended (and %), shared acquisitions,
// failed tries, class name. Times in microseconds (avg in ns).
std::string FormatTable(const std::vector<ClassStats>& stats);

// {class: {acquisitions, contended, wait_ns, max_wait_ns, hold_ns,
// max_hold_ns, shared_acquisitions, try_failures}}.
nlohmann::json ToJson(const std::vector<ClassStats>& stats);

}  // namespace netisr::lockprof
