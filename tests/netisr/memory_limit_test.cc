// Settings::max_memory_bytes and allocation failure: a dispatcher whose
// lanes would take more than the cap is refused with the size named, and an
// allocation that fails in Create or Register returns kResourceExhausted
// instead of ending the process in std::terminate.
//
// Its own binary: it replaces the global operator new (below) with one that
// fails allocations above a size the test sets, to make bad_alloc happen
// where it would only under real memory exhaustion.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace {
// Allocations of more bytes than this throw std::bad_alloc.
std::atomic<size_t> g_fail_above{std::numeric_limits<size_t>::max()};
}  // namespace

void* operator new(size_t n) {
  if (n > g_fail_above.load(std::memory_order_relaxed)) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace netisr::testing {
namespace {

// Fails every allocation above `bytes` for its lifetime.
class FailAllocationsAbove {
 public:
  explicit FailAllocationsAbove(size_t bytes) { g_fail_above.store(bytes); }
  ~FailAllocationsAbove() { g_fail_above.store(std::numeric_limits<size_t>::max()); }
};

ProtocolSpec Spec(const std::string& name, uint32_t qlimit) {
  ProtocolSpec spec;
  spec.name = name;
  spec.handler = [](Burst b) {
    for (Packet* p : b) Release(p);
  };
  spec.qlimit = qlimit;
  return spec;
}

TEST(MemoryLimit, SizeGrowsAsWorkstreamsSquaredTimesQlimit) {
  Settings s;
  s.max_external_producers = 4;
  // 68 producers x 64 workstreams x 10241 slots x 8 B, plus lane counters.
  const uint64_t big = ProtocolMemoryBytes(s, 64, 10240);
  EXPECT_GT(big, uint64_t{68} * 64 * 10241 * 8);
  EXPECT_LT(big, uint64_t{400} << 20);
  EXPECT_LT(ProtocolMemoryBytes(s, 2, 256), uint64_t{1} << 20);
}

TEST(MemoryLimit, CreateRefusesSettingsPastTheCapNamingTheSize) {
  Settings s = UnboundWorkers(64);
  s.default_qlimit = 10240;
  s.max_memory_bytes = uint64_t{256} << 20;
  auto model = MakeWorkModel("inline");
  ASSERT_TRUE(model.ok());
  auto n = Netisr::Create(s, std::move(*model));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), ErrorCode::kResourceExhausted);
  const std::string need = std::to_string(ProtocolMemoryBytes(s, 64, 10240));
  EXPECT_NE(n.status().message().find(need), std::string::npos) << n.status().message();
  EXPECT_NE(n.status().message().find("max_memory_bytes 268435456"), std::string::npos)
      << n.status().message();
}

TEST(MemoryLimit, RegisterRefusesAProtocolPastTheCap) {
  Settings s = UnboundWorkers(64);
  s.max_qlimit = 10240;
  auto nisr = MakeNetisr("inline", s);
  ASSERT_NE(nisr, nullptr);
  // 357 MiB each under the default 1 GiB: two fit, the third does not.
  ASSERT_TRUE(nisr->Register(Spec("one", 10240)).ok());
  ASSERT_TRUE(nisr->Register(Spec("two", 10240)).ok());
  auto third = nisr->Register(Spec("three", 10240));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), ErrorCode::kResourceExhausted);
  const std::string msg = third.status().message();
  EXPECT_NE(msg.find(std::to_string(ProtocolMemoryBytes(s, 64, 10240))), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_memory_bytes 1073741824"), std::string::npos) << msg;
  // A smaller protocol still fits, and the refused name stays free.
  EXPECT_TRUE(nisr->Register(Spec("three", 256)).ok());
}

TEST(MemoryLimit, ValidateBoundsTheCap) {
  Settings s;
  s.max_memory_bytes = 1000;
  const Status st = Validate(s);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("max_memory_bytes"), std::string::npos) << st.message();
}

// A ring allocation that fails (here: every allocation over 64 KiB, and a
// ring of qlimit 10240 takes 80 KiB) returns an error and leaves the
// dispatcher usable.
TEST(MemoryLimit, RegisterSurvivesBadAlloc) {
  auto nisr = MakeNetisr("inline", UnboundWorkers(2));
  ASSERT_NE(nisr, nullptr);
  Result<ProtocolId> r = Status(ErrorCode::kOk, "");
  {
    FailAllocationsAbove fail(64 << 10);
    r = nisr->Register(Spec("big", 10240));
  }
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().message();
  auto small = nisr->Register(Spec("big", 256));
  ASSERT_TRUE(small.ok()) << small.status().message();
  EXPECT_EQ(*small, 0);
  auto pool = MakePool(64);
  ASSERT_TRUE(nisr->Start().ok());
  {
    Netisr::ProducerScope scope(*nisr);
    Packet* pkts[8];
    ASSERT_EQ(pool->AllocBulk(pkts), 8u);
    for (Packet* p : pkts) p->SetFlowId(1, HashType::kOpaque);
    EXPECT_EQ(nisr->QueueBurst(0, *small, pkts).queued, 8u);
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  EXPECT_EQ(nisr->GetStats().Total(*small).handled, 8u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

// The same in Create: a workstream's state (over 1 KiB) cannot be allocated.
TEST(MemoryLimit, CreateSurvivesBadAlloc) {
  auto model = MakeWorkModel("inline");
  ASSERT_TRUE(model.ok());
  Result<std::unique_ptr<Netisr>> n = Status(ErrorCode::kOk, "");
  {
    FailAllocationsAbove fail(1024);
    n = Netisr::Create(UnboundWorkers(2), std::move(*model));
  }
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), ErrorCode::kResourceExhausted) << n.status().message();
}

}  // namespace
}  // namespace netisr::testing
