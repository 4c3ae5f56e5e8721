// One conformance suite for every table strategy: exact and wildcard
// lookups, insert/remove, duplicate and malformed inserts, reference-count
// lifetime (run under ASan by scripts/test.sh: a use after free fails it),
// IPv6, iteration and counts, settings validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "inpcb/table.h"
#include "tests/inpcb/table_test_util.h"

namespace netisr::inpcb {
namespace {

using testing::FreeCounter;
using testing::Ip4;
using testing::Ip6;

class ConformanceTest : public ::testing::TestWithParam<TableStrategy> {
 protected:
  void SetUp() override {
    table_ = testing::MakeTable(testing::SettingsFor(GetParam(), /*cpus=*/1, &freed_));
    ASSERT_NE(table_, nullptr);
    ASSERT_TRUE(table_->ThreadEnter(0).ok());
  }
  void TearDown() override {
    table_->ThreadExit();
    table_.reset();  // frees what is left and waits for deferred frees
    EXPECT_EQ(freed_.freed.load(), inserted_) << "every inpcb freed exactly once";
  }

  LockedInpcb Insert(const FourTuple& t, uint32_t flowid) {
    auto r = table_->Insert(t, flowid);
    EXPECT_TRUE(r.ok()) << ToString(t) << ": " << r.status().message();
    if (!r.ok()) return {};
    ++inserted_;
    return std::move(r).value();
  }

  FreeCounter freed_;
  int64_t inserted_ = 0;
  std::unique_ptr<ConnectionTable> table_;
};

const FourTuple kConn = FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(192, 168, 1, 2), 40000);
constexpr uint32_t kFlow = 0x5a5a1234;

TEST_P(ConformanceTest, ExactLookupFindsTheConnectionLocked) {
  {
    LockedInpcb l = Insert(kConn, kFlow);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->state(), ConnState::kSynReceived);
    l->set_state(ConnState::kEstablished);
    EXPECT_EQ(l->flowid(), kFlow);
  }
  LockedInpcb l = table_->Lookup(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->tuple(), kConn);
  EXPECT_EQ(l->state(), ConnState::kEstablished);
  l->CountSegmentIn(100);
  l->CountSegmentOut();
  EXPECT_EQ(l->segments_in(), 1u);
  EXPECT_EQ(l->bytes_in(), 100u);
  EXPECT_EQ(l->segments_out(), 1u);
  // Another foreign port, or the reverse direction, is another connection.
  FourTuple other = kConn;
  other.fport = 40001;
  EXPECT_FALSE(table_->Lookup(other, kFlow));
  EXPECT_FALSE(table_->Lookup(FourTuple::V4(Ip4(192, 168, 1, 2), 40000, Ip4(10, 0, 0, 1), 80),
                              kFlow, /*wildcard=*/false));
}

TEST_P(ConformanceTest, ManyConnectionsShareChainsAndStayDistinct) {
  // 500 connections in 64 chains: long chains, removal from their middle.
  for (uint16_t i = 0; i < 500; ++i) {
    Insert(FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 1, 0, 1), 1000 + i), kFlow + i);
  }
  for (uint16_t i = 0; i < 500; i += 2) {
    ASSERT_TRUE(
        table_->Remove(FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 1, 0, 1), 1000 + i), kFlow + i)
            .ok());
  }
  for (uint16_t i = 0; i < 500; ++i) {
    const FourTuple t = FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 1, 0, 1), 1000 + i);
    LockedInpcb l = table_->Lookup(t, kFlow + i);
    if (i % 2 == 0) {
      EXPECT_FALSE(l) << i;
    } else {
      ASSERT_TRUE(l) << i;
      EXPECT_EQ(l->tuple(), t);
    }
  }
  EXPECT_EQ(table_->Counts().connections, 250u);
}

