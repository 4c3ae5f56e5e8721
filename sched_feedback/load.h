// Per-CPU load feedback: what each worker publishes about itself so that
// producers on other CPUs can decide, per packet, whether to run work here
// or hand it to a CPU with room (Watson's questions, BSDCan 2007: is this
// CPU overloaded; are other CPUs available; how long does this protocol take).
//
// Publication is single-writer: the worker that owns a CpuLoad measures with
// a LoadMeter (plain fields, its own thread only) and publishes at the end
// of each measurement window with relaxed stores into a cache line of its
// own. Readers take relaxed loads: no lock and no read-modify-write on the
// packet path, at the price of a view up to one window old (200 us by
// default), which is what a feedback controller tolerates anyway. Values are
// independent numbers, not a consistent snapshot; nothing synchronises
// through them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "base/counter.h"

namespace netisr::sched {

// Most work classes (protocols) one CpuLoad tracks a service time for.
inline constexpr int kMaxLoadClasses = 16;

// A reader's copy of one CPU's published load.
struct LoadSample {
  double busy = 0;              // fraction of time doing work, EWMA, [0, 1]
  uint32_t queue_depth = 0;     // packets queued at the last publication
  uint32_t queue_delay_ns = 0;  // wait of dequeued packets, EWMA
  // Share of ingress poll rounds in which a source came back with its whole
  // budget, EWMA over the windows that polled, [0, 1] (ppm resolution).
  // NAPI's "budget exhausted": near 1 the sources hold more than the worker
  // takes per poll (it is behind them); near 0 it keeps up. 1 until a poll
  // is seen, so a CPU that polls nothing is judged by busy and delay alone.
  double full_polls = 1;
  uint64_t published_ns = 0;  // when these values were published (FastClock), 0 = never
  uint64_t windows = 0;       // publications so far
  // Set by the reader, not published: the worker is sleeping right now, and
  // the published values are stale (older than the reader's bound, e.g. two
  // windows). A sleeper with stale values is idle whatever they say; a
  // sleeper with fresh ones (a worker at 80% sleeps between bursts) is
  // judged by them.
  bool asleep = false;
  bool stale = false;
};

struct alignas(64) CpuLoad {
  // All relaxed; written only by the owning worker (LoadMeter::Publish).
  std::atomic<uint32_t> busy_ppm{0};  // busy fraction in parts per million
  std::atomic<uint32_t> queue_depth{0};
  std::atomic<uint32_t> queue_delay_ns{0};
  std::atomic<uint32_t> full_poll_ppm{1'000'000};                   // LoadSample::full_polls, ppm
  std::array<std::atomic<uint32_t>, kMaxLoadClasses> service_ns{};  // per packet, EWMA
  base::Counter windows;                                            // publications so far
  std::atomic<uint64_t> published_ns{0};  // time of the last publication (FastClock ns)

  LoadSample Read() const {
    LoadSample s;
    s.busy = busy_ppm.load(std::memory_order_relaxed) / 1e6;
    s.queue_depth = queue_depth.load(std::memory_order_relaxed);
    s.queue_delay_ns = queue_delay_ns.load(std::memory_order_relaxed);
    s.full_polls = full_poll_ppm.load(std::memory_order_relaxed) / 1e6;
    s.published_ns = published_ns.load(std::memory_order_relaxed);
    s.windows = windows.Get();
    return s;
  }
  uint32_t ServiceNs(int cls) const { return service_ns[cls].load(std::memory_order_relaxed); }
};

struct LoadMeterConfig {
  // Measurement window, ns. Bound [10 us, 100 ms]: shorter windows react
  // faster but a 10 us window holds only ~30 packets of a 300 ns handler.
  uint64_t window_ns = 200'000;
  // EWMA weight of a window of nominal length, (0, 1]. 0.25 settles in ~4
  // windows (~1 ms by default) and damps single-window spikes. The average
  // is time-weighted: a window k times the nominal length (the worker slept
  // through it) weighs 1 - (1 - alpha)^k, as k nominal windows would.
  double alpha = 0.25;
};

// The owning worker's accumulator. Not thread-safe: one worker thread (or
// the fibers of one thread) only.
class LoadMeter {
 public:
  LoadMeter(CpuLoad* out, LoadMeterConfig cfg) : out_(out), cfg_(cfg) {}

  // Time spent doing work (polling that found packets, running handlers).
  void AddBusy(uint64_t ns) { busy_ns_ += ns; }
  // One class's handler took `ns` for `packets` packets.
  void AddService(int cls, uint64_t ns, uint32_t packets);
  // A round of ingress polls returned; `full` if a source filled its whole
  // budget.
  void AddPoll(bool full) {
    ++polls_;
    full_polls_ += full ? 1 : 0;
  }
  // A packet waited `ns` in a queue before its handler ran.
  void AddQueueDelay(uint64_t ns);
  // Publishes if the window has elapsed; `queue_depth` is the current total.
  void Tick(uint64_t now_ns, uint32_t queue_depth);
  // True when a Tick at `now_ns` would do anything (the window has elapsed,
  // or none has started): a caller may skip computing the depth otherwise.
  bool TickDue(uint64_t now_ns) const {
    return window_start_ == 0 || now_ns - window_start_ >= cfg_.window_ns;
  }

 private:
  static double Blend(double old_v, double new_v, double alpha) {
    return old_v + alpha * (new_v - old_v);
  }
  // Weight of a window `elapsed_ns` long (see LoadMeterConfig::alpha).
  double WindowWeight(uint64_t elapsed_ns) const;

  CpuLoad* out_;
  LoadMeterConfig cfg_;
  uint64_t window_start_ = 0;
  uint64_t busy_ns_ = 0;
  double busy_ = 0;
  double delay_ = 0;
  uint64_t delay_sum_ = 0;
  uint64_t delay_count_ = 0;
  uint64_t polls_ = 0;
  uint64_t full_polls_ = 0;
  double full_share_ = 1;
  std::array<double, kMaxLoadClasses> service_{};
};

}  // namespace netisr::sched
