// TimerWheel: a hashed timing wheel (Varghese and Lauck, "Hashed and
// hierarchical timing wheels", SOSP 1987, scheme 6), one per workstream.
//
// Guarantees: Schedule, Cancel and the re-arm of a timer are O(1) with no
// allocation (timers are intrusive nodes embedded in their owner, e.g. a
// connection); a timer never fires before its deadline, and fires at the
// first Advance whose time is at or past the tick that contains it (so at
// most one tick late, plus however late Advance is called). Timers due in
// the same tick fire in the order they were scheduled; across ticks in
// deadline-tick order.
//
// No lock: a wheel belongs to one workstream (the CPU that owns the
// connections whose timers it holds) and is touched by that thread only.
// This is the point of it: FreeBSD's single TIME_WAIT list and callout
// lock once starved TCP input on every CPU (the tcbinfo lock held across
// the TIME_WAIT scan); here each CPU expires its own connections.
//
// Trade-off: a deadline further away than one rotation (slots x tick)
// stays in its slot and is skipped (one compare) on each pass until due;
// with 1 ms ticks and 4096 slots that is every 4.1 s, which only the 2MSL
// and FIN_WAIT_2 timers reach.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "tcp/clock.h"

namespace netisr::tcp {

class TimerWheel;

// An intrusive timer. `fn(timer, arg)` runs from TimerWheel::Advance on the
// wheel's thread; it may schedule or cancel any timer, itself included.
class Timer {
 public:
  using Fn = void (*)(Timer* timer, void* arg);
  Timer() = default;
  Timer(Fn fn, void* arg) : fn_(fn), arg_(arg) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();  // cancels

  void Bind(Fn fn, void* arg) {
    fn_ = fn;
    arg_ = arg;
  }
  bool armed() const { return wheel_ != nullptr; }
  Micros deadline() const { return deadline_; }
  void Cancel();

 private:
  friend class TimerWheel;
  void Unlink() {
    prev_->next_ = next_;
    next_->prev_ = prev_;
    prev_ = next_ = this;
  }
  Timer* prev_ = this;
  Timer* next_ = this;
  TimerWheel* wheel_ = nullptr;  // non-null while armed
  Micros deadline_ = 0;
  uint64_t tick_ = 0;  // deadline tick: ceil(deadline / tick)
  Fn fn_ = nullptr;
  void* arg_ = nullptr;
};

class TimerWheel {
 public:
  // tick: resolution in microseconds, [1, 1 s]. slots: power of two in
  // [16, 1 << 20]. `start`: the clock's current time.
  static Result<std::unique_ptr<TimerWheel>> Create(Micros tick, uint32_t slots, Micros start);
  TimerWheel(Micros tick, uint32_t slots, Micros start);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) `t` for `deadline`. A deadline already past fires at
  // the next Advance.
  void Schedule(Timer& t, Micros deadline);
  void Cancel(Timer& t);
  // Fires every timer whose tick is <= now's tick; returns how many fired.
  size_t Advance(Micros now);
  size_t armed() const { return armed_; }
  Micros tick() const { return tick_; }
  // The earliest time at which Advance fires an armed timer (its deadline
  // rounded up to a tick; the next tick for a deadline already past), so an
  // Advance to that time always fires something; O(slots + armed). For
  // tests driving virtual time and for a worker deciding how long it may
  // sleep, not per packet.
  std::optional<Micros> NextDeadline() const;

 private:
  Timer& Slot(uint64_t tick) { return slots_[tick & mask_]; }
  const Micros tick_;
  const uint64_t mask_;
  std::vector<Timer> slots_;  // sentinels of circular lists
  uint64_t current_;          // last tick processed
  size_t armed_ = 0;
};

}  // namespace netisr::tcp