TEST_P(ConformanceTest, WildcardPrefersTheSpecificListenerThenAny) {
  Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0);
  Insert(FourTuple::Listener(Family::kIPv4, IpAddr::V4(Ip4(10, 0, 0, 1)), 80), 0);
  // A SYN to 10.0.0.1:80 finds the specific listener...
  LockedInpcb l = table_->Lookup(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->listener());
  EXPECT_EQ(l->state(), ConnState::kListen);
  EXPECT_EQ(l->tuple().laddr, IpAddr::V4(Ip4(10, 0, 0, 1)));
  l.reset();
  // ...one to another local address the wildcard one.
  FourTuple to_other = kConn;
  to_other.laddr = IpAddr::V4(Ip4(10, 0, 0, 2));
  l = table_->Lookup(to_other, kFlow);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->tuple().laddr.any());
  l.reset();
  // No fallback without wildcard, nor to another port.
  EXPECT_FALSE(table_->Lookup(kConn, kFlow, /*wildcard=*/false));
  FourTuple other_port = kConn;
  other_port.lport = 81;
  EXPECT_FALSE(table_->Lookup(other_port, kFlow));
  // An established connection wins over the listeners.
  Insert(kConn, kFlow).reset();
  l = table_->Lookup(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->listener());
  l.reset();
  // Removing the specific listener leaves the wildcard one for its address.
  ASSERT_TRUE(
      table_->Remove(FourTuple::Listener(Family::kIPv4, IpAddr::V4(Ip4(10, 0, 0, 1)), 80), 0).ok());
  FourTuple new_syn = kConn;
  new_syn.fport = 40002;
  l = table_->Lookup(new_syn, kFlow + 1);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->tuple().laddr.any());
  EXPECT_EQ(table_->Counts().listeners, 1u);
}

TEST_P(ConformanceTest, RemoveUnlinksAndReportsAlreadyRemoved) {
  LockedInpcb l = Insert(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_EQ(table_->Counts().connections, 1u);
  ASSERT_TRUE(table_->Remove(l).ok());
  // The caller still holds it, locked and closed.
  EXPECT_TRUE(l->removed());
  EXPECT_EQ(l->state(), ConnState::kClosed);
  EXPECT_EQ(table_->Counts().connections, 0u);
  EXPECT_FALSE(table_->Lookup(kConn, kFlow));
  EXPECT_FALSE(table_->LookupRef(kConn, kFlow));
  Status again = table_->Remove(l);
  EXPECT_EQ(again.code(), ErrorCode::kNotFound);
  EXPECT_NE(again.message().find("already removed"), std::string::npos) << again.message();
  l.reset();
  Status by_tuple = table_->Remove(kConn, kFlow);
  EXPECT_EQ(by_tuple.code(), ErrorCode::kNotFound);
  EXPECT_NE(by_tuple.message().find("10.0.0.1:80 <- 192.168.1.2:40000"), std::string::npos)
      << by_tuple.message();
  // The tuple can be used again.
  EXPECT_TRUE(Insert(kConn, kFlow));
  LockedInpcb empty;
  EXPECT_EQ(table_->Remove(empty).code(), ErrorCode::kInvalidArgument);
}

TEST_P(ConformanceTest, DuplicateInsertIsAClearError) {
  Insert(kConn, kFlow).reset();
  auto dup = table_->Insert(kConn, kFlow);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.status().message(),
            "inpcb: connection 10.0.0.1:80 <- 192.168.1.2:40000 already exists");
  const FourTuple lis = FourTuple::Listener(Family::kIPv4, IpAddr{}, 443);
  Insert(lis, 0).reset();
  auto dup_lis = table_->Insert(lis, 0);
  ASSERT_FALSE(dup_lis.ok());
  EXPECT_EQ(dup_lis.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup_lis.status().message(), "inpcb: listener *:443 <- *:* already exists");
  EXPECT_EQ(table_->Counts().connections, 1u);
  EXPECT_EQ(table_->Counts().listeners, 1u);
}

