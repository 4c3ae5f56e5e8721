#include "tcp/timer_wheel.h"

#include <time.h>

#include <bit>
#include <memory>
#include <string>

namespace netisr::tcp {

Micros SteadyClock::Now() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Micros>(ts.tv_sec) * kSecond + static_cast<Micros>(ts.tv_nsec) / 1000;
}

Timer::~Timer() { Cancel(); }

void Timer::Cancel() {
  if (wheel_ != nullptr) wheel_->Cancel(*this);
}

Result<std::unique_ptr<TimerWheel>> TimerWheel::Create(Micros tick, uint32_t slots, Micros start) {
  if (tick < 1 || tick > kSecond) {
    return Status(ErrorCode::kInvalidArgument,
                  "timer tick " + std::to_string(tick) + " us out of range [1, 1000000]");
  }
  if (slots < 16 || slots > (1u << 20) || !std::has_single_bit(slots)) {
    return Status(ErrorCode::kInvalidArgument, "timer wheel slots " + std::to_string(slots) +
                                                   " not a power of two in [16, 1048576]");
  }
  return std::make_unique<TimerWheel>(tick, slots, start);
}

TimerWheel::TimerWheel(Micros tick, uint32_t slots, Micros start)
    : tick_(tick), mask_(slots - 1), slots_(slots), current_(start / tick) {}

TimerWheel::~TimerWheel() {
  for (Timer& s : slots_) {
    while (s.next_ != &s) {
      Timer* t = s.next_;
      t->Unlink();
      t->wheel_ = nullptr;
    }
  }
}

void TimerWheel::Schedule(Timer& t, Micros deadline) {
  if (t.wheel_ != nullptr) Cancel(t);
  t.deadline_ = deadline;
  uint64_t tick = (deadline + tick_ - 1) / tick_;  // never early
  if (tick <= current_) tick = current_ + 1;
  t.tick_ = tick;
  Timer& head = Slot(tick);
  t.prev_ = head.prev_;
  t.next_ = &head;
  head.prev_->next_ = &t;
  head.prev_ = &t;
  t.wheel_ = this;
  ++armed_;
}

void TimerWheel::Cancel(Timer& t) {
  if (t.wheel_ != this) return;
  t.Unlink();
  t.wheel_ = nullptr;
  --armed_;
}

size_t TimerWheel::Advance(Micros now) {
  const uint64_t target = now / tick_;
  size_t fired = 0;
  while (current_ < target) {
    if (armed_ == 0) {
      current_ = target;
      break;
    }
    ++current_;
    Timer& head = Slot(current_);
    // Pop one at a time: a callback may cancel or schedule any timer,
    // including ones in this slot. Not-yet-due timers (a later rotation)
    // move to `keep` and go back at the end.
    Timer keep;
    while (head.next_ != &head) {
      Timer* t = head.next_;
      t->Unlink();
      if (t->tick_ > current_) {
        t->prev_ = keep.prev_;
        t->next_ = &keep;
        keep.prev_->next_ = t;
        keep.prev_ = t;
        continue;
      }
      t->wheel_ = nullptr;
      --armed_;
      ++fired;
      if (t->fn_ != nullptr) t->fn_(t, t->arg_);
    }
    while (keep.next_ != &keep) {
      Timer* t = keep.next_;
      t->Unlink();
      t->prev_ = head.prev_;
      t->next_ = &head;
      head.prev_->next_ = t;
      head.prev_ = t;
    }
  }
  return fired;
}

std::optional<Micros> TimerWheel::NextDeadline() const {
  std::optional<Micros> best;
  for (const Timer& s : slots_) {
    for (const Timer* t = s.next_; t != &s; t = t->next_) {
      // When Advance will fire it: the start of its tick (>= its deadline;
      // for a deadline already past, the next tick).
      const Micros fire = t->tick_ * tick_;
      if (!best || fire < *best) best = fire;
    }
  }
  return best;
}

}  // namespace netisr::tcp
