// Settings: the user-space equivalent of FreeBSD's net.isr.* tunables.
#pragma once

#include <cstdint>
#include <optional>

#include "netisr/protocol.h"
#include "netisr/status.h"

namespace netisr {

// Most workstreams one dispatcher runs. 64 so that a workstream set fits a
// 64-bit mask (the per-burst wakeup set); the inline model may simulate more
// CPUs than the machine has, up to this bound.
inline constexpr int kMaxWorkstreams = 64;

// What Stop() does with packets still queued.
enum class ShutdownMode : uint8_t {
  kDrain,  // run their handlers (on the stopping thread, as their workstream)
  kDrop,   // release them, counted under drop reason `shutdown`
};

struct Settings {
  // Workstreams (one worker each). 0 = one per CPU the process may run on.
  // Bound [0, kMaxWorkstreams]. FreeBSD: net.isr.maxthreads.
  int max_threads = 0;
  // Pin each worker to its own CPU (distinct physical cores first).
  // FreeBSD: net.isr.bindthreads.
  bool bind_threads = true;
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
  // (each holds a Netisr::ProducerScope). Bound [0, 64].
  int max_external_producers = 4;
  // Packets a worker hands a handler at once, and per lane per round.
  // Bound [1, 256]; 32 matches a NIC RX burst and amortises the ring's
  // cache-line transfer (measured in benchmarks/netisr).
  uint32_t burst = 32;
  // Longest a threads-model worker with attached ingress sources sleeps
  // before polling them again, microseconds. Bound [1, 1000000].
  uint32_t idle_sleep_us = 50;
  ShutdownMode shutdown = ShutdownMode::kDrain;
};

// Ok, or the first field out of range, named with its bound.
Status Validate(const Settings& s);

}  // namespace netisr
