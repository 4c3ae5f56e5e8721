// Settings: the user-space equivalent of FreeBSD's net.isr.* tunables.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "netisr/protocol.h"

namespace netisr {

// Most workstreams one dispatcher runs. 64 so that a workstream set fits a
// 64-bit mask (the per-burst wakeup set); the inline model may simulate more
// CPUs than the machine has, up to this bound.
inline constexpr int kMaxWorkstreams = 64;
// Most external producer slots (Settings::max_external_producers).
inline constexpr int kMaxExternalProducers = 64;

// What Stop() does with packets still queued.
// A monotonic time source, ns. The dispatcher reads it for everything it
// times: load metering, queue stamps, the adaptive placement. Settings::clock
// null (the default) means sched::FastClock; a simulator passes a virtual
// clock so that the real dispatcher runs in virtual time (sim/).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t NowNs() const = 0;
};

enum class ShutdownMode : uint8_t {
  kDrain,  // run their handlers (on the stopping thread, as their workstream)
  kDrop,   // release them, counted under drop reason `shutdown`
};

// Tunables of DispatchMode::kAdaptive and of the load feedback behind it.
// Defaults suit handlers of ~100 ns to a few us and queues of ~256 packets.
struct AdaptiveSettings {
  // This CPU is saturated when its busy fraction exceeds busy_high, and
  // stops being so below busy_low (hysteresis). Bound 0 < low <= high <= 1.
  double busy_high = 0.90;
  double busy_low = 0.75;
  // ... but busy counts only while this CPU is also behind its ingress
  // sources: in at least this share of its poll rounds a source came back
  // with its whole burst (sched::LoadSample::full_polls), and it stops being
  // saturated below half this share. (0, 1]; 1 = every round full. A
  // polling CPU that keeps up spends its spare time on more, smaller polls,
  // each one's fixed cost counted as busy: paced at 2 Mpps with skew 0.9
  // worker 0 read 0.81-0.87 busy while direct dispatch alone kept up
  // (median 0.1 us), and adaptive moved half the flows out (median 2-4 us;
  // docs/adaptive.md 5, "Busy alone"). A CPU whose work comes only from queues
  // or nested dispatch polls nothing and is judged by busy and delay alone.
  double full_polls_high = 0.5;
  // ... or when packets wait in its queues longer than delay_high_ns.
  // A CPU is overloaded (buckets placed there come home) above the same
  // bound, and has room for more below delay_low_ns with busy below
  // room_busy. Bound 0 < low <= high <= 1 s.
  // delay_low_ns must sit above what an idle sleeping worker adds by itself:
  // on the 2-vCPU development VM a queued burst waits 11-25 us for a mostly
  // idle threads-model worker to wake or notice it, so the old 10 us never
  // saw such a worker as having room (docs/adaptive.md 5). 40 us is that
  // pickup delay with margin, and ~120 queued 300 ns packets. delay_high_ns
  // 100 us is ~300 queued 300 ns packets, above the half-full lane
  // (backpressure_fill) at which a producer stops polling, so overload is
  // normally seen by queue fill first.
  uint64_t delay_low_ns = 40'000;
  uint64_t delay_high_ns = 100'000;
  double room_busy = 0.85;  // (0, 1]
  // Least time between two migrations by one producer, ns. Bound
  // [0, 1 s]. Two load windows (400 us) lets the feedback show the effect
  // of one move before the next.
  uint64_t migration_interval_ns = 400'000;
  // ... except that a saturated producer moving its own buckets out may go
  // on within one interval while the buckets it moved in it carry at most
  // this much load together, in CPUs: each bucket's measured share of this
  // CPU, counted as at least 1/128 so that unmeasured or tiny buckets do
  // not move without bound (0.25: at most 32 buckets an interval). The
  // interval's first move is always allowed, so 0 means one move per
  // interval. A target takes one move per settle period (settle_windows)
  // unless this producer is deeply behind its sources (docs/adaptive.md 1,
  // "settling").
  // Bound [0, 64]. One bucket per interval left a hot RX queue at 64
  // simulated CPUs on its CPU for 100 ms (256 buckets x 400 us): adaptive
  // carried 0.89 of the oracle's throughput in a 35 ms run, 1.00 with 0.25
  // (docs/adaptive.md 4, "Many CPUs"); the overshoot is at most a quarter of
  // a CPU per interval.
  double migration_step = 0.25;
  // After moving a bucket to workstream t, move no other bucket there until
  // t has published this many more load windows, except by a producer deeply
  // behind its sources while half t's room holds the moves not yet shown
  // (docs/adaptive.md 1, "settling"). Bound [0, 1000]. With the EWMA weight 0.25, 5
  // windows show 1 - 0.75^5 = 76% of a step, so each move is judged on its
  // effect before the next; 0 disables.
  uint32_t settle_windows = 5;
  // Backpressure: a worker stops polling its ingress sources while its own
  // packets sit in another workstream's queue for an adaptive protocol
  // filled past this fraction of the queue limit; that workstream then
  // counts as overloaded for one load window. (0, 1]; 1 = only a full
  // queue. Lower keeps queues (and the latency of moved flows) shorter: the
  // queue need only cover the producer's round trip, a burst or two. 0.5
  // (128 of 256 packets, ~50 us of 300 ns handlers): in the skew benchmark
  // 0.75 gave a 9.7 us median latency, 0.5 6.8 us at the same throughput,
  // and 0.25 cost 6% throughput in 3x the migrations (docs/adaptive.md 5).
  double backpressure_fill = 0.5;
  // Spill: while the queue of the CPU a drained bucket is placed on is
  // filled past this fraction of its limit, the bucket's packets run on the
  // producer's own CPU instead (the bucket stays placed; no migration), so
  // the placed CPU keeps a short queue that never runs dry and the producer
  // works instead of waiting on backpressure. (0, 1]; at or above
  // backpressure_fill it never acts before backpressure does.
  double spill_fill = 0.125;
  // Load measurement window (ns, [10 us, 100 ms]) and EWMA weight of the
  // newest window ((0, 1]); see sched_feedback/load.h.
  uint64_t load_window_ns = 200'000;
  double load_alpha = 0.25;
};