TEST_P(ConformanceTest, MalformedTuplesAreRejectedByName) {
  struct Case {
    FourTuple t;
    const char* expect;
  };
  FourTuple v4_garbage = kConn;
  v4_garbage.faddr.bytes[9] = 1;
  FourTuple bad_family = kConn;
  bad_family.family = static_cast<Family>(5);
  const Case cases[] = {
      {FourTuple::V4(Ip4(10, 0, 0, 1), 0, Ip4(10, 0, 0, 2), 1), "local port 0"},
      {FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), 0), "foreign port 0"},
      {FourTuple::V4(Ip4(10, 0, 0, 1), 80, 0, 1234), "wildcard foreign address"},
      {FourTuple::V4(0, 80, Ip4(10, 0, 0, 2), 1234), "wildcard local address"},
      {FourTuple::Listener(Family::kIPv4, IpAddr{}, 0), "local port 0"},
      {v4_garbage, "past the first four"},
      {bad_family, "neither IPv4"},
  };
  for (const Case& c : cases) {
    auto r = table_->Insert(c.t, kFlow);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(table_->Counts().connections, 0u);
}

// Watson's option 1: a holder drops the lock, the inpcb is removed
// meanwhile, the holder relocks and finds it closed but still allocated;
// it is freed exactly when the last reference goes.
TEST_P(ConformanceTest, ReferenceHeldPastRemoveKeepsTheInpcbUntilTheLastUnref) {
  InpcbRef ref = table_->Insert(kConn, kFlow).value().Unlock();
  ++inserted_;
  ASSERT_TRUE(ref);
  InpcbRef second = ref;       // copies count too
  EXPECT_EQ(ref->refs(), 3u);  // the table's and our two
  ASSERT_TRUE(table_->Remove(kConn, kFlow).ok());
  table_->WaitForDeferredFrees();  // epoch: the table's reference is gone now
  EXPECT_EQ(freed_.freed.load(), 0);
  EXPECT_EQ(ref->refs(), 2u);
  // Still a valid object (ASan would report a use after free here).
  EXPECT_EQ(ref->tuple(), kConn);
  EXPECT_TRUE(ref->removed());
  second.reset();
  EXPECT_EQ(freed_.freed.load(), 0);
  {
    LockedInpcb again = std::move(ref).Lock();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->state(), ConnState::kClosed);
    again->CountSegmentIn(1);  // writes into it, under its lock
    EXPECT_FALSE(ref);
  }
  EXPECT_EQ(freed_.freed.load(), 1) << "freed at the last unref";
}

TEST_P(ConformanceTest, RemovedWithoutHoldersIsFreedAfterTheGracePeriod) {
  Insert(kConn, kFlow).reset();
  Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0).reset();
  ASSERT_TRUE(table_->Remove(kConn, kFlow).ok());
  ASSERT_TRUE(table_->Remove(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0).ok());
  table_->Quiescent();
  table_->WaitForDeferredFrees();
  EXPECT_EQ(freed_.freed.load(), 2);
}

TEST_P(ConformanceTest, IPv6ConnectionsAndListeners) {
  const FourTuple c6 = FourTuple::V6(Ip6(0x2001, 1), 443, Ip6(0x2001, 2), 50000);
  Insert(c6, kFlow).reset();
  Insert(FourTuple::Listener(Family::kIPv6, IpAddr{}, 443), 0).reset();
  Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 8443), 0).reset();
  LockedInpcb l = table_->Lookup(c6, kFlow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->tuple(), c6);
  EXPECT_EQ(ToString(l->tuple()), "[2001::1]:443 <- [2001::2]:50000");
  l.reset();
  FourTuple syn6 = c6;
  syn6.fport = 50001;
  l = table_->Lookup(syn6, kFlow + 1);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->listener());
  EXPECT_EQ(l->tuple().family, Family::kIPv6);
  l.reset();
  // Families do not mix: no IPv4 listener on 443, no IPv6 one on 8443.
  EXPECT_FALSE(table_->Lookup(FourTuple::V4(Ip4(10, 0, 0, 1), 443, Ip4(10, 0, 0, 2), 1), kFlow));
  EXPECT_FALSE(table_->Lookup(FourTuple::V6(Ip6(0x2001, 1), 8443, Ip6(0x2001, 2), 1), kFlow));
  // The same bytes as IPv4 (first four) and IPv6 are different tuples.
  ASSERT_TRUE(table_->Remove(c6, kFlow).ok());
  EXPECT_FALSE(table_->Lookup(c6, kFlow, /*wildcard=*/false));
}

