#include "router/neighbor_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace netisr::router {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

// Packets owned by the test: Release counts them back.
struct Packets {
  explicit Packets(size_t n) : pkts(n) {
    for (Packet& p : pkts) {
      p.release = [](Packet* p) {
        static_cast<std::atomic<uint64_t>*>(p->release_ctx)->fetch_add(1);
      };
      p.release_ctx = &released;
    }
  }
  Packet* operator[](size_t i) { return &pkts[i]; }
  std::vector<Packet> pkts;
  std::atomic<uint64_t> released{0};
};

IpAddr A(const char* s) { return *IpAddr::Parse(s); }
const MacAddr kMac1{0x02, 0, 0, 0, 0, 1};
const MacAddr kMac2{0x02, 0, 0, 0, 0, 2};

std::unique_ptr<NeighbourTable> Make(NeighbourOptions o = {}) {
  auto t = NeighbourTable::Create(o);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(*t);
}

// Every packet Resolve took is accounted for exactly once.
void ExpectConserved(const NeighbourTable& t) {
  const NeighbourStats s = t.stats();
  EXPECT_EQ(s.taken,
            s.sent_after_resolution + s.queue_full + s.table_full + s.unresolved + s.waiting);
}

TEST(NeighbourTable, FirstPacketSolicitsThenAnswerHandsTheQueueBack) {
  Packets p(4);
  auto t = Make();
  const IpAddr dst = A("10.2.0.2");
  EXPECT_FALSE(t->Lookup(1, dst).has_value());
  auto r0 = t->Resolve(1, dst, p[0], 0);
  EXPECT_EQ(r0.outcome, NeighbourTable::Outcome::kQueuedSolicit);
  EXPECT_EQ(r0.solicit.port, 1);
  EXPECT_EQ(r0.solicit.addr, dst);
  EXPECT_FALSE(r0.solicit.unicast_to.has_value());
  EXPECT_EQ(t->Resolve(1, dst, p[1], 1).outcome, NeighbourTable::Outcome::kQueued);
  EXPECT_EQ(t->Resolve(1, dst, p[2], 2).outcome, NeighbourTable::Outcome::kQueued);
  EXPECT_FALSE(t->Lookup(1, dst).has_value());  // incomplete is not usable
  // Another port is another neighbour.
  EXPECT_FALSE(t->Lookup(0, dst).has_value());

  std::vector<Packet*> ready(t->options().queue_per_neighbour);
  ASSERT_EQ(t->Confirm(1, dst, kMac1, /*solicited=*/true, false, 3, ready), 3u);
  EXPECT_EQ(ready[0], p[0]);  // arrival order
  EXPECT_EQ(ready[2], p[2]);
  EXPECT_EQ(t->Lookup(1, dst), kMac1);
  auto r3 = t->Resolve(1, dst, p[3], 4);
  EXPECT_EQ(r3.outcome, NeighbourTable::Outcome::kSend);
  EXPECT_EQ(r3.mac, kMac1);
  EXPECT_EQ(p.released.load(), 0u);
  const NeighbourStats s = t->stats();
  EXPECT_EQ(s.queued, 3u);
  EXPECT_EQ(s.sent_after_resolution, 3u);
  EXPECT_EQ(s.requests, 1u);
  ExpectConserved(*t);
  auto list = t->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, NeighbourState::kReachable);
}

TEST(NeighbourTable, UnansweredResolutionRetriesThenReleasesAndCounts) {
  NeighbourOptions o;
  o.max_probes = 3;
  o.retrans_ns = kSec;
  Packets p(2);
  auto t = Make(o);
  const IpAddr dst = A("fd00:2::9");
  ASSERT_EQ(t->Resolve(0, dst, p[0], 0).outcome, NeighbourTable::Outcome::kQueuedSolicit);
  ASSERT_EQ(t->Resolve(0, dst, p[1], 0).outcome, NeighbourTable::Outcome::kQueued);
  std::vector<SolicitRequest> req;
  t->Tick(kSec / 2, req);
  EXPECT_TRUE(req.empty());  // not yet retrans
  t->Tick(kSec, req);
  t->Tick(2 * kSec, req);
  ASSERT_EQ(req.size(), 2u);  // requests 2 and 3, 1 s apart
  EXPECT_EQ(req[1].addr, dst);
  EXPECT_EQ(p.released.load(), 0u);
  t->Tick(3 * kSec, req);  // third request unanswered for retrans: give up
  EXPECT_EQ(req.size(), 2u);
  EXPECT_EQ(p.released.load(), 2u);
  const NeighbourStats s = t->stats();
  EXPECT_EQ(s.unresolved, 2u);
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.entries, 0u);
  ExpectConserved(*t);
}

