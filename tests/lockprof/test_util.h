// Helpers shared by the lockprof tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "lockprof/lock.h"

namespace netisr::lockprof::testing {

// The totals of one class (zeros when it has no acquisitions yet). Tests use
// a class name of their own so they do not see each other's counts.
inline ClassStats StatsOf(const std::string& name) {
  for (ClassStats& s : Snapshot()) {
    if (s.name == name) return s;
  }
  ClassStats none;
  none.name = name;
  return none;
}

}  // namespace netisr::lockprof::testing

// The tests check counts, so they make no sense when --define=lockprof=off
// compiled the profiler out.
#define LOCKPROF_SKIP_IF_COMPILED_OUT()                                   \
  do {                                                                    \
    if (!::netisr::lockprof::kCompiledIn) GTEST_SKIP() << "lockprof off"; \
  } while (0)