TEST_P(ConformanceTest, ForEachAndCountsSeeEverything) {
  std::set<uint16_t> want;
  for (uint16_t p = 1; p <= 20; ++p) {
    Insert(FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), p), kFlow * p).reset();
    want.insert(p);
  }
  Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0).reset();
  std::set<uint16_t> seen;
  int listeners = 0;
  table_->ForEach([&](const Inpcb& inp) {
    if (inp.listener()) {
      ++listeners;
    } else {
      seen.insert(inp.tuple().fport);
    }
  });
  EXPECT_EQ(seen, want);
  EXPECT_EQ(listeners, 1);
  const TableCounts c = table_->Counts();
  EXPECT_EQ(c.connections, 20u);
  EXPECT_EQ(c.listeners, 1u);
}

TEST_P(ConformanceTest, LookupRefTakesNoInpcbLock) {
  Insert(kConn, kFlow).reset();
  InpcbRef r = table_->LookupRef(kConn, kFlow);
  ASSERT_TRUE(r);
  // Not locked by LookupRef: a locked lookup now succeeds on this thread.
  LockedInpcb l = table_->Lookup(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_EQ(l.get(), r.get());
}

TEST_P(ConformanceTest, ThreadEnterChecksTheCpu) {
  Status st = table_->ThreadEnter(1);  // cpus = 1
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "inpcb: ThreadEnter cpu 1 out of range [-1, 1)");
  EXPECT_EQ(table_->ThreadEnter(-2).code(), ErrorCode::kInvalidArgument);
}

