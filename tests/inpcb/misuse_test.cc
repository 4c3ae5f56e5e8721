// Misuse that would corrupt memory fails loudly: a thread touching a
// partition it does not own, a lookup from a thread that is not an RCU
// reader; misuse that can be reported is a Status.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "inpcb/table.h"
#include "tests/inpcb/table_test_util.h"

namespace netisr::inpcb {
namespace {

using testing::Ip4;

const FourTuple kConn = FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), 5000);

class MisuseDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MisuseDeathTest, PartitionTouchedByANonOwnerAborts) {
  auto table = testing::MakeTable(testing::SettingsFor(TableStrategy::kPartitioned, 2, nullptr));
  ASSERT_TRUE(table->ThreadEnter(0).ok());
  // Partition 0 is ours: fine.
  ASSERT_TRUE(table->Insert(kConn, /*flowid=*/2).ok());
  EXPECT_TRUE(table->Lookup(kConn, 2));
  // Flow 1 lives on partition 1, which nobody owns.
  EXPECT_DEATH(table->Lookup(kConn, 1),
               "inpcb: FATAL: partitioned table: Lookup of flowid 0x00000001 touches partition "
               "1, which no thread owns");
  // Bound to another (live) thread: still not ours.
  std::atomic<int> step{0};
  std::thread owner([&] {
    ASSERT_TRUE(table->ThreadEnter(1).ok());
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
    table->ThreadExit();  // an RCU reader must unregister before it ends
  });
  while (step.load() != 1) std::this_thread::yield();
  EXPECT_DEATH((void)table->Insert(kConn, 3),
               "Insert of flowid 0x00000003 touches partition 1, "
               "which another thread owns");
  step = 2;
  owner.join();
  table->ThreadExit();
}

TEST_F(MisuseDeathTest, EpochLookupWithoutThreadEnterAborts) {
  auto table = testing::MakeTable(testing::SettingsFor(TableStrategy::kEpoch, 1, nullptr));
  EXPECT_DEATH(table->Lookup(kConn, 1),
               "epoch table: Lookup from a thread that did not call ThreadEnter");
}

TEST(MisuseTest, SecondOwnerOfAPartitionIsRefused) {
  auto table = testing::MakeTable(testing::SettingsFor(TableStrategy::kPartitioned, 2, nullptr));
  ASSERT_TRUE(table->ThreadEnter(1).ok());
  std::thread other([&] {
    Status st = table->ThreadEnter(1);
    EXPECT_EQ(st.code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(st.message(),
              "inpcb: partition 1 is already bound to another thread (ThreadExit it first)");
    EXPECT_TRUE(table->ThreadEnter(0).ok());
    table->ThreadExit();
  });
  other.join();
  table->ThreadExit();
  // Released: another thread may take it now.
  std::thread next([&] {
    EXPECT_TRUE(table->ThreadEnter(1).ok());
    table->ThreadExit();
  });
  next.join();
}

TEST(MisuseTest, EpochRemoveWithoutThreadEnterIsAStatus) {
  auto table = testing::MakeTable(testing::SettingsFor(TableStrategy::kEpoch, 1, nullptr));
  ASSERT_TRUE(table->ThreadEnter(0).ok());
  LockedInpcb l = std::move(table->Insert(kConn, 1).value());
  table->ThreadExit();
  Status st = table->Remove(l);
  EXPECT_EQ(st.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("did not call ThreadEnter"), std::string::npos);
  auto lis = table->Insert(FourTuple::Listener(Family::kIPv4, IpAddr{}, 80), 0);
  EXPECT_EQ(lis.status().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace netisr::inpcb