TEST(NeighbourTable, UnresolvedPacketsCanBeHandedToTheCaller) {
  NeighbourOptions o;
  o.max_probes = 1;
  o.retrans_ns = kSec;
  Packets p(2);
  auto t = Make(o);
  const IpAddr dst = A("10.2.0.9");
  ASSERT_EQ(t->Resolve(1, dst, p[0], 0).outcome, NeighbourTable::Outcome::kQueuedSolicit);
  ASSERT_EQ(t->Resolve(1, dst, p[1], 0).outcome, NeighbourTable::Outcome::kQueued);
  std::vector<SolicitRequest> req;
  std::vector<Packet*> failed;
  t->Tick(kSec, req, &failed);
  // Counted by the table, not released: the caller answers them first.
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0], p[0]);  // in arrival order
  EXPECT_EQ(failed[1], p[1]);
  EXPECT_EQ(p.released.load(), 0u);
  EXPECT_EQ(t->stats().unresolved, 2u);
  EXPECT_EQ(t->stats().waiting, 0u);
  ExpectConserved(*t);
  for (Packet* f : failed) f->release(f);
}

TEST(NeighbourTable, QueueBoundsReleaseAndCount) {
  NeighbourOptions o;
  o.queue_per_neighbour = 2;
  o.queue_total = 3;
  Packets p(6);
  auto t = Make(o);
  using O = NeighbourTable::Outcome;
  EXPECT_EQ(t->Resolve(0, A("10.0.0.1"), p[0], 0).outcome, O::kQueuedSolicit);
  EXPECT_EQ(t->Resolve(0, A("10.0.0.1"), p[1], 0).outcome, O::kQueued);
  EXPECT_EQ(t->Resolve(0, A("10.0.0.1"), p[2], 0).outcome, O::kDropped);  // per neighbour
  EXPECT_EQ(t->Resolve(0, A("10.0.0.2"), p[3], 0).outcome, O::kQueuedSolicit);
  EXPECT_EQ(t->Resolve(0, A("10.0.0.3"), p[4], 0).outcome, O::kDropped);  // global
  EXPECT_EQ(p.released.load(), 2u);
  NeighbourStats s = t->stats();
  EXPECT_EQ(s.queue_full, 2u);
  EXPECT_EQ(s.waiting, 3u);
  ExpectConserved(*t);
  // The destructor gives back what still waits.
  t.reset();
  EXPECT_EQ(p.released.load(), 5u);
}

TEST(NeighbourTable, TableFullReleasesAndCounts) {
  NeighbourOptions o;
  o.capacity = 16;  // 15 entries: one slot stays empty
  Packets p(16);
  auto t = Make(o);
  for (uint32_t i = 0; i < 15; ++i) {
    ASSERT_EQ(t->Resolve(0, IpAddr::V4(i + 1), p[i], 0).outcome,
              NeighbourTable::Outcome::kQueuedSolicit);
  }
  EXPECT_EQ(t->Resolve(0, IpAddr::V4(100), p[15], 0).outcome, NeighbourTable::Outcome::kDropped);
  EXPECT_EQ(t->stats().table_full, 1u);
  EXPECT_EQ(t->AddStatic(0, IpAddr::V4(101), kMac1).code(), ErrorCode::kResourceExhausted);
  ExpectConserved(*t);
}

TEST(NeighbourTable, ReachableGoesStaleProbesAndExpires) {
  NeighbourOptions o;
  o.reachable_ns = 30 * kSec;
  o.stale_ns = 60 * kSec;
  o.retrans_ns = kSec;
  o.max_probes = 3;
  Packets p(1);
  auto t = Make(o);
  const IpAddr n = A("10.2.0.2");
  std::vector<Packet*> ready(16);
  t->Resolve(0, n, p[0], 0);
  ASSERT_EQ(t->Confirm(0, n, kMac1, true, false, 0, ready), 1u);
  std::vector<SolicitRequest> req;
  t->Tick(29 * kSec, req);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kReachable);
  t->Tick(30 * kSec, req);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kStale);
  EXPECT_TRUE(req.empty());
  // Stale is still usable; using it asks for a unicast probe at the next tick.
  EXPECT_EQ(t->Lookup(0, n), kMac1);
  t->Tick(31 * kSec, req);
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].unicast_to, kMac1);
  // An answer confirms it again.
  t->Confirm(0, n, kMac1, true, false, 31 * kSec + 1, ready);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kReachable);
  // Stale again, used, and silent: max_probes unicast probes then removal.
  t->Tick(62 * kSec, req);
  EXPECT_EQ(t->Lookup(0, n), kMac1);
  req.clear();
  for (uint64_t s = 63; s <= 66; ++s) t->Tick(s * kSec, req);
  EXPECT_EQ(req.size(), 3u);
  EXPECT_TRUE(t->List().empty());
  EXPECT_FALSE(t->Lookup(0, n).has_value());
  // An unused stale entry is collected after stale_time.
  t->Confirm(0, A("10.2.0.3"), kMac2, /*solicited=*/false, /*create=*/true, 100 * kSec, ready);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kStale);
  t->Tick(159 * kSec, req);
  EXPECT_EQ(t->List().size(), 1u);
  t->Tick(160 * kSec, req);
  EXPECT_TRUE(t->List().empty());
}