// InputSection (table.h): under kGlobal, TCP input's state-changing
// segments hold the info lock exclusively from lookup to output, and the
// holder's own calls go through; other threads wait. The other strategies
// hold nothing.
TEST_P(ConformanceTest, InputSectionHoldsTheGlobalLockForTheHolderOnly) {
  const bool global = GetParam() == TableStrategy::kGlobal;
  InputSection section = table_->BeginInput();
  EXPECT_EQ(static_cast<bool>(section), global);
  EXPECT_FALSE(table_->BeginInput()) << "nested: the outer section holds it";
  LockedInpcb l = Insert(kConn, kFlow);  // this thread's calls go through
  ASSERT_TRUE(l);
  l.reset();
  l = table_->Lookup(kConn, kFlow);
  ASSERT_TRUE(l);
  EXPECT_TRUE(table_->LookupRef(kConn, kFlow));
  ASSERT_TRUE(table_->Remove(l).ok());
  l.reset();
  LockedInpcb again = Insert(kConn, kFlow);
  ASSERT_TRUE(again);
  again.reset();
  if (global) {
    std::atomic<bool> looked{false};
    std::thread other([&] {
      ASSERT_TRUE(table_->ThreadEnter(-1).ok());
      EXPECT_TRUE(table_->LookupRef(kConn, kFlow));
      looked = true;
      table_->ThreadExit();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(looked.load()) << "another thread looked up inside the section";
    section.End();
    other.join();
    EXPECT_TRUE(looked.load());
  }
  section.End();
  EXPECT_TRUE(table_->Remove(kConn, kFlow).ok());
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, ConformanceTest,
                         ::testing::ValuesIn(testing::kAllStrategies), testing::StrategyName);

TEST(TableSettingsTest, ValidateNamesTheFieldAndItsBound) {
  struct Case {
    void (*mutate)(TableSettings&);
    const char* expect;
  };
  const Case cases[] = {
      {[](TableSettings& s) { s.cpus = 0; }, "inpcb: cpus 0 out of range [1, 1024]"},
      {[](TableSettings& s) { s.cpus = 1025; }, "inpcb: cpus 1025 out of range [1, 1024]"},
      {[](TableSettings& s) { s.groups = 3; },
       "inpcb: groups 3 is not a power of two in [1, 4096]"},
      {[](TableSettings& s) { s.groups = 8192; }, "power of two in [1, 4096]"},
      {[](TableSettings& s) { s.hash_buckets = 8; }, "inpcb: hash_buckets 8 is not a power of two"},
      {[](TableSettings& s) { s.hash_buckets = 1000; }, "hash_buckets 1000"},
      {[](TableSettings& s) { s.strategy = static_cast<TableStrategy>(9); }, "strategy 9"},
      {[](TableSettings& s) {
         s.strategy = TableStrategy::kPartitioned;
         s.cpus = 8;
         s.flow_buckets = 4;
       },
       "inpcb: flow_buckets 4 is fewer than the 8 partitions"},
  };
  for (const Case& c : cases) {
    TableSettings s;
    c.mutate(s);
    Status st = Validate(s);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
    auto t = CreateTable(s);
    EXPECT_FALSE(t.ok());
  }
  EXPECT_TRUE(Validate(TableSettings{}).ok());
  // Only partitions need a bucket each: the other strategies take any count.
  TableSettings few;
  few.cpus = 8;
  few.flow_buckets = 4;
  EXPECT_TRUE(Validate(few).ok());
}

TEST(TableSettingsTest, StrategyNamesRoundTrip) {
  for (TableStrategy s : testing::kAllStrategies) {
    auto p = ParseTableStrategy(ToString(s));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(*p, s);
  }
  auto bad = ParseTableStrategy("lockless");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "unknown table strategy 'lockless' (want global, groups, epoch or partitioned)");
}

TEST(GroupOfTest, MatchesNetisrFlowPlacement) {
  // A group (= flow bucket, groups == flow_buckets) has one CPU at every
  // CPU count, powers of two or not; for powers of two up to the bucket
  // count that is flowid % cpus, netisr's older rule.
  for (uint32_t cpus : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 64u, 256u}) {
    for (uint32_t flowid = 0; flowid < 100000; flowid += 7) {
      EXPECT_EQ(CpuOf(flowid, cpus, 256), CpuOf(GroupOf(flowid, 256), cpus, 256))
          << flowid << " on " << cpus;
      if (std::has_single_bit(cpus)) {
        EXPECT_EQ(CpuOf(flowid, cpus, 256), flowid % cpus) << flowid;
      }
    }
  }
  // Against an independent tally: every flow of a group on one CPU, and
  // every CPU holding some group (none starved), at every count up to the
  // bucket count.
  for (uint32_t cpus = 1; cpus <= 64; ++cpus) {
    std::vector<int> cpu_of_group(256, -1);
    std::vector<bool> used(cpus, false);
    for (uint32_t flowid = 0; flowid < 50000; flowid += 13) {
      const uint32_t cpu = CpuOf(flowid, cpus, 256);
      ASSERT_LT(cpu, cpus);
      int& g = cpu_of_group[GroupOf(flowid, 256)];
      if (g < 0) g = static_cast<int>(cpu);
      EXPECT_EQ(g, static_cast<int>(cpu)) << "flow " << flowid << " of a group split at " << cpus;
      used[cpu] = true;
    }
    EXPECT_EQ(std::count(used.begin(), used.end(), true), static_cast<long>(cpus)) << cpus;
  }
  EXPECT_EQ(GroupOf(0x12345678, 256), 0x78u);
  EXPECT_EQ(CpuOf(10, 3, 256), 1u);
  // Flow 266 is in flow 10's bucket, so on its CPU (266 % 3 would be 2).
  EXPECT_EQ(CpuOf(266, 3, 256), 1u);
}

}  // namespace
}  // namespace netisr::inpcb
