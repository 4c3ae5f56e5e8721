// TimerWheel: never early, at most one tick late, re-arm and cancel from
// callbacks, deadlines beyond one rotation.
#include "tcp/timer_wheel.h"

#include <gtest/gtest.h>

#include <vector>

namespace netisr::tcp {
namespace {

struct Fired {
  std::vector<std::pair<int, Micros>> log;
  Micros* now = nullptr;
};

struct Probe {
  int id;
  Fired* f;
  Timer t;
  static void Fn(Timer*, void* arg) {
    auto* p = static_cast<Probe*>(arg);
    p->f->log.push_back({p->id, *p->f->now});
  }
  Probe(int i, Fired* fired) : id(i), f(fired), t(&Probe::Fn, this) {}
};

TEST(TimerWheelTest, RejectsBadGeometry) {
  EXPECT_FALSE(TimerWheel::Create(0, 1024, 0).ok());
  EXPECT_FALSE(TimerWheel::Create(1000, 1000, 0).ok());  // not a power of two
  EXPECT_FALSE(TimerWheel::Create(1000, 8, 0).ok());
  EXPECT_TRUE(TimerWheel::Create(1000, 16, 0).ok());
}

TEST(TimerWheelTest, NeverEarlyAtMostOneTickLateInDeadlineOrder) {
  TimerWheel w(1000, 64, 0);
  Micros now = 0;
  Fired f;
  f.now = &now;
  Probe a(1, &f), b(2, &f), c(3, &f);
  w.Schedule(a.t, 2500);
  w.Schedule(b.t, 1000);
  w.Schedule(c.t, 2001);
  EXPECT_EQ(w.armed(), 3u);
  EXPECT_EQ(*w.NextDeadline(), 1000u);
  for (now = 0; now <= 4000; now += 100) w.Advance(now);
  ASSERT_EQ(f.log.size(), 3u);
  EXPECT_EQ(f.log[0], (std::pair<int, Micros>{2, 1000}));
  // 2500 and 2001 both round up to tick 3: they fire in scheduling order.
  EXPECT_EQ(f.log[1], (std::pair<int, Micros>{1, 3000}));
  EXPECT_EQ(f.log[2], (std::pair<int, Micros>{3, 3000}));
  EXPECT_EQ(w.armed(), 0u);
}

TEST(TimerWheelTest, FarDeadlinesWaitFullRotations) {
  TimerWheel w(1000, 16, 0);  // one rotation = 16 ms
  Micros now = 0;
  Fired f;
  f.now = &now;
  Probe a(1, &f);
  w.Schedule(a.t, 100 * 1000);
  for (now = 0; now < 100 * 1000; now += 1000) w.Advance(now);
  EXPECT_TRUE(f.log.empty());
  now = 100 * 1000;
  w.Advance(now);
  ASSERT_EQ(f.log.size(), 1u);
}

struct Rearm {
  Timer t;
  TimerWheel* w;
  Timer* victim = nullptr;
  int fired = 0;
  static void Fn(Timer*, void* arg) {
    auto* r = static_cast<Rearm*>(arg);
    ++r->fired;
    if (r->victim) r->victim->Cancel();
    if (r->fired < 3) r->w->Schedule(r->t, r->t.deadline() + 5000);
  }
};

TEST(TimerWheelTest, CallbacksMayRearmThemselvesAndCancelOthers) {
  TimerWheel w(1000, 64, 0);
  Micros now = 0;
  Fired f;
  f.now = &now;
  Probe other(9, &f);
  Rearm r;
  r.w = &w;
  r.t.Bind(&Rearm::Fn, &r);
  r.victim = &other.t;
  w.Schedule(r.t, 1000);
  w.Schedule(other.t, 1000);  // same slot, after r: cancelled before it runs
  for (now = 0; now <= 20000; now += 1000) w.Advance(now);
  EXPECT_EQ(r.fired, 3);
  EXPECT_TRUE(f.log.empty());
  EXPECT_EQ(w.armed(), 0u);
}

TEST(TimerWheelTest, PastDeadlineFiresAtNextAdvanceAndDestructorCancels) {
  TimerWheel w(1000, 64, 10000);
  Micros now = 10000;
  Fired f;
  f.now = &now;
  {
    Probe gone(7, &f);
    w.Schedule(gone.t, 11000);
  }
  EXPECT_EQ(w.armed(), 0u);
  Probe p(1, &f);
  w.Schedule(p.t, 5000);  // already past
  now = 11000;
  EXPECT_EQ(w.Advance(now), 1u);
  ASSERT_EQ(f.log.size(), 1u);
  EXPECT_EQ(f.log[0].first, 1);
}

// Regression: NextDeadline reported a past deadline that Advance(now) would
// not fire until the next tick, so a driver advancing to NextDeadline spun
// forever (LossySeedTest seed 13 hung).
TEST(TimerWheelTest, AdvancingToNextDeadlineAlwaysFires) {
  TimerWheel w(1000, 64, 0);
  Micros now = 0;
  Fired f;
  f.now = &now;
  Probe p(1, &f);
  now = 1500;
  w.Advance(now);         // current tick is 1
  w.Schedule(p.t, 1200);  // already past: goes to tick 2
  ASSERT_TRUE(w.NextDeadline().has_value());
  now = std::max(now, *w.NextDeadline());
  EXPECT_EQ(w.Advance(now), 1u);
}

}  // namespace
}  // namespace netisr::tcp