TEST(NeighbourTable, UnsolicitedNewsAndStaticEntries) {
  auto t = Make();
  std::vector<Packet*> ready(16);
  const IpAddr n = A("10.2.0.2");
  // Not created unless asked (RFC 826: only when we are the target).
  t->Confirm(0, n, kMac1, false, /*create=*/false, 0, ready);
  EXPECT_FALSE(t->Lookup(0, n).has_value());
  t->Confirm(0, n, kMac1, true, false, 0, ready);  // a solicited answer to nothing
  EXPECT_FALSE(t->Lookup(0, n).has_value());
  t->Confirm(0, n, kMac1, false, true, 0, ready);
  EXPECT_EQ(t->Lookup(0, n), kMac1);
  // A changed MAC is taken, as stale.
  t->Confirm(0, n, kMac2, true, false, 1, ready);
  t->Confirm(0, n, kMac1, false, false, 2, ready);
  EXPECT_EQ(t->Lookup(0, n), kMac1);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kStale);
  // Static: the network cannot change it, timers leave it.
  ASSERT_TRUE(t->AddStatic(0, n, kMac2).ok());
  t->Confirm(0, n, kMac1, true, false, 3, ready);
  std::vector<SolicitRequest> req;
  t->Tick(1000 * kSec, req);
  EXPECT_EQ(t->Lookup(0, n), kMac2);
  EXPECT_EQ(t->List()[0].state, NeighbourState::kStatic);
  EXPECT_TRUE(req.empty());
  ASSERT_TRUE(t->Remove(0, n).ok());
  EXPECT_EQ(t->Remove(0, n).code(), ErrorCode::kNotFound);
}

TEST(NeighbourTable, OptionsAreChecked) {
  NeighbourOptions o;
  o.capacity = 1000;
  auto t = NeighbourTable::Create(o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("capacity 1000"), std::string::npos);
  o = {};
  o.retrans_ns = 1;
  t = NeighbourTable::Create(o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("retrans_ns 1 out of range [10 ms, 60 s]"),
            std::string::npos);
}

// Readers look up static neighbours that never change while a writer
// churns other entries in the same probe runs (inserts, confirms, removals
// that shift entries back). A lock-free Lookup may miss (then the caller
// falls back to Resolve, which must find it) but must never return a wrong
// MAC, for them or for the churned entries. Under TSan (concurrency tag)
// this also checks the seqlock's fields.
TEST(NeighbourTableConcurrency, LockFreeLookupsNeverSeeAWrongMac) {
  NeighbourOptions o;
  o.capacity = 64;  // small: long probe runs, many shifts
  Packets dummy(1);
  auto t = Make(o);
  constexpr uint32_t kStatic = 8;
  auto mac_of = [](uint32_t i) { return MacAddr{0x02, 0, 0, 0, 1, static_cast<uint8_t>(i)}; };
  for (uint32_t i = 0; i < kStatic; ++i)
    ASSERT_TRUE(t->AddStatic(0, IpAddr::V4(i), mac_of(i)).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, resolved_misses{0}, unresolved_misses{0};
  auto reader = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      for (uint32_t i = 0; i < kStatic; ++i) {
        auto m = t->Lookup(0, IpAddr::V4(i));
        if (!m) {
          auto r = t->Resolve(0, IpAddr::V4(i), dummy[0], 0);
          if (r.outcome == NeighbourTable::Outcome::kSend && r.mac == mac_of(i)) {
            resolved_misses.fetch_add(1, std::memory_order_relaxed);
          } else {
            unresolved_misses.fetch_add(1, std::memory_order_relaxed);
          }
        } else if (*m != mac_of(i)) {
          wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
      // Entries being inserted, shifted and removed: absent, or with the
      // MAC that names their own address (a slot read half before and half
      // after a rewrite would pair one entry's key with another's MAC).
      for (uint32_t i = 100; i < 140; ++i) {
        auto m = t->Lookup(0, IpAddr::V4(i));
        if (m && *m != mac_of(i)) wrong.fetch_add(1, std::memory_order_relaxed);
      }
    }
  };
  std::thread r1(reader), r2(reader);
  std::vector<Packet*> ready(16);
  for (int round = 0; round < 3000; ++round) {
    for (uint32_t i = 100; i < 140; ++i) {
      t->Confirm(0, IpAddr::V4(i), mac_of(i), false, true, round, ready);
    }
    for (uint32_t i = 100; i < 140; ++i) ASSERT_TRUE(t->Remove(0, IpAddr::V4(i)).ok());
  }
  stop.store(true);
  r1.join();
  r2.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_EQ(unresolved_misses.load(), 0u);
  EXPECT_EQ(dummy.released.load(), 0u);
}

}  // namespace
}  // namespace netisr::router
