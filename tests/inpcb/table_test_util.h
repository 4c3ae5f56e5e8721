// Shared by the inpcb tests: settings per strategy, tuples, a free counter.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "inpcb/table.h"

namespace netisr::inpcb::testing {

inline constexpr TableStrategy kAllStrategies[] = {TableStrategy::kGlobal, TableStrategy::kGroups,
                                                   TableStrategy::kEpoch,
                                                   TableStrategy::kPartitioned};

inline std::string StrategyName(const ::testing::TestParamInfo<TableStrategy>& info) {
  return ToString(info.param);
}

// Counts frees through TableSettings::free_hook.
struct FreeCounter {
  std::atomic<int64_t> freed{0};
  static void Hook(const Inpcb&, void* arg) {
    static_cast<FreeCounter*>(arg)->freed.fetch_add(1, std::memory_order_relaxed);
  }
};

inline TableSettings SettingsFor(TableStrategy s, uint32_t cpus, FreeCounter* counter) {
  TableSettings ts;
  ts.strategy = s;
  ts.cpus = cpus;
  ts.groups = 8;
  ts.hash_buckets = 64;  // short tables: chains longer than 1 get exercised
  if (counter != nullptr) {
    ts.free_hook = &FreeCounter::Hook;
    ts.free_hook_arg = counter;
  }
  return ts;
}

inline std::unique_ptr<ConnectionTable> MakeTable(const TableSettings& s) {
  auto r = CreateTable(s);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

constexpr uint32_t Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline std::array<uint8_t, 16> Ip6(uint16_t first, uint16_t last) {
  std::array<uint8_t, 16> a{};
  a[0] = static_cast<uint8_t>(first >> 8);
  a[1] = static_cast<uint8_t>(first);
  a[14] = static_cast<uint8_t>(last >> 8);
  a[15] = static_cast<uint8_t>(last);
  return a;
}

}  // namespace netisr::inpcb::testing