struct Settings {
  // Workstreams (one worker each). 0 = one per CPU the process may run on,
  // or one per worker_cpus entry if given (at most kMaxWorkstreams).
  // Bound [0, kMaxWorkstreams]. FreeBSD: net.isr.maxthreads.
  int max_threads = 0;
  // Pin each worker to a CPU: worker_cpus' if given, else its own CPU,
  // distinct physical cores first. FreeBSD: net.isr.bindthreads.
  bool bind_threads = true;
  // With bind_threads: the CPUs to pin workers to, workstream w on
  // worker_cpus[w % size()] (OS CPU numbers, each >= 0 and one this process
  // may run on, else Create fails naming it). With max_threads 0 there is
  // one workstream per entry. Empty = the topology's order above; refused
  // without bind_threads. For an embedder that shares the machine with
  // other pinned work, or a benchmark that must run on the core its
  // reference ran on (DPDK's -l).
  std::vector<int> worker_cpus;
  // Default per-workstream, per-protocol queue limit in packets, used when a
  // protocol registers with qlimit 0. Bound [1, max_qlimit]. FreeBSD's 256.
  uint32_t default_qlimit = 256;
  // Largest queue limit a protocol may ask for, packets. Bound [1, 1<<20]:
  // each producer lane preallocates qlimit slots, so this caps memory.
  // FreeBSD: net.isr.maxqlimit, 10240.
  uint32_t max_qlimit = 10240;
  // Overrides every protocol's dispatch mode when set. Can be changed while
  // traffic flows with Netisr::SetDispatchOverride. FreeBSD: net.isr.dispatch.
  std::optional<DispatchMode> dispatch_override;
  // Threads other than workers that may call the entry points at once
  // (each holds a Netisr::ProducerScope). Bound [0, kMaxExternalProducers].
  int max_external_producers = 4;
  // Packets a worker hands a handler at once, and per lane per round.
  // Bound [1, 256]; 32 matches a NIC RX burst and amortises the ring's
  // cache-line transfer (measured in benchmarks/netisr).
  uint32_t burst = 32;
  // Longest a sleeping worker (threads and fibers models) with attached
  // ingress sources sleeps before polling them again, microseconds.
  // Bound [1, 1000000].
  uint32_t idle_sleep_us = 50;
  // Pause instructions an idle sleeping-model worker spins before it
  // sleeps, re-checking its queues and, every 64 pauses, polling its live
  // sources again (one budget per idle period). Bound [0, 1000000]. 2000
  // pauses are ~5-100 us (a pause is 10-140 cycles by CPU; 25 ns, so 50 us,
  // on the development VM's AMD EPYC): long enough to catch a producer's
  // next burst or a paced source's next packets, which saves the ~10 us
  // of a futex sleep/wake round and the idle_sleep_us wait. The cost: a
  // worker whose sources bring a packet at least once per spin (above
  // ~20 kpps with the default here) never sleeps, as a busy-polling NIC
  // driver would not.
  uint32_t idle_spin = 2000;
  ShutdownMode shutdown = ShutdownMode::kDrain;
  // Flow buckets per producer and protocol (an RSS-RETA-like indirection
  // table: flowid & (flow_buckets - 1), bucket b on workstream
  // b % workstreams; base/flow_bucket.h). Flows in one bucket move together;
  // affinity hints are per bucket. Power of two in [1, 65536], and at least
  // the workstream count (Create refuses fewer); 256 x 40 B = 10 KiB per
  // producer and protocol.
  uint32_t flow_buckets = 256;
  // Most memory, bytes, that the registered protocols' dispatch state may
  // take together. Each protocol preallocates, for every (producer,
  // workstream) pair, a lane: a ring of qlimit + 1 packet pointers and ~200
  // B of counters; producers are the workstreams plus
  // max_external_producers. Per producer it adds flow_buckets x 40 B of
  // flow buckets and ~3 KiB of adaptive feedback. So the bound is
  //   protocols x (W + E) x (W x (8 x (qlimit + 1) + 200) + 40 x B + 3 KiB)
  // for W workstreams, E external slots and B flow buckets: it grows as
  // workstreams^2 x protocols x qlimit. 64 workstreams, 4 external slots
  // and qlimit 10240 take 357 MiB per protocol, the 8-protocol parse chain
  // 2.8 GiB. Create refuses settings under which one protocol at
  // default_qlimit would exceed the cap, and Register a protocol that
  // would take the sum past it; both name the size (ProtocolMemoryBytes).
  // Bound [1 MiB, 1 TiB]. 1 GiB holds 16 protocols at the default qlimit
  // on 64 workstreams (9 MiB each) or 2 at the largest qlimit, yet refuses
  // a configuration that would take most of a small machine's memory.
  uint64_t max_memory_bytes = uint64_t{1} << 30;
  AdaptiveSettings adaptive;
  // Time source of the dispatcher (see Clock); must outlive it. nullptr =
  // sched::FastClock. Not a tunable: for simulators and tests.
  const Clock* clock = nullptr;
};

// Ok, or the first field out of range, named with its bound.
Status Validate(const Settings& s);

// Bytes one protocol registered with `qlimit` preallocates on a dispatcher
// of `workstreams` workstreams under settings `s` (the sum that
// Settings::max_memory_bytes caps).
uint64_t ProtocolMemoryBytes(const Settings& s, int workstreams, uint32_t qlimit);

}  // namespace netisr
