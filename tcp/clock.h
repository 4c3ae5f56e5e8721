// Time for the TCP engine: microseconds from an injected clock, never a
// global one, so tests run on virtual time (ManualClock) and never sleep,
// and a netisr worker can hand the engine the time it already read for its
// burst.
#pragma once

#include <cstdint>

namespace netisr::tcp {

// Microseconds since an arbitrary epoch; monotonic.
using Micros = uint64_t;
inline constexpr Micros kMillisecond = 1000;
inline constexpr Micros kSecond = 1000 * kMillisecond;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros Now() const = 0;
};

// Virtual time for tests and simulation: moves only when told.
class ManualClock : public Clock {
 public:
  explicit ManualClock(Micros start = 0) : now_(start) {}
  Micros Now() const override { return now_; }
  void Set(Micros t) { now_ = t; }
  void Advance(Micros d) { now_ += d; }

 private:
  Micros now_;
};

// CLOCK_MONOTONIC.
class SteadyClock : public Clock {
 public:
  Micros Now() const override;
};

}  // namespace netisr::tcp
