// What each strategy's lookup path locks, read from the lock profiler: the
// epoch (and partitioned) lookup takes no lock of any class to find a
// connection; the locked lookup adds exactly the connection's own lock.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "inpcb/table.h"
#include "lockprof/lock.h"
#include "tests/inpcb/table_test_util.h"

namespace netisr::inpcb {
namespace {

using testing::Ip4;

constexpr int kConns = 64;
constexpr int kLookups = 1000;

FourTuple Conn(int i) {
  return FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 2, 0, 1), static_cast<uint16_t>(1000 + i));
}

// Acquisitions per lock class since the last Reset.
std::map<std::string, uint64_t> Acquisitions() {
  std::map<std::string, uint64_t> m;
  for (const auto& c : lockprof::Snapshot()) m[c.name] = c.acquisitions;
  return m;
}

class LockProfileTest : public ::testing::TestWithParam<TableStrategy> {
 protected:
  void SetUp() override {
    if (!lockprof::kCompiledIn) GTEST_SKIP() << "lockprof compiled out";
    lockprof::SetEnabled(true);
    table_ = testing::MakeTable(testing::SettingsFor(GetParam(), 1, nullptr));
    ASSERT_TRUE(table_->ThreadEnter(0).ok());
    for (int i = 0; i < kConns; ++i) ASSERT_TRUE(table_->Insert(Conn(i), i * 7u).ok());
    ASSERT_TRUE(table_->Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0).ok());
  }
  void TearDown() override {
    if (table_) table_->ThreadExit();
  }
  std::unique_ptr<ConnectionTable> table_;
};

TEST_P(LockProfileTest, LookupPathLocks) {
  lockprof::Reset();
  for (int n = 0; n < kLookups; ++n) {
    const int i = n % kConns;
    InpcbRef r = table_->LookupRef(Conn(i), i * 7u);
    ASSERT_TRUE(r);
  }
  const auto unlocked = Acquisitions();
  lockprof::Reset();
  for (int n = 0; n < kLookups; ++n) {
    const int i = n % kConns;
    LockedInpcb l = table_->Lookup(Conn(i), i * 7u);
    ASSERT_TRUE(l);
  }
  const auto locked = Acquisitions();
  lockprof::Reset();
  FourTuple syn = Conn(0);
  syn.fport = 9;  // no connection: the listener
  for (int n = 0; n < kLookups; ++n) ASSERT_TRUE(table_->Lookup(syn, 5));
  const auto wildcard = Acquisitions();

  using M = std::map<std::string, uint64_t>;
  switch (GetParam()) {
    case TableStrategy::kGlobal:
      EXPECT_EQ(unlocked, (M{{"inpcb.info", kLookups}}));
      EXPECT_EQ(locked, (M{{"inpcb.conn", kLookups}, {"inpcb.info", kLookups}}));
      EXPECT_EQ(wildcard, (M{{"inpcb.conn", kLookups}, {"inpcb.info", kLookups}}));
      break;
    case TableStrategy::kGroups:
      EXPECT_EQ(unlocked, (M{{"inpcb.group", kLookups}}));
      EXPECT_EQ(locked, (M{{"inpcb.conn", kLookups}, {"inpcb.group", kLookups}}));
      // The listener snapshot takes no lock; the miss in the group does.
      EXPECT_EQ(wildcard, (M{{"inpcb.conn", kLookups}, {"inpcb.group", kLookups}}));
      break;
    case TableStrategy::kEpoch:
      // No lock of any class to find a connection or a listener.
      EXPECT_EQ(unlocked, M{});
      EXPECT_EQ(locked, (M{{"inpcb.conn", kLookups}}));
      EXPECT_EQ(wildcard, (M{{"inpcb.conn", kLookups}}));
      break;
    case TableStrategy::kPartitioned:
      // Owner-only connections have no lock at all; the shared listener has.
      EXPECT_EQ(unlocked, M{});
      EXPECT_EQ(locked, M{});
      EXPECT_EQ(wildcard, (M{{"inpcb.conn", kLookups}}));
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, LockProfileTest,
                         ::testing::ValuesIn(testing::kAllStrategies), testing::StrategyName);

}  // namespace
}  // namespace netisr::inpcb
